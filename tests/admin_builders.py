"""Builders for ClusterNetworkPolicy / AdminNetworkPolicy / BaselineAdminNetworkPolicy
manifests (plain dicts, parsed by the real loader). No tests here."""

from __future__ import annotations

from typing import Any

Manifest = dict[str, Any]

CNP_API = "policy.networking.k8s.io/v1alpha2"
ANP_API = "policy.networking.k8s.io/v1alpha1"


def all_namespaces() -> dict[str, Any]:
    return {"namespaces": {}}


def ns_peer(name: str) -> dict[str, Any]:
    return {"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def pods_peer(namespace: str | None, labels: dict[str, str]) -> dict[str, Any]:
    ns_sel = {"matchLabels": {"kubernetes.io/metadata.name": namespace}} if namespace else {}
    return {"pods": {"namespaceSelector": ns_sel, "podSelector": {"matchLabels": labels}}}


def rule(action: str, peers: list[dict[str, Any]], name: str = "", **extra: Any) -> dict[str, Any]:
    """`from`/`to` is filled by the caller's direction: give peers, the builder places them."""
    out: dict[str, Any] = {"action": action, "peers": peers}
    if name:
        out["name"] = name
    out.update(extra)
    return out


def _place(rules: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    placed = []
    for r in rules:
        r = dict(r)
        peers = r.pop("peers")
        r[key] = peers
        placed.append(r)
    return placed


def _spec(
    head: dict[str, Any],
    subject: dict[str, Any] | None,
    ingress: list[dict[str, Any]] | None,
    egress: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    spec = {**head, "subject": subject if subject is not None else all_namespaces()}
    if ingress is not None:
        spec["ingress"] = _place(ingress, "from")
    if egress is not None:
        spec["egress"] = _place(egress, "to")
    return spec


def _doc(api: str, kind: str, name: str, spec: dict[str, Any]) -> Manifest:
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name}, "spec": spec}


def cnp(
    name: str,
    tier: str,
    priority: int,
    subject: dict[str, Any] | None = None,
    ingress: list[dict[str, Any]] | None = None,
    egress: list[dict[str, Any]] | None = None,
) -> Manifest:
    spec = _spec({"tier": tier, "priority": priority}, subject, ingress, egress)
    return _doc(CNP_API, "ClusterNetworkPolicy", name, spec)


def anp(
    name: str,
    priority: int,
    subject: dict[str, Any] | None = None,
    ingress: list[dict[str, Any]] | None = None,
    egress: list[dict[str, Any]] | None = None,
) -> Manifest:
    spec = _spec({"priority": priority}, subject, ingress, egress)
    return _doc(ANP_API, "AdminNetworkPolicy", name, spec)


def banp(
    subject: dict[str, Any] | None = None,
    ingress: list[dict[str, Any]] | None = None,
    egress: list[dict[str, Any]] | None = None,
    name: str = "default",
) -> Manifest:
    spec = _spec({}, subject, ingress, egress)
    return _doc(ANP_API, "BaselineAdminNetworkPolicy", name, spec)


def tcp(port: int) -> dict[str, Any]:
    return {"tcp": {"destinationPort": {"number": port}}}


def proto_range(proto: str, start: int, end: int) -> dict[str, Any]:
    return {proto: {"destinationPort": {"range": {"start": start, "end": end}}}}
