"""The keyboard paths of the TUI, driven with Pilot on recorded incidents.

Assertions are on results and widget state (and the rendered text where the operator reads
it), not on pixels: the snapshots cover those.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from textual.message import Message
from textual.widgets import Input, Static

from tests.test_ui_support import SIZE, app_for, first_reported_flow, settle
from triage.checklist import StepResult, runbook_for
from triage.sources.recording import bundled_incident
from triage.ui.messages import StepFinished
from triage.ui.screens.checklist import ChecklistScreen
from triage.ui.screens.cluster import ClusterScreen
from triage.ui.screens.flow_picker import FlowPickerScreen
from triage.ui.screens.help import HelpScreen
from triage.ui.widgets.resource_table import ResourceTable
from triage.ui.widgets.steps import StepList


def text_of(widget: Static) -> str:
    """What a Static shows, as plain text (Rich renderables printed without styles)."""
    content = widget.content
    if isinstance(content, str):
        return content
    console = Console(width=200, file=io.StringIO(), color_system=None)
    with console.capture() as capture:
        console.print(content)
    return capture.get()


def finished(messages: list[Message]) -> dict[str, StepResult]:
    unique = {id(m): m for m in messages if isinstance(m, StepFinished)}
    return {m.step_id: m.result for m in unique.values()}


async def test_demo_keyboard_path(tmp_path: Path) -> None:
    """Open the demo, pick the reported flow, run all, read the verdict, export."""
    messages: list[Message] = []
    app = app_for("demo", tmp_path)
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, FlowPickerScreen)
        candidates = app.screen.query_one("#candidates", ResourceTable)
        assert candidates.has_focus
        reported = first_reported_flow(bundled_incident("demo"))
        assert candidates.current is not None
        assert candidates.current.item.source == "reported"
        assert candidates.current.item.flow == reported

        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ChecklistScreen)
        assert app.screen.flow == reported

        await pilot.press("a")
        await settle(pilot)
        results = finished(messages)
        assert list(results) == list(app.screen.step_ids)  # every step, in runbook order
        verdict = results["verdict"]
        assert verdict.status == "fail"
        assert "checkout/allow-api-from-web ingress rule #0" in verdict.summary
        assert "port 8080 is not 8443" in verdict.summary
        explanation = app.screen.context.explanation
        assert not explanation.allowed
        miss = explanation.primary.nearest_miss if explanation.primary else None
        assert miss is not None and (miss.policy, miss.rule) == ("checkout/allow-api-from-web", 0)
        assert "fix_yaml" in verdict.details

        # After run-all the list stands on the first broken step; move to the verdict.
        steps = app.screen.query_one(StepList)
        steps.select("verdict")
        await pilot.pause()
        summary = text_of(app.screen.query_one("#detail-summary", Static))
        assert "port 8080 is not 8443" in summary
        flow_line = text_of(app.screen.query_one("#flow-line", Static))
        assert flow_line.startswith(" DENIED ")
        explained = text_of(app.screen.query_one("#detail-explanation", Static))
        assert "allow-api-from-web" in explained

        await pilot.press("e")
        await settle(pilot)
        reports = list(tmp_path.glob("*.md"))
        assert [p.name for p in reports] == [
            "triage-report-checkout-checkout-web-7c9d8f6b5-8hx2p--checkout-svc-checkout-api-80-tcp.md"
        ]
        report = reports[0].read_text(encoding="utf-8")
        assert str(reported) in report
        assert "port 8080 is not 8443" in report
        assert "Verdict" in report


async def test_step_by_step_and_rerun(tmp_path: Path) -> None:
    messages: list[Message] = []
    flow = first_reported_flow(bundled_incident("demo"))
    app = app_for("demo", tmp_path, initial_flow=flow)
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ChecklistScreen)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        assert set(finished(messages)) == {"flow", "dns"}
        assert screen.query_one(StepList).current_id == "dns"
        assert screen.status("labels") == "pending"
        await pilot.press("r")
        await settle(pilot)
        assert screen.status("dns") == finished(messages)["dns"].status


async def test_copy_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAGE_CLIPBOARD", "on")  # a terminal that takes OSC 52
    flow = first_reported_flow(bundled_incident("demo"))
    app = app_for("demo", tmp_path, initial_flow=flow)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("c")
        assert app.clipboard.startswith("kubectl get pod -n checkout checkout-web-")


async def test_help_lists_keys_and_step_help(tmp_path: Path) -> None:
    flow = first_reported_flow(bundled_incident("demo"))
    app = app_for("demo", tmp_path, initial_flow=flow)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        shown = "\n".join(text_of(s) for s in app.screen.query(Static))
        for words in ("Run all", "Copy kubectl", "Export report", "Step: Flow", ":runbook"):
            assert words in shown
        assert "DNAT" in shown  # the flow step's help text from the runbook
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ChecklistScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, FlowPickerScreen)


async def test_cluster_filter_and_escape(tmp_path: Path) -> None:
    app = app_for("demo", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f2")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ClusterScreen)
        pods = screen.query_one("#pods", ResourceTable)
        assert pods.row_count == 9

        await pilot.press("slash", *"coredns")
        await pilot.pause()
        assert [r.item.name for r in pods.rows] == [
            "coredns-5c9d8b7f4-h2k8m",
            "coredns-5c9d8b7f4-w7nqs",
        ]
        await pilot.press("escape")  # clears the filter
        await pilot.pause()
        assert pods.row_count == 9
        assert screen.query_one("#filter", Input).value == ""

        await pilot.press("slash", *"-l app=checkout-api")
        await pilot.press("enter")
        await pilot.pause()
        assert {r.item.labels["app"] for r in pods.rows} == {"checkout-api"}
        assert pods.row_count == 2
        await pilot.press("escape", "escape")  # clear, then back
        await pilot.pause()
        assert isinstance(app.screen, FlowPickerScreen)


async def test_pod_details_name_selecting_policies(tmp_path: Path) -> None:
    app = app_for("demo", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f2")
        await settle(pilot)
        details = text_of(app.screen.query_one("#details-body", Static))
        assert "checkout/allow-api-from-web" in details  # ingress of checkout-api pods
        assert "checkout/allow-api-to-db" in details  # egress
        await pilot.press("y")
        await pilot.pause()
        assert "kind: Pod" in app.screen.text  # type: ignore[attr-defined]
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ClusterScreen)


async def test_command_prompt_namespace_and_runbook(tmp_path: Path) -> None:
    app = app_for("demo", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("colon", *"ns kube-system", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ClusterScreen)
        pods = app.screen.query_one("#pods", ResourceTable)
        assert {r.item.namespace for r in pods.rows} == {"kube-system"}

        await pilot.press("colon", *"runbook lateral-movement", "enter")
        await pilot.pause()
        assert app.runbook == "lateral-movement"
        await pilot.press("colon", *"flow", "enter")
        await pilot.pause()
        assert isinstance(app.screen, FlowPickerScreen)


async def test_flow_typed_with_completion(tmp_path: Path) -> None:
    app = app_for("demo", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.click("#source")
        await pilot.press(*"web-8hx", "enter")  # the only match: taken, next field
        await pilot.press(*"svc/checkout-api", "enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, FlowPickerScreen)
        assert screen.value("source") == "checkout/checkout-web-7c9d8f6b5-8hx2p"
        assert screen.value("destination") == "checkout/svc/checkout-api"
        assert app.focused is not None and app.focused.id == "port"
        offered = [c.value for c in screen.completions_for("port")]
        assert offered == ["80", "http", "9090", "metrics"]
        await pilot.press("enter")  # takes 80, fills TCP, starts
        await settle(pilot)
        assert isinstance(app.screen, ChecklistScreen)
        assert str(app.screen.flow) == str(first_reported_flow(bundled_incident("demo")))


async def test_replay_offers_nothing_that_touches_a_cluster(tmp_path: Path) -> None:
    app = app_for("demo", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        actions = {b.binding.action for b in app.screen.active_bindings.values()}
        assert "reload" not in actions
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert not any("Reload" in t for t in titles)
        bar = text_of(app.screen.query_one("#source-bar", Static))
        assert "REPLAY · read-only" in bar
        assert "captured 2024-06-12T09:58:41Z" in bar


async def test_other_screens_are_one_command_away(tmp_path: Path) -> None:
    """:rollback, :exposure and :matrix push the screens of issues 5 and 6; esc comes back."""
    from triage.ui.screens.exposure import ExposureScreen
    from triage.ui.screens.matrix import MatrixScreen
    from triage.ui.screens.rollback import RollbackScreen

    app = app_for("demo", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("colon", *"rollback", "enter")
        await settle(pilot)
        assert isinstance(app.screen, RollbackScreen)
        assert app.screen.session is app.session
        await pilot.press("escape")
        await pilot.pause()

        await pilot.press("f2")  # cluster; the first pod is selected
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ExposureScreen)
        assert app.screen.pod_key == "checkout/checkout-api-6b8f7d9c4-kz4vn"
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ClusterScreen)

        await pilot.press("colon", *"matrix checkout", "enter")
        await settle(pilot)
        assert isinstance(app.screen, MatrixScreen)
        assert app.screen.namespaces == ("checkout",)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ClusterScreen)


async def test_live_mode_against_the_api_test_server(kube_api_factory, tmp_path: Path) -> None:
    """`triage` on a live context: the header names the context, reload is offered, and the
    flow picker lists the pods the API server returned."""
    from triage.sources.live import LiveTarget
    from triage.ui.app import make_app
    from triage.ui.session import LiveSource

    server = kube_api_factory(incident=bundled_incident("demo"))
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig", context="prod-use1-oncall")
    app = make_app(
        LiveSource(LiveTarget(kubeconfig=kubeconfig)),
        report_dir=tmp_path,
        animation_level="none",
        cursor_blink=False,
    )
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, FlowPickerScreen)
        bar = text_of(app.screen.query_one("#source-bar", Static))
        assert "LIVE" in bar and "context prod-use1-oncall" in bar
        assert "captured" not in bar
        actions = {b.binding.action for b in app.screen.active_bindings.values()}
        assert "reload" in actions
        assert app.session is not None and not app.session.read_only
        assert len(app.session.snapshot.pods) == 9

        await pilot.press("ctrl+r")
        await settle(pilot)
        assert isinstance(app.screen, FlowPickerScreen)
        assert len(app.session.snapshot.pods) == 9


async def test_a_recording_that_cannot_be_read_says_why(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: triage/v1\nkind: Incident\n", encoding="utf-8")
    app = app_for(broken, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        from triage.ui.screens.loading import LoadingScreen

        assert isinstance(app.screen, LoadingScreen)
        shown = text_of(app.screen.query_one("#loading-progress", Static))
        assert "broken.yaml" in shown
        assert "Press ctrl+q to quit" in shown
        await pilot.press("ctrl+q")
    assert app.return_code == 2


def test_replay_of_a_bad_recording_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI reads the recording before any screen opens, like every other command."""
    from triage.cli import main

    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: triage/v9\nkind: Incident\n", encoding="utf-8")
    assert main(["replay", str(broken)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"triage: error: {broken}: apiVersion: 'triage/v9' is not supported; "
        "this build reads triage/v1\n"
    )


async def test_port_completion_carries_the_protocol(tmp_path: Path) -> None:
    """kube-dns has 53/UDP and 53/TCP: both complete to 53, each with its protocol."""
    app = app_for("demo", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FlowPickerScreen)
        screen.query_one("#source", Input).value = "checkout/checkout-api-6b8f7d9c4-kz4vn"
        screen.query_one("#destination", Input).value = "kube-system/svc/kube-dns"
        await pilot.click("#port")
        await pilot.press("5", "3")
        await pilot.pause()
        assert [(c.value, c.protocol) for c in screen._shown] == [
            ("53", "UDP"),
            ("dns", "UDP"),
            ("53", "TCP"),
            ("dns-tcp", "TCP"),
        ]
        await pilot.press("down", "down", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ChecklistScreen)
        assert (app.screen.flow.port, app.screen.flow.protocol) == (53, "TCP")


# ---------------------------------------------------------------- the incident's runbook

LATERAL = "lateral-movement-debug-pod"


async def test_replay_opens_the_runbook_the_recording_names(tmp_path: Path) -> None:
    """`metadata.runbook: lateral-movement`: the reported flow's checklist is the
    containment one, and its title says so."""
    app = app_for(LATERAL, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.runbook == "lateral-movement"
        assert isinstance(app.screen, FlowPickerScreen)
        await pilot.press("enter")  # the first reported flow
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ChecklistScreen)
        assert screen.flow == first_reported_flow(bundled_incident(LATERAL))
        assert runbook_for(screen.context).name == "lateral-movement"
        assert screen.step_ids == ("default-deny", "exposure", "containment")
        assert screen.query_one(StepList).border_title == "Lateral movement"
        await pilot.press("a")
        await settle(pilot)
        assert [screen.status(s) for s in screen.step_ids] == ["warn", "fail", "pass"]
        screen.query_one(StepList).select("containment")
        await pilot.pause()
        details = text_of(screen.query_one("#detail-extra", Static))
        assert "Quarantine policy" in details and "name: quarantine" in details


async def test_an_explicit_runbook_wins_over_the_recordings(tmp_path: Path) -> None:
    flow = first_reported_flow(bundled_incident(LATERAL))
    app = app_for(LATERAL, tmp_path, initial_flow=flow, runbook="blocked-flow")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ChecklistScreen)
        assert app.runbook == "blocked-flow"
        assert runbook_for(screen.context).name == "blocked-flow"
        assert screen.query_one(StepList).border_title == "Blocked flow"


async def test_runbook_command_wins_over_the_recordings(tmp_path: Path) -> None:
    flow = first_reported_flow(bundled_incident(LATERAL))
    app = app_for(LATERAL, tmp_path, initial_flow=flow)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.screen.step_ids[0] == "default-deny"  # type: ignore[attr-defined]
        await pilot.press("colon", *"runbook blocked-flow", "enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ChecklistScreen)
        assert screen.step_ids[0] == "flow"
        assert app.runbook == app.requested_runbook == "blocked-flow"


async def test_a_recording_without_a_runbook_opens_blocked_flow(tmp_path: Path) -> None:
    flow = first_reported_flow(bundled_incident("demo"))
    app = app_for("demo", tmp_path, initial_flow=flow)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.runbook == "blocked-flow"
        assert isinstance(app.screen, ChecklistScreen)
        assert runbook_for(app.screen.context).name == "blocked-flow"


async def test_a_recording_naming_an_unknown_runbook_says_why(tmp_path: Path) -> None:
    text = bundled_incident(LATERAL).read_text(encoding="utf-8")
    broken = tmp_path / "unknown-runbook.yaml"
    broken.write_text(text.replace("runbook: lateral-movement", "runbook: contain"), "utf-8")
    app = app_for(broken, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        from triage.ui.screens.loading import LoadingScreen

        assert isinstance(app.screen, LoadingScreen)
        shown = text_of(app.screen.query_one("#loading-progress", Static))
        assert "metadata.runbook: 'contain' is not a bundled runbook" in shown


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["demo", LATERAL], None),
        (["demo", LATERAL, "--runbook", "blocked-flow"], "blocked-flow"),
        (["replay", "FILE"], None),
        (["replay", "FILE", "--runbook", "failed-rollout"], "failed-rollout"),
    ],
)
def test_cli_passes_runbook_only_when_given(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], expected: str | None
) -> None:
    """No `--runbook`: the app gets None and takes the recording's; `--runbook` wins."""
    from triage.cli import main

    seen: dict[str, object] = {}

    class Stub:
        return_code = 0

        def run(self) -> None:
            pass

    def fake_make_app(source: object, **kwargs: object) -> Stub:
        seen.update(kwargs)
        return Stub()

    monkeypatch.setattr("triage.ui.app.make_app", fake_make_app)
    path = str(bundled_incident(LATERAL))
    assert main([path if a == "FILE" else a for a in argv]) == 0
    assert seen["runbook"] == expected
