"""A rollback against one live cluster, without a UI: plan, dry-run, apply, resume, revert.

`triage rollback` (triage/commands/rollback.py) and the TUI's rollback screen both drive a
`RollbackSession`; so can any other flow that changes a cluster's policy set (a rollout):

    session = RollbackSession(LiveTarget(context="prod"), state_dir)
    run = session.plan(target)                   # reads the live set; the plan to show
    ... show run.plan, get the context name typed (or --yes --context prod) ...
    with session.open_store() as store:
        result = session.execute(store, run, confirmed_context="prod", progress=print)

Confirmation is the caller's: the session takes the context name it was given and refuses
to write unless it is the session's context, then refuses again unless the API client it
connects reaches that context. Progress is a callback (`Progress` events, called from the
thread that runs the session); the result is the journalled `ApplyResult`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from triage.errors import UsageError
from triage.rollback.apply import (
    Applier,
    ApplyResult,
    DryRunResult,
    ProgressCallback,
    Run,
    StepHook,
    resume_run,
    revert_run,
)
from triage.rollback.plan import Plan, make_plan

if TYPE_CHECKING:
    from collections.abc import Callable

    from triage.rollback.api import PolicyApi
    from triage.rollback.policyset import PolicySet
    from triage.rollback.store import Store
    from triage.sources.live import LiveLoad, LiveTarget

FollowUp = Literal["resume", "revert"]


def close_api(api: object) -> None:
    """Close an API client if it has anything to close (fakes may not)."""
    close = getattr(api, "close", None)
    if callable(close):
        close()


@dataclass(frozen=True)
class RollbackSession:
    """One cluster, named by its context (`target.context`, never "the current context":
    the kubeconfig may switch while a plan is read), and the store its journals go to.

    `api_factory`: how to reach the NetworkPolicy API (tests pass one); None: the official
    client on `target`'s context and kubeconfig."""

    target: LiveTarget
    state_dir: Path | None = None
    api_factory: Callable[[], PolicyApi] | None = None

    def __post_init__(self) -> None:
        if not self.target.context:
            raise UsageError(
                "--context NAME is required to change a cluster: name the kubeconfig context "
                "you mean (nothing applied)"
            )

    @property
    def context(self) -> str:
        return str(self.target.context)

    @property
    def scope(self) -> tuple[str, ...] | None:
        """The namespaces the plan covers; None: the whole cluster."""
        return tuple(sorted(set(self.target.namespaces))) or None

    @property
    def live_source(self) -> str:
        return f"context {self.context}"

    def open_store(self) -> Store:
        from triage.rollback.store import Store

        return Store.open(self.state_dir)

    # ------------------------------------------------------------ reading and planning

    def read_live(self) -> LiveLoad:
        """The live objects of the session's context (refused if the kubeconfig resolves the
        name to another context)."""
        from triage.sources.live import load_live

        loaded = load_live(self.target)
        if loaded.context != self.context:
            raise UsageError(
                f"the kubeconfig context in use is {loaded.context!r}, not {self.context!r}; "
                "nothing applied"
            )
        return loaded

    def plan(self, target: PolicySet) -> Run:
        """The live set against `target`, with the resourceVersions read just now."""
        loaded = self.read_live()
        plan = make_plan(
            loaded.snapshot,
            target,
            context=self.context,
            live_scope=self.scope,
            live_source=self.live_source,
            server=loaded.server,
        )
        return Run.apply(plan)

    def follow_up(self, store: Store, action: FollowUp, journal_id: int) -> Run:
        """Resume (toward the same target) or revert (to the backup) journal `journal_id`,
        planned from the live state. An unknown journal is refused before anything is read
        from the cluster; one applied to another context, before anything is planned."""
        store.journal(journal_id)
        loaded = self.read_live()
        build = resume_run if action == "resume" else revert_run
        return build(
            store,
            journal_id,
            loaded.snapshot,
            context=self.context,
            live_scope=self.scope,
            live_source=self.live_source,
            server=loaded.server,
        )

    # ------------------------------------------------------------ writing

    def connect(self) -> PolicyApi:
        """An API client that reaches the session's context, or UsageError (closed)."""
        if self.api_factory is not None:
            api = self.api_factory()
        else:
            from triage.rollback.api import KubePolicyApi

            api = KubePolicyApi.connect(self.context, self.target.kubeconfig, self.target.timeout)
        if api.context != self.context:
            close_api(api)
            raise UsageError(
                f"the kubeconfig context in use is {api.context!r}, not {self.context!r}; "
                "nothing applied"
            )
        return api

    def dry_run(
        self, store: Store, plan: Plan, *, progress: ProgressCallback | None = None
    ) -> list[DryRunResult]:
        """The server's verdict on every step (nothing changes)."""
        api = self.connect()
        try:
            return Applier(api, store, progress=progress).dry_run(plan)
        finally:
            close_api(api)

    def execute(
        self,
        store: Store,
        run: Run,
        *,
        confirmed_context: str,
        progress: ProgressCallback | None = None,
        after_step: StepHook | None = None,
    ) -> ApplyResult:
        """Apply `run` (re-read, back up, dry-run, apply in order, journal, verify).
        `confirmed_context`: the name the operator typed, or passed with `--yes`; anything
        but the session's context is refused before a connection is made."""
        if confirmed_context != self.context:
            raise UsageError(
                f"confirmation {confirmed_context!r} does not match the context "
                f"{self.context!r}; nothing applied"
            )
        api = self.connect()
        try:
            applier = Applier(api, store, progress=progress, after_step=after_step)
            return applier.run(run, confirmed_context=confirmed_context)
        finally:
            close_api(api)
