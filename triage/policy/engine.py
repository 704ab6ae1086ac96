"""The verdict engine: `explain(snapshot, flow)` answers with the full trace.

The work is split by concern: `selection` (which policies isolate a pod; which rule admits
a connection, or what each lacks), `endpoints` (the ends of a connection and its verdict),
`services` (a Service's backends, as its EndpointSlices have them) and `service_flow` (a
flow to a Service). The English lives in `describe`. This module keeps the public names."""

from __future__ import annotations

from triage.model import Flow, IPRef, PodRef, ServiceRef, Snapshot
from triage.policy.endpoints import (
    Party,
    UnknownEndpoint,
    connection_verdict,
    ip_party,
    pod_party,
)
from triage.policy.selection import (
    CompiledPolicies,
    build_index,
    compile_policies,
    compiled,
    describe_ports,
    nearest_miss,
    nearest_misses,
    parsed_ip,
    policies_selecting,
    selecting,
    selecting_policies,
    trace_peer,
    trace_port,
    trace_rule,
    trace_side,
)
from triage.policy.service_flow import explain_service
from triage.policy.services import container_port_name, service_backends
from triage.policy.trace import EngineWarning, Explanation, Reason

__all__ = [
    "CompiledPolicies",
    "Party",
    "UnknownEndpoint",
    "build_index",
    "compile_policies",
    "compiled",
    "explain",
    "is_allowed",
    "nearest_miss",
    "nearest_misses",
    "policies_selecting",
    "selecting",
    "selecting_policies",
    "service_backends",
    "trace_peer",
    "trace_port",
    "trace_rule",
    "trace_side",
]


def explain(
    snapshot: Snapshot, flow: Flow, policies: CompiledPolicies | None = None
) -> Explanation:
    """The verdict for `flow` with its full trace. Raises UnknownEndpoint for names the
    snapshot lacks. `policies`: the snapshot's compiled form, when the caller holds it
    (else the one the snapshot holds is used). On a partial snapshot (`-n`), an end outside
    the loaded namespaces makes the verdict unknown rather than DENIED
    (`Explanation.unknown`, triage.policy.scope)."""
    if snapshot.scope is not None:
        from triage.policy.scope import explain_partial

        return explain_partial(snapshot, flow, lambda snap, fl: _explain_loaded(snap, fl, policies))
    return _explain_loaded(snapshot, flow, policies)


def _explain_loaded(
    snapshot: Snapshot, flow: Flow, policies: CompiledPolicies | None = None
) -> Explanation:
    comp = policies if policies is not None else compiled(snapshot)
    if isinstance(flow.source, ServiceRef):
        raise UnknownEndpoint(f"source {flow.source}: a Service cannot be a source; name a pod")
    notes: list[EngineWarning] = []
    source = (
        pod_party(snapshot, flow.source, "source")
        if isinstance(flow.source, PodRef)
        else ip_party(comp, flow.source, "source", notes)
    )
    if isinstance(flow.destination, ServiceRef):
        return explain_service(snapshot, comp, flow, source, flow.destination, tuple(notes))
    if isinstance(flow.destination, IPRef):
        service = comp.service_by_ip.get(flow.destination.ip)
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
            family = parsed_ip(flow.destination.ip).version
            return explain_service(snapshot, comp, flow, source, ref, tuple(notes), family)
    dest = (
        pod_party(snapshot, flow.destination, "destination")
        if isinstance(flow.destination, PodRef)
        else ip_party(comp, flow.destination, "destination", notes)
    )
    port: int | None
    port_name: str | None = None
    blocked: Reason | None = None
    if isinstance(flow.port, str):
        port_name = flow.port
        port = dest.pod.named_port(flow.port, flow.protocol) if dest.pod else None
        if port is None:
            where = f"{dest.name} has no container port named {flow.port}/{flow.protocol}" + (
                f" (its ports: {describe_ports(dest.pod)})"
                if dest.pod
                else ", and a name needs a pod to resolve against"
            )
            blocked = Reason("named-port-unresolved", where, "destination", flow.port)
    else:
        port = flow.port
        if dest.pod is not None:
            port_name = container_port_name(dest.pod, port, flow.protocol)
    verdict = connection_verdict(comp, source, dest, port, port_name, flow.protocol, notes, blocked)
    return Explanation(flow, verdict.allowed, (verdict,))


def is_allowed(snapshot: Snapshot, flow: Flow, policies: CompiledPolicies | None = None) -> bool:
    return explain(snapshot, flow, policies).allowed
