"""Service backends as the EndpointSlice controller and kube-proxy compute them.

One place answers "which pods does this Service port forward to, on which port": explain,
the matrix, exposure, the checklist's candidates and steps all ask here.

- The controller lists every pod its selector matches in the Service's namespace that has
  an IP and has not finished (phase Succeeded/Failed).
- Per Service port, the targetPort is resolved on each pod (FindPort: a number is taken as
  is; a name is the first container port with that name and protocol, containers in order).
  A pod that cannot resolve it is not an endpoint of *that* port.
- An endpoint is ready when the pod's Ready condition is true and it is not terminating, or
  always when the Service sets `publishNotReadyAddresses`. kube-proxy forwards to the ready
  endpoints; when there are none, to the terminating endpoints that are still serving (pod
  Ready); when there are none of those either, the port has no backend at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from triage.model import Pod, Protocol, Service, ServicePort, Snapshot

# Why a pod the selector matches is not a backend of a port: stable codes.
NotBackendCode = Literal[
    "finished",  # phase Succeeded or Failed: not in the EndpointSlices at all
    "no-ip",  # not scheduled or starting: not in the EndpointSlices yet
    "target-port-unresolved",  # the named targetPort is no container port of the pod
    "not-ready",  # Ready condition false (and publishNotReadyAddresses unset)
    "terminating",  # deletionTimestamp set and ready or serving endpoints exist elsewhere
]


@dataclass(frozen=True, slots=True)
class Backend:
    pod: Pod
    port: int  # the targetPort resolved on this pod
    port_name: str | None  # the container port's name, when it has one


@dataclass(frozen=True, slots=True)
class NotBackend:
    pod: Pod
    code: NotBackendCode


@dataclass(frozen=True, slots=True)
class PortBackends:
    """One Service port: the pods it forwards to, and the selected pods it does not.

    `backends` is empty when the port forwards nowhere (no pod resolves it, or none is ready
    or serving); `excluded` says why for each selected pod, in snapshot order."""

    service: Service
    port: ServicePort
    backends: tuple[Backend, ...]
    excluded: tuple[NotBackend, ...]


def selected_pods(snapshot: Snapshot, service: Service) -> tuple[Pod, ...]:
    """Every pod of the Service's namespace its selector matches, endpoint or not."""
    if not service.selector:
        return ()
    selector = service.selector
    return tuple(
        pod
        for pod in snapshot.pods_by_namespace.get(service.namespace, ())
        if all(pod.labels.get(k) == v for k, v in selector.items())
    )


def pod_not_listed(pod: Pod) -> NotBackendCode | None:
    """Why the controller leaves the pod out of every EndpointSlice, or None."""
    if pod.phase in ("Succeeded", "Failed"):
        return "finished"
    if not pod.ips:
        return "no-ip"
    return None


def container_port_name(pod: Pod, number: int, protocol: Protocol) -> str | None:
    for container in pod.containers:
        for cp in container.ports:
            if cp.port == number and cp.protocol == protocol:
                return cp.name
    return None


def find_port(pod: Pod, target: int | str, protocol: Protocol) -> int | None:
    """Kubernetes' FindPort: a number as is; a name on the pod's container ports."""
    if isinstance(target, int):
        return target
    return pod.named_port(target, protocol)


def _ready(pod: Pod, service: Service) -> bool:
    if service.publish_not_ready:
        return True
    return pod.ready is not False and not pod.terminating


def port_backends(snapshot: Snapshot, service: Service, sport: ServicePort) -> PortBackends:
    """The pods `sport` of `service` forwards to, by the rules in this module's docstring."""
    excluded: list[NotBackend] = []
    resolved: list[Backend] = []
    for pod in selected_pods(snapshot, service):
        code = pod_not_listed(pod)
        if code is not None:
            excluded.append(NotBackend(pod, code))
            continue
        number = find_port(pod, sport.target_port, sport.protocol)
        if number is None:
            excluded.append(NotBackend(pod, "target-port-unresolved"))
            continue
        name = (
            sport.target_port
            if isinstance(sport.target_port, str)
            else container_port_name(pod, number, sport.protocol)
        )
        resolved.append(Backend(pod, number, name))
    ready = [b for b in resolved if _ready(b.pod, service)]
    if not ready:
        # kube-proxy's fallback: terminating endpoints that still serve.
        ready = [b for b in resolved if b.pod.terminating and b.pod.ready is not False]
    for b in resolved:
        if b not in ready:
            excluded.append(NotBackend(b.pod, "terminating" if b.pod.terminating else "not-ready"))
    return PortBackends(service, sport, tuple(ready), tuple(excluded))


def service_backends(snapshot: Snapshot, service: Service) -> tuple[Pod, ...]:
    """The pods the Service forwards to on at least one of its ports, in snapshot order
    (for a Service without ports: the pods in its EndpointSlices)."""
    if not service.ports:
        return tuple(p for p in selected_pods(snapshot, service) if pod_not_listed(p) is None)
    keys = {
        b.pod.key for sp in service.ports for b in port_backends(snapshot, service, sp).backends
    }
    return tuple(p for p in selected_pods(snapshot, service) if p.key in keys)


def forwarding_to(snapshot: Snapshot, pod: Pod) -> tuple[tuple[Service, ServicePort, int], ...]:
    """(Service, Service port, target port on `pod`) for every Service port that forwards to
    `pod`."""
    out: list[tuple[Service, ServicePort, int]] = []
    for service in snapshot.services:
        if service.namespace != pod.namespace or not service.selector:
            continue
        if not all(pod.labels.get(k) == v for k, v in service.selector.items()):
            continue
        for sp in service.ports:
            for backend in port_backends(snapshot, service, sp).backends:
                if backend.pod.key == pod.key:
                    out.append((service, sp, backend.port))
    return tuple(out)
