"""The Markdown report of a checklist run."""

from __future__ import annotations

from collections.abc import Iterable

from triage.checklist.model import ChecklistContext, StepResult


def export_report(ctx: ChecklistContext, results: Iterable[StepResult]) -> str:
    """Markdown: the flow, each step with status/evidence/kubectl, the verdict, the fix."""
    raise NotImplementedError
