"""The reachability matrix: for every pair of workloads, the protocols and ports allowed.

Computed over pod equivalence classes (`classes.py`) in three steps:

1. For each distinct set of egress policies isolating a source class, partition the
   destination classes by the ports the rules allow them (a rule's peers are a class bitset,
   its ports a `PortSpec`); likewise for ingress over source classes.
2. Source classes sharing an egress partition and destination classes sharing an ingress
   partition form groups; each (group, group) pair yields rectangular blocks
   `sources × destinations → egress ports ∩ ingress ports`, named ports resolved per
   destination class.
3. The blocks fill a class × class table of interned port-set ids, from which workload cells
   are read.

The answer agrees with `engine.explain` for every pod pair and port (tests/test_matrix.py).
"""

from __future__ import annotations

import csv
import io
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from triage.model import Direction, Pod, Protocol, Snapshot
from triage.policy.classes import (
    ALL_SPEC,
    EMPTY_SPEC,
    ClusterModel,
    Family,
    NamedKey,
    PortSpec,
    compile_snapshot,
    iter_bits,
)
from triage.policy.portset import ALL_PORTS, NO_PORTS, PortSet
from triage.policy.tiers_matrix import TierModel, refine_parts, walk_tier

# ---------------------------------------------------------------- class matrix


@dataclass(slots=True)
class ClassMatrix:
    """`rows[s][d]` is the id (into `portsets`) of what class s may open to class d."""

    model: ClusterModel
    portsets: list[PortSet]
    rows: list[array[int]]

    def get(self, source: int, destination: int) -> PortSet:
        return self.portsets[self.rows[source][destination]]

    def pod_ports(self, source: Pod, destination: Pod) -> PortSet:
        return self.get(self.model.class_of[source.key], self.model.class_of[destination.key])


class _Interner:
    def __init__(self) -> None:
        self.items: list[PortSet] = [NO_PORTS]
        self.ids: dict[PortSet, int] = {NO_PORTS: 0}

    def id(self, ports: PortSet) -> int:
        found = self.ids.get(ports)
        if found is None:
            found = len(self.items)
            self.ids[ports] = found
            self.items.append(ports)
        return found


def _partition(
    rules: Iterable[tuple[int, PortSpec]],
    universe: int,
    union: dict[tuple[PortSpec, PortSpec], PortSpec],
) -> tuple[tuple[int, PortSpec], ...]:
    """Split `universe` (a class bitset) by the union of the specs of the rules covering
    each class; parts with nothing allowed are dropped."""
    parts: dict[PortSpec, int] = {EMPTY_SPEC: universe}
    for bits, spec in rules:
        if not bits or spec.is_empty:
            continue
        new: dict[PortSpec, int] = {}
        for pspec, pbits in parts.items():
            inside = pbits & bits
            if inside:
                key = (pspec, spec)
                merged = union.get(key)
                if merged is None:
                    merged = spec if pspec is EMPTY_SPEC else pspec | spec
                    union[key] = merged
                new[merged] = new.get(merged, 0) | inside
                outside = pbits & ~bits
                if outside:
                    new[pspec] = new.get(pspec, 0) | outside
            else:
                new[pspec] = new.get(pspec, 0) | pbits
        parts = new
    return tuple(sorted(((b, s) for s, b in parts.items() if not s.is_empty), key=lambda x: x[0]))


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    """Contiguous runs [start, stop) of sorted indices."""
    runs: list[tuple[int, int]] = []
    start = prev = -2
    for i in indices:
        if i != prev + 1:
            if start >= 0:
                runs.append((start, prev + 1))
            start = i
        prev = i
    if start >= 0:
        runs.append((start, prev + 1))
    return runs


def _fill(rows: list[array[int]], sources: int, destinations: int, pid: int) -> None:
    """Set rows[s][d] = pid for every source class s and destination class d (bitsets),
    a contiguous run of destinations at a time."""
    dst_runs = _runs(list(iter_bits(destinations)))
    templates = {length: array("I", [pid]) * length for length in {b - a for a, b in dst_runs}}
    for s in iter_bits(sources):
        row = rows[s]
        for a, b in dst_runs:
            row[a:b] = templates[b - a]


def class_matrix(model: ClusterModel) -> ClassMatrix:
    if model.snapshot.admin_policies:
        # The admin tiers around NetworkPolicy: a separate walk (tiers_matrix.py).
        return _tiered_class_matrix(model)
    n = len(model.classes)
    everything = model.all_bits
    union_memo: dict[tuple[PortSpec, PortSpec], PortSpec] = {}
    interner = _Interner()
    rows = [array("I", bytes(4 * n)) for _ in range(n)]
    if n == 0:
        return ClassMatrix(model, interner.items, rows)

    def groups(direction: str) -> list[tuple[tuple[tuple[int, PortSpec], ...], int]]:
        # Ingress peers depend on the destination's address family (see classes.py).
        by_sig: dict[tuple[tuple[int, ...], Family], int] = {}
        for c, sig in enumerate(model.isolating[direction]):  # type: ignore[index]
            family = model.classes[c].family if direction == "Ingress" and sig else None
            by_sig[(sig, family)] = by_sig.get((sig, family), 0) | (1 << c)
        merged: dict[tuple[tuple[int, PortSpec], ...], int] = {}
        for (sig, family), members in by_sig.items():
            if not sig:
                parts: tuple[tuple[int, PortSpec], ...] = ((everything, ALL_SPEC),)
            else:
                rules = [
                    (rule.peers_for(family), rule.spec)
                    for pi in sig
                    for rule in model.policies[pi].rules(direction)  # type: ignore[arg-type]
                ]
                parts = _partition(rules, everything, union_memo)
            merged[parts] = merged.get(parts, 0) | members
        return list(merged.items())

    egress_groups = groups("Egress")
    ingress_groups = groups("Ingress")

    # Destination classes grouped by the named ports they resolve (for specs with names).
    named_groups: dict[tuple[tuple[NamedKey, int], ...], int] = {}
    for cls in model.classes:
        key = tuple(sorted(cls.named_ports.items()))
        named_groups[key] = named_groups.get(key, 0) | (1 << cls.index)
    named_list = [(dict(k), bits) for k, bits in named_groups.items()]

    inter_memo: dict[tuple[PortSpec, PortSpec, int], int] = {}

    def fill(sources: int, destinations: int, pid: int) -> None:
        _fill(rows, sources, destinations, pid)

    for eparts, src_bits in egress_groups:
        e_any = 0
        for eb, _ in eparts:
            e_any |= eb
        for iparts, dst_bits in ingress_groups:
            if not e_any & dst_bits:
                continue
            i_sub = [(ib & src_bits, ispec) for ib, ispec in iparts if ib & src_bits]
            if not i_sub:
                continue
            for eb, espec in eparts:
                d = eb & dst_bits
                if not d:
                    continue
                for ib, ispec in i_sub:
                    if not espec.named and not ispec.named:
                        pid = inter_memo.get((espec, ispec, -1))
                        if pid is None:
                            pid = interner.id(espec.numeric & ispec.numeric)
                            inter_memo[(espec, ispec, -1)] = pid
                        if pid:
                            fill(ib, d, pid)
                        continue
                    for gi, (nmap, gbits) in enumerate(named_list):
                        dd = d & gbits
                        if not dd:
                            continue
                        pid = inter_memo.get((espec, ispec, gi))
                        if pid is None:
                            pid = interner.id(espec.resolve(nmap) & ispec.resolve(nmap))
                            inter_memo[(espec, ispec, gi)] = pid
                        if pid:
                            fill(ib, dd, pid)
    return ClassMatrix(model, interner.items, rows)


def _tiered_class_matrix(model: ClusterModel) -> ClassMatrix:
    """`class_matrix` with the admin tiers (tiers_matrix.py has the walk)."""
    classes = model.classes
    n = len(classes)
    everything = model.all_bits
    interner = _Interner()
    rows = [array("I", bytes(4 * n)) for _ in range(n)]
    if n == 0:
        return ClassMatrix(model, interner.items, rows)
    tiers = TierModel(model)
    tier_rules = tiers.tier_rules

    union_memo: dict[tuple[PortSpec, PortSpec], PortSpec] = {}
    named_by_class: list[Mapping[NamedKey, int]] = [dict(c.named_ports) for c in classes]
    # Destination classes grouped by the named ports they resolve (egress far ends).
    seen: dict[tuple[tuple[NamedKey, int], ...], int] = {}
    for cls in classes:
        k = tuple(sorted(cls.named_ports.items()))
        seen[k] = seen.get(k, 0) | (1 << cls.index)
    named_groups = list(seen.values()) if len(seen) > 1 else []
    named_id_of = [0] * n
    for gid, bits in enumerate(seen.values()):
        for c in iter_bits(bits):
            named_id_of[c] = gid
    walk_memo: dict[tuple[tuple[int, ...], int], tuple[PortSet, PortSet]] = {}
    combine_memo: dict[tuple[PortSet, PortSet], PortSet] = {}

    def groups(direction: Direction) -> list[tuple[int, list[tuple[int, PortSet]]]]:
        by_key: dict[tuple[tuple[int, ...], Family, object, object, object], int] = {}
        for c, sig in enumerate(model.isolating[direction]):
            cls = classes[c]
            family: Family = cls.family if direction == "Ingress" and sig else None
            named_sig = tuple(sorted(cls.named_ports.items())) if direction == "Ingress" else ()
            admin = tier_rules(c, "Admin", direction)
            base = tier_rules(c, "Baseline", direction)
            # Rule lists are interned by TierModel (kept alive there): identity is equality.
            key: tuple[tuple[int, ...], Family, object, object, object] = (
                sig,
                family,
                named_sig,
                id(admin),
                id(base),
            )
            by_key[key] = by_key.get(key, 0) | (1 << c)
        merged: dict[tuple[tuple[int, PortSet], ...], int] = {}
        for key, members in by_key.items():
            sig, family, _, _, _ = key
            subject = next(iter_bits(members))
            admin = tier_rules(subject, "Admin", direction)
            base = tier_rules(subject, "Baseline", direction)
            isolated = bool(sig)
            v1_parts: tuple[tuple[int, PortSpec], ...] = ()
            if isolated:
                v1_rules = [
                    (rule.peers_for(family), rule.spec)
                    for pi in sig
                    for rule in model.policies[pi].rules(direction)
                ]
                v1_parts = _partition(v1_rules, everything, union_memo)
            parts = [everything]
            for rule in admin + (() if isolated else base):
                parts = refine_parts(parts, rule.peer_bits)
            for bits, _ in v1_parts:
                parts = refine_parts(parts, bits)
            if direction == "Egress":
                for bits in named_groups:
                    parts = refine_parts(parts, bits)
            by_value: dict[PortSet, int] = {}
            for part in parts:
                far = next(iter_bits(part))
                destination = far if direction == "Egress" else subject
                named = named_by_class[destination]
                named_id = named_id_of[destination]
                accepted, undecided = walk_tier(admin, far, named, walk_memo, named_id)
                if undecided:
                    if isolated:
                        allowed = NO_PORTS
                        for bits, spec in v1_parts:
                            if bits >> far & 1:
                                allowed = spec.resolve(named)
                                break
                    else:
                        b_acc, b_und = walk_tier(base, far, named, walk_memo, named_id)
                        allowed = b_acc | b_und
                    key2 = (undecided, allowed)
                    lower = combine_memo.get(key2)
                    if lower is None:
                        lower = combine_memo[key2] = undecided & allowed
                    accepted = accepted | lower
                if accepted:
                    by_value[accepted] = by_value.get(accepted, 0) | part
            value = tuple(sorted(((bits, ps) for ps, bits in by_value.items()), key=lambda x: x[0]))
            merged[value] = merged.get(value, 0) | members
        # Subject groups that came out alike are one group: fewer rectangles to fill.
        return [(members, list(value)) for value, members in merged.items()]

    egress_groups = groups("Egress")
    ingress_groups = groups("Ingress")
    inter_memo: dict[tuple[PortSet, PortSet], int] = {}

    def fill(sources: int, destinations: int, pid: int) -> None:
        _fill(rows, sources, destinations, pid)

    for src_bits, eparts in egress_groups:
        for dst_bits, iparts in ingress_groups:
            i_sub = [(ib & src_bits, ips) for ib, ips in iparts if ib & src_bits]
            if not i_sub:
                continue
            for eb, eps in eparts:
                d = eb & dst_bits
                if not d:
                    continue
                for ib, ips in i_sub:
                    key = (eps, ips)
                    pid = inter_memo.get(key)
                    if pid is None:
                        pid = interner.id(eps & ips)
                        inter_memo[key] = pid
                    if pid:
                        fill(ib, d, pid)
    return ClassMatrix(model, interner.items, rows)


# ---------------------------------------------------------------- workloads


@dataclass(frozen=True, slots=True)
class Workload:
    namespace: str
    name: str
    kind: str  # owner kind (ReplicaSet hashes trimmed → Deployment), or "Pod" / "Pods"
    pods: tuple[Pod, ...]

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def labels(self) -> dict[str, str]:
        """Labels every pod of the workload carries."""
        common = dict(self.pods[0].labels)
        for pod in self.pods[1:]:
            common = {k: v for k, v in common.items() if pod.labels.get(k) == v}
        return common


def _owner_kind(pod: Pod) -> str:
    owner = pod.owner
    if owner is None:
        return "Pod"
    if owner.kind == "ReplicaSet" and pod.workload != owner.name:
        return "Deployment"
    if owner.kind == "Job" and "-" in owner.name:
        return "Job"
    return owner.kind


def group_workloads(pods: Iterable[Pod]) -> list[Workload]:
    """Pods grouped by owner; pods without one by identical labels (per namespace)."""
    grouped: dict[tuple[Any, ...], list[Pod]] = {}
    for pod in pods:
        if pod.owner is not None:
            key: tuple[Any, ...] = ("owner", pod.namespace, _owner_kind(pod), pod.workload)
        else:
            key = ("labels", pod.namespace, tuple(sorted(pod.labels.items())))
        grouped.setdefault(key, []).append(pod)
    out: list[Workload] = []
    for key, members in grouped.items():
        members.sort(key=lambda p: p.name)
        if key[0] == "owner":
            out.append(Workload(key[1], key[3], key[2], tuple(members)))
        elif len(members) == 1 or not key[2]:
            for pod in members:
                out.append(Workload(pod.namespace, pod.name, "Pod", (pod,)))
        else:
            labels = ",".join(f"{k}={v}" for k, v in key[2])
            out.append(Workload(key[1], f"[{labels}]", "Pods", tuple(members)))
    out.sort(key=lambda w: (w.namespace, w.name))
    return out


@dataclass(frozen=True, slots=True)
class Cell:
    source: int  # index into Matrix.workloads
    destination: int
    ports: PortSet  # allowed for at least one pod pair
    common: PortSet  # allowed for every pod pair
    self_only: bool = False  # a single-pod workload to itself: only the pod's own traffic

    @property
    def uniform(self) -> bool:
        return self.ports == self.common


@dataclass(frozen=True, slots=True)
class PortQuery:
    protocol: Protocol
    port: int | str


CellValue = tuple[PortSet, PortSet, bool]  # ports, common, self_only


@dataclass
class Matrix:
    """`rows[i][j]` indexes `values` (0: nothing allowed) for workload i → workload j."""

    workloads: list[Workload]
    values: list[CellValue | None]
    rows: list[array[int]]
    port: PortQuery | None = None
    classes: int = 0
    pods: int = 0
    warnings: list[str] = field(default_factory=list)

    def cell(self, source: int, destination: int) -> Cell | None:
        value = self.values[self.rows[source][destination]]
        if value is None:
            return None
        return Cell(source, destination, *value)

    def iter_cells(self) -> Iterator[Cell]:
        """Every pair with something allowed, by source then destination."""
        values = self.values
        for i, row in enumerate(self.rows):
            for j, vid in enumerate(row):
                if vid:
                    value = values[vid]
                    assert value is not None
                    yield Cell(i, j, *value)

    @property
    def cells(self) -> dict[tuple[int, int], Cell]:
        return {(c.source, c.destination): c for c in self.iter_cells()}

    @property
    def count(self) -> int:
        return sum(len(row) - row.count(0) for row in self.rows)

    def index(self, key: str) -> int:
        for i, w in enumerate(self.workloads):
            if w.key == key:
                return i
        raise KeyError(key)


def _port_ports(query: PortQuery, pod: Pod) -> PortSet:
    """The single (protocol, port) the query means on `pod` (empty: named port missing)."""
    if isinstance(query.port, str):
        number = pod.named_port(query.port, query.protocol)
        if number is None:
            return NO_PORTS
        return PortSet.single(query.protocol, number)
    return PortSet.single(query.protocol, query.port)


def compute_matrix(
    snapshot: Snapshot,
    namespaces: Sequence[str] = (),
    port: PortQuery | None = None,
    model: ClusterModel | None = None,
) -> Matrix:
    """The workload × workload matrix of `snapshot` (restricted to pods of `namespaces`
    when given); with `port`, cells hold only that port."""
    model = model or compile_snapshot(snapshot)
    cm = class_matrix(model)
    only = set(namespaces)
    pods = [p for p in snapshot.pods if not only or p.namespace in only]
    workloads = group_workloads(pods)
    class_of = model.class_of
    portsets = cm.portsets
    rows = cm.rows

    # Per workload: its classes with how many of its pods each holds.
    wl_classes: list[dict[int, int]] = []
    for w in workloads:
        counts: dict[int, int] = {}
        for pod in w.pods:
            c = class_of[pod.key]
            counts[c] = counts.get(c, 0) + 1
        wl_classes.append(counts)

    # Per workload, as a destination: (class, the ports asked about there, pod count).
    wl_targets: list[list[tuple[int, PortSet | None, int]]] = []
    for w, counts in zip(workloads, wl_classes, strict=True):
        if port is None:
            wl_targets.append([(c, None, n) for c, n in counts.items()])
            continue
        grouped: dict[tuple[int, PortSet], int] = {}
        for pod in w.pods:
            key = (class_of[pod.key], _port_ports(port, pod))
            grouped[key] = grouped.get(key, 0) + 1
        wl_targets.append([(c, wanted, n) for (c, wanted), n in grouped.items()])

    values: list[CellValue | None] = [None]
    value_ids: dict[CellValue, int] = {}

    def value_id(ports: PortSet, common: PortSet, self_only: bool) -> int:
        if not ports:
            return 0
        key = (ports, common, self_only)
        found = value_ids.get(key)
        if found is None:
            found = len(values)
            value_ids[key] = found
            values.append(key)
        return found

    # The fast path: destination workloads whose pods share one class (and one port
    # meaning) read a class-matrix entry; map class-matrix ids to cell values once.
    wanted_everywhere: PortSet | None = None
    if port is not None and not isinstance(port.port, str):
        wanted_everywhere = PortSet.single(port.protocol, port.port)
    pid_to_vid = array(
        "I",
        (
            value_id(ps, ps, False)
            for ps in (
                portsets if wanted_everywhere is None else (p & wanted_everywhere for p in portsets)
            )
        ),
    )
    simple_cols = [j for j, t in enumerate(wl_targets) if len(t) == 1]
    simple_classes = [wl_targets[j][0][0] for j in simple_cols]
    fast = port is None or wanted_everywhere is not None

    # Per destination workload: its classes grouped by the port asked about, with a C-level
    # getter reading all of them from a class-matrix row at once.
    wl_groups: list[list[tuple[PortSet | None, list[int], Any]]] = []
    for targets in wl_targets:
        by_wanted: dict[PortSet | None, list[int]] = {}
        for d, wanted, _ in targets:
            by_wanted.setdefault(wanted, []).append(d)
        wl_groups.append(
            [(w, ds, itemgetter(*ds) if len(ds) > 1 else None) for w, ds in by_wanted.items()]
        )
    summary_memo: dict[tuple[frozenset[int], PortSet | None], tuple[PortSet, PortSet]] = {}

    def summarise(pids: frozenset[int], wanted: PortSet | None) -> tuple[PortSet, PortSet]:
        """Union and intersection of the port sets behind `pids` (∩ `wanted`)."""
        key = (pids, wanted)
        found = summary_memo.get(key)
        if found is None:
            union = NO_PORTS
            common: PortSet | None = None
            for pid in pids:
                ps = portsets[pid] if wanted is None else portsets[pid] & wanted
                union = union | ps
                common = ps if common is None else common & ps
            found = (union, common if common is not None else NO_PORTS)
            summary_memo[key] = found
        return found

    def general(wi: int, wj: int) -> int:
        src_counts = wl_classes[wi]
        if wi == wj:
            return diagonal(wi)
        union = NO_PORTS
        common: PortSet | None = None
        for wanted, ds, getter in wl_groups[wj]:
            pids: set[int] = set()
            for s in src_counts:
                row = rows[s]
                if getter is None:
                    pids.add(row[ds[0]])
                else:
                    pids.update(getter(row))
            u, c = summarise(frozenset(pids), wanted)
            union = union | u
            common = c if common is None else common & c
        return value_id(union, common or NO_PORTS, False)

    def diagonal(wi: int) -> int:
        """A workload to itself: pairs of distinct pods, or the lone pod's own traffic."""
        src_counts = wl_classes[wi]
        targets = wl_targets[wi]
        pairs = [
            (s, d, wanted)
            for s in src_counts
            for d, wanted, _ in targets
            if not (s == d and src_counts[s] < 2)
        ]
        self_only = False
        if not pairs:  # one pod alone: its traffic to itself
            self_only = True
            pairs = [(s, d, wanted) for s in src_counts for d, wanted, _ in targets]
        union = NO_PORTS
        common: PortSet | None = None
        for s, d, wanted in pairs:
            ps = portsets[rows[s][d]]
            if wanted is not None:
                ps = ps & wanted
            union = union | ps
            common = ps if common is None else common & ps
        return value_id(union, common or NO_PORTS, self_only)

    n = len(workloads)
    out_rows: list[array[int]] = []
    for wi, src_counts in enumerate(wl_classes):
        out = array("I", bytes(4 * n))
        if fast and len(src_counts) == 1 and simple_cols:
            class_row = rows[next(iter(src_counts))]
            if len(simple_classes) == 1:
                out[simple_cols[0]] = pid_to_vid[class_row[simple_classes[0]]]
            else:
                got = itemgetter(*simple_classes)(class_row)
                for j, pid in zip(simple_cols, got, strict=True):
                    if pid:
                        out[j] = pid_to_vid[pid]
            todo: Iterable[int] = (j for j in range(n) if len(wl_targets[j]) != 1 or j == wi)
        else:
            todo = range(n)
        for wj in todo:
            out[wj] = general(wi, wj)
        out_rows.append(out)
    warnings = _matrix_warnings(pods)
    return Matrix(workloads, values, out_rows, port, len(model.classes), len(pods), warnings)


def _matrix_warnings(pods: Iterable[Pod]) -> list[str]:
    host = sorted(p.key for p in pods if p.host_network)
    out = []
    if host:
        shown = ", ".join(host[:5]) + (f" and {len(host) - 5} more" if len(host) > 5 else "")
        out.append(
            f"{len(host)} hostNetwork pod(s) ({shown}): most CNIs do not enforce NetworkPolicy "
            "on them; their rows and columns assume they do"
        )
    return out


# ---------------------------------------------------------------- renderings (plain)


def cell_kind(cell: Cell | None) -> str:
    """`all`, `some`, `varies` (pods of the workloads differ) or `none`."""
    if cell is None:
        return "none"
    if not cell.uniform:
        return "varies"
    return "all" if cell.ports.is_all else "some"


def cell_text(cell: Cell | None) -> str:
    if cell is None:
        return "none"
    if cell.uniform:
        return cell.ports.describe()
    return f"{cell.ports.describe()} (only some pods; every pod: {cell.common.describe()})"


def matrix_to_dict(matrix: Matrix) -> dict[str, Any]:
    keys = [w.key for w in matrix.workloads]
    memo: dict[tuple[PortSet, PortSet, bool], dict[str, Any]] = {}

    def shared(c: Cell) -> dict[str, Any]:
        # Port sets repeat across many cells: build each rendering once.
        key = (c.ports, c.common, c.self_only)
        found = memo.get(key)
        if found is None:
            found = {
                "all": c.ports.is_all,
                "ports": c.ports.to_dict(),
                "text": c.ports.describe(),
                "uniform": c.uniform,
                **({} if c.uniform else {"every_pod": c.common.to_dict()}),
                **({"self": True} if c.self_only else {}),
            }
            memo[key] = found
        return found

    return {
        "port": (
            None
            if matrix.port is None
            else {"protocol": matrix.port.protocol, "port": matrix.port.port}
        ),
        "pods": matrix.pods,
        "classes": matrix.classes,
        "workloads": [
            {
                "id": w.key,
                "namespace": w.namespace,
                "name": w.name,
                "kind": w.kind,
                "pods": [p.name for p in w.pods],
            }
            for w in matrix.workloads
        ],
        "connections": [
            {
                "from": keys[c.source],
                "to": keys[c.destination],
                **shared(c),
            }
            for c in sorted_cells(matrix)
        ],
        "warnings": matrix.warnings,
    }


def sorted_cells(matrix: Matrix) -> Iterator[Cell]:
    return matrix.iter_cells()


def matrix_to_csv(matrix: Matrix) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["source", "destination", "connections", "uniform", "note"])
    keys = [w.key for w in matrix.workloads]
    memo: dict[tuple[PortSet, PortSet, bool], list[str]] = {}
    for c in sorted_cells(matrix):
        key = (c.ports, c.common, c.self_only)
        rest = memo.get(key)
        if rest is None:
            rest = [
                "All connections" if c.ports.is_all else c.ports.describe(),
                "yes" if c.uniform else f"no (every pod: {c.common.describe()})",
                "the pod to itself" if c.self_only else "",
            ]
            memo[key] = rest
        writer.writerow([keys[c.source], keys[c.destination], *rest])
    return buf.getvalue()


def _dot_id(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def matrix_to_dot(matrix: Matrix) -> str:
    lines = ["digraph reachability {", "  rankdir=LR;", "  node [shape=box, fontsize=10];"]
    by_ns: dict[str, list[Workload]] = {}
    for w in matrix.workloads:
        by_ns.setdefault(w.namespace, []).append(w)
    for i, (ns, members) in enumerate(sorted(by_ns.items())):
        lines.append(f"  subgraph cluster_{i} {{")
        lines.append(f"    label={_dot_id(ns)};")
        for w in members:
            lines.append(f"    {_dot_id(w.key)} [label={_dot_id(w.name)}];")
        lines.append("  }")
    for c in sorted_cells(matrix):
        style = "" if c.uniform else ", style=dashed"
        colour = "darkgreen" if c.ports.is_all else "darkorange"
        label = "all" if c.ports.is_all else c.ports.describe()
        src = _dot_id(matrix.workloads[c.source].key)
        dst = _dot_id(matrix.workloads[c.destination].key)
        lines.append(f"  {src} -> {dst} [label={_dot_id(label)}, color={colour}{style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def pod_pairs(cm: ClassMatrix, pods: Sequence[Pod]) -> Iterator[tuple[Pod, Pod, PortSet]]:
    """Every ordered pair of distinct pods with what is allowed (empty sets included)."""
    class_of = cm.model.class_of
    for s in pods:
        row = cm.rows[class_of[s.key]]
        for d in pods:
            if s is not d:
                yield s, d, cm.portsets[row[class_of[d.key]]]


__all__ = [
    "ALL_PORTS",
    "Cell",
    "ClassMatrix",
    "Matrix",
    "PortQuery",
    "Workload",
    "cell_kind",
    "cell_text",
    "class_matrix",
    "compute_matrix",
    "group_workloads",
    "matrix_to_csv",
    "matrix_to_dict",
    "matrix_to_dot",
    "pod_pairs",
]
