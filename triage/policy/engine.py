"""The verdict engine: DESIGN.md's NetworkPolicy semantics, each answer with its trace."""

from __future__ import annotations

import difflib
import ipaddress
import weakref
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from triage.model import (
    NAMESPACE_NAME_LABEL,
    Direction,
    Flow,
    IPRef,
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
from triage.policy.selectors import selector_failures, selector_matches
from triage.policy.tiers import Far, apply_tiers
from triage.policy.trace import (
    Decision,
    Endpoint,
    Explanation,
    NearMiss,
    PeerTrace,
    PolicyTrace,
    PortTrace,
    Reason,
    RuleTrace,
    ServiceResolution,
    SideTrace,
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
    if ip is None:
        return (
            Reason(
                "no-ip",
                f"{role} has no IP address (of this flow's family), so no ipBlock can match it",
                role,
            ),
        )
    address = _address(ip)
    network = _network(cidr)
    if address.version != network.version:
        text = f"{role} IP {ip} is IPv{address.version}, {cidr} is IPv{network.version}"
        return (Reason("ip-outside-cidr", text, role, None, ip, (cidr,)),)
    if address not in network:
        text = f"{role} IP {ip} is outside {cidr}"
        return (Reason("ip-outside-cidr", text, role, None, ip, (cidr,)),)
    for exc in excepts:
        if address in _network(exc):
            text = f"{role} IP {ip} is inside {cidr} but in except {exc}"
            return (Reason("ip-in-except", text, role, None, ip, (exc,)),)
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
        return (Reason("namespace-not-own", text, role, None, other.namespace, (policy_ns,)),)
    labels = snapshot.namespace_labels(other.namespace) or {}
    subject = f"namespace {other.namespace}"
    found = selector_failures(peer.namespace_selector, labels, subject)
    if not found:
        return ()
    out: list[Reason] = []
    for r in found:
        if r.key == NAMESPACE_NAME_LABEL and r.code == "label-missing":
            r = Reason(
                "namespace-name-label-missing",
                f"{r.text}; Kubernetes sets it from 1.21 on, so this namespace comes from an "
                "older cluster or a hand-made recording",
                r.subject,
                r.key,
                r.actual,
                r.expected,
            )
        out.append(r)
    return tuple(out)


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
        return PeerTrace(
            index, peer.describe(), False, (Reason("not-a-pod", text, other.role, None, other.ip),)
        )
    reasons = list(_namespace_reasons(snapshot, peer, other.pod, policy_ns, other.role))
    if peer.pod_selector is not None:
        reasons.extend(selector_failures(peer.pod_selector, other.pod.labels, other.role))
    return PeerTrace(index, peer.describe(), not reasons, tuple(reasons))


# ---------------------------------------------------------------- ports


def _port_name(pod: Pod, number: int | None, protocol: Protocol) -> str | None:
    for container in pod.containers:
        for cp in container.ports:
            if cp.port == number and cp.protocol == protocol:
                return cp.name
    return None


def _describe_ports(pod: Pod) -> str:
    ports = [f"{cp.name + ' ' if cp.name else ''}{cp.port}/{cp.protocol}" for cp in pod.ports]
    return ", ".join(ports) if ports else "none declared"


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
        )
        return PortTrace(index, desc, False, reason)
    if pport.port is None:
        return PortTrace(index, desc, True)
    if port is None:
        reason = Reason("port-unknown", "the destination port is not known", "flow")
        return PortTrace(index, desc, False, reason)
    if isinstance(pport.port, str):
        if destination is None:
            text = (
                f"named port {pport.port} cannot be resolved: the destination is not a pod "
                "of this cluster"
            )
            return PortTrace(
                index, desc, False, Reason("named-port-unresolved", text, "destination", pport.port)
            )
        number = destination.named_port(pport.port, pport.protocol)
        if number is None:
            text = (
                f"destination has no container port named {pport.port} ({pport.protocol}); "
                f"its ports: {_describe_ports(destination)}"
            )
            return PortTrace(
                index, desc, False, Reason("named-port-unresolved", text, "destination", pport.port)
            )
        if number != port:
            text = (
                f"named port {pport.port} is {number}/{pport.protocol} on the destination, "
                f"the flow uses {port}"
            )
            return PortTrace(
                index,
                desc,
                False,
                Reason("port", text, "flow", pport.port, str(port), (str(number),)),
            )
        return PortTrace(index, f"{desc} (= {number})", True)
    if pport.end_port is not None:
        if pport.port <= port <= pport.end_port:
            return PortTrace(index, desc, True)
        text = f"port {port} is outside {pport.port}-{pport.end_port}"
        return PortTrace(
            index,
            desc,
            False,
            Reason(
                "port-range", text, "flow", None, str(port), (f"{pport.port}-{pport.end_port}",)
            ),
        )
    if pport.port == port:
        return PortTrace(index, desc, True)
    text = f"port {port} is not {pport.port}"
    return PortTrace(
        index, desc, False, Reason("port", text, "flow", None, str(port), (str(pport.port),))
    )


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


def nearest_miss(*sides: SideTrace) -> NearMiss | None:
    """The denying rule that came closest to allowing the flow.

    Each rule is scored by what it lacks (`RuleTrace.failures`): the summed cost of the
    failed terms (a wrong label value costs 1; a wrong namespace, a foreign CIDR or a
    protocol costs more, see `failure_cost`), then the number of terms. Ties go to the
    egress side, then to the policy name and rule index, so the answer never depends on
    the order the policies were loaded in."""
    best: tuple[tuple[int, int, int, str, int], NearMiss] | None = None
    for order, side in enumerate(sides):
        if side.allowed:
            continue
        for pol in side.policies:
            for rule in pol.rules:
                missing = rule.failures
                score = (failure_cost(missing), len(missing), order, pol.key, rule.index)
                if best is None or score < best[0]:
                    best = (score, NearMiss(side.direction, pol.key, rule.index, missing))
    return best[1] if best else None


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


def _ip_party(snapshot: Snapshot, ref: IPRef, role: str, warnings: list[str]) -> Party:
    """The pod owning the address, else an address outside the pods. A node address that
    hostNetwork pods share is not one pod: it stays an address, and a warning says so."""
    pod = snapshot.pods_by_ip.get(ref.ip)
    if pod is not None and not pod.host_network:
        return Party(pod, ref.ip, role)
    host = _index(snapshot).host_pods_by_ip.get(ref.ip)
    if host:
        warnings.append(
            f"{role} {ref.ip} is the node address of hostNetwork pod(s) {', '.join(host)}: "
            "treated as an address outside the pods, so pod and namespace selectors do not "
            "match it; most CNIs do not enforce NetworkPolicy on hostNetwork pods"
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
) -> tuple[Party, Party, list[str]]:
    """Pick the address each end uses: an IP given by the operator (an end's address, or
    the ClusterIP asked about: `family`) fixes the family; else the destination's primary
    IP does, and the source uses its address of that family."""
    notes: list[str] = []
    if family is not None:
        for party in (source, destination):
            if party.ip is not None and _address(party.ip).version != family:
                notes.append(
                    f"{party.role} {party.ip} is IPv{_address(party.ip).version} but the "
                    f"connection is IPv{family}: no such connection exists"
                )
    if destination.ip is None and destination.pod is not None:
        version = family
        if version is None and source.ip is not None:
            version = _address(source.ip).version
        ip = _ip_of_family(destination.pod, version)
        if ip is None and destination.pod.ips:
            notes.append(f"destination {destination.pod.key} has no IPv{version} address")
        destination = Party(destination.pod, ip, destination.role)
    if source.ip is None and source.pod is not None:
        version = family
        if version is None and destination.ip is not None:
            version = _address(destination.ip).version
        ip = _ip_of_family(source.pod, version)
        if ip is None and source.pod.ips:
            notes.append(f"source {source.pod.key} has no IPv{version} address")
        source = Party(source.pod, ip, source.role)
    return source, destination, notes


def _warnings(source: Party, destination: Party) -> list[str]:
    out: list[str] = []
    if source.pod is not None and destination.pod is not None and source.pod == destination.pod:
        out.append(
            f"{source.name} reaches itself: the policies were evaluated like any other flow, "
            "but many CNIs never filter a pod's traffic to itself (it stays on loopback), "
            "and upstream conformance tests leave this case unscored"
        )
    if source.pod is None and destination.pod is None:
        out.append("neither end is a pod of this snapshot: no NetworkPolicy applies to this flow")
    for party in (source, destination):
        pod = party.pod
        if pod is None:
            continue
        if pod.host_network:
            out.append(
                f"{party.role} {pod.key} uses hostNetwork: most CNIs do not enforce "
                "NetworkPolicy on it; this verdict assumes they do"
            )
        if pod.phase is not None and pod.phase not in ("Running",):
            out.append(f"{party.role} {pod.key} is {pod.phase}, not Running")
        if not pod.ips:
            out.append(f"{party.role} {pod.key} has no IP address (not scheduled or starting)")
    return out


def _verdict(
    snapshot: Snapshot,
    source: Party,
    destination: Party,
    port: int | None,
    port_name: str | None,
    protocol: Protocol,
    extra_warnings: list[str],
    blocked_by: Reason | None = None,
    family: int | None = None,
) -> Verdict:
    source, destination, notes = _connect(source, destination, family)
    egress = trace_side(snapshot, "Egress", source, destination, port, protocol, destination.pod)
    ingress = trace_side(snapshot, "Ingress", destination, source, port, protocol, destination.pod)
    # The admin tiers (ClusterNetworkPolicy, ANP, BANP) around the NetworkPolicy decision.
    egress, ingress, tier_notes = apply_tiers(
        snapshot,
        egress,
        ingress,
        Far(source.pod, source.ip, source.role),
        Far(destination.pod, destination.ip, destination.role),
        port,
        protocol,
    )
    allowed = egress.allowed and ingress.allowed and blocked_by is None
    return Verdict(
        source=source.endpoint(),
        destination=destination.endpoint(),
        port=port,
        port_name=port_name,
        protocol=protocol,
        allowed=allowed,
        egress=egress,
        ingress=ingress,
        warnings=tuple(extra_warnings + notes + tier_notes + _warnings(source, destination)),
        nearest_miss=None if allowed else nearest_miss(egress, ingress),
        blocked_by=blocked_by,
    )


def _service_port(service: Service, port: int | str, protocol: Protocol) -> ServicePort | None:
    for sp in service.ports:
        if sp.protocol == protocol and (
            sp.port == port or (sp.name is not None and sp.name == port)
        ):
            return sp
    return None


def service_selected_pods(snapshot: Snapshot, service: Service) -> tuple[Pod, ...]:
    """Every pod of the Service's namespace its selector matches, endpoint or not."""
    if not service.selector:
        return ()
    selector = service.selector
    return tuple(
        pod
        for pod in snapshot.pods_by_namespace.get(service.namespace, ())
        if all(pod.labels.get(k) == v for k, v in selector.items())
    )


def not_an_endpoint(pod: Pod) -> str | None:
    """Why a selected pod receives no Service traffic, or None when it is an endpoint:
    a finished pod, or one without an IP yet, is not in the EndpointSlices."""
    if pod.phase in ("Succeeded", "Failed"):
        return pod.phase
    if not pod.ips:
        return "no IP"
    return None


def service_backends(snapshot: Snapshot, service: Service) -> tuple[Pod, ...]:
    """The pods the Service forwards to: selected, with an IP, not finished."""
    return tuple(p for p in service_selected_pods(snapshot, service) if not_an_endpoint(p) is None)


def _explain_service(
    snapshot: Snapshot,
    flow: Flow,
    source: Party,
    ref: ServiceRef,
    warnings: tuple[str, ...] = (),
    family: int | None = None,
) -> Explanation:
    """The flow to each backend pod of the Service, on the target port. `family`: the
    connection's address family when the ClusterIP was given (that of the ClusterIP)."""
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
    backends = service_backends(snapshot, service)
    resolution = ServiceResolution(
        service.key, sport.port, sport.target_port, sport.protocol, tuple(p.key for p in backends)
    )
    if not service.selector:
        problem = Reason(
            "service-no-selector",
            f"Service {service.key} has no selector: its endpoints are managed by hand and "
            "are not in the snapshot",
            "destination",
        )
        return Explanation(flow, False, (), resolution, warnings, problem)
    idle = [
        f"{pod.key} ({why})"
        for pod in service_selected_pods(snapshot, service)
        if (why := not_an_endpoint(pod)) is not None
    ]
    if not backends:
        sel = ",".join(f"{k}={v}" for k, v in sorted(service.selector.items()))
        where = f"namespace {service.namespace}"
        text = f"Service {service.key} selector {sel} matches no pod in {where}"
        if idle:
            text = (
                f"Service {service.key} selector {sel} matches no running pod with an IP in "
                f"{where}; only pods that are not endpoints: "
                f"{', '.join(idle)}"
            )
        problem = Reason("service-no-backends", text, "destination")
        return Explanation(flow, False, (), resolution, warnings, problem)
    if idle:
        warnings = (
            *warnings,
            f"Service {service.key} also selects pods that are not endpoints and get no "
            f"traffic: {', '.join(idle)}",
        )
    verdicts = []
    for pod in backends:
        dest = Party(pod, None, "destination")
        target = sport.target_port
        blocked: Reason | None = None
        number: int | None
        port_name: str | None
        if isinstance(target, str):
            number = pod.named_port(target, sport.protocol)
            if number is None:
                blocked = Reason(
                    "target-port-unresolved",
                    f"Service {service.key} targetPort {target} matches no container port of "
                    f"{pod.key} (its ports: {_describe_ports(pod)}); the Service forwards "
                    "nothing to it",
                    "destination",
                    target,
                )
            port_name = target
        else:
            number = target
            port_name = _port_name(pod, number, sport.protocol)
        verdicts.append(
            _verdict(snapshot, source, dest, number, port_name, sport.protocol, [], blocked, family)
        )
    allowed = all(v.allowed for v in verdicts)
    n_ok = sum(v.allowed for v in verdicts)
    if 0 < n_ok < len(verdicts):
        warnings = (
            *warnings,
            f"only {n_ok} of {len(verdicts)} backends of {service.key} are reachable: "
            "the connection works or fails depending on the backend chosen",
        )
    return Explanation(flow, allowed, tuple(verdicts), resolution, warnings)


def explain(snapshot: Snapshot, flow: Flow) -> Explanation:
    """The verdict for `flow` with its full trace. Raises UnknownEndpoint for names the
    snapshot lacks."""
    if isinstance(flow.source, ServiceRef):
        raise UnknownEndpoint(f"source {flow.source}: a Service cannot be a source; name a pod")
    notes: list[str] = []
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
                f"{flow.destination.ip} is the ClusterIP of Service {service.key}: policies "
                "see the backend pod and its targetPort (after DNAT), so each backend is "
                "evaluated"
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
            port_name = _port_name(dest.pod, port, flow.protocol)
    verdict = _verdict(snapshot, source, dest, port, port_name, flow.protocol, notes, blocked)
    return Explanation(flow, verdict.allowed, (verdict,))


def is_allowed(snapshot: Snapshot, flow: Flow) -> bool:
    return explain(snapshot, flow).allowed


def policies_selecting(snapshot: Snapshot, pod: Pod) -> Mapping[Direction, list[NetworkPolicy]]:
    return {d: selecting_policies(snapshot, pod, d) for d in ("Ingress", "Egress")}
