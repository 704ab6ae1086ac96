"""The runbook as a checklist: each step runs in its own thread worker and lands with its
evidence; `a` runs them all in order, `enter`/`n` one at a time."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path
from typing import ClassVar

from rich.console import RenderableType
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.markup import escape
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState, get_current_worker

from triage.checklist import (
    ChecklistContext,
    ReportOrigin,
    Status,
    StepResult,
    export_report,
    load_runbook,
    render_kubectl,
    run_step,
    runbook_for,
)
from triage.errors import error_line
from triage.files import write_private
from triage.model import Flow
from triage.model.untrusted import clean
from triage.ui.fit import elide_names
from triage.ui.messages import StepFinished
from triage.ui.session import Session
from triage.ui.widgets.source_bar import SourceBar
from triage.ui.widgets.step_detail import StepDetail
from triage.ui.widgets.steps import StepList

STEP_GROUP = "step:"


def report_name(flow: Flow) -> str:
    """`triage-report-develop-frontend--develop-svc-backend-8080-tcp.md`"""

    def slug(text: str) -> str:
        return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")

    return (
        f"triage-report-{slug(str(flow.source))}--{slug(str(flow.destination))}-"
        f"{slug(str(flow.port))}-{flow.protocol.lower()}.md"
    )


def write_report(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    write_private(path, text)  # 0600, atomic, never through a planted symbolic link
    return path


class ChecklistScreen(Screen[None]):
    HELP = """\
The runbook's steps for this flow. `a` runs every step in order; `enter` (or `n`) runs the
next step that has not run and shows it; `r` reruns the selected one. Each result says what
the step found, the evidence, what to do next and the kubectl command that shows the same
evidence (`c` copies it). `e` writes the incident report (Markdown)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="checklist.back"),
        Binding("enter,n", "next_step", "Next", key_display="⏎", id="checklist.next"),
        Binding(
            "a", "run_all", "All", tooltip="Run all: every step in order", id="checklist.run_all"
        ),
        Binding("r", "rerun", "Rerun", id="checklist.rerun"),
        Binding("down", "move_step(1)", "Step", key_display="↑↓", id="checklist.down"),
        Binding("up", "move_step(-1)", "Previous step", show=False, id="checklist.up"),
        Binding(
            "pagedown",
            "scroll_detail(1)",
            "Detail",
            key_display="pgdn",
            show=False,
            id="checklist.pgdn",
        ),
        Binding(
            "f",
            "fix",
            "Fix",
            tooltip="Fix: the least-privilege policy for this flow (save, dry-run, apply)",
            id="checklist.fix",
        ),
        Binding("pageup", "scroll_detail(-1)", "Detail up", show=False, id="checklist.pgup"),
        # Short footer words (it must fit 80 columns); help and the palette say more.
        Binding(
            "c",
            "copy_kubectl",
            "Copy",
            tooltip="Copy kubectl: the step's kubectl command, to paste in a shell",
            id="checklist.copy",
        ),
        Binding(
            "e",
            "export",
            "Report",
            tooltip="Export report: the Markdown incident report (see --report-dir)",
            id="checklist.export",
        ),
    ]

    def __init__(self, flow: Flow, runbook: str = "blocked-flow") -> None:
        super().__init__()
        self.flow = flow
        self.runbook_name = runbook
        self.results: dict[str, StepResult] = {}
        self.running: set[str] = set()
        self.queue: list[str] = []
        self.run_all_started = False
        self.ctx: ChecklistContext | None = None

    @property
    def session(self) -> Session:
        session = self.app.session  # type: ignore[attr-defined]
        assert session is not None
        return session  # type: ignore[no-any-return]

    def compose(self) -> ComposeResult:
        session = self.session
        self.ctx = ChecklistContext(
            snapshot=session.snapshot,
            flow=self.flow,
            incident=session.incident,
            prober=session.prober,
            runbook=load_runbook(self.runbook_name),
            datapath=self.app.datapath,  # type: ignore[attr-defined]
            known_good=getattr(self.app, "known_good", None),
        )
        runbook = runbook_for(self.ctx)
        yield SourceBar(id="source-bar")
        yield Static(id="flow-line")
        with Horizontal(id="checklist-main"):
            step_list = StepList(runbook.steps, id="steps")
            step_list.border_title = escape(clean(runbook.title))  # a --runbook file
            yield step_list
            yield StepDetail(id="step-detail")
        yield Footer(compact=True, show_command_palette=False)

    def on_resize(self) -> None:
        self.update_flow_line()

    def on_mount(self) -> None:
        self.query_one(StepList).focus()
        self.update_flow_line()

    @property
    def context(self) -> ChecklistContext:
        assert self.ctx is not None
        return self.ctx

    @property
    def step_ids(self) -> tuple[str, ...]:
        return runbook_for(self.context).step_ids

    def status(self, step_id: str) -> Status:
        if step_id in self.running:
            return "running"
        result = self.results.get(step_id)
        return result.status if result is not None else "pending"

    # ------------------------------------------------------------------ running steps

    def start_step(self, step_id: str) -> None:
        self.running.add(step_id)
        self.query_one(StepList).row(step_id).set_status("running")
        self.refresh_views(step_id)
        self.run_worker(
            partial(self._run_step, step_id),
            name=step_id,
            group=f"{STEP_GROUP}{step_id}",
            description=f"Running step {step_id}",
            thread=True,
            exclusive=True,
            exit_on_error=False,
        )

    def _run_step(self, step_id: str) -> None:
        """Thread: the blocking domain call, then one message with the whole result."""
        result = run_step(self.context, step_id)
        if not get_current_worker().is_cancelled:
            self.post_message(StepFinished(step_id, result))

    def on_step_finished(self, message: StepFinished) -> None:
        self.finish(message.step_id, message.result)

    @on(Worker.StateChanged)
    def worker_failed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state != WorkerState.ERROR or not worker.group.startswith(STEP_GROUP):
            return
        step_id = worker.group.removeprefix(STEP_GROUP)
        error = worker.error
        text = error_line(error) if error is not None else "unknown error"
        self.finish(step_id, StepResult(step_id, "error", f"the step crashed: {text}"))

    def finish(self, step_id: str, result: StepResult) -> None:
        self.running.discard(step_id)
        self.results[step_id] = result
        self.query_one(StepList).row(step_id).set_status(result.status)
        self.refresh_views(step_id)
        if self.queue:
            self.start_step(self.queue.pop(0))
        elif self.run_all_started and not self.running:
            # A run-all just ended: show where the chain breaks, as a test runner would.
            self.run_all_started = False
            broken = [s for s in self.step_ids if self.status(s) in ("fail", "error")]
            if broken:
                self.query_one(StepList).select(broken[0])

    def refresh_views(self, step_id: str) -> None:
        self.update_flow_line()
        if self.query_one(StepList).current_id == step_id:
            self.show_step(step_id)

    # ------------------------------------------------------------------ views

    def update_flow_line(self) -> None:
        """`DENIED  src → dst:port/proto   8/8 steps run · 2 fail`: the verdict first, as
        soon as the verdict step has run; cut, never wrapped."""
        counts: dict[str, int] = {}
        for step_id in self.step_ids:
            status = self.status(step_id)
            counts[status] = counts.get(status, 0) + 1
        done = sum(n for s, n in counts.items() if s not in ("pending", "running"))
        flow_line = self.query_one("#flow-line", Static)
        line = Text(no_wrap=True, overflow="ellipsis")
        verdict = self.results.get("verdict")
        if verdict is not None and verdict.status != "error":
            state = self.context.explanation.state
            line.append(f" {state.upper()} ", "bold reverse")
            line.append(" ")
        tally = f"   {done}/{len(self.step_ids)} steps run"
        for status in ("fail", "error", "warn"):
            if counts.get(status):
                tally += f" · {counts[status]} {status}"
        # Destination and port always show: the pod names give up their middle first.
        source, destination = str(self.flow.source), str(self.flow.destination)
        port = f":{self.flow.port}/{self.flow.protocol}"
        width = flow_line.size.width or self.app.size.width
        budget = width - line.cell_len - len(" → ") - len(port) - len(tally)
        source, destination = elide_names([source, destination], max(budget, 24))
        line.append(f"{source} → {destination}{port}", "bold")
        line.append(tally)
        if done == 0 and not self.running:
            line.append("   a runs all, enter the next step", "italic")
        shown = verdict is not None and verdict.status != "error"
        state = self.context.explanation.state if shown else ""
        flow_line.set_class(state == "denied", "-denied")
        flow_line.set_class(state == "allowed", "-allowed")
        flow_line.update(line)

    def explanation(self, step_id: str) -> RenderableType | None:
        if step_id != "verdict" or step_id not in self.results:
            return None
        from triage.render.trace import explanation_renderable

        try:
            return explanation_renderable(self.context.explanation)
        except LookupError as exc:
            return Text(error_line(exc), style="bold red")

    def kubectl(self, step_id: str) -> str:
        result = self.results.get(step_id)
        if result is not None and result.kubectl:
            return result.kubectl
        spec = runbook_for(self.context).step(step_id)
        try:
            return render_kubectl(spec.kubectl, self.context)
        except (LookupError, ValueError):
            return spec.kubectl

    def show_step(self, step_id: str) -> None:
        number = self.step_ids.index(step_id) + 1
        spec = runbook_for(self.context).step(step_id)
        self.query_one(StepDetail).show(
            number,
            spec,
            self.status(step_id),
            self.results.get(step_id),
            self.kubectl(step_id),
            self.explanation(step_id),
        )

    @on(StepList.StepHighlighted)
    def step_highlighted(self, event: StepList.StepHighlighted) -> None:
        self.show_step(event.step_id)

    def help_topic(self) -> tuple[str, str]:
        spec = runbook_for(self.context).step(self.query_one(StepList).current_id)
        return f"Step: {spec.title}", spec.help or spec.text

    # ------------------------------------------------------------------ actions

    def action_fix(self) -> None:
        """The fix the Verdict step offers (computed now if the step has not run)."""
        from triage.checklist.fix import least_privilege_fix
        from triage.policy import UnknownEndpoint
        from triage.ui.screens.fix import FixScreen

        verdict = self.results.get("verdict")
        fix = verdict.details.get("fix_yaml", "") if verdict is not None else ""
        if not fix:
            try:
                fix = least_privilege_fix(self.context.snapshot, self.context.explanation)
            except UnknownEndpoint as exc:
                self.notify(error_line(exc), title="no fix", severity="warning")
                return
        if not fix:
            self.notify(
                "no policy fix for this flow: it is allowed, or policy cannot fix it (see the "
                "Verdict and Ports steps)",
                title="no fix",
            )
            return
        self.app.push_screen(FixScreen(self.flow, fix))

    def action_move_step(self, delta: int) -> None:
        """`↑`/`↓` wherever the focus is: the step list moves and the detail follows."""
        self.query_one(StepList).index += delta

    def action_scroll_detail(self, pages: int) -> None:
        detail = self.query_one(StepDetail)
        if pages > 0:
            detail.scroll_page_down()
        else:
            detail.scroll_page_up()

    def reload_session(self) -> None:
        """The app reloaded the cluster: the same flow on the new data. Results computed
        from the old data are dropped; the open step runs again."""
        from triage.ui.widgets.source_bar import SourceBar

        session = self.session
        assert self.ctx is not None
        self.ctx = ChecklistContext(
            snapshot=session.snapshot,
            flow=self.flow,
            incident=session.incident,
            prober=session.prober,
            runbook=self.ctx.runbook,
            known_good=getattr(self.app, "known_good", None),
        )
        for worker in self.workers:
            if worker.group.startswith(STEP_GROUP):
                worker.cancel()
        self.queue = []
        self.running.clear()
        step_list = self.query_one(StepList)
        current = step_list.current_id
        for step_id in self.step_ids:
            self.results.pop(step_id, None)
            step_list.row(step_id).set_status("pending")
        self.query_one(SourceBar).refresh_source()
        self.start_step(current)

    def action_back(self) -> None:
        self.dismiss()

    def action_next_step(self) -> None:
        step_list = self.query_one(StepList)
        pending = [s for s in self.step_ids if self.status(s) == "pending" and s not in self.queue]
        if pending:
            step_list.select(pending[0])
            self.start_step(pending[0])
        else:
            step_list.index += 1

    def action_run_all(self) -> None:
        """Every step that has not run (all of them when all have), one after the other."""
        todo = [s for s in self.step_ids if self.status(s) in ("pending", "error")]
        if not todo and not self.running:
            todo = list(self.step_ids)
        self.queue = [s for s in todo if s not in self.running]
        self.run_all_started = True
        if self.queue and not self.running:
            self.start_step(self.queue.pop(0))

    def action_rerun(self) -> None:
        step_id = self.query_one(StepList).current_id
        self.results.pop(step_id, None)
        self.start_step(step_id)  # exclusive per step: a stale run of it is cancelled

    def action_copy_kubectl(self) -> None:
        from triage.ui.widgets.command_dialog import copy_or_show

        command = self.kubectl(self.query_one(StepList).current_id)
        copy_or_show(self.app, "kubectl command", command)

    def action_export(self) -> None:
        results = [self.results[s] for s in self.step_ids if s in self.results]
        if not results:
            self.notify("run some steps first (a runs all)", severity="warning")
            return
        self.export_report(results)

    def _report_origin(self) -> ReportOrigin:
        import getpass

        session = self.session
        try:
            operator = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry, no USER: leave it out
            operator = ""
        return ReportOrigin(
            mode=session.mode,
            context=session.context or "",
            server=session.server or "",
            captured_at=session.loaded_at,
            operator=operator,
        )

    @work(
        thread=True,
        exclusive=True,
        group="export",
        exit_on_error=False,
        description="Writing the incident report",
    )
    def export_report(self, results: list[StepResult]) -> None:
        try:
            text = export_report(self.context, results, self._report_origin())
            path = write_report(self.app.report_dir, report_name(self.flow), text)  # type: ignore[attr-defined]
        except OSError as exc:
            self.app.call_from_thread(
                self.notify, f"cannot write the report: {exc}", severity="error"
            )
            return
        self.app.call_from_thread(self.notify, str(path), title="report written")
