"""`--output json`: the trace as plain data. Contract: top-level `allowed`, `flow`, `egress`,
`ingress`, `warnings` (docs/architecture.md "The explanation trace")."""

from __future__ import annotations

import dataclasses
from typing import Any

from triage.model import Flow
from triage.policy.describe import near_miss_text, side_summary
from triage.policy.trace import Explanation, SideTrace


def flow_to_dict(flow: Flow) -> dict[str, Any]:
    return {
        "from": str(flow.source),
        "to": str(flow.destination),
        "port": flow.port,
        "protocol": flow.protocol,
    }


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def side_to_dict(side: SideTrace | None) -> dict[str, Any] | None:
    """The side's trace, with its one-sentence `summary` (from triage.policy.describe)."""
    if side is None:
        return None
    out: dict[str, Any] = _plain(side)
    out["summary"] = side_summary(side)
    return out


def tiers_to_dict(side: SideTrace | None) -> dict[str, Any] | None:
    """The tier walk of one side, short: which tier decided, the path, each tier's nearest
    miss. None when the snapshot has no admin policy (or the side is not a pod)."""
    if side is None or side.tiers is None:
        return None
    chain = side.tiers
    return {
        "decided_by": chain.decided_by,
        "allowed": chain.allowed,
        "path": chain.text,
        "steps": [
            {
                "tier": s.tier,
                "outcome": s.outcome,
                "policy": s.policy,
                "rule": s.rule,
                "peer": s.peer,
                "nearest_miss": s.nearest_miss.text if s.nearest_miss else None,
            }
            for s in chain.steps
        ],
    }


def explanation_to_dict(explanation: Explanation) -> dict[str, Any]:
    primary = explanation.primary
    warnings = explanation.all_warnings
    return {
        # null: unknown, an end outside the loaded namespaces (`-n`); `unknown` says why.
        "allowed": None if explanation.unknown is not None else explanation.allowed,
        "unknown": explanation.unknown,
        "flow": flow_to_dict(explanation.flow),
        "egress": side_to_dict(primary.egress if primary else None),
        "ingress": side_to_dict(primary.ingress if primary else None),
        "warnings": [w.text for w in warnings],
        # The same warnings with their stable codes (added next to the text list, which
        # stays a list of strings for existing readers).
        "warning_details": [_plain(w) for w in warnings],
        "source": _plain(primary.source) if primary else None,
        "destination": _plain(primary.destination) if primary else None,
        "port": primary.port if primary else None,
        "nearest_miss": (
            dict(_plain(primary.nearest_miss), text=near_miss_text(primary.nearest_miss))
            if primary and primary.nearest_miss
            else None
        ),
        # One per denying side (egress first): `nearest_miss` is the nearest of them.
        "nearest_misses": (
            [dict(_plain(m), side=m.side, text=near_miss_text(m)) for m in primary.nearest_misses]
            if primary
            else []
        ),
        "blocked_by": _plain(primary.blocked_by) if primary else None,
        # New with the admin tiers; null on clusters without them.
        "tiers": (
            {
                "egress": tiers_to_dict(primary.egress),
                "ingress": tiers_to_dict(primary.ingress),
            }
            if primary and (primary.egress.tiers or primary.ingress.tiers)
            else None
        ),
        "problem": _plain(explanation.problem),
        "service": _plain(explanation.service),
        "backends": [
            {
                "destination": v.destination.name,
                "port": v.port,
                "allowed": v.allowed,
                "egress_allowed": v.egress.allowed,
                "ingress_allowed": v.ingress.allowed,
            }
            for v in explanation.verdicts
        ],
    }
