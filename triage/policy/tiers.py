"""The policy tiers around NetworkPolicy: ClusterNetworkPolicy (v1alpha2) and
AdminNetworkPolicy / BaselineAdminNetworkPolicy (v1alpha1).

Semantics, from the API types of kubernetes-sigs/network-policy-api:

- Per direction (egress at the source, ingress at the destination), the tiers are walked in
  order: Admin → NetworkPolicy → Baseline → allowed.
- In the Admin and Baseline tiers, the policies whose subject selects the pod are taken by
  priority (lower first), then each policy's rules of that direction in written order. The
  first rule whose peers and ports match decides: Accept (v1alpha1: Allow) and Deny are
  final; Pass skips the rest of the tier and goes on to the next tier. No matching rule:
  on to the next tier.
- The NetworkPolicy tier decides whenever at least one NetworkPolicy selects the pod for the
  direction (allowed if a rule allows, else denied); otherwise it has nothing to say.
- Host-network pods are never subjects, nor matched by `namespaces` / `pods` peers.
- A peer with no known field fails closed: in an Accept rule it matches nothing, and a
  Deny or Pass rule holding one matches all traffic.
- `networks` CIDRs match pod addresses as well (`0.0.0.0/0` catches pod traffic).
- `nodes` matches the addresses of nodes; the snapshot knows a node's address only from its
  host-network pods, and no node labels, so only an empty selector can be decided.
- `domainNames` cannot be decided from a snapshot (it holds no DNS answers): treated as not
  matching, and the verdict says so.

`apply_tiers` is the one entry point the engine calls, once per verdict, with the
NetworkPolicy-only trace of both sides; it returns the sides with the tiers applied.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache

from triage.model import Direction, Namespace, Pod, Protocol, Snapshot
from triage.model.admin import AdminPeer, AdminPolicy, AdminPort, AdminRule, AdminSelector, Tier
from triage.policy.selectors import selector_failures, selector_matches
from triage.policy.trace import (
    AdminPeerTrace,
    AdminPolicyTrace,
    AdminRuleTrace,
    EngineWarning,
    PortTrace,
    Reason,
    SideTrace,
    TierChain,
    TierMiss,
    TierStep,
    failure_cost,
)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=65536)
def _network(cidr: str) -> IPNetwork:
    return ipaddress.ip_network(cidr, strict=False)


@lru_cache(maxsize=65536)
def _address(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(ip)


# ---------------------------------------------------------------- per-snapshot index


@dataclass(slots=True)
class TierIndex:
    """The admin policies of a snapshot in evaluation order, per tier, the namespaces (for
    their labels) and what is known of the nodes. `by_pod` memoises which policies select a
    pod (a matrix asks often). Built once per snapshot, with the engine's compiled form."""

    ordered: Mapping[Tier, tuple[AdminPolicy, ...]]
    namespaces: Mapping[str, Namespace]
    node_ips: frozenset[str]  # node addresses, known from host-network pods
    by_pod: dict[tuple[str, Tier], tuple[AdminPolicy, ...]] = field(default_factory=dict)

    def namespace_labels(self, name: str) -> Mapping[str, str]:
        ns = self.namespaces.get(name)
        return ns.labels if ns is not None else {}


def tier_index(snapshot: Snapshot) -> TierIndex | None:
    """The index of the snapshot's admin policies; None when it has none."""
    if not snapshot.admin_policies:
        return None
    ordered: dict[Tier, list[AdminPolicy]] = {"Admin": [], "Baseline": []}
    for pol in snapshot.admin_policies:
        ordered[pol.tier].append(pol)
    node_ips = frozenset(ip for pod in snapshot.pods if pod.host_network for ip in pod.ips)
    return TierIndex(
        {tier: tuple(sorted(pols, key=lambda p: p.rank)) for tier, pols in ordered.items()},
        snapshot.namespace_by_name,
        node_ips,
    )


def selects(tix: TierIndex, selector: AdminSelector, pod: Pod) -> bool:
    """Does a subject (or a namespaces/pods peer) select this pod? Never a host-network pod."""
    if pod.host_network:
        return False
    ns_labels = tix.namespace_labels(pod.namespace)
    if not selector_matches(selector.namespace_selector, ns_labels):
        return False
    return selector.pod_selector is None or selector_matches(selector.pod_selector, pod.labels)


def subject_policies(tix: TierIndex, pod: Pod, tier: Tier) -> tuple[AdminPolicy, ...]:
    """The policies of `tier` whose subject selects `pod`, in evaluation order."""
    key = (pod.key, tier)
    found = tix.by_pod.get(key)
    if found is None:
        found = tuple(p for p in tix.ordered[tier] if selects(tix, p.subject, pod))
        tix.by_pod[key] = found
    return found


# ---------------------------------------------------------------- peers and ports


@dataclass(frozen=True, slots=True)
class Far:
    """The far end of the connection as a rule sees it: its pod (if one of the snapshot)
    and the address it uses for this connection."""

    pod: Pod | None
    ip: str | None
    role: str  # "source" or "destination"

    @property
    def name(self) -> str:
        return self.pod.key if self.pod is not None else (self.ip or "?")


def _selector_reasons(tix: TierIndex, selector: AdminSelector, far: Far) -> tuple[Reason, ...]:
    if far.pod is None:
        text = (
            f"{far.role} {far.ip} is not a pod of this cluster; namespaces and pods peers "
            "only match pods"
        )
        return (Reason("not-a-pod", text, far.role, None, far.ip),)
    if far.pod.host_network:
        text = (
            f"{far.role} {far.pod.key} uses hostNetwork; namespaces and pods peers never "
            "match host-network pods"
        )
        return (Reason("host-network", text, far.role, None, far.pod.key),)
    ns_labels = tix.namespace_labels(far.pod.namespace)
    reasons = list(
        selector_failures(selector.namespace_selector, ns_labels, f"namespace {far.pod.namespace}")
    )
    if selector.pod_selector is not None:
        reasons.extend(selector_failures(selector.pod_selector, far.pod.labels, far.role))
    return tuple(reasons)


def _network_reasons(networks: tuple[str, ...], far: Far) -> tuple[Reason, ...]:
    if far.ip is None:
        text = f"{far.role} has no IP address (of this flow's family), so no network matches it"
        return (Reason("no-ip", text, far.role),)
    address = _address(far.ip)
    for cidr in networks:
        net = _network(cidr)
        if net.version == address.version and address in net:
            return ()
    shown = ", ".join(networks)
    text = f"{far.role} IP {far.ip} is outside {shown}"
    return (Reason("ip-outside-cidr", text, far.role, None, far.ip, networks),)


def trace_admin_peer(
    tix: TierIndex, peer: AdminPeer, index: int, far: Far, node_ips: frozenset[str]
) -> AdminPeerTrace:
    desc = peer.describe()
    if peer.selector is not None:
        reasons = _selector_reasons(tix, peer.selector, far)
        return AdminPeerTrace(index, desc, not reasons, reasons)
    if peer.kind == "networks":
        reasons = _network_reasons(peer.networks, far)
        return AdminPeerTrace(index, desc, not reasons, reasons)
    if peer.kind == "nodes":
        if far.ip is None or far.ip not in node_ips:
            text = (
                f"{far.role} {far.name} is not a node address the snapshot knows (node "
                "addresses are known from host-network pods only)"
            )
            return AdminPeerTrace(
                index, desc, False, (Reason("not-a-node", text, far.role, None, far.ip),)
            )
        if peer.node_selector is None or peer.node_selector.is_empty:
            return AdminPeerTrace(index, desc, True)
        text = (
            f"{far.role} {far.ip} is a node address, but the snapshot holds no node labels: "
            f"nodes {peer.node_selector.describe()} cannot be evaluated; treated as not matching"
        )
        reason = Reason("node-labels-unknown", text, far.role, None, far.ip)
        return AdminPeerTrace(index, desc, False, (reason,), undecidable=True)
    if peer.kind == "domainNames":
        text = (
            f"domainNames {', '.join(peer.domain_names)} cannot be evaluated statically: the "
            f"snapshot holds no DNS answers for {far.name}; treated as not matching"
        )
        reason = Reason("domain-names-unknown", text, far.role, None, far.ip)
        return AdminPeerTrace(index, desc, False, (reason,), undecidable=True)
    text = (
        "a peer with no field this API version knows fails closed (an Accept rule matches "
        "nothing, a Deny or Pass rule everything)"
    )
    return AdminPeerTrace(index, desc, False, (Reason("unknown-peer", text, far.role),))


def trace_admin_port(
    pport: AdminPort, index: int, port: int | None, protocol: Protocol, destination: Pod | None
) -> PortTrace:
    desc = pport.describe()
    if pport.name is not None:
        if destination is None:
            text = (
                f"named port {pport.name} cannot be resolved: the destination is not a pod "
                "of this cluster"
            )
            reason = Reason("named-port-unresolved", text, "destination", pport.name)
            return PortTrace(index, desc, False, reason)
        number = destination.named_port(pport.name, protocol)
        if number is None:
            text = f"destination has no {protocol} container port named {pport.name}"
            reason = Reason("named-port-unresolved", text, "destination", pport.name)
            return PortTrace(index, desc, False, reason)
        if number != port:
            text = f"named port {pport.name} is {number}/{protocol}, the flow uses {port}"
            reason = Reason("port", text, "flow", pport.name, str(port), (str(number),))
            return PortTrace(index, desc, False, reason)
        return PortTrace(index, f"{desc} (= {number})", True)
    if pport.protocol != protocol:
        text = f"rule matches {pport.protocol}, flow is {protocol}"
        reason = Reason("protocol", text, "flow", None, protocol, (str(pport.protocol),))
        return PortTrace(index, desc, False, reason)
    if pport.port is None:
        return PortTrace(index, desc, True)
    if port is None:
        return PortTrace(
            index, desc, False, Reason("port-unknown", "the destination port is not known", "flow")
        )
    if pport.end_port is not None:
        if pport.port <= port <= pport.end_port:
            return PortTrace(index, desc, True)
        shown = f"{pport.port}-{pport.end_port}"
        text = f"port {port} is outside {shown}"
        return PortTrace(
            index, desc, False, Reason("port-range", text, "flow", None, str(port), (shown,))
        )
    if pport.port == port:
        return PortTrace(index, desc, True)
    text = f"port {port} is not {pport.port}"
    return PortTrace(
        index, desc, False, Reason("port", text, "flow", None, str(port), (str(pport.port),))
    )


def trace_admin_rule(
    tix: TierIndex,
    pol: AdminPolicy,
    direction: Direction,
    index: int,
    rule: AdminRule,
    far: Far,
    port: int | None,
    protocol: Protocol,
    destination: Pod | None,
    node_ips: frozenset[str],
) -> AdminRuleTrace:
    name = pol.rule_label(direction, index)
    peers = tuple(trace_admin_peer(tix, p, i, far, node_ips) for i, p in enumerate(rule.peers))
    ports = tuple(
        trace_admin_port(p, i, port, protocol, destination) for i, p in enumerate(rule.ports)
    )
    if rule.fails_closed and rule.action != "Accept":
        # "Treat the rule as a 'Deny all' rule" (for Pass: pass all).
        return AdminRuleTrace(index, name, rule.action, True, True, True, peers, ports, True)
    peer_ok = any(p.matched for p in peers)
    port_ok = not ports or any(p.matched for p in ports)
    return AdminRuleTrace(
        index, name, rule.action, peer_ok and port_ok, peer_ok, port_ok, peers, ports
    )


# ---------------------------------------------------------------- one tier


def _tier_miss(policies: tuple[AdminPolicyTrace, ...], wanted: tuple[str, ...]) -> TierMiss | None:
    best: tuple[tuple[int, int, int, int], TierMiss] | None = None
    for order, pol in enumerate(policies):
        for rule in pol.rules:
            if rule.matched or rule.action not in wanted:
                continue
            missing = rule.failures
            score = (failure_cost(missing), len(missing), order, rule.index)
            if best is None or score < best[0]:
                best = (score, TierMiss(pol.key, rule.name, rule.action, missing))
    return best[1] if best else None


def _walk_tier(
    tix: TierIndex,
    tier: Tier,
    pod: Pod,
    direction: Direction,
    far: Far,
    port: int | None,
    protocol: Protocol,
    destination: Pod | None,
    notes: list[EngineWarning],
) -> TierStep:
    policies = subject_policies(tix, pod, tier)
    if not policies:
        return TierStep(tier, "None", f"{tier}: no policy selects {pod.key}")
    traces: list[AdminPolicyTrace] = []
    for pol in policies:
        rules: list[AdminRuleTrace] = []
        decided: AdminRuleTrace | None = None
        for i, rule in enumerate(pol.rules(direction)):
            trace = trace_admin_rule(
                tix, pol, direction, i, rule, far, port, protocol, destination, tix.node_ips
            )
            rules.append(trace)
            if trace.matched:
                decided = trace
                break
            undecided = [p for p in trace.peers if p.undecidable]
            if undecided and trace.port_matched:
                notes.append(
                    EngineWarning(
                        "tier-undecidable-peer",
                        f"{pol.key} {trace.name} ({trace.action}) may apply but cannot be "
                        f"evaluated statically: {undecided[0].reasons[0].text}",
                        pol.key,
                    )
                )
        traces.append(
            AdminPolicyTrace(
                pol.key, pol.kind, pol.tier, pol.priority, pol.subject.describe(), tuple(rules)
            )
        )
        if decided is not None:
            peer = next((p.description for p in decided.peers if p.matched), None)
            if decided.fails_closed:
                peer = "a peer with no known field (fails closed)"
            text = f"{tier}: {pol.key} rule {decided.name} {decided.action}"
            all_traces = tuple(traces)
            wanted = ("Accept", "Pass") if decided.action == "Deny" else ()
            return TierStep(
                tier,
                decided.action,  # type: ignore[arg-type]
                text,
                pol.key,
                decided.name,
                peer,
                all_traces,
                _tier_miss(all_traces, wanted) if wanted else None,
            )
    all_traces = tuple(traces)
    n = sum(len(p.rules) for p in all_traces)
    verb = "egress" if direction == "Egress" else "ingress"
    if n == 0:
        # "Policies with no ingress rules do not affect ingress traffic."
        text = f"{tier}: no policy selecting {pod.key} has {verb} rules"
        return TierStep(tier, "None", text, policies=all_traces)
    keys = ", ".join(p.key for p in all_traces if p.rules)
    text = f"{tier}: none of the {n} {verb} rule(s) of {keys} matches"
    return TierStep(
        tier, "None", text, policies=all_traces, nearest_miss=_tier_miss(all_traces, ("Accept",))
    )


# ---------------------------------------------------------------- a side, both sides


def _np_step(v1: SideTrace, port: int | None, protocol: Protocol) -> TierStep:
    if not v1.isolated:
        return TierStep("NetworkPolicy", "None", f"NetworkPolicy: none selects {v1.endpoint}")
    keys = ", ".join(p.key for p in v1.policies)
    if v1.allowed and v1.decision is not None:
        text = f"NetworkPolicy: {v1.decision.policy} rule #{v1.decision.rule} allows"
        return TierStep("NetworkPolicy", "Accept", text, v1.decision.policy, f"#{v1.decision.rule}")
    shown = f"{protocol} {port if port is not None else '?'}"
    text = f"NetworkPolicy: no rule of {keys} admits {shown}"
    best: tuple[tuple[int, int, str, int], TierMiss] | None = None
    for pol in v1.policies:
        for rule in pol.rules:
            missing = rule.failures
            score = (failure_cost(missing), len(missing), pol.key, rule.index)
            if best is None or score < best[0]:
                best = (score, TierMiss(pol.key, f"#{rule.index}", "Allow", missing))
    return TierStep("NetworkPolicy", "Deny", text, keys, nearest_miss=best[1] if best else None)


def _side(
    tix: TierIndex,
    v1: SideTrace,
    pod: Pod,
    far: Far,
    port: int | None,
    protocol: Protocol,
    destination: Pod | None,
    notes: list[EngineWarning],
) -> SideTrace:
    direction = v1.direction
    steps: list[TierStep] = []
    if pod.host_network:
        text = f"Admin, Baseline: {pod.key} uses hostNetwork; host-network pods are never subjects"
        chain = TierChain((TierStep("Admin", "None", text),), "NetworkPolicy", v1.allowed, text)
        return replace(v1, tiers=chain)
    admin = _walk_tier(tix, "Admin", pod, direction, far, port, protocol, destination, notes)
    steps.append(admin)
    decided_by: str
    allowed: bool
    policies = v1.policies
    decision = v1.decision
    if admin.outcome in ("Accept", "Deny"):
        decided_by, allowed = "Admin", admin.outcome == "Accept"
        # NetworkPolicies never ran: their rules are no "nearest miss" of this verdict.
        policies, decision = (), None
    else:
        np_step = _np_step(v1, port, protocol)
        steps.append(np_step)
        if np_step.outcome != "None":
            decided_by, allowed = "NetworkPolicy", v1.allowed
        else:
            base = _walk_tier(
                tix, "Baseline", pod, direction, far, port, protocol, destination, notes
            )
            steps.append(base)
            if base.outcome in ("Accept", "Deny"):
                decided_by, allowed = "Baseline", base.outcome == "Accept"
            else:
                decided_by, allowed = "Default", True
                steps.append(TierStep("Default", "Accept", "default: allowed"))
    text = " → ".join(s.text for s in steps)
    chain = TierChain(tuple(steps), decided_by, allowed, text)  # type: ignore[arg-type]
    return replace(v1, allowed=allowed, policies=policies, decision=decision, tiers=chain)


def apply_tiers(
    tix: TierIndex | None,
    egress: SideTrace,
    ingress: SideTrace,
    source: Far,
    destination: Far,
    port: int | None,
    protocol: Protocol,
) -> tuple[SideTrace, SideTrace, list[EngineWarning]]:
    """Both sides of a verdict with the admin tiers applied (unchanged when the snapshot
    has no admin policy), and the warnings the tiers add."""
    if tix is None:
        return egress, ingress, []
    notes: list[EngineWarning] = []
    if source.pod is not None:
        egress = _side(tix, egress, source.pod, destination, port, protocol, destination.pod, notes)
    if destination.pod is not None:
        ingress = _side(
            tix, ingress, destination.pod, source, port, protocol, destination.pod, notes
        )
    return egress, ingress, notes
