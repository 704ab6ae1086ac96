"""Sets of (protocol, port) as per-protocol lists of disjoint port ranges.

The algebra behind the reachability matrix: what a side allows is a union of rule port sets,
what a connection allows is the egress set intersected with the ingress set. A `PortSet` is
immutable and hashable, so matrices can intern them and memoise their intersections.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from triage.model import PROTOCOLS, Pod, Protocol

MIN_PORT = 1
MAX_PORT = 65535

Ranges = tuple[tuple[int, int], ...]
_FULL: Ranges = ((MIN_PORT, MAX_PORT),)


def _normalise(ranges: Iterable[tuple[int, int]]) -> Ranges:
    """Sort and merge overlapping or adjacent ranges."""
    out: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if lo > hi:
            continue
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1][1] = hi
        else:
            out.append([lo, hi])
    return tuple((lo, hi) for lo, hi in out)


def _union(a: Ranges, b: Ranges) -> Ranges:
    if not a:
        return b
    if not b or a == b:
        return a
    return _normalise(a + b)


def _intersect(a: Ranges, b: Ranges) -> Ranges:
    if a == _FULL:
        return b
    if b == _FULL or a == b:
        return a
    out: list[tuple[int, int]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo = max(a[i][0], b[j][0])
        hi = min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def _subtract(a: Ranges, b: Ranges) -> Ranges:
    out: list[tuple[int, int]] = []
    for lo, hi in a:
        cur = lo
        for blo, bhi in b:
            if bhi < cur or blo > hi:
                continue
            if blo > cur:
                out.append((cur, blo - 1))
            cur = max(cur, bhi + 1)
            if cur > hi:
                break
        if cur <= hi:
            out.append((cur, hi))
    return tuple(out)


def _protocol(text: str) -> Protocol | None:
    upper = text.strip().upper()
    for proto in PROTOCOLS:
        if proto == upper:
            return proto
    return None


def _describe_ranges(ranges: Ranges) -> str:
    return ", ".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in ranges)


class PortSet:
    """An immutable set of (protocol, port) pairs."""

    __slots__ = ("_hash", "_items")

    _items: tuple[tuple[Protocol, Ranges], ...]  # protocol order of PROTOCOLS, no empty entries
    _hash: int

    def __init__(self, by_protocol: Mapping[Protocol, Iterable[tuple[int, int]]] | None = None):
        items: list[tuple[Protocol, Ranges]] = []
        if by_protocol:
            for proto in PROTOCOLS:
                if proto in by_protocol:
                    ranges = _normalise(
                        (max(lo, MIN_PORT), min(hi, MAX_PORT)) for lo, hi in by_protocol[proto]
                    )
                    if ranges:
                        items.append((proto, ranges))
        self._items = tuple(items)
        self._hash = hash(self._items)

    @classmethod
    def _make(cls, items: Iterable[tuple[Protocol, Ranges]]) -> PortSet:
        obj = cls.__new__(cls)
        obj._items = tuple((p, r) for p, r in items if r)
        obj._hash = hash(obj._items)
        return obj

    # ------------------------------------------------------------- constructors

    @classmethod
    def all(cls) -> PortSet:
        return ALL_PORTS

    @classmethod
    def empty(cls) -> PortSet:
        return NO_PORTS

    @classmethod
    def single(cls, protocol: Protocol, port: int, end_port: int | None = None) -> PortSet:
        return cls({protocol: [(port, port if end_port is None else end_port)]})

    @classmethod
    def whole(cls, protocol: Protocol) -> PortSet:
        return cls._make([(protocol, _FULL)])

    @classmethod
    def parse(cls, text: str) -> PortSet:
        """`all`, `none`, or `TCP 80, 8000-8080; UDP 53` (the output of `describe`)."""
        text = text.strip()
        if text.lower() in ("all", "all ports"):
            return ALL_PORTS
        if text.lower() in ("", "none", "no ports"):
            return NO_PORTS
        by: dict[Protocol, list[tuple[int, int]]] = {}
        for chunk in text.split(";"):
            chunk = chunk.strip()
            if not chunk:
                continue
            head, _, rest = chunk.partition(" ")
            proto = _protocol(head)
            if proto is None:
                raise ValueError(f"unknown protocol {head!r} in {text!r}")
            ranges = by.setdefault(proto, [])
            rest = rest.strip()
            if rest in ("", "all", "all ports"):
                ranges.append((MIN_PORT, MAX_PORT))
                continue
            for item in rest.split(","):
                lo, _, hi = item.strip().partition("-")
                ranges.append((int(lo), int(hi or lo)))
        return cls(by)

    # ------------------------------------------------------------- algebra

    def __or__(self, other: PortSet) -> PortSet:
        if not other._items or self is other:
            return self
        if not self._items:
            return other
        mine = dict(self._items)
        theirs = dict(other._items)
        return PortSet._make(
            (p, _union(mine.get(p, ()), theirs.get(p, ())))
            for p in PROTOCOLS
            if p in mine or p in theirs
        )

    def __and__(self, other: PortSet) -> PortSet:
        if self is other or other is ALL_PORTS:
            return self
        if self is ALL_PORTS:
            return other
        if not self._items or not other._items:
            return NO_PORTS
        theirs = dict(other._items)
        return PortSet._make((p, _intersect(r, theirs[p])) for p, r in self._items if p in theirs)

    def __sub__(self, other: PortSet) -> PortSet:
        if not other._items or not self._items:
            return self
        theirs = dict(other._items)
        return PortSet._make((p, _subtract(r, theirs.get(p, ()))) for p, r in self._items)

    def __le__(self, other: PortSet) -> bool:
        return not (self - other)

    def __ge__(self, other: PortSet) -> bool:
        return other <= self

    def __bool__(self) -> bool:
        return bool(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PortSet) and self._items == other._items

    def __hash__(self) -> int:
        return self._hash

    def __contains__(self, item: tuple[Protocol, int]) -> bool:
        proto, port = item
        for p, ranges in self._items:
            if p == proto:
                return any(lo <= port <= hi for lo, hi in ranges)
        return False

    def __repr__(self) -> str:
        return f"PortSet({self.describe()!r})"

    # ------------------------------------------------------------- inspection

    @property
    def is_all(self) -> bool:
        return self._items == ALL_PORTS._items

    def protocols(self) -> tuple[Protocol, ...]:
        return tuple(p for p, _ in self._items)

    def ranges(self, protocol: Protocol) -> Ranges:
        for p, r in self._items:
            if p == protocol:
                return r
        return ()

    def items(self) -> Iterator[tuple[Protocol, Ranges]]:
        return iter(self._items)

    def is_whole(self, protocol: Protocol) -> bool:
        return self.ranges(protocol) == _FULL

    def count(self) -> int:
        return sum(hi - lo + 1 for _, r in self._items for lo, hi in r)

    def describe(self) -> str:
        """`all ports`, `no ports`, `TCP 80, 8000-8080; UDP all`."""
        if self.is_all:
            return "all ports"
        if not self._items:
            return "no ports"
        parts = []
        for proto, ranges in self._items:
            if ranges == _FULL:
                parts.append(f"{proto} all")
            else:
                parts.append(f"{proto} {_describe_ranges(ranges)}")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, list[list[int]]]:
        """JSON form: `{"TCP": [[80, 80], [8000, 8080]]}`."""
        return {p: [[lo, hi] for lo, hi in r] for p, r in self._items}

    @classmethod
    def from_dict(cls, data: Mapping[str, Iterable[Iterable[int]]]) -> PortSet:
        by: dict[Protocol, list[tuple[int, int]]] = {}
        for name, ranges in data.items():
            proto = _protocol(name)
            if proto is None:
                raise ValueError(f"unknown protocol {name!r}")
            pairs = [list(r) for r in ranges]
            by[proto] = [(int(r[0]), int(r[-1])) for r in pairs]
        return cls(by)


ALL_PORTS: PortSet = PortSet._make((p, _FULL) for p in PROTOCOLS)
NO_PORTS: PortSet = PortSet._make(())


def declared_ports(pod: Pod) -> PortSet:
    """The container ports `pod` declares."""
    by: dict[Protocol, list[tuple[int, int]]] = {}
    for container in pod.containers:
        for cp in container.ports:
            by.setdefault(cp.protocol, []).append((cp.port, cp.port))
    return PortSet(by)
