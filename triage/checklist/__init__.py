"""Runbook loading; runs checklist steps and yields StepResults. No Textual here."""

from triage.checklist.candidates import candidate_flows
from triage.checklist.fix import least_privilege_fix
from triage.checklist.kubectl import PLACEHOLDERS, render_kubectl
from triage.checklist.model import (
    FINAL_STATUSES,
    STATUSES,
    CandidateFlow,
    CandidateSource,
    ChecklistContext,
    Runbook,
    Status,
    StepResult,
    StepSpec,
)
from triage.checklist.report import ReportOrigin, export_report
from triage.checklist.run import run_all, run_step
from triage.checklist.runbook import bundled_runbooks, load_runbook, runbook_for

__all__ = [
    "FINAL_STATUSES",
    "PLACEHOLDERS",
    "STATUSES",
    "CandidateFlow",
    "CandidateSource",
    "ChecklistContext",
    "ReportOrigin",
    "Runbook",
    "Status",
    "StepResult",
    "StepSpec",
    "bundled_runbooks",
    "candidate_flows",
    "export_report",
    "least_privilege_fix",
    "load_runbook",
    "render_kubectl",
    "run_all",
    "run_step",
    "runbook_for",
]
