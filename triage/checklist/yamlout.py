"""NetworkPolicy manifests as clean YAML: for fixes and for diffs people read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from triage.model import NetworkPolicy
from triage.model.manifest import policy_manifest_from_model

_SERVER_METADATA = ("name", "namespace", "labels")


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
    return policy_manifest_from_model(policy)


class _Dumper(yaml.SafeDumper):
    """Block style, keys in insertion order, no aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_yaml(document: Any) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, default_flow_style=False)
