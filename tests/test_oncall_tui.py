"""The TUI's acting and reading paths: reload in place, the live watch, the age of the
data, enter from the matrix and exposure screens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.test_rollback_helpers import DEFAULT_DENY, SHOP_LIVE, SHOP_OBJECTS
from tests.test_ui_support import SIZE, app_for, first_reported_flow, settle
from triage.model import parse_flow
from triage.sources.kubeclient import connect
from triage.sources.live import LiveTarget
from triage.sources.recording import bundled_incident
from triage.ui.app import make_app
from triage.ui.screens.checklist import ChecklistScreen
from triage.ui.screens.exposure import ExposureScreen
from triage.ui.screens.matrix import MatrixScreen
from triage.ui.session import LiveSource
from triage.ui.widgets.source_bar import age_text

CONTEXT = "triage-test"
FLOW = parse_flow("shop/web-1", "shop/api-1", "9000")  # allowed by shop/allow-legacy
WEB_EGRESS_LOCKDOWN = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "lockdown-web-egress", "namespace": "shop"},
    "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Egress"]},
}


def _seed(kube_api: Any) -> None:
    kube_api.seed(
        namespaces=[o for o in SHOP_OBJECTS if o["kind"] == "Namespace"],
        pods=[o for o in SHOP_OBJECTS if o["kind"] == "Pod"],
        network_policies=[p for p in SHOP_LIVE if p is not DEFAULT_DENY],
    )


def _live_app(kubeconfig: Path, **kw: Any) -> Any:
    target = LiveTarget(context=CONTEXT, kubeconfig=kubeconfig, timeout=5.0)
    return make_app(
        LiveSource(target), animation_level="none", cursor_blink=False, show_age=False, **kw
    )


def _notes(app: Any, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(
        app, "notify", lambda text, **kw: shown.append((str(kw.get("title", "")), str(text)))
    )
    return shown


async def test_ctrl_r_reloads_in_place_and_says_what_changed(
    kube_api: Any, kubeconfig: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(kube_api)
    app = _live_app(kubeconfig)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.open_checklist(FLOW)
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ChecklistScreen)
        screen.query_one("#steps").select("verdict")  # type: ignore[attr-defined]
        await pilot.press("r")
        await settle(pilot)
        assert screen.results["verdict"].status == "pass"
        # someone locks down the egress of web
        conn = connect(CONTEXT, kubeconfig)
        client.NetworkingV1Api(conn.api).create_namespaced_network_policy(
            "shop", WEB_EGRESS_LOCKDOWN
        )
        conn.close()
        shown = _notes(app, monkeypatch)
        await pilot.press("ctrl+r")
        await settle(pilot)
        await settle(pilot)
        assert app.screen is screen  # in place: the same checklist, the same flow
        assert shown[-1] == (f"reloaded context {CONTEXT}", "policies +1")
        assert screen.results["verdict"].status == "fail"  # the open step ran again
        assert set(screen.results) == {"verdict"}  # the rest, from old data, was dropped


async def test_w_toggles_a_watch_in_live_mode_only(
    kube_api: Any, kubeconfig: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(kube_api)
    app = _live_app(kubeconfig)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("w")
        assert app.watch_timer is not None
        assert "WATCH" in str(app.screen.query_one("#source-bar").render())
        app._watch_tick()  # what the timer does: a reload
        await settle(pilot)
        shown = _notes(app, monkeypatch)
        app._watch_tick()
        await settle(pilot)
        assert shown[-1] == (f"reloaded context {CONTEXT} (watch)", "no change")
        await pilot.press("w")
        assert app.watch_timer is None
    replay = app_for("demo", tmp_path)
    async with replay.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("w")
        assert replay.watch_timer is None
        actions = {b.binding.action for b in replay.screen.active_bindings.values()}
        assert "toggle_watch" not in actions or not replay.check_action("toggle_watch", ())


def test_age_text() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert age_text("2026-01-01T11:59:48Z", now) == "12 s ago"
    assert age_text("2026-01-01T11:56:00Z", now) == "4 min ago"
    assert age_text("2026-01-01T09:00:00Z", now) == "3 h ago"
    assert age_text("not a time", now) == ""


async def test_enter_on_a_matrix_cell_opens_that_flows_checklist(tmp_path: Path) -> None:
    app = app_for("demo", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.open_matrix(["checkout"])
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MatrixScreen)
        assert "REPLAY" in str(screen.query_one("#source-bar").render())
        flow = screen.flow_at(screen.query_one("#matrix-grid").cursor_coordinate)  # type: ignore[attr-defined]
        assert flow is not None
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ChecklistScreen)
        assert app.screen.flow == flow
        source = screen.matrix.workloads[0].pods[0]  # type: ignore[union-attr]
        assert str(flow.source) == source.key


async def test_enter_on_an_exposure_row_opens_that_flows_checklist(tmp_path: Path) -> None:
    app = app_for("demo", tmp_path)
    reported = first_reported_flow(bundled_incident("demo"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.open_exposure(str(reported.source))
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ExposureScreen) and screen.exposure is not None
        assert "REPLAY" in str(screen.query_one("#source-bar").render())
        first = screen.exposure.outbound[0]
        screen.query_one("#reaches-table").focus()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ChecklistScreen)
        flow = app.screen.flow
        assert str(flow.source) == str(reported.source)
        assert str(flow.destination) == f"{first.namespace}/{first.pods[0]}"
        if first.ports:
            assert (flow.port, flow.protocol) == (first.ports[0].port, first.ports[0].protocol)


async def test_a_failed_connection_offers_retry_and_the_demo(
    kube_api: Any, kubeconfig: Path
) -> None:
    from textual.widgets import Static

    from triage.ui.screens.flow_picker import FlowPickerScreen
    from triage.ui.screens.loading import LoadingScreen

    _seed(kube_api)
    rule = kube_api.forbid("list", "pods")
    app = _live_app(kubeconfig)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, LoadingScreen)
        shown = str(screen.query_one("#loading-progress", Static).render())
        assert "Press r to retry" in shown
        assert "`triage demo` replays a recorded incident" in shown
        assert "retry" in {b.binding.action for b in screen.active_bindings.values()}
        kube_api.allow(rule)
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, FlowPickerScreen)
        assert app.startup_error is None


async def test_a_bad_recording_offers_no_retry(tmp_path: Path) -> None:
    from triage.ui.screens.loading import LoadingScreen

    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: triage/v1\nkind: Incident\n", encoding="utf-8")
    app = app_for(broken, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, LoadingScreen)
        assert app.screen.check_action("retry", ()) is False


async def test_c_shows_the_command_when_the_clipboard_is_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textual.widgets import TextArea

    from triage.ui.widgets.command_dialog import CommandDialog, clipboard_available

    assert not clipboard_available({"TERM": "xterm-256color", "TMUX": "/tmp/tmux-0/default,1,0"})
    assert not clipboard_available({"TERM": "linux"})
    assert clipboard_available({"TERM": "xterm-256color"})
    assert clipboard_available({"TERM": "linux", "TRIAGE_CLIPBOARD": "on"})
    monkeypatch.setenv("TRIAGE_CLIPBOARD", "off")
    flow = first_reported_flow(bundled_incident("demo"))
    app = app_for("demo", tmp_path, initial_flow=flow)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        checklist = app.screen
        assert isinstance(checklist, ChecklistScreen)
        await pilot.press("c")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, CommandDialog)
        area = dialog.query_one(TextArea)
        assert area.text == checklist.kubectl("flow")
        assert area.selected_text == area.text  # selected, ready to take
        assert app.clipboard == ""  # nothing pretended to copy
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is checklist


async def test_tab_accepts_the_fuzzy_completion(tmp_path: Path) -> None:
    from triage.ui.screens.flow_picker import FlowPickerScreen

    app = app_for("demo", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.click("#source")
        await pilot.press(*"web-8hx", "tab")
        screen = app.screen
        assert isinstance(screen, FlowPickerScreen)
        assert screen.value("source") == "checkout/checkout-web-7c9d8f6b5-8hx2p"
        assert app.focused is not None and app.focused.id == "source"  # completed in place
        await pilot.press("tab")  # nothing left to complete: the next field
        assert app.focused is not None and app.focused.id == "destination"


async def test_checklist_footer_keys_move_the_steps_and_the_detail(tmp_path: Path) -> None:
    from triage.ui.widgets.step_detail import StepDetail
    from triage.ui.widgets.steps import StepList

    flow = first_reported_flow(bundled_incident("demo"))
    app = app_for("demo", tmp_path, initial_flow=flow)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ChecklistScreen)
        shown = {
            (b.binding.key_display or b.binding.key): b.binding.description
            for b in screen.active_bindings.values()
            if b.binding.show
        }
        assert shown["↑↓"] == "Step" and shown["f"] == "Fix"
        await pilot.press("a")
        await settle(pilot)
        steps = screen.query_one(StepList)
        steps.index = 0
        await pilot.press("down", "down")
        assert steps.current_id == "labels"
        detail = screen.query_one(StepDetail)
        steps.select("verdict")
        await settle(pilot)
        assert detail.max_scroll_y > 0  # the verdict's evidence does not fit 80x24
        await pilot.press("pagedown")
        await settle(pilot)
        assert detail.scroll_y > 0
        # the focus elsewhere: the screen's keys still move the list
        screen.set_focus(None)
        await pilot.press("up")
        assert steps.current_id == "ports"


async def test_esc_clears_the_typed_flow_from_the_candidates(tmp_path: Path) -> None:
    from triage.ui.screens.flow_picker import FlowPickerScreen

    app = app_for("demo", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.click("#source")
        await pilot.press(*"web-8hx", "tab")
        await pilot.press("f3")  # to the candidates
        await pilot.press("escape")
        screen = app.screen
        assert isinstance(screen, FlowPickerScreen)
        assert screen.value("source") == ""


async def test_fix_in_a_replay_is_written_to_a_file(tmp_path: Path) -> None:
    from triage.ui.screens.fix import FixScreen, fix_file_name

    flow = first_reported_flow(bundled_incident("demo"))
    app = app_for("demo", tmp_path, initial_flow=flow)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("f")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FixScreen)
        assert "name: allow-checkout-web-to-checkout-api-8080" in screen.fix_yaml
        for action in ("dry_run", "apply"):
            assert screen.check_action(action, ()) is False  # a replay touches no cluster
        await pilot.press("w")
        await settle(pilot)
        written = tmp_path / fix_file_name(flow)
        assert written.read_text(encoding="utf-8") == screen.fix_yaml
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ChecklistScreen)


async def test_fix_dry_run_and_apply_with_typed_context_and_journal(
    kube_api: Any, kubeconfig: Path, tmp_path: Path
) -> None:
    from triage.rollback.store import Store
    from triage.ui.screens.fix import FixScreen
    from triage.ui.widgets.confirm import ConfirmContextModal

    _seed(kube_api)
    denied = parse_flow("shop/web-1", "shop/api-1", "8080")  # legacy allows only 9000
    state = tmp_path / "state"
    app = _live_app(kubeconfig, state_dir=state)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.open_checklist(denied)
        await settle(pilot)
        await pilot.press("f")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FixScreen)
        kube_api.clear_requests()
        await pilot.press("d")
        await settle(pilot)
        log = "\n".join(str(line) for line in screen.log_lines)
        assert "dry-run: the server accepts it (1 step(s): 1 create" in log
        writes = [r for r in kube_api.requests if r.method in ("POST", "PUT", "PATCH", "DELETE")]
        assert [(r.method, r.query.get("dryRun")) for r in writes] == [("POST", "All")]
        await pilot.press("A")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, ConfirmContextModal)
        await pilot.press("enter")  # empty field: cancel
        await settle(pilot)
        assert app.screen is screen
        await pilot.press("A")
        await settle(pilot)
        await pilot.press(*CONTEXT, "enter")
        await settle(pilot)
        await settle(pilot)
    names = {
        p["metadata"]["name"]
        for p in client.NetworkingV1Api(connect(CONTEXT, kubeconfig).api)
        .list_namespaced_network_policy("shop")
        .to_dict()["items"]
    }
    assert names == {"lockdown-db-egress", "allow-legacy", "allow-web", "allow-web-to-api-8080"}
    with Store.open(state) as store:
        journals = store.journals()
    assert len(journals) == 1 and journals[0].context == CONTEXT
