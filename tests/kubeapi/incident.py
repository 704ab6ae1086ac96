"""Reading the objects out of a recorded incident (`apiVersion: triage/v1, kind: Incident`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# Incident key → the kind its manifests have. Other keys (flows, probes, knownGood,
# notes, datapath) are the tool's business, not the cluster's. `adminPolicies` holds three
# kinds, each manifest naming its own (see ADMIN_CRDS).
SEEDED_KEYS = {
    "namespaces": "Namespace",
    "pods": "Pod",
    "services": "Service",
    "networkPolicies": "NetworkPolicy",
}


@dataclass
class IncidentObjects:
    metadata: dict[str, Any] = field(default_factory=dict)
    namespaces: list[dict[str, Any]] = field(default_factory=list)
    pods: list[dict[str, Any]] = field(default_factory=list)
    services: list[dict[str, Any]] = field(default_factory=list)
    network_policies: list[dict[str, Any]] = field(default_factory=list)
    admin_policies: list[dict[str, Any]] = field(default_factory=list)


# The CRDs serving the admin policies (cluster-scoped), by kind.
ADMIN_CRDS = {
    "ClusterNetworkPolicy": "clusternetworkpolicies.policy.networking.k8s.io",
    "AdminNetworkPolicy": "adminnetworkpolicies.policy.networking.k8s.io",
    "BaselineAdminNetworkPolicy": "baselineadminnetworkpolicies.policy.networking.k8s.io",
}


def load_incident(source: str | Path | dict[str, Any]) -> IncidentObjects:
    if isinstance(source, dict):
        document = source
    else:
        document = yaml.safe_load(Path(source).read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise ValueError(f"{source}: an incident must be a YAML mapping")
    if document.get("apiVersion") != "triage/v1" or document.get("kind") != "Incident":
        raise ValueError(
            f"{source}: expected apiVersion triage/v1, kind Incident; got "
            f"{document.get('apiVersion')!r}, {document.get('kind')!r}"
        )
    lists = {}
    for key, kind in SEEDED_KEYS.items():
        items = document.get(key) or []
        if not isinstance(items, list):
            raise ValueError(f"{source}: {key} must be a list")
        lists[key] = [_with_kind(item, kind) for item in items]
    admin = document.get("adminPolicies") or []
    if not isinstance(admin, list):
        raise ValueError(f"{source}: adminPolicies must be a list")
    for item in admin:
        if not isinstance(item, dict) or item.get("kind") not in ADMIN_CRDS:
            raise ValueError(
                f"{source}: adminPolicies entries need a kind of {', '.join(ADMIN_CRDS)}"
            )
    return IncidentObjects(
        metadata=dict(document.get("metadata") or {}),
        namespaces=lists["namespaces"],
        pods=lists["pods"],
        services=lists["services"],
        network_policies=lists["networkPolicies"],
        admin_policies=list(admin),
    )


def _with_kind(item: Any, kind: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ValueError(f"a {kind} entry must be a mapping, got {type(item).__name__}")
    if item.get("kind") not in (None, kind):
        raise ValueError(f"expected a {kind}, got {item.get('kind')}")
    return item
