"""The rollback screen: a snapshot of the failed-rollout replay (a SIMULATION, no apply), and
the typed confirmation driven with Pilot against the Kubernetes API test server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Input

from tests.test_rollback_helpers import (
    SHOP_LIVE,
    SHOP_OBJECTS,
    SHOP_TARGET,
    expected_set,
    policies,
    server_policy_set,
)
from tests.test_ui_support import SIZE, app_for, settle
from triage.rollback.store import Store
from triage.sources.live import LiveTarget
from triage.ui.app import make_app
from triage.ui.screens.rollback import RollbackScreen
from triage.ui.session import LiveSource
from triage.ui.widgets.confirm import ConfirmContextModal

CONTEXT = "triage-test"
WRITES = ("POST", "PUT", "PATCH", "DELETE")


# ---------------------------------------------------------------- replay: a simulation


async def _open_rollback(pilot: Pilot[None]) -> None:
    await settle(pilot)
    pilot.app.push_screen(RollbackScreen(pilot.app.session))  # type: ignore[attr-defined]
    await settle(pilot)


def test_rollback_screen_failed_rollout_simulation(snap_compare: Any, tmp_path: Path) -> None:
    app = app_for("failed-rollout", tmp_path)
    assert snap_compare(app, terminal_size=SIZE, run_before=_open_rollback)


async def test_replay_offers_no_apply_and_plans_the_known_good_set(tmp_path: Path) -> None:
    app = app_for("failed-rollout", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _open_rollback(pilot)
        screen = app.screen
        assert isinstance(screen, RollbackScreen)
        assert screen.plan is not None and screen.plan.simulation
        assert [op.describe() for op in screen.plan.operations] == [
            "create checkout/allow-metrics-scrape",
            "delete checkout/allow-api-to-db",
            "replace checkout/allow-api-from-web",
        ]
        shown = {b.binding.action for b in screen.active_bindings.values()}
        for action in ("dry_run", "apply", "resume", "revert", "save_snapshot", "toggle_good"):
            assert screen.check_action(action, ()) is False, action
        assert {"back", "replan", "export"} <= shown
        await pilot.press("A")  # even the key does nothing
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmContextModal)
        # the runbook export writes the same Markdown as `triage rollback plan -o md`
        await pilot.press("e")
        await settle(pilot)
        written = (tmp_path / "rollback-plan-prod-use1-oncall.md").read_text()
        assert "### 2. delete `checkout/allow-api-to-db`" in written
        # the step list drives the detail pane
        table = screen.query_one("#rollback-steps", DataTable)
        table.focus()
        await pilot.press("down", "down")
        await settle(pilot)
        assert "replace checkout/allow-api-from-web" in str(
            screen.query_one("#op-detail").border_title
        )


# ---------------------------------------------------------------- live: typed confirmation


@pytest.fixture
def live_app(kube_api: Any, kubeconfig: Path, tmp_path: Path) -> Any:
    kube_api.seed(
        namespaces=[o for o in SHOP_OBJECTS if o["kind"] == "Namespace"],
        pods=[o for o in SHOP_OBJECTS if o["kind"] == "Pod"],
        network_policies=SHOP_LIVE,
    )
    state = tmp_path / "state"
    with Store.open(state) as store:
        store.save_snapshot(
            context=CONTEXT,
            source="test",
            policies=policies(*SHOP_TARGET),
            scope=None,
            good=True,
            note="the good set",
        )
    target = LiveTarget(context=CONTEXT, kubeconfig=kubeconfig, timeout=5.0)
    app = make_app(
        LiveSource(target),
        report_dir=tmp_path,
        theme="textual-dark",
        animation_level="none",
        cursor_blink=False,
    )
    return app, state


async def _open_live(pilot: Pilot[None], state: Path) -> RollbackScreen:
    await settle(pilot)
    screen = RollbackScreen(pilot.app.session, state_dir=state)  # type: ignore[attr-defined]
    pilot.app.push_screen(screen)
    await settle(pilot)
    await settle(pilot)  # the store read, then the plan toward the good snapshot
    assert screen.plan is not None and len(screen.plan.operations) == 5
    return screen


async def test_typed_confirmation_wrong_name_applies_nothing(live_app: Any, kube_api: Any) -> None:
    app, state = live_app
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_live(pilot, state)
        kube_api.clear_requests()
        await pilot.press("A")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, ConfirmContextModal)
        assert app.focused is modal.query_one(Input)  # typing goes into the field
        confirm = modal.query_one("#confirm", Button)
        assert confirm.disabled
        # type a wrong name: Apply stays disabled, enter does nothing
        await pilot.press(*"triage-tes", "enter")
        await settle(pilot)
        assert app.screen is modal and confirm.disabled
        await pilot.press("x", "enter")  # "triage-tesx"
        await settle(pilot)
        assert app.screen is modal and confirm.disabled
        await pilot.click("#confirm")  # a disabled button
        await settle(pilot)
        assert app.screen is modal
        # enter on the (default) Cancel button cancels
        await pilot.press("tab")
        assert app.focused is modal.query_one("#cancel", Button)
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
        assert [r for r in kube_api.requests if r.method in WRITES] == []
        assert server_policy_set(kube_api) == expected_set(SHOP_LIVE)
        # esc cancels too
        await pilot.press("A")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen
        assert [r for r in kube_api.requests if r.method in WRITES] == []
        # enter on the empty field is Cancel too (a stray enter changes nothing)
        await pilot.press("A")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmContextModal)
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
        assert [r for r in kube_api.requests if r.method in WRITES] == []


async def test_typed_confirmation_right_name_applies_and_verifies(
    live_app: Any, kube_api: Any
) -> None:
    app, state = live_app
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_live(pilot, state)
        # dry-run first: every step accepted, nothing written
        await pilot.press("d")
        await settle(pilot)
        assert [r for r in kube_api.requests if r.method in WRITES and not r.dry_run] == []
        assert set(screen.step_status.values()) == {"dry-run ok"}
        await pilot.press("A")
        await settle(pilot)
        await pilot.press(*CONTEXT)
        modal = app.screen
        assert isinstance(modal, ConfirmContextModal)
        assert not modal.query_one("#confirm", Button).disabled
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
        assert screen.last_result is not None and screen.last_result.ok
        assert set(screen.step_status.values()) == {"applied"}
        assert server_policy_set(kube_api) == expected_set(SHOP_TARGET)
        assert any("VERIFIED" in line.plain for line in screen.log_lines)


async def test_a_failed_apply_offers_resume_then_converges(live_app: Any, kube_api: Any) -> None:
    app, state = live_app
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_live(pilot, state)
        assert screen.check_action("resume", ()) is False  # nothing failed yet
        kube_api.inject("PUT", r"/networkpolicies/allow-web$", status=500, on_call=2)
        await pilot.press("A")
        await settle(pilot)
        await pilot.press(*CONTEXT, "enter")
        await settle(pilot)
        result = screen.last_result
        assert result is not None and result.status == "failed"
        assert "FAILED" in screen.step_status.values()
        assert screen.check_action("resume", ()) is True
        await pilot.press("u")  # re-plan from the live state toward the same target
        await settle(pilot)
        assert screen.run_ is not None and screen.run_.action == "resume"
        await pilot.press("A")
        await settle(pilot)
        await pilot.press(*CONTEXT, "enter")
        await settle(pilot)
        assert screen.last_result is not None and screen.last_result.ok
        assert server_policy_set(kube_api) == expected_set(SHOP_TARGET)
