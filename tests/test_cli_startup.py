"""A command imports what it uses: `triage matrix` on manifests loads neither the TUI
(Textual), the kubernetes client, nor the other commands' modules. (How long start-up takes
is measured in benchmarks/bench_startup.py, never asserted here.)"""

from __future__ import annotations

import json
import subprocess
import sys

from triage.sources.recording import bundled_incident

PROBE = """
import contextlib, io, json, sys
from triage.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _modules_after(*argv: str) -> tuple[int, list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["code"], result["modules"]


def _top(modules: list[str], prefix: str) -> set[str]:
    return {m for m in modules if m == prefix or m.startswith(prefix + ".")}


def test_matrix_imports_its_own_command_only() -> None:
    code, modules = _modules_after(
        "matrix", "--recording", str(bundled_incident("demo")), "-o", "csv"
    )
    assert code == 0
    assert _top(modules, "triage.commands") == {
        "triage.commands",
        "triage.commands.common",
        "triage.commands.matrix",
    }
    assert _top(modules, "textual") == set()
    assert _top(modules, "kubernetes") == set()
    assert _top(modules, "triage.ui") == set()
    assert _top(modules, "triage.rollback") == set()


def test_help_lists_every_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "triage", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    for name in ("tui", "replay", "demo", "explain", "record", "snapshot", "rollback", "lint"):
        assert f"    {name} " in done.stdout or f"    {name}\n" in done.stdout, name
