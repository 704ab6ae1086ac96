"""The least-privilege fix: the smallest NetworkPolicy YAML that allows exactly one flow."""

from __future__ import annotations

from triage.model import Flow, Snapshot
from triage.policy import Explanation, Verdict


def least_privilege_fix(snapshot: Snapshot, target: Flow | Explanation | Verdict) -> str:
    """NetworkPolicy YAML (one document per side that needs it, egress and/or ingress) that
    would allow exactly this flow; "" when the flow is already allowed."""
    raise NotImplementedError
