"""Where a rollback target comes from: a stored snapshot, a manifests folder or file (a
GitOps checkout), or a recorded incident's known-good set.

Scopes are conservative: a snapshot covers what its read covered (every namespace, or the
`-n` list); a manifests folder and a known-good set cover only the namespaces their
policies live in, so a folder for one team never deletes another team's policies.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from triage.errors import UsageError
from triage.model.incident import Incident, KnownGood
from triage.rollback.policyset import PolicySet
from triage.rollback.store import Store


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
    """The NetworkPolicies of manifests files or folders; every other kind is ignored."""
    from triage.sources.manifests import load_manifests

    snapshot, _ = load_manifests(list(paths))
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
    )
