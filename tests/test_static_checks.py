"""The static checks run with the tests, so `.ci/run` (the README's test command) enforces them:
the import contracts in pyproject.toml (`lint-imports`), `ruff check`, `ruff format --check`
and `mypy --strict` over the whole `triage` package. docs/architecture.md explains the layers.

Each check runs the pinned tool (the `test` extra) as a subprocess and fails with its output.
The last tests prove the contracts bite: a copy of the package with a bad module added must
fail `lint-imports`, naming the import.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYTHON_SOURCES = ("triage", "tests", "benchmarks")
TIMEOUT = 300


def _script(name: str) -> str:
    """A console script installed beside this interpreter (the venv's bin/)."""
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / name
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]' installs it")
    return found


def _run(argv: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MYPYPATH")}
    env["NO_COLOR"] = "1"
    if cwd != ROOT:
        env["PYTHONPATH"] = str(cwd)  # the copy's `triage`, not the installed one
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def _passes(argv: list[str]) -> None:
    done = _run(argv)
    output = (done.stdout + done.stderr).strip()
    shown = " ".join(argv[2:] if argv[0] == sys.executable else [Path(argv[0]).name, *argv[1:]])
    assert done.returncode == 0, f"{shown} failed:\n{output}"


def test_import_contracts_hold() -> None:
    _passes([_script("lint-imports")])


def test_ruff_check() -> None:
    _passes([sys.executable, "-m", "ruff", "check", *PYTHON_SOURCES])


def test_ruff_format() -> None:
    _passes([sys.executable, "-m", "ruff", "format", "--check", *PYTHON_SOURCES])


def test_mypy_strict_on_all_of_triage() -> None:
    # pyproject.toml: strict = true, packages = ["triage"] (ui, commands and cli included).
    _passes([sys.executable, "-m", "mypy"])


# ---------------------------------------------------------------- the contracts bite


def _package_copy(tmp_path: Path) -> Path:
    """The package and its contracts in a scratch folder (no data: imports are what counts)."""
    shutil.copytree(
        ROOT / "triage",
        tmp_path / "triage",
        ignore=shutil.ignore_patterns("__pycache__", "data", "*.tcss"),
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _lint_copy_with(tmp_path: Path, module: str, source: str) -> str:
    root = _package_copy(tmp_path)
    path = root / Path(*module.split(".")).with_suffix(".py")
    path.write_text(source, encoding="utf-8")
    done = _run([_script("lint-imports"), "--no-cache"], cwd=root)
    output = done.stdout + done.stderr
    assert done.returncode != 0, f"lint-imports accepted {module}:\n{output}"
    return output


def test_the_copy_alone_passes(tmp_path: Path) -> None:
    """Without a bad module the copy is clean: the failures below come from the bad module."""
    root = _package_copy(tmp_path)
    done = _run([_script("lint-imports"), "--no-cache"], cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr


def test_textual_in_the_engine_is_refused(tmp_path: Path) -> None:
    output = _lint_copy_with(tmp_path, "triage.policy.bad_widget", "import textual.widgets\n")
    assert "No Textual or Rich below the ui (render may use Rich) BROKEN" in output
    assert "triage.policy.bad_widget -> textual" in output


def test_rich_in_the_sources_is_refused(tmp_path: Path) -> None:
    output = _lint_copy_with(
        tmp_path, "triage.sources.bad_markup", "from rich.text import Text\n\nT = Text\n"
    )
    assert "triage.sources.bad_markup -> rich" in output


def test_an_upward_import_is_refused(tmp_path: Path) -> None:
    """The model (bottom layer) reaching for the ui (a lazy import counts too)."""
    source = "def screen() -> object:\n    from triage.ui import app\n\n    return app\n"
    output = _lint_copy_with(tmp_path, "triage.model.bad_upward", source)
    assert "Each package imports only the packages below it BROKEN" in output
    assert "triage.model.bad_upward -> triage.ui" in output


def test_a_cycle_between_siblings_is_refused(tmp_path: Path) -> None:
    """The rollback package reaching into the checklist: siblings in one layer are
    independent, and a cycle is reported by the acyclic contract as well."""
    output = _lint_copy_with(
        tmp_path, "triage.rollback.bad_sibling", "from triage.checklist import model\n"
    )
    assert "triage.rollback.bad_sibling -> triage.checklist" in output


# ---------------------------------------------------------------- the repository stands alone


def test_no_pointer_to_design_notes_outside_the_repository() -> None:
    """Comments point into docs/ (docs/architecture.md), never to design notes that are not
    part of the repository."""
    outside = ("DESIGN" + ".md", "STYLE" + ".md", "notes" + " §", "notes/kubernetes" + "-api")
    hits = []
    for folder in ("triage", "tests", "benchmarks", "docs", "runbooks"):
        for path in sorted((ROOT / folder).rglob("*")):
            if not path.is_file() or path.suffix not in (".py", ".md", ".yaml", ".json", ".tcss"):
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            hits += [f"{path.relative_to(ROOT)}: {word}" for word in outside if word in text]
    assert hits == []
