"""`RollbackScreen`: the guided rollback (`:rollback`).

Targets on the left (stored snapshots of the context; a recording's known-good sets in a
replay), the plan on the right: the steps in the order they would run, the selected step's
diff, and the connectivity delta. In a live session `d` runs the server-side dry-run, `A`
applies after the typed confirmation (ConfirmContextModal), with per-step progress from a
thread worker and the verification at the end; after a failure `u` resumes and `v` reverts.
In a replay the same plan is a SIMULATION and nothing that would touch a cluster is offered.

    app.push_screen(RollbackScreen(app.session))          # what `:rollback` does
    RollbackScreen(session, state_dir=..., api_factory=...)  # tests: a store, a fake API
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.console import Group
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.message import Message
from textual.widgets import DataTable, Footer, OptionList, Static
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from triage.errors import error_line
from triage.model.untrusted import clean
from triage.rollback.apply import ApplyResult, DryRunResult, Progress, Run
from triage.rollback.delta import Delta
from triage.rollback.plan import ORDERING_RULE, PHASE_NAMES, Operation, Plan
from triage.rollback.policyset import PolicySet, scope_text
from triage.rollback.store import SavedSnapshot
from triage.ui.live_access import ClusterWriteScreen, export_in_thread
from triage.ui.safe_text import data_text
from triage.ui.session import Session
from triage.ui.widgets.confirm import ConfirmContextModal
from triage.ui.widgets.source_bar import SourceBar

if TYPE_CHECKING:
    from triage.rollback.api import PolicyApi
    from triage.rollback.session import FollowUp
    from triage.sources.live import LiveTarget

ApiFactory = Callable[[], "PolicyApi"]

GROUP_PLAN = "rollback-plan"
GROUP_RUN = "rollback-run"  # dry-run, apply, save: one cluster-touching job at a time
GROUP_STORE = "rollback-store"


# ---------------------------------------------------------------- messages (facts)


@dataclass
class TargetsLoaded(Message, bubble=False):
    snapshots: list[SavedSnapshot]
    select: int | None = None  # a snapshot id to plan toward


@dataclass
class PlanComputed(Message, bubble=False):
    run: Run


@dataclass
class ApplyProgressed(Message, bubble=False):
    progress: Progress


@dataclass
class DryRunFinished(Message, bubble=False):
    results: list[DryRunResult]


@dataclass
class ApplyFinished(Message, bubble=False):
    result: ApplyResult


@dataclass
class JobFailed(Message, bubble=False):
    """A worker raised: a refusal (nothing applied) or a cluster error, in one line."""

    what: str
    text: str


# ---------------------------------------------------------------- rendering helpers


def _diff_style(line: str) -> str:
    if line.startswith(("---", "+++")):
        return "bold"
    if line.startswith("@@"):
        return "cyan"
    return {"+": "green", "-": "red"}.get(line[:1], "")


def diff_text(op: Operation) -> Text:
    """The step's change: a unified diff for a replace, the spec for a create or delete."""
    from triage.rollback.plan import spec_yaml

    text = Text(no_wrap=True, overflow="ellipsis")
    if op.diff:
        for line in op.diff:
            text.append(line + "\n", _diff_style(line))
        return text
    policy = op.target if op.action == "create" else op.live
    assert policy is not None
    sign, style = ("+", "green") if op.action == "create" else ("-", "red")
    for line in spec_yaml(policy).splitlines():
        text.append(f"{sign} {line}\n", style)
    return text


def delta_text(delta: Delta, *, limit: int = 60) -> Text:
    """Grouped by destination workload: `dst` then `port ← sources` lines, cut not wrapped."""
    text = Text(no_wrap=True, overflow="ellipsis")
    if delta.empty:
        text.append("no flow changes its verdict", "italic")
        return text
    lines = 0
    for which, title, style in (
        ("opened", "will open", "green"),
        ("closed", "will close", "red"),
    ):
        changes = delta.opened if which == "opened" else delta.closed
        text.append(f"{title} · {len(changes)}\n", f"bold {style}")
        current = None
        for group in delta.groups(which):
            if lines >= limit:
                text.append("  …\n", "dim")
                break
            if group.destination != current:
                current = group.destination
                text.append(f" {group.destination}\n", "bold")
                lines += 1
            sources = ", ".join(group.sources[:3]) + (
                f" +{len(group.sources) - 3}" if len(group.sources) > 3 else ""
            )
            text.append(f"   {group.port}", style)
            text.append(f" ← {sources}\n")
            lines += 1
    return text


def op_effect(op: Operation) -> str:
    """`+6` opens six flows, `+1 -1` opens one and closes one, `=` changes none."""
    e = op.effect
    if e.empty:
        return "="
    parts = []
    if e.opened:
        parts.append(f"+{len(e.opened)}")
    if e.closed:
        parts.append(f"-{len(e.closed)}")
    return " ".join(parts)


def report_name(plan: Plan) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", (plan.context or "plan").lower()).strip("-")
    return f"rollback-plan-{slug}.md"


# ---------------------------------------------------------------- the screen


class RollbackScreen(ClusterWriteScreen):
    CSS_PATH = "../rollback.tcss"
    BANNER_ID = "rollback-banner"
    LOG_ID = "rollback-log"
    LOG_TEXT_ID = "rollback-log-text"
    RUN_GROUP = GROUP_RUN

    HELP = """\
Guided rollback to a known-good policy set. Pick a target on the left (enter plans toward
it). The steps run in the order shown: changes that only open flows first, then those that
close flows, deletes of allow policies last, so DNS and ingress guardrails come back before
anything is removed. The right panes show the selected step's diff and the flows the whole
rollback opens and closes (judged by the engine on one pod per workload).

Live: `d` asks the API server for a dry-run of every step (nothing changes). `A` applies:
you type the context name; the live set is re-read (a change since the plan refuses),
backed up as a snapshot, dry-run, applied step by step with resourceVersion preconditions,
journalled and verified. After a failure, `u` re-plans from the live state toward the same
target (resume) and `v` plans back to the backup (revert); both are applied with `A`.
A replay shows the same plan as a SIMULATION and never offers to apply."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="rollback.back"),
        Binding("r", "replan", "Re-plan", id="rollback.replan"),
        Binding("d", "dry_run", "Dry-run", id="rollback.dry_run"),
        Binding("A", "apply", "Apply…", key_display="A", id="rollback.apply"),
        Binding("u", "resume", "Resume", id="rollback.resume"),
        Binding("v", "revert", "Revert", id="rollback.revert"),
        Binding("s", "save_snapshot", "Save live", id="rollback.save"),
        Binding("g", "toggle_good", "Good", id="rollback.good"),
        Binding("e", "export", "Export", id="rollback.export"),
    ]

    def __init__(
        self,
        session: Session | None = None,
        *,
        state_dir: Path | None = None,
        live_target: LiveTarget | None = None,
        api_factory: ApiFactory | None = None,
    ) -> None:
        super().__init__(
            session, state_dir=state_dir, live_target=live_target, api_factory=api_factory
        )
        self.snapshots: list[SavedSnapshot] = []
        self.run_: Run | None = None  # the plan shown, and what kind of run applying it is
        self.target: PolicySet | None = None
        self.last_result: ApplyResult | None = None
        self.step_status: dict[int, str] = {}

    @property
    def plan(self) -> Plan | None:
        return self.run_.plan if self.run_ is not None else None

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield SourceBar(id="source-bar")
        yield Static(id="rollback-banner")
        with Horizontal(id="rollback-main"):
            with Vertical(id="rollback-side"):
                targets = OptionList(id="rollback-targets")
                targets.border_title = "targets"
                targets.border_subtitle = "enter plans"
                yield targets
                log = VerticalScroll(id="rollback-log")
                log.border_title = "simulation" if self.simulation else "apply"
                with log:
                    yield Static(id="rollback-log-text")
            with Vertical(id="rollback-right"):
                yield Static(id="plan-summary")
                table: DataTable[Any] = DataTable(
                    id="rollback-steps", cursor_type="row", zebra_stripes=False
                )
                table.border_title = "steps"
                yield table
                with Horizontal(id="rollback-panes"):
                    detail = VerticalScroll(id="op-detail")
                    detail.border_title = "step"
                    with detail:
                        yield Static(id="op-detail-text")
                    delta = VerticalScroll(id="rollback-delta")
                    delta.border_title = "connectivity delta"
                    with delta:
                        yield Static(id="rollback-delta-text")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        table = self.query_one("#rollback-steps", DataTable)
        table.add_columns("#", "action", "policy", "phase", "flows", "status")
        self.show_banner(
            " replay of a recording: the plan and delta against its known-good set; "
            "nothing can be applied from here",
            f" context {clean(self.context)}: applying needs the context name typed",
        )
        if self.simulation:
            self.add_log(
                "This is what `triage rollback apply` would do against the live cluster, "
                "step by step. Nothing here touches a cluster.",
                "italic",
            )
        self.query_one("#plan-summary", Static).update(Text("choose a target", "italic"))
        self.query_one("#rollback-targets", OptionList).focus()
        self.load_targets()

    # ------------------------------------------------------------------ targets

    def load_targets(self, select: int | None = None) -> None:
        if self.simulation:
            self.show_targets([])
            incident = self.session.incident
            if incident is not None and incident.known_good:
                self.plan_toward(0)
            return
        self.run_worker(
            lambda: self._load_snapshots(select),
            thread=True,
            group=GROUP_STORE,
            exclusive=True,
            exit_on_error=False,
            description="Reading the snapshot store",
        )

    def _load_snapshots(self, select: int | None) -> None:
        with self.open_store() as store:
            snaps = store.snapshots(context=self.context)
        self.post_message(TargetsLoaded(snaps, select))

    def on_targets_loaded(self, message: TargetsLoaded) -> None:
        self.show_targets(message.snapshots)
        if message.select is not None:
            index = next((i for i, s in enumerate(self.snapshots) if s.id == message.select), None)
            if index is not None:
                self.query_one("#rollback-targets", OptionList).highlighted = index
            return
        if self.run_ is None:
            good = next((i for i, s in enumerate(self.snapshots) if s.good), None)
            if good is not None:
                self.query_one("#rollback-targets", OptionList).highlighted = good
                self.plan_toward(good)
            else:
                self.query_one("#plan-summary", Static).update(
                    Text(
                        "no known-good snapshot for this context yet: `s` saves the live set, "
                        "`g` marks the highlighted snapshot good",
                        "italic",
                    )
                )

    def show_targets(self, snapshots: list[SavedSnapshot]) -> None:
        options = self.query_one("#rollback-targets", OptionList)
        highlighted = options.highlighted
        options.clear_options()
        if self.simulation:
            incident = self.session.incident
            for kg in incident.known_good if incident is not None else ():
                options.add_option(
                    Option(
                        Text.assemble(
                            ("● ", "bold green"),
                            (kg.name, "bold"),
                            "\n",
                            (f"  known-good · captured {kg.captured_at}", "dim"),
                            "\n",
                            (f"  {len(kg.policies)} policies", "dim"),
                        )
                    )
                )
            return
        # newest first: the last good set is what people roll back to
        self.snapshots = sorted(snapshots, key=lambda s: s.id, reverse=True)
        for snap in self.snapshots:
            mark = ("● good ", "bold green") if snap.good else (f"○ {snap.kind} ", "dim")
            options.add_option(
                Option(
                    Text.assemble(
                        mark,
                        f"#{snap.id} {snap.created_at}",
                        "\n",
                        (
                            f"  {len(snap.policies)} policies · {scope_text(snap.scope)}"
                            + (f" · {clean(snap.note)}" if snap.note else ""),
                            "dim",
                        ),
                    )
                )
            )
        if highlighted is not None and self.snapshots:
            options.highlighted = min(highlighted, len(self.snapshots) - 1)

    @on(OptionList.OptionSelected, "#rollback-targets")
    def target_selected(self, event: OptionList.OptionSelected) -> None:
        self.plan_toward(event.option_index)

    def target_at(self, index: int) -> PolicySet:
        if self.simulation:
            from triage.rollback.targets import from_known_good

            incident = self.session.incident
            assert incident is not None
            kg = incident.known_good[index]
            return from_known_good(incident, kg.name, "the recording")
        return self.snapshots[index].policy_set()

    # ------------------------------------------------------------------ planning

    def plan_toward(self, index: int) -> None:
        target = self.target_at(index)
        self.target = target
        self.start_plan(lambda: Run.apply(self._make_plan(target)))

    def start_plan(self, job: Callable[[], Run], what: str = "planning") -> None:
        self.query_one("#plan-summary", Static).update(Text(f"{what}…", "italic"))

        def work() -> None:
            run = job()
            self.post_message(PlanComputed(run))

        self.run_worker(
            work,
            thread=True,
            group=GROUP_PLAN,
            exclusive=True,
            exit_on_error=False,
            description="Planning the rollback",
        )

    def _make_plan(self, target: PolicySet) -> Plan:
        """Thread: a replay plans against the recording; live re-reads the cluster so the
        plan's resourceVersions are current."""
        from triage.rollback.plan import make_plan

        session = self.session
        if self.simulation:
            return make_plan(
                session.snapshot,
                target,
                context=self.context or None,
                live_source=f"recording: {session.label}",
                simulation=True,
            )
        return self.rollback_session().plan(target).plan

    def on_plan_computed(self, message: PlanComputed) -> None:
        self.run_ = message.run
        self.step_status = {}
        self.show_plan()
        self.refresh_bindings()

    def show_plan(self) -> None:
        plan = self.plan
        if plan is None:
            return
        kind = {"apply": "rollback", "resume": "resume", "revert": "revert"}[
            self.run_.action if self.run_ else "apply"
        ]
        summary = Text(no_wrap=False)
        summary.append(f"{kind} toward ", "bold")
        summary.append(clean(plan.target.description))
        summary.append(f"\n{clean(scope_text(plan.scope))} · {plan.summary()}")
        for warning in plan.warnings:
            summary.append(f"\nwarning: {clean(warning)}", "yellow")
        self.query_one("#plan-summary", Static).update(summary)
        table = self.query_one("#rollback-steps", DataTable)
        table.clear()
        for i, op in enumerate(plan.operations, start=1):
            table.add_row(
                str(i),
                op.action,
                data_text(op.key),
                f"{op.phase} {PHASE_NAMES[op.phase]}",
                op_effect(op),
                self.step_status.get(i, ""),
                key=str(i),
            )
        table.border_subtitle = f"{len(plan.operations)} steps · ? explains the order"
        self.query_one("#rollback-delta-text", Static).update(delta_text(plan.delta))
        delta_pane = self.query_one("#rollback-delta", VerticalScroll)
        delta_pane.border_subtitle = f"{plan.reps} workloads · {plan.delta.checked} verdicts"
        self.show_step(0)

    def show_step(self, row: int) -> None:
        plan = self.plan
        detail = self.query_one("#op-detail-text", Static)
        pane = self.query_one("#op-detail", VerticalScroll)
        if plan is None or not plan.operations:
            pane.border_title = "step"
            detail.update(
                Text(
                    "nothing to do: the live set already equals the target"
                    if plan is not None
                    else ""
                )
            )
            return
        row = max(0, min(row, len(plan.operations) - 1))
        op = plan.operations[row]
        pane.border_title = escape(f"{row + 1}. {op.action} {clean(op.key)}")
        header = Text()
        # In full: the table cell and the border title may be cut at 80 columns.
        header.append(f"{op.action} {op.key}\n", "bold")
        header.append(
            f"phase {op.phase}: {PHASE_NAMES[op.phase]} · alone it {op.effect.summary()}\n"
        )
        if op.planned_rv is not None:
            header.append(f"planned resourceVersion {op.planned_rv}\n", "dim")
        detail.update(Group(header, diff_text(op)))

    @on(DataTable.RowHighlighted, "#rollback-steps")
    def step_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_step(event.cursor_row)

    def set_step_status(self, position: int, status: str) -> None:
        self.step_status[position] = status
        table = self.query_one("#rollback-steps", DataTable)
        with contextlib.suppress(CellDoesNotExist, RowDoesNotExist):  # an older plan's row
            table.update_cell(str(position), table.ordered_columns[5].key, status)

    # ------------------------------------------------------------------ the log

    # ------------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        touches = ("dry_run", "apply", "resume", "revert", "save_snapshot", "toggle_good")
        if action in touches and self.simulation:
            return False  # a replay never offers what would touch a cluster
        if action in ("resume", "revert"):
            failed = self.last_result is not None and not self.last_result.ok
            return failed
        if action in ("dry_run", "apply") and (self.plan is None or self.plan.empty or self.busy):
            return None  # shown, greyed out
        return True

    def action_back(self) -> None:
        self.dismiss()

    def action_replan(self) -> None:
        if self.run_ is None:
            options = self.query_one("#rollback-targets", OptionList)
            if options.highlighted is not None:
                self.plan_toward(options.highlighted)
            return
        run = self.run_
        if run.action == "apply" and self.target is not None:
            target = self.target
            self.start_plan(lambda: Run.apply(self._make_plan(target)))
        elif run.action != "apply" and run.parent_id is not None:
            self._plan_follow_up(run.action, run.parent_id)

    def action_dry_run(self) -> None:
        plan = self.plan
        if plan is None or plan.empty or self.busy or self.simulation:
            return
        self.add_log(f"dry-run of {len(plan.operations)} step(s) on {self.context}", "bold")

        def job() -> None:
            session = self.rollback_session()
            with self.open_store() as store:
                results = session.dry_run(store, plan, progress=self._progress)
            self.post_message(DryRunFinished(results))

        self._start_job("dry-run", job)

    def on_dry_run_finished(self, message: DryRunFinished) -> None:
        self.busy = ""
        failed = [r for r in message.results if not r.ok]
        if failed:
            self.add_log(f"dry-run: {len(failed)} step(s) refused by the server", "bold red")
        else:
            self.add_log("dry-run: the server accepts every step (nothing was changed)", "green")
        self.refresh_bindings()

    def action_apply(self) -> None:
        plan = self.plan
        run = self.run_
        if plan is None or run is None or plan.empty or self.busy or self.simulation:
            return
        lines = [
            *([plan.deletes_everything_text() + ".", ""] if plan.deletes_everything else []),
            plan.summary(),
            f"target: {plan.target.description}",
            f"scope: {scope_text(plan.scope)}",
            *(f"warning: {w}" for w in plan.warnings),
            "",
            *(f"{i}. {op.action} {op.key}" for i, op in enumerate(plan.operations, start=1)),
            "",
            "The live set is re-read (any change since this plan refuses), saved as a backup,",
            "dry-run server-side, then applied in this order; the first failure stops it.",
        ]
        verb = {"apply": "Apply", "resume": "Resume", "revert": "Revert"}[run.action]
        title = f"{verb} {len(plan.operations)} step(s) to context {self.context}?"
        if plan.deletes_everything:
            title = f"{verb}: DELETE ALL {len(plan.operations)} policies in context {self.context}?"
        modal = ConfirmContextModal(
            title,
            lines,
            self.context,
            verb=verb,
        )
        self.app.push_screen(modal, lambda typed: self._confirmed(run, typed))

    def _confirmed(self, run: Run, typed: str | None) -> None:
        if not typed:
            self.add_log("cancelled: nothing applied", "dim")
            return
        self.add_log(f"{run.action}: {len(run.plan.operations)} step(s) on {typed}", "bold")

        def job() -> None:
            session = self.rollback_session()
            with self.open_store() as store:
                result = session.execute(
                    store, run, confirmed_context=typed, progress=self._progress
                )
            self.post_message(ApplyFinished(result))

        self._start_job(run.action, job)

    def _progress(self, event: Progress) -> None:
        """Thread: every event becomes a message; the screen updates itself."""
        self.post_message(ApplyProgressed(event))

    def on_apply_progressed(self, message: ApplyProgressed) -> None:
        event = message.progress
        if event.position is not None and event.stage in ("dry-run", "apply"):
            label = {
                ("dry-run", "start"): "dry-run…",
                ("dry-run", "ok"): "dry-run ok",
                ("dry-run", "failed"): "DRY-RUN FAILED",
                ("apply", "start"): "applying…",
                ("apply", "ok"): "applied",
                ("apply", "failed"): "FAILED",
            }.get((event.stage, event.status), event.status)
            self.set_step_status(event.position, label)
            if event.status == "failed":
                self.add_log(f"{event.stage} {event.position}: {event.text}", "red")
            return
        if event.status == "start":
            return
        style = {"ok": "green", "failed": "bold red"}.get(event.status, "")
        self.add_log(f"{event.stage}: {event.text}", style)

    def on_apply_finished(self, message: ApplyFinished) -> None:
        self.busy = ""
        result = message.result
        self.last_result = result
        if result.ok:
            self.add_log(f"VERIFIED: {result.message} (journal #{result.journal_id})", "bold green")
            self.notify(result.message, title="rollback verified")
        else:
            for line in result.report():
                self.add_log(line, "red" if "FAILED" in line or "UNKNOWN" in line else "")
            if result.status not in ("dry-run-failed",):
                self.add_log("u: resume toward the same target · v: revert to the backup", "bold")
            self.notify(result.message, title=f"rollback {result.status}", severity="error")
        self.load_targets(select=None)
        self.refresh_bindings()

    @on(JobFailed)
    def job_failed(self, message: JobFailed) -> None:
        self.busy = ""
        self.add_log(f"{message.what}: {message.text}", "bold red")
        self.notify(message.text, title=message.what, severity="error")
        self.refresh_bindings()

    @on(Worker.StateChanged)
    def worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        worker = event.worker
        if worker.group not in (GROUP_PLAN, GROUP_RUN, GROUP_STORE):
            return
        error = worker.error
        text = error_line(error) if error is not None else "unknown error"
        what = worker.name or worker.group
        if worker.group == GROUP_PLAN:
            self.query_one("#plan-summary", Static).update(Text(f"cannot plan: {text}", "bold red"))
        self.post_message(JobFailed(what, text))

    def _plan_follow_up(self, action: FollowUp, journal_id: int) -> None:
        def job() -> Run:
            session = self.rollback_session()
            with self.open_store() as store:
                return session.follow_up(store, action, journal_id)

        self.start_plan(job, f"planning the {action} of journal #{journal_id}")

    def action_resume(self) -> None:
        if self.last_result is not None and not self.simulation and not self.busy:
            self._plan_follow_up("resume", self.last_result.journal_id)
            self.add_log("resume planned from the live state: review it, then A", "bold")

    def action_revert(self) -> None:
        if self.last_result is not None and not self.simulation and not self.busy:
            self._plan_follow_up("revert", self.last_result.journal_id)
            self.add_log("revert planned toward the backup: review it, then A", "bold")

    def action_save_snapshot(self) -> None:
        if self.simulation or self.busy:
            return

        def job() -> None:
            from triage.sources.live import load_live

            live_target = self.live_target()
            loaded = load_live(live_target)
            snap = loaded.snapshot
            scope = tuple(sorted(set(live_target.namespaces))) or None
            with self.open_store() as store:
                saved = store.save_snapshot(
                    context=loaded.context,
                    source=f"context {loaded.context} (TUI)",
                    policies=snap.policies,
                    scope=scope,
                    namespace_labels={ns.name: dict(ns.labels) for ns in snap.namespaces},
                    pod_labels={p.key: dict(p.labels) for p in snap.pods},
                    admin_policies=snap.admin_policies or None,
                )
                snaps = store.snapshots(context=self.context)
            self.post_message(TargetsLoaded(snaps, saved.id))

        self.add_log("saving the live set as a snapshot…", "dim")
        self._start_job("save", job)

    def _known_good_changed(self) -> None:
        """The store's last known-good set may be another one now: the app re-reads it for
        "what changed" and the regressed candidates."""
        refresh = getattr(self.app, "refresh_known_good", None)
        if refresh is not None:
            self.app.call_from_thread(refresh)

    def action_toggle_good(self) -> None:
        options = self.query_one("#rollback-targets", OptionList)
        index = options.highlighted
        if self.simulation or index is None or index >= len(self.snapshots):
            return
        snap = self.snapshots[index]

        def job() -> None:
            with self.open_store() as store:
                store.mark_good(snap.id, not snap.good)
                snaps = store.snapshots(context=self.context)
            self.post_message(TargetsLoaded(snaps, snap.id))
            self._known_good_changed()

        self.run_worker(job, thread=True, group=GROUP_STORE, exit_on_error=False)

    def action_export(self) -> None:
        plan = self.plan
        if plan is None:
            self.notify("plan first: choose a target", severity="warning")
            return
        from triage.rollback.render import plan_to_markdown

        incident = self.session.incident
        flows: Sequence[Any] = (
            [(rf.flow, rf.note) for rf in incident.flows] if incident is not None else []
        )
        text = plan_to_markdown(plan, flows=flows)
        export_in_thread(self, report_name(plan), text, "runbook written", "rollback-export")

    def help_topic(self) -> tuple[str, str]:
        return "The order of the steps", ORDERING_RULE
