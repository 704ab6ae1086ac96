"""The ends of a connection: a flow's names and addresses resolved to pods of the snapshot
or outside addresses, the address family each end uses, what the verdict must warn about,
and the verdict for one concrete connection (both sides traced)."""

from __future__ import annotations

import difflib

from triage.model import IPRef, Pod, PodRef, Protocol, Snapshot
from triage.policy.selection import (
    CompiledPolicies,
    Party,
    ambiguous_name_text,
    misses_of,
    named_port_declarations,
    parsed_ip,
    trace_side,
)
from triage.policy.tiers import Far, apply_tiers
from triage.policy.trace import EngineWarning, Reason, SideTrace, Verdict

__all__ = [
    "Party",
    "UnknownEndpoint",
    "connect",
    "connection_verdict",
    "endpoint_warnings",
    "ip_party",
    "pod_party",
    "suggest",
]


class UnknownEndpoint(LookupError):
    """A flow names a pod or Service that the snapshot does not have."""


def suggest(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def pod_party(snapshot: Snapshot, ref: PodRef, role: str) -> Party:
    pod = snapshot.pod(ref.namespace, ref.name)
    if pod is None:
        if ref.namespace not in snapshot.namespace_by_name:
            names = list(snapshot.namespace_by_name)
            raise UnknownEndpoint(
                f"{role} {ref}: no namespace {ref.namespace}{suggest(ref.namespace, names)}"
            )
        pods = snapshot.pods_by_namespace.get(ref.namespace, ())
        same_workload = [p.name for p in pods if p.workload == ref.name]
        if same_workload:
            hint = f" (pods of workload {ref.name}: {', '.join(same_workload[:5])})"
        else:
            hint = suggest(ref.name, [p.name for p in pods])
        raise UnknownEndpoint(f"{role} {ref}: no such pod{hint}")
    return Party(pod, None, role)


def ip_party(
    compiled: CompiledPolicies, ref: IPRef, role: str, warnings: list[EngineWarning]
) -> Party:
    """The pod owning the address, else an address outside the pods. A node address that
    hostNetwork pods share is not one pod: it stays an address, and a warning says so."""
    pod = compiled.pods_by_ip.get(ref.ip)
    if pod is not None and not pod.host_network:
        return Party(pod, ref.ip, role)
    host = compiled.host_pods_by_ip.get(ref.ip)
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
    return next((ip for ip in pod.ips if parsed_ip(ip).version == version), None)


def _with_address(
    party: Party, other_ip: str | None, family: int | None, notes: list[EngineWarning]
) -> Party:
    """`party` with the address it uses: of `family`, else of the other end's address
    family, else its primary one; a note when the pod has no address of that family."""
    if party.ip is not None or party.pod is None:
        return party
    version = family
    if version is None and other_ip is not None:
        version = parsed_ip(other_ip).version
    ip = _ip_of_family(party.pod, version)
    if ip is None and party.pod.ips:
        notes.append(
            EngineWarning(
                "no-address-of-family",
                f"{party.role} {party.pod.key} has no IPv{version} address",
                party.pod.key,
            )
        )
    return Party(party.pod, ip, party.role)


def connect(
    source: Party, destination: Party, family: int | None = None
) -> tuple[Party, Party, list[EngineWarning]]:
    """Pick the address each end uses: an IP given by the operator (an end's address, or
    the ClusterIP asked about: `family`) fixes the family; else the destination's primary
    IP does, and the source uses its address of that family."""
    notes: list[EngineWarning] = []
    if family is not None:
        for party in (source, destination):
            if party.ip is not None and parsed_ip(party.ip).version != family:
                notes.append(
                    EngineWarning(
                        "address-family-mismatch",
                        f"{party.role} {party.ip} is IPv{parsed_ip(party.ip).version} but the "
                        f"connection is IPv{family}: no such connection exists",
                        party.ip,
                    )
                )
    destination = _with_address(destination, source.ip, family, notes)
    source = _with_address(source, destination.ip, family, notes)
    return source, destination, notes


def endpoint_warnings(source: Party, destination: Party) -> list[EngineWarning]:
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
    compiled: CompiledPolicies,
    egress: SideTrace,
    ingress: SideTrace,
    destination: Pod | None,
    port_name: str | None,
    protocol: Protocol,
) -> list[EngineWarning]:
    """What the trace itself tells the reader to mistrust: a peer that can never match, a
    port name the destination declares with two numbers."""
    out: list[EngineWarning] = []
    # Only peers the compiled policies know can never match carry `never`: skip the walk
    # when there are none (almost always).
    for side in (egress, ingress) if compiled.never else ():
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


def connection_verdict(
    compiled: CompiledPolicies,
    source: Party,
    destination: Party,
    port: int | None,
    port_name: str | None,
    protocol: Protocol,
    extra_warnings: list[EngineWarning],
    blocked_by: Reason | None = None,
    family: int | None = None,
) -> Verdict:
    source, destination, notes = connect(source, destination, family)
    egress = trace_side(compiled, "Egress", source, destination, port, protocol, destination.pod)
    ingress = trace_side(compiled, "Ingress", destination, source, port, protocol, destination.pod)
    # The admin tiers (ClusterNetworkPolicy, ANP, BANP) around the NetworkPolicy decision.
    egress, ingress, tier_notes = apply_tiers(
        compiled.tiers,
        egress,
        ingress,
        Far(source.pod, source.ip, source.role),
        Far(destination.pod, destination.ip, destination.role),
        port,
        protocol,
    )
    notes.extend(tier_notes)
    allowed = egress.allowed and ingress.allowed and blocked_by is None
    nearest, misses = (None, ()) if allowed else misses_of(egress, ingress)
    notes.extend(_trace_warnings(compiled, egress, ingress, destination.pod, port_name, protocol))
    return Verdict(
        source=source.endpoint(),
        destination=destination.endpoint(),
        port=port,
        port_name=port_name,
        protocol=protocol,
        allowed=allowed,
        egress=egress,
        ingress=ingress,
        warnings=tuple(extra_warnings + notes + endpoint_warnings(source, destination)),
        nearest_miss=nearest,
        blocked_by=blocked_by,
        nearest_misses=misses,
    )
