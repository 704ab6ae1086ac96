"""The CLI an on-call engineer meets first: exit codes, usage errors that name the input,
version and help, read-only commands that create nothing, reports with their footing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from triage.cli import main
from triage.sources.recording import bundled_incident, bundled_incidents, load_incident

DEMO = str(bundled_incident("demo"))
WEB = "checkout/checkout-web-7c9d8f6b5-8hx2p"
API = "checkout/svc/checkout-api"


def explain(*extra: str) -> list[str]:
    return ["explain", "--recording", DEMO, "--from", WEB, "--to", API, *extra]


def test_exit_code_is_1_only_when_asked_and_denied(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(explain("--port", "80")) == 0
    assert main(explain("--port", "80", "--exit-code")) == 1
    capsys.readouterr()
    allowed = load_incident(bundled_incident("frontend-canary-label-mismatch")).flows[1].flow
    args = [
        "explain",
        "--recording",
        str(bundled_incident("frontend-canary-label-mismatch")),
        "--from",
        str(allowed.source),
        "--to",
        str(allowed.destination),
        "--port",
        str(allowed.port),
        "--exit-code",
    ]
    assert main(args) == 0
    assert "ALLOWED" in capsys.readouterr().out


def test_a_port_name_no_pod_declares_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(explain("--port", "htp")) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "triage: error: --port htp/TCP: no pod declares a container port of that name "
        "(did you mean http, https?); give a number or a declared name\n"
    )
    assert main(["matrix", "--recording", DEMO, "--port", "htp"]) == 2
    assert "--port htp/TCP: no pod declares" in capsys.readouterr().err
    # a name some pod declares still reaches the engine (and its verdict)
    assert main(explain("--port", "http", "-o", "json")) == 0
    assert json.loads(capsys.readouterr().out)["allowed"] is False


def test_flows_file_names_the_bad_entry_and_honours_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flows = tmp_path / "flows.yaml"
    flows.write_text(
        f"- {{from: {WEB}, to: {API}, port: 80}}\n- {{from: checkout/nope, to: {API}, port: 80}}\n"
    )
    assert main(["explain", "--recording", DEMO, "--flows", str(flows)]) == 2
    assert capsys.readouterr().err == (
        f"triage: error: {flows}: [1] (checkout/nope → {API}:80): source checkout/nope: "
        "no such pod\n"
    )
    flows.write_text(
        f"- {{from: {WEB}, to: {API}, port: 80}}\n- {{from: {WEB}, to: {API}, port: 80x}}\n"
    )
    assert main(["explain", "--recording", DEMO, "--flows", str(flows)]) == 2
    assert capsys.readouterr().err.startswith(f"triage: error: {flows}: [1] ({WEB} → {API}:80x): ")
    flows.write_text(
        f"- {{from: {WEB}, to: {API}, port: 80}}\n- {{from: {WEB}, to: {API}, port: 443}}\n"
    )
    assert main(["explain", "--recording", DEMO, "--flows", str(flows)]) == 0
    assert [d["allowed"] for d in json.loads(capsys.readouterr().out)] == [False, False]
    assert main(["explain", "--recording", DEMO, "--flows", str(flows), "-o", "text"]) == 0
    text = capsys.readouterr().out
    assert text.count(f"Flow {WEB} → {API}:") == 2
    assert not text.lstrip().startswith("[")


def test_version_and_help_show_the_default_commands_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from triage import __version__

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"triage {__version__}\n"
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "opens the TUI on the live cluster (`triage tui`)" in out
    for option in ("--context", "--kubeconfig", "--namespace", "--state-dir", "--known-good"):
        assert option in out


def test_tui_takes_a_state_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from triage.cli import build_parser

    args = build_parser().parse_args(["tui", "--state-dir", str(tmp_path), "--known-good", "3"])
    assert args.state_dir == tmp_path and args.known_good == "3"
    # a snapshot id with no store there: one line before any UI
    assert main(["demo", "--state-dir", str(tmp_path), "--known-good", "3"]) == 2
    assert capsys.readouterr().err == (
        f"triage: error: --known-good 3: no snapshot store in {tmp_path}\n"
    )


def test_demo_list_shows_titles(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    demo = next(line for line in lines if line.startswith("failed-rollout "))
    title = load_incident(bundled_incident("demo")).meta.title
    assert demo.split(None, 1)[1] == f"{title}  (the demo)"
    assert len(lines) == len(bundled_incidents())


def test_read_only_commands_create_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    typo = tmp_path / "typo"
    assert main(["snapshot", "list", "--state-dir", str(typo)]) == 2
    assert capsys.readouterr().err == f"triage: error: --state-dir {typo}: no such directory\n"
    assert main(["snapshot", "show", "1", "--state-dir", str(typo)]) == 2
    assert main(["rollback", "journal", "--state-dir", str(typo)]) == 2
    assert not typo.exists()
    capsys.readouterr()
    # the default store, never written: "no snapshots", and still nothing created
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert main(["snapshot", "list"]) == 0
    assert "no snapshots in" in capsys.readouterr().out
    assert main(["rollback", "plan", "--recording", DEMO, "--to", "1"]) == 2
    assert "no snapshot store in" in capsys.readouterr().err
    assert not (tmp_path / "state").exists()


def test_report_carries_context_server_capture_time_and_operator() -> None:
    from triage.checklist import ChecklistContext, ReportOrigin, export_report, run_all

    incident = load_incident(bundled_incident("demo"))
    ctx = ChecklistContext(incident.snapshot, incident.flows[0].flow, incident=incident)
    results = list(run_all(ctx))
    live = export_report(
        ctx,
        results,
        ReportOrigin("live", "prod-use1", "https://10.0.0.1:6443", "2026-01-02T03:04:05Z", "ana"),
    )
    assert "- Source: live cluster" in live
    assert "- Context: prod-use1 (server https://10.0.0.1:6443)" in live
    assert "- Read at: 2026-01-02T03:04:05Z" in live
    assert "- Operator: ana" in live
    replay = export_report(
        ctx, results, ReportOrigin("replay", captured_at=incident.meta.captured_at, operator="ana")
    )
    assert f"- Captured at: {incident.meta.captured_at}" in replay
    assert replay.count("Captured at") == 1
    assert "- Source: recorded incident" in replay


async def test_exposure_command_suggests_pods_and_reports_avoid_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_ui_support import SIZE, app_for, settle
    from triage.ui.screens.exposure import ExposureScreen

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    app = app_for("demo")  # no --report-dir
    assert app.report_dir == tmp_path / "state" / "netpol-triage" / "reports"
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        shown: list[str] = []
        monkeypatch.setattr(app, "notify", lambda text, **kw: shown.append(text))
        app.open_exposure("checkout/checkout-web-7c9d8f6b5-8hx2q")
        await settle(pilot)
        assert not isinstance(app.screen, ExposureScreen)
        assert shown == [
            "checkout/checkout-web-7c9d8f6b5-8hx2q: no such pod (did you mean "
            "checkout-web-7c9d8f6b5-8hx2p, checkout-web-7c9d8f6b5-q5m7z, checkout-db-0?); "
            "usage: :exposure NS/POD"
        ]
        app.open_exposure("checkout/checkout-web")  # a workload: its first pod
        await settle(pilot)
        assert isinstance(app.screen, ExposureScreen)
