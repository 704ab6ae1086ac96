"""NetworkPolicy manifests as clean YAML: for fixes and for diffs people read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from triage.model import LabelSelector, NetworkPolicy, Peer, PolicyPort, Rule

_SERVER_METADATA = ("name", "namespace", "labels")


def selector_manifest(selector: LabelSelector) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if selector.match_labels:
        out["matchLabels"] = dict(selector.match_labels)
    if selector.match_expressions:
        exprs = []
        for req in selector.match_expressions:
            expr: dict[str, Any] = {"key": req.key, "operator": req.operator}
            if req.values:
                expr["values"] = list(req.values)
            exprs.append(expr)
        out["matchExpressions"] = exprs
    return out


def _peer(peer: Peer) -> dict[str, Any]:
    if peer.ip_block is not None:
        block: dict[str, Any] = {"cidr": peer.ip_block.cidr}
        if peer.ip_block.excepts:
            block["except"] = list(peer.ip_block.excepts)
        return {"ipBlock": block}
    out: dict[str, Any] = {}
    if peer.namespace_selector is not None:
        out["namespaceSelector"] = selector_manifest(peer.namespace_selector)
    if peer.pod_selector is not None:
        out["podSelector"] = selector_manifest(peer.pod_selector)
    return out


def _port(port: PolicyPort) -> dict[str, Any]:
    out: dict[str, Any] = {"protocol": port.protocol}
    if port.port is not None:
        out["port"] = port.port
    if port.end_port is not None:
        out["endPort"] = port.end_port
    return out


def _rule(rule: Rule, peer_key: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if rule.peers:
        out[peer_key] = [_peer(p) for p in rule.peers]
    if rule.ports:
        out["ports"] = [_port(p) for p in rule.ports]
    return out


def policy_manifest(policy: NetworkPolicy) -> dict[str, Any]:
    """The policy as a manifest without server-owned fields: its original manifest when it
    has one (metadata trimmed to name, namespace and labels), else built from the model."""
    original = policy.manifest
    if original and isinstance(original.get("spec"), Mapping):
        meta = original.get("metadata") or {}
        return {
            "apiVersion": original.get("apiVersion", "networking.k8s.io/v1"),
            "kind": "NetworkPolicy",
            "metadata": {k: meta[k] for k in _SERVER_METADATA if k in meta},
            "spec": original["spec"],
        }
    spec: dict[str, Any] = {"podSelector": selector_manifest(policy.pod_selector)}
    spec["policyTypes"] = list(policy.policy_types)
    if policy.ingress:
        spec["ingress"] = [_rule(r, "from") for r in policy.ingress]
    if policy.egress:
        spec["egress"] = [_rule(r, "to") for r in policy.egress]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": policy.name, "namespace": policy.namespace},
        "spec": spec,
    }


class _Dumper(yaml.SafeDumper):
    """Block style, keys in insertion order, no aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_yaml(document: Any) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, default_flow_style=False)


def dump_documents(documents: list[Any]) -> str:
    return "---\n".join(dump_yaml(d) for d in documents)
