"""The trace of the policy tiers on one side of a connection: a structure the text view,
the TUI and `--output json` render (see `triage.policy.tiers` for the evaluation).

Per direction the tiers are walked in order: Admin (ClusterNetworkPolicy tier Admin,
AdminNetworkPolicy) → NetworkPolicy (v1, if any selects the pod) → Baseline
(ClusterNetworkPolicy tier Baseline, BaselineAdminNetworkPolicy) → the default (allowed).
Each step says what that tier did, and which policy, rule and peer did it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from triage.policy.trace import Reason, failure_cost

TierName = Literal["Admin", "NetworkPolicy", "Baseline", "Default"]
# Accept / Deny: a final decision. Pass: on to the next tier. None: the tier had nothing to
# say (no policy selects the pod, or no rule matched), so evaluation went on.
Outcome = Literal["Accept", "Deny", "Pass", "None"]


@dataclass(frozen=True, slots=True)
class AdminPeerTrace:
    index: int
    description: str
    matched: bool
    reasons: tuple[Reason, ...] = ()
    # True when the snapshot cannot decide this peer (domainNames, nodes by label): it was
    # treated as not matching, and the verdict says it may be wrong.
    undecidable: bool = False


@dataclass(frozen=True, slots=True)
class AdminPortTrace:
    index: int
    description: str
    matched: bool
    reason: Reason | None = None


@dataclass(frozen=True, slots=True)
class AdminRuleTrace:
    index: int
    name: str  # the rule's `name`, else "ingress #N" / "egress #N"
    action: str  # Accept, Deny, Pass
    matched: bool
    peer_matched: bool
    port_matched: bool
    peers: tuple[AdminPeerTrace, ...] = ()
    ports: tuple[AdminPortTrace, ...] = ()  # empty: the rule matches every port
    fails_closed: bool = False  # a peer with no known field decided the match

    @property
    def failures(self) -> tuple[Reason, ...]:
        """What keeps this rule from matching: the closest peer's reasons, the closest
        port's reason (as for NetworkPolicy rules)."""
        out: list[Reason] = []
        if not self.peer_matched and self.peers:
            best = min(self.peers, key=lambda p: (failure_cost(p.reasons), len(p.reasons)))
            out.extend(best.reasons)
        if not self.port_matched:
            reasons = [p.reason for p in self.ports if p.reason is not None]
            if reasons:
                out.append(min(reasons, key=lambda r: failure_cost((r,))))
        return tuple(out)


@dataclass(frozen=True, slots=True)
class AdminPolicyTrace:
    key: str  # cnp/NAME, anp/NAME, banp/default
    kind: str
    tier: str
    priority: int | None
    subject: str
    # The rules walked, in order, up to and including the one that matched (if any).
    rules: tuple[AdminRuleTrace, ...] = ()


@dataclass(frozen=True, slots=True)
class TierMiss:
    """The rule of a tier that came closest to letting the flow through (an Accept, or a
    Pass out of a denying tier), and what it lacks."""

    policy: str
    rule: str
    action: str
    missing: tuple[Reason, ...]

    @property
    def text(self) -> str:
        lacks = "; ".join(r.text for r in self.missing) or "nothing"
        return f"{self.policy} rule {self.rule} ({self.action}): {lacks}"


@dataclass(frozen=True, slots=True)
class TierStep:
    tier: TierName
    outcome: Outcome
    text: str  # "Admin: cnp/sec-baseline rule allow-monitoring Pass"
    policy: str | None = None  # the deciding (or passing) policy
    rule: str | None = None  # its rule name
    peer: str | None = None  # the peer that matched
    policies: tuple[AdminPolicyTrace, ...] = ()
    nearest_miss: TierMiss | None = None


@dataclass(frozen=True, slots=True)
class TierChain:
    """One side's walk through the tiers. `decided_by` is the tier whose step is final."""

    steps: tuple[TierStep, ...]
    decided_by: TierName
    allowed: bool
    text: str  # the steps joined with " → "
    warnings: tuple[str, ...] = ()
