"""Policy sets as the rollback sees them: clean manifests, semantic equality, scope.

A rollback target and the live state are both *policy sets*: NetworkPolicies plus the
namespaces they are responsible for (the scope). Everything the applier sends to the API
server is built here from a policy's original manifest, stripped of server-owned fields.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from triage.model import NetworkPolicy
from triage.model.admin import AdminPolicy
from triage.model.manifest import policy_spec_manifest
from triage.sources.errors import SourceError
from triage.sources.parse import parse_network_policy
from triage.sources.parse_admin import (
    ANP_API,
    CNP_API,
    admin_policy_manifest,
    parse_admin_policy,
)

API_VERSION = "networking.k8s.io/v1"
KIND = "NetworkPolicy"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class PolicySet:
    """A rollback target (or the live state): policies and the namespaces they cover.

    `scope` None means every namespace: a policy of the live set in any namespace that the
    target lacks is deleted. A tuple limits creates, replaces and deletes to those
    namespaces; policies elsewhere are never touched.
    """

    description: str
    policies: tuple[NetworkPolicy, ...]
    scope: tuple[str, ...] | None = None
    namespace_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    pod_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    snapshot_id: int | None = None
    context: str | None = None
    # The cluster-scoped admin policies of the target (a known-good set, a backup), or None
    # when it says nothing about them: then a rollback leaves them alone and only warns.
    admin_policies: tuple[AdminPolicy, ...] | None = None

    def in_scope(self, namespace: str) -> bool:
        return self.scope is None or namespace in self.scope

    def by_key(self) -> dict[str, NetworkPolicy]:
        return {p.key: p for p in self.policies if self.in_scope(p.namespace)}


def scope_text(scope: Sequence[str] | None) -> str:
    if scope is None:
        return "all namespaces"
    if not scope:
        return "no namespace"
    return "namespace" + ("s " if len(scope) > 1 else " ") + ", ".join(scope)


def intersect_scopes(a: Sequence[str] | None, b: Sequence[str] | None) -> tuple[str, ...] | None:
    if a is None:
        return None if b is None else tuple(sorted(set(b)))
    if b is None:
        return tuple(sorted(set(a)))
    return tuple(sorted(set(a) & set(b)))


# ---------------------------------------------------------------- equality


def semantic(policy: NetworkPolicy) -> NetworkPolicy:
    """The policy without what the server owns: equal results mean the same behaviour.

    `manifest` is already excluded from comparison by the model; the resourceVersion is not.
    """
    return dataclasses.replace(policy, resource_version=None)


def semantically_equal(a: NetworkPolicy, b: NetworkPolicy) -> bool:
    return semantic(a) == semantic(b)


def sets_equal(
    live: Iterable[NetworkPolicy], target: Iterable[NetworkPolicy]
) -> tuple[bool, list[str]]:
    """Compare two policy sets; the differences, one line each, sorted."""
    return _compare({p.key: p for p in live}, {p.key: p for p in target}, semantically_equal)


def _compare(
    a: Mapping[str, Any], b: Mapping[str, Any], equal: Callable[[Any, Any], bool]
) -> tuple[bool, list[str]]:
    out: list[str] = []
    for key in sorted(a.keys() | b.keys()):
        if key not in a:
            out.append(f"{key}: missing on the cluster")
        elif key not in b:
            out.append(f"{key}: on the cluster but not in the target")
        elif not equal(a[key], b[key]):
            out.append(f"{key}: spec differs from the target")
    return not out, out


# ---------------------------------------------------------------- manifests


def _plain(value: Any) -> Any:
    """A JSON-safe deep copy (YAML may hand us tuples, dates or other oddities)."""
    return json.loads(json.dumps(value, default=str))


def spec_from_model(policy: NetworkPolicy) -> JsonDict:
    """A spec that parses back to an equal model (for policies that came without one)."""
    return policy_spec_manifest(policy)


def policy_spec(policy: NetworkPolicy) -> JsonDict:
    raw = policy.manifest.get("spec") if policy.manifest else None
    if isinstance(raw, Mapping):
        spec: JsonDict = _plain(raw)
        return spec
    return spec_from_model(policy)


def _clean_metadata(
    meta: JsonDict, manifest: Mapping[str, Any] | None, resource_version: str | None
) -> JsonDict:
    """`meta` (name, and namespace for a namespaced object) plus the labels and the
    annotations a person wrote (not the last-applied copy) of `manifest`'s metadata, and the
    resourceVersion a conditional replace needs."""
    meta_in = manifest.get("metadata") if manifest else None
    meta_in = meta_in if isinstance(meta_in, Mapping) else {}
    labels = meta_in.get("labels")
    if isinstance(labels, Mapping) and labels:
        meta["labels"] = {str(k): str(v) for k, v in labels.items()}
    annotations = meta_in.get("annotations")
    if isinstance(annotations, Mapping):
        kept = {str(k): str(v) for k, v in annotations.items() if k != LAST_APPLIED}
        if kept:
            meta["annotations"] = kept
    if resource_version is not None:
        meta["resourceVersion"] = resource_version
    return meta


def clean_manifest(policy: NetworkPolicy, resource_version: str | None = None) -> JsonDict:
    """What we send to the API server: apiVersion, kind, name, namespace, labels, the
    annotations a person wrote, and the spec. With `resource_version`, a replace is
    conditional on the object still being at that version (optimistic concurrency)."""
    meta = _clean_metadata(
        {"name": policy.name, "namespace": policy.namespace}, policy.manifest, resource_version
    )
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": meta, "spec": policy_spec(policy)}


def stored_manifest(policy: NetworkPolicy) -> JsonDict:
    """The form kept in the store and journals: the clean manifest plus the
    resourceVersion it had, so a backup can be compared and re-applied."""
    return clean_manifest(policy, policy.resource_version)


def parse_policy(doc: Mapping[str, Any], origin: str = "store") -> NetworkPolicy:
    doc = dict(doc)
    doc.setdefault("kind", KIND)
    doc.setdefault("apiVersion", API_VERSION)
    policy, problems = parse_network_policy(doc, origin, 0)
    if policy is None:
        raise SourceError(problems)
    return policy


def parse_policies(
    docs: Iterable[Mapping[str, Any]], origin: str = "store"
) -> tuple[NetworkPolicy, ...]:
    policies = [parse_policy(d, origin) for d in docs]
    return tuple(sorted(policies, key=lambda p: (p.namespace, p.name)))


def policies_to_json(policies: Iterable[NetworkPolicy]) -> str:
    return json.dumps(
        [stored_manifest(p) for p in sorted(policies, key=lambda p: p.key)], sort_keys=True
    )


def policies_from_json(text: str, origin: str = "store") -> tuple[NetworkPolicy, ...]:
    return parse_policies(json.loads(text), origin)


# ---------------------------------------------------------------- admin policies
#
# ClusterNetworkPolicy / AdminNetworkPolicy / BaselineAdminNetworkPolicy are cluster-scoped:
# a rollback writes them only when its target carries an admin set (`admin_policies` not
# None), whatever the namespace scope, because they govern every namespace at once.


def admin_semantic(policy: AdminPolicy) -> AdminPolicy:
    """The admin policy without what the server owns (the manifest is not compared)."""
    return dataclasses.replace(policy, resource_version=None)


def admin_equal(a: AdminPolicy, b: AdminPolicy) -> bool:
    return admin_semantic(a) == admin_semantic(b)


def admin_spec(policy: AdminPolicy) -> JsonDict:
    raw = policy.manifest.get("spec") if policy.manifest else None
    if isinstance(raw, Mapping):
        spec: JsonDict = _plain(raw)
        return spec
    built: JsonDict = admin_policy_manifest(policy)["spec"]
    return built


def admin_api_version(policy: AdminPolicy) -> str:
    return CNP_API if policy.kind == "ClusterNetworkPolicy" else ANP_API


def admin_clean_manifest(policy: AdminPolicy, resource_version: str | None = None) -> JsonDict:
    """What we send for an admin policy: apiVersion, kind, name (no namespace: the object
    is cluster-scoped), labels, hand-written annotations and the spec; with
    `resource_version`, a replace the server refuses if the object changed since."""
    meta = _clean_metadata({"name": policy.name}, policy.manifest, resource_version)
    return {
        "apiVersion": admin_api_version(policy),
        "kind": policy.kind,
        "metadata": meta,
        "spec": admin_spec(policy),
    }


def parse_admin(doc: Mapping[str, Any], origin: str = "store") -> AdminPolicy:
    policy, problems = parse_admin_policy(doc, origin, 0)
    if policy is None:
        raise SourceError(problems)
    return policy


def parse_admins(
    docs: Iterable[Mapping[str, Any]], origin: str = "store"
) -> tuple[AdminPolicy, ...]:
    return tuple(sorted((parse_admin(d, origin) for d in docs), key=lambda p: p.key))


def admin_to_json(policies: Iterable[AdminPolicy] | None) -> str | None:
    """None stays None: "this set says nothing about admin policies", not "it has none"."""
    if policies is None:
        return None
    return json.dumps(
        [
            admin_clean_manifest(p, p.resource_version)
            for p in sorted(policies, key=lambda p: p.key)
        ],
        sort_keys=True,
    )


def admin_from_json(text: str | None, origin: str = "store") -> tuple[AdminPolicy, ...] | None:
    if text is None:
        return None
    return parse_admins(json.loads(text), origin)


def admin_sets_equal(
    live: Iterable[AdminPolicy], target: Iterable[AdminPolicy]
) -> tuple[bool, list[str]]:
    """Compare two admin sets; the differences, one line each, sorted."""
    return _compare({p.key: p for p in live}, {p.key: p for p in target}, admin_equal)
