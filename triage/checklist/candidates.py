"""Flows worth triaging, proposed from a snapshot and an incident.

Kept fast on 10k pods by working on the workload reachability matrix
(`triage.policy.matrix.compute_matrix`, computed over pod equivalence classes) instead of
pod pairs: regressions are the cells that lost ports between the known-good matrix and
today's; DNS and Service reachability read one column each. Each proposal is then made
concrete with one representative pod per workload and re-checked with the engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from triage.checklist.changes import changes_between, then_snapshot
from triage.checklist.model import CandidateFlow
from triage.model import Flow, LabelSelector, Pod, PodRef, Protocol, ServiceRef, Snapshot
from triage.model.incident import Incident, KnownGood
from triage.model.objects import Rule
from triage.policy import is_allowed, selecting_policies, service_backends
from triage.policy.dns import DnsTarget, dns_target
from triage.policy.matrix import Matrix, Workload, compute_matrix
from triage.policy.portset import NO_PORTS, PortSet
from triage.policy.selectors import selector_matches
from triage.policy.services import forwarding_to, port_backends

MAX_PER_SOURCE = 10  # regressed flows listed per source workload: the rest are alike
_INGRESS_HINTS = ("ingress", "traefik", "gateway", "istio", "contour", "haproxy", "nginx")


def _service_flow(
    snapshot: Snapshot, source: Pod, dest: Pod, port: int, protocol: Protocol
) -> Flow:
    """The flow as a client sees it: to a Service that forwards to `dest` on `port`, if one
    does, else straight to the pod."""
    for service, sp, number in forwarding_to(snapshot, dest):
        if sp.protocol == protocol and number == port:
            return Flow(
                PodRef(source.namespace, source.name),
                ServiceRef(service.namespace, service.name),
                sp.port,
                protocol,
            )
    return Flow(
        PodRef(source.namespace, source.name), PodRef(dest.namespace, dest.name), port, protocol
    )


def _lost_ports(dest: Workload, lost: PortSet) -> list[tuple[int, Protocol]]:
    """Concrete ports of a lost port set: those the destination's pods declare."""
    declared = sorted({(cp.port, cp.protocol) for pod in dest.pods for cp in pod.ports})
    return [(port, proto) for port, proto in declared if (proto, port) in lost]


def _cell_ports(matrix: Matrix, i: int | None, j: int | None) -> tuple[PortSet, PortSet]:
    if i is None or j is None:
        return NO_PORTS, NO_PORTS
    cell = matrix.cell(i, j)
    return (cell.ports, cell.common) if cell is not None else (NO_PORTS, NO_PORTS)


def _regressed_pair(
    then: Snapshot, now: Snapshot, src: Workload, dst: Workload, port: int, proto: Protocol
) -> tuple[Pod, Pod] | None:
    """A pod pair of the two workloads for which the port was allowed then, denied now."""
    tried = 0
    for s in src.pods:
        for d in dst.pods:
            if s.key == d.key:
                continue
            tried += 1
            flow = Flow(PodRef(s.namespace, s.name), PodRef(d.namespace, d.name), port, proto)
            if is_allowed(then, flow) and not is_allowed(now, flow):
                return s, d
            if tried >= 16:
                return None
    return None


def regressed_flows(
    snapshot: Snapshot, known_good: KnownGood, now_matrix: Matrix | None = None
) -> list[CandidateFlow]:
    """Flows allowed with the known-good set (its policies and its labels) that are denied
    now: every workload pair whose matrix cell lost a port the destination declares."""
    if not changes_between(snapshot, known_good):
        return []
    then = then_snapshot(snapshot, known_good)
    before = compute_matrix(then)
    after = now_matrix if now_matrix is not None else compute_matrix(snapshot)
    index = {w.key: i for i, w in enumerate(after.workloads)}
    found: list[CandidateFlow] = []
    seen: set[Flow] = set()
    per_source: dict[str, int] = {}
    for cell in before.iter_cells():
        src_w = before.workloads[cell.source]
        dst_w = before.workloads[cell.destination]
        if cell.self_only:
            continue
        ports_now, common_now = _cell_ports(after, index.get(src_w.key), index.get(dst_w.key))
        lost = (cell.ports - ports_now) | (cell.common - common_now)
        if not lost:
            continue
        for port, proto in _lost_ports(dst_w, lost):
            if per_source.get(src_w.key, 0) >= MAX_PER_SOURCE:
                break
            pair = _regressed_pair(then, snapshot, src_w, dst_w, port, proto)
            if pair is None:
                continue
            shown = _service_flow(snapshot, pair[0], pair[1], port, proto)
            if shown in seen:
                continue
            seen.add(shown)
            per_source[src_w.key] = per_source.get(src_w.key, 0) + 1
            found.append(
                CandidateFlow(
                    shown,
                    f"allowed with known-good {known_good.name}, denied now "
                    f"({src_w.key} → {dst_w.key} {port}/{proto})",
                    "regressed",
                )
            )
    return found


# ---------------------------------------------------------------- DNS


def _dns_destination(target: DnsTarget) -> tuple[ServiceRef | PodRef, int]:
    if target.service is not None:
        for sp in target.service.ports:
            if sp.protocol == "UDP":
                return ServiceRef(target.service.namespace, target.service.name), sp.port
    return PodRef(target.pods[0].namespace, target.pods[0].name), 53


def dns_blocked(snapshot: Snapshot, matrix: Matrix) -> list[CandidateFlow]:
    """Egress-isolated workloads whose pods cannot reach any DNS pod on UDP 53."""
    target = dns_target(snapshot)
    dns = target.pods
    if not dns:
        return []
    dns_keys = {p.key for p in dns}
    columns = [j for j, w in enumerate(matrix.workloads) if any(p.key in dns_keys for p in w.pods)]
    destination, port = _dns_destination(target)
    out = []
    for i, workload in enumerate(matrix.workloads):
        pod = workload.pods[0]
        if pod.host_network or pod.key in dns_keys:
            continue
        if not selecting_policies(snapshot, pod, "Egress"):
            continue
        if any(("UDP", 53) in _cell_ports(matrix, i, j)[0] for j in columns):
            continue
        flow = Flow(PodRef(pod.namespace, pod.name), destination, port, "UDP")
        out.append(
            CandidateFlow(
                flow,
                f"{workload.key} is isolated for egress and its policies do not allow DNS "
                f"(UDP 53 to {', '.join(sorted(dns_keys))})",
                "dns",
            )
        )
    return out


# ---------------------------------------------------------------- Services


def _names_outside_clients(snapshot: Snapshot, backend: Pod) -> bool:
    """Does a policy isolating the backend for ingress name clients outside its namespace
    (a namespaceSelector or an ipBlock peer)? Then being unreachable from outside is a
    mistake, not the design."""
    for pol in selecting_policies(snapshot, backend, "Ingress"):
        for rule in pol.ingress:
            if not rule.peers:
                return True
            for peer in rule.peers:
                if peer.namespace_selector is not None or peer.ip_block is not None:
                    return True
    return False


def _outside_sources(matrix: Matrix, namespace: str) -> Iterator[int]:
    for i, w in enumerate(matrix.workloads):
        if w.namespace != namespace and not w.pods[0].host_network:
            yield i


def _pick_source(matrix: Matrix, namespace: str) -> Pod | None:
    outside = [matrix.workloads[i] for i in _outside_sources(matrix, namespace)]
    if not outside:
        return None
    for w in outside:
        if any(h in w.key.lower() for h in _INGRESS_HINTS):
            return w.pods[0]
    plain = [w for w in outside if w.namespace != "kube-system"]
    return (plain or outside)[0].pods[0]


def unreachable_services(snapshot: Snapshot, matrix: Matrix) -> list[CandidateFlow]:
    """Services that no pod outside their namespace can reach on some port, although a
    policy selecting their backends names outside clients (namespaceSelector or ipBlock).
    Services whose policies only admit their own namespace are internal by design and are
    not proposed."""
    column_of = {p.key: j for j, w in enumerate(matrix.workloads) for p in w.pods}
    out = []
    for service in snapshot.services:
        backends = service_backends(snapshot, service)
        if not backends or not _names_outside_clients(snapshot, backends[0]):
            continue
        columns = sorted({column_of[p.key] for p in backends if p.key in column_of})
        sources = list(_outside_sources(matrix, service.namespace))
        for sp in service.ports:
            numbers = {b.port for b in port_backends(snapshot, service, sp).backends}
            if not numbers:
                continue  # a targetPort no backend has: the Flow step says so
            reachable = any(
                (sp.protocol, n) in _cell_ports(matrix, i, j)[0]
                for i in sources
                for j in columns
                for n in numbers
            )
            if reachable:
                continue
            source = _pick_source(matrix, service.namespace)
            if source is None:
                continue
            ports = "/".join(str(n) for n in sorted(numbers))
            out.append(
                CandidateFlow(
                    Flow(
                        PodRef(source.namespace, source.name),
                        ServiceRef(service.namespace, service.name),
                        sp.port,
                        sp.protocol,
                    ),
                    f"no pod outside {service.namespace} can reach Service {service.key} port "
                    f"{sp.port}/{sp.protocol} (backends on {ports}), although its ingress "
                    "policies name clients outside the namespace",
                    "unreachable-service",
                )
            )
    return out


def _near_pods(selector: LabelSelector, pods: Iterable[Pod]) -> list[tuple[Pod, str]]:
    """Pods that miss `selector`'s matchLabels by one close value (`app=frontend` vs a pod
    with `app=frontend-canary`): (pod, "app=frontend-canary")."""
    import difflib

    wanted = dict(selector.match_labels)
    if not wanted or selector.match_expressions:
        return []
    out: list[tuple[Pod, str]] = []
    for pod in pods:
        misses = [k for k, v in wanted.items() if pod.labels.get(k) != v]
        if len(misses) != 1:
            continue
        key = misses[0]
        have = pod.labels.get(key)
        if have is not None and difflib.SequenceMatcher(None, have, wanted[key]).ratio() >= 0.6:
            out.append((pod, f"{key}={have}"))
    return out


def near_miss_flows(snapshot: Snapshot) -> list[CandidateFlow]:
    """A peer podSelector (in the policy's own namespace) that matches no pod but nearly
    matches a live one: the flow from (or, for egress, to) that pod, which the rule was
    most likely written for and denies. One per workload and rule."""
    out: list[CandidateFlow] = []
    seen: set[tuple[str, str, int, str]] = set()
    for pol in snapshot.policies:
        pods = snapshot.pods_by_namespace.get(pol.namespace, ())
        selected = [p for p in pods if selector_matches(pol.pod_selector, p.labels)]
        if not selected:
            continue
        for direction in pol.policy_types:
            for index, rule in enumerate(pol.rules(direction)):
                for peer in rule.peers:
                    if peer.pod_selector is None or peer.namespace_selector is not None:
                        continue
                    if any(selector_matches(peer.pod_selector, p.labels) for p in pods):
                        continue
                    for near, have in _near_pods(peer.pod_selector, pods):
                        key = (pol.key, direction, index, near.workload)
                        if key in seen:
                            continue
                        seen.add(key)
                        end = selected[0]
                        src, dst = (near, end) if direction == "Ingress" else (end, near)
                        port = _rule_port(rule, dst)
                        if port is None:
                            continue
                        flow = Flow(
                            PodRef(src.namespace, src.name),
                            PodRef(dst.namespace, dst.name),
                            port[0],
                            port[1],
                        )
                        if is_allowed(snapshot, flow):
                            continue
                        out.append(
                            CandidateFlow(
                                flow,
                                f"{pol.key} {direction.lower()} rule #{index} peer "
                                f"{peer.pod_selector.describe()} matches no pod; {near.key} has "
                                f"{have}",
                                "near-miss",
                            )
                        )
    return out


def _rule_port(rule: Rule, dest: Pod) -> tuple[int | str, Protocol] | None:
    for port in rule.ports:
        if port.port is not None:
            return port.port, port.protocol
    for container in dest.containers:
        for cp in container.ports:
            return cp.port, cp.protocol
    return None


def candidate_flows(
    snapshot: Snapshot, incident: Incident | None = None, *, known_good: KnownGood | None = None
) -> list[CandidateFlow]:
    """The incident's reported flows; flows allowed in the last known-good set (`known_good`,
    else the incident's last) and denied now; egress-isolated pods that cannot reach DNS;
    Services whose backends no pod outside their namespace can reach. Workload-level, so it
    stays fast on 10k pods."""
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
    matrix = compute_matrix(snapshot)
    if known_good is None and incident is not None and incident.known_good:
        known_good = incident.known_good[-1]
    if known_good is not None:
        add(regressed_flows(snapshot, known_good, matrix))
    add(near_miss_flows(snapshot))
    add(dns_blocked(snapshot, matrix))
    add(unreachable_services(snapshot, matrix))
    return out
