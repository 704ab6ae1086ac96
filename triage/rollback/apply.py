"""Applying a plan, safely: check, back up, dry-run, apply in order, journal, verify.

    applier = Applier(api, store, progress=callback)
    result = applier.run(Run.apply(plan), confirmed_context="prod-eu")

1. The context the operator typed must be the context of the API client, and the plan's.
2. Re-read the live set (within the plan's scope): if any policy appeared, disappeared or
   changed resourceVersion since the plan, refuse ("re-plan"); nothing is written.
3. Save the live set as a `backup` snapshot; open a journal with every step `pending`.
4. Server-side dry-run (`dryRun=All`) of every operation. Any failure: nothing is applied,
   and the journal says which operation failed and why.
5. Apply in plan order: create; replace carrying the planned resourceVersion; delete with
   `preconditions.resourceVersion`. Someone else's edit in the meantime is a 409, not an
   overwrite. Each step is journalled before the call and after it.
6. On the first failure, stop: the result says what was applied, what failed (and whether it
   may have taken effect anyway: a timeout or a dropped connection), what was not applied,
   and offers `resume` (re-plan from the live state toward the same target) and `revert`
   (back to the backup, through this same machinery).
7. Verify: re-read and compare the live set with the target (semantic equality).

When the target carries an admin set, the cluster-scoped admin policies go through every
stage too: re-read and compared at 2, saved in the backup at 3, dry-run, applied with the
same preconditions and journalled (a step with no namespace, named `cnp/NAME`...) at 4-5,
verified at 7; resume and revert aim at them as well.

A process stopped at any point leaves the journal `applying`/`interrupted` with the step in
flight `pending`; resume and revert always start from a fresh read, so they are idempotent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from triage.errors import UsageError
from triage.model import NetworkPolicy, Snapshot
from triage.model.admin import AdminPolicy
from triage.rollback.api import ApiFailure, JsonDict, PolicyApi
from triage.rollback.plan import Operation, Plan, make_plan
from triage.rollback.policyset import (
    PolicySet,
    admin_clean_manifest,
    admin_sets_equal,
    parse_admins,
    parse_policies,
    scope_text,
    sets_equal,
    stored_manifest,
)
from triage.rollback.store import (
    Journal,
    JournalAction,
    JournalStatus,
    SavedSnapshot,
    Store,
    StoreError,
)


class RollbackRefused(UsageError):
    """The applier would not start. Nothing was written to the cluster."""


Stage = Literal["check", "backup", "dry-run", "apply", "verify", "done"]
ProgressStatus = Literal["start", "ok", "failed", "info"]
StepState = Literal["done", "failed", "unknown", "not-run"]


@dataclass(frozen=True)
class Progress:
    """One thing that happened; the TUI turns these into per-operation rows."""

    stage: Stage
    status: ProgressStatus
    text: str
    position: int | None = None  # 1-based step number
    total: int | None = None


@dataclass(frozen=True)
class StepResult:
    position: int
    operation: Operation
    state: StepState  # unknown: the call may or may not have taken effect
    message: str = ""


@dataclass(frozen=True)
class ApplyResult:
    journal_id: int
    action: JournalAction
    status: JournalStatus
    message: str
    steps: tuple[StepResult, ...]
    backup_snapshot_id: int
    differences: tuple[str, ...] = ()  # verification: live vs target
    context: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "verified"

    @property
    def nothing_applied(self) -> bool:
        return all(s.state == "not-run" for s in self.steps)

    def report(self) -> list[str]:
        """What happened, for people: applied, failed, not applied, what to do next."""
        lines = [f"journal #{self.journal_id} ({self.action}): {self.status}: {self.message}"]
        for step in self.steps:
            mark = {
                "done": "applied",
                "failed": "FAILED",
                "unknown": "UNKNOWN",
                "not-run": "not applied",
            }[step.state]
            extra = f": {step.message}" if step.message else ""
            lines.append(f"  {step.position}. {step.operation.describe()}: {mark}{extra}")
        for diff in self.differences:
            lines.append(f"  differs: {diff}")
        if self.status in ("failed", "interrupted", "verify-failed"):
            ctx = f" --context {self.context}" if self.context else ""
            lines.append(
                f"next: `triage rollback resume {self.journal_id}{ctx}` re-plans from the live "
                f"state toward the same target; `triage rollback revert {self.journal_id}{ctx}` "
                f"restores the backup snapshot #{self.backup_snapshot_id} taken before this run"
            )
        return lines


@dataclass(frozen=True)
class DryRunResult:
    position: int
    operation: Operation
    error: str = ""  # empty: the server accepted it

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass(frozen=True)
class Run:
    """A plan and what kind of run it is (for the journal)."""

    plan: Plan
    action: JournalAction = "apply"
    parent_id: int | None = None
    origin_backup_id: int | None = None  # revert target of the chain; None: this run's backup

    @classmethod
    def apply(cls, plan: Plan) -> Run:
        return cls(plan)


ProgressCallback = Callable[[Progress], None]
StepHook = Callable[[int, Operation], None]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class Applier:
    """Runs plans against one cluster (`api`) and journals them in `store`.

    `after_step(position, operation)` is called after each applied step; tests use it to
    stop the process between operations."""

    def __init__(
        self,
        api: PolicyApi,
        store: Store,
        *,
        progress: ProgressCallback | None = None,
        after_step: StepHook | None = None,
    ) -> None:
        self.api = api
        self.store = store
        self._progress = progress
        self._after_step = after_step

    def _emit(self, event: Progress) -> None:
        if self._progress is not None:
            self._progress(event)

    # ------------------------------------------------------------ reading

    def read_live(self, scope: Sequence[str] | None) -> tuple[NetworkPolicy, ...]:
        docs = self.api.list_policies(None if scope is None else tuple(scope))
        return parse_policies(docs, f"context {self.api.context}")

    def read_live_admin(self) -> tuple[AdminPolicy, ...]:
        return parse_admins(self.api.list_admin_policies(), f"context {self.api.context}")

    @staticmethod
    def changes_since(
        plan: Plan,
        live: Sequence[NetworkPolicy],
        live_admin: Sequence[AdminPolicy] | None = None,
    ) -> list[str]:
        """Live policies (in scope) and, when the plan writes them, admin policies that
        differ from what the plan was made against."""
        out = _version_changes(plan.live_versions, {p.key: p.resource_version for p in live})
        if plan.admin_versions is not None and live_admin is not None:
            now_admin = {p.key: p.resource_version for p in live_admin}
            out += _version_changes(plan.admin_versions, now_admin)
        return out

    # ------------------------------------------------------------ running

    def _preflight(
        self, plan: Plan
    ) -> tuple[tuple[NetworkPolicy, ...], tuple[AdminPolicy, ...] | None]:
        """Refuse a simulation or another context's plan; re-read the live set and refuse
        if anything changed since the plan. Returns the live set (in scope)."""
        context = self.api.context
        if plan.simulation:
            raise RollbackRefused(
                "this plan is a simulation against a recording; it cannot be applied"
            )
        if plan.context != context:
            raise RollbackRefused(
                f"the plan is for context {plan.context!r} but the client talks to {context!r}; "
                "nothing applied"
            )
        server = str(getattr(self.api, "server", "") or "")
        if plan.server and server and plan.server != server:
            raise RollbackRefused(
                f"context {context!r} now points at {server}, but the plan was made against "
                f"{plan.server} (the kubeconfig changed); nothing applied — re-plan"
            )
        self._emit(
            Progress("check", "start", f"re-reading the live policies ({scope_text(plan.scope)})")
        )
        live_now = self.read_live(plan.scope)
        live_admin = self.read_live_admin() if plan.admin_versions is not None else None
        changes = self.changes_since(plan, live_now, live_admin)
        if changes:
            shown = "; ".join(changes[:5]) + (
                f"; +{len(changes) - 5} more" if len(changes) > 5 else ""
            )
            self._emit(Progress("check", "failed", shown))
            raise RollbackRefused(
                f"the live policies changed since the plan ({shown}); nothing applied — re-plan"
            )
        self._emit(Progress("check", "ok", "no policy changed since the plan"))
        return live_now, live_admin

    def _dry_run_all(self, plan: Plan) -> list[DryRunResult]:
        total = len(plan.operations)
        out: list[DryRunResult] = []
        for position, op in enumerate(plan.operations, start=1):
            self._emit(Progress("dry-run", "start", op.describe(), position, total))
            try:
                self._send(op, dry_run=True)
            except ApiFailure as exc:
                out.append(DryRunResult(position, op, str(exc)))
                self._emit(
                    Progress("dry-run", "failed", f"{op.describe()}: {exc}", position, total)
                )
            else:
                out.append(DryRunResult(position, op))
                self._emit(Progress("dry-run", "ok", op.describe(), position, total))
        return out

    def dry_run(self, plan: Plan) -> list[DryRunResult]:
        """Only the checks and the server-side dry-run: nothing is saved or written."""
        self._preflight(plan)
        return self._dry_run_all(plan)

    @staticmethod
    def _journal_target(plan: Plan) -> PolicySet:
        """What the run aims at, within its scope: what verification compares with and what
        a resume aims at again."""
        return dataclasses.replace(
            plan.target,
            policies=tuple(p for p in plan.final_policies if plan.in_scope(p.namespace)),
            scope=plan.scope,
            admin_policies=plan.final_admin,
        )

    def _open_journal(
        self,
        run: Run,
        live_now: tuple[NetworkPolicy, ...],
        live_admin: tuple[AdminPolicy, ...] | None,
    ) -> tuple[SavedSnapshot, Journal]:
        """The backup of the live set, then the journal with every step `pending`. Both are
        written before anything is sent: a store that cannot be written refuses the run."""
        plan = run.plan
        context = self.api.context
        live_snapshot = plan.live_snapshot
        backup = self.store.save_snapshot(
            context=context,
            source=f"backup before {run.action} toward {plan.target.description}",
            policies=live_now,
            scope=plan.scope,
            kind="backup",
            namespace_labels={ns.name: ns.labels for ns in live_snapshot.namespaces}
            if live_snapshot is not None
            else {},
            admin_policies=live_admin,
        )
        self._emit(Progress("backup", "ok", f"live set saved as backup snapshot #{backup.id}"))
        journal = self.store.create_journal(
            context=context,
            action=run.action,
            target=self._journal_target(plan),
            backup_snapshot_id=backup.id,
            origin_backup_id=run.origin_backup_id or backup.id,
            parent_id=run.parent_id,
            steps=[
                (
                    op.action,
                    op.namespace,
                    op.key if op.admin else op.name,
                    op.planned_rv,
                    _before(op),
                )
                for op in plan.operations
            ],
        )
        return backup, journal

    def run(self, run: Run, *, confirmed_context: str) -> ApplyResult:
        plan = run.plan
        context = self.api.context
        if confirmed_context != context:
            raise RollbackRefused(
                f"the confirmation {confirmed_context!r} does not name the context {context!r}; "
                "nothing applied"
            )
        total = len(plan.operations)
        live_now, live_admin = self._preflight(plan)

        try:
            backup, journal = self._open_journal(run, live_now, live_admin)
        except StoreError as exc:
            raise RollbackRefused(f"{exc}; nothing applied") from exc
        jid = journal.id

        def result(
            status: JournalStatus, message: str, states: list[StepResult], diffs: Sequence[str] = ()
        ) -> ApplyResult:
            return ApplyResult(
                jid, run.action, status, message, tuple(states), backup.id, tuple(diffs), context
            )

        target = self._journal_target(plan)

        # -- dry-run every operation first
        failures = [
            f"step {r.position} {r.operation.describe()}: {r.error}"
            for r in self._dry_run_all(plan)
            if not r.ok
        ]
        if failures:
            for position in range(1, total + 1):
                self.store.finish_step(
                    jid, position, "skipped", error="dry-run failed; not applied"
                )
            message = "server-side dry-run failed, nothing applied: " + "; ".join(failures)
            self.store.set_journal_status(jid, "dry-run-failed", message)
            self._emit(Progress("done", "failed", message))
            return result(
                "dry-run-failed",
                message,
                [StepResult(i, op, "not-run") for i, op in enumerate(plan.operations, start=1)],
            )

        # -- apply in plan order
        self.store.set_journal_status(jid, "applying", f"applying {_plural(total, 'step')}")
        states: list[StepResult] = []
        position = 0
        try:
            for position, op in enumerate(plan.operations, start=1):
                self.store.start_step(jid, position)
                self._emit(Progress("apply", "start", op.describe(), position, total))
                try:
                    after, note = self._send(op, dry_run=False)
                except ApiFailure as exc:
                    state: StepState = "unknown" if exc.ambiguous else "failed"
                    text = str(exc) + (
                        " — it may have been applied anyway" if exc.ambiguous else ""
                    )
                    self.store.finish_step(jid, position, "failed", error=text)
                    states.append(StepResult(position, op, state, text))
                    states.extend(
                        StepResult(i, later, "not-run")
                        for i, later in enumerate(plan.operations[position:], start=position + 1)
                    )
                    message = (
                        f"step {position} {op.describe()} failed; "
                        f"{_plural(position - 1, 'step')} applied, "
                        f"{_plural(total - position, 'step')} not applied"
                    )
                    self.store.set_journal_status(jid, "failed", f"{message}: {text}")
                    self._emit(
                        Progress("apply", "failed", f"{op.describe()}: {text}", position, total)
                    )
                    self._emit(Progress("done", "failed", message))
                    return result("failed", message, states)
                self.store.finish_step(jid, position, "done", after=after, error=note)
                states.append(StepResult(position, op, "done", note))
                self._emit(
                    Progress(
                        "apply",
                        "ok",
                        op.describe() + (f" ({note})" if note else ""),
                        position,
                        total,
                    )
                )
                if self._after_step is not None:
                    self._after_step(position, op)
        except BaseException as exc:
            # KeyboardInterrupt, SystemExit, a bug: record it, never swallow it.
            try:
                done = sum(1 for s in states if s.state == "done")
                self.store.set_journal_status(
                    jid,
                    "interrupted",
                    f"stopped at step {position} of {total} ({type(exc).__name__}); "
                    f"{_plural(done, 'step')} applied",
                )
            except Exception:  # the original exception matters more
                pass
            raise

        # -- verify
        self._emit(Progress("verify", "start", "re-reading the live policies"))
        try:
            live_after = self.read_live(plan.scope)
        except ApiFailure as exc:
            message = f"every step applied, but the live set could not be re-read: {exc}"
            self.store.set_journal_status(jid, "verify-failed", message)
            self._emit(Progress("verify", "failed", message))
            return result("verify-failed", message, states)
        equal, diffs = sets_equal(live_after, target.policies)
        if target.admin_policies is not None:
            try:
                admin_after = self.read_live_admin()
            except ApiFailure as exc:
                message = f"every step applied, but the admin policies could not be re-read: {exc}"
                self.store.set_journal_status(jid, "verify-failed", message)
                self._emit(Progress("verify", "failed", message))
                return result("verify-failed", message, states)
            admin_ok, admin_diffs = admin_sets_equal(admin_after, target.admin_policies)
            equal = equal and admin_ok
            diffs = diffs + admin_diffs
        if not equal:
            message = (
                "every step applied, but the live set differs from the target "
                f"({len(diffs)} difference(s))"
            )
            self.store.set_journal_status(jid, "verify-failed", message + ": " + "; ".join(diffs))
            self._emit(Progress("verify", "failed", message))
            return result("verify-failed", message, states, diffs)
        message = (
            f"{_plural(total, 'step')} applied; the live set equals the target "
            f"({len(live_after)} {'policy' if len(live_after) == 1 else 'policies'})"
        )
        self.store.set_journal_status(jid, "verified", message)
        self._emit(Progress("verify", "ok", message))
        self._emit(Progress("done", "ok", message))
        return result("verified", message, states)

    def _send(self, op: Operation, *, dry_run: bool) -> tuple[JsonDict | None, str]:
        """One operation; returns what the server answered and a note for the journal. A
        cluster-scoped admin policy goes to its own REST paths, otherwise the same steps."""
        api = self.api
        if op.action == "delete":
            try:
                if op.admin:
                    api.delete_admin(
                        op.kind, op.name, resource_version=op.planned_rv, dry_run=dry_run
                    )
                else:
                    api.delete(
                        op.namespace, op.name, resource_version=op.planned_rv, dry_run=dry_run
                    )
            except ApiFailure as exc:
                if exc.status == 404 and not dry_run:
                    return None, "already absent"
                raise
            return None, ""
        body = op.manifest()
        assert body is not None
        if op.action == "create":
            create = api.create_admin if op.admin else api.create
            return create(body, dry_run=dry_run), ""
        replace = api.replace_admin if op.admin else api.replace
        return replace(body, dry_run=dry_run), ""


def _before(op: Operation) -> JsonDict | None:
    """The live object a step changes, as kept in the journal."""
    if isinstance(op.live, AdminPolicy):
        return admin_clean_manifest(op.live, op.live.resource_version)
    return stored_manifest(op.live) if op.live is not None else None


def _version_changes(planned: Mapping[str, str | None], now: Mapping[str, str | None]) -> list[str]:
    out = []
    for key in sorted(now.keys() | planned.keys()):
        if key not in planned:
            out.append(f"{key} was created")
        elif key not in now:
            out.append(f"{key} was deleted")
        elif now[key] != planned[key]:
            out.append(f"{key} changed (resourceVersion {planned[key]} → {now[key]})")
    return out


# ---------------------------------------------------------------- resume and revert


def resume_run(
    store: Store,
    journal_id: int,
    live: Snapshot,
    *,
    context: str,
    live_scope: tuple[str, ...] | None = None,
    live_source: str = "",
    server: str = "",
) -> Run:
    """Re-plan from the live state toward the target of journal `journal_id`."""
    journal = store.journal(journal_id)
    _same_context(journal, context)
    target = dataclasses.replace(
        journal.target_set(), description=f"the target of journal #{journal.id}: {journal.target}"
    )
    plan = make_plan(
        live,
        target,
        context=context,
        live_scope=live_scope,
        live_source=live_source,
        server=server,
    )
    return Run(plan, "resume", journal.id, journal.origin_backup_id)


def revert_run(
    store: Store,
    journal_id: int,
    live: Snapshot,
    *,
    context: str,
    live_scope: tuple[str, ...] | None = None,
    live_source: str = "",
    server: str = "",
) -> Run:
    """Plan back to the backup taken before the first run of journal `journal_id`'s chain."""
    journal = store.journal(journal_id)
    _same_context(journal, context)
    backup_id = journal.origin_backup_id or journal.backup_snapshot_id
    if backup_id is None:
        raise UsageError(f"journal #{journal.id} has no backup snapshot to revert to")
    backup = store.snapshot(backup_id)
    target = dataclasses.replace(
        backup.policy_set(),
        description=f"backup snapshot #{backup.id} (the live set before journal #{journal.id})",
    )
    plan = make_plan(
        live,
        target,
        context=context,
        live_scope=live_scope,
        live_source=live_source,
        server=server,
    )
    return Run(plan, "revert", journal.id, None)


def _same_context(journal: Journal, context: str) -> None:
    if journal.context != context:
        raise RollbackRefused(
            f"journal #{journal.id} was applied to context {journal.context!r}, not {context!r}; "
            "nothing applied"
        )
