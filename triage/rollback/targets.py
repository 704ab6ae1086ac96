"""Where a rollback target comes from: a stored snapshot, a manifests folder or file (a
GitOps checkout), or a recorded incident's known-good set.

Scopes are conservative: a snapshot covers what its read covered (every namespace, or the
`-n` list); a manifests folder and a known-good set cover only the namespaces their
policies live in, so a folder for one team never deletes another team's policies.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from triage.errors import UsageError
from triage.model import NetworkPolicy
from triage.model.incident import Incident, KnownGood
from triage.rollback.policyset import PolicySet, semantically_equal
from triage.rollback.store import Store

# What the loader reads as a NetworkPolicy (a Calico one shares the kind, not the schema).
_POLICY_VERSIONS = (None, "networking.k8s.io/v1", "extensions/v1beta1")


def from_snapshot(store: Store, snapshot_id: int) -> PolicySet:
    return store.snapshot(snapshot_id).policy_set()


def latest_good(store: Store, context: str) -> PolicySet:
    snap = store.latest_good(context)
    if snap is None:
        raise UsageError(
            f"no known-good snapshot for context {context!r} in {store.path}; save one with "
            "`triage snapshot save --good`, or name a target with --to ID or --to-manifests PATH"
        )
    return snap.policy_set()


def from_manifests(paths: Sequence[Path]) -> PolicySet:
    """The NetworkPolicies of manifests files or folders; every other kind is ignored.

    The same policy twice with different specs is refused: which one is known-good is not
    for us to guess (the loader's "the later one wins" would pick by file order)."""
    from triage.sources.assemble import Document, assemble
    from triage.sources.errors import SourceError
    from triage.sources.manifests import documents_from, manifest_files
    from triage.sources.parse import parse_network_policy

    files = manifest_files(list(paths))
    if not files:
        raise SourceError.single(", ".join(map(str, paths)), "no .yaml, .yml or .json files found")
    seen: dict[str, list[tuple[str, NetworkPolicy]]] = {}

    def watched() -> Iterator[Document]:
        for document in documents_from(files):
            file, index, doc = document
            if doc.get("kind") == "NetworkPolicy" and doc.get("apiVersion") in _POLICY_VERSIONS:
                policy, _ = parse_network_policy(doc, file, index)
                if policy is not None:
                    seen.setdefault(policy.key, []).append((file, policy))
            yield document

    snapshot, _ = assemble(watched())
    for key, found in sorted(seen.items()):
        if any(not semantically_equal(found[0][1], p) for _, p in found[1:]):
            where = ", ".join(sorted({f for f, _ in found}))
            raise UsageError(
                f"NetworkPolicy {key} appears {len(found)} times with different specs ({where}); "
                "refusing an ambiguous target (nothing applied)"
            )
    policies = tuple(sorted(snapshot.policies, key=lambda p: p.key))
    if not policies:
        shown = ", ".join(str(p) for p in paths)
        raise UsageError(f"{shown}: no NetworkPolicy found; refusing a target that would delete")
    scope = tuple(sorted({p.namespace for p in policies}))
    return PolicySet(
        description=f"manifests {', '.join(str(p) for p in paths)}",
        policies=policies,
        scope=scope,
    )


def find_known_good(incident: Incident, name: str | None) -> KnownGood:
    if not incident.known_good:
        raise UsageError(f"the recording {incident.meta.title!r} has no knownGood policy set")
    if name is None:
        return incident.known_good[0]
    for kg in incident.known_good:
        if kg.name == name:
            return kg
    names = ", ".join(repr(k.name) for k in incident.known_good)
    raise UsageError(f"no knownGood set named {name!r}; the recording has: {names}")


def from_known_good(incident: Incident, name: str | None, origin: str = "") -> PolicySet:
    kg = find_known_good(incident, name)
    policies = tuple(sorted(kg.policies, key=lambda p: p.key))
    scope = tuple(sorted({p.namespace for p in policies}))
    where = f" of {origin}" if origin else ""
    return PolicySet(
        description=f"known-good set {kg.name!r}{where}",
        policies=policies,
        scope=scope,
        namespace_labels=kg.namespace_labels,
        pod_labels=kg.pod_labels,
        context=incident.meta.context or None,
        admin_policies=kg.admin_policies or None,
    )
