"""Running a runbook's steps: `run_step` / `run_all`, on top of the checks and the loader."""

from __future__ import annotations

import dataclasses
import traceback
from collections.abc import Iterator

from triage.checklist.datapath import with_datapath
from triage.checklist.kubectl import render_kubectl
from triage.checklist.model import ChecklistContext, Status, StepResult
from triage.checklist.runbook import runbook_for
from triage.checklist.steps import CHECKS
from triage.policy import UnknownEndpoint
from triage.probes.base import ProbeInputError


def _result(status: Status, summary: str, hint: str = "") -> StepResult:
    return StepResult("", status, summary, hint=hint)


def run_step(ctx: ChecklistContext, step_id: str) -> StepResult:
    """Run one step of the context's runbook. Blocking (probes may take seconds); never
    raises for domain problems: they are `fail`/`error`/`skip` results with the reason."""
    runbook = runbook_for(ctx)
    try:
        spec = runbook.step(step_id)
    except KeyError as exc:
        return StepResult(step_id, "error", str(exc).strip("'\""))
    try:
        kubectl = render_kubectl(spec.kubectl, ctx)
    except (KeyError, ValueError, IndexError):
        kubectl = spec.kubectl
    check = CHECKS.get(step_id)
    if check is None:
        return StepResult(step_id, "error", f"no check named {step_id!r}", kubectl=kubectl)
    try:
        if step_id != "flow":
            ctx.explanation  # noqa: B018 - an unknown endpoint is the flow step's finding
        result = check(ctx)
    except UnknownEndpoint as exc:
        result = _result("skip", f"the flow does not resolve: {exc}", hint="see the Flow step")
    except ProbeInputError as exc:
        result = _result("error", f"probe refused its input: {exc}")
    except Exception as exc:  # a bug must not take the checklist down; show it
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        result = _result("error", f"internal error in step {step_id}: {last}")
    result = dataclasses.replace(result, step_id=step_id, kubectl=result.kubectl or kubectl)
    if step_id in ("verdict", "probe"):
        result = with_datapath(ctx, result)  # the flow log's lines beside the result
    return result


def run_all(ctx: ChecklistContext) -> Iterator[StepResult]:
    """Every step of the runbook in order, one result at a time."""
    for spec in runbook_for(ctx).steps:
        yield run_step(ctx, spec.id)
