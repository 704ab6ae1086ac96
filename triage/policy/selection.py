"""Selection and trace: which policies isolate a pod for a direction, and for one
connection, which rule of which policy admits it, or what each rule lacks (the nearest miss
per side). The semantics are networking.k8s.io/v1 NetworkPolicy's, as docs/architecture.md
sets them out; everything returned is structure (triage.policy.trace), never prose."""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from triage.model import (
    NAMESPACE_NAME_LABEL,
    Direction,
    Namespace,
    NetworkPolicy,
    Peer,
    Pod,
    PolicyPort,
    Protocol,
    Rule,
    Service,
    Snapshot,
)
from triage.policy.selectors import selector_failures, selector_matches, unsatisfiable
from triage.policy.tiers import TierIndex, tier_index
from triage.policy.trace import (
    Decision,
    Endpoint,
    NearMiss,
    PeerTrace,
    PolicyTrace,
    PortTrace,
    Reason,
    RuleTrace,
    SideTrace,
    Term,
    failure_cost,
)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class Party:
    """One end of a connection: a pod of the snapshot, or an IP outside it.

    `ip` is the address this end uses for *this* connection (one address family per
    connection), which is what an ipBlock is checked against."""

    pod: Pod | None
    ip: str | None
    role: str  # "source" or "destination": how reasons name it

    @property
    def name(self) -> str:
        if self.pod is not None:
            return self.pod.key
        return self.ip or "?"

    def endpoint(self) -> Endpoint:
        if self.pod is not None:
            return Endpoint("pod", self.pod.key, self.ip, self.pod.namespace)
        return Endpoint("external", self.ip or "?", self.ip)


# ---------------------------------------------------------------- compiled policies


@dataclass(frozen=True, slots=True)
class CompiledPolicies:
    """What the engine derives from one snapshot before answering questions about it: the
    isolating policies per (namespace, direction) ordered by key, every ClusterIP, the node
    addresses of hostNetwork pods, and the snapshot's own indexes a trace reads. Built once
    per snapshot (`compiled`), never changed. It holds no reference to the snapshot (which
    holds it), so dropping a snapshot frees both without the cycle collector."""

    policies: Mapping[tuple[str, Direction], tuple[NetworkPolicy, ...]]
    service_by_ip: Mapping[str, Service]  # every ClusterIP (both families) → its Service
    host_pods_by_ip: Mapping[str, tuple[str, ...]]  # node address → hostNetwork pods on it
    namespaces: Mapping[str, Namespace]  # the snapshot's namespace_by_name
    pods_by_ip: Mapping[str, Pod]  # the snapshot's pods_by_ip
    # Peers whose selectors can never match (by id of the Peer, which these policies hold
    # for as long as this object lives) → why. Almost always empty.
    never: Mapping[int, str]
    # The admin tiers (ClusterNetworkPolicy, ANP, BANP) compiled for `tiers.apply_tiers`;
    # None when the snapshot has none.
    tiers: TierIndex | None = None


def compile_policies(snapshot: Snapshot) -> CompiledPolicies:
    """Build the compiled form of `snapshot` (use `compiled` to build it once)."""
    grouped: dict[tuple[str, Direction], list[NetworkPolicy]] = defaultdict(list)
    # Sorted by key so that traces, decisions and nearest misses never depend on the
    # order the policies were loaded in (policies are a union; order is irrelevant).
    for pol in sorted(snapshot.policies, key=lambda p: (p.namespace, p.name)):
        for direction in pol.policy_types:
            grouped[(pol.namespace, direction)].append(pol)
    by_ip: dict[str, Service] = {}
    for svc in snapshot.services:
        for ip in svc.all_cluster_ips:
            by_ip.setdefault(_normal_ip(ip), svc)
    host: dict[str, list[str]] = defaultdict(list)
    for pod in snapshot.pods:
        if pod.host_network:
            for ip in pod.ips:
                host[ip].append(pod.key)
    return CompiledPolicies(
        # Plain dicts typed as Mapping (read-only by contract): a mappingproxy would cost an
        # indirection on every lookup of the hot path.
        {k: tuple(v) for k, v in grouped.items()},
        by_ip,
        {ip: tuple(sorted(keys)) for ip, keys in host.items()},
        snapshot.namespace_by_name,  # never changed, like the snapshot
        snapshot.pods_by_ip,
        _never_matching(snapshot.policies),
        tier_index(snapshot),
    )


def _never_matching(policies: tuple[NetworkPolicy, ...]) -> dict[int, str]:
    out: dict[int, str] = {}
    for pol in policies:
        for rule in (*pol.ingress, *pol.egress):
            for peer in rule.peers:
                why = _never(peer)
                if why is not None:
                    out[id(peer)] = why
    return out


def compiled(snapshot: Snapshot) -> CompiledPolicies:
    """The compiled form of `snapshot`, built on first use and held by the snapshot."""
    return snapshot.derived(compile_policies)


def build_index(snapshot: Snapshot) -> CompiledPolicies:
    """Build every index explain() needs now rather than on the first question."""
    for name in (
        "namespace_by_name",
        "pod_by_key",
        "pods_by_namespace",
        "pods_by_ip",
        "policies_by_namespace",
        "service_by_key",
    ):
        getattr(snapshot, name)
    return compiled(snapshot)


def _normal_ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text


@lru_cache(maxsize=65536)
def _network(cidr: str) -> IPNetwork:
    return ipaddress.ip_network(cidr, strict=False)


@lru_cache(maxsize=65536)
def parsed_ip(ip: str) -> IPAddress:
    return ipaddress.ip_address(ip)


# ---------------------------------------------------------------- policy selection


def selecting(compiled: CompiledPolicies, pod: Pod, direction: Direction) -> list[NetworkPolicy]:
    """Policies of the pod's namespace that select it and isolate it for `direction`,
    ordered by key."""
    return [
        pol
        for pol in compiled.policies.get((pod.namespace, direction), ())
        if selector_matches(pol.pod_selector, pod.labels)
    ]


def selecting_policies(snapshot: Snapshot, pod: Pod, direction: Direction) -> list[NetworkPolicy]:
    """`selecting` on the snapshot's compiled form."""
    return selecting(compiled(snapshot), pod, direction)


def policies_selecting(snapshot: Snapshot, pod: Pod) -> Mapping[Direction, list[NetworkPolicy]]:
    return {d: selecting_policies(snapshot, pod, d) for d in ("Ingress", "Egress")}


# ---------------------------------------------------------------- peers


def _block_text(cidr: str, excepts: tuple[str, ...]) -> str:
    return cidr + (f" except {', '.join(excepts)}" if excepts else "")


def _ip_reasons(
    ip: str | None, cidr: str, excepts: tuple[str, ...], role: str
) -> tuple[Reason, ...]:
    if ip is None:
        return (
            Reason(
                "no-ip",
                f"{role} has no IP address (of this flow's family), so no ipBlock can match it",
                role,
                term="ip-block",
                requirement=_block_text(cidr, excepts),
            ),
        )
    address = parsed_ip(ip)
    network = _network(cidr)
    if address.version != network.version or address not in network:
        if address.version != network.version:
            text = f"{role} IP {ip} is IPv{address.version}, {cidr} is IPv{network.version}"
        else:
            text = f"{role} IP {ip} is outside {cidr}"
        need = _block_text(cidr, excepts)
        return (Reason("ip-outside-cidr", text, role, None, ip, (cidr,), "ip-block", need),)
    for exc in excepts:
        if address in _network(exc):
            text = f"{role} IP {ip} is inside {cidr} but in except {exc}"
            return (
                Reason(
                    "ip-in-except",
                    text,
                    role,
                    None,
                    ip,
                    (exc,),
                    "ip-block",
                    _block_text(cidr, excepts),
                ),
            )
    return ()


def _namespace_reasons(
    compiled: CompiledPolicies, peer: Peer, other: Pod, policy_ns: str, role: str
) -> tuple[Reason, ...]:
    if peer.namespace_selector is None:
        if other.namespace == policy_ns:
            return ()
        text = (
            f"{role} is in namespace {other.namespace}; a podSelector without "
            f"namespaceSelector only selects pods of namespace {policy_ns}"
        )
        return (
            Reason(
                "namespace-not-own",
                text,
                role,
                None,
                other.namespace,
                (policy_ns,),
                "namespace-selector",
                f"namespace {policy_ns} (no namespaceSelector)",
            ),
        )
    ns = compiled.namespaces.get(other.namespace)
    labels = ns.labels if ns is not None else {}
    subject = f"namespace {other.namespace}"
    found = selector_failures(peer.namespace_selector, labels, subject, "namespace-selector")
    if not found:
        return ()
    return tuple(_namespace_name_reason(r, role, other.namespace) for r in found)


def _namespace_name_reason(r: Reason, role: str, namespace: str) -> Reason:
    """A miss on `kubernetes.io/metadata.name` is a wrong namespace, not a label to change:
    the apiserver sets it to the namespace's name and nobody can relabel it."""
    if r.key != NAMESPACE_NAME_LABEL:
        return r
    if r.code == "label-missing":
        text = (
            f"{r.text}; Kubernetes sets it from 1.21 on, so this namespace comes from an "
            "older cluster or a hand-made recording"
        )
        return Reason(
            "namespace-name-label-missing",
            text,
            r.subject,
            r.key,
            r.actual,
            r.expected,
            r.term,
            r.requirement,
        )
    if r.code in ("label-value", "value-not-in"):
        admits = ", ".join(r.expected)
        text = (
            f"wrong namespace: {role} is in namespace {namespace}, the rule admits namespace "
            f"{admits} only ({r.requirement}; the apiserver sets this label to the name)"
        )
    elif r.code == "value-in":
        text = (
            f"wrong namespace: {role} is in namespace {namespace}, which the rule excludes "
            f"({r.requirement})"
        )
    else:  # label-present: DoesNotExist on a label every namespace has
        text = (
            f"wrong namespace: the rule requires {NAMESPACE_NAME_LABEL} to be absent, and "
            "every namespace of a 1.21+ cluster has it"
        )
    # Built, not dataclasses.replace(): this is on the hot path of every cross-namespace miss.
    return Reason(
        "wrong-namespace", text, r.subject, r.key, namespace, r.expected, r.term, r.requirement
    )


def trace_peer(
    compiled: CompiledPolicies, peer: Peer, index: int, other: Party, policy_ns: str
) -> PeerTrace:
    """Does `other` (the far end of the connection) match this peer of a policy in
    `policy_ns`?"""
    if peer.ip_block is not None:
        block = peer.ip_block
        ip_reasons = _ip_reasons(other.ip, block.cidr, block.excepts, other.role)
        return PeerTrace(index, peer.describe(), not ip_reasons, ip_reasons, ip_block=True)
    shape = (peer.pod_selector is not None, peer.namespace_selector is not None, False)
    if other.pod is None:
        text = (
            f"{other.role} {other.ip} is not a pod of this cluster; pod and namespace "
            "selectors only match pods"
        )
        term: Term = "pod-selector" if peer.pod_selector is not None else "namespace-selector"
        reason = Reason("not-a-pod", text, other.role, None, other.ip, (), term, peer.describe())
        never = compiled.never.get(id(peer)) if compiled.never else None
        return PeerTrace(index, peer.describe(), False, (reason,), never, *shape)
    reasons = list(_namespace_reasons(compiled, peer, other.pod, policy_ns, other.role))
    if peer.pod_selector is not None:
        reasons.extend(
            selector_failures(peer.pod_selector, other.pod.labels, other.role, "pod-selector")
        )
    never = compiled.never.get(id(peer)) if reasons and compiled.never else None
    return PeerTrace(index, peer.describe(), not reasons, tuple(reasons), never, *shape)


def _never(peer: Peer) -> str | None:
    """Why this peer can select no pod at all, whatever the labels: a selector whose terms
    contradict each other."""
    for what, sel in (
        ("podSelector", peer.pod_selector),
        ("namespaceSelector", peer.namespace_selector),
    ):
        if sel is not None and (why := unsatisfiable(sel)) is not None:
            return f"{what} {sel.describe()} can never match: {why}"
    return None


# ---------------------------------------------------------------- ports


def describe_ports(pod: Pod) -> str:
    ports = [f"{cp.name + ' ' if cp.name else ''}{cp.port}/{cp.protocol}" for cp in pod.ports]
    return ", ".join(ports) if ports else "none declared"


def named_port_declarations(pod: Pod, name: str, protocol: Protocol) -> tuple[tuple[str, int], ...]:
    """(container, number) for every container port of `pod` with this name and protocol,
    in order: FindPort takes the first."""
    return tuple(
        (c.name, cp.port)
        for c in pod.containers
        for cp in c.ports
        if cp.name == name and cp.protocol == protocol
    )


def ambiguous_name_text(name: str, declared: tuple[tuple[str, int], ...]) -> str | None:
    """ "http is 81 in container a and 443 in container b; the first wins", or None when
    the name has one number."""
    if len({number for _, number in declared}) < 2:
        return None
    where = " and ".join(f"{number} in container {c}" for c, number in declared)
    return f"{name} is {where}; the first wins"


def trace_port(
    pport: PolicyPort, index: int, port: int | None, protocol: Protocol, destination: Pod | None
) -> PortTrace:
    """Does the flow's (destination pod) port match this `ports` entry? Named ports are
    resolved on the destination pod, for ingress and egress rules alike."""
    desc = pport.describe()
    if pport.protocol != protocol:
        reason = Reason(
            "protocol",
            f"rule allows {pport.protocol}, flow is {protocol}",
            "flow",
            None,
            protocol,
            (pport.protocol,),
            "protocol",
            pport.protocol,
        )
        return PortTrace(index, desc, False, reason)
    if pport.port is None:
        return PortTrace(index, desc, True)
    if port is None:
        reason = Reason("port-unknown", "the destination port is not known", "flow", term="port")
        return PortTrace(index, desc, False, reason)
    need = desc
    if isinstance(pport.port, str):
        if destination is None:
            text = (
                f"named port {pport.port} cannot be resolved: the destination is not a pod "
                "of this cluster"
            )
            reason = Reason(
                "named-port-unresolved", text, "destination", pport.port, None, (), "port", need
            )
            return PortTrace(index, desc, False, reason)
        number = destination.named_port(pport.port, pport.protocol)
        if number is None:
            text = (
                f"destination has no container port named {pport.port} ({pport.protocol}); "
                f"its ports: {describe_ports(destination)}"
            )
            reason = Reason(
                "named-port-unresolved", text, "destination", pport.port, None, (), "port", need
            )
            return PortTrace(index, desc, False, reason)
        if number != port:
            declared = named_port_declarations(destination, pport.port, pport.protocol)
            ambiguous = ambiguous_name_text(pport.port, declared)
            if ambiguous is not None and any(n == port for _, n in declared):
                # The flow's port carries the name too, in a later container: the name
                # resolves to the first, which is why this rule does not admit it.
                code, text = "named-port-ambiguous", ambiguous
            else:
                code = "port"
                text = (
                    f"named port {pport.port} is {number}/{pport.protocol} on the "
                    f"destination, the flow uses {port}"
                )
            reason = Reason(code, text, "flow", pport.port, str(port), (str(number),), "port", need)
            return PortTrace(index, desc, False, reason)
        return PortTrace(index, f"{desc} (= {number})", True)
    if pport.end_port is not None:
        if pport.port <= port <= pport.end_port:
            return PortTrace(index, desc, True)
        text = f"port {port} is outside {pport.port}-{pport.end_port}"
        span = f"{pport.port}-{pport.end_port}"
        reason = Reason("port-range", text, "flow", None, str(port), (span,), "port", need)
        return PortTrace(index, desc, False, reason)
    if pport.port == port:
        return PortTrace(index, desc, True)
    text = f"port {port} is not {pport.port}"
    reason = Reason("port", text, "flow", None, str(port), (str(pport.port),), "port", need)
    return PortTrace(index, desc, False, reason)


# ---------------------------------------------------------------- rules and sides


def trace_rule(
    compiled: CompiledPolicies,
    rule: Rule,
    index: int,
    other: Party,
    policy_ns: str,
    port: int | None,
    protocol: Protocol,
    destination: Pod | None,
) -> RuleTrace:
    peers = tuple(trace_peer(compiled, p, i, other, policy_ns) for i, p in enumerate(rule.peers))
    ports = tuple(trace_port(p, i, port, protocol, destination) for i, p in enumerate(rule.ports))
    peer_ok = not peers or any(p.matched for p in peers)
    port_ok = not ports or any(p.matched for p in ports)
    return RuleTrace(index, peer_ok and port_ok, peer_ok, port_ok, peers, ports)


def trace_side(
    compiled: CompiledPolicies,
    direction: Direction,
    subject: Party,
    other: Party,
    port: int | None,
    protocol: Protocol,
    destination: Pod | None,
) -> SideTrace:
    """The per-direction decision, in one place: is `subject` isolated for `direction`
    (some policy of its namespace selects it with that policy type), and which policy and
    rule admit the connection with `other` on `port`/`protocol` (the first by policy key
    and rule index; policies are a union, so any one admits). Returns the whole trace;
    `SideTrace.allowed` is the answer. A subject that is not a pod is not governed."""
    if subject.pod is None:
        return SideTrace(
            direction, subject.name, False, False, True, (), None, other.name, port, protocol
        )
    pod = subject.pod
    policies = selecting(compiled, pod, direction)
    if not policies:
        return SideTrace(
            direction, pod.key, True, False, True, (), None, other.name, port, protocol
        )
    traces: list[PolicyTrace] = []
    decision: Decision | None = None
    for pol in policies:
        rules = tuple(
            trace_rule(compiled, rule, i, other, pol.namespace, port, protocol, destination)
            for i, rule in enumerate(pol.rules(direction))
        )
        allowed = any(r.allowed for r in rules)
        if allowed and decision is None:
            decision = Decision(pol.key, next(r.index for r in rules if r.allowed))
        traces.append(
            PolicyTrace(
                pol.namespace,
                pol.name,
                pol.pod_selector.describe(),
                pol.policy_types,
                allowed,
                rules,
                pol.pod_selector.is_empty,
            )
        )
    return SideTrace(
        direction,
        pod.key,
        governed=True,
        isolated=True,
        allowed=decision is not None,
        policies=tuple(traces),
        decision=decision,
        other=other.name,
        port=port,
        protocol=protocol,
    )


def side_nearest_miss(side: SideTrace, order: int = 0) -> tuple[tuple[Any, ...], NearMiss] | None:
    """The rule of a denying side that came closest to allowing the flow, with its score.

    Each rule is scored by what it lacks (`RuleTrace.closest`): a peer that can never match
    last, then the summed cost of the failed terms (a wrong label value costs 1; a wrong
    namespace, a foreign CIDR or a protocol costs more, see `failure_cost`), then the number
    of terms. Ties go to `order` (the side), then the policy name and rule index, so the
    answer never depends on the order the policies were loaded in."""
    if side.allowed:
        return None
    best: tuple[tuple[Any, ...], NearMiss] | None = None
    for pol in side.policies:
        for rule in pol.rules:
            peer, port = rule.closest()
            missing = peer.reasons if peer is not None else ()
            if port is not None and port.reason is not None:
                missing = (*missing, port.reason)
            never = peer.never if peer is not None else None
            score: tuple[Any, ...] = (never is not None, failure_cost(missing), len(missing))
            score += (order, pol.key, rule.index)
            if best is None or score < best[0]:
                miss = NearMiss(
                    side.direction,
                    pol.key,
                    rule.index,
                    missing,
                    peer.index if peer is not None else None,
                    port.index if port is not None else None,
                    never,
                )
                best = (score, miss)
    return best


def nearest_misses(*sides: SideTrace) -> tuple[NearMiss, ...]:
    """One nearest miss per denying side, in the order given (egress first)."""
    return tuple(m for _, m in _scored_misses(sides))


def nearest_miss(*sides: SideTrace) -> NearMiss | None:
    """The nearest of the sides' nearest misses (see `side_nearest_miss`)."""
    return nearest_of(_scored_misses(sides))


def _scored_misses(sides: tuple[SideTrace, ...]) -> list[tuple[tuple[Any, ...], NearMiss]]:
    return [f for order, side in enumerate(sides) if (f := side_nearest_miss(side, order))]


def nearest_of(scored: list[tuple[tuple[Any, ...], NearMiss]]) -> NearMiss | None:
    return min(scored, key=lambda f: f[0])[1] if scored else None


def misses_of(*sides: SideTrace) -> tuple[NearMiss | None, tuple[NearMiss, ...]]:
    """(the nearest miss, one per denying side): both answers from one scoring."""
    scored = _scored_misses(sides)
    return nearest_of(scored), tuple(m for _, m in scored)
