"""Applying a rollout goes through the rollback machinery (`rollback.session.RollbackSession`:
context check, re-read, backup, server-side dry-run, journalled writes in the plan's order —
allows before denies — the re-read check, and `follow_up(..., "revert", journal)` back to the
backup). What the rollout adds first: the live set saved as known-good. Shared by the CLI
and the TUI.
"""

from __future__ import annotations

from triage.rollback.store import SavedSnapshot, Store
from triage.rollout.plan import Rollout


def save_known_good(store: Store, rollout: Rollout, context: str) -> SavedSnapshot:
    """The live set of the rollout namespaces (as planned against), marked good: what a
    revert restores and what `triage rollback --to` can aim at later."""
    snapshot = rollout.plan.live_snapshot
    assert snapshot is not None, "a rollout plan always keeps the snapshot it was made from"
    scope = rollout.namespaces
    return store.save_snapshot(
        context=context,
        source=f"known-good before the default-deny rollout of {', '.join(scope)}",
        policies=tuple(p for p in snapshot.policies if p.namespace in scope),
        scope=scope,
        kind="manual",
        good=True,
        namespace_labels={ns.name: ns.labels for ns in snapshot.namespaces},
        pod_labels={p.key: p.labels for p in snapshot.pods if p.namespace in scope},
    )
