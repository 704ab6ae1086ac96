"""The known-good policy set that "what changed" and the regressed candidates compare with.

Where it comes from, in order:
1. `--known-good ID|PATH`: a snapshot of the local store by id, or a manifests file or
   folder (a GitOps checkout: its hidden folders such as `.git` and `.github` are not read).
2. A recording's own `knownGood` sets (the last one).
3. The store's last known-good snapshot of the context (`triage snapshot save --good`, or
   `s`/`g` in the rollback screen).

Reading never creates the state directory or its database: no store, no known-good set.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from triage.errors import UsageError
from triage.model import NetworkPolicy
from triage.model.incident import Incident, KnownGood
from triage.rollback.policyset import PolicySet
from triage.rollback.store import DB_NAME, SavedSnapshot, Store, default_state_dir


def existing_store(state_dir: Path | None) -> Store | None:
    """The store if its database exists; None otherwise (never creates one)."""
    directory = state_dir or default_state_dir()
    if not (directory / DB_NAME).is_file():
        return None
    return Store.open(directory)


def from_policy_set(policy_set: PolicySet, captured_at: str = "", name: str = "") -> KnownGood:
    return KnownGood(
        name=name or policy_set.description,
        captured_at=captured_at,
        policies=policy_set.policies,
        namespace_labels=policy_set.namespace_labels,
        pod_labels=policy_set.pod_labels,
        scope=policy_set.scope,
    )


def from_saved(snap: SavedSnapshot) -> KnownGood:
    return from_policy_set(
        snap.policy_set(), snap.created_at, f"snapshot #{snap.id} ({snap.context})"
    )


def _policy_files(path: Path) -> Iterator[Path]:
    from triage.sources.manifests import MANIFEST_SUFFIXES

    if path.is_file():
        yield path
        return
    for found in sorted(path.rglob("*")):
        hidden = any(part.startswith(".") for part in found.relative_to(path).parts)
        if not hidden and found.suffix in MANIFEST_SUFFIXES and found.is_file():
            yield found


def from_path(path: Path) -> KnownGood:
    """The NetworkPolicies of a manifests file or folder (other kinds are ignored, so a
    checkout with Deployments and kustomizations works). Scope: the namespaces its
    policies live in, so one team's folder says nothing about another team's policies."""
    from triage.sources.manifests import read_documents
    from triage.sources.parse import parse_network_policy

    if not path.exists():
        raise UsageError(f"--known-good {path}: no such file, folder or snapshot id")
    policies: dict[str, NetworkPolicy] = {}
    for file in _policy_files(path):
        for index, doc in enumerate(_flat(read_documents(file))):
            if not isinstance(doc, dict) or doc.get("kind") != "NetworkPolicy":
                continue
            if doc.get("apiVersion") not in (None, "networking.k8s.io/v1"):
                continue
            policy, problems = parse_network_policy(doc, str(file), index)
            if problems:
                raise UsageError(str(problems[0]))
            if policy is not None:
                policies[policy.key] = policy
    if not policies:
        raise UsageError(f"--known-good {path}: no NetworkPolicy found")
    ordered = tuple(policies[k] for k in sorted(policies))
    return KnownGood(
        name=f"manifests {path}",
        captured_at="",
        policies=ordered,
        scope=tuple(sorted({p.namespace for p in ordered})),
    )


def _flat(docs: list[object]) -> Iterator[object]:
    for doc in docs:
        if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List"):
            yield from doc.get("items") or ()
        elif isinstance(doc, list):
            yield from doc
        else:
            yield doc


def from_spec(spec: str, state_dir: Path | None) -> KnownGood:
    """`--known-good ID|PATH`. Raises UsageError in one line."""
    text = spec.strip()
    number = text.removeprefix("#")
    if number.isdigit() and not Path(text).exists():
        store = existing_store(state_dir)
        if store is None:
            where = state_dir or default_state_dir()
            raise UsageError(f"--known-good {spec}: no snapshot store in {where}")
        with store:
            return from_saved(store.snapshot(int(number)))
    return from_path(Path(text))


def last_known_good(
    context: str | None, incident: Incident | None, state_dir: Path | None
) -> KnownGood | None:
    """Without `--known-good`: the recording's last set, else the store's last known-good
    snapshot of the context; None when there is neither."""
    if incident is not None and incident.known_good:
        return incident.known_good[-1]
    if not context:
        return None
    store = existing_store(state_dir)
    if store is None:
        return None
    with store:
        snap = store.latest_good(context)
    return None if snap is None else from_saved(snap)
