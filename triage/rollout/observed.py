"""Observed traffic: what the rollout must keep working.

The seam is deliberately narrow: observed traffic is a sequence of `triage.model.Flow`
(pods by name, Services, or IP addresses), wherever it came from — an `--observed` YAML list
(the format of `triage explain --flows`), a recording's reported flows and successful
probes, or a datapath flow log once a reader turns its records into flows. Everything here
turns those flows into *connections*: the concrete source and destination (a pod, or an
address outside the cluster's pods) and the port number the destination sees, resolved the
way the engine resolves them (a Service to its backends and target port, a named port on
the destination pod).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from triage.model import Flow, IPRef, Pod, PodRef, Protocol, ServiceRef, Snapshot
from triage.model.incident import Incident
from triage.model.objects import Service
from triage.policy import UnknownEndpoint, explain, service_backends


@dataclass(frozen=True, slots=True)
class Observed:
    """The traffic a rollout is planned against: `flows` keep working, `excluded` are flows
    the operator chose to let break (they are neither allowed nor reported as breaking)."""

    flows: tuple[Flow, ...] = ()
    excluded: tuple[Flow, ...] = ()
    sources: tuple[str, ...] = ()  # where the flows came from, for people
    notes: tuple[str, ...] = ()  # what was left out, and why

    @property
    def empty(self) -> bool:
        return not self.flows


@dataclass(frozen=True, slots=True)
class Connection:
    """One resolved connection: exactly one of `source`/`source_ip` is set, same for the
    destination. `port` is the number the destination pod (or address) sees."""

    flow: Flow
    source: Pod | None
    source_ip: str | None
    destination: Pod | None
    destination_ip: str | None
    port: int
    protocol: Protocol

    @property
    def source_label(self) -> str:
        return self.source.key if self.source is not None else str(self.source_ip)

    @property
    def destination_label(self) -> str:
        return self.destination.key if self.destination is not None else str(self.destination_ip)


@dataclass(frozen=True, slots=True)
class Unresolved:
    flow: Flow
    why: str


def combine(*parts: Observed) -> Observed:
    """Several sources of observed traffic as one (order kept, duplicates dropped)."""
    flows: dict[Flow, None] = {}
    excluded: dict[Flow, None] = {}
    sources: list[str] = []
    notes: list[str] = []
    for part in parts:
        flows.update(dict.fromkeys(part.flows))
        excluded.update(dict.fromkeys(part.excluded))
        sources.extend(part.sources)
        notes.extend(part.notes)
    return Observed(tuple(flows), tuple(excluded), tuple(sources), tuple(notes))


# ---------------------------------------------------------------- recordings

_SERVICE_HOST = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.svc(\..*)?$"
)


def _probe_target(target: str) -> PodRef | ServiceRef | IPRef | None:
    try:
        return IPRef(str(ipaddress.ip_address(target)))
    except ValueError:
        pass
    match = _SERVICE_HOST.match(target.rstrip("."))
    if match:
        return ServiceRef(match.group(3), match.group(1))
    ns, _, name = target.partition("/")
    if ns and name and "/" not in name:
        return PodRef(ns, name)
    if name.startswith("svc/"):
        return ServiceRef(ns, name[4:])
    return None


def observed_from_incident(incident: Incident, origin: str = "recording") -> Observed:
    """A recording's reported flows that its own snapshot allows and the connect probes that
    succeeded: traffic seen working (DNS probes are covered by the DNS guardrail). A reported
    flow denied at the time is a complaint, not traffic to keep: the rollout never opens it."""
    flows: list[Flow] = []
    denied: list[str] = []
    for rf in incident.flows:
        try:
            allowed = explain(incident.snapshot, rf.flow).allowed
        except UnknownEndpoint:
            allowed = False
        if allowed:
            flows.append(rf.flow)
        else:
            denied.append(str(rf.flow))
    for probe in incident.probes:
        if probe.kind != "connect" or probe.outcome != "success" or probe.port is None:
            continue
        src_ns, _, src_name = probe.source.partition("/")
        target = _probe_target(probe.target)
        if not src_ns or not src_name or target is None:
            continue
        protocol: Protocol = "UDP" if probe.protocol.upper() == "UDP" else "TCP"
        flows.append(Flow(PodRef(src_ns, src_name), target, probe.port, protocol))
    notes = (
        (
            f"{origin}: {len(denied)} reported flow(s) denied at the time left out: "
            + "; ".join(denied[:3])
            + (" …" if len(denied) > 3 else ""),
        )
        if denied
        else ()
    )
    return Observed(tuple(dict.fromkeys(flows)), (), (origin,), notes)


# ---------------------------------------------------------------- resolution


class _Lookups:
    """What resolving many flows on one snapshot asks again and again: Services by
    ClusterIP and each Service's backend pods."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self._by_ip: dict[str, Service] | None = None
        self._backends: dict[str, tuple[Pod, ...]] = {}

    def service_by_ip(self, ip: str) -> Service | None:
        if self._by_ip is None:
            self._by_ip = {}
            for service in self.snapshot.services:
                for address in service.all_cluster_ips:
                    self._by_ip.setdefault(address, service)
        return self._by_ip.get(ip)

    def backends(self, service: Service) -> tuple[Pod, ...]:
        found = self._backends.get(service.key)
        if found is None:
            found = self._backends[service.key] = service_backends(self.snapshot, service)
        return found


def _pod_by_ip(snapshot: Snapshot, ip: str) -> Pod | None:
    pod = snapshot.pods_by_ip.get(ip)
    if pod is None or pod.host_network:
        return None  # a node address: an outside peer as far as policies go
    return pod


def _source(snapshot: Snapshot, flow: Flow) -> tuple[Pod | None, str | None, str]:
    ref = flow.source
    if isinstance(ref, PodRef):
        pod = snapshot.pod(ref.namespace, ref.name)
        if pod is None:
            return None, None, f"source pod {ref} is not in the snapshot"
        if pod.host_network:
            return None, pod.ips[0] if pod.ips else None, "" if pod.ips else "no IP"
        return pod, None, ""
    if isinstance(ref, IPRef):
        pod = _pod_by_ip(snapshot, ref.ip)
        return (pod, None, "") if pod is not None else (None, ref.ip, "")
    return None, None, "a Service cannot be the source of a connection"


def _named(pod: Pod, port: int | str, protocol: Protocol) -> int | None:
    return port if isinstance(port, int) else pod.named_port(port, protocol)


def resolve(
    snapshot: Snapshot, flow: Flow, lookups: _Lookups | None = None
) -> tuple[list[Connection], str]:
    """The connections a flow stands for (several for a Service with several backends), or
    an empty list and why it could not be resolved."""
    lookups = lookups if lookups is not None else _Lookups(snapshot)
    src, src_ip, why = _source(snapshot, flow)
    if why:
        return [], why
    proto = flow.protocol
    ref = flow.destination
    if isinstance(ref, IPRef):
        service = lookups.service_by_ip(ref.ip)
        if service is not None:
            ref = ServiceRef(service.namespace, service.name)
        else:
            pod = _pod_by_ip(snapshot, ref.ip)
            if pod is None:
                if not isinstance(flow.port, int):
                    return [], f"port {flow.port!r} is a name, but {ref.ip} is not a pod"
                return [Connection(flow, src, src_ip, None, ref.ip, flow.port, proto)], ""
            ref = PodRef(pod.namespace, pod.name)
    if isinstance(ref, PodRef):
        pod = snapshot.pod(ref.namespace, ref.name)
        if pod is None:
            return [], f"destination pod {ref} is not in the snapshot"
        number = _named(pod, flow.port, proto)
        if number is None:
            return [], f"pod {pod.key} has no {proto} port named {flow.port!r}"
        if pod.host_network:
            ip = pod.ips[0] if pod.ips else None
            if ip is None:
                return [], f"pod {pod.key} has no IP"
            return [Connection(flow, src, src_ip, None, ip, number, proto)], ""
        return [Connection(flow, src, src_ip, pod, None, number, proto)], ""
    service = snapshot.service(ref.namespace, ref.name)
    if service is None:
        return [], f"Service {ref} is not in the snapshot"
    sport = next(
        (
            sp
            for sp in service.ports
            if sp.protocol == proto and (sp.port == flow.port or sp.name == flow.port)
        ),
        None,
    )
    if sport is None:
        return [], f"Service {service.key} has no {proto} port {flow.port}"
    found = lookups.backends(service)
    if not found:
        return [], f"Service {service.key} has no backend pod"
    out = []
    for pod in found:
        number = _named(pod, sport.target_port, proto)
        if number is not None and not pod.host_network:
            out.append(Connection(flow, src, src_ip, pod, None, number, proto))
    if not out:
        return [], f"no backend of Service {service.key} names the port {sport.target_port!r}"
    return out, ""


def resolve_all(
    snapshot: Snapshot, flows: Iterable[Flow]
) -> tuple[list[Connection], list[Unresolved]]:
    connections: list[Connection] = []
    unresolved: list[Unresolved] = []
    lookups = _Lookups(snapshot)
    for flow in flows:
        found, why = resolve(snapshot, flow, lookups)
        if found:
            connections.extend(found)
        else:
            unresolved.append(Unresolved(flow, why))
    return connections, unresolved


def touches(connection: Connection, namespaces: Sequence[str]) -> bool:
    """Does the connection start or end at a pod of one of `namespaces`?"""
    return (connection.source is not None and connection.source.namespace in namespaces) or (
        connection.destination is not None and connection.destination.namespace in namespaces
    )
