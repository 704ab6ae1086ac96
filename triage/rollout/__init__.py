"""Guided default-deny rollout: generate default-deny, the DNS guardrail and least-privilege
allows from observed traffic, preview the change with the engine, apply it through the
rollback machinery (backup, dry-run, journal) and verify it with probes. No Textual, no
Rich."""

from triage.rollout.allows import Generated
from triage.rollout.observed import Connection, Observed, observed_from_incident
from triage.rollout.plan import Check, Generation, OpenPath, Rollout, generate, plan_rollout

__all__ = [
    "Check",
    "Connection",
    "Generated",
    "Generation",
    "Observed",
    "OpenPath",
    "Rollout",
    "generate",
    "observed_from_incident",
    "plan_rollout",
]
