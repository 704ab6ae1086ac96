"""Runbooks are data: YAML files of ordered steps (docs/architecture.md "Checklist and probes").

The canonical files ship in the wheel under `triage/data/runbooks/`; the repository's
`runbooks/*.yaml` are symlinks to them. A runbook is schema-checked on load: a bad one raises
SourceError naming the file and the field (`steps[2].kubectl: unknown placeholder {pod}`).
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from triage.checklist.kubectl import PLACEHOLDERS
from triage.checklist.model import ChecklistContext, Runbook, StepSpec
from triage.checklist.steps import CHECKS
from triage.sources.errors import Problem, SourceError

_STEP_FIELDS = {"id", "title", "text", "kubectl", "help", "live"}
_TOP_FIELDS = {"name", "title", "description", "steps"}


def _bundled_dir() -> Path:
    return Path(str(resources.files("triage") / "data" / "runbooks"))


def bundled_runbooks() -> list[str]:
    """Names of the runbooks shipped with the package."""
    return sorted(p.stem for p in _bundled_dir().glob("*.yaml"))


def _template_problems(template: str) -> list[str]:
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        return [f"bad template: {exc}"]
    out = []
    for name in fields:
        if name not in PLACEHOLDERS:
            known = ", ".join("{" + k + "}" for k in PLACEHOLDERS)
            out.append(f"unknown placeholder {{{name}}} (known: {known})")
    return out


def parse_runbook(data: Any, file: str) -> Runbook:
    """Check a runbook document and build it; every problem is reported, one line each."""

    problems: list[Problem] = []

    def bad(field: str, message: str) -> None:
        problems.append(Problem(file, "runbook", field, message))

    if not isinstance(data, Mapping):
        raise SourceError([Problem(file, "runbook", "", "expected a mapping at the top")])
    for key in sorted(set(data) - _TOP_FIELDS):
        bad(str(key), "unknown field")
    texts: dict[str, str] = {}
    for key in ("name", "title", "description"):
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            bad(key, "missing or not a non-empty string")
            value = ""
        texts[key] = value.strip()
    raw_steps = data.get("steps")
    steps: list[StepSpec] = []
    if not isinstance(raw_steps, list) or not raw_steps:
        bad("steps", "missing or not a non-empty list")
        raw_steps = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_steps):
        where = f"steps[{i}]"
        if not isinstance(raw, Mapping):
            bad(where, "expected a mapping")
            continue
        for key in sorted(set(raw) - _STEP_FIELDS):
            bad(f"{where}.{key}", "unknown field")
        values: dict[str, str] = {}
        for key in ("id", "title", "text", "kubectl"):
            value = raw.get(key)
            if not isinstance(value, str) or not value.strip():
                bad(f"{where}.{key}", "missing or not a non-empty string")
                value = ""
            values[key] = value.strip()
        help_text = raw.get("help", "")
        if not isinstance(help_text, str):
            bad(f"{where}.help", "expected a string")
            help_text = ""
        live = raw.get("live", False)
        if not isinstance(live, bool):
            bad(f"{where}.live", "expected true or false")
            live = False
        step_id = values["id"]
        if step_id and step_id not in CHECKS:
            bad(f"{where}.id", f"unknown step {step_id!r} (known: {', '.join(sorted(CHECKS))})")
        if step_id in seen:
            bad(f"{where}.id", f"duplicate step {step_id!r}")
        seen.add(step_id)
        for message in _template_problems(values["kubectl"]):
            bad(f"{where}.kubectl", message)
        steps.append(
            StepSpec(
                step_id,
                values["title"],
                values["text"],
                values["kubectl"],
                help_text.strip(),
                live,
            )
        )
    if problems:
        raise SourceError(problems)
    return Runbook(texts["name"], texts["title"], texts["description"], tuple(steps), file)


def _load_path(path: Path) -> Runbook:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SourceError.single(file, f"cannot read: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise SourceError.single(file, f"invalid YAML{where}") from None
    return parse_runbook(data, file)


def load_runbook(name_or_path: str | Path) -> Runbook:
    """A bundled runbook by name (`blocked-flow`), or a YAML file by path."""
    text = str(name_or_path)
    if isinstance(name_or_path, str) and "/" not in text and not text.endswith((".yaml", ".yml")):
        return _load_bundled(text)
    return _load_path(Path(text))


@lru_cache(maxsize=16)
def _load_bundled(name: str) -> Runbook:
    """Bundled runbooks are read once per process (every checklist context asks)."""
    path = _bundled_dir() / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(bundled_runbooks())
        raise SourceError.single(name, f"no bundled runbook of that name (bundled: {known})")
    return _load_path(path)


def runbook_for(ctx: ChecklistContext) -> Runbook:
    """The runbook a context follows: its own, else the bundled `blocked-flow`."""
    return ctx.runbook if ctx.runbook is not None else load_runbook("blocked-flow")
