"""What a CNI's datapath saw: flow-log records and the distinct flows they aggregate into.

A `FlowRecord` is one line of a Hubble (`hubble observe -o json`) or Calico Goldmane flow log,
already validated and cleaned by `triage.sources.flowlogs`. `aggregate` folds a stream of them
into `AggregatedFlow`s, one per (source, destination, port, protocol), in memory bounded by the
number of distinct flows, never by the number of lines.

Reply packets are not flows of their own: a reply's source is the server and its destination
port is the client's ephemeral port, so aggregating it would invent a connection in the wrong
direction. A record is a reply when Hubble says `is_reply: true` (or the deprecated `reply:
true`), or when it is a TCP SYN+ACK; `is_reply` absent is read as a request. Replies are
counted (`Aggregation.replies`), not aggregated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

# Verdicts that mean "the packet went on": the datapath line shows them as FORWARDED.
FORWARDING_VERDICTS = frozenset({"FORWARDED", "REDIRECTED", "TRACED", "TRANSLATED"})
# Drop reasons that are a policy decision (Hubble's names; Calico drops are mapped onto them:
# a deny rule is POLICY_DENY, the end-of-tier default deny is POLICY_DENIED).
POLICY_DROP_REASONS = frozenset({"POLICY_DENIED", "POLICY_DENY", "AUTH_REQUIRED"})

MAX_POLICIES_PER_FLOW = 16
MAX_WARNINGS = 100


@dataclass(frozen=True, slots=True)
class FlowPolicy:
    """A policy the CNI names for a flow (Hubble `*_allowed_by`/`*_denied_by`, Calico hits)."""

    kind: str  # NetworkPolicy, CiliumNetworkPolicy, GlobalNetworkPolicy, ... ("" unknown)
    namespace: str  # "" for cluster-scoped kinds
    name: str
    action: str  # "allow" | "deny" | "pass" | ""
    direction: str = ""  # "INGRESS" | "EGRESS" | ""
    tier: str = ""  # Calico
    rule: str = ""  # Calico rule index, as text ("" when not given)
    pending: bool = False  # Calico staged policy (would apply, does not yet)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    @property
    def is_network_policy(self) -> bool:
        """A Kubernetes NetworkPolicy, which the engine models; anything else it cannot see."""
        return self.kind in ("NetworkPolicy", "KubernetesNetworkPolicy")

    def describe(self) -> str:
        where = f" tier {self.tier}" if self.tier else ""
        rule = f" rule {self.rule}" if self.rule else ""
        pending = " (staged)" if self.pending else ""
        action = f" {self.action}" if self.action else ""
        return f"{self.kind or 'policy'} {self.key}{where}{rule}{action}{pending}"


@dataclass(frozen=True, slots=True)
class FlowEnd:
    """One end as the flow log names it. `pod` is a pod name (Hubble) or a Calico aggregated
    name such as `web-5d8f7c-*`; `reserved` is Cilium's reserved identity (`host`, `world`,
    `remote-node`, ...) or Calico's endpoint type when not a pod (`hep`, `ns`, `net`)."""

    namespace: str = ""
    pod: str = ""
    ip: str = ""
    labels: tuple[str, ...] = ()
    workload: str = ""
    service: str = ""  # NS/NAME of a Service the log names for this end
    reserved: str = ""

    @property
    def key(self) -> str:
        if self.pod:
            return f"{self.namespace}/{self.pod}" if self.namespace else self.pod
        if self.reserved and not self.ip:
            return f"reserved:{self.reserved}"
        if self.ip:
            return self.ip
        if self.service:
            return f"{self.service.split('/')[0]}/svc/{self.service.split('/')[-1]}"
        return "?"

    @property
    def is_host(self) -> bool:
        return self.reserved in ("host", "remote-node", "kube-apiserver", "hep", "health")


@dataclass(frozen=True, slots=True)
class FlowRecord:
    cni: str  # "hubble" | "calico"
    line: int
    source: FlowEnd
    destination: FlowEnd
    port: int | None
    protocol: str  # TCP, UDP, SCTP, ICMPv4, ICMPv6, ""
    verdict: str  # FORWARDED, DROPPED, AUDIT, ERROR, REDIRECTED, TRACED, TRANSLATED, ...
    drop_reason: str = ""
    direction: str = ""  # INGRESS | EGRESS | ""
    time: float | None = None  # seconds since the epoch (first time for Calico)
    end_time: float | None = None
    is_reply: bool | None = None
    count: int = 1
    policies: tuple[FlowPolicy, ...] = ()


@dataclass(frozen=True, slots=True)
class FlowLogWarning:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return (
            f"{self.path}:{self.line}: {self.message}"
            if self.line
            else (f"{self.path}: {self.message}")
        )


@dataclass(frozen=True)
class AggregatedFlow:
    """One distinct flow: every record with the same source, destination, port, protocol."""

    source: FlowEnd
    destination: FlowEnd
    port: int | None
    protocol: str
    count: int
    cni: str
    first_seen: float | None = None
    last_seen: float | None = None
    verdicts: tuple[tuple[str, int], ...] = ()  # verdict → count, most frequent first
    last_verdict: str = ""
    drop_reasons: tuple[tuple[str, int], ...] = ()
    directions: tuple[str, ...] = ()
    policies: tuple[FlowPolicy, ...] = ()
    first_line: int = 0

    @property
    def key(self) -> tuple[str, str, int | None, str]:
        return (self.source.key, self.destination.key, self.port, self.protocol)

    @property
    def datapath(self) -> str:
        """FORWARDED | DROPPED | AUDIT | ERROR | UNKNOWN, or `mixed` when more than one."""
        kinds = {datapath_class(v) for v, _ in self.verdicts}
        if len(kinds) == 1:
            return kinds.pop()
        return "mixed" if kinds else "UNKNOWN"

    @property
    def dropped(self) -> int:
        return sum(n for v, n in self.verdicts if v == "DROPPED")

    def describe(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.source.key} → {self.destination.key}{port}/{self.protocol}"


def iso_time(seconds: float) -> str:
    """RFC 3339 in UTC, to the second (what people read)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def precise_time(seconds: float) -> str:
    """RFC 3339 in UTC, to the microsecond (what a recording keeps)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: object) -> float | None:
    """RFC 3339 → seconds since the epoch (UTC assumed without an offset); None if not."""
    if not isinstance(text, str) or not text or len(text) > 40:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def datapath_class(verdict: str) -> str:
    if verdict in FORWARDING_VERDICTS:
        return "FORWARDED"
    if verdict in ("DROPPED", "AUDIT", "ERROR"):
        return verdict
    return "UNKNOWN"


@dataclass(frozen=True)
class Aggregation:
    flows: tuple[AggregatedFlow, ...]
    records: int = 0  # request records aggregated
    replies: int = 0  # reply records seen and left out
    warnings: tuple[FlowLogWarning, ...] = ()
    warnings_dropped: int = 0  # warnings past MAX_WARNINGS, counted only
    meta: Mapping[str, str] = field(default_factory=dict)


class _Acc:
    __slots__ = (
        "cni",
        "count",
        "destination",
        "directions",
        "first",
        "first_line",
        "last",
        "last_verdict",
        "policies",
        "reasons",
        "record",
        "verdicts",
    )

    def __init__(self, record: FlowRecord) -> None:
        self.record = record
        self.cni = {record.cni}
        self.count = 0
        self.first: float | None = None
        self.last: float | None = None
        self.last_verdict = ""
        self.verdicts: dict[str, int] = {}
        self.reasons: dict[str, int] = {}
        self.directions: set[str] = set()
        self.policies: dict[FlowPolicy, None] = {}
        self.first_line = record.line

    def add(self, r: FlowRecord) -> None:
        self.count += r.count
        self.cni.add(r.cni)
        self.verdicts[r.verdict] = self.verdicts.get(r.verdict, 0) + r.count
        if r.drop_reason:
            self.reasons[r.drop_reason] = self.reasons.get(r.drop_reason, 0) + r.count
        if r.direction:
            self.directions.add(r.direction)
        start = r.time
        end = r.end_time if r.end_time is not None else r.time
        if start is not None and (self.first is None or start < self.first):
            self.first = start
        if end is not None and (self.last is None or end >= self.last):
            self.last = end
            self.last_verdict = r.verdict
        elif not self.last_verdict:
            self.last_verdict = r.verdict
        for pol in r.policies:
            if len(self.policies) < MAX_POLICIES_PER_FLOW:
                self.policies[pol] = None

    def freeze(self) -> AggregatedFlow:
        r = self.record
        return AggregatedFlow(
            source=r.source,
            destination=r.destination,
            port=r.port,
            protocol=r.protocol,
            count=self.count,
            cni="+".join(sorted(self.cni)),
            first_seen=self.first,
            last_seen=self.last,
            verdicts=_by_count(self.verdicts),
            last_verdict=self.last_verdict,
            drop_reasons=_by_count(self.reasons),
            directions=tuple(sorted(self.directions)),
            policies=tuple(self.policies),
            first_line=self.first_line,
        )


def _by_count(counts: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def aggregate(
    items: Iterable[FlowRecord | FlowLogWarning], *, max_warnings: int = MAX_WARNINGS
) -> Aggregation:
    """Fold records (and the reader's warnings) into distinct flows: dropped first, then by
    count, then by name, so the order never depends on the file's."""
    accs: dict[tuple[str, str, int | None, str], _Acc] = {}
    warnings: list[FlowLogWarning] = []
    dropped_warnings = 0
    records = replies = 0
    for item in items:
        if isinstance(item, FlowLogWarning):
            if len(warnings) < max_warnings:
                warnings.append(item)
            else:
                dropped_warnings += 1
            continue
        if item.is_reply:
            replies += 1
            continue
        records += 1
        key = (item.source.key, item.destination.key, item.port, item.protocol)
        acc = accs.get(key)
        if acc is None:
            acc = accs[key] = _Acc(item)
        acc.add(item)
    flows = sorted((a.freeze() for a in accs.values()), key=flow_order)
    return Aggregation(tuple(flows), records, replies, tuple(warnings), dropped_warnings)


def flow_order(flow: AggregatedFlow) -> tuple[int, int, str, str, int, str]:
    """Dropped first (most drops first), then the most seen."""
    return (
        -flow.dropped,
        -flow.count,
        flow.source.key,
        flow.destination.key,
        flow.port if flow.port is not None else -1,
        flow.protocol,
    )
