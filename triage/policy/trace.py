"""The explanation trace: a structure, not a string (DESIGN.md "The explanation trace").

The text view, the TUI and `--output json` are renderings of these objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from triage.model import Direction, Flow, Protocol

if TYPE_CHECKING:
    from triage.policy.tier_trace import TierChain


@dataclass(frozen=True, slots=True)
class Reason:
    """Why one selector term, ipBlock or port did not match.

    `code` is stable (tests and the TUI key on it); `text` is the sentence for people.
    """

    code: str
    text: str
    subject: str = ""  # "source", "destination", "namespace develop", ...
    key: str | None = None
    actual: str | None = None
    expected: tuple[str, ...] = ()


# How far a failed term is from matching, for "nearest miss": one pod label value is the
# smallest step; a namespace, an address range or a protocol is a bigger change.
_COSTS = {
    "label-value": 1,
    "value-not-in": 1,
    "value-in": 1,
    "label-missing": 1,
    "label-present": 1,
    "port": 1,
    "port-range": 1,
    "protocol": 2,
    "named-port-unresolved": 2,
    "port-unknown": 2,
    "namespace-name-label-missing": 2,
    "ip-in-except": 2,
    "ip-outside-cidr": 3,
    "namespace-not-own": 3,
    "not-a-pod": 4,
    "no-ip": 4,
}


def failure_cost(reasons: tuple[Reason, ...] | list[Reason]) -> int:
    """The summed distance of failed terms; a namespace's labels weigh double a pod's."""
    total = 0
    for r in reasons:
        cost = _COSTS.get(r.code, 2)
        if r.subject.startswith("namespace ") and cost == 1:
            cost = 2
        total += cost
    return total


@dataclass(frozen=True, slots=True)
class PeerTrace:
    index: int
    description: str
    matched: bool
    reasons: tuple[Reason, ...] = ()


@dataclass(frozen=True, slots=True)
class PortTrace:
    index: int
    description: str
    matched: bool
    reason: Reason | None = None


@dataclass(frozen=True, slots=True)
class RuleTrace:
    index: int
    allowed: bool
    peer_matched: bool
    port_matched: bool
    peers: tuple[PeerTrace, ...] = ()  # empty: the rule has no from/to, every peer matches
    ports: tuple[PortTrace, ...] = ()  # empty: the rule has no ports, every port matches

    @property
    def failures(self) -> tuple[Reason, ...]:
        """What this rule lacks: the reasons of its closest peer entry and closest port
        entry (by `failure_cost`; the first one on a tie)."""
        out: list[Reason] = []
        if not self.peer_matched and self.peers:
            best = min(self.peers, key=lambda p: (failure_cost(p.reasons), len(p.reasons)))
            out.extend(best.reasons)
        if not self.port_matched and self.ports:
            # "port 9090 is not 8080" beats "rule allows UDP": prefer the cheapest miss.
            reasons = [p.reason for p in self.ports if p.reason is not None]
            if reasons:
                out.append(min(reasons, key=lambda r: failure_cost((r,))))
        return tuple(out)


@dataclass(frozen=True, slots=True)
class PolicyTrace:
    namespace: str
    name: str
    pod_selector: str
    policy_types: tuple[Direction, ...]
    allowed: bool
    rules: tuple[RuleTrace, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class Decision:
    policy: str  # NS/NAME
    rule: int


@dataclass(frozen=True, slots=True)
class SideTrace:
    """One direction: egress at the source, or ingress at the destination."""

    direction: Direction
    endpoint: str  # NS/POD, or the IP of an endpoint outside the cluster's pods
    governed: bool  # False: an external IP; the cluster's policies do not act on this side
    isolated: bool
    allowed: bool
    policies: tuple[PolicyTrace, ...] = ()
    decision: Decision | None = None
    summary: str = ""
    # The walk through the admin tiers (triage.policy.tiers) when the snapshot has any
    # ClusterNetworkPolicy / AdminNetworkPolicy / BaselineAdminNetworkPolicy; else None.
    tiers: TierChain | None = None


@dataclass(frozen=True, slots=True)
class NearMiss:
    direction: Direction
    policy: str
    rule: int
    missing: tuple[Reason, ...]

    @property
    def text(self) -> str:
        lacks = "; ".join(r.text for r in self.missing) or "nothing"
        return f"{self.policy} {self.direction.lower()} rule #{self.rule}: {lacks}"


@dataclass(frozen=True, slots=True)
class Endpoint:
    kind: str  # "pod" or "external"
    name: str  # NS/POD or the IP
    ip: str | None = None
    namespace: str | None = None


@dataclass(frozen=True)
class Verdict:
    """One concrete connection: a source to one destination pod (or IP) and port."""

    source: Endpoint
    destination: Endpoint
    port: int | None  # the port the destination sees (after Service targetPort), if known
    port_name: str | None
    protocol: Protocol
    allowed: bool
    egress: SideTrace
    ingress: SideTrace
    warnings: tuple[str, ...] = ()
    nearest_miss: NearMiss | None = None
    blocked_by: Reason | None = None  # not policy: e.g. a named port the pod does not have


@dataclass(frozen=True)
class ServiceResolution:
    service: str
    port: int
    target_port: int | str
    protocol: Protocol
    backends: tuple[str, ...]


@dataclass(frozen=True)
class Explanation:
    flow: Flow
    allowed: bool
    verdicts: tuple[Verdict, ...]
    service: ServiceResolution | None = None
    warnings: tuple[str, ...] = field(default=())
    problem: Reason | None = None  # the flow never reaches policy (no backends, no such port)

    @property
    def primary(self) -> Verdict | None:
        """The verdict to show first: the first denied backend, else the first one."""
        for verdict in self.verdicts:
            if not verdict.allowed:
                return verdict
        return self.verdicts[0] if self.verdicts else None
