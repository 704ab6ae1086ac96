"""Model → Kubernetes manifests: the one inverse of `triage.sources.parse`, and the one YAML
form people read them in.

Used wherever an object (or part of one) must be written back out: recordings, the TUI's
YAML view, rollback targets, lint's tighter rules, the checklist's fix and diffs. The output
parses back to an equal model object. (The incident file's own writer, with its JSON fast
path, is `triage.sources.recording`; it builds its objects with these functions.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from triage.model.objects import (
    Direction,
    LabelSelector,
    Namespace,
    NetworkPolicy,
    Peer,
    Pod,
    PolicyPort,
    Rule,
    Service,
)

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


def namespace_manifest(namespace: Namespace) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": namespace.name}
    if namespace.labels:
        meta["labels"] = dict(namespace.labels)
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


_OWNER_API_VERSIONS = {
    "ReplicaSet": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "Deployment": "apps/v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
    "Node": "v1",
}


def pod_manifest(pod: Pod) -> dict[str, Any]:
    """A Pod manifest built from the model alone."""
    meta: dict[str, Any] = {"name": pod.name, "namespace": pod.namespace}
    if pod.labels:
        meta["labels"] = dict(pod.labels)
    if pod.owner is not None:
        ref: dict[str, Any] = {"kind": pod.owner.kind, "name": pod.owner.name, "controller": True}
        if pod.owner.kind in _OWNER_API_VERSIONS:
            ref = {"apiVersion": _OWNER_API_VERSIONS[pod.owner.kind], **ref}
        meta["ownerReferences"] = [ref]
    if pod.deletion_timestamp is not None:
        meta["deletionTimestamp"] = pod.deletion_timestamp
    containers = []
    for container in pod.containers:
        entry: dict[str, Any] = {"name": container.name}
        if container.image:
            entry["image"] = container.image
        if container.ports:
            entry["ports"] = [
                {
                    **({"name": p.name} if p.name is not None else {}),
                    "containerPort": p.port,
                    "protocol": p.protocol,
                }
                for p in container.ports
            ]
        containers.append(entry)
    spec: dict[str, Any] = {"containers": containers}
    if pod.host_network:
        spec["hostNetwork"] = True
    if pod.node is not None:
        spec["nodeName"] = pod.node
    status: dict[str, Any] = {}
    if pod.phase is not None:
        status["phase"] = pod.phase
    if pod.ready is not None:
        status["conditions"] = [{"type": "Ready", "status": "True" if pod.ready else "False"}]
    if pod.ips:
        status["podIP"] = pod.ips[0]
        status["podIPs"] = [{"ip": ip} for ip in pod.ips]
    out: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
    if status:
        out["status"] = status
    return out


def service_manifest(service: Service) -> dict[str, Any]:
    """A Service manifest built from the model alone."""
    spec: dict[str, Any] = {"type": service.type}
    if service.selector:
        spec["selector"] = dict(service.selector)
    if service.cluster_ip is not None:
        spec["clusterIP"] = service.cluster_ip
    if service.cluster_ips:
        spec["clusterIPs"] = list(service.cluster_ips)
    if service.publish_not_ready:
        spec["publishNotReadyAddresses"] = True
    spec["ports"] = [
        {
            **({"name": p.name} if p.name is not None else {}),
            "protocol": p.protocol,
            "port": p.port,
            "targetPort": p.target_port,
        }
        for p in service.ports
    ]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": service.name, "namespace": service.namespace},
        "spec": spec,
    }


# ---------------------------------------------------------------- as YAML for people

_SERVER_METADATA = ("name", "namespace", "labels")


def trimmed_policy_manifest(policy: NetworkPolicy) -> dict[str, Any]:
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
    return policy_manifest_from_model(policy)


class _Dumper(yaml.SafeDumper):
    """Block style, keys in insertion order, no aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_yaml(document: Any) -> str:
    """Manifests as YAML people read: block style, keys in the order given, no anchors."""
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, default_flow_style=False)
