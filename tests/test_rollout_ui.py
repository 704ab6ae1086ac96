"""The rollout screen: a snapshot of the course incident's replay (a SIMULATION), and the
typed confirmation, verification and revert driven with Pilot against the API test server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import SelectionList, Static

from tests.rollback_helpers import server_policy_set
from tests.rollout_support import CONTEXT, COURSE, script_probes
from tests.ui_support import SIZE, app_for, settle
from triage.rollback.policyset import semantic
from triage.rollback.store import Store
from triage.rollout.verify import verification_targets
from triage.sources.live import LiveTarget
from triage.sources.recording import load_incident
from triage.ui.app import make_app
from triage.ui.command_registry import find
from triage.ui.screens.rollout import RolloutScreen
from triage.ui.session import LiveSource
from triage.ui.widgets.confirm import ConfirmContextModal

WRITES = ("POST", "PUT", "PATCH", "DELETE")


async def _open_rollout(pilot: Pilot[None]) -> None:
    await settle(pilot)
    command = find(pilot.app, "rollout")  # type: ignore[arg-type]
    assert command is not None
    command.run(pilot.app, "")  # type: ignore[arg-type]
    await settle(pilot)


def test_rollout_screen_course_simulation(snap_compare: Any, tmp_path: Path) -> None:
    app = app_for(COURSE, tmp_path)
    assert snap_compare(app, terminal_size=SIZE, run_before=_open_rollout)


async def test_replay_plans_the_observed_namespaces_and_offers_no_apply(tmp_path: Path) -> None:
    app = app_for(COURSE, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _open_rollout(pilot)
        screen = app.screen
        assert isinstance(screen, RolloutScreen)
        assert screen.selected() == ("production",)  # where the observed traffic goes
        rollout = screen.rollout
        assert rollout is not None and rollout.plan.simulation and rollout.safe
        for action in ("apply", "revert"):
            assert screen.check_action(action, ()) is False
        await pilot.press("A")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmContextModal)
        # tick develop, plan again: the debug pod's path closes at both ends
        screen.query_one("#rollout-namespaces", SelectionList).select("develop")
        await pilot.press("p")
        await settle(pilot)
        rollout = screen.rollout
        assert rollout.namespaces == ("develop", "production")
        closed = {(c.source.label, c.destination.label, c.port) for c in rollout.plan.delta.closed}
        assert ("develop/debug", "production/production-db", 5432) in closed
        policies = str(screen.query_one("#rollout-policies-text", Static).content)
        assert "name: rollout-default-deny" in policies and "namespace: develop" in policies
        preview = str(screen.query_one("#rollout-preview-text", Static).content)
        assert "would break (must be none): 0" in preview
        await pilot.press("e")
        await settle(pilot)
        written = (tmp_path / "rollout-plan-develop-production.md").read_text()
        assert written.startswith("# Default-deny rollout of namespaces develop, production")


# ---------------------------------------------------------------- live


@pytest.fixture
def live_app(kube_api: Any, kubeconfig: Path, tmp_path: Path) -> Any:
    kube_api.seed_incident(COURSE)
    target = LiveTarget(context=CONTEXT, kubeconfig=kubeconfig, timeout=5.0)
    app = make_app(
        LiveSource(target),
        report_dir=tmp_path,
        theme="textual-dark",
        animation_level="none",
        cursor_blink=False,
    )
    return app, tmp_path / "state", target


@pytest.mark.live
@pytest.mark.timeout(120)
async def test_live_apply_with_typed_context_then_failed_probe_and_revert(
    live_app: Any, kube_api: Any
) -> None:
    app, state, target = live_app
    original = server_policy_set(kube_api)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = RolloutScreen(app.session, state_dir=state, live_target=target, sample=2)
        app.push_screen(screen)
        await settle(pilot)
        assert screen.selected() == ()  # a live session has no observed traffic to go by
        screen.query_one("#rollout-namespaces", SelectionList).select("production")
        await pilot.press("p")
        await settle(pilot)
        rollout = screen.rollout
        assert rollout is not None and not rollout.plan.simulation
        # without observed traffic: default-deny and DNS only
        assert [g.role for g in rollout.generation.generated] == ["dns", "default-deny"]
        targets = verification_targets(rollout, 2)
        kube_api.clear_requests()
        # a wrong name applies nothing
        await pilot.press("A")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmContextModal)
        assert app.screen.lines[0].startswith("NO OBSERVED TRAFFIC: every flow")
        await pilot.press(*"prod-eu", "enter")  # typing goes into the field; no match
        await settle(pilot)
        assert isinstance(app.screen, ConfirmContextModal)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen
        assert [r for r in kube_api.requests if r.method in WRITES] == []
        # the right name: applied, then the probes (one flow meant to close still connects)
        closing = next(t for t in targets if t.expect == "closed")
        script_probes(kube_api, targets, failing=set())
        kube_api.script_exec(
            closing.source.namespace,
            closing.source.name,
            lambda argv: argv[:1] == ["nc"] and argv[-2:] == [closing.ip, str(closing.port)],
            stderr="Connection succeeded!\n",
        )
        await pilot.press("A")
        await settle(pilot)
        await pilot.press(*CONTEXT, "enter")
        await settle(pilot)
        assert app.screen is screen
        assert screen.last_result is not None and screen.last_result.ok
        expected = dict(original)
        expected.update({p.key: semantic(p) for p in rollout.generation.candidates})
        assert server_policy_set(kube_api) == expected
        assert screen.verification is not None
        assert [c.target for c in screen.verification.still_open] == [closing]
        with Store.open(state) as store:
            assert any(s.good for s in store.snapshots(context=CONTEXT))
        # revert, with the same typed confirmation: back to the saved set
        assert screen.check_action("revert", ()) is True
        await pilot.press("v")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmContextModal)
        await pilot.press(*CONTEXT, "enter")
        await settle(pilot)
        assert server_policy_set(kube_api) == original
        assert any("REVERTED" in line.plain for line in screen.log_lines)
        assert load_incident(COURSE).snapshot.policies  # the recording is untouched
