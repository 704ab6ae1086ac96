"""The verdict engine: DESIGN.md's NetworkPolicy semantics, each answer with its trace."""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import weakref
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from triage.model import (
    NAMESPACE_NAME_LABEL,
    Direction,
    Flow,
    IPRef,
    LabelSelector,
    NetworkPolicy,
    Peer,
    Pod,
    PodRef,
    PolicyPort,
    Protocol,
    Rule,
    Service,
    ServicePort,
    ServiceRef,
    Snapshot,
)
from triage.policy.selectors import selector_failures, selector_matches, unsatisfiable
from triage.policy.services import (
    NotBackend,
    PortBackends,
    container_port_name,
    find_port,
    port_backends,
)
from triage.policy.trace import (
    Decision,
    Endpoint,
    EngineWarning,
    Explanation,
    NearMiss,
    PeerTrace,
    PolicyTrace,
    PortTrace,
    Reason,
    RuleTrace,
    ServiceResolution,
    SideTrace,
    Term,
    Verdict,
    failure_cost,
)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnknownEndpoint(LookupError):
    """A flow names a pod or Service that the snapshot does not have."""


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


# ---------------------------------------------------------------- per-snapshot index


@dataclass(frozen=True, slots=True)
class _Index:
    # (namespace, direction) → the policies of that namespace isolating for it, by key.
    policies: Mapping[tuple[str, Direction], tuple[NetworkPolicy, ...]]
    service_by_ip: Mapping[str, Service]  # every ClusterIP (both families) → its Service
    host_pods_by_ip: Mapping[str, tuple[str, ...]]  # node address → hostNetwork pods on it


_INDEXES: dict[int, _Index] = {}


def _index(snapshot: Snapshot) -> _Index:
    """Engine-side indexes of a snapshot, built once. Keyed by identity (a Snapshot holds
    dicts, so it cannot be hashed) and dropped when the snapshot is collected."""
    found = _INDEXES.get(id(snapshot))
    if found is not None:
        return found
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
    index = _Index(
        {k: tuple(v) for k, v in grouped.items()},
        by_ip,
        {ip: tuple(sorted(keys)) for ip, keys in host.items()},
    )
    key = id(snapshot)
    _INDEXES[key] = index
    weakref.finalize(snapshot, _INDEXES.pop, key, None)
    return index


def build_index(snapshot: Snapshot) -> None:
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
    _index(snapshot)


def _normal_ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text


@lru_cache(maxsize=65536)
def _network(cidr: str) -> IPNetwork:
    return ipaddress.ip_network(cidr, strict=False)


@lru_cache(maxsize=65536)
def _address(ip: str) -> IPAddress:
    return ipaddress.ip_address(ip)


# ---------------------------------------------------------------- policy selection


def selecting_policies(snapshot: Snapshot, pod: Pod, direction: Direction) -> list[NetworkPolicy]:
    """Policies of the pod's namespace that select it and isolate it for `direction`,
    ordered by name."""
    return [
        pol
        for pol in _index(snapshot).policies.get((pod.namespace, direction), ())
        if selector_matches(pol.pod_selector, pod.labels)
    ]


# ---------------------------------------------------------------- peers


def _ip_reasons(
    ip: str | None, cidr: str, excepts: tuple[str, ...], role: str
) -> tuple[Reason, ...]:
    need = f"{cidr}" + (f" except {', '.join(excepts)}" if excepts else "")
    if ip is None:
        return (
            Reason(
                "no-ip",
                f"{role} has no IP address (of this flow's family), so no ipBlock can match it",
                role,
                term="ip-block",
                requirement=need,
            ),
        )
    address = _address(ip)
    network = _network(cidr)
    if address.version != network.version:
        text = f"{role} IP {ip} is IPv{address.version}, {cidr} is IPv{network.version}"
        return (Reason("ip-outside-cidr", text, role, None, ip, (cidr,), "ip-block", need),)
    if address not in network:
        text = f"{role} IP {ip} is outside {cidr}"
        return (Reason("ip-outside-cidr", text, role, None, ip, (cidr,), "ip-block", need),)
    for exc in excepts:
        if address in _network(exc):
            text = f"{role} IP {ip} is inside {cidr} but in except {exc}"
            return (Reason("ip-in-except", text, role, None, ip, (exc,), "ip-block", need),)
    return ()


def _namespace_reasons(
    snapshot: Snapshot, peer: Peer, other: Pod, policy_ns: str, role: str
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
    labels = snapshot.namespace_labels(other.namespace) or {}
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
        return dataclasses.replace(
            r,
            code="namespace-name-label-missing",
            text=f"{r.text}; Kubernetes sets it from 1.21 on, so this namespace comes from an "
            "older cluster or a hand-made recording",
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
    return dataclasses.replace(r, code="wrong-namespace", text=text, actual=namespace)


def trace_peer(
    snapshot: Snapshot, peer: Peer, index: int, other: Party, policy_ns: str
) -> PeerTrace:
    """Does `other` (the far end of the connection) match this peer of a policy in
    `policy_ns`?"""
    if peer.ip_block is not None:
        block = peer.ip_block
        ip_reasons = _ip_reasons(other.ip, block.cidr, block.excepts, other.role)
        return PeerTrace(index, peer.describe(), not ip_reasons, ip_reasons)
    if other.pod is None:
        text = (
            f"{other.role} {other.ip} is not a pod of this cluster; pod and namespace "
            "selectors only match pods"
        )
        term: Term = "pod-selector" if peer.pod_selector is not None else "namespace-selector"
        reason = Reason("not-a-pod", text, other.role, None, other.ip, (), term, peer.describe())
        return PeerTrace(index, peer.describe(), False, (reason,), _never(peer))
    reasons = list(_namespace_reasons(snapshot, peer, other.pod, policy_ns, other.role))
    if peer.pod_selector is not None:
        reasons.extend(
            selector_failures(peer.pod_selector, other.pod.labels, other.role, "pod-selector")
        )
    never = _never(peer) if reasons else None
    return PeerTrace(index, peer.describe(), not reasons, tuple(reasons), never)


def _never(peer: Peer) -> str | None:
    """Why this peer can select no pod at all, whatever the labels: a selector whose terms
    contradict each other."""
    for what, sel in (
        ("podSelector", peer.pod_selector),
        ("namespaceSelector", peer.namespace_selector),
    ):
        if sel is not None and (why := _unsatisfiable(sel)) is not None:
            return f"{what} {sel.describe()} can never match: {why}"
    return None


@lru_cache(maxsize=4096)
def _unsatisfiable(selector: LabelSelector) -> str | None:
    return unsatisfiable(selector)


# ---------------------------------------------------------------- ports


def _describe_ports(pod: Pod) -> str:
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
                f"its ports: {_describe_ports(destination)}"
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
    snapshot: Snapshot,
    rule: Rule,
    index: int,
    other: Party,
    policy_ns: str,
    port: int | None,
    protocol: Protocol,
    destination: Pod | None,
) -> RuleTrace:
    peers = tuple(trace_peer(snapshot, p, i, other, policy_ns) for i, p in enumerate(rule.peers))
    ports = tuple(trace_port(p, i, port, protocol, destination) for i, p in enumerate(rule.ports))
    peer_ok = not peers or any(p.matched for p in peers)
    port_ok = not ports or any(p.matched for p in ports)
    return RuleTrace(index, peer_ok and port_ok, peer_ok, port_ok, peers, ports)


def trace_side(
    snapshot: Snapshot,
    direction: Direction,
    subject: Party,
    other: Party,
    port: int | None,
    protocol: Protocol,
    destination: Pod | None,
) -> SideTrace:
    verb = "egress" if direction == "Egress" else "ingress"
    if subject.pod is None:
        return SideTrace(
            direction,
            subject.name,
            governed=False,
            isolated=False,
            allowed=True,
            summary=f"{subject.name} is not a pod of this cluster: no NetworkPolicy governs "
            f"its {verb}",
        )
    pod = subject.pod
    policies = selecting_policies(snapshot, pod, direction)
    if not policies:
        return SideTrace(
            direction,
            pod.key,
            governed=True,
            isolated=False,
            allowed=True,
            summary=f"no policy selects {pod.key} for {direction}: it is not isolated for "
            f"{verb}, so all {verb} is allowed",
        )
    traces: list[PolicyTrace] = []
    decision: Decision | None = None
    for pol in policies:
        rules = tuple(
            trace_rule(snapshot, rule, i, other, pol.namespace, port, protocol, destination)
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
            )
        )
    names = ", ".join(_isolating_phrase(p, direction) for p in traces)
    n_rules = sum(len(p.rules) for p in traces)
    target = other.name
    toward = "to" if direction == "Egress" else "from"
    shown_port = port if port is not None else "?"
    if decision is not None:
        summary = (
            f"{pod.key} is isolated for {verb} by {names}; {decision.policy} "
            f"{verb} rule #{decision.rule} allows {protocol} {shown_port} {toward} {target}"
        )
    elif n_rules == 0:
        summary = (
            f"{pod.key} is isolated for {verb} by {names}, which allow no {verb} at all "
            "(default deny)"
        )
    else:
        summary = (
            f"{pod.key} is isolated for {verb} by {names}; none of their {n_rules} "
            f"{verb} rule(s) allows {protocol} {shown_port} {toward} {target}"
        )
    return SideTrace(
        direction,
        pod.key,
        governed=True,
        isolated=True,
        allowed=decision is not None,
        policies=tuple(traces),
        decision=decision,
        summary=summary,
    )


def _isolating_phrase(pol: PolicyTrace, direction: Direction) -> str:
    if pol.pod_selector.startswith("{}"):
        # The trap of allow-dns-egress: an empty podSelector isolates every pod.
        return (
            f"{pol.name} (podSelector {{}} selects every pod of {pol.namespace} for "
            f"{direction}, so it isolates them all)"
        )
    return f"{pol.name} (podSelector {pol.pod_selector})"


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
            missing = rule.failures
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
    out = []
    for order, side in enumerate(sides):
        found = side_nearest_miss(side, order)
        if found is not None:
            out.append(found[1])
    return tuple(out)


def nearest_miss(*sides: SideTrace) -> NearMiss | None:
    """The nearest of the sides' nearest misses (see `side_nearest_miss`)."""
    found = [f for order, side in enumerate(sides) if (f := side_nearest_miss(side, order))]
    return min(found, key=lambda f: f[0])[1] if found else None


# ---------------------------------------------------------------- endpoints


def _suggest(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def _pod_party(snapshot: Snapshot, ref: PodRef, role: str) -> Party:
    pod = snapshot.pod(ref.namespace, ref.name)
    if pod is None:
        if ref.namespace not in snapshot.namespace_by_name:
            names = list(snapshot.namespace_by_name)
            raise UnknownEndpoint(
                f"{role} {ref}: no namespace {ref.namespace}{_suggest(ref.namespace, names)}"
            )
        pods = snapshot.pods_by_namespace.get(ref.namespace, ())
        same_workload = [p.name for p in pods if p.workload == ref.name]
        if same_workload:
            hint = f" (pods of workload {ref.name}: {', '.join(same_workload[:5])})"
        else:
            hint = _suggest(ref.name, [p.name for p in pods])
        raise UnknownEndpoint(f"{role} {ref}: no such pod{hint}")
    return Party(pod, None, role)


def _ip_party(snapshot: Snapshot, ref: IPRef, role: str, warnings: list[EngineWarning]) -> Party:
    """The pod owning the address, else an address outside the pods. A node address that
    hostNetwork pods share is not one pod: it stays an address, and a warning says so."""
    pod = snapshot.pods_by_ip.get(ref.ip)
    if pod is not None and not pod.host_network:
        return Party(pod, ref.ip, role)
    host = _index(snapshot).host_pods_by_ip.get(ref.ip)
    if host:
        warnings.append(
            EngineWarning(
                "node-address",
                f"{role} {ref.ip} is the node address of hostNetwork pod(s) {', '.join(host)}: "
                "treated as an address outside the pods, so pod and namespace selectors do not "
                "match it; most CNIs do not enforce NetworkPolicy on hostNetwork pods",
                ref.ip,
            )
        )
    return Party(None, ref.ip, role)


def _ip_of_family(pod: Pod, version: int | None) -> str | None:
    if not pod.ips:
        return None
    if version is None:
        return pod.ips[0]
    return next((ip for ip in pod.ips if _address(ip).version == version), None)


def _connect(
    source: Party, destination: Party, family: int | None = None
) -> tuple[Party, Party, list[EngineWarning]]:
    """Pick the address each end uses: an IP given by the operator (an end's address, or
    the ClusterIP asked about: `family`) fixes the family; else the destination's primary
    IP does, and the source uses its address of that family."""
    notes: list[EngineWarning] = []
    if family is not None:
        for party in (source, destination):
            if party.ip is not None and _address(party.ip).version != family:
                notes.append(
                    EngineWarning(
                        "address-family-mismatch",
                        f"{party.role} {party.ip} is IPv{_address(party.ip).version} but the "
                        f"connection is IPv{family}: no such connection exists",
                        party.ip,
                    )
                )
    if destination.ip is None and destination.pod is not None:
        version = family
        if version is None and source.ip is not None:
            version = _address(source.ip).version
        ip = _ip_of_family(destination.pod, version)
        if ip is None and destination.pod.ips:
            notes.append(
                EngineWarning(
                    "no-address-of-family",
                    f"destination {destination.pod.key} has no IPv{version} address",
                    destination.pod.key,
                )
            )
        destination = Party(destination.pod, ip, destination.role)
    if source.ip is None and source.pod is not None:
        version = family
        if version is None and destination.ip is not None:
            version = _address(destination.ip).version
        ip = _ip_of_family(source.pod, version)
        if ip is None and source.pod.ips:
            notes.append(
                EngineWarning(
                    "no-address-of-family",
                    f"source {source.pod.key} has no IPv{version} address",
                    source.pod.key,
                )
            )
        source = Party(source.pod, ip, source.role)
    return source, destination, notes


def _warnings(source: Party, destination: Party) -> list[EngineWarning]:
    out: list[EngineWarning] = []
    if source.pod is not None and destination.pod is not None and source.pod == destination.pod:
        out.append(
            EngineWarning(
                "self-traffic",
                f"{source.name} reaches itself: the policies were evaluated like any other "
                "flow, but many CNIs never filter a pod's traffic to itself (it stays on "
                "loopback), and upstream conformance tests leave this case unscored",
                source.name,
            )
        )
    if source.pod is None and destination.pod is None:
        out.append(
            EngineWarning(
                "no-pod-ends",
                "neither end is a pod of this snapshot: no NetworkPolicy applies to this flow",
            )
        )
    for party in (source, destination):
        pod = party.pod
        if pod is None:
            continue
        if pod.host_network:
            out.append(
                EngineWarning(
                    "host-network",
                    f"{party.role} {pod.key} uses hostNetwork: most CNIs do not enforce "
                    "NetworkPolicy on it; this verdict assumes they do",
                    pod.key,
                )
            )
        if pod.phase is not None and pod.phase not in ("Running",):
            out.append(
                EngineWarning(
                    "pod-not-running",
                    f"{party.role} {pod.key} is {pod.phase}, not Running",
                    pod.key,
                )
            )
        if not pod.ips:
            out.append(
                EngineWarning(
                    "pod-no-ip",
                    f"{party.role} {pod.key} has no IP address (not scheduled or starting)",
                    pod.key,
                )
            )
    return out


def _trace_warnings(
    egress: SideTrace,
    ingress: SideTrace,
    destination: Pod | None,
    port_name: str | None,
    protocol: Protocol,
) -> list[EngineWarning]:
    """What the trace itself tells the reader to mistrust: a peer that can never match, a
    port name the destination declares with two numbers."""
    out: list[EngineWarning] = []
    for side in (egress, ingress):
        for pol in side.policies:
            for rule in pol.rules:
                for peer in rule.peers:
                    if peer.never is not None:
                        out.append(
                            EngineWarning(
                                "selector-never-matches",
                                f"{pol.key} {side.direction.lower()} rule #{rule.index} peer "
                                f"#{peer.index}: {peer.never}",
                                pol.key,
                            )
                        )
    if destination is not None and port_name is not None:
        declared = named_port_declarations(destination, port_name, protocol)
        text = ambiguous_name_text(port_name, declared)
        if text is not None:
            out.append(
                EngineWarning("named-port-ambiguous", f"{destination.key}: {text}", destination.key)
            )
    return out


def _verdict(
    snapshot: Snapshot,
    source: Party,
    destination: Party,
    port: int | None,
    port_name: str | None,
    protocol: Protocol,
    extra_warnings: list[EngineWarning],
    blocked_by: Reason | None = None,
    family: int | None = None,
) -> Verdict:
    source, destination, notes = _connect(source, destination, family)
    egress = trace_side(snapshot, "Egress", source, destination, port, protocol, destination.pod)
    ingress = trace_side(snapshot, "Ingress", destination, source, port, protocol, destination.pod)
    allowed = egress.allowed and ingress.allowed and blocked_by is None
    notes.extend(_trace_warnings(egress, ingress, destination.pod, port_name, protocol))
    return Verdict(
        source=source.endpoint(),
        destination=destination.endpoint(),
        port=port,
        port_name=port_name,
        protocol=protocol,
        allowed=allowed,
        egress=egress,
        ingress=ingress,
        warnings=tuple(extra_warnings + notes + _warnings(source, destination)),
        nearest_miss=None if allowed else nearest_miss(egress, ingress),
        blocked_by=blocked_by,
        nearest_misses=() if allowed else nearest_misses(egress, ingress),
    )


def _service_port(service: Service, port: int | str, protocol: Protocol) -> ServicePort | None:
    for sp in service.ports:
        if sp.protocol == protocol and (
            sp.port == port or (sp.name is not None and sp.name == port)
        ):
            return sp
    return None


# Pods the EndpointSlice controller does not list at all (as opposed to listed pods that a
# port does not forward to).
_UNLISTED = ("finished", "no-ip")
_NOT_BACKEND_WHY = {
    "finished": "{phase}",
    "no-ip": "no IP",
    "target-port-unresolved": "no container port named {target}/{protocol}",
    "not-ready": "not ready",
    "terminating": "terminating",
}


def _why_not(nbs: list[NotBackend] | tuple[NotBackend, ...], sp: ServicePort) -> str:
    """ "ns/pod (why), ..." for selected pods that are not backends of `sp`."""
    return ", ".join(
        f"{nb.pod.key} ("
        + _NOT_BACKEND_WHY[nb.code].format(
            target=sp.target_port, protocol=sp.protocol, phase=nb.pod.phase
        )
        + ")"
        for nb in nbs
    )


def _not_backend_warning(res: PortBackends) -> EngineWarning | None:
    """One line naming the listed pods the port does not forward to, and why."""
    excluded = [nb for nb in res.excluded if nb.code not in _UNLISTED]
    if not excluded:
        return None
    sp = res.port
    names = _why_not(excluded, sp)
    return EngineWarning(
        "service-not-backend",
        f"not backends of Service {res.service.key} port {sp.port}/{sp.protocol} (targetPort "
        f"{sp.target_port}), so left out of the verdict: {names}",
        res.service.key,
    )


def _explain_service(
    snapshot: Snapshot,
    flow: Flow,
    source: Party,
    ref: ServiceRef,
    warnings: tuple[EngineWarning, ...] = (),
    family: int | None = None,
) -> Explanation:
    """The flow to each backend pod of the Service port, on its resolved target port, as the
    EndpointSlices have them (triage.policy.services). `family`: the connection's address
    family when the ClusterIP was given (that of the ClusterIP)."""
    service = snapshot.service(ref.namespace, ref.name)
    if service is None:
        names = [s.name for s in snapshot.services if s.namespace == ref.namespace]
        raise UnknownEndpoint(f"destination {ref}: no such Service{_suggest(ref.name, names)}")
    sport = _service_port(service, flow.port, flow.protocol)
    if sport is None:
        exposed = (
            ", ".join(
                f"{p.name + ' ' if p.name else ''}{p.port}/{p.protocol}" for p in service.ports
            )
            or "none"
        )
        problem = Reason(
            "service-port",
            f"Service {service.key} has no port {flow.port}/{flow.protocol} (it exposes: "
            f"{exposed})",
            "destination",
            None,
            str(flow.port),
        )
        return Explanation(flow, False, (), None, warnings, problem)
    res = port_backends(snapshot, service, sport)
    resolution = ServiceResolution(
        service.key,
        sport.port,
        sport.target_port,
        sport.protocol,
        tuple(b.pod.key for b in res.backends),
    )
    if not service.selector:
        problem = Reason(
            "service-no-selector",
            f"Service {service.key} has no selector: its endpoints are managed by hand and "
            "are not in the snapshot",
            "destination",
        )
        return Explanation(flow, False, (), resolution, warnings, problem)
    listed = [nb for nb in res.excluded if nb.code not in _UNLISTED]
    if not res.backends and not listed:
        sel = ",".join(f"{k}={v}" for k, v in sorted(service.selector.items()))
        where = f"namespace {service.namespace}"
        text = f"Service {service.key} selector {sel} matches no pod in {where}"
        if res.excluded:
            idle = _why_not(res.excluded, sport)
            text = (
                f"Service {service.key} selector {sel} matches no running pod with an IP in "
                f"{where}; only pods that are not endpoints: {idle}"
            )
        problem = Reason("service-no-backends", text, "destination")
        return Explanation(flow, False, (), resolution, warnings, problem)
    verdicts = []
    if res.backends:
        line = _not_backend_warning(res)
        if line is not None:
            warnings = (*warnings, line)
        for backend in res.backends:
            dest = Party(backend.pod, None, "destination")
            verdicts.append(
                _verdict(
                    snapshot,
                    source,
                    dest,
                    backend.port,
                    backend.port_name,
                    sport.protocol,
                    [],
                    None,
                    family,
                )
            )
    else:
        # The port forwards nowhere: each pod the controller lists is shown with what
        # keeps it out, and what policy would do if it were a backend.
        for nb in listed:
            pod = nb.pod
            number = find_port(pod, sport.target_port, sport.protocol)
            if nb.code == "target-port-unresolved":
                blocked = Reason(
                    "target-port-unresolved",
                    f"Service {service.key} targetPort {sport.target_port} matches no container "
                    f"port of {pod.key} (its ports: {_describe_ports(pod)}); the Service "
                    "forwards nothing to it",
                    "destination",
                    str(sport.target_port),
                )
            else:
                state = "is not ready" if nb.code == "not-ready" else "is terminating"
                blocked = Reason(
                    f"backend-{nb.code}",
                    f"{pod.key} {state} and Service {service.key} has no ready backend on "
                    f"port {sport.port}/{sport.protocol}: kube-proxy forwards nothing",
                    "destination",
                )
            name = (
                sport.target_port
                if isinstance(sport.target_port, str)
                else container_port_name(pod, sport.target_port, sport.protocol)
            )
            dest = Party(pod, None, "destination")
            verdicts.append(
                _verdict(snapshot, source, dest, number, name, sport.protocol, [], blocked, family)
            )
    idle_pods = [nb for nb in res.excluded if nb.code in _UNLISTED]
    if idle_pods:
        warnings = (
            *warnings,
            EngineWarning(
                "service-idle-pods",
                f"Service {service.key} also selects pods that are not endpoints and get no "
                f"traffic: {_why_not(idle_pods, sport)}",
                service.key,
            ),
        )
    allowed = all(v.allowed for v in verdicts)
    n_ok = sum(v.allowed for v in verdicts)
    if 0 < n_ok < len(verdicts):
        warnings = (
            *warnings,
            EngineWarning(
                "service-partly-reachable",
                f"only {n_ok} of {len(verdicts)} backends of {service.key} are reachable: "
                "the connection works or fails depending on the backend chosen",
                service.key,
            ),
        )
    return Explanation(flow, allowed, tuple(verdicts), resolution, warnings)


def explain(snapshot: Snapshot, flow: Flow) -> Explanation:
    """The verdict for `flow` with its full trace. Raises UnknownEndpoint for names the
    snapshot lacks."""
    if isinstance(flow.source, ServiceRef):
        raise UnknownEndpoint(f"source {flow.source}: a Service cannot be a source; name a pod")
    notes: list[EngineWarning] = []
    source = (
        _pod_party(snapshot, flow.source, "source")
        if isinstance(flow.source, PodRef)
        else _ip_party(snapshot, flow.source, "source", notes)
    )
    if isinstance(flow.destination, ServiceRef):
        return _explain_service(snapshot, flow, source, flow.destination, tuple(notes))
    if isinstance(flow.destination, IPRef):
        service = _index(snapshot).service_by_ip.get(flow.destination.ip)
        if service is not None and flow.destination.ip not in snapshot.pods_by_ip:
            notes.append(
                EngineWarning(
                    "cluster-ip",
                    f"{flow.destination.ip} is the ClusterIP of Service {service.key}: "
                    "policies see the backend pod and its targetPort (after DNAT), so each "
                    "backend is evaluated",
                    service.key,
                )
            )
            ref = ServiceRef(service.namespace, service.name)
            family = _address(flow.destination.ip).version
            return _explain_service(snapshot, flow, source, ref, tuple(notes), family)
    dest = (
        _pod_party(snapshot, flow.destination, "destination")
        if isinstance(flow.destination, PodRef)
        else _ip_party(snapshot, flow.destination, "destination", notes)
    )
    port: int | None
    port_name: str | None = None
    blocked: Reason | None = None
    if isinstance(flow.port, str):
        port_name = flow.port
        port = dest.pod.named_port(flow.port, flow.protocol) if dest.pod else None
        if port is None:
            where = f"{dest.name} has no container port named {flow.port}/{flow.protocol}" + (
                f" (its ports: {_describe_ports(dest.pod)})"
                if dest.pod
                else ", and a name needs a pod to resolve against"
            )
            blocked = Reason("named-port-unresolved", where, "destination", flow.port)
    else:
        port = flow.port
        if dest.pod is not None:
            port_name = container_port_name(dest.pod, port, flow.protocol)
    verdict = _verdict(snapshot, source, dest, port, port_name, flow.protocol, notes, blocked)
    return Explanation(flow, verdict.allowed, (verdict,))


def is_allowed(snapshot: Snapshot, flow: Flow) -> bool:
    return explain(snapshot, flow).allowed


def policies_selecting(snapshot: Snapshot, pod: Pod) -> Mapping[Direction, list[NetworkPolicy]]:
    return {d: selecting_policies(snapshot, pod, d) for d in ("Ingress", "Egress")}
