"""Model → Kubernetes manifest dicts: the one inverse of `triage.sources.parse`.

Used wherever a policy (or part of one) must be written back out: recordings, rollback
targets, lint's tighter rules, the checklist's fix and diffs. The output parses back to an
equal model object.
"""

from __future__ import annotations

from typing import Any

from triage.model.objects import Direction, LabelSelector, NetworkPolicy, Peer, PolicyPort, Rule

Manifest = dict[str, Any]


def selector_manifest(selector: LabelSelector) -> Manifest:
    out: Manifest = {}
    if selector.match_labels:
        out["matchLabels"] = dict(selector.match_labels)
    if selector.match_expressions:
        out["matchExpressions"] = [
            {
                "key": r.key,
                "operator": r.operator,
                **({"values": list(r.values)} if r.values else {}),
            }
            for r in selector.match_expressions
        ]
    return out


def peer_manifest(peer: Peer) -> Manifest:
    if peer.ip_block is not None:
        block: Manifest = {"cidr": peer.ip_block.cidr}
        if peer.ip_block.excepts:
            block["except"] = list(peer.ip_block.excepts)
        return {"ipBlock": block}
    out: Manifest = {}
    if peer.namespace_selector is not None:
        out["namespaceSelector"] = selector_manifest(peer.namespace_selector)
    if peer.pod_selector is not None:
        out["podSelector"] = selector_manifest(peer.pod_selector)
    return out


def policy_port_manifest(port: PolicyPort) -> Manifest:
    out: Manifest = {"protocol": port.protocol}
    if port.port is not None:
        out["port"] = port.port
    if port.end_port is not None:
        out["endPort"] = port.end_port
    return out


def rule_manifest(rule: Rule, direction: Direction) -> Manifest:
    out: Manifest = {}
    if rule.peers:
        out["from" if direction == "Ingress" else "to"] = [peer_manifest(p) for p in rule.peers]
    if rule.ports:
        out["ports"] = [policy_port_manifest(p) for p in rule.ports]
    return out


def policy_spec_manifest(policy: NetworkPolicy) -> Manifest:
    """The spec from the model alone, with explicit `policyTypes` (so the defaults of an
    absent field cannot change its meaning)."""
    spec: Manifest = {
        "podSelector": selector_manifest(policy.pod_selector),
        "policyTypes": list(policy.policy_types),
    }
    if policy.ingress:
        spec["ingress"] = [rule_manifest(r, "Ingress") for r in policy.ingress]
    if policy.egress:
        spec["egress"] = [rule_manifest(r, "Egress") for r in policy.egress]
    return spec


def policy_manifest_from_model(
    policy: NetworkPolicy, *, with_resource_version: bool = False
) -> Manifest:
    meta: Manifest = {"name": policy.name, "namespace": policy.namespace}
    if with_resource_version and policy.resource_version is not None:
        meta["resourceVersion"] = policy.resource_version
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta,
        "spec": policy_spec_manifest(policy),
    }
