"""Pods grouped into equivalence classes, and policies compiled against them.

Two pods are equivalent when no policy of the snapshot can tell them apart: same namespace,
same values for every label key any pod selector mentions, the same ipBlocks matching their
IPs, the same numbers behind every named port a policy mentions, and the same hostNetwork
flag.

A connection uses one address family (as in `engine.explain`): the destination's primary IP
(its first) fixes it, and the source uses its first address of that family. So a class
records, per family, which ipBlocks its first address of that family falls in, and an
ingress rule's ipBlock peers are evaluated for the family of the destination.

The matrix, exposure and lint evaluate classes instead of pods, with class sets as Python
ints used as bitsets; the results agree with `engine.explain` pod by pod (see
tests/test_matrix.py).
"""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from triage.model import (
    PROTOCOLS,
    Direction,
    IPBlock,
    LabelSelector,
    NetworkPolicy,
    Peer,
    Pod,
    PolicyPort,
    Protocol,
    Snapshot,
)
from triage.policy.portset import ALL_PORTS, MAX_PORT, MIN_PORT, NO_PORTS, PortSet

NamedKey = tuple[Protocol, str]
OTHER_VALUE = "\x00other"  # stands for every label value no selector mentions
Family = int | None  # 4, 6, or None for a pod without an IP


def iter_bits(bits: int) -> Iterator[int]:
    """Indices of the set bits of `bits`, lowest first."""
    if bits.bit_count() > 64:
        text = bin(bits)[:1:-1]
        i = text.find("1")
        while i >= 0:
            yield i
            i = text.find("1", i + 1)
        return
    while bits:
        low = bits & -bits
        yield low.bit_length() - 1
        bits ^= low


# ---------------------------------------------------------------- port specs


@dataclass(frozen=True, slots=True)
class PortSpec:
    """A rule's `ports` before named ports are resolved on a destination."""

    numeric: PortSet
    named: tuple[NamedKey, ...] = ()

    @staticmethod
    def of(ports: Iterable[PolicyPort]) -> PortSpec:
        ports = tuple(ports)
        if not ports:
            return PortSpec(ALL_PORTS)
        by: dict[Protocol, list[tuple[int, int]]] = {}
        named: list[NamedKey] = []
        for pp in ports:
            if pp.port is None:
                by.setdefault(pp.protocol, []).append((MIN_PORT, MAX_PORT))
            elif isinstance(pp.port, str):
                if (pp.protocol, pp.port) not in named:
                    named.append((pp.protocol, pp.port))
            else:
                end = pp.end_port if pp.end_port is not None else pp.port
                by.setdefault(pp.protocol, []).append((pp.port, end))
        return PortSpec(PortSet(by), tuple(sorted(named)))

    def __or__(self, other: PortSpec) -> PortSpec:
        return PortSpec(
            self.numeric | other.numeric, tuple(sorted(set(self.named) | set(other.named)))
        )

    @property
    def is_empty(self) -> bool:
        return not self.numeric and not self.named

    def resolve(self, named_ports: Mapping[NamedKey, int]) -> PortSet:
        if not self.named:
            return self.numeric
        extra: dict[Protocol, list[tuple[int, int]]] = {}
        for key in self.named:
            number = named_ports.get(key)
            if number is not None:
                extra.setdefault(key[0], []).append((number, number))
        return self.numeric | PortSet(extra) if extra else self.numeric


EMPTY_SPEC = PortSpec(NO_PORTS)
ALL_SPEC = PortSpec(ALL_PORTS)


# ---------------------------------------------------------------- classes


@dataclass(slots=True)
class PodClass:
    index: int
    namespace: str
    pods: list[Pod]
    relevant_labels: tuple[tuple[str, str], ...]  # values no selector names: OTHER_VALUE
    family: Family  # the primary IP's family: the family of connections to these pods
    ip_v4: int  # bit i: ipBlock i matches the first IPv4 address
    ip_v6: int  # bit i: ipBlock i matches the first IPv6 address
    named_ports: Mapping[NamedKey, int]
    host_network: bool

    @property
    def ip_primary(self) -> int:
        """ipBlocks matching the address other pods connect to."""
        return self.ip_v4 if self.family == 4 else self.ip_v6 if self.family == 6 else 0

    @property
    def representative(self) -> Pod:
        return self.pods[0]


@dataclass(frozen=True, slots=True)
class CompiledRule:
    policy_index: int
    direction: Direction
    index: int
    peer_bits: int  # classes the peers match at their primary address (all if from/to empty)
    spec: PortSpec
    peer_bits_v4: int = -1  # ingress only, when ipBlocks make it differ: at the IPv4 address
    peer_bits_v6: int = -1

    def peers_for(self, family: Family) -> int:
        """The classes the peers match when the connection's family is `family` (that of
        the destination: for egress rules the far end itself, so always `peer_bits`)."""
        if family == 4 and self.peer_bits_v4 >= 0:
            return self.peer_bits_v4
        if family == 6 and self.peer_bits_v6 >= 0:
            return self.peer_bits_v6
        return self.peer_bits


@dataclass(slots=True)
class CompiledPolicy:
    index: int
    policy: NetworkPolicy
    selected: int  # classes the policy selects
    ingress: tuple[CompiledRule, ...] = ()
    egress: tuple[CompiledRule, ...] = ()

    def rules(self, direction: Direction) -> tuple[CompiledRule, ...]:
        return self.ingress if direction == "Ingress" else self.egress


def _ip_int(raw: str) -> tuple[int, int] | None:
    try:
        ip = ipaddress.ip_address(raw)
    except ValueError:
        return None
    return ip.version, int(ip)


def _net_range(text: str) -> tuple[int, int, int]:
    net = ipaddress.ip_network(text, strict=False)
    return net.version, int(net.network_address), int(net.broadcast_address)


@dataclass(slots=True)
class ClusterModel:
    """The snapshot compiled for set-at-a-time evaluation."""

    snapshot: Snapshot
    classes: list[PodClass]
    class_of: dict[str, int]  # pod key → class index
    policies: list[CompiledPolicy]
    ip_blocks: list[IPBlock]
    isolating: dict[Direction, list[tuple[int, ...]]]  # class → policy indices isolating it
    _label_index: dict[tuple[str, str], int] = field(default_factory=dict)
    _key_index: dict[str, int] = field(default_factory=dict)
    _ns_bits: dict[str, int] = field(default_factory=dict)
    _selector_cache: dict[LabelSelector, int] = field(default_factory=dict)
    _ns_selector_cache: dict[LabelSelector, int] = field(default_factory=dict)
    _block_bits: dict[Family, list[int]] = field(default_factory=dict)
    _block_index: dict[IPBlock, int] = field(default_factory=dict)

    @property
    def all_bits(self) -> int:
        return (1 << len(self.classes)) - 1

    def namespace_bits(self, namespace: str) -> int:
        return self._ns_bits.get(namespace, 0)

    # ------------------------------------------------------------- selectors

    def pod_selector_bits(self, selector: LabelSelector) -> int:
        """Classes whose pods match `selector` (in any namespace)."""
        cached = self._selector_cache.get(selector)
        if cached is not None:
            return cached
        everything = self.all_bits
        bits = everything
        for key, value in selector.match_labels:
            bits &= self._label_index.get((key, value), 0)
        for req in selector.match_expressions:
            if req.operator == "Exists":
                bits &= self._key_index.get(req.key, 0)
            elif req.operator == "DoesNotExist":
                bits &= everything & ~self._key_index.get(req.key, 0)
            else:
                hit = 0
                for v in req.values:
                    hit |= self._label_index.get((req.key, v), 0)
                bits &= hit if req.operator == "In" else everything & ~hit
        self._selector_cache[selector] = bits
        return bits

    def namespace_selector_bits(self, selector: LabelSelector) -> int:
        """Classes in the namespaces `selector` matches."""
        cached = self._ns_selector_cache.get(selector)
        if cached is not None:
            return cached
        from triage.policy.selectors import selector_matches

        bits = 0
        for ns, ns_bits in self._ns_bits.items():
            labels = self.snapshot.namespace_labels(ns) or {}
            if selector_matches(selector, labels):
                bits |= ns_bits
        self._ns_selector_cache[selector] = bits
        return bits

    def peer_bits(self, peer: Peer, policy_namespace: str, family: Family = None) -> int:
        """Classes matching `peer`; an ipBlock is checked against each class's address of
        `family` (None: its primary address)."""
        if peer.ip_block is not None:
            return self._block_bits[family][self._block_index[peer.ip_block]]
        if peer.namespace_selector is None:
            bits = self.namespace_bits(policy_namespace)
        else:
            bits = self.namespace_selector_bits(peer.namespace_selector)
        if peer.pod_selector is not None:
            bits &= self.pod_selector_bits(peer.pod_selector)
        return bits

    def peers_bits(
        self, peers: tuple[Peer, ...], policy_namespace: str, family: Family = None
    ) -> int:
        if not peers:
            return self.all_bits
        bits = 0
        for peer in peers:
            bits |= self.peer_bits(peer, policy_namespace, family)
        return bits

    # ------------------------------------------------------------- evaluation

    def side(self, direction: Direction, subject: int, other: int) -> PortSet:
        """What the `direction` side of class `subject` allows with class `other` (the far
        end). Not isolated: every port."""
        pols = self.isolating[direction][subject]
        if not pols:
            return ALL_PORTS
        destination = other if direction == "Egress" else subject
        named = self.classes[destination].named_ports
        family = self.classes[destination].family
        out = NO_PORTS
        for pi in pols:
            for rule in self.policies[pi].rules(direction):
                if rule.peers_for(family) >> other & 1:
                    out = out | rule.spec.resolve(named)
                    if out.is_all:
                        return out
        return out

    def contributions(
        self, direction: Direction, subject: int, other: int
    ) -> list[tuple[CompiledRule, PortSet]] | None:
        """Every rule of the side that matches the far end, with the ports it allows there,
        in the engine's order (the first one allowing a port is the deciding rule). `None`
        when the side is not isolated."""
        pols = self.isolating[direction][subject]
        if not pols:
            return None
        destination = other if direction == "Egress" else subject
        named = self.classes[destination].named_ports
        family = self.classes[destination].family
        out = []
        for pi in pols:
            for rule in self.policies[pi].rules(direction):
                if rule.peers_for(family) >> other & 1:
                    ports = rule.spec.resolve(named)
                    if ports:
                        out.append((rule, ports))
        return out

    def pair(self, source: int, destination: int) -> PortSet:
        """What a pod of class `source` may open to a pod of class `destination`."""
        egress = self.side("Egress", source, destination)
        if not egress:
            return egress
        return egress & self.side("Ingress", destination, source)


def compile_snapshot(snapshot: Snapshot) -> ClusterModel:
    """Group the snapshot's pods into classes and compile every policy against them."""
    policies = snapshot.policies

    # Which label keys and values, named ports and ipBlocks can tell pods apart. A value no
    # selector mentions behaves like any other unmentioned value of its key (only Exists or
    # DoesNotExist can see it), so such values collapse into one: a per-pod label such as
    # statefulset.kubernetes.io/pod-name does not split classes unless a selector names it.
    mentioned: dict[str, set[str]] = {}
    named_keys: set[NamedKey] = set()
    blocks: list[IPBlock] = []
    block_index: dict[IPBlock, int] = {}

    def note_selector(sel: LabelSelector | None) -> None:
        if sel is None:
            return
        for k, v in sel.match_labels:
            mentioned.setdefault(k, set()).add(v)
        for r in sel.match_expressions:
            mentioned.setdefault(r.key, set()).update(r.values)

    for pol in policies:
        note_selector(pol.pod_selector)
        for rule in (*pol.ingress, *pol.egress):
            for peer in rule.peers:
                note_selector(peer.pod_selector)
                if peer.ip_block is not None and peer.ip_block not in block_index:
                    block_index[peer.ip_block] = len(blocks)
                    blocks.append(peer.ip_block)
            for pp in rule.ports:
                if isinstance(pp.port, str):
                    named_keys.add((pp.protocol, pp.port))
    # The admin tiers (ClusterNetworkPolicy, ANP, BANP) tell pods apart the same ways.
    for admin in snapshot.admin_policies:
        note_selector(admin.subject.pod_selector)
        for arule in (*admin.ingress, *admin.egress):
            for apeer in arule.peers:
                if apeer.selector is not None:
                    note_selector(apeer.selector.pod_selector)
                for cidr in apeer.networks:
                    block = IPBlock(cidr)
                    if block not in block_index:
                        block_index[block] = len(blocks)
                        blocks.append(block)
            for aport in arule.ports:
                if aport.name is not None:  # resolved with the connection's protocol
                    named_keys.update((proto, aport.name) for proto in PROTOCOLS)
    sorted_keys = sorted(mentioned)
    sorted_named = sorted(named_keys)

    ip_sigs = _ip_signatures(snapshot.pods, blocks)

    classes: list[PodClass] = []
    class_of: dict[str, int] = {}
    by_key: dict[tuple[object, ...], int] = {}
    for pod, (family, sig4, sig6) in zip(snapshot.pods, ip_sigs, strict=True):
        labels = pod.labels
        relevant = tuple(
            (k, v if v in mentioned[k] else OTHER_VALUE)
            for k in sorted_keys
            if (v := labels.get(k)) is not None
        )
        named: tuple[tuple[NamedKey, int], ...] = ()
        if sorted_named and pod.containers:
            found = []
            for nk in sorted_named:
                number = pod.named_port(nk[1], nk[0])
                if number is not None:
                    found.append((nk, number))
            named = tuple(found)
        key = (pod.namespace, relevant, family, sig4, sig6, named, pod.host_network)
        idx = by_key.get(key)
        if idx is None:
            idx = len(classes)
            by_key[key] = idx
            classes.append(
                PodClass(
                    idx,
                    pod.namespace,
                    [],
                    relevant,
                    family,
                    sig4,
                    sig6,
                    dict(named),
                    pod.host_network,
                )
            )
        classes[idx].pods.append(pod)
        class_of[pod.key] = idx

    model = ClusterModel(
        snapshot=snapshot,
        classes=classes,
        class_of=class_of,
        policies=[],
        ip_blocks=blocks,
        isolating={"Ingress": [() for _ in classes], "Egress": [() for _ in classes]},
    )
    for cls in classes:
        bit = 1 << cls.index
        model._ns_bits[cls.namespace] = model._ns_bits.get(cls.namespace, 0) | bit
        for k, v in cls.relevant_labels:
            model._label_index[(k, v)] = model._label_index.get((k, v), 0) | bit
            model._key_index[k] = model._key_index.get(k, 0) | bit
    block_bits: dict[Family, list[int]] = {f: [0] * len(blocks) for f in (None, 4, 6)}
    for cls in classes:
        bit = 1 << cls.index
        for family, sig in ((None, cls.ip_primary), (4, cls.ip_v4), (6, cls.ip_v6)):
            for b in iter_bits(sig):
                block_bits[family][b] |= bit
    model._block_bits = block_bits
    model._block_index = block_index

    isolating: dict[Direction, list[list[int]]] = {
        "Ingress": [[] for _ in classes],
        "Egress": [[] for _ in classes],
    }
    # The engine's order: a namespace's policies by name.
    ordered = sorted(policies, key=lambda p: (p.namespace, p.name))
    for pi, pol in enumerate(ordered):
        selected = model.namespace_bits(pol.namespace) & model.pod_selector_bits(pol.pod_selector)
        compiled = CompiledPolicy(pi, pol, selected)
        ingress = []
        for i, r in enumerate(pol.ingress):
            primary = model.peers_bits(r.peers, pol.namespace)
            v4 = v6 = -1
            if any(p.ip_block is not None for p in r.peers):
                v4 = model.peers_bits(r.peers, pol.namespace, 4)
                v6 = model.peers_bits(r.peers, pol.namespace, 6)
            ingress.append(CompiledRule(pi, "Ingress", i, primary, PortSpec.of(r.ports), v4, v6))
        compiled.ingress = tuple(ingress)
        compiled.egress = tuple(
            CompiledRule(
                pi, "Egress", i, model.peers_bits(r.peers, pol.namespace), PortSpec.of(r.ports)
            )
            for i, r in enumerate(pol.egress)
        )
        model.policies.append(compiled)
        for direction in pol.policy_types:
            lists = isolating[direction]
            for c in iter_bits(selected):
                lists[c].append(pi)
    model.isolating = {d: [tuple(x) for x in lists] for d, lists in isolating.items()}
    return model


def _ip_signatures(pods: tuple[Pod, ...], blocks: list[IPBlock]) -> list[tuple[Family, int, int]]:
    """For each pod: the family of its primary IP, and the bitsets of `blocks` its first
    IPv4 and first IPv6 address fall in (inside the cidr, outside every except), computed
    over the cells the blocks' boundaries cut the address space into."""
    out: list[tuple[Family, int, int]] = []
    if not blocks:
        for pod in pods:
            first = _ip_int(pod.ips[0]) if pod.ips else None
            out.append((first[0] if first else None, 0, 0))
        return out
    # Boundaries per IP version; a cell is [starts[i], starts[i+1]).
    bounds: dict[int, set[int]] = {4: {0}, 6: {0}}
    parsed: list[tuple[int, int, int, list[tuple[int, int]]]] = []
    for block in blocks:
        version, lo, hi = _net_range(block.cidr)
        excepts = []
        for exc in block.excepts:
            ev, elo, ehi = _net_range(exc)
            if ev == version:
                excepts.append((elo, ehi))
                bounds[version].update((elo, ehi + 1))
        bounds[version].update((lo, hi + 1))
        parsed.append((version, lo, hi, excepts))
    starts = {v: sorted(b) for v, b in bounds.items()}
    cell_sig: dict[int, list[int]] = {v: [0] * len(s) for v, s in starts.items()}
    for bi, (version, lo, hi, excepts) in enumerate(parsed):
        s = starts[version]
        sig = cell_sig[version]
        first_cell = bisect.bisect_right(s, lo) - 1
        last_cell = bisect.bisect_right(s, hi) - 1
        excluded: set[int] = set()
        for elo, ehi in excepts:
            e_first = bisect.bisect_right(s, elo) - 1
            e_last = bisect.bisect_right(s, ehi) - 1
            excluded.update(range(e_first, e_last + 1))
        bit = 1 << bi
        for cell in range(first_cell, last_cell + 1):
            if cell not in excluded:
                sig[cell] |= bit
    for pod in pods:
        family: Family = None
        sigs: dict[int, int] = {}
        for raw in pod.ips:
            parsed_ip = _ip_int(raw)
            if parsed_ip is None:
                continue
            version, value = parsed_ip
            if family is None:
                family = version
            if version in sigs:
                continue
            cell = bisect.bisect_right(starts[version], value) - 1
            sigs[version] = cell_sig[version][cell]
        out.append((family, sigs.get(4, 0), sigs.get(6, 0)))
    return out
