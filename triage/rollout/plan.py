"""A default-deny rollout plan: the candidate set, its verification against the observed
traffic, and the preview — computed by the engine, shown as the rollback plan shows a
change (the same `Plan`, `Delta` and applier).

    observed = Observed(flows)                                # or observed_from_incident(...)
    gen = generate(snapshot, ("develop",), observed)          # policies + verification
    rollout = plan_rollout(snapshot, ("develop",), observed, context="prod")
    rollout.plan                                              # a rollback Plan, allows first
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from triage.model import Flow, IPBlock, IPRef, NetworkPolicy, Pod, PodRef, Protocol, Snapshot
from triage.model.objects import IPAddress
from triage.policy import explain
from triage.policy.classes import ClusterModel, compile_snapshot
from triage.policy.dns import dns_target
from triage.policy.portset import PortSet
from triage.rollback.delta import representatives
from triage.rollback.plan import Plan, make_plan
from triage.rollback.policyset import PolicySet, scope_text
from triage.rollout.allows import (
    Generated,
    default_deny,
    dns_guardrail,
    dns_ingress,
    is_default_deny,
    is_generated,
    least_privilege_allows,
)
from triage.rollout.observed import Connection, Observed, Unresolved, resolve_all, touches

DNS_PORTS = PortSet.parse("UDP 53; TCP 53")


@dataclass(frozen=True)
class Check:
    """One observed connection, judged by the engine before and after the rollout."""

    connection: Connection
    before: bool
    after: bool

    @property
    def breaks(self) -> bool:
        return self.before and not self.after


@dataclass(frozen=True)
class OpenPath:
    """What a workload of the rollout namespaces may still open after it (or accept)."""

    source: str  # workload label (NS/workload)
    destination: str
    ports: str  # PortSet.describe()
    kind: str  # observed | dns | other

    def text(self) -> str:
        return f"{self.source} → {self.destination} {self.ports}"


@dataclass(frozen=True)
class Generation:
    """The candidate set and how the observed traffic fares under it."""

    namespaces: tuple[str, ...]
    observed: Observed
    generated: tuple[Generated, ...]
    candidates: tuple[NetworkPolicy, ...]  # current policies of the namespaces + generated
    connections: tuple[Connection, ...]
    unresolved: tuple[Unresolved, ...]
    checks: tuple[Check, ...]
    notes: tuple[str, ...] = ()

    @property
    def policies(self) -> tuple[NetworkPolicy, ...]:
        return tuple(g.policy for g in self.generated)

    @property
    def breaks(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.breaks)

    @property
    def kept(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.after)

    @property
    def already_denied(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.before and not c.after)


@dataclass(frozen=True)
class Rollout:
    generation: Generation
    plan: Plan
    open_paths: tuple[OpenPath, ...] = field(default=())

    @property
    def namespaces(self) -> tuple[str, ...]:
        return self.generation.namespaces

    @property
    def safe(self) -> bool:
        """No observed flow breaks (excluded ones were taken out before)."""
        return not self.generation.breaks


# ---------------------------------------------------------------- evaluation


def _egress_allows(
    policies: Sequence[NetworkPolicy], ip: str, port: int, protocol: Protocol
) -> bool:
    if not policies:
        return True
    address = ipaddress.ip_address(ip)
    for policy in policies:
        for rule in policy.egress:
            if rule.ports and not any(
                pp.protocol == protocol
                and (
                    pp.port is None
                    or (isinstance(pp.port, int) and pp.port <= port <= (pp.end_port or pp.port))
                )
                for pp in rule.ports
            ):
                continue
            if not rule.peers or any(_block_holds(peer.ip_block, address) for peer in rule.peers):
                return True
    return False


def _block_holds(block: IPBlock | None, address: IPAddress) -> bool:
    if block is None:
        return False
    network = block.network
    if address.version != network.version or address not in network:
        return False
    return not any(address in ipaddress.ip_network(e, strict=False) for e in block.excepts)


class _Judge:
    """Verdicts for connections under one policy set: the compiled class model for pod to
    pod (it agrees with `explain` pod by pod), the source's egress rules for a pod to an
    outside address, `explain` itself for the rest (tests/test_rollout.py checks that all
    three agree with `explain`)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.model: ClusterModel = compile_snapshot(snapshot)
        self._pairs: dict[tuple[int, int], PortSet] = {}
        self._explained: dict[tuple[str, str, int, str], bool] = {}
        self._outside: dict[tuple[tuple[int, ...], str, int, str], bool] = {}
        self._classes: dict[int, int] = {}  # id(pod) → class: a Pod's key is built per call

    def _class(self, pod: Pod) -> int:
        found = self._classes.get(id(pod))
        if found is None:
            found = self._classes[id(pod)] = self.model.class_of[pod.key]
        return found

    def allowed(self, c: Connection) -> bool:
        if c.source is not None and c.destination is not None:
            cs = self._class(c.source)
            cd = self._class(c.destination)
            ports = self._pairs.get((cs, cd))
            if ports is None:
                ports = self._pairs[(cs, cd)] = self.model.pair(cs, cd)
            return (c.protocol, c.port) in ports
        src = PodRef(c.source.namespace, c.source.name) if c.source else IPRef(str(c.source_ip))
        dst = (
            PodRef(c.destination.namespace, c.destination.name)
            if c.destination
            else IPRef(str(c.destination_ip))
        )
        if c.source is not None and c.destination is None:
            return self._egress_outside(c.source, str(c.destination_ip), c.port, c.protocol)
        # From outside (or between outside addresses): one explain per destination class
        # (pods of one class are indistinguishable to every policy).
        classes = self.model.class_of
        dst_key = f"class {classes[c.destination.key]}" if c.destination else str(dst)
        key = (str(src), dst_key, c.port, c.protocol)
        found = self._explained.get(key)
        if found is None:
            found = self._explained[key] = explain(
                self.snapshot, Flow(src, dst, c.port, c.protocol)
            ).allowed
        return found

    def _egress_outside(self, source: Pod, ip: str, port: int, protocol: Protocol) -> bool:
        """A pod to an address outside the pods: only the source's egress is judged. Not
        isolated: allowed. Else some rule of an isolating policy must name the port (a
        number: a port name resolves on a destination pod, and there is none) and have no
        peers or an ipBlock holding the address outside its excepts."""
        isolating = self.model.isolating["Egress"][self._class(source)]
        key = (isolating, ip, port, protocol)
        found = self._outside.get(key)
        if found is None:
            found = self._outside[key] = _egress_allows(
                [self.model.policies[i].policy for i in isolating], ip, port, protocol
            )
        return found


# ---------------------------------------------------------------- generation


def _named_apart(generated: list[Generated], existing: Sequence[NetworkPolicy]) -> list[Generated]:
    """Generated names never clash with a policy someone else wrote (a suffix is added);
    one an earlier rollout wrote is replaced."""
    taken = {p.key for p in existing if not is_generated(p)}
    out = []
    for g in generated:
        policy = g.policy
        name, n = policy.name, 2
        while f"{policy.namespace}/{name}" in taken:
            name = f"{policy.name[:58]}-{n}"
            n += 1
        taken.add(f"{policy.namespace}/{name}")
        if name != policy.name:
            manifest = dict(policy.manifest)
            manifest["metadata"] = {**manifest["metadata"], "name": name}
            policy = dataclasses.replace(policy, name=name, manifest=manifest)
        out.append(dataclasses.replace(g, policy=policy))
    return out


def generate(snapshot: Snapshot, namespaces: Sequence[str], observed: Observed) -> Generation:
    """Default-deny, the DNS guardrail and the least-privilege allows for `namespaces`,
    each observed connection judged by the engine under the current set and the candidate
    set."""
    scope = tuple(sorted(set(namespaces)))
    notes: list[str] = []
    missing = [ns for ns in scope if snapshot.namespace_labels(ns) is None]
    if missing:
        notes.append(f"namespace(s) not in the snapshot: {', '.join(missing)}")
    notes.extend(observed.notes)
    if observed.empty:
        notes.append(
            "no observed traffic given: only default-deny and the DNS guardrail are generated "
            "(every other flow of the namespaces closes)"
        )
    excluded = set(observed.excluded)
    flows = [f for f in observed.flows if f not in excluded]
    connections, unresolved = resolve_all(snapshot, flows)
    unique: dict[tuple[object, object, int, str], Connection] = {}
    for c in connections:
        if touches(c, scope):
            src = id(c.source) if c.source is not None else c.source_ip
            dst = id(c.destination) if c.destination is not None else c.destination_ip
            unique.setdefault((src, dst, c.port, c.protocol), c)
    relevant = list(unique.values())
    generated: list[Generated] = []
    for ns in scope:
        generated.append(dns_guardrail(snapshot, ns))
        extra = dns_ingress(snapshot, ns)
        if extra is not None:
            generated.append(extra)
    dns_pods = dns_target(snapshot)

    def dns(c: Connection) -> bool:
        return c.port == 53 and c.destination is not None and dns_pods.matches(c.destination)

    # DNS to the DNS pods is the guardrail's: no per-workload allow for it.
    generated.extend(least_privilege_allows(snapshot, scope, [c for c in relevant if not dns(c)]))
    generated.extend(default_deny(ns) for ns in scope)
    current = tuple(p for p in snapshot.policies if p.namespace in scope)
    generated = _named_apart(generated, current)
    for g in generated:
        notes.extend(g.notes)
    new_keys = {g.policy.key for g in generated}
    candidates = tuple(p for p in current if p.key not in new_keys) + tuple(
        g.policy for g in generated
    )
    outside = tuple(p for p in snapshot.policies if p.namespace not in scope)
    before = _Judge(snapshot)
    after = _Judge(snapshot.with_policies(outside + candidates))
    checks = tuple(Check(c, before.allowed(c), after.allowed(c)) for c in relevant)
    return Generation(
        namespaces=scope,
        observed=observed,
        generated=tuple(generated),
        candidates=candidates,
        connections=tuple(relevant),
        unresolved=tuple(unresolved),
        checks=checks,
        notes=tuple(dict.fromkeys(notes)),
    )


# ---------------------------------------------------------------- plan and preview


def _deny_last(plan: Plan) -> Plan:
    """Allows before denies: the default-deny creates run after every allow, so no moment
    of the apply has the namespace isolated without its guardrails."""
    ops = sorted(
        plan.operations,
        key=lambda op: isinstance(op.target, NetworkPolicy) and is_default_deny(op.target),
    )
    return dataclasses.replace(plan, operations=tuple(ops))


def _workload(pod: Pod) -> str:
    return f"{pod.namespace}/{pod.workload}"


def open_paths(snapshot: Snapshot, generation: Generation) -> tuple[OpenPath, ...]:
    """Between workloads (one representative each), what stays open after the rollout to or
    from the rollout namespaces: observed traffic, DNS, and anything else (other policies)."""
    after = snapshot.with_policies(
        tuple(p for p in snapshot.policies if p.namespace not in generation.namespaces)
        + generation.candidates
    )
    model = compile_snapshot(after)
    reps = representatives(after)
    scope = set(generation.namespaces)
    dns_pods = dns_target(snapshot)
    seen: dict[tuple[str, str], PortSet] = defaultdict(PortSet.empty)
    for check in generation.kept:
        c = check.connection
        if c.source is not None and c.destination is not None:
            key = (_workload(c.source), _workload(c.destination))
            seen[key] = seen[key] | PortSet.single(c.protocol, c.port)
    out: list[OpenPath] = []
    outside: dict[tuple[str, str], PortSet] = defaultdict(PortSet.empty)
    for check in generation.kept:  # observed flows to or from addresses outside the pods
        c = check.connection
        if c.source is None or c.destination is None:
            src = _workload(c.source) if c.source is not None else str(c.source_ip)
            dst = _workload(c.destination) if c.destination is not None else str(c.destination_ip)
            outside[(src, dst)] = outside[(src, dst)] | PortSet.single(c.protocol, c.port)
    for (src, dst), ports in outside.items():
        out.append(OpenPath(src, dst, ports.describe(), "observed"))
    for s in reps:
        cs = model.class_of[s.key]
        for d in reps:
            if s is d or (s.namespace not in scope and d.namespace not in scope):
                continue
            ports = model.pair(cs, model.class_of[d.key])
            if not ports:
                continue
            key = (_workload(s), _workload(d))
            is_dns = dns_pods.matches(d)
            if key in seen and ports <= seen[key]:
                kind = "observed"
            elif is_dns and ports <= DNS_PORTS:
                kind = "dns"
            else:
                kind = "other"
            out.append(OpenPath(key[0], key[1], ports.describe(), kind))
    return tuple(sorted(out, key=lambda p: (p.kind != "other", p.kind, p.source, p.destination)))


def plan_rollout(
    snapshot: Snapshot,
    namespaces: Sequence[str],
    observed: Observed,
    *,
    context: str | None,
    live_source: str = "",
    simulation: bool = False,
    server: str = "",
) -> Rollout:
    """The rollout as a rollback plan from the current set to the candidate set (scope: the
    rollout namespaces), with the preview."""
    generation = generate(snapshot, namespaces, observed)
    target = PolicySet(
        description=f"default-deny rollout of {scope_text(generation.namespaces)}",
        policies=generation.candidates,
        scope=generation.namespaces,
        context=context,
    )
    plan = make_plan(
        snapshot,
        target,
        context=context,
        live_scope=generation.namespaces,
        live_source=live_source,
        simulation=simulation,
        server=server,
    )
    return Rollout(generation, _deny_last(plan), open_paths(snapshot, generation))
