"""Kubernetes manifests (plain dicts) → model objects, with validation.

Every check names the field the way `kubectl explain` would (`spec.ingress[0].ports[1].port`),
and all problems of an object are collected before giving up, so one run shows them all.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from triage.model import (
    OPERATORS,
    PROTOCOLS,
    Container,
    ContainerPort,
    Direction,
    IPBlock,
    LabelSelector,
    Namespace,
    NetworkPolicy,
    Owner,
    Peer,
    Pod,
    PolicyPort,
    Protocol,
    Requirement,
    Rule,
    Service,
    ServicePort,
)
from triage.model.untrusted import preview
from triage.sources import apinames
from triage.sources.errors import Problem

T = TypeVar("T")
Parsed = tuple[T | None, list[Problem]]

_STR_ONLY = {str}
_valid_keys = apinames._valid_keys  # label keys and values already found valid
_valid_values = apinames._valid_values


def _brief(value: Any) -> str:
    """A value as an error line shows it: scalars bounded and cleaned, never a whole
    collection (which could be an alias bomb or nested 10k deep)."""
    if value is None or isinstance(value, str | int | float | bool):
        return preview(repr(value), 60)
    return f"a {'mapping' if isinstance(value, Mapping) else type(value).__name__}"


class _Collector:
    """Collects problems for one object (named only when there is a problem to report:
    a 10k-pod load should not format 10k names it never prints)."""

    def __init__(self, file: str, doc: Mapping[str, Any], index: int) -> None:
        self.file = file
        self.doc = doc
        self.index = index
        self.problems: list[Problem] = []

    @property
    def obj(self) -> str:
        return describe_object(self.doc, self.index)

    def add(self, field: str, message: str) -> None:
        """A problem that leaves the object unusable."""
        self.problems.append(Problem(self.file, self.obj, field, message))

    def invalid(self, field: str, message: str) -> None:
        """A value the apiserver would refuse but that the object can still be read with
        (a name or label out of syntax): an error from a file, a warning from a live
        cluster, which accepted it (`assemble(..., lenient=True)`)."""
        self.problems.append(Problem(self.file, self.obj, field, message, object_usable=True))

    @property
    def failed(self) -> bool:
        return any(not p.object_usable for p in self.problems)


_IPV4 = re.compile(
    r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}", re.ASCII
)


def canonical_ip(value: Any) -> str | None:
    """The canonical text of an IP address (IPv6 compressed), so that lookups by address
    agree however it was spelled; None if `value` is not one."""
    if type(value) is str and _IPV4.fullmatch(value):  # already canonical: the usual case
        return value
    if not isinstance(value, str):
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def describe_object(doc: Mapping[str, Any], index: int) -> str:
    """`Kind ns/name` for error lines, every part bounded and cleaned."""
    kind = doc.get("kind")
    kind = preview(kind, 40) if isinstance(kind, str) and kind else "object"
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), Mapping) else {}
    name = meta.get("name") if isinstance(meta, Mapping) else None
    ns = meta.get("namespace") if isinstance(meta, Mapping) else None
    if not name or not isinstance(name, str):
        return f"{kind} #{index}"
    name = preview(name, 80)
    return f"{kind} {preview(ns, 63)}/{name}" if isinstance(ns, str) and ns else f"{kind} {name}"


def _is_mapping(value: Any) -> bool:
    return type(value) is dict or isinstance(value, Mapping)  # the ABC check only off the dict path


# Protocol text → the canonical literal (one shared string for every port).
_PROTOCOL_NAMES: dict[str, Protocol] = {proto: proto for proto in PROTOCOLS}


def _mapping(c: _Collector, value: Any, field: str) -> Mapping[str, Any]:
    if type(value) is dict:  # the common case, without the ABC check
        return value
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        c.add(field, f"expected a mapping, got {type(value).__name__}")
        return {}
    return value


def _list(c: _Collector, value: Any, field: str) -> list[Any]:
    if type(value) is list:
        return value
    if value is None:
        return []
    if not isinstance(value, list):
        c.add(field, f"expected a list, got {type(value).__name__}")
        return []
    return value


def _labels(c: _Collector, value: Any, field: str) -> dict[str, str]:
    if type(value) is dict and (
        not value or (set(map(type, value)) == _STR_ONLY == set(map(type, value.values())))
    ):
        for k, v in value.items():  # every key and value a string: the usual case
            if k not in _valid_keys or v not in _valid_values:
                _label_syntax(c, k, v, field)
        return dict(value)
    out: dict[str, str] = {}
    for k, v in _mapping(c, value, field).items():
        if not isinstance(k, str):
            c.add(f"{field}", f"label key {_brief(k)} must be a string")
            continue
        if isinstance(v, bool | int | float):
            # YAML 1.1 reads `version: 1.10` as the float 1.1, `0755` as 493 and `yes` as
            # true: what the file says is not what the label would be. The apiserver refuses
            # non-string values; quoting keeps the text.
            what = "a boolean" if isinstance(v, bool) else "a number"
            c.add(
                f"{field}.{preview(k, 63)}",
                f"YAML reads this value as {what} ({_brief(v)}); label values are strings: "
                "quote it",
            )
            continue
        if not isinstance(v, str):
            c.add(f"{field}.{preview(k, 63)}", f"label values must be strings, got {_brief(v)}")
            continue
        _label_syntax(c, k, v, field)
        out[k] = v
    return out


def _label_syntax(c: _Collector, key: str, value: str, field: str) -> None:
    why = apinames.label_key(key)
    if why is not None:
        c.invalid(f"{field}", f"invalid label key {_brief(key)}: {why}")
    why = apinames.label_value(value)
    if why is not None:
        c.invalid(f"{field}.{preview(key, 63)}", f"invalid label value {_brief(value)}: {why}")


NameRule = Callable[[str], str | None]


def _metadata(
    c: _Collector, doc: Mapping[str, Any], namespaced: bool, name_rule: NameRule
) -> tuple[str, str, Mapping[str, Any]]:
    meta = _mapping(c, doc.get("metadata"), "metadata")
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        c.add("metadata.name", "missing or not a string")
        name = ""
    else:
        why = name_rule(name)
        if why is not None:
            c.invalid("metadata.name", f"{_brief(name)} is {why}")
    namespace = meta.get("namespace", "default" if namespaced else "")
    if namespaced and (not isinstance(namespace, str) or not namespace):
        c.add("metadata.namespace", "must be a non-empty string")
        namespace = "default"
    elif namespaced:
        why = apinames.dns1123_label(namespace)
        if why is not None:
            c.invalid("metadata.namespace", f"{_brief(namespace)} is {why}")
    return name, str(namespace or ""), meta


_SELECTOR_FIELDS = frozenset({"matchLabels", "matchExpressions"})

# The fields of a rule and of what it holds. A field outside them is refused, not dropped:
# dropping `form:` (for `from:`) would turn a rule into "every peer", and `endport:` a range
# into one port (the API server's strict field validation refuses them too). The spec's own
# fields are not checked (yet): recordings keep whatever a policy's spec carries.
_PEER_FIELDS = ("podSelector", "namespaceSelector", "ipBlock")
_PORT_FIELDS = ("protocol", "port", "endPort")
_IP_BLOCK_FIELDS = ("cidr", "except")


def _unknown_fields(
    c: _Collector, value: Mapping[str, Any], known: tuple[str, ...], field: str, what: str
) -> None:
    for key in value:
        if key not in known:
            c.add(f"{field}.{key}", f"unknown field of {what} (expected {', '.join(known)})")


def parse_selector(c: _Collector, value: Any, field: str) -> LabelSelector:
    sel = _mapping(c, value, field)
    raw_labels = sel.get("matchLabels")
    labels = _labels(c, raw_labels, f"{field}.matchLabels") if raw_labels is not None else {}
    reqs: list[Requirement] = []
    exprs = sel.get("matchExpressions")
    if type(exprs) is not list:
        exprs = _list(c, exprs, f"{field}.matchExpressions")
    for i, expr in enumerate(exprs):
        f = f"{field}.matchExpressions[{i}]"
        if not _is_mapping(expr):
            c.add(f, f"expected a mapping, got {type(expr).__name__}")
            continue
        key = expr.get("key")
        op = expr.get("operator")
        values = expr.get("values")
        if not isinstance(key, str) or not key:
            c.add(f"{f}.key", "missing or not a string")
            continue
        why = apinames.label_key(key)
        if why is not None:
            c.invalid(f"{f}.key", f"invalid label key {_brief(key)}: {why}")
        if op not in OPERATORS:
            expected = ", ".join(OPERATORS)
            c.add(f"{f}.operator", f"unknown operator {_brief(op)}; expected one of {expected}")
            continue
        vals = _list(c, values, f"{f}.values")
        if op in ("In", "NotIn") and not vals:
            c.add(f"{f}.values", f"operator {op} needs at least one value")
            continue
        if op in ("Exists", "DoesNotExist") and vals:
            c.add(f"{f}.values", f"operator {op} takes no values")
            continue
        bad = [v for v in vals if not isinstance(v, str)]
        if bad:
            what = (
                "a value YAML reads as a number or boolean"
                if isinstance(bad[0], bool | int | float)
                else "a value that is not a string"
            )
            c.add(
                f"{f}.values", f"{what} ({_brief(bad[0])}); selector values are strings: quote it"
            )
            continue
        for v in vals:
            why = apinames.label_value(v)
            if why is not None:
                c.invalid(f"{f}.values", f"invalid label value {_brief(v)}: {why}")
        reqs.append(Requirement(key, op, tuple(str(v) for v in vals)))
    if not _SELECTOR_FIELDS.issuperset(sel):
        for key in sorted(set(sel) - _SELECTOR_FIELDS):
            c.add(f"{field}.{key}", "unknown field of a label selector")
    return LabelSelector(tuple(sorted(labels.items())), tuple(reqs))


def _protocol(c: _Collector, value: Any, field: str) -> Protocol:
    if value is None:
        return "TCP"
    for proto in PROTOCOLS:
        if value == proto:
            return proto
    c.add(field, f"unknown protocol {_brief(value)}; expected TCP, UDP or SCTP")
    return "TCP"


def _port_number(c: _Collector, value: Any, field: str) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        c.add(field, f"expected a port number, got {_brief(value)}")
        return None
    if not 1 <= value <= 65535:
        c.add(field, f"port {value} is out of range 1-65535")
        return None
    return value


def _int_or_name(c: _Collector, value: Any, field: str) -> int | str | None:
    """A port number, or a port's name. A string is always a name, as to the apiserver:
    `"80"` (or `"٨٠"`) is no number but a name without a letter, which it refuses."""
    if isinstance(value, str):
        why = apinames.port_name(value)
        if why is not None:
            c.add(field, f"invalid port name {_brief(value)}: {why}")
            return None
        return value
    return _port_number(c, value, field)


def _cidr(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if not isinstance(value, str) or "/" not in value:
        return None
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None


def _ip_block(c: _Collector, value: Any, field: str) -> IPBlock | None:
    if not isinstance(value, Mapping):
        c.add(field, f"expected a mapping, got {type(value).__name__}")
        return None
    _unknown_fields(c, value, _IP_BLOCK_FIELDS, field, "an ipBlock")
    cidr = value.get("cidr")
    net = _cidr(cidr)
    if net is None:
        c.add(f"{field}.cidr", f"invalid CIDR {_brief(cidr)} (expected an address/prefix length)")
        return None
    excepts: list[str] = []
    ok = True
    for i, exc in enumerate(_list(c, value.get("except"), f"{field}.except")):
        ex_net = _cidr(exc)
        if ex_net is None:
            c.add(f"{field}.except[{i}]", f"invalid CIDR {_brief(exc)}")
            ok = False
            continue
        # The API server's rule: every except is a strict subset of cidr.
        inside = (
            ex_net.version == net.version
            and ex_net.subnet_of(net)  # type: ignore[arg-type]
            and ex_net.prefixlen > net.prefixlen
        )
        if not inside:
            c.add(f"{field}.except[{i}]", f"{exc} is not strictly inside cidr {cidr}")
            ok = False
            continue
        excepts.append(str(exc))
    return IPBlock(str(cidr), tuple(excepts)) if ok else None


def _peers(c: _Collector, value: Any, field: str) -> tuple[Peer, ...]:
    peers: list[Peer] = []
    for i, raw in enumerate(_list(c, value, field)):
        f = f"{field}[{i}]"
        if not isinstance(raw, Mapping):
            c.add(f, f"expected a mapping, got {type(raw).__name__}")
            continue
        peer = raw
        _unknown_fields(c, peer, _PEER_FIELDS, f, "a peer")
        has_ip = "ipBlock" in peer and peer["ipBlock"] is not None
        has_sel = any(peer.get(k) is not None for k in ("podSelector", "namespaceSelector"))
        if has_ip and has_sel:
            c.add(f, "ipBlock cannot be combined with podSelector or namespaceSelector")
            continue
        if not has_ip and not has_sel:
            c.add(f, "a peer needs podSelector, namespaceSelector or ipBlock")
            continue
        if has_ip:
            block = _ip_block(c, peer["ipBlock"], f"{f}.ipBlock")
            if block is not None:
                peers.append(Peer(ip_block=block))
            continue
        pod_sel = (
            parse_selector(c, peer["podSelector"], f"{f}.podSelector")
            if peer.get("podSelector") is not None
            else None
        )
        ns_sel = (
            parse_selector(c, peer["namespaceSelector"], f"{f}.namespaceSelector")
            if peer.get("namespaceSelector") is not None
            else None
        )
        peers.append(Peer(pod_selector=pod_sel, namespace_selector=ns_sel))
    return tuple(peers)


def _policy_ports(c: _Collector, value: Any, field: str) -> tuple[PolicyPort, ...]:
    ports: list[PolicyPort] = []
    for i, raw in enumerate(_list(c, value, field)):
        f = f"{field}[{i}]"
        entry = _mapping(c, raw, f)
        _unknown_fields(c, entry, _PORT_FIELDS, f, "a port")
        proto = _protocol(c, entry.get("protocol"), f"{f}.protocol")
        raw_port = entry.get("port")
        port = _int_or_name(c, raw_port, f"{f}.port") if raw_port is not None else None
        end = entry.get("endPort")
        end_port: int | None = None
        if end is not None:
            end_port = _port_number(c, end, f"{f}.endPort")
            if not isinstance(port, int):
                c.add(f"{f}.endPort", "endPort needs a numeric port")
                end_port = None
            elif end_port is not None and end_port < port:
                c.add(f"{f}.endPort", f"endPort {end_port} is below port {port}")
                end_port = None
        ports.append(PolicyPort(proto, port, end_port))
    return tuple(ports)


def _rules(c: _Collector, value: Any, field: str, peer_key: str) -> tuple[Rule, ...]:
    rules: list[Rule] = []
    known = (peer_key, "ports")
    what = "an ingress rule" if peer_key == "from" else "an egress rule"
    for i, raw in enumerate(_list(c, value, field)):
        f = f"{field}[{i}]"
        rule = _mapping(c, raw, f)
        _unknown_fields(c, rule, known, f, what)
        rules.append(
            Rule(
                _peers(c, rule.get(peer_key), f"{f}.{peer_key}"),
                _policy_ports(c, rule.get("ports"), f"{f}.ports"),
            )
        )
    return tuple(rules)


_POLICY_SPEC_FIELDS = ("podSelector", "policyTypes", "ingress", "egress")


def parse_network_policy(doc: Mapping[str, Any], file: str, index: int) -> Parsed[NetworkPolicy]:
    c = _Collector(file, doc, index)
    name, namespace, meta = _metadata(c, doc, True, apinames.dns1123_subdomain)
    spec = _mapping(c, doc.get("spec"), "spec")
    if "podSelector" not in spec:
        c.add("spec.podSelector", "missing (use {} to select every pod of the namespace)")
    for key in sorted(k for k in spec if k not in _POLICY_SPEC_FIELDS):
        # A typo such as `egres:` would otherwise leave the policy open where its author
        # meant to isolate; kubectl's strict field validation refuses it too.
        c.add(f"spec.{key}", f"unknown field; expected {', '.join(_POLICY_SPEC_FIELDS)}")
    pod_selector = parse_selector(c, spec.get("podSelector"), "spec.podSelector")
    raw_types = spec.get("policyTypes")
    types: list[Direction] = []
    if raw_types is None or raw_types == []:
        # The apiserver's defaulting (SetDefaults_NetworkPolicySpec): an absent or empty
        # policyTypes means Ingress, plus Egress when there is at least one egress rule.
        types.append("Ingress")
        if spec.get("egress"):
            types.append("Egress")
    else:
        for i, t in enumerate(_list(c, raw_types, "spec.policyTypes")):
            if t == "Ingress" or t == "Egress":
                if t not in types:
                    types.append(t)
            else:
                message = f"unknown policy type {_brief(t)}; expected Ingress or Egress"
                c.add(f"spec.policyTypes[{i}]", message)
    ingress = _rules(c, spec.get("ingress"), "spec.ingress", "from")
    egress = _rules(c, spec.get("egress"), "spec.egress", "to")
    if c.failed:
        return None, c.problems
    rv = meta.get("resourceVersion")
    return (
        NetworkPolicy(
            namespace=namespace,
            name=name,
            pod_selector=pod_selector,
            policy_types=tuple(sorted(types)),
            ingress=ingress,
            egress=egress,
            resource_version=str(rv) if rv is not None else None,
            manifest=doc,
        ),
        c.problems,
    )


def parse_namespace(doc: Mapping[str, Any], file: str, index: int) -> Parsed[Namespace]:
    c = _Collector(file, doc, index)
    name, _, meta = _metadata(c, doc, False, apinames.dns1123_label)
    labels = _labels(c, meta.get("labels"), "metadata.labels")
    if c.failed:
        return None, c.problems
    return Namespace(name, labels), c.problems


def _container(c: _Collector, raw: Any, field: str) -> Container | None:
    # Field names are built only for a problem: a 10k-pod load would format ~100k of them.
    if not _is_mapping(raw):
        c.add(field, f"expected a mapping, got {type(raw).__name__}")
        return None
    spec = raw
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        c.add(f"{field}.name", "missing or not a string")
        return None
    why = apinames.dns1123_label(name)
    if why is not None:
        c.invalid(f"{field}.name", f"{_brief(name)} is {why}")
    ports: list[ContainerPort] = []
    raw_ports = spec.get("ports")
    if type(raw_ports) is not list:
        raw_ports = _list(c, raw_ports, f"{field}.ports")
    for i, p in enumerate(raw_ports):
        if not _is_mapping(p):
            c.add(f"{field}.ports[{i}]", f"expected a mapping, got {type(p).__name__}")
            continue
        number = p.get("containerPort")
        if type(number) is not int or not 1 <= number <= 65535:
            number = _port_number(c, number, f"{field}.ports[{i}].containerPort")
        raw_proto = p.get("protocol")
        proto = _PROTOCOL_NAMES.get(raw_proto) if type(raw_proto) is str else None
        if proto is None:
            proto = _protocol(c, raw_proto, f"{field}.ports[{i}].protocol")
        pname = p.get("name")
        why = apinames.port_name(pname) if isinstance(pname, str) else "not a string"
        if pname is not None and why is not None:
            c.add(f"{field}.ports[{i}].name", f"invalid port name {_brief(pname)}: {why}")
            pname = None
        elif pname is not None and any(cp.name == pname for cp in ports):
            # The apiserver refuses this (validateContainerPorts); a named port would be
            # ambiguous. Across containers it is accepted and the first one wins (FindPort).
            c.add(
                f"{field}.ports[{i}].name", f"duplicate port name {_brief(pname)} in this container"
            )
            pname = None
        if number is not None:
            ports.append(ContainerPort(number, proto, pname))
    image = spec.get("image")
    return Container(name, image if isinstance(image, str) else "", tuple(ports))


def parse_pod(doc: Mapping[str, Any], file: str, index: int) -> Parsed[Pod]:
    c = _Collector(file, doc, index)
    name, namespace, meta = _metadata(c, doc, True, apinames.dns1123_subdomain)
    labels = _labels(c, meta.get("labels"), "metadata.labels")
    spec = _mapping(c, doc.get("spec"), "spec")
    status = _mapping(c, doc.get("status"), "status")
    containers = []
    for i, raw in enumerate(_list(c, spec.get("containers"), "spec.containers")):
        cont = _container(c, raw, f"spec.containers[{i}]")
        if cont is not None:
            containers.append(cont)
    raw_ips: list[tuple[int, Any]] = []  # (index in podIPs, or -1 for podIP; address)
    for i, entry in enumerate(_list(c, status.get("podIPs"), "status.podIPs")):
        if not _is_mapping(entry):
            c.add(f"status.podIPs[{i}]", f"expected a mapping {{ip: ADDRESS}}, got {_brief(entry)}")
            continue
        raw_ips.append((i, entry.get("ip")))
    if not raw_ips and status.get("podIP") is not None:
        raw_ips.append((-1, status["podIP"]))
    ips: list[str] = []
    for i, ip in raw_ips:
        canonical = canonical_ip(ip)
        if canonical is None:
            where = "status.podIP" if i < 0 else f"status.podIPs[{i}].ip"
            c.add(where, f"invalid IP address {_brief(ip)}")
        else:
            ips.append(canonical)
    host_network = spec.get("hostNetwork", False)
    if not isinstance(host_network, bool):
        c.add("spec.hostNetwork", f"expected true or false, got {_brief(host_network)}")
        host_network = False
    owner = None
    for ref in _list(c, meta.get("ownerReferences"), "metadata.ownerReferences"):
        if _is_mapping(ref) and ref.get("kind") and ref.get("name"):
            owner = Owner(str(ref["kind"]), str(ref["name"]))
            if ref.get("controller"):
                break
    if c.failed:
        return None, c.problems
    node = spec.get("nodeName")
    phase = status.get("phase")
    ready: bool | None = None
    for cond in _list(c, status.get("conditions"), "status.conditions"):
        if _is_mapping(cond) and cond.get("type") == "Ready":
            ready = cond.get("status") == "True"
    deleted = meta.get("deletionTimestamp")
    if deleted is not None and not isinstance(deleted, str):
        c.add("metadata.deletionTimestamp", f"expected a timestamp string, got {_brief(deleted)}")
    if c.failed:
        return None, c.problems
    return (
        Pod(
            namespace=namespace,
            name=name,
            labels=labels,
            ips=tuple(ips),
            containers=tuple(containers),
            host_network=host_network,
            owner=owner,
            node=node if isinstance(node, str) else None,
            phase=phase if isinstance(phase, str) else None,
            ready=ready,
            deletion_timestamp=deleted if isinstance(deleted, str) else None,
        ),
        c.problems,
    )


def parse_service(doc: Mapping[str, Any], file: str, index: int) -> Parsed[Service]:
    c = _Collector(file, doc, index)
    name, namespace, _ = _metadata(c, doc, True, apinames.dns1035_label)
    spec = _mapping(c, doc.get("spec"), "spec")
    selector = _labels(c, spec.get("selector"), "spec.selector") if spec.get("selector") else None
    ports: list[ServicePort] = []
    for i, raw in enumerate(_list(c, spec.get("ports"), "spec.ports")):
        f = f"spec.ports[{i}]"
        p = _mapping(c, raw, f)
        number = _port_number(c, p.get("port"), f"{f}.port")
        target = p.get("targetPort", number)
        target_port = _int_or_name(c, target, f"{f}.targetPort") if target is not None else number
        proto = _protocol(c, p.get("protocol"), f"{f}.protocol")
        pname = p.get("name")
        if pname is not None:
            why = apinames.dns1123_label(pname) if isinstance(pname, str) else "not a string"
            if why is not None:
                c.add(f"{f}.name", f"invalid port name {_brief(pname)}: {why}")
                pname = None
        if number is not None and target_port is not None:
            ports.append(ServicePort(number, target_port, proto, pname))
    cluster_ip = spec.get("clusterIP")
    if not isinstance(cluster_ip, str) or cluster_ip == "None":
        cluster_ip = None
    cluster_ips: list[str] = []
    for i, ip in enumerate(_list(c, spec.get("clusterIPs"), "spec.clusterIPs")):
        if ip == "None":  # headless
            continue
        canonical = canonical_ip(ip)
        if canonical is None:
            c.add(f"spec.clusterIPs[{i}]", f"invalid IP address {_brief(ip)}")
        elif canonical not in cluster_ips:
            cluster_ips.append(canonical)
    if c.failed:
        return None, c.problems
    return (
        Service(
            namespace=namespace,
            name=name,
            selector=selector,
            ports=tuple(ports),
            cluster_ip=cluster_ip,
            type=str(spec.get("type", "ClusterIP")),
            cluster_ips=tuple(cluster_ips),
            publish_not_ready=spec.get("publishNotReadyAddresses") is True,
        ),
        c.problems,
    )
