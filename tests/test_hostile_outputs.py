"""The output trust boundary, proved on the hostile corpus (tests/data/hostile/): every CLI
command run as a subprocess, its raw bytes checked; every command offered for copying
checked with `bash -n` and `shlex.split`; bad files refused fast in short lines; the TUI
replaying a hostile recording through Pilot."""

from __future__ import annotations

import dataclasses
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from tests.live_cluster import Cluster, cluster, empty_server
from triage.model import (
    Container,
    ContainerPort,
    LabelSelector,
    Namespace,
    NetworkPolicy,
    Pod,
    Snapshot,
    parse_flow,
)
from triage.model.untrusted import markdown_text, shell_join

__all__ = ["cluster", "empty_server"]  # fixtures, imported for pytest

HOSTILE = Path(__file__).parent / "data" / "hostile"
RECORDING = HOSTILE / "escapes-recording.yaml"
# Control bytes: C0 but tab and newline, DEL; C1 as UTF-8 (0xC2 0x80-0x9F).
CONTROL = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]")
# A name a live cluster could never hold but a lenient load or a hand-built model could:
# shell metacharacters, markup, an escape.
EVIL = "web$(touch${IFS}x);y`id`'\"[/]\x1b]52;c;eA==\x07"


def triage(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    exe = Path(sys.executable).with_name("triage")
    env = {**os.environ, "COLUMNS": "80", "TERM": "xterm-256color"}
    return subprocess.run(
        [str(exe), *args], capture_output=True, timeout=60, env=env, cwd=cwd, check=False
    )


def assert_clean(result: subprocess.CompletedProcess[bytes]) -> None:
    for stream in (result.stdout, result.stderr):
        assert CONTROL.search(stream) is None, stream[:2000]
        assert b"Traceback" not in stream


# ------------------------------------------------------------------ CLI, raw bytes


@pytest.mark.parametrize(
    "args",
    [
        ["explain", "--from", "prod/web", "--to", "prod/db", "--port", "8080"],
        ["explain", "--from", "prod/web", "--to", "prod/db", "--port", "8080", "-o", "json"],
        ["lint"],
        ["lint", "-o", "json"],
        ["exposure", "prod/web"],
        ["exposure", "prod/web", "--contain", "pod"],
        ["matrix"],
        ["matrix", "-o", "csv"],
        ["matrix", "-o", "dot"],
        ["matrix", "-o", "json"],
        ["rollback", "plan"],
        ["rollback", "plan", "-o", "md"],
        ["rollback", "plan", "-o", "json"],
    ],
    ids=lambda a: " ".join(a),
)
def test_no_control_byte_reaches_stdout_or_stderr(args: list[str]) -> None:
    result = triage(*args, "--recording", str(RECORDING))
    assert result.returncode in (0, 1), result.stderr
    assert_clean(result)


def test_snapshot_save_list_show_with_hostile_notes(tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    note = "note \x1b]52;c;eA==\x07 \x1b[2J"
    saved = triage(
        "snapshot", "save", "--recording", str(RECORDING), "--state-dir", state, "--note", note
    )
    assert saved.returncode == 0, saved.stderr
    assert_clean(saved)
    for args in (["list"], ["show", "1"]):
        result = triage("snapshot", *args, "--state-dir", state)
        assert result.returncode == 0, result.stderr
        assert_clean(result)
        assert "note \ufffd]52;c;eA==\ufffd \ufffd[2J" in result.stdout.decode()


def test_a_report_written_by_the_tui_is_clean_and_private(tmp_path: Path) -> None:
    from triage.checklist import ChecklistContext, export_report, run_all
    from triage.sources.recording import load_incident
    from triage.ui.screens.checklist import write_report

    incident = load_incident(RECORDING)
    ctx = ChecklistContext(incident.snapshot, incident.flows[0].flow, incident=incident)
    path = write_report(tmp_path, "r.md", export_report(ctx, run_all(ctx)))
    assert CONTROL.search(path.read_bytes()) is None
    assert path.stat().st_mode & 0o777 == 0o600


# ------------------------------------------------------------------ bad files


def bad_files() -> list[Path]:
    good = {"escapes-recording.yaml", "bom.yaml", "bom.json"}
    return sorted(p for p in HOSTILE.iterdir() if p.name not in good and p.suffix != ".md")


@pytest.mark.parametrize("path", bad_files(), ids=lambda p: p.name)
def test_each_bad_file_exits_2_fast_with_short_lines(path: Path) -> None:
    option = "--recording" if "recording" in path.name else "--manifests"
    started = time.perf_counter()
    result = triage("lint", option, str(path))
    elapsed = time.perf_counter() - started
    assert result.returncode == 2
    assert elapsed < 3.0  # the process start included; the refusal itself is well under 1 s
    assert result.stdout == b""
    assert_clean(result)
    lines = result.stderr.decode().splitlines()
    assert 1 <= len(lines) <= 5
    assert all(line.startswith("triage: error: ") and len(line) < 500 for line in lines)


def test_dev_zero_as_a_recording_fails_fast() -> None:
    started = time.perf_counter()
    result = triage("lint", "--recording", "/dev/zero")
    assert time.perf_counter() - started < 3.0
    assert result.returncode == 2
    assert result.stderr == b"triage: error: /dev/zero: binary data (a NUL byte at offset 0)\n"


# ------------------------------------------------------------------ piped output keeps names


def test_piped_exposure_and_matrix_show_every_name_whole() -> None:
    from triage.sources.recording import bundled_incident

    recording = str(bundled_incident("lateral-movement-debug-pod"))
    exposure = triage("exposure", "develop/debug-shell", "--recording", recording)
    assert exposure.returncode == 0
    text = exposure.stdout.decode()
    assert "…" not in text
    assert "ingress-nginx-controller (Deployment)" in text
    assert "production-db (StatefulSet)" in text
    assert "via production/production-db:5432/TCP" in text
    assert all(line == line.rstrip() for line in text.splitlines())
    matrix = triage("matrix", "--recording", recording)
    text = matrix.stdout.decode()
    assert "…" not in text
    assert "ingress-nginx/ingress-nginx-controller  kube-system/coredns" in text


def test_a_narrow_terminal_folds_names_instead_of_cutting_them() -> None:
    from triage.commands.exposure import exposure_renderable
    from triage.policy.exposure import compute_exposure
    from triage.sources.recording import bundled_incident, load_incident

    snapshot = load_incident(bundled_incident("lateral-movement-debug-pod")).snapshot
    pod = snapshot.pod("develop", "debug-shell")
    assert pod is not None
    console = Console(file=io.StringIO(), width=60, force_terminal=True, color_system=None)
    console.print(exposure_renderable(compute_exposure(snapshot, pod)))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    rows = [line.split("│") for line in text.splitlines() if line.startswith("│")]
    workloads = "".join(row[2].strip() for row in rows)
    assert rows and "…" not in "".join(row[1] + row[2] for row in rows)
    for name in ("ingress-nginx-controller", "production-db", "backend-api"):
        assert name in workloads


# ------------------------------------------------------------------ commands for pasting


def hostile_snapshot() -> Snapshot:
    """What a lenient load could hand over: names no apiserver accepts (built directly)."""
    port = ContainerPort(8080, "TCP", "http")
    pods = tuple(
        Pod(
            namespace=ns,
            name=name,
            labels={"app": app},
            ips=(ip,),
            containers=(Container("app", "img", (port,)),),
        )
        for ns, name, app, ip in (
            ("team a", EVIL, "web", "10.0.0.1"),
            ("db;ns", "db", "db", "10.0.0.2"),
        )
    )
    deny = NetworkPolicy("db;ns", "deny", LabelSelector(), ("Ingress",))
    return Snapshot(
        namespaces=(Namespace("team a", {}), Namespace("db;ns", {})),
        pods=pods,
        services=(),
        policies=(deny,),
    )


def assert_pastable(command: str, *expected_args: str) -> None:
    """`bash -n` accepts it, and it splits into the intended arguments."""
    bash = shutil.which("bash")
    assert bash is not None
    check = subprocess.run([bash, "-n", "-c", command], capture_output=True, check=False)
    assert check.returncode == 0, (command, check.stderr)
    assert "\x1b" not in command and "\x07" not in command
    argv = shlex.split(command)
    for arg in expected_args:
        assert arg in argv, (arg, argv)


def test_checklist_kubectl_lines_are_quoted() -> None:
    from triage.checklist import ChecklistContext, load_runbook
    from triage.checklist.kubectl import render_kubectl
    from triage.model import PodRef

    snapshot = hostile_snapshot()
    flow = dataclasses.replace(
        parse_flow("a/b", "c/d", 8080),
        source=PodRef("team a", EVIL),
        destination=PodRef("db;ns", "db"),
    )
    ctx = ChecklistContext(snapshot, flow)
    clean_evil = EVIL.replace("\x1b", "\ufffd").replace("\x07", "\ufffd")
    for step in load_runbook("blocked-flow").steps:
        command = render_kubectl(step.kubectl, ctx)
        for part in command.split(" && "):
            for piece in part.split(" ; "):
                assert_pastable(piece.split(" > ")[0])
        if "{src_pod}" in step.kubectl:
            assert clean_evil in shlex.split(command.split(" && ")[0])


def test_exposure_containment_and_fix_commands_are_quoted() -> None:
    from triage.policy.exposure import contain

    snapshot = hostile_snapshot()
    pod = snapshot.pod("team a", EVIL)
    assert pod is not None
    contained = contain(snapshot, pod, "pod")
    clean_evil = EVIL.replace("\x1b", "\ufffd").replace("\x07", "\ufffd")
    for command in contained.commands:
        assert_pastable(command)
    assert_pastable(contained.commands[1], clean_evil, "team a", "quarantine=true", "app-")


def test_rollback_verify_lines_are_quoted() -> None:
    from triage.rollback.render import _explain_command, _probe_command

    class End:
        def __init__(self, member: str) -> None:
            self.member = member
            self.namespace = member.split("/")[0]
            self.label = member

    class Change:
        source = End(f"team a/{EVIL}")
        destination = End("db;ns/db")
        port = 8080
        protocol = "TCP"

    change = Change()
    explain_line = _explain_command(change, "prod ctx")  # type: ignore[arg-type]
    assert_pastable(explain_line, "prod ctx", "db;ns/db", "8080/TCP")
    probe_line = _probe_command(change, "prod ctx", None)  # type: ignore[arg-type]
    assert_pastable(probe_line, "team a", "db;ns/db")


def test_shell_join_round_trips_every_argument() -> None:
    argv = ["kubectl", "label", "pod", "-n", "a b", EVIL, "x=$(id)"]
    expected = [a.replace("\x1b", "\ufffd").replace("\x07", "\ufffd") for a in argv]
    assert shlex.split(shell_join(argv)) == expected
    assert_pastable(shell_join(argv))


def test_markdown_data_is_escaped() -> None:
    text = markdown_text("[x](javascript:alert(1)) <img src=x onerror=y> `a` | *b*\n# h")
    assert "\\<img" in text and "\\](" in text and "\n" not in text
    assert re.search(r"(?<!\\)[<\[\]`|*]", text) is None  # every special escaped
    assert text.startswith("\\[x\\]")


# ------------------------------------------------------------------ the TUI


def rendered(app: object) -> str:
    from tests.test_ui_support import SIZE

    console = Console(file=io.StringIO(), width=SIZE[0], height=SIZE[1], color_system=None)
    console.print(app.screen._compositor.render_update(full=True))  # type: ignore[attr-defined]
    return console.file.getvalue()  # type: ignore[attr-defined]


async def test_replaying_a_hostile_recording_shows_no_escape_and_no_markup(
    tmp_path: Path,
) -> None:
    from tests.test_ui_support import SIZE, app_for, settle

    app = app_for(RECORDING, tmp_path)
    copied: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screens: list[str] = []
        texts: list[str] = []
        for keys in (
            [],
            ["enter"],
            ["a"],
            ["c"],
            ["e"],
            ["escape"],
            ["f2"],
            ["y"],
            ["c"],
            ["escape"],
            ["escape"],
            ["question_mark"],
            ["escape"],
            ["colon", *"rollback", "enter"],
        ):
            for key in keys:
                await pilot.press(key)
            await settle(pilot)
            text = rendered(app)
            texts.append(text)
            screens.append(type(app.screen).__name__)
            assert CONTROL.search(text.encode()) is None, text
            assert "\u202e" not in text
            copied.append(app.clipboard)
        assert "RollbackScreen" in screens and "YamlScreen" in screens
        # The rollback screen shows the known-good set's name, its escapes visible, inert.
        assert "\ufffd]52;c;dG91Y2ggeA==" in texts[-1]
        assert "evil [/]" in texts[-1]  # markup shown as written
    assert all(CONTROL.search(c.encode()) is None for c in copied)
    report = next(tmp_path.glob("triage-report-*.md"))
    assert CONTROL.search(report.read_bytes()) is None


async def test_markup_in_names_neither_crashes_nor_styles(tmp_path: Path) -> None:
    """Names no apiserver accepts, as a lenient live load could still hand over."""
    from textual.widgets import Input

    from tests.test_ui_support import SIZE, settle
    from triage.model.incident import Incident, IncidentMeta
    from triage.ui.app import make_app
    from triage.ui.session import ReplaySource

    port = ContainerPort(8080, "TCP", "http")
    names = ("a[/]b", "[link=file:///etc/passwd]x", "[bold red]styled")
    pods = tuple(
        Pod("prod", name, {"app": "web"}, (f"10.0.0.{i}",), (Container("c", "i", (port,)),))
        for i, name in enumerate(names, 1)
    )
    snapshot = Snapshot((Namespace("prod", {}),), pods, (), ())
    incident = Incident(IncidentMeta(title="[/] [bold]t"), snapshot, (), (), (), ())
    app = make_app(
        ReplaySource(incident=incident),
        report_dir=tmp_path,
        theme="textual-dark",
        animation_level="none",
        cursor_blink=False,
    )
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one("#source", Input).focus()
        await pilot.press(*"prod/")
        await settle(pilot)
        text = rendered(app)
        assert "prod/a[/]b" in text
        assert "prod/[link=file:///etc/passwd]x" in text
        assert "prod/[bold red]styled" in text
        await pilot.press("f2")
        await settle(pilot)
        text = rendered(app)
        assert "[link=file:///etc/passwd]x" in text


def test_a_file_with_many_bad_objects_prints_a_bounded_number_of_lines(tmp_path: Path) -> None:
    docs = "\n---\n".join(
        f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: Bad_{i}}}" for i in range(80)
    )
    path = tmp_path / "many.yaml"
    path.write_text(docs)
    result = triage("lint", "--manifests", str(path))
    lines = result.stderr.decode().splitlines()
    assert result.returncode == 2 and len(lines) == 51
    assert lines[-1] == "triage: error: … and 30 more problems"


# ------------------------------------------------------------------ a pod's tools print escapes


@pytest.mark.live
def test_probe_output_with_escapes_is_recorded_and_printed_clean(
    cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The image in the pod decides what `nslookup` and `nc` print."""
    from triage.cli import main
    from triage.sources.recording import load_incident

    web = "checkout-web-7c9d8f6b5-8hx2p"
    escape = "\x1b]52;c;dG91Y2ggeA==\x07\x1b[2J\x9b31m"
    cluster.server.script_exec("checkout", web, ["nslookup"], stdout=f"Server: x{escape}\n")
    cluster.server.script_exec("checkout", web, ["nc"], stderr=f"nc: {escape}\n", exit_code=1)
    out = tmp_path / "probed.yaml"
    flow = ["--flow", f"checkout/{web}", "checkout/svc/checkout-api", "80"]
    code = main(["record", "-o", str(out), *cluster.cli_args(), "--probe", *flow])
    assert code == 0
    captured = capsys.readouterr()
    assert CONTROL.search((captured.out + captured.err).encode()) is None
    assert CONTROL.search(out.read_bytes()) is None
    probes = load_incident(out).probes
    assert probes and all("\x1b" not in p.output for p in probes)
    assert any("\ufffd]52;c;dG91Y2ggeA==" in p.output for p in probes)
    assert out.stat().st_mode & 0o777 == 0o600


def test_a_flow_log_line_nested_too_deep_is_a_warning_not_a_traceback() -> None:
    result = triage("flows", "--recording", str(RECORDING), str(HOSTILE / "deep.json"))
    assert result.returncode == 2
    assert_clean(result)
    assert b"not JSON: maximum recursion depth exceeded" in result.stderr


@pytest.mark.live
def test_a_live_object_out_of_syntax_is_a_warning_and_still_used(empty_server: Cluster) -> None:
    """What the cluster holds is what it enforces: the live load keeps the object and says
    what a file would have been refused for (through the real client and HTTP)."""
    from tests.kubeapi.builders import namespace, pod
    from triage.sources.live import load_live

    server = empty_server.server
    server.add(namespace("prod"))
    server.add(pod("Web_1", "prod", labels={"app": "v" * 64}))
    result = load_live(empty_server.target())
    assert [p.name for p in result.snapshot.pods] == ["Web_1"]
    assert dict(result.snapshot.pods[0].labels) == {"app": "v" * 64}
    problems = [w for w in result.warnings if "Pod prod/Web_1" in w]
    assert len(problems) == 2
    assert "metadata.name: 'Web_1' is not a DNS-1123 subdomain" in problems[0]
    assert "metadata.labels.app: invalid label value" in problems[1]
