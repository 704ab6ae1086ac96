"""Read CNI flow logs: Hubble (`hubble observe -o json`) and Calico Goldmane JSON.

`read_flow_log(path)` streams a file, one JSON object per line, and yields a `FlowRecord` for
every flow line and a `FlowLogWarning` (with the line number) for every line it cannot use;
the rest of the file is still read. Memory is constant: one line at a time, and a line longer
than `MAX_LINE` bytes is skipped without being held.

Hubble lines are the `flow.Flow` message as `hubble observe -o json` prints it (protobuf JSON
with the proto field names: `verdict`, `drop_reason_desc`, `traffic_direction`, `is_reply`,
`IP`, `l4`, `source`/`destination` endpoints with `namespace`, `pod_name`, `labels`
(`k8s:app=x`), `workloads`, `destination_service`, the `*_allowed_by` / `*_denied_by` policy
lists), bare or wrapped as `{"flow": {...}}` (GetFlowsResponse, exported files). Enums may be
names or numbers. Calico lines are Goldmane flows: `{"Key": {...}, "start_time": ...}` as its
emitter writes them (`json.Marshal` of the proto: proto field names), a `{"flow": {...}}`
FlowResult, or the lowerCamelCase protojson form; `policies.enforced_policies` /
`pending_policies` hits carry kind, namespace, name, tier, action, policy_index, rule_index.

Every string is untrusted: names are checked against Kubernetes' name rules, everything else
is bounded and passed through `clean()` before it is kept.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from triage.model.datapath import (
    Aggregation,
    FlowEnd,
    FlowLogWarning,
    FlowPolicy,
    FlowRecord,
    aggregate,
)
from triage.model.untrusted import clean, preview
from triage.sources.errors import SourceError

MAX_LINE = 1 << 20  # bytes; a Hubble flow is a few KiB at most
MAX_LABELS = 64
MAX_TEXT = 253
FORMATS = ("auto", "hubble", "calico")

VERDICTS = {
    0: "VERDICT_UNKNOWN",
    1: "FORWARDED",
    2: "DROPPED",
    3: "ERROR",
    4: "AUDIT",
    5: "REDIRECTED",
    6: "TRACED",
    7: "TRANSLATED",
}
_VERDICT_NAMES = frozenset(VERDICTS.values())
# The flow.DropReason numbers whose names matter here; others are kept as DROP_REASON_<n>.
DROP_REASONS = {
    0: "DROP_REASON_UNKNOWN",
    132: "INVALID_SOURCE_IP",
    133: "POLICY_DENIED",
    151: "STALE_OR_UNROUTABLE_IP",
    152: "NO_MATCHING_LOCAL_CONTAINER_FOUND",
    155: "CT_MAP_INSERTION_FAILED",
    158: "SERVICE_BACKEND_NOT_FOUND",
    165: "NO_CONFIGURATION_AVAILABLE_TO_PERFORM_POLICY_DECISION",
    181: "POLICY_DENY",
    189: "AUTH_REQUIRED",
}
DIRECTIONS = {0: "", 1: "INGRESS", 2: "EGRESS", "TRAFFIC_DIRECTION_UNKNOWN": ""}
# goldmane PolicyKind
CALICO_KINDS = {
    0: "",
    1: "CalicoNetworkPolicy",
    2: "GlobalNetworkPolicy",
    3: "StagedNetworkPolicy",
    4: "StagedGlobalNetworkPolicy",
    5: "StagedKubernetesNetworkPolicy",
    6: "NetworkPolicy",
    7: "AdminNetworkPolicy",
    8: "BaselineAdminNetworkPolicy",
    9: "Profile",
    10: "EndOfTier",
    "KindUnspecified": "",
}
_CALICO_TYPES = {
    "wep": "",
    "hep": "hep",
    "ns": "ns",
    "pub": "world",
    "pvt": "private",
    "net": "net",
}
_HUBBLE_KEYS = frozenset(
    ("verdict", "l4", "IP", "traffic_direction", "source", "destination", "time")
)
_CALICO_KEYS = frozenset(("Key", "key", "source_name", "sourceName", "dest_name", "destName"))
_NOT_FLOWS = ("node_status", "agent_event", "debug_event")

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
# Calico aggregates pods of one generateName as `web-5d8f7c-*`.
_CALICO_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?(-\*)?|\*")
# A policy's name as a CNI reports it: a Kubernetes name, with Calico's tier prefixes
# (`security.block-web`, `knp.default.x`) and Cilium's derived names (`allow:web`).
_POLICY_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9._:]{0,251}[A-Za-z0-9])?")
_ENUM = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


class BadLine(ValueError):
    """One line could not be used; the message names the field."""


def read_flow_log(path: Path | str, *, fmt: str = "auto") -> Iterator[FlowRecord | FlowLogWarning]:
    """Stream `path`: records and warnings in file order. Raises `SourceError` (one line)
    only when the file cannot be opened or `fmt` is unknown."""
    if fmt not in FORMATS:
        raise SourceError.single(
            clean(str(path)), f"format {preview(fmt, 20)!r}: expected one of {', '.join(FORMATS)}"
        )
    name = clean(str(path))
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed in the finally below
    except OSError as exc:
        raise SourceError.single(name, f"cannot read: {exc.strerror or exc}") from None
    try:
        number = 0
        while True:
            try:
                raw = handle.readline(MAX_LINE + 1)
            except OSError as exc:
                yield FlowLogWarning(name, number + 1, f"read error: {exc.strerror or exc}")
                return
            if not raw:
                return
            number += 1
            if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
                while True:  # skip the rest of the line without keeping it
                    rest = handle.readline(MAX_LINE)
                    if not rest or rest.endswith(b"\n"):
                        break
                yield FlowLogWarning(name, number, f"line longer than {MAX_LINE} bytes: skipped")
                continue
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except (ValueError, UnicodeDecodeError, RecursionError) as exc:
                # RecursionError: a line of `[[[[…` nested deeper than the decoder goes.
                yield FlowLogWarning(name, number, f"not JSON: {preview(exc, 100)}")
                continue
            try:
                record = parse_line(obj, number, fmt)
            except BadLine as exc:
                yield FlowLogWarning(name, number, str(exc))
                continue
            if record is not None:
                yield record
    finally:
        handle.close()


def read_aggregation(path: Path | str, fmt: str = "auto") -> Aggregation:
    """Stream and aggregate `path`. A file with unusable lines but no flow at all is a
    `SourceError` (one line, naming the first bad line); some bad lines are warnings."""
    aggregation = aggregate(read_flow_log(path, fmt=fmt))
    if not aggregation.flows and aggregation.warnings:
        total = len(aggregation.warnings) + aggregation.warnings_dropped
        first = aggregation.warnings[0]
        raise SourceError.single(
            clean(str(path)), f"no flow read ({total} unusable line(s); {first})"
        )
    return aggregation


def parse_line(obj: Any, number: int, fmt: str = "auto") -> FlowRecord | None:
    """One decoded line → a record; None for a line that is not a flow (Hubble node status,
    agent or debug events). Raises BadLine."""
    if not isinstance(obj, dict):
        raise BadLine("expected a JSON object per line")
    body = obj.get("flow", obj)
    if not isinstance(body, dict):
        raise BadLine("flow: expected an object")
    if "lost_events" in obj:
        lost = obj["lost_events"]
        n = lost.get("num_events_lost", "?") if isinstance(lost, dict) else "?"
        raise BadLine(f"the capture lost events here ({preview(n, 20)} lost): counts are low")
    if body is obj and any(k in obj for k in _NOT_FLOWS):
        return None
    kind = _detect(body)
    if kind is None:
        raise BadLine("neither a Hubble flow (verdict, l4, ...) nor a Calico flow (Key, ...)")
    if fmt != "auto" and kind != fmt:
        raise BadLine(f"a {kind} flow in a file read as {fmt}")
    if kind == "hubble":
        return _hubble(body, number)
    return _calico(body, number)


def _detect(body: Mapping[str, Any]) -> str | None:
    keys = body.keys()
    if not keys.isdisjoint(_CALICO_KEYS):
        return "calico"
    if not keys.isdisjoint(_HUBBLE_KEYS):
        return "hubble"
    return None


# ------------------------------------------------------------------ field checks


def _str(value: Any, where: str, limit: int = MAX_TEXT) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadLine(f"{where}: expected a string")
    if len(value) > limit:
        raise BadLine(f"{where}: longer than {limit} characters")
    return clean(value)


def _name(value: Any, where: str, pattern: re.Pattern[str] = _DNS_SUBDOMAIN) -> str:
    text = _str(value, where)
    if text and not _valid_name(text, pattern):
        raise BadLine(f"{where}: {preview(text, 60)!r} is not a valid name")
    return text


@lru_cache(maxsize=8192)
def _valid_name(text: str, pattern: re.Pattern[str]) -> bool:
    return pattern.fullmatch(text) is not None


@lru_cache(maxsize=8192)
def _valid_ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _ip(value: Any, where: str) -> str:
    text = _str(value, where, 64)
    if not text:
        return ""
    ip = _valid_ip(text)
    if ip is None:
        raise BadLine(f"{where}: {preview(text, 60)!r} is not an IP address")
    return ip


def _enum(value: Any, where: str, names: Mapping[Any, str], default: str = "") -> str:
    if type(value) is str and value in names.values() and value:
        return value  # the common case: a known name, as hubble prints it
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise BadLine(f"{where}: expected a name or a number")
    if isinstance(value, int):
        return names.get(value, f"{where.rsplit('.', 1)[-1].upper()}_{value}")
    if isinstance(value, str) and _ENUM.fullmatch(value):
        return names.get(value, value)
    raise BadLine(f"{where}: {preview(value, 40)!r} is not a known value")


def _int(value: Any, where: str, low: int = 0, high: int = 2**63 - 1) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.isdigit():  # protojson writes int64 as a string
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadLine(f"{where}: expected a number {low}-{high}")
    return value


def _bool(value: Any, where: str) -> bool | None:
    if value is None:
        return None
    if not isinstance(value, bool):
        raise BadLine(f"{where}: expected true or false")
    return value


def _labels(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise BadLine(f"{where}: expected a list of strings")
    if len(value) > MAX_LABELS:
        value = value[:MAX_LABELS]
    return tuple(_str(v, f"{where}[{i}]", 317) for i, v in enumerate(value))


def _time(value: Any, where: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, dict):  # {"seconds": ..., "nanos": ...}
        seconds = _int(value.get("seconds"), f"{where}.seconds")
        nanos = _int(value.get("nanos"), f"{where}.nanos", 0, 999_999_999) or 0
        return None if seconds is None else seconds + nanos / 1e9
    if isinstance(value, str) and value.isdigit() and len(value) <= 20:
        return float(value)  # protojson writes int64 seconds as a string
    if isinstance(value, str) and len(value) <= 40:
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            pass
    raise BadLine(f"{where}: {preview(value, 40)!r} is not an RFC 3339 time")


def _get(d: Mapping[str, Any], snake: str) -> Any:
    """A field by its proto name, or by its lowerCamelCase protojson name."""
    if snake in d:
        return d[snake]
    head, *rest = snake.split("_")
    return d.get(head + "".join(p.capitalize() for p in rest))


def _obj(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadLine(f"{where}: expected an object")
    return value


# ------------------------------------------------------------------ Hubble


# Endpoints repeat on almost every line (a capture has few pods, many packets): the checked
# and cleaned FlowEnd is kept by its raw fields. Bounded: cleared when full.
_END_CACHE: dict[tuple[Any, ...], FlowEnd] = {}
_END_CACHE_SIZE = 1 << 16


def _hubble_end_cached(
    ep: Mapping[str, Any], ip: str, service: Mapping[str, Any], where: str
) -> FlowEnd:
    labels = ep.get("labels")
    workloads = ep.get("workloads")
    first = workloads[0] if isinstance(workloads, list) and workloads else None
    try:
        key = (
            ep.get("namespace"),
            ep.get("pod_name"),
            ip,
            tuple(labels) if isinstance(labels, list) else labels,
            first.get("name") if isinstance(first, dict) else first,
            service.get("name"),
            service.get("namespace"),
        )
        found = _END_CACHE.get(key)
    except TypeError:  # an unhashable value where a string belongs: the checks say which
        return _hubble_end(ep, ip, service, where)
    if found is None:
        found = _hubble_end(ep, ip, service, where)
        if len(_END_CACHE) >= _END_CACHE_SIZE:
            _END_CACHE.clear()
        _END_CACHE[key] = found
    return found


def _hubble_end(ep: Mapping[str, Any], ip: str, service: Mapping[str, Any], where: str) -> FlowEnd:
    labels = _labels(ep.get("labels"), f"{where}.labels")
    workload = ""
    workloads = ep.get("workloads")
    if isinstance(workloads, list) and workloads and isinstance(workloads[0], dict):
        workload = _name(workloads[0].get("name"), f"{where}.workloads[0].name")
    reserved = ""
    for label in labels:
        if label.startswith("reserved:"):
            reserved = label[len("reserved:") :].split("=", 1)[0]
            break
    svc = ""
    if service:
        svc_name = _name(service.get("name"), f"{where}_service.name")
        svc_ns = _name(service.get("namespace"), f"{where}_service.namespace", _DNS_LABEL)
        svc = f"{svc_ns}/{svc_name}" if svc_name else ""
    pod = _name(ep.get("pod_name"), f"{where}.pod_name")
    return FlowEnd(
        namespace=_name(ep.get("namespace"), f"{where}.namespace", _DNS_LABEL),
        pod=pod,
        ip=ip,
        labels=labels,
        workload=workload,
        service=svc,
        reserved="" if pod else reserved,
    )


_HUBBLE_POLICY_LISTS = (
    ("ingress_allowed_by", "INGRESS", "allow"),
    ("egress_allowed_by", "EGRESS", "allow"),
    ("ingress_denied_by", "INGRESS", "deny"),
    ("egress_denied_by", "EGRESS", "deny"),
)
_DERIVED = "io.cilium.k8s.policy.derived-from="


def _hubble_policies(flow: Mapping[str, Any]) -> tuple[FlowPolicy, ...]:
    out: list[FlowPolicy] = []
    for field, direction, action in _HUBBLE_POLICY_LISTS:
        items = flow.get(field)
        if items is None:
            continue
        if not isinstance(items, list):
            raise BadLine(f"{field}: expected a list")
        for i, item in enumerate(items[:16]):
            where = f"{field}[{i}]"
            item = _obj(item, where)
            kind = _str(item.get("kind"), f"{where}.kind", 63)
            if not kind:
                for label in _labels(item.get("labels"), f"{where}.labels"):
                    if _DERIVED in label:
                        kind = label.split(_DERIVED, 1)[1][:63]
            out.append(
                FlowPolicy(
                    kind=kind,
                    namespace=_name(item.get("namespace"), f"{where}.namespace", _DNS_LABEL),
                    name=_name(item.get("name"), f"{where}.name", _POLICY_NAME),
                    action=action,
                    direction=direction,
                )
            )
    return tuple(out)


def _hubble(flow: Mapping[str, Any], number: int) -> FlowRecord:
    ip = _obj(flow.get("IP"), "IP")
    l4 = _obj(flow.get("l4"), "l4")
    protocol, port, reply_flags = "", None, False
    for name in ("TCP", "UDP", "SCTP", "ICMPv4", "ICMPv6"):
        if name in l4:
            protocol = name
            layer = _obj(l4[name], f"l4.{name}")
            if name in ("TCP", "UDP", "SCTP"):
                port = _int(layer.get("destination_port"), f"l4.{name}.destination_port", 0, 65535)
            if name == "TCP":
                flags = _obj(layer.get("flags"), "l4.TCP.flags")
                reply_flags = flags.get("SYN") is True and flags.get("ACK") is True
            break
    verdict = _enum(flow.get("verdict"), "verdict", VERDICTS, "VERDICT_UNKNOWN")
    if verdict not in _VERDICT_NAMES:
        raise BadLine(f"verdict: {preview(verdict, 40)!r} is not a Hubble verdict")
    reason = _enum(flow.get("drop_reason_desc"), "drop_reason_desc", DROP_REASONS)
    if reason == "DROP_REASON_UNKNOWN":
        reason = ""
    if not reason and verdict == "DROPPED" and flow.get("drop_reason") not in (None, 0):
        reason = _enum(flow.get("drop_reason"), "drop_reason", DROP_REASONS)
    is_reply = _bool(flow.get("is_reply"), "is_reply")
    if is_reply is None:
        legacy = _bool(flow.get("reply"), "reply")
        is_reply = True if legacy or reply_flags else None
    return FlowRecord(
        cni="hubble",
        line=number,
        source=_hubble_end_cached(
            _obj(flow.get("source"), "source"),
            _ip(ip.get("source"), "IP.source"),
            _obj(flow.get("source_service"), "source_service"),
            "source",
        ),
        destination=_hubble_end_cached(
            _obj(flow.get("destination"), "destination"),
            _ip(ip.get("destination"), "IP.destination"),
            _obj(flow.get("destination_service"), "destination_service"),
            "destination",
        ),
        port=port or None,
        protocol=protocol,
        verdict=verdict,
        drop_reason=reason,
        direction=_enum(flow.get("traffic_direction"), "traffic_direction", DIRECTIONS),
        time=_time(flow.get("time"), "time"),
        is_reply=is_reply,
        policies=_hubble_policies(flow),
    )


# ------------------------------------------------------------------ Calico Goldmane


def _calico_hit(hit: Any, where: str, pending: bool) -> FlowPolicy:
    hit = _obj(hit, where)
    kind = _enum(hit.get("kind"), f"{where}.kind", CALICO_KINDS)
    name = _name(hit.get("name"), f"{where}.name", _POLICY_NAME)
    if kind == "NetworkPolicy" and name.startswith("knp.default."):
        name = name[len("knp.default.") :]
    rule = _int(_get(hit, "rule_index"), f"{where}.rule_index", -1, 1 << 31)
    return FlowPolicy(
        kind=kind,
        namespace=_name(hit.get("namespace"), f"{where}.namespace", _DNS_LABEL),
        name=name,
        action=_str(hit.get("action"), f"{where}.action", 16).lower(),
        tier=_str(hit.get("tier"), f"{where}.tier", 63),
        rule="" if rule is None or rule < 0 else str(rule),
        pending=pending,
    )


def _calico_end(key: Mapping[str, Any], side: str, labels: Any) -> FlowEnd:
    kind = _str(_get(key, f"{side}_type"), f"{side}_type", 16)
    service = ""
    if side == "dest":
        svc = _name(_get(key, "dest_service_name"), "dest_service_name")
        svc_ns = _name(_get(key, "dest_service_namespace"), "dest_service_namespace", _DNS_LABEL)
        service = f"{svc_ns}/{svc}" if svc else ""
    name = _name(_get(key, f"{side}_name"), f"{side}_name", _CALICO_NAME)
    return FlowEnd(
        namespace=_name(_get(key, f"{side}_namespace"), f"{side}_namespace", _DNS_LABEL),
        pod=name if kind in ("", "wep") and name not in ("", "-") else "",
        labels=_labels(labels, f"{side}_labels"),
        workload=name.removesuffix("-*") if kind in ("", "wep") else "",
        service=service,
        reserved=_CALICO_TYPES.get(kind, clean(kind)) if kind not in ("", "wep") else "",
    )


def _calico(flow: Mapping[str, Any], number: int) -> FlowRecord:
    key = _obj(flow.get("Key", flow.get("key", flow)), "Key")
    proto = _str(key.get("proto"), "proto", 16).upper()
    protocol = {"ICMP": "ICMPv4", "ICMP6": "ICMPv6", "ICMPV6": "ICMPv6"}.get(proto, proto)
    if protocol and protocol not in ("TCP", "UDP", "SCTP", "ICMPv4", "ICMPv6"):
        raise BadLine(f"proto: {preview(proto, 20)!r} is not TCP, UDP, SCTP or ICMP")
    action = _str(key.get("action"), "action", 16).lower()
    if action not in ("allow", "deny", "pass", ""):
        raise BadLine(f"action: {preview(action, 20)!r} is not Allow or Deny")
    policies = _obj(key.get("policies"), "policies")
    hits: list[FlowPolicy] = []
    for field, pending in (("enforced_policies", False), ("pending_policies", True)):
        items = _get(policies, field)
        if items is None:
            continue
        if not isinstance(items, list):
            raise BadLine(f"policies.{field}: expected a list")
        hits.extend(
            _calico_hit(h, f"policies.{field}[{i}]", pending) for i, h in enumerate(items[:16])
        )
    verdict = {"allow": "FORWARDED", "deny": "DROPPED"}.get(action, "VERDICT_UNKNOWN")
    reason = ""
    if verdict == "DROPPED":
        deciding = next((h for h in hits if not h.pending and h.action == "deny"), None)
        # A deny rule is an explicit deny; the end of a tier with no match is the default deny.
        explicit = deciding is not None and deciding.kind != "EndOfTier"
        reason = "POLICY_DENY" if explicit else "POLICY_DENIED"
    reporter = _str(key.get("reporter"), "reporter", 8)
    started = _int(_get(flow, "num_connections_started"), "num_connections_started")
    start = _time(_get(flow, "start_time"), "start_time")
    end = _time(_get(flow, "end_time"), "end_time")
    return FlowRecord(
        cni="calico",
        line=number,
        source=_calico_end(key, "source", _get(flow, "source_labels")),
        destination=_calico_end(key, "dest", _get(flow, "dest_labels")),
        port=_int(_get(key, "dest_port"), "dest_port", 0, 65535) or None,
        protocol=protocol,
        verdict=verdict,
        drop_reason=reason,
        direction={"src": "EGRESS", "dst": "INGRESS"}.get(reporter, ""),
        time=start,
        end_time=end,
        count=max(started or 0, 1),
        policies=tuple(hits),
    )
