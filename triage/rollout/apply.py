"""Applying a rollout goes through the rollback machinery (`rollback.session.RollbackSession`:
context check, re-read, backup of the live set before any write, server-side dry-run,
journalled writes in the plan's order — allows before denies — the re-read check, and
`follow_up(..., "revert", journal)` back to that backup). What the rollout adds: the backup
is kept as a known-good snapshot, the set `triage rollback --to` can aim at later. Shared by
the CLI and the TUI.
"""

from __future__ import annotations

from triage.rollback.apply import ApplyResult
from triage.rollback.store import SavedSnapshot, Store


def keep_as_known_good(store: Store, result: ApplyResult) -> SavedSnapshot:
    """Mark the live set the applier saved before its first write (after checking that
    nothing changed since the plan) as known-good."""
    return store.mark_good(result.backup_snapshot_id)
