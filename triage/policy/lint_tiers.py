"""Lint findings for the admin tiers (ClusterNetworkPolicy, ANP, BANP):

- `tier-priority-tie`      two policies of one tier share a priority: their order is
                           undefined by the API (medium when their subjects overlap)
- `tier-networks-pods`     a `networks` peer whose CIDR also holds pod addresses: it matches
                           pod-to-pod traffic (0.0.0.0/0 catches every IPv4 pod)
- `tier-cuts-dns`          an Admin-tier Deny decides egress from pods to the DNS pods
- `tier-cuts-kubelet`      an Admin-tier Deny decides ingress from a node address (the
                           kubelet's health checks come from there)
- `tier-pass-undecided`    a Pass for pods no NetworkPolicy and no Baseline rule decides:
                           it behaves like an allow
- `tier-shadowed-rule`     a rule an earlier rule (of a higher-priority policy of the same
                           tier, or earlier in the same policy) already matches in full

Each finding is the keyword arguments of `lint.Finding`. Cluster-scoped findings carry
namespace "" and the policy key (`cnp/NAME`, `anp/NAME`,
`banp/default`).
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from typing import Any

from triage.model import Direction, Snapshot, parse_flow
from triage.model.admin import AdminPolicy, Tier
from triage.policy.classes import ClusterModel, iter_bits
from triage.policy.dns import dns_target
from triage.policy.engine import explain
from triage.policy.tiers_matrix import TierModel, TierRule

# A finding as the keyword arguments of `lint.Finding` (lint builds them: this module stays
# below lint, so the two never import each other).
FindingFields = dict[str, Any]


def _finding(**kw: Any) -> FindingFields:
    return kw


def _pods_in(model: ClusterModel, bits: int) -> int:
    return sum(len(model.classes[c].pods) for c in iter_bits(bits))


def _tier_decision(
    snapshot: Snapshot, flow_args: tuple[str, str, int, str], side: str
) -> tuple[str | None, str | None]:
    """(deciding policy key, rule name) when an admin tier Deny decides `side` of the flow."""
    flow = parse_flow(*flow_args)
    explanation = explain(snapshot, flow)
    verdict = explanation.primary
    if verdict is None:
        return None, None
    chain = getattr(verdict, side).tiers
    if chain is None or chain.decided_by != "Admin" or chain.allowed:
        return None, None
    step = chain.steps[0]  # the Admin tier is walked first, and decided
    return step.policy, step.rule


def tier_findings(snapshot: Snapshot, model: ClusterModel) -> list[FindingFields]:
    if not snapshot.admin_policies:
        return []
    tiers = TierModel(model)
    out: list[FindingFields] = []
    subjects = {pol.key: bits for pol, bits, _ in tiers.compiled}

    # ---- priority ties
    by_rank: dict[tuple[Tier, int], list[AdminPolicy]] = defaultdict(list)
    for pol in snapshot.admin_policies:
        if pol.priority is not None:
            by_rank[(pol.tier, pol.priority)].append(pol)
    for (tier, priority), pols in sorted(by_rank.items()):
        if len(pols) < 2:
            continue
        pols = sorted(pols, key=lambda p: p.rank)
        shared = subjects[pols[0].key]
        for p in pols[1:]:
            shared &= subjects[p.key]
        keys = ", ".join(p.key for p in pols)
        for pol in pols[1:]:
            out.append(
                _finding(
                    code="tier-priority-tie",
                    severity="medium" if shared else "low",
                    namespace="",
                    policy=pol.key,
                    direction=None,
                    rule=None,
                    pods=_pods_in(model, shared),
                    title=f"{tier} tier priority {priority} is shared by {keys}",
                    why=(
                        "the API leaves the order of equal priorities undefined: an "
                        "implementation may apply either policy first"
                        + (f"; both select {_pods_in(model, shared)} pod(s)" if shared else "")
                    ),
                    suggestion="give each policy of the tier its own priority",
                )
            )

    # ---- networks peers that hold pod addresses
    pod_ips = [
        (ipaddress.ip_address(ip), pod.key)
        for pod in snapshot.pods
        if not pod.host_network
        for ip in pod.ips
    ]
    for pol in snapshot.admin_policies:
        for i, rule in enumerate(pol.egress):
            for j, peer in enumerate(rule.peers):
                for cidr in peer.networks:
                    net = ipaddress.ip_network(cidr, strict=False)
                    caught = sorted(
                        {key for ip, key in pod_ips if ip.version == net.version and ip in net}
                    )
                    if not caught:
                        continue
                    everything = net.prefixlen == 0
                    out.append(
                        _finding(
                            code="tier-networks-pods",
                            severity="high" if everything and rule.action != "Accept" else "medium",
                            namespace="",
                            policy=pol.key,
                            direction="Egress",
                            rule=i,
                            peer=j,
                            pods=len(caught),
                            title=(
                                f"networks {cidr} also matches pod traffic ({len(caught)} pod(s))"
                            ),
                            why=(
                                f"rule {pol.rule_label('Egress', i)} ({rule.action}) matches "
                                f"connections to pods by address, e.g. {', '.join(caught[:3])}: "
                                "networks peers are checked against cluster-internal traffic too"
                            ),
                            suggestion=(
                                "put a rule that Passes pod traffic (to: [{namespaces: {}}]) "
                                "before it, or narrow the CIDR to addresses outside the cluster"
                            ),
                        )
                    )

    # ---- Admin Denies that cut DNS or the kubelet
    dns_pod = next((p for p in dns_target(snapshot).pods if p.ips), None)
    node_ip = next((ip for p in snapshot.pods if p.host_network for ip in p.ips), None)
    seen_dns: set[tuple[str, str]] = set()
    seen_kubelet: set[tuple[str, str]] = set()
    has_deny: dict[Direction, int] = {"Egress": 0, "Ingress": 0}
    for pol, bits, per_direction in tiers.compiled:
        if pol.tier != "Admin":
            continue
        for direction in ("Egress", "Ingress"):
            if any(r.action == "Deny" for r in per_direction[direction]):
                has_deny[direction] |= bits
    for c in iter_bits(has_deny["Egress"]):
        pod = model.classes[c].representative
        if dns_pod is None or pod.key == dns_pod.key or not pod.ips:
            continue
        dest = f"{dns_pod.namespace}/{dns_pod.name}"
        policy, rule_name = _tier_decision(snapshot, (pod.key, dest, 53, "UDP"), "egress")
        if policy is None or (policy, str(rule_name)) in seen_dns:
            continue
        seen_dns.add((policy, str(rule_name)))
        out.append(
            _finding(
                code="tier-cuts-dns",
                severity="high",
                namespace="",
                policy=policy,
                direction="Egress",
                rule=None,
                pods=_pods_in(model, subjects.get(policy, 0)),
                title=f"Admin Deny rule {rule_name} cuts DNS (UDP 53 to {dest})",
                why=(
                    f"egress from {pod.key} to the DNS pods is denied in the Admin tier, before "
                    "any NetworkPolicy can allow it: name resolution fails for the pods it selects"
                ),
                suggestion=(
                    "accept DNS before the Deny: a rule with action Accept, to the DNS pods' "
                    "namespace, protocols udp/tcp destinationPort 53"
                ),
            )
        )
    for c in iter_bits(has_deny["Ingress"]):
        pod = model.classes[c].representative
        ports = pod.ports
        if node_ip is None or not pod.ips or not ports:
            continue
        port = ports[0]
        policy, rule_name = _tier_decision(
            snapshot, (node_ip, pod.key, port.port, port.protocol), "ingress"
        )
        if policy is None or (policy, str(rule_name)) in seen_kubelet:
            continue
        seen_kubelet.add((policy, str(rule_name)))
        out.append(
            _finding(
                code="tier-cuts-kubelet",
                severity="high",
                namespace="",
                policy=policy,
                direction="Ingress",
                rule=None,
                pods=_pods_in(model, subjects.get(policy, 0)),
                title=f"Admin Deny rule {rule_name} cuts the kubelet's health checks",
                why=(
                    f"ingress from node address {node_ip} to {pod.key} port "
                    f"{port.port}/{port.protocol} is denied in the Admin tier: liveness and "
                    "readiness probes come from the node and would fail"
                ),
                suggestion=(
                    "give the Deny explicit peers (a peer with no known field denies everything)"
                ),
            )
        )

    # ---- Pass that nothing below decides
    for pol, bits, per_direction in tiers.compiled:
        if pol.tier != "Admin":
            continue
        for direction in ("Ingress", "Egress"):
            for tr in per_direction[direction]:  # type: ignore[index]
                if tr.action != "Pass":
                    continue
                loose = 0
                for c in iter_bits(bits):
                    if model.classes[c].host_network:
                        continue
                    if model.isolating[direction][c]:  # type: ignore[index]
                        continue
                    if tiers.tier_rules(c, "Baseline", direction):  # type: ignore[arg-type]
                        continue
                    loose |= 1 << c
                if not loose:
                    continue
                name = pol.rule_label(direction, tr.index)  # type: ignore[arg-type]
                out.append(
                    _finding(
                        code="tier-pass-undecided",
                        severity="medium",
                        namespace="",
                        policy=pol.key,
                        direction=direction,
                        rule=tr.index,
                        pods=_pods_in(model, loose),
                        title=(
                            f"Pass rule {name} hands {_pods_in(model, loose)} pod(s) to tiers "
                            "with nothing to say"
                        ),
                        why=(
                            "no NetworkPolicy isolates these pods for "
                            f"{direction.lower()} and no Baseline rule applies to them, so the "
                            f"Pass ends in the default: allowed (e.g. "
                            f"{model.classes[next(iter_bits(loose))].representative.key})"
                        ),
                        suggestion=(
                            "write Accept if allowing is meant; if the namespace owners should "
                            "decide, add their NetworkPolicy or a Baseline rule"
                        ),
                    )
                )

    # ---- shadowed rules
    for tier in ("Admin", "Baseline"):
        ordered = [(p, b, d) for p, b, d in tiers.compiled if p.tier == tier]
        for direction in ("Ingress", "Egress"):
            earlier: list[tuple[AdminPolicy, int, TierRule]] = []
            for pol, bits, per_direction in ordered:
                for tr in per_direction[direction]:  # type: ignore[index]
                    cover = next(
                        (
                            (p, r)
                            for p, pb, r in earlier
                            if bits & ~pb == 0
                            and tr.peer_bits & ~r.peer_bits == 0
                            and not tr.spec.named
                            and not r.spec.named
                            and tr.spec.numeric <= r.spec.numeric
                            and (p is pol or p.rank < pol.rank)
                        ),
                        None,
                    )
                    if cover is not None and tr.peer_bits:
                        p, r = cover
                        same = p is pol
                        where = "an earlier rule" if same else f"{p.key} (priority {p.priority})"
                        out.append(
                            _finding(
                                code="tier-shadowed-rule",
                                severity="medium" if r.action != tr.action else "low",
                                namespace="",
                                policy=pol.key,
                                direction=direction,
                                rule=tr.index,
                                pods=_pods_in(model, bits),
                                title=(
                                    f"rule {pol.rule_label(direction, tr.index)} ({tr.action}) "  # type: ignore[arg-type]
                                    f"never decides: shadowed by {where} rule "
                                    f"{p.rule_label(direction, r.index)} ({r.action})"  # type: ignore[arg-type]
                                ),
                                why=(
                                    "every connection it matches, for every pod it selects, is "
                                    "matched first by the earlier rule"
                                ),
                                suggestion=(
                                    "remove it, or move it before the rule that shadows it "
                                    "(lower priority value, or earlier in the list)"
                                ),
                            )
                        )
                    earlier.append((pol, bits, tr))
    return out
