"""The admin tiers compiled against pod classes (see `triage.policy.tiers` for the
semantics): `TierModel`, and the per-tier walk the tiered class matrix
(`matrix._tiered_class_matrix`) and exposure use.

Per direction, the side of a subject class toward a far class is, port by port:

    Admin tier (first matching rule: Accept / Deny final, Pass on)
    → NetworkPolicy (if the subject is isolated: its rules decide every port left)
    → Baseline tier (same walk) → allowed.

Subjects sharing the same admin rules, the same NetworkPolicy isolation and (for ingress)
the same named ports and address family share a side function; far classes that every
relevant rule treats alike share a value. So each side is computed once per (subject
group, far part), and the class matrix is filled with rectangles as in `matrix.py`.
Agreement with `engine.explain` pod by pod is a property test (tests/test_tiers_matrix.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from triage.model import Direction
from triage.model.admin import AdminPeer, AdminPolicy, AdminPort, AdminRule, AdminSelector, Tier
from triage.policy.classes import ALL_SPEC, ClusterModel, NamedKey, PortSpec
from triage.policy.portset import ALL_PORTS, NO_PORTS, PortSet


@dataclass(frozen=True, slots=True)
class TierRule:
    """An admin rule compiled against the classes: the far classes its peers match."""

    uid: int
    action: str  # Accept, Deny, Pass
    peer_bits: int
    spec: PortSpec
    policy: str = ""  # cnp/NAME, anp/NAME, banp/default
    index: int = 0  # the rule's position in its policy's direction


def _admin_spec(ports: tuple[AdminPort, ...]) -> PortSpec:
    if not ports:
        return ALL_SPEC
    by: dict[str, list[tuple[int, int]]] = {}
    named: list[tuple[str, str]] = []
    for port in ports:
        if port.name is not None:
            named.extend((proto, port.name) for proto in ("SCTP", "TCP", "UDP"))
        elif port.port is None:
            by.setdefault(str(port.protocol), []).append((1, 65535))
        else:
            end = port.end_port if port.end_port is not None else port.port
            by.setdefault(str(port.protocol), []).append((port.port, end))
    return PortSpec(PortSet(by), tuple(sorted(set(named))))  # type: ignore[arg-type]


class _Compiler:
    def __init__(self, model: ClusterModel) -> None:
        self.model = model
        self.host = 0
        for cls in model.classes:
            if cls.host_network:
                self.host |= 1 << cls.index
        self.pods_only = model.all_bits & ~self.host

    def selector_bits(self, selector: AdminSelector) -> int:
        bits = self.model.namespace_selector_bits(selector.namespace_selector)
        if selector.pod_selector is not None:
            bits &= self.model.pod_selector_bits(selector.pod_selector)
        return bits & self.pods_only  # never a host-network pod

    def peer_bits(self, peer: AdminPeer) -> int:
        if peer.selector is not None:
            return self.selector_bits(peer.selector)
        if peer.kind == "networks":
            from triage.model import IPBlock

            bits = 0
            blocks = self.model._block_bits[None]
            for cidr in peer.networks:
                bits |= blocks[self.model._block_index[IPBlock(cidr)]]
            return bits
        if peer.kind == "nodes" and (peer.node_selector is None or peer.node_selector.is_empty):
            # Node addresses are known from host-network pods: those classes.
            return self.host
        return 0  # domainNames, nodes by label: not decidable, treated as not matching

    def rule(self, uid: int, rule: AdminRule, policy: str, index: int) -> TierRule:
        if rule.fails_closed and rule.action != "Accept":
            return TierRule(uid, rule.action, self.model.all_bits, ALL_SPEC, policy, index)
        bits = 0
        for peer in rule.peers:
            bits |= self.peer_bits(peer)
        return TierRule(uid, rule.action, bits, _admin_spec(rule.ports), policy, index)


class TierModel:
    """The admin policies compiled against a ClusterModel's classes."""

    def __init__(self, model: ClusterModel) -> None:
        self.model = model
        compiler = _Compiler(model)
        ordered = sorted(model.snapshot.admin_policies, key=lambda p: (p.tier, p.rank))
        self.compiled: list[tuple[AdminPolicy, int, dict[Direction, tuple[TierRule, ...]]]] = []
        uid = 0
        for pol in ordered:
            per_direction: dict[Direction, tuple[TierRule, ...]] = {}
            for direction in ("Ingress", "Egress"):
                rules = []
                for i, rule in enumerate(pol.rules(direction)):
                    rules.append(compiler.rule(uid, rule, pol.key, i))
                    uid += 1
                per_direction[direction] = tuple(rules)
            self.compiled.append((pol, compiler.selector_bits(pol.subject), per_direction))
        self._memo: dict[tuple[int, Tier, Direction], tuple[TierRule, ...]] = {}
        self._interned: dict[tuple[TierRule, ...], tuple[TierRule, ...]] = {}

    def tier_rules(self, cls: int, tier: Tier, direction: Direction) -> tuple[TierRule, ...]:
        """The rules of `tier` for subject class `cls`, in evaluation order (none for a
        host-network class: never a subject)."""
        key = (cls, tier, direction)
        found = self._memo.get(key)
        if found is not None:
            return found
        out: list[TierRule] = []
        if not self.model.classes[cls].host_network:
            for pol, subject_bits, per_direction in self.compiled:
                if pol.tier == tier and subject_bits >> cls & 1:
                    out.extend(per_direction[direction])
        rules = tuple(out)
        # One tuple per distinct rule list: group keys then compare by identity first.
        found = self._memo[key] = self._interned.setdefault(rules, rules)
        return found

    def side(
        self, direction: Direction, subject: int, other: int
    ) -> tuple[PortSet, list[tuple[str, str, int, PortSet]]]:
        """What the `direction` side of class `subject` allows toward class `other` with
        every tier applied, and the rules that allow it in evaluation order:
        (tier, policy key, rule index, ports)."""
        model = self.model
        destination = other if direction == "Egress" else subject
        named = model.classes[destination].named_ports
        out: list[tuple[str, str, int, PortSet]] = []
        remaining = ALL_PORTS
        undecided = NO_PORTS
        for rule in self.tier_rules(subject, "Admin", direction):
            if not rule.peer_bits >> other & 1:
                continue
            ports = rule.spec.resolve(named) & remaining
            if not ports:
                continue
            if rule.action == "Accept":
                out.append(("Admin", rule.policy, rule.index, ports))
            elif rule.action == "Pass":
                undecided = undecided | ports
            remaining = remaining - ports
        undecided = undecided | remaining
        accepted = NO_PORTS
        for _, _, _, ports in out:
            accepted = accepted | ports
        if not undecided:
            return accepted, out
        contributions = model.contributions(direction, subject, other)
        if contributions is not None:
            for crule, ports in contributions:
                granted = ports & undecided
                if granted:
                    key = model.policies[crule.policy_index].policy.key
                    out.append(("NetworkPolicy", key, crule.index, granted))
                    accepted = accepted | granted
            return accepted, out
        remaining = undecided
        for rule in self.tier_rules(subject, "Baseline", direction):
            if not rule.peer_bits >> other & 1:
                continue
            ports = rule.spec.resolve(named) & remaining
            if not ports:
                continue
            if rule.action == "Accept":
                out.append(("Baseline", rule.policy, rule.index, ports))
                accepted = accepted | ports
            remaining = remaining - ports
            if rule.action == "Pass":
                out.append(("Default", "", -1, ports))
                accepted = accepted | ports
        if remaining:
            out.append(("Default", "", -1, remaining))
            accepted = accepted | remaining
        return accepted, out


_NOTHING_DECIDED = (NO_PORTS, ALL_PORTS)


def walk_tier(
    rules: tuple[TierRule, ...],
    far: int,
    named: Mapping[NamedKey, int],
    memo: dict[tuple[tuple[int, ...], int], tuple[PortSet, PortSet]],
    named_id: int,
) -> tuple[PortSet, PortSet]:
    """(accepted, undecided) ports of one tier toward class `far`; Pass counts as undecided.
    Memoised on the rules that match `far` (and the destination's named ports)."""
    matched = tuple(r.uid for r in rules if r.peer_bits >> far & 1)
    if not matched:
        return _NOTHING_DECIDED
    key = (matched, named_id)
    found = memo.get(key)
    if found is not None:
        return found
    remaining = ALL_PORTS
    accepted = NO_PORTS
    passed = NO_PORTS
    for rule in rules:
        if not rule.peer_bits >> far & 1:
            continue
        ports = rule.spec.resolve(named) & remaining
        if not ports:
            continue
        if rule.action == "Accept":
            accepted = accepted | ports
        elif rule.action == "Pass":
            passed = passed | ports
        remaining = remaining - ports
        if not remaining:
            break
    found = memo[key] = (accepted, remaining | passed)
    return found


def refine_parts(parts: list[int], splitter: int) -> list[int]:
    out: list[int] = []
    for bits in parts:
        inside = bits & splitter
        outside = bits & ~splitter
        if inside:
            out.append(inside)
        if outside:
            out.append(outside)
    return out
