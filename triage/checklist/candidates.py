"""Flows worth triaging, proposed from a snapshot and an incident.

Kept fast on 10k pods: every search works on one representative pod per workload, and only
where a change can matter (the pods a changed policy selects, pods and namespaces whose
labels changed), with a cap on the number of verdicts computed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from triage.checklist.changes import changes_between, then_snapshot
from triage.checklist.lateral import representatives
from triage.checklist.model import CandidateFlow
from triage.model import Flow, Pod, PodRef, Protocol, ServiceRef, Snapshot
from triage.model.incident import Incident, KnownGood
from triage.policy import (
    is_allowed,
    resolve_named_port,
    selecting_policies,
    selector_matches,
    service_backends,
)

MAX_VERDICTS = 20000
_INGRESS_HINTS = ("ingress", "traefik", "gateway", "istio", "contour", "haproxy", "nginx")


def _ports(pod: Pod) -> list[tuple[int, Protocol]]:
    return sorted({(cp.port, cp.protocol) for cp in pod.ports})


def _as_service_flow(
    snapshot: Snapshot, source: Pod, dest: Pod, port: int, protocol: Protocol
) -> Flow:
    """The flow as the client sees it: to a Service that forwards to `dest` on `port`, if
    one does, else straight to the pod."""
    for service in snapshot.services:
        if service.namespace != dest.namespace or not service.selector:
            continue
        if not all(dest.labels.get(k) == v for k, v in service.selector.items()):
            continue
        for sp in service.ports:
            if sp.protocol != protocol:
                continue
            target = sp.target_port
            number = (
                resolve_named_port(dest, target, protocol) if isinstance(target, str) else target
            )
            if number == port:
                return Flow(
                    PodRef(source.namespace, source.name),
                    ServiceRef(service.namespace, service.name),
                    sp.port,
                    protocol,
                )
    return Flow(
        PodRef(source.namespace, source.name), PodRef(dest.namespace, dest.name), port, protocol
    )


def regressed_flows(
    snapshot: Snapshot, known_good: KnownGood, limit: int = MAX_VERDICTS
) -> list[CandidateFlow]:
    """Flows allowed with the known-good set (and its labels) that are denied now, between
    workload representatives, on the ports the destinations declare."""
    changes = changes_between(snapshot, known_good)
    if not changes:
        return []
    then = then_snapshot(snapshot, known_good)
    changed_policies = [
        pol
        for c in changes
        if c.kind.startswith("policy-")
        for pol in (then.policy_by_key.get(c.key), snapshot.policy_by_key.get(c.key))
        if pol is not None
    ]
    relabelled = {c.key for c in changes if c.kind == "pod-labels"}
    relabelled_ns = {c.key for c in changes if c.kind == "namespace-labels"}
    reps = representatives(snapshot.pods)
    reps = [p for p in reps if not p.host_network]
    then_pods = then.pod_by_key

    def selected(pod: Pod, direction: str) -> bool:
        for pol in changed_policies:
            if pol.namespace != pod.namespace or direction not in pol.policy_types:
                continue
            for labels in (pod.labels, then_pods[pod.key].labels):
                if selector_matches(pol.pod_selector, labels):
                    return True
        return False

    egress_side = [p for p in reps if selected(p, "Egress") or p.key in relabelled]
    ingress_side = [p for p in reps if selected(p, "Ingress") or p.key in relabelled]
    peer_side = [p for p in reps if p.key in relabelled or p.namespace in relabelled_ns]
    pairs: dict[tuple[str, str], tuple[Pod, Pod]] = {}
    for src in egress_side:
        for dst in reps:
            pairs.setdefault((src.key, dst.key), (src, dst))
    for dst in ingress_side:
        for src in reps:
            pairs.setdefault((src.key, dst.key), (src, dst))
    for peer in peer_side:
        for other in reps:
            pairs.setdefault((peer.key, other.key), (peer, other))
            pairs.setdefault((other.key, peer.key), (other, peer))
    found: list[CandidateFlow] = []
    seen: set[Flow] = set()
    budget = limit
    for src, dst in pairs.values():
        if src.key == dst.key:
            continue
        for port, proto in _ports(dst):
            if budget <= 0:
                return found
            budget -= 2
            flow = Flow(
                PodRef(src.namespace, src.name), PodRef(dst.namespace, dst.name), port, proto
            )
            if not is_allowed(then, flow) or is_allowed(snapshot, flow):
                continue
            shown = _as_service_flow(snapshot, src, dst, port, proto)
            if shown in seen:
                continue
            seen.add(shown)
            found.append(
                CandidateFlow(
                    shown,
                    f"allowed with known-good {known_good.name}, denied now "
                    f"({src.namespace}/{src.workload} → {dst.namespace}/{dst.workload} "
                    f"{port}/{proto})",
                    "regressed",
                )
            )
    return found


def _dns_target(snapshot: Snapshot) -> tuple[ServiceRef | PodRef, int] | None:
    service = snapshot.service("kube-system", "kube-dns") or snapshot.service(
        "kube-system", "coredns"
    )
    if service is not None and any(p.protocol == "UDP" for p in service.ports):
        port = next(p.port for p in service.ports if p.protocol == "UDP")
        return ServiceRef(service.namespace, service.name), port
    from triage.checklist.steps import dns_pods

    pods = dns_pods(snapshot)
    if pods:
        return PodRef(pods[0].namespace, pods[0].name), 53
    return None


def dns_blocked(snapshot: Snapshot, reps: Sequence[Pod]) -> list[CandidateFlow]:
    target = _dns_target(snapshot)
    if target is None:
        return []
    dest, port = target
    out = []
    for pod in reps:
        if pod.host_network or not selecting_policies(snapshot, pod, "Egress"):
            continue
        flow = Flow(PodRef(pod.namespace, pod.name), dest, port, "UDP")
        if not is_allowed(snapshot, flow):
            out.append(
                CandidateFlow(
                    flow,
                    f"{pod.namespace}/{pod.workload} is isolated for egress and its policies do "
                    f"not allow DNS (UDP {port} to {dest})",
                    "dns",
                )
            )
    return out


def _admitted_outside(snapshot: Snapshot, backend: Pod, port: int, protocol: Protocol) -> list[Pod]:
    """Pods outside the backend's namespace that its ingress policies admit on this port
    (by selectors, without computing their egress)."""
    out: dict[str, Pod] = {}
    for pol in selecting_policies(snapshot, backend, "Ingress"):
        for rule in pol.ingress:
            if rule.ports and not any(
                _port_admits(pp, backend, port, protocol) for pp in rule.ports
            ):
                continue
            if not rule.peers:
                return [p for p in snapshot.pods if p.namespace != backend.namespace][:50]
            for peer in rule.peers:
                if peer.ip_block is not None:
                    net = peer.ip_block.network
                    for pod in snapshot.pods:
                        if pod.namespace == backend.namespace or not pod.ips:
                            continue
                        if any(_in(ip, net) for ip in pod.ips):
                            out.setdefault(pod.key, pod)
                    continue
                if peer.namespace_selector is None:
                    continue  # pods of the policy's own namespace only
                for ns in snapshot.namespaces:
                    if ns.name == backend.namespace:
                        continue
                    if not selector_matches(peer.namespace_selector, ns.labels):
                        continue
                    for pod in snapshot.pods_by_namespace.get(ns.name, ()):
                        if peer.pod_selector is None or selector_matches(
                            peer.pod_selector, pod.labels
                        ):
                            out.setdefault(pod.key, pod)
    return list(out.values())


def _in(ip: str, net: object) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(ip) in net  # type: ignore[operator]
    except (ValueError, TypeError):
        return False


def _port_admits(pp: object, pod: Pod, port: int, protocol: Protocol) -> bool:
    from triage.model import PolicyPort

    assert isinstance(pp, PolicyPort)
    if pp.protocol != protocol:
        return False
    if pp.port is None:
        return True
    if isinstance(pp.port, str):
        return resolve_named_port(pod, pp.port, protocol) == port
    if pp.end_port is not None:
        return pp.port <= port <= pp.end_port
    return pp.port == port


def _pick_source(snapshot: Snapshot, reps: Sequence[Pod], namespace: str) -> Pod | None:
    outside = [p for p in reps if p.namespace != namespace and not p.host_network]
    if not outside:
        return None
    for pod in outside:
        text = f"{pod.namespace} {pod.workload}".lower()
        if any(h in text for h in _INGRESS_HINTS):
            return pod
    plain = [p for p in outside if p.namespace != "kube-system"]
    return (plain or outside)[0]


def unreachable_services(snapshot: Snapshot, reps: Sequence[Pod]) -> list[CandidateFlow]:
    out = []
    for service in snapshot.services:
        backends = service_backends(snapshot, service)
        if not backends:
            continue
        backend = backends[0]
        if not selecting_policies(snapshot, backend, "Ingress"):
            continue
        for sp in service.ports:
            if sp.protocol == "SCTP":
                continue
            target = sp.target_port
            number = (
                resolve_named_port(backend, target, sp.protocol)
                if isinstance(target, str)
                else target
            )
            if number is None:
                continue
            admitted = _admitted_outside(snapshot, backend, number, sp.protocol)
            ref = ServiceRef(service.namespace, service.name)
            reachable = False
            for pod in representatives(admitted)[:20]:
                flow = Flow(PodRef(pod.namespace, pod.name), ref, sp.port, sp.protocol)
                if is_allowed(snapshot, flow):
                    reachable = True
                    break
            if reachable:
                continue
            admitted_reps = representatives(admitted)
            source = (
                admitted_reps[0]
                if admitted_reps
                else _pick_source(snapshot, reps, service.namespace)
            )
            if source is None:
                continue
            why = (
                "its ingress admits some pods outside, but their egress denies it"
                if admitted
                else f"the ingress policies of {backend.key} admit no pod outside "
                f"{service.namespace} on {number}/{sp.protocol}"
            )
            out.append(
                CandidateFlow(
                    Flow(PodRef(source.namespace, source.name), ref, sp.port, sp.protocol),
                    f"no pod outside {service.namespace} can reach Service {service.key} port "
                    f"{sp.port}/{sp.protocol}: {why}",
                    "unreachable-service",
                )
            )
    return out


def candidate_flows(snapshot: Snapshot, incident: Incident | None = None) -> list[CandidateFlow]:
    """The incident's reported flows; flows allowed in the last known-good set and denied
    now; egress-isolated pods that cannot reach DNS; Services whose backends no pod outside
    their namespace can reach. Sampled per workload, so it stays fast on 10k pods."""
    out: list[CandidateFlow] = []
    seen: set[Flow] = set()

    def add(items: Iterable[CandidateFlow]) -> None:
        for item in items:
            if item.flow not in seen:
                seen.add(item.flow)
                out.append(item)

    if incident is not None:
        add(
            CandidateFlow(r.flow, r.note or "reported by the operator", "reported")
            for r in incident.flows
        )
        if incident.known_good:
            add(regressed_flows(snapshot, incident.known_good[-1]))
    reps = representatives(snapshot.pods)
    add(dns_blocked(snapshot, reps))
    add(unreachable_services(snapshot, reps))
    return out
