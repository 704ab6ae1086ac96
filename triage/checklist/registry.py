"""The checks by step id: what a runbook's `steps[].id` names. A new check is one function in
the module of its group (triage/checklist/checks/) and one line here (docs/architecture.md,
"Where to add things")."""

from __future__ import annotations

from collections.abc import Mapping

from triage.checklist.checks.common import Check
from triage.checklist.checks.dns import check_dns
from triage.checklist.checks.flow import check_flow
from triage.checklist.checks.history import check_changes, check_regressions, check_rollback
from triage.checklist.checks.lateral import check_containment, check_default_deny, check_exposure
from triage.checklist.checks.probe import check_probe
from triage.checklist.checks.rollout import check_rollout
from triage.checklist.checks.selection import check_labels, check_namespaces, check_ports
from triage.checklist.checks.tiers import check_tiers
from triage.checklist.checks.verdict import check_verdict

# ---------------------------------------------------------------- running

CHECKS: Mapping[str, Check] = {
    "flow": check_flow,
    "dns": check_dns,
    "labels": check_labels,
    "namespaces": check_namespaces,
    "tiers": check_tiers,
    "ports": check_ports,
    "verdict": check_verdict,
    "probe": check_probe,
    "changes": check_changes,
    "regressions": check_regressions,
    "rollback": check_rollback,
    "default-deny": check_default_deny,
    "exposure": check_exposure,
    "containment": check_containment,
    "rollout": check_rollout,
}
