"""Start-up options are checked before the UI opens: one line on stderr and exit 2, never a
traceback from inside a screen (issue: crashes at start-up)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Static

from tests.test_ui_support import SIZE, settle
from triage.cli import main
from triage.model import parse_flow

BAD_YAML = "this: [is: not\n"


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("command", [["demo"], ["demo", "failed-rollout"]])
def test_flow_with_an_unknown_pod_is_one_line_before_the_ui(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([*command, "--flow", "checkout/nope", "checkout/svc/checkout-api", "80"])
    assert code == 2
    assert one_error_line(capsys) == "triage: error: source checkout/nope: no such pod"


def test_replay_flow_with_an_unknown_service(capsys: pytest.CaptureFixture[str]) -> None:
    from triage.sources.recording import bundled_incident

    path = bundled_incident("demo")
    flow = ["checkout/checkout-db-0", "checkout/svc/nope", "80"]
    code = main(["replay", str(path), "--flow", *flow])
    assert code == 2
    line = one_error_line(capsys)
    assert line.startswith("triage: error: ")
    assert "nope" in line


def test_unknown_runbook_is_one_line_before_the_ui(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--runbook", "nosuch"]) == 2
    line = one_error_line(capsys)
    assert line.startswith("triage: error: nosuch: no bundled runbook of that name")
    assert "blocked-flow" in line


@pytest.mark.parametrize("command", [["tui"], ["record", "-o", "unused.json"], ["lint"]])
def test_malformed_kubeconfig_is_one_line(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(BAD_YAML, encoding="utf-8")
    assert main([*command, "--kubeconfig", str(kubeconfig)]) == 2
    line = one_error_line(capsys)
    assert line == (
        f"triage: error: kubeconfig {kubeconfig}: invalid YAML at line 2: "
        "expected ',' or ']', but got '<stream end>'"
    )
    assert not (tmp_path / "unused.json").exists()


def test_kubeconfig_of_the_wrong_shape_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("- a\n- b\n", encoding="utf-8")
    assert main(["tui", "--kubeconfig", str(kubeconfig)]) == 2
    assert one_error_line(capsys).startswith(f"triage: error: kubeconfig {kubeconfig}: ")


async def test_tui_loading_screen_shows_the_kubeconfig_error_in_one_line(tmp_path: Path) -> None:
    """The app built without the CLI's pre-check (tests, benchmarks) still says it in one
    line and quits with 2."""
    from triage.sources.live import LiveTarget
    from triage.ui.app import make_app
    from triage.ui.screens.loading import LoadingScreen
    from triage.ui.session import LiveSource

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(BAD_YAML, encoding="utf-8")
    app = make_app(
        LiveSource(LiveTarget(kubeconfig=kubeconfig)), animation_level="none", cursor_blink=False
    )
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, LoadingScreen)
        assert app.startup_error == (
            f"kubeconfig {kubeconfig}: invalid YAML at line 2: "
            "expected ',' or ']', but got '<stream end>'"
        )
        shown = str(app.screen.query_one("#loading-progress", Static).render())
        assert "^" not in shown  # no PyYAML excerpt with its caret line
        await pilot.press("ctrl+q")
    assert app.return_code == 2


async def test_live_flow_with_an_unknown_pod_exits_2_once_loaded(
    kube_api_factory, tmp_path: Path
) -> None:
    from triage.sources.live import LiveTarget
    from triage.sources.recording import bundled_incident
    from triage.ui.app import make_app
    from triage.ui.screens.checklist import ChecklistScreen
    from triage.ui.session import LiveSource

    server = kube_api_factory(incident=bundled_incident("demo"))
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig", context="prod")
    app = make_app(
        LiveSource(LiveTarget(kubeconfig=kubeconfig)),
        animation_level="none",
        cursor_blink=False,
        initial_flow=parse_flow("checkout/nope", "checkout/svc/checkout-api", "80"),
    )
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert not isinstance(app.screen, ChecklistScreen)
    assert app.return_code == 2
    assert app.startup_error == "source checkout/nope: no such pod"
