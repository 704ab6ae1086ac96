"""The policies a default-deny rollout adds: one module, so that the shared policy builder
can replace these functions one by one.

- `default_deny(ns)`: every pod of the namespace isolated for Ingress and Egress.
- `dns_guardrail(snapshot, ns)`: egress UDP and TCP 53 to the cluster's DNS pods, found the
  way the engine's containment finds them (`policy.exposure.dns_egress_rule`); and, when the
  DNS pods' own namespace is rolled out, `dns_ingress(...)`: ingress on 53 to them from
  every namespace.
- `least_privilege_allows(snapshot, namespaces, connections)`: per workload of the rollout
  namespaces, one policy allowing exactly what was observed to and from it — selectors on
  stable workload labels (never pod-template-hash and the like), a namespaceSelector on
  kubernetes.io/metadata.name for other namespaces, ports as observed (named where every pod
  of the destination names the number so), outside addresses as ipBlocks, the observed
  addresses collapsed without widening (the narrowest CIDRs that hold exactly them).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from triage.model import (
    NAMESPACE_NAME_LABEL,
    Direction,
    IPBlock,
    LabelSelector,
    NetworkPolicy,
    Peer,
    Pod,
    PolicyPort,
    Protocol,
    Rule,
    Snapshot,
)
from triage.model.manifest import policy_manifest_from_model
from triage.policy.dns import dns_target
from triage.policy.generate import dns_egress_rule, dns_notes, select_pods
from triage.policy.generate import dns_label as dns_name
from triage.rollout.observed import Connection

MANAGED_BY = ("app.kubernetes.io/managed-by", "netpol-triage")
ROLE_LABEL = "netpol-triage/rollout"  # default-deny | dns | allow
DENY_NAME = "rollout-default-deny"
DNS_NAME = "rollout-allow-dns"
DNS_INGRESS_NAME = "rollout-allow-dns-ingress"
ALLOW_PREFIX = "rollout-allow-"

WorkloadKey = tuple[str, str]  # (namespace, workload)


@dataclass(frozen=True)
class Generated:
    """A generated policy and why it exists (`role`: default-deny, dns or allow)."""

    policy: NetworkPolicy
    role: str
    workload: str = ""  # the workload an allow is for
    notes: tuple[str, ...] = ()


def _with_manifest(policy: NetworkPolicy, role: str) -> NetworkPolicy:
    """The policy as the server will hold it: in the parser's canonical form (policyTypes
    sorted, as `sources.parse` gives them), so it compares equal to what a re-read returns
    (tests/test_rollout.py checks the round trip), with its manifest and our labels."""
    policy = dataclasses.replace(policy, policy_types=tuple(sorted(policy.policy_types)))
    manifest = policy_manifest_from_model(policy)
    manifest["metadata"]["labels"] = {MANAGED_BY[0]: MANAGED_BY[1], ROLE_LABEL: role}
    return dataclasses.replace(policy, manifest=manifest)


def is_generated(policy: NetworkPolicy) -> bool:
    """A policy an earlier rollout created (it may be replaced by a new plan)."""
    meta = policy.manifest.get("metadata") if policy.manifest else None
    labels = meta.get("labels") if isinstance(meta, Mapping) else None
    return isinstance(labels, Mapping) and labels.get(MANAGED_BY[0]) == MANAGED_BY[1]


def is_default_deny(policy: NetworkPolicy) -> bool:
    return (
        policy.pod_selector.is_empty
        and not policy.ingress
        and not policy.egress
        and set(policy.policy_types) == {"Ingress", "Egress"}
    )


def default_deny(namespace: str) -> Generated:
    policy = NetworkPolicy(namespace, DENY_NAME, LabelSelector(), ("Ingress", "Egress"))
    return Generated(_with_manifest(policy, "default-deny"), "default-deny")


def dns_guardrail(snapshot: Snapshot, namespace: str) -> Generated:
    """Egress UDP and TCP 53 to the DNS pods (the shared builder's rule)."""
    target = dns_target(snapshot)
    rule = dns_egress_rule(snapshot, target)
    policy = NetworkPolicy(namespace, DNS_NAME, LabelSelector(), ("Egress",), egress=(rule,))
    notes = tuple(dns_notes(snapshot, target))
    return Generated(_with_manifest(policy, "dns"), "dns", notes=notes)


def dns_ingress(snapshot: Snapshot, namespace: str) -> Generated | None:
    """When `namespace` holds the DNS pods: let every namespace's pods ask them (53)."""
    target = dns_target(snapshot)
    if target.namespace != namespace:
        return None
    rule = Rule(
        (Peer(namespace_selector=LabelSelector()),),
        (PolicyPort("UDP", 53), PolicyPort("TCP", 53)),
    )
    policy = NetworkPolicy(
        namespace,
        DNS_INGRESS_NAME,
        LabelSelector(tuple(sorted(target.labels.items()))),
        ("Ingress",),
        ingress=(rule,),
    )
    return Generated(_with_manifest(policy, "dns"), "dns")


# ---------------------------------------------------------------- selectors


def workload_pods(snapshot: Snapshot, key: WorkloadKey) -> list[Pod]:
    ns, workload = key
    return [p for p in snapshot.pods_by_namespace.get(ns, ()) if p.workload == workload]


def workload_selector(
    snapshot: Snapshot, pods: Sequence[Pod]
) -> tuple[LabelSelector | None, tuple[str, ...]]:
    """The shared builder's selector for the pods' workload(s): stable labels, look-alikes
    excluded by matchExpressions. None (and a note naming the label to add) when no stable
    label tells them apart: an allow on a label the pods lack would select nothing."""
    selection = select_pods(snapshot, pods)
    if selection.labels:
        return None, selection.notes
    return selection.selector, selection.notes


# ---------------------------------------------------------------- least privilege


class _Selectors:
    """Workload selectors, computed once per workload."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self._cache: dict[WorkloadKey, tuple[LabelSelector | None, tuple[str, ...]]] = {}
        self._pods: dict[WorkloadKey, list[Pod]] = {}
        by: dict[WorkloadKey, list[Pod]] = defaultdict(list)
        for pod in snapshot.pods:
            by[(pod.namespace, pod.workload)].append(pod)
        self._pods = dict(by)

    def pods(self, key: WorkloadKey) -> list[Pod]:
        return self._pods.get(key, [])

    def get(self, key: WorkloadKey) -> tuple[LabelSelector | None, tuple[str, ...]]:
        found = self._cache.get(key)
        if found is None:
            found = workload_selector(self.snapshot, self.pods(key))
            self._cache[key] = found
        return found


def _port(pods: Sequence[Pod], number: int, protocol: Protocol) -> PolicyPort:
    """The port as the destination pods name it, when every one names `number` the same."""
    names: set[str | None] = set()
    for pod in pods:
        name = next(
            (cp.name for cp in pod.ports if cp.port == number and cp.protocol == protocol), None
        )
        names.add(name)
        if name is None or len(names) > 1:
            return PolicyPort(protocol, number)
    (name,) = names
    if name is None or any(p.named_port(name, protocol) != number for p in pods):
        return PolicyPort(protocol, number)
    return PolicyPort(protocol, name)


def _port_order(pp: PolicyPort) -> tuple[str, int, str]:
    return (pp.protocol, pp.port if isinstance(pp.port, int) else -1, str(pp.port))


PeerKey = tuple[str, str, str]  # ("pod", ns, workload) | ("ip", ip, "")


def _rules(
    subject_ns: str,
    wanted: Mapping[PeerKey, set[PolicyPort]],
    selectors: _Selectors,
    notes: list[str],
) -> tuple[Rule, ...]:
    by_ports: dict[tuple[PolicyPort, ...], list[PeerKey]] = defaultdict(list)
    for peer, wanted_ports in wanted.items():
        by_ports[tuple(sorted(wanted_ports, key=_port_order))].append(peer)
    rules = []
    for ports, peers in sorted(by_ports.items(), key=lambda kv: [_port_order(p) for p in kv[0]]):
        out: list[Peer] = []
        ips: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for kind, a, b in sorted(peers):
            if kind == "ip":
                ips.append(ipaddress.ip_network(a))
                continue
            selector, why = selectors.get((a, b))
            notes.extend(why)
            if selector is None:
                continue
            if a == subject_ns:
                out.append(Peer(pod_selector=selector))
            else:
                ns_sel = LabelSelector(((NAMESPACE_NAME_LABEL, a),))
                out.append(Peer(pod_selector=selector, namespace_selector=ns_sel))
        for family in (4, 6):
            nets = [n for n in ips if n.version == family]
            out.extend(
                Peer(ip_block=IPBlock(str(net)))
                for net in ipaddress.collapse_addresses(nets)  # type: ignore[type-var]
            )
        if out:
            rules.append(Rule(tuple(out), ports))
    return tuple(rules)


def least_privilege_allows(
    snapshot: Snapshot, namespaces: Sequence[str], connections: Iterable[Connection]
) -> list[Generated]:
    """One allow policy per workload of `namespaces` that observed connections start or end
    at: egress to what it reached, ingress from what reached it, nothing else."""
    rollout = set(namespaces)
    selectors = _Selectors(snapshot)
    wanted: dict[tuple[WorkloadKey, Direction], dict[PeerKey, set[PolicyPort]]] = defaultdict(
        lambda: defaultdict(set)
    )
    ports: dict[tuple[str, str, int, Protocol], PolicyPort] = {}
    workloads: dict[int, str] = {}  # id(pod) → its workload, computed once per pod

    def workload(pod: Pod) -> str:
        found = workloads.get(id(pod))
        if found is None:
            found = workloads[id(pod)] = pod.workload
        return found

    for c in connections:
        src, dst = c.source, c.destination
        if dst is not None:
            dst_wl = (dst.namespace, workload(dst))
            dst_key: PeerKey = ("pod", *dst_wl)
            port_key = (*dst_wl, c.port, c.protocol)
            port = ports.get(port_key)
            if port is None:
                port = ports[port_key] = _port(selectors.pods(dst_wl), c.port, c.protocol)
        else:
            dst_key = ("ip", str(ipaddress.ip_address(str(c.destination_ip))), "")
            port = PolicyPort(c.protocol, c.port)
        if src is not None:
            src_wl = (src.namespace, workload(src))
            src_key: PeerKey = ("pod", *src_wl)
            if src.namespace in rollout:
                wanted[(src_wl, "Egress")][dst_key].add(port)
        else:
            src_key = ("ip", str(ipaddress.ip_address(str(c.source_ip))), "")
        if dst is not None and dst.namespace in rollout:
            wanted[(dst_wl, "Ingress")][src_key].add(port)
    out: list[Generated] = []
    subjects = sorted({key for key, _ in wanted})
    for key in subjects:
        notes: list[str] = []
        selector, why = selectors.get(key)
        notes.extend(why)
        if selector is None:
            continue
        ns = key[0]
        ingress = _rules(ns, wanted.get((key, "Ingress"), {}), selectors, notes)
        egress = _rules(ns, wanted.get((key, "Egress"), {}), selectors, notes)
        types = tuple(d for d, rules in (("Ingress", ingress), ("Egress", egress)) if rules)
        if not types:
            continue
        policy = NetworkPolicy(
            ns,
            ALLOW_PREFIX + dns_name(key[1], 63 - len(ALLOW_PREFIX)),
            selector,
            types,  # type: ignore[arg-type]
            ingress=ingress,
            egress=egress,
        )
        out.append(
            Generated(
                _with_manifest(policy, "allow"),
                "allow",
                workload=f"{ns}/{key[1]}",
                notes=tuple(dict.fromkeys(notes)),
            )
        )
    return out
