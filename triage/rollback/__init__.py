"""Guided rollback: the known-good store, plans with their connectivity delta, the safe
applier with its journal, and verification. No Textual, no Rich (docs/architecture.md "Rollback").

    store = Store.open(state_dir)                        # SQLite, 0700 dir / 0600 file
    target = store.latest_good(context).policy_set()     # or targets.from_manifests(...)
    plan = make_plan(live_snapshot, target, context=ctx) # diff, order, delta
    result = Applier(api, store).run(Run.apply(plan), confirmed_context=typed_name)
"""

from triage.rollback.apply import (
    Applier,
    ApplyResult,
    DryRunResult,
    Progress,
    RollbackRefused,
    Run,
    StepResult,
    resume_run,
    revert_run,
)
from triage.rollback.delta import Delta, DeltaGroup, FlowChange, WorkloadRef, connectivity_delta
from triage.rollback.plan import ORDERING_RULE, PHASES, Operation, Plan, make_plan
from triage.rollback.policyset import PolicySet, semantically_equal, sets_equal
from triage.rollback.store import (
    Journal,
    JournalStep,
    SavedSnapshot,
    Store,
    default_state_dir,
)

__all__ = [
    "ORDERING_RULE",
    "PHASES",
    "Applier",
    "ApplyResult",
    "Delta",
    "DeltaGroup",
    "DryRunResult",
    "FlowChange",
    "Journal",
    "JournalStep",
    "Operation",
    "Plan",
    "PolicySet",
    "Progress",
    "RollbackRefused",
    "Run",
    "SavedSnapshot",
    "StepResult",
    "Store",
    "WorkloadRef",
    "connectivity_delta",
    "default_state_dir",
    "make_plan",
    "resume_run",
    "revert_run",
    "semantically_equal",
    "sets_equal",
]
