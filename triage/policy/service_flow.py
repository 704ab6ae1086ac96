"""A Service as the destination of a flow: resolved to the backends of the Service port
(triage.policy.services), each backend a connection of its own with its verdict."""

from __future__ import annotations

from triage.model import Flow, Protocol, Service, ServicePort, ServiceRef, Snapshot
from triage.policy.endpoints import Party, UnknownEndpoint, connection_verdict, suggest
from triage.policy.selection import CompiledPolicies, describe_ports
from triage.policy.services import (
    NotBackend,
    PortBackends,
    container_port_name,
    find_port,
    port_backends,
)
from triage.policy.trace import EngineWarning, Explanation, Reason, ServiceResolution


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


def explain_service(
    snapshot: Snapshot,
    compiled: CompiledPolicies,
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
        raise UnknownEndpoint(f"destination {ref}: no such Service{suggest(ref.name, names)}")
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
                connection_verdict(
                    compiled,
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
                    f"port of {pod.key} (its ports: {describe_ports(pod)}); the Service "
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
                connection_verdict(
                    compiled, source, dest, number, name, sport.protocol, [], blocked, family
                )
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
