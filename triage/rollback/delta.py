"""The connectivity delta of a policy change: which flows open and which close.

Asking the engine about every pod pair and every port would be quadratic in pods and far
too slow for a real cluster, so the delta works on *representatives*:

- one pod per workload (its owner, ReplicaSet hashes trimmed), the first by name;
- for each destination, its declared container ports; for a destination whose ingress
  changes, also the ports the changed rules name (pods often listen on undeclared ports);
  when a pod declares none, the ports the changed policies name (or, failing that, the
  ports any policy names);
- one address per ipBlock the changed policies mention, as an outside endpoint;
- and only the flows a change can affect: a policy acts on the egress of the pods it
  selects for Egress and the ingress of the pods it selects for Ingress, so a flow whose
  source and destination are both untouched keeps its verdict.

Cluster-scoped admin policies (ClusterNetworkPolicy, ANP, BANP) are judged the same way:
a changed admin policy acts on the egress of the pods its subject selects when it has egress
rules, and on their ingress when it has ingress rules; the ports its rules name join the
destination's declared ones, and one address per `networks` CIDR is an outside endpoint.

Every verdict comes from `triage.policy.explain` on `snapshot.with_policies(...)`, so the
delta says the same thing `triage explain` would.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from triage.model import (
    Direction,
    Flow,
    IPRef,
    NetworkPolicy,
    Pod,
    PodRef,
    Protocol,
    Snapshot,
)
from triage.model.admin import AdminPolicy
from triage.policy import Verdict, explain, selector_matches
from triage.policy.tiers import TierIndex, selects, tier_index
from triage.rollback.policyset import admin_equal, semantically_equal

PortKey = tuple[int, Protocol]


@dataclass(frozen=True, order=True)
class WorkloadRef:
    """A workload (or an outside address range) and the pod/IP that stands for it."""

    namespace: str  # "" for an address outside the cluster's pods
    workload: str  # the owner's name, or "ipBlock CIDR"
    member: str  # the representative: NS/POD, or the IP address

    @property
    def label(self) -> str:
        return f"{self.namespace}/{self.workload}" if self.namespace else self.workload


@dataclass(frozen=True, order=True)
class FlowChange:
    source: WorkloadRef
    destination: WorkloadRef
    port: int
    protocol: Protocol
    why: str  # opened: what allows it now; closed: what denies it now

    @property
    def port_label(self) -> str:
        return f"{self.port}/{self.protocol}"


@dataclass(frozen=True)
class DeltaGroup:
    """Changes to one destination workload and port: 'who can no longer reach X:8080'."""

    namespace: str
    destination: str  # workload label
    port: str  # "8080/TCP"
    sources: tuple[str, ...]
    why: tuple[str, ...]


@dataclass(frozen=True)
class Delta:
    opened: tuple[FlowChange, ...] = ()
    closed: tuple[FlowChange, ...] = ()
    checked: int = 0  # flows evaluated (before and after)

    @property
    def empty(self) -> bool:
        return not self.opened and not self.closed

    @property
    def opens_only(self) -> bool:
        return not self.closed

    def summary(self) -> str:
        if self.empty:
            return "no change in connectivity"
        return f"opens {len(self.opened)} flow(s), closes {len(self.closed)}"

    def groups(self, which: str) -> list[DeltaGroup]:
        changes = self.opened if which == "opened" else self.closed
        grouped: dict[tuple[str, str, str], list[FlowChange]] = defaultdict(list)
        for change in changes:
            ref = change.destination
            grouped[(ref.namespace, ref.label, change.port_label)].append(change)
        out = []
        for (ns, dst, port), items in sorted(grouped.items(), key=lambda kv: _group_order(kv[0])):
            sources = tuple(sorted({c.source.label for c in items}))
            why = tuple(sorted({c.why for c in items}))
            out.append(DeltaGroup(ns, dst, port, sources, why))
        return out


def _group_order(key: tuple[str, str, str]) -> tuple[str, str, int, str]:
    ns, dst, port = key
    number, _, proto = port.partition("/")
    return (ns, dst, int(number), proto)


# ---------------------------------------------------------------- representatives


def representatives(snapshot: Snapshot) -> list[Pod]:
    """One pod per (namespace, workload); hostNetwork and finished pods are left out
    (policies do not govern the first, the second send nothing)."""
    chosen: dict[tuple[str, str], Pod] = {}
    for pod in sorted(snapshot.pods, key=lambda p: p.key):
        if pod.host_network or pod.phase in ("Succeeded", "Failed"):
            continue
        chosen.setdefault((pod.namespace, pod.workload), pod)
    return [chosen[k] for k in sorted(chosen)]


def _ref(pod: Pod) -> WorkloadRef:
    return WorkloadRef(pod.namespace, pod.workload, pod.key)


def changed_policies(
    before: Iterable[NetworkPolicy], after: Iterable[NetworkPolicy]
) -> list[NetworkPolicy]:
    """Every version (old and new) of each policy that differs between the two sets."""
    a = {p.key: p for p in before}
    b = {p.key: p for p in after}
    out: list[NetworkPolicy] = []
    for key in sorted(a.keys() | b.keys()):
        old, new = a.get(key), b.get(key)
        if old is not None and new is not None and semantically_equal(old, new):
            continue
        out.extend(p for p in (old, new) if p is not None)
    return out


def changed_admin(before: Iterable[AdminPolicy], after: Iterable[AdminPolicy]) -> list[AdminPolicy]:
    """Every version (old and new) of each admin policy that differs between the sets."""
    a = {p.key: p for p in before}
    b = {p.key: p for p in after}
    out: list[AdminPolicy] = []
    for key in sorted(a.keys() | b.keys()):
        old, new = a.get(key), b.get(key)
        if old is not None and new is not None and admin_equal(old, new):
            continue
        out.extend(p for p in (old, new) if p is not None)
    return out


def _admin_selects(tix: TierIndex, policy: AdminPolicy, pod: Pod, direction: Direction) -> bool:
    return bool(policy.rules(direction)) and selects(tix, policy.subject, pod)


def _admin_ports(policies: Iterable[AdminPolicy], direction: Direction | None) -> set[PortKey]:
    """Numeric ports (range starts included) the admin rules name (one direction or both)."""
    out: set[PortKey] = set()
    for pol in policies:
        rules = (*pol.ingress, *pol.egress) if direction is None else pol.rules(direction)
        for rule in rules:
            for port in rule.ports:
                if port.port is not None and port.protocol is not None:
                    out.add((port.port, port.protocol))
    return out


def _admin_outside(policies: Iterable[AdminPolicy], snapshot: Snapshot) -> list[WorkloadRef]:
    taken = set(snapshot.pods_by_ip)
    seen: dict[str, WorkloadRef] = {}
    for pol in policies:
        for rule in (*pol.ingress, *pol.egress):
            for peer in rule.peers:
                for cidr in peer.networks:
                    label = f"networks {cidr}"
                    if label in seen:
                        continue
                    addr = _block_address(cidr, (), taken)
                    if addr is not None:
                        seen[label] = WorkloadRef("", label, addr)
    return [seen[k] for k in sorted(seen)]


def _selects(policy: NetworkPolicy, pod: Pod, direction: Direction) -> bool:
    return (
        policy.namespace == pod.namespace
        and direction in policy.policy_types
        and selector_matches(policy.pod_selector, pod.labels)
    )


def mentioned_ports(policies: Iterable[NetworkPolicy]) -> set[PortKey]:
    """Numeric ports (range starts included) that the policies' rules name."""
    out: set[PortKey] = set()
    for pol in policies:
        for rule in (*pol.ingress, *pol.egress):
            for pport in rule.ports:
                if isinstance(pport.port, int):
                    out.add((pport.port, pport.protocol))
    return out


def _block_address(cidr: str, excepts: Sequence[str], taken: set[str]) -> str | None:
    """An address inside `cidr`, outside every `except` and not a pod's IP."""
    net = ipaddress.ip_network(cidr, strict=False)
    nets = [ipaddress.ip_network(e, strict=False) for e in excepts]
    candidates = [net.network_address] if net.num_addresses == 1 else []
    if net.num_addresses > 1:
        step = max(1, net.num_addresses // 64)
        candidates = [
            net.network_address + min(1 + i * step, net.num_addresses - 1) for i in range(64)
        ]
    for addr in candidates:
        if str(addr) in taken or any(addr in n for n in nets):
            continue
        return str(addr)
    return None


def _outside_endpoints(policies: Iterable[NetworkPolicy], snapshot: Snapshot) -> list[WorkloadRef]:
    taken = set(snapshot.pods_by_ip)
    seen: dict[str, WorkloadRef] = {}
    for pol in policies:
        for rule in (*pol.ingress, *pol.egress):
            for peer in rule.peers:
                block = peer.ip_block
                if block is None:
                    continue
                label = f"ipBlock {block.cidr}" + (
                    f" except {','.join(block.excepts)}" if block.excepts else ""
                )
                if label in seen:
                    continue
                addr = _block_address(block.cidr, block.excepts, taken)
                if addr is not None:
                    seen[label] = WorkloadRef("", label, addr)
    return [seen[k] for k in sorted(seen)]


# ---------------------------------------------------------------- verdicts


def _denier(verdict: Verdict) -> str:
    """Which side denies, and by which policies."""
    for side in (verdict.egress, verdict.ingress):
        if not side.allowed:
            names = ", ".join(p.key for p in side.policies) or "?"
            where = (
                "egress of the source"
                if side.direction == "Egress"
                else "ingress of the destination"
            )
            return f"denied at the {where} by {names}"
    if verdict.blocked_by is not None:
        return verdict.blocked_by.text
    return "denied"


def _allower(before: Verdict, after: Verdict) -> str:
    """What lets the flow through now, on the side that used to deny it."""
    parts = []
    for old, new in ((before.egress, after.egress), (before.ingress, after.ingress)):
        if old.allowed:
            continue
        where = "egress" if new.direction == "Egress" else "ingress"
        if new.decision is not None:
            parts.append(f"allowed by {new.decision.policy} {where} rule #{new.decision.rule}")
        else:
            parts.append(f"{where} no longer isolated")
    return "; ".join(parts) or "allowed"


class _Evaluator:
    def __init__(self, before: Snapshot, after: Snapshot) -> None:
        self.before = before
        self.after = after
        self.checked = 0
        self.opened: list[FlowChange] = []
        self.closed: list[FlowChange] = []
        self._done: set[tuple[str, str, int, str]] = set()

    def check(self, src: WorkloadRef, dst: WorkloadRef, port: int, protocol: Protocol) -> None:
        key = (src.member, dst.member, port, protocol)
        if key in self._done or src.member == dst.member:
            return
        self._done.add(key)
        flow = Flow(_endpoint(src), _endpoint(dst), port, protocol)
        old = explain(self.before, flow).verdicts
        new = explain(self.after, flow).verdicts
        self.checked += 2
        if not old or not new:
            return
        was, now = old[0], new[0]
        if was.allowed == now.allowed:
            return
        if now.allowed:
            self.opened.append(FlowChange(src, dst, port, protocol, _allower(was, now)))
        else:
            self.closed.append(FlowChange(src, dst, port, protocol, _denier(now)))


def _endpoint(ref: WorkloadRef) -> PodRef | IPRef:
    if ref.namespace:
        ns, _, name = ref.member.partition("/")
        return PodRef(ns, name)
    return IPRef(ref.member)


def connectivity_delta(
    snapshot: Snapshot,
    before: Sequence[NetworkPolicy],
    after: Sequence[NetworkPolicy],
    *,
    reps: Sequence[Pod] | None = None,
    admin_before: Sequence[AdminPolicy] | None = None,
    admin_after: Sequence[AdminPolicy] | None = None,
) -> Delta:
    """Flows between representative workloads whose verdict differs between the two sets.

    `snapshot` supplies the pods, namespaces and Services; its own NetworkPolicies are
    ignored. Its admin policies apply on both sides unless `admin_before` / `admin_after`
    give the admin set of each side.
    """
    adm_before = tuple(snapshot.admin_policies if admin_before is None else admin_before)
    adm_after = tuple(snapshot.admin_policies if admin_after is None else admin_after)
    changed = changed_policies(before, after)
    changed_adm = changed_admin(adm_before, adm_after)
    if not changed and not changed_adm:
        return Delta()
    pods = list(reps) if reps is not None else representatives(snapshot)
    tix = tier_index(snapshot.with_admin_policies(tuple(changed_adm))) if changed_adm else None

    def hit(pod: Pod, direction: Direction) -> bool:
        if any(_selects(c, pod, direction) for c in changed):
            return True
        return tix is not None and any(_admin_selects(tix, a, pod, direction) for a in changed_adm)

    egress_hit = [p for p in pods if hit(p, "Egress")]
    ingress_hit = [p for p in pods if hit(p, "Ingress")]
    if not egress_hit and not ingress_hit:
        return Delta()
    all_ports = mentioned_ports(changed) | _admin_ports(changed_adm, None) or mentioned_ports(
        (*before, *after)
    ) | _admin_ports((*adm_before, *adm_after), None)

    def named(pod: Pod, direction: Direction) -> set[PortKey]:
        """Ports named by the rules of changed policies that select `pod`."""
        hits = [c for c in changed if _selects(c, pod, direction)]
        rules = [r for c in hits for r in c.rules(direction)]
        out = {(pp.port, pp.protocol) for r in rules for pp in r.ports if isinstance(pp.port, int)}
        if tix is not None:
            admin_hits = [a for a in changed_adm if _admin_selects(tix, a, pod, direction)]
            out |= _admin_ports(admin_hits, direction)
        return out

    def own(pod: Pod) -> set[PortKey]:
        return {(cp.port, cp.protocol) for cp in pod.ports}

    evaluator = _Evaluator(
        snapshot.with_policies(tuple(before)).with_admin_policies(adm_before),
        snapshot.with_policies(tuple(after)).with_admin_policies(adm_after),
    )
    outside = _outside_endpoints(changed, snapshot) + _admin_outside(changed_adm, snapshot)
    for src in egress_hit:
        egress_ports = named(src, "Egress") or all_ports
        for dst in pods:
            for port, proto in sorted(own(dst) or egress_ports):
                evaluator.check(_ref(src), _ref(dst), port, proto)
        for ext in outside:
            for port, proto in sorted(egress_ports):
                evaluator.check(_ref(src), ext, port, proto)
    for dst in ingress_hit:
        dst_ports = sorted((own(dst) | named(dst, "Ingress")) or all_ports)
        for src in pods:
            for port, proto in dst_ports:
                evaluator.check(_ref(src), _ref(dst), port, proto)
        for ext in outside:
            for port, proto in dst_ports:
                evaluator.check(ext, _ref(dst), port, proto)
    return Delta(
        tuple(sorted(evaluator.opened)), tuple(sorted(evaluator.closed)), evaluator.checked
    )
