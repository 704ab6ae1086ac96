"""The explanation trace: a structure, not a string (docs/architecture.md).

The text view, the TUI and `--output json` are renderings of these objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from triage.model import Direction, Flow, Protocol


@dataclass(frozen=True, slots=True)
class Reason:
    """Why one selector term, ipBlock or port did not match.

    `code` is stable (tests and the TUI key on it); `text` is the sentence for people.
    """

    code: str
    text: str
    subject: str = ""  # "source", "destination", "namespace develop", ...
    key: str | None = None
    actual: str | None = None  # the value the pod, namespace or flow has (None: absent)
    expected: tuple[str, ...] = ()
    term: Term | None = None  # which part of the rule failed
    requirement: str = ""  # the failing requirement as written: `role=be`, `TCP 8080`, ...


# The part of a rule a reason is about: a peer's pod or namespace selector, its ipBlock,
# or a `ports` entry's port or protocol.
Term = Literal["pod-selector", "namespace-selector", "ip-block", "port", "protocol"]


@dataclass(frozen=True, slots=True)
class EngineWarning:
    """Something the verdict assumes or leaves out. `code` is stable (the checklist, tests and
    the TUI decide on it); `text` is the sentence for people; `subject` names what it is
    about (NS/POD, NS/SERVICE, an IP), when one thing."""

    code: str
    text: str
    subject: str = ""

    def __str__(self) -> str:
        return self.text


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
    "wrong-namespace": 3,
    "named-port-ambiguous": 2,
    "not-a-pod": 4,
    "no-ip": 4,
}


def failure_cost(reasons: tuple[Reason, ...] | list[Reason]) -> int:
    """The summed distance of failed terms; a namespace's labels weigh double a pod's."""
    total = 0
    for r in reasons:
        cost = _COSTS.get(r.code, 2)
        if r.term == "namespace-selector" and cost == 1:
            cost = 2
        total += cost
    return total


@dataclass(frozen=True, slots=True)
class PeerTrace:
    index: int
    description: str
    matched: bool
    reasons: tuple[Reason, ...] = ()
    never: str | None = None  # why this peer's selectors can match no pod at all, if so
    # The peer's shape: which of podSelector, namespaceSelector, ipBlock it has.
    pod_selector: bool = False
    namespace_selector: bool = False
    ip_block: bool = False


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

    def closest(self) -> tuple[PeerTrace | None, PortTrace | None]:
        """The failed peer entry and the failed port entry nearest to matching (by
        `failure_cost`, a peer that can never match last; the first one on a tie). None for
        a part that matched."""
        peer: PeerTrace | None = None
        port: PortTrace | None = None
        if not self.peer_matched and self.peers:
            peer = min(
                self.peers,
                key=lambda p: (p.never is not None, failure_cost(p.reasons), len(p.reasons)),
            )
        if not self.port_matched and self.ports:
            # "port 9090 is not 8080" beats "rule allows UDP": prefer the cheapest miss.
            failed = [p for p in self.ports if p.reason is not None]
            if failed:
                port = min(failed, key=lambda p: failure_cost((p.reason,) if p.reason else ()))
        return peer, port

    @property
    def failures(self) -> tuple[Reason, ...]:
        """What this rule lacks: the reasons of its closest peer entry and closest port
        entry."""
        peer, port = self.closest()
        out: list[Reason] = list(peer.reasons) if peer is not None else []
        if port is not None and port.reason is not None:
            out.append(port.reason)
        return tuple(out)


@dataclass(frozen=True, slots=True)
class PolicyTrace:
    namespace: str
    name: str
    pod_selector: str
    policy_types: tuple[Direction, ...]
    allowed: bool
    rules: tuple[RuleTrace, ...] = ()
    selects_all: bool = (
        False  # podSelector {}: it selects (and isolates) every pod of the namespace
    )

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class Decision:
    policy: str  # NS/NAME
    rule: int


@dataclass(frozen=True, slots=True)
class SideTrace:
    """One direction: egress at the source, or ingress at the destination. Structure only:
    `triage.policy.describe.side_summary` says it in English."""

    direction: Direction
    endpoint: str  # NS/POD, or the IP of an endpoint outside the cluster's pods
    governed: bool  # False: an external IP; the cluster's policies do not act on this side
    isolated: bool
    allowed: bool
    policies: tuple[PolicyTrace, ...] = ()
    decision: Decision | None = None
    other: str = ""  # the far end (NS/POD or IP) the rules were checked against
    port: int | None = None  # the destination port the rules were checked against
    protocol: Protocol = "TCP"
    # The walk through the admin tiers (triage.policy.tiers) when the snapshot has any
    # ClusterNetworkPolicy / AdminNetworkPolicy / BaselineAdminNetworkPolicy; else None.
    tiers: TierChain | None = None


@dataclass(frozen=True, slots=True)
class NearMiss:
    """The rule of one denying side that came closest to admitting the flow, and exactly
    which terms it lacks: each of `missing` names its term (pod selector, namespace selector,
    ipBlock, port, protocol), the failing requirement and the actual value."""

    direction: Direction
    policy: str
    rule: int
    missing: tuple[Reason, ...]
    peer: int | None = None  # index of the failed `from`/`to` entry, None: the peers matched
    port: int | None = None  # index of the failed `ports` entry, None: the ports matched
    never: str | None = None  # the peer's selectors can never match: relabeling cannot help

    @property
    def side(self) -> str:
        return "egress" if self.direction == "Egress" else "ingress"


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
    warnings: tuple[EngineWarning, ...] = ()
    nearest_miss: NearMiss | None = None  # the nearest of `nearest_misses`
    blocked_by: Reason | None = None  # not policy: e.g. a named port the pod does not have
    nearest_misses: tuple[NearMiss, ...] = ()  # one per denying side, egress first


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
    warnings: tuple[EngineWarning, ...] = field(default=())
    problem: Reason | None = None  # the flow never reaches policy (no backends, no such port)
    # Set when the verdict cannot be known because an end lies outside the loaded
    # namespaces (`-n`): `allowed` is then False but means nothing, and the JSON says
    # `"allowed": null`. The text says what was (and was not) judged.
    unknown: str | None = None

    @property
    def state(self) -> str:
        """ "allowed", "denied" or "unknown": what to show and count."""
        if self.unknown is not None:
            return "unknown"
        return "allowed" if self.allowed else "denied"

    @property
    def all_warnings(self) -> tuple[EngineWarning, ...]:
        """The explanation's warnings, then each verdict's, without repeats, in order."""
        out = list(self.warnings)
        for verdict in self.verdicts:
            out.extend(w for w in verdict.warnings if w not in out)
        return tuple(out)

    @property
    def primary(self) -> Verdict | None:
        """The verdict to show first: the first denied backend, else the first one."""
        for verdict in self.verdicts:
            if not verdict.allowed:
                return verdict
        return self.verdicts[0] if self.verdicts else None


# ---------------------------------------------------------------- the admin tiers
# The trace of the policy tiers on one side of a connection (see triage.policy.tiers): per
# direction Admin (ClusterNetworkPolicy tier Admin, AdminNetworkPolicy) → NetworkPolicy (v1, if
# any selects the pod) → Baseline (ClusterNetworkPolicy tier Baseline,
# BaselineAdminNetworkPolicy) → the default (allowed). Each step says what that tier did, and
# which policy, rule and peer did it.

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
class AdminRuleTrace:
    index: int
    name: str  # the rule's `name`, else "ingress #N" / "egress #N"
    action: str  # Accept, Deny, Pass
    matched: bool
    peer_matched: bool
    port_matched: bool
    peers: tuple[AdminPeerTrace, ...] = ()
    ports: tuple[PortTrace, ...] = ()  # empty: the rule matches every port
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
