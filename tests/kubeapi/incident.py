"""Reading the objects out of a recorded incident (`apiVersion: triage/v1, kind: Incident`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# Incident key → the kind its manifests have. Other keys (flows, probes, knownGood,
# notes, datapath) are the tool's business, not the cluster's.
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
    return IncidentObjects(
        metadata=dict(document.get("metadata") or {}),
        namespaces=lists["namespaces"],
        pods=lists["pods"],
        services=lists["services"],
        network_policies=lists["networkPolicies"],
    )


def _with_kind(item: Any, kind: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ValueError(f"a {kind} entry must be a mapping, got {type(item).__name__}")
    if item.get("kind") not in (None, kind):
        raise ValueError(f"expected a {kind}, got {item.get('kind')}")
    return item
