"""Applying a rollout through the rollback machinery: the live set saved as known-good
first, then the rollback `Applier` (context check, re-read, backup, server-side dry-run,
journalled writes in the plan's order — allows before denies — and the re-read check), and
the revert to the saved set (`revert_run` from the journal). Shared by the CLI and the TUI.
"""

from __future__ import annotations

from triage.model import Snapshot
from triage.rollback.api import PolicyApi
from triage.rollback.apply import Applier, ApplyResult, ProgressCallback, Run, revert_run
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


def apply_rollout(
    api: PolicyApi,
    store: Store,
    rollout: Rollout,
    *,
    confirmed_context: str,
    progress: ProgressCallback | None = None,
) -> ApplyResult:
    """Apply the plan with the rollback applier (which refuses a context that is not
    `confirmed_context`, and a live set changed since the plan)."""
    return Applier(api, store, progress=progress).run(
        Run.apply(rollout.plan), confirmed_context=confirmed_context
    )


def revert_plan(
    store: Store,
    journal_id: int,
    live: Snapshot,
    rollout: Rollout,
    *,
    context: str,
    server: str = "",
) -> Run:
    """The run back to the set saved before journal `journal_id` (the rollout's apply)."""
    return revert_run(
        store,
        journal_id,
        live,
        context=context,
        live_scope=rollout.namespaces,
        live_source=f"context {context}",
        server=server,
    )
