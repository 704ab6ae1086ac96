"""The checks a runbook's steps name, and `run_step` / `run_all`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from triage.checklist.model import ChecklistContext, StepResult

Check = Callable[[ChecklistContext], StepResult]

# Filled in below; the runbook loader checks step ids against it.


def _not_yet(ctx: ChecklistContext) -> StepResult:
    return StepResult("?", "error", "not implemented yet")


CHECKS: Mapping[str, Check] = dict.fromkeys(
    (
        "flow",
        "dns",
        "labels",
        "namespaces",
        "ports",
        "verdict",
        "probe",
        "changes",
        "regressions",
        "rollback",
        "default-deny",
        "exposure",
        "containment",
    ),
    _not_yet,
)


def run_step(ctx: ChecklistContext, step_id: str) -> StepResult:
    """Run one step of the context's runbook. Blocking (probes may take seconds); never
    raises for domain problems: they are `fail`/`error` results with the reason."""
    raise NotImplementedError


def run_all(ctx: ChecklistContext) -> Iterator[StepResult]:
    """Every step of the runbook in order, one result at a time."""
    for spec in ctx.effective_runbook.steps:
        yield run_step(ctx, spec.id)
