"""ClusterNetworkPolicy (v1alpha2), AdminNetworkPolicy and BaselineAdminNetworkPolicy
(v1alpha1) manifests → `AdminPolicy`, with the API's validation.

Checks follow the CRDs of kubernetes-sigs/network-policy-api: priority 0-1000, exactly
one subject kind, at most 25 rules per direction for a ClusterNetworkPolicy (100 for the
v1alpha1 kinds), the actions of each version, the peers of each direction, exactly one
field per protocol / port entry, ranges with start < end, `domainNames` in Accept rules
only, no named port next to networks/nodes/domainNames peers, and the singleton name
`default` of the BaselineAdminNetworkPolicy. Each problem is one line naming the file, the
object and the field.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from triage.model.admin import (
    Action,
    AdminKind,
    AdminPeer,
    AdminPolicy,
    AdminPort,
    AdminRule,
    AdminSelector,
    Tier,
)
from triage.model.manifest import selector_manifest
from triage.model.objects import Direction, LabelSelector, Protocol
from triage.model.untrusted import clean, preview
from triage.sources import apinames
from triage.sources.parse import (
    Parsed,
    _cidr,
    _Collector,
    _list,
    _mapping,
    _metadata,
    _port_number,
    _protocol,
    parse_selector,
)

CNP_API = "policy.networking.k8s.io/v1alpha2"
ANP_API = "policy.networking.k8s.io/v1alpha1"

_ACTIONS: Mapping[AdminKind, Mapping[str, Action]] = {
    "ClusterNetworkPolicy": {"Accept": "Accept", "Deny": "Deny", "Pass": "Pass"},
    "AdminNetworkPolicy": {"Allow": "Accept", "Deny": "Deny", "Pass": "Pass"},
    "BaselineAdminNetworkPolicy": {"Allow": "Accept", "Deny": "Deny"},
}
_MAX_RULES: Mapping[AdminKind, int] = {
    "ClusterNetworkPolicy": 25,
    "AdminNetworkPolicy": 100,
    "BaselineAdminNetworkPolicy": 100,
}
_SPEC_FIELDS: Mapping[AdminKind, tuple[str, ...]] = {
    "ClusterNetworkPolicy": ("tier", "priority", "subject", "ingress", "egress"),
    "AdminNetworkPolicy": ("priority", "subject", "ingress", "egress"),
    "BaselineAdminNetworkPolicy": ("subject", "ingress", "egress"),
}
_INGRESS_PEERS = ("namespaces", "pods")
_EGRESS_PEERS = ("namespaces", "pods", "nodes", "networks", "domainNames")
_MAX_PEERS = 25
_PROTOCOL_KEYS: Mapping[str, Protocol] = {"tcp": "TCP", "udp": "UDP", "sctp": "SCTP"}
_PORT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DOMAIN = re.compile(
    r"^(\*\.)?([a-zA-Z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.)+[a-zA-Z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.?$"
)


def _unknown(c: _Collector, value: Mapping[str, Any], known: Iterable[str], field: str) -> None:
    allowed = tuple(known)
    for key in value:
        if key not in allowed:
            c.add(f"{field}.{key}", f"unknown field (expected {', '.join(allowed)})")


def _namespaced_pod(c: _Collector, value: Any, field: str) -> AdminSelector:
    raw = _mapping(c, value, field)
    _unknown(c, raw, ("namespaceSelector", "podSelector"), field)
    if "podSelector" not in raw:
        c.add(f"{field}.podSelector", "missing (use {} for every pod)")
    ns = parse_selector(c, raw.get("namespaceSelector"), f"{field}.namespaceSelector")
    pods = parse_selector(c, raw.get("podSelector"), f"{field}.podSelector")
    return AdminSelector(ns, pods)


def _subject(c: _Collector, value: Any, field: str) -> AdminSelector:
    raw = _mapping(c, value, field)
    _unknown(c, raw, ("namespaces", "pods"), field)
    present = [k for k in ("namespaces", "pods") if raw.get(k) is not None]
    if len(present) != 1:
        got = " and ".join(present) if present else "neither"
        c.add(field, f"exactly one of namespaces or pods must be set, got {got}")
        return AdminSelector(LabelSelector())
    if present[0] == "namespaces":
        return AdminSelector(parse_selector(c, raw["namespaces"], f"{field}.namespaces"))
    return _namespaced_pod(c, raw["pods"], f"{field}.pods")


def _peer(
    c: _Collector, raw: Any, field: str, direction: Direction, action: Action
) -> AdminPeer | None:
    if not isinstance(raw, Mapping):
        c.add(field, f"expected a mapping, got {type(raw).__name__}")
        return None
    known = _INGRESS_PEERS if direction == "Ingress" else _EGRESS_PEERS
    egress_only = [k for k in raw if direction == "Ingress" and k in _EGRESS_PEERS[2:]]
    for key in egress_only:
        c.add(f"{field}.{key}", f"{key} is an egress peer; ingress peers are namespaces, pods")
    if egress_only:
        return None
    present = [k for k in known if raw.get(k) is not None]
    if len(present) > 1:
        c.add(field, f"exactly one peer field may be set, got {' and '.join(present)}")
        return None
    if not present:
        # No field this API version knows: the API says to fail closed (see AdminPeer).
        return AdminPeer("unknown", unknown_fields=tuple(str(k) for k in raw))
    kind = present[0]
    value = raw[kind]
    f = f"{field}.{kind}"
    if kind == "namespaces":
        return AdminPeer("namespaces", AdminSelector(parse_selector(c, value, f)))
    if kind == "pods":
        return AdminPeer("pods", _namespaced_pod(c, value, f))
    if kind == "nodes":
        return AdminPeer("nodes", node_selector=parse_selector(c, value, f))
    items = _list(c, value, f)
    if not 1 <= len(items) <= 25:
        c.add(f, f"needs 1 to 25 entries, got {len(items)}")
    if kind == "networks":
        cidrs: list[str] = []
        for i, cidr in enumerate(items):
            if _cidr(cidr) is None:
                c.add(f"{f}[{i}]", f"invalid CIDR {cidr!r} (expected an address/prefix length)")
            else:
                cidrs.append(str(cidr))
        return AdminPeer("networks", networks=tuple(cidrs))
    if action != "Accept":
        c.add(f, "domainNames peers are only allowed in Accept/Allow rules")
    names: list[str] = []
    for i, name in enumerate(items):
        if not isinstance(name, str) or not _DOMAIN.match(name):
            c.add(f"{f}[{i}]", f"invalid domain name {name!r}")
        else:
            names.append(name)
    return AdminPeer("domainNames", domain_names=tuple(names))


def _range(c: _Collector, value: Any, field: str, start_key: str = "start") -> tuple[int, int]:
    raw = _mapping(c, value, field)
    start = _port_number(c, raw.get(start_key), f"{field}.{start_key}")
    end = _port_number(c, raw.get("end"), f"{field}.end")
    if start is not None and end is not None and start >= end:
        c.add(field, f"start {start} must be less than end {end}")
    return (start or 0, end or 0)


def _port_name(c: _Collector, value: Any, field: str) -> str | None:
    if not isinstance(value, str) or not _PORT_NAME.match(value) or len(value) > 15:
        c.add(field, f"invalid port name {value!r} (IANA_SVC_NAME: ≤15 lowercase alnum and -)")
        return None
    return value


def _cnp_protocols(c: _Collector, value: Any, field: str) -> tuple[AdminPort, ...]:
    """v1alpha2 `protocols`: each entry exactly one of tcp/udp/sctp (with destinationPort
    number or range) or destinationNamedPort."""
    out: list[AdminPort] = []
    items = _list(c, value, field)
    if value is not None and not 1 <= len(items) <= 25:
        c.add(field, f"needs 1 to 25 entries, got {len(items)}")
    for i, raw in enumerate(items):
        f = f"{field}[{i}]"
        entry = _mapping(c, raw, f)
        _unknown(c, entry, (*_PROTOCOL_KEYS, "destinationNamedPort"), f)
        present = [k for k in (*_PROTOCOL_KEYS, "destinationNamedPort") if k in entry]
        if len(present) != 1:
            c.add(f, "exactly one of tcp, udp, sctp or destinationNamedPort must be set")
            continue
        key = present[0]
        if key == "destinationNamedPort":
            name = _port_name(c, entry[key], f"{f}.destinationNamedPort")
            if name is not None:
                out.append(AdminPort(name=name))
            continue
        proto = _PROTOCOL_KEYS[key]
        body = _mapping(c, entry[key], f"{f}.{key}")
        _unknown(c, body, ("destinationPort",), f"{f}.{key}")
        if "destinationPort" not in body:
            c.add(f"{f}.{key}.destinationPort", "missing")
            continue
        pf = f"{f}.{key}.destinationPort"
        port = _mapping(c, body["destinationPort"], pf)
        _unknown(c, port, ("number", "range"), pf)
        if ("number" in port) == ("range" in port):
            c.add(pf, "exactly one of number or range must be set")
            continue
        if "number" in port:
            number = _port_number(c, port["number"], f"{pf}.number")
            if number is not None:
                out.append(AdminPort(proto, number))
        else:
            start, end = _range(c, port["range"], f"{pf}.range")
            out.append(AdminPort(proto, start, end))
    return tuple(out)


def _anp_ports(c: _Collector, value: Any, field: str) -> tuple[AdminPort, ...]:
    """v1alpha1 `ports`: each entry exactly one of portNumber, namedPort, portRange."""
    out: list[AdminPort] = []
    items = _list(c, value, field)
    if len(items) > 100:
        c.add(field, f"at most 100 entries, got {len(items)}")
    for i, raw in enumerate(items):
        f = f"{field}[{i}]"
        entry = _mapping(c, raw, f)
        keys = ("portNumber", "namedPort", "portRange")
        _unknown(c, entry, keys, f)
        present = [k for k in keys if k in entry]
        if len(present) != 1:
            c.add(f, "exactly one of portNumber, namedPort or portRange must be set")
            continue
        key = present[0]
        if key == "namedPort":
            name = _port_name(c, entry[key], f"{f}.namedPort")
            if name is not None:
                out.append(AdminPort(name=name))
            continue
        body = _mapping(c, entry[key], f"{f}.{key}")
        proto = _protocol(c, body.get("protocol"), f"{f}.{key}.protocol")
        if key == "portNumber":
            _unknown(c, body, ("protocol", "port"), f"{f}.portNumber")
            number = _port_number(c, body.get("port"), f"{f}.portNumber.port")
            if number is not None:
                out.append(AdminPort(proto, number))
        else:
            _unknown(c, body, ("protocol", "start", "end"), f"{f}.portRange")
            start, end = _range(c, body, f"{f}.portRange")
            out.append(AdminPort(proto, start, end))
    return tuple(out)


def _rules(
    c: _Collector, kind: AdminKind, value: Any, field: str, direction: Direction
) -> tuple[AdminRule, ...]:
    items = _list(c, value, field)
    limit = _MAX_RULES[kind]
    if len(items) > limit:
        c.add(field, f"at most {limit} rules per direction ({kind}), got {len(items)}")
    peer_key = "from" if direction == "Ingress" else "to"
    port_key = "protocols" if kind == "ClusterNetworkPolicy" else "ports"
    actions = _ACTIONS[kind]
    rules: list[AdminRule] = []
    for i, raw in enumerate(items):
        f = f"{field}[{i}]"
        rule = _mapping(c, raw, f)
        _unknown(c, rule, ("name", "action", peer_key, port_key), f)
        name = rule.get("name", "")
        if not isinstance(name, str) or len(name) > 100:
            c.add(f"{f}.name", "must be a string of at most 100 characters")
            name = ""
        elif clean(name) != name:
            # Rule names are printed in every explanation: no terminal control characters.
            c.add(f"{f}.name", f"contains control characters: {preview(name)}")
            name = ""
        raw_action = rule.get("action")
        action = actions.get(raw_action) if isinstance(raw_action, str) else None
        if action is None:
            c.add(
                f"{f}.action",
                f"unknown action {raw_action!r}; {kind} takes {', '.join(actions)}",
            )
            action = "Deny"
        if rule.get(peer_key) is None:
            c.add(f"{f}.{peer_key}", "missing; a rule needs at least one peer")
        raw_peers = _list(c, rule.get(peer_key), f"{f}.{peer_key}")
        if len(raw_peers) > _MAX_PEERS and kind == "ClusterNetworkPolicy":
            c.add(f"{f}.{peer_key}", f"at most {_MAX_PEERS} peers, got {len(raw_peers)}")
        elif rule.get(peer_key) is not None and not raw_peers:
            c.add(f"{f}.{peer_key}", "needs at least one peer")
        peers = [
            p
            for j, p_raw in enumerate(raw_peers)
            if (p := _peer(c, p_raw, f"{f}.{peer_key}[{j}]", direction, action)) is not None
        ]
        if kind == "ClusterNetworkPolicy":
            ports = _cnp_protocols(c, rule.get(port_key), f"{f}.{port_key}")
        else:
            ports = _anp_ports(c, rule.get(port_key), f"{f}.{port_key}")
        if any(p.name is not None for p in ports) and any(
            p.kind in ("networks", "nodes", "domainNames") for p in peers
        ):
            c.add(
                f"{f}.{port_key}",
                "a named port cannot be used with networks/nodes/domainNames peers "
                "(they have no named ports)",
            )
        rules.append(AdminRule(name, action, tuple(peers), ports))
    return tuple(rules)


def _priority(c: _Collector, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        c.add("spec.priority", f"expected an integer 0-1000, got {value!r}")
        return 0
    if not 0 <= value <= 1000:
        c.add("spec.priority", f"priority {value} is out of range 0-1000")
    return value


def parse_admin_policy(doc: Mapping[str, Any], file: str, index: int) -> Parsed[AdminPolicy]:
    """Any of the three kinds (by `doc["kind"]`) → AdminPolicy, or every problem found."""
    c = _Collector(file, doc, index)
    kind_text = doc.get("kind")
    kind: AdminKind
    if kind_text == "AdminNetworkPolicy":
        kind = "AdminNetworkPolicy"
    elif kind_text == "BaselineAdminNetworkPolicy":
        kind = "BaselineAdminNetworkPolicy"
    else:
        kind = "ClusterNetworkPolicy"
    name, _, meta = _metadata(c, doc, False, apinames.dns1123_subdomain)
    spec = _mapping(c, doc.get("spec"), "spec")
    if doc.get("spec") is None:
        c.add("spec", "missing")
    _unknown(c, spec, _SPEC_FIELDS[kind], "spec")
    tier: Tier = "Admin"
    priority: int | None = None
    if kind == "ClusterNetworkPolicy":
        raw_tier = spec.get("tier")
        if raw_tier == "Admin" or raw_tier == "Baseline":
            tier = raw_tier
        else:
            c.add("spec.tier", f"unknown tier {raw_tier!r}; expected Admin or Baseline")
    elif kind == "BaselineAdminNetworkPolicy":
        tier = "Baseline"
        if name and name != "default":
            c.add(
                "metadata.name",
                f"a BaselineAdminNetworkPolicy is a singleton named default, got {name!r}",
            )
    if kind != "BaselineAdminNetworkPolicy":
        if "priority" not in spec:
            c.add("spec.priority", "missing (0-1000, lower first)")
        else:
            priority = _priority(c, spec["priority"])
    if "subject" not in spec:
        c.add("spec.subject", "missing")
    subject = _subject(c, spec.get("subject"), "spec.subject")
    ingress = _rules(c, kind, spec.get("ingress"), "spec.ingress", "Ingress")
    egress = _rules(c, kind, spec.get("egress"), "spec.egress", "Egress")
    if c.problems:
        return None, c.problems
    rv = meta.get("resourceVersion")
    return (
        AdminPolicy(
            kind=kind,
            name=name,
            tier=tier,
            priority=priority,
            subject=subject,
            ingress=ingress,
            egress=egress,
            resource_version=str(rv) if rv is not None else None,
            manifest=doc,
        ),
        [],
    )


def admin_load_warnings(policies: Iterable[AdminPolicy]) -> list[str]:
    """What a load should say about a set of admin policies: equal priorities within a tier
    (the API leaves their order undefined), and rules that fail closed."""
    out: list[str] = []
    by_rank: dict[tuple[str, int], list[str]] = defaultdict(list)
    for pol in sorted(policies, key=lambda p: (p.tier, p.rank)):
        if pol.priority is not None:
            by_rank[(pol.tier, pol.priority)].append(pol.key)
        for direction in ("Ingress", "Egress"):
            for i, rule in enumerate(pol.rules(direction)):
                if rule.fails_closed:
                    matches = "nothing" if rule.action == "Accept" else "all traffic"
                    out.append(
                        f"{pol.key} {pol.rule_label(direction, i)}: a peer with no known field "
                        f"fails closed: this {rule.action} rule matches {matches}"
                    )
    for (tier, priority), keys in by_rank.items():
        if len(keys) > 1:
            out.append(
                f"{tier} tier: {', '.join(keys)} share priority {priority}; the API leaves "
                "their order undefined (triage evaluates them by kind, then name)"
            )
    return out


# ---------------------------------------------------------------- model → manifest


def _admin_selector_manifest(selector: AdminSelector) -> tuple[str, Any]:
    if selector.pod_selector is None:
        return "namespaces", selector_manifest(selector.namespace_selector)
    return "pods", {
        "namespaceSelector": selector_manifest(selector.namespace_selector),
        "podSelector": selector_manifest(selector.pod_selector),
    }


def _peer_doc(peer: AdminPeer) -> dict[str, Any]:
    if peer.selector is not None:
        key, value = _admin_selector_manifest(peer.selector)
        return {key: value}
    if peer.kind == "networks":
        return {"networks": list(peer.networks)}
    if peer.kind == "nodes":
        return {"nodes": selector_manifest(peer.node_selector or LabelSelector())}
    if peer.kind == "domainNames":
        return {"domainNames": list(peer.domain_names)}
    return {}


def _port_doc(port: AdminPort, kind: AdminKind) -> dict[str, Any]:
    if kind == "ClusterNetworkPolicy":
        if port.name is not None:
            return {"destinationNamedPort": port.name}
        number: dict[str, Any] = (
            {"range": {"start": port.port, "end": port.end_port}}
            if port.end_port is not None
            else {"number": port.port}
        )
        return {str(port.protocol).lower(): {"destinationPort": number}}
    if port.name is not None:
        return {"namedPort": port.name}
    if port.end_port is not None:
        return {"portRange": {"protocol": port.protocol, "start": port.port, "end": port.end_port}}
    return {"portNumber": {"protocol": port.protocol, "port": port.port}}


def admin_policy_manifest(policy: AdminPolicy) -> dict[str, Any]:
    """The manifest of an AdminPolicy built from the model alone (parses back to it)."""
    kind = policy.kind
    api = CNP_API if kind == "ClusterNetworkPolicy" else ANP_API
    spec: dict[str, Any] = {}
    if kind == "ClusterNetworkPolicy":
        spec["tier"] = policy.tier
    if policy.priority is not None:
        spec["priority"] = policy.priority
    key, value = _admin_selector_manifest(policy.subject)
    spec["subject"] = {key: value}
    native = {v: k for k, v in _ACTIONS[kind].items()}
    port_key = "protocols" if kind == "ClusterNetworkPolicy" else "ports"
    for direction, field, peer_key in (("Ingress", "ingress", "from"), ("Egress", "egress", "to")):
        rules = policy.rules(direction)  # type: ignore[arg-type]
        if not rules:
            continue
        docs = []
        for rule in rules:
            doc: dict[str, Any] = {}
            if rule.name:
                doc["name"] = rule.name
            doc["action"] = native[rule.action]
            doc[peer_key] = [_peer_doc(p) for p in rule.peers]
            if rule.ports:
                doc[port_key] = [_port_doc(p, kind) for p in rule.ports]
            docs.append(doc)
        spec[field] = docs
    meta: dict[str, Any] = {"name": policy.name}
    if policy.resource_version is not None:
        meta["resourceVersion"] = policy.resource_version
    return {"apiVersion": api, "kind": kind, "metadata": meta, "spec": spec}
