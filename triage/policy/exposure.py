"""The blast radius of one pod: what it can reach, what can reach it, and how to contain it.

Both directions are computed over pod classes (`classes.py`): a connection from A to B is
allowed on the ports egress at A allows towards B *and* ingress at B allows from A. Every
allowed port names the deciding rule of each side, as `engine.explain` would (the first
policy by name, then the first rule, that allows it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from triage.model import (
    Direction,
    NetworkPolicy,
    Pod,
    Protocol,
    Service,
    Snapshot,
)
from triage.model.untrusted import shell_join
from triage.policy.classes import ClusterModel, CompiledRule, compile_snapshot
from triage.policy.dns import DnsTarget, dns_target
from triage.policy.engine import UnknownEndpoint
from triage.policy.generate import containment, containment_label_argv
from triage.policy.matrix import group_workloads
from triage.policy.portset import ALL_PORTS, NO_PORTS, PortSet, declared_ports
from triage.policy.services import port_backends, service_backends
from triage.policy.tiers_matrix import TierModel
from triage.policy.verify import Verification, verify

Scope = Literal["pod", "namespace"]


@dataclass(frozen=True, slots=True)
class RuleRef:
    policy: str  # NS/NAME
    direction: Direction
    rule: int

    def __str__(self) -> str:
        return f"{self.policy} {self.direction.lower()} rule #{self.rule}"


@dataclass(frozen=True, slots=True)
class SideGrant:
    """What one side allows towards the far end, and which rules allow it."""

    direction: Direction
    isolated: bool
    ports: PortSet
    rules: tuple[tuple[RuleRef, PortSet], ...] = ()  # engine order; the first allowing wins

    def decide(self, protocol: Protocol, port: int) -> RuleRef | None:
        """The deciding rule for one port (None: the side is not isolated)."""
        for ref, ports in self.rules:
            if (protocol, port) in ports:
                return ref
        return None

    def describe(self) -> str:
        if not self.isolated:
            return f"not isolated for {self.direction.lower()}: all ports"
        return "; ".join(f"{ref} ({ports.describe()})" for ref, ports in self.rules) or "nothing"


@dataclass(frozen=True, slots=True)
class PortGrant:
    """One declared container port of the destination that the connection may use."""

    protocol: Protocol
    port: int
    name: str | None
    egress: RuleRef | None  # None: egress not isolated
    ingress: RuleRef | None  # None: ingress not isolated
    services: tuple[str, ...] = ()  # "NS/SVC:PORT/PROTO" forwarding to it

    def describe(self) -> str:
        label = f"{self.port}/{self.protocol}" + (f" ({self.name})" if self.name else "")
        return label


@dataclass(frozen=True)
class Reach:
    """The far end (one workload, or the pods of it that behave alike) of allowed
    connections. `ports` are on the destination: the far end for outbound, the subject pod
    for inbound."""

    namespace: str
    workload: str
    kind: str
    pods: tuple[str, ...]
    allowed: PortSet
    egress: SideGrant
    ingress: SideGrant
    ports: tuple[PortGrant, ...]  # declared destination ports inside `allowed`
    undeclared: PortSet  # allowed ports the destination does not declare

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.workload}"

    @property
    def all_ports(self) -> bool:
        return self.allowed.is_all


@dataclass(frozen=True, slots=True)
class ServiceReach:
    service: str  # NS/NAME
    port: int
    protocol: Protocol
    target: int | str
    reachable: tuple[str, ...]  # backend pods reachable on the target port
    backends: int


@dataclass(frozen=True, slots=True)
class External:
    direction: Direction
    peer: str  # "any address", "ipBlock 0.0.0.0/0 except 10.0.0.0/8"
    ports: PortSet
    rule: RuleRef | None  # None: the side is not isolated


@dataclass(frozen=True)
class Exposure:
    pod: Pod
    workload: str
    isolated: Mapping[Direction, bool]
    policies: Mapping[Direction, tuple[str, ...]]  # policies selecting the pod
    default_deny: Mapping[Direction, tuple[str, ...]]  # the namespace's podSelector {} ones
    outbound: tuple[Reach, ...]
    inbound: tuple[Reach, ...]
    services: tuple[ServiceReach, ...]
    external: tuple[External, ...]
    warnings: tuple[str, ...] = ()

    @property
    def reachable_pods(self) -> int:
        return sum(len(r.pods) for r in self.outbound)

    @property
    def reached_by_pods(self) -> int:
        return sum(len(r.pods) for r in self.inbound)


# ---------------------------------------------------------------- lookups


def find_pod(snapshot: Snapshot, target: str) -> tuple[Pod, list[str]]:
    """`NS/POD`, or `NS/WORKLOAD` (its first pod by name, with a note)."""
    ns, sep, name = target.strip().partition("/")
    if not sep or not ns or not name or "/" in name:
        raise UnknownEndpoint(f"{target!r}: expected NAMESPACE/POD")
    pod = snapshot.pod(ns, name)
    if pod is not None:
        return pod, []
    pods = sorted(snapshot.pods_by_namespace.get(ns, ()), key=lambda p: p.name)
    same = [p for p in pods if p.workload == name]
    if same:
        note = f"{ns}/{name} is a workload of {len(same)} pod(s); showing {same[0].key}"
        return same[0], [note]
    if ns not in snapshot.namespace_by_name and not pods:
        raise UnknownEndpoint(f"{target}: no namespace {ns}")
    import difflib

    close = difflib.get_close_matches(name, [p.name for p in pods], n=3, cutoff=0.5)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise UnknownEndpoint(f"{target}: no such pod{hint}")


def namespace_default_denies(
    snapshot: Snapshot, namespace: str
) -> dict[Direction, tuple[str, ...]]:
    """Policies of `namespace` with podSelector {} per direction: they isolate every pod
    (no rules: a default deny; with rules: everything but what they allow)."""
    out: dict[Direction, list[str]] = {"Ingress": [], "Egress": []}
    for pol in sorted(snapshot.policies_by_namespace.get(namespace, ()), key=lambda p: p.name):
        if not pol.pod_selector.is_empty:
            continue
        for direction in pol.policy_types:
            n = len(pol.rules(direction))
            out[direction].append(pol.key if not n else f"{pol.key} (with {n} allow rule(s))")
    return {d: tuple(v) for d, v in out.items()}


# ---------------------------------------------------------------- the exposure


def _grant(
    model: ClusterModel,
    direction: Direction,
    subject: int,
    other: int,
    tiers: TierModel | None = None,
) -> SideGrant:
    if tiers is not None:
        # The admin tiers around NetworkPolicy: rules of every tier, in evaluation order.
        ports_all, walked = tiers.side(direction, subject, other)
        decided = [
            (RuleRef(key, direction, i), ps) for tier, key, i, ps in walked if tier != "Default"
        ]
        if not decided and ports_all.is_all:
            return SideGrant(direction, False, ALL_PORTS)
        return SideGrant(direction, True, ports_all, tuple(decided))
    contributions = model.contributions(direction, subject, other)
    if contributions is None:
        return SideGrant(direction, False, ALL_PORTS)
    ports = NO_PORTS
    rules: list[tuple[RuleRef, PortSet]] = []
    for rule, allowed in contributions:
        ports = ports | allowed
        rules.append((_ref(model, rule), allowed))
    return SideGrant(direction, True, ports, tuple(rules))


def _ref(model: ClusterModel, rule: CompiledRule) -> RuleRef:
    return RuleRef(model.policies[rule.policy_index].policy.key, rule.direction, rule.index)


def _service_index(snapshot: Snapshot) -> dict[str, list[tuple[Service, int, int, Protocol]]]:
    """pod key → (Service, service port, target port on that pod, protocol) forwarding to it,
    by the Service's EndpointSlices (triage.policy.services)."""
    out: dict[str, list[tuple[Service, int, int, Protocol]]] = {}
    for svc in snapshot.services:
        for sp in svc.ports:
            for backend in port_backends(snapshot, svc, sp).backends:
                out.setdefault(backend.pod.key, []).append(
                    (svc, sp.port, backend.port, sp.protocol)
                )
    return out


def _port_grants(
    destination: Pod,
    allowed: PortSet,
    egress: SideGrant,
    ingress: SideGrant,
    services: list[tuple[Service, int, int, Protocol]],
) -> tuple[tuple[PortGrant, ...], PortSet]:
    grants: list[PortGrant] = []
    seen: set[tuple[Protocol, int]] = set()
    for container in destination.containers:
        for cp in container.ports:
            key = (cp.protocol, cp.port)
            if key in seen or key not in allowed:
                continue
            seen.add(key)
            via = []
            for svc, sport, number, proto in services:
                if proto == cp.protocol and number == cp.port:
                    via.append(f"{svc.key}:{sport}/{proto}")
            grants.append(
                PortGrant(
                    cp.protocol,
                    cp.port,
                    cp.name,
                    egress.decide(cp.protocol, cp.port),
                    ingress.decide(cp.protocol, cp.port),
                    tuple(via),
                )
            )
    grants.sort(key=lambda g: (g.protocol, g.port))
    return tuple(grants), allowed - declared_ports(destination)


def _grouped(entries: Iterable[tuple[Pod, Reach]]) -> tuple[Reach, ...]:
    """Merge the pods of one workload that are reached alike."""
    merged: dict[tuple[Any, ...], Reach] = {}
    for pod, reach in entries:
        key = (
            reach.namespace,
            reach.workload,
            reach.allowed,
            reach.egress,
            reach.ingress,
            reach.ports,
            reach.undeclared,
        )
        found = merged.get(key)
        if found is None:
            merged[key] = reach
        else:
            merged[key] = dataclasses.replace(found, pods=(*found.pods, pod.name))
    return tuple(sorted(merged.values(), key=lambda r: (r.namespace, r.workload, r.pods)))


def _externals(model: ClusterModel, subject: int, direction: Direction) -> list[External]:
    pols = model.isolating[direction][subject]
    if not pols:
        return [External(direction, "any address", ALL_PORTS, None)]
    out: list[External] = []
    for pi in pols:
        compiled = model.policies[pi]
        for rule, raw in zip(
            compiled.rules(direction), compiled.policy.rules(direction), strict=True
        ):
            ports = rule.spec.numeric  # a named port needs a pod to resolve against
            if not ports:
                continue
            if not raw.peers:
                out.append(External(direction, "any address", ports, _ref(model, rule)))
                continue
            for peer in raw.peers:
                if peer.ip_block is not None:
                    out.append(External(direction, peer.describe(), ports, _ref(model, rule)))
    return out


def _workload_of(snapshot: Snapshot) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for w in group_workloads(snapshot.pods):
        for pod in w.pods:
            out[pod.key] = (w.name, w.kind)
    return out


def compute_exposure(snapshot: Snapshot, pod: Pod, model: ClusterModel | None = None) -> Exposure:
    model = model or compile_snapshot(snapshot)
    tiers = TierModel(model) if snapshot.admin_policies else None
    me = model.class_of[pod.key]
    workloads = _workload_of(snapshot)
    svc_index = _service_index(snapshot)
    outbound: list[tuple[Pod, Reach]] = []
    inbound: list[tuple[Pod, Reach]] = []
    reach_to: dict[str, PortSet] = {}
    for cls in model.classes:
        c = cls.index
        # outbound: me → c
        eg = _grant(model, "Egress", me, c, tiers)
        if eg.ports:
            ing = _grant(model, "Ingress", c, me, tiers)
            allowed = eg.ports & ing.ports
            if allowed:
                for other in cls.pods:
                    if other.key == pod.key:
                        continue
                    reach_to[other.key] = allowed
                    grants, undeclared = _port_grants(
                        other, allowed, eg, ing, svc_index.get(other.key, [])
                    )
                    name, kind = workloads[other.key]
                    outbound.append(
                        (
                            other,
                            Reach(
                                other.namespace,
                                name,
                                kind,
                                (other.name,),
                                allowed,
                                eg,
                                ing,
                                grants,
                                undeclared,
                            ),
                        )
                    )
        # inbound: c → me
        eg_in = _grant(model, "Egress", c, me, tiers)
        if eg_in.ports:
            ing_in = _grant(model, "Ingress", me, c, tiers)
            allowed_in = eg_in.ports & ing_in.ports
            if allowed_in:
                grants_in, undeclared_in = _port_grants(
                    pod, allowed_in, eg_in, ing_in, svc_index.get(pod.key, [])
                )
                for other in cls.pods:
                    if other.key == pod.key:
                        continue
                    name, kind = workloads[other.key]
                    inbound.append(
                        (
                            other,
                            Reach(
                                other.namespace,
                                name,
                                kind,
                                (other.name,),
                                allowed_in,
                                eg_in,
                                ing_in,
                                grants_in,
                                undeclared_in,
                            ),
                        )
                    )
    services = _service_reach(snapshot, reach_to)
    external = [*_externals(model, me, "Egress"), *_externals(model, me, "Ingress")]
    policies: dict[Direction, tuple[str, ...]] = {
        d: tuple(model.policies[pi].policy.key for pi in model.isolating[d][me])
        for d in ("Ingress", "Egress")
    }
    warnings = []
    if pod.host_network:
        warnings.append(
            f"{pod.key} uses hostNetwork: most CNIs do not enforce NetworkPolicy on it; this "
            "exposure assumes they do"
        )
    if not pod.ips:
        warnings.append(f"{pod.key} has no IP address yet: ipBlock rules cannot match it")
    if tiers is not None:
        warnings.append(
            "pod-to-pod reach includes the admin tiers (ClusterNetworkPolicy, ANP, BANP); the "
            "external address list shows NetworkPolicy ipBlocks only"
        )
    return Exposure(
        pod=pod,
        workload=workloads[pod.key][0],
        isolated={d: bool(policies[d]) for d in ("Ingress", "Egress")},
        policies=policies,
        default_deny=namespace_default_denies(snapshot, pod.namespace),
        outbound=_grouped(outbound),
        inbound=_grouped(inbound),
        services=services,
        external=tuple(external),
        warnings=tuple(warnings),
    )


def _service_reach(snapshot: Snapshot, reach_to: Mapping[str, PortSet]) -> tuple[ServiceReach, ...]:
    out: list[ServiceReach] = []
    for svc in sorted(snapshot.services, key=lambda s: s.key):
        if not service_backends(snapshot, svc):
            continue
        for sp in svc.ports:
            res = port_backends(snapshot, svc, sp)
            reachable = []
            for backend in res.backends:
                allowed = reach_to.get(backend.pod.key)
                if allowed is not None and (sp.protocol, backend.port) in allowed:
                    reachable.append(backend.pod.key)
            if reachable:
                out.append(
                    ServiceReach(
                        svc.key,
                        sp.port,
                        sp.protocol,
                        sp.target_port,
                        tuple(reachable),
                        len(res.backends),
                    )
                )
    return tuple(out)


# ---------------------------------------------------------------- containment


@dataclass(frozen=True)
class Containment:
    scope: Scope
    policy: NetworkPolicy
    manifest: dict[str, Any]
    commands: tuple[str, ...]  # what to run, in order
    after: Exposure  # the pod's exposure once contained
    residual: tuple[Reach, ...]  # what it still reaches besides DNS
    residual_inbound: tuple[Reach, ...]
    kept_open_by: tuple[str, ...]  # policies whose rules keep residual paths open
    notes: tuple[str, ...] = field(default=())
    verification: Verification | None = None  # the cluster-wide delta of the change


def _is_dns(reach: Reach, dns: DnsTarget, snapshot: Snapshot) -> bool:
    """Is `reach` only DNS (port 53) to the DNS pods?"""
    if reach.namespace != dns.namespace or not reach.allowed <= PortSet.parse("UDP 53; TCP 53"):
        return False
    for name in reach.pods:
        pod = snapshot.pod(reach.namespace, name)
        if pod is None or not dns.matches(pod):
            return False
    return True


def contain(snapshot: Snapshot, pod: Pod, scope: Scope = "pod") -> Containment:
    """The policy that cuts `pod` off (keeping DNS), and what would still be open.

    The change itself comes from the one builder (`generate.containment`: a quarantine label
    and policy for scope "pod", a namespace default-deny egress for scope "namespace"), and
    its connectivity delta from the one verifier (`verify.verify`).

    Policies are additive: a deny policy cannot revoke what another policy selecting the
    pod allows. The residual lists what stays open and `kept_open_by` who keeps it open.
    """
    fix = containment(snapshot, pod, scope)
    policy = fix.policies[0]
    manifest = fix.manifests()[0]
    notes = list(fix.notes)
    commands = [shell_join(["kubectl", "apply", "-f", f"{policy.name}.yaml"])]
    if fix.labels:
        commands.append(shell_join(containment_label_argv(fix)))
    after_snapshot = fix.apply(snapshot)
    contained = after_snapshot.pod_by_key[pod.key]
    after = compute_exposure(after_snapshot, contained)
    dns = dns_target(snapshot)
    residual = tuple(r for r in after.outbound if not _is_dns(r, dns, snapshot))
    residual_in = after.inbound if scope == "pod" else ()
    kept: set[str] = set()
    for reach in residual:
        kept.update(ref.policy for ref, _ in reach.egress.rules)
    for reach in residual_in:
        kept.update(ref.policy for ref, _ in reach.ingress.rules)
    kept.update(ext.rule.policy for ext in after.external if ext.direction == "Egress" and ext.rule)
    kept.discard(policy.key)
    if not any(_is_dns(r, dns, snapshot) for r in after.outbound):
        notes.append("after containment the pod does not reach the DNS pods (check the DNS rule)")
    return Containment(
        scope,
        policy,
        manifest,
        tuple(commands),
        after,
        residual,
        residual_in,
        tuple(sorted(kept)),
        tuple(dict.fromkeys(notes)),
        verify(snapshot, fix),
    )


# ---------------------------------------------------------------- plain data


def _side(side: SideGrant) -> dict[str, Any]:
    return {
        "isolated": side.isolated,
        "ports": side.ports.to_dict(),
        "text": side.ports.describe(),
        "rules": [{"rule": str(ref), "ports": p.describe()} for ref, p in side.rules],
    }


def reach_to_dict(reach: Reach) -> dict[str, Any]:
    return {
        "namespace": reach.namespace,
        "workload": reach.workload,
        "kind": reach.kind,
        "pods": list(reach.pods),
        "all_ports": reach.all_ports,
        "allowed": reach.allowed.to_dict(),
        "text": reach.allowed.describe(),
        "ports": [
            {
                "port": g.port,
                "protocol": g.protocol,
                "name": g.name,
                "egress": str(g.egress) if g.egress else "not isolated",
                "ingress": str(g.ingress) if g.ingress else "not isolated",
                "services": list(g.services),
            }
            for g in reach.ports
        ],
        "undeclared": reach.undeclared.describe() if reach.undeclared else None,
        "egress": _side(reach.egress),
        "ingress": _side(reach.ingress),
    }


def exposure_to_dict(exposure: Exposure) -> dict[str, Any]:
    return {
        "pod": exposure.pod.key,
        "workload": f"{exposure.pod.namespace}/{exposure.workload}",
        "isolated": dict(exposure.isolated),
        "policies": {d: list(v) for d, v in exposure.policies.items()},
        "default_deny": {d: list(v) for d, v in exposure.default_deny.items()},
        "reaches": [reach_to_dict(r) for r in exposure.outbound],
        "reached_by": [reach_to_dict(r) for r in exposure.inbound],
        "services": [
            {
                "service": s.service,
                "port": s.port,
                "protocol": s.protocol,
                "target_port": s.target,
                "reachable_backends": list(s.reachable),
                "backends": s.backends,
            }
            for s in exposure.services
        ],
        "external": [
            {
                "direction": e.direction,
                "peer": e.peer,
                "ports": e.ports.describe(),
                "rule": str(e.rule) if e.rule else "not isolated",
            }
            for e in exposure.external
        ],
        "summary": {
            "reaches_pods": exposure.reachable_pods,
            "reaches_workloads": len({r.key for r in exposure.outbound}),
            "reached_by_pods": exposure.reached_by_pods,
        },
        "warnings": list(exposure.warnings),
    }


def containment_to_dict(c: Containment) -> dict[str, Any]:
    return {
        "scope": c.scope,
        "policy": c.manifest,
        "commands": list(c.commands),
        "residual": [reach_to_dict(r) for r in c.residual],
        "residual_inbound": [reach_to_dict(r) for r in c.residual_inbound],
        "kept_open_by": list(c.kept_open_by),
        "notes": list(c.notes),
        "closes": [f.to_dict() for f in c.verification.closes] if c.verification else [],
        "opens": [f.to_dict() for f in c.verification.opens] if c.verification else [],
    }
