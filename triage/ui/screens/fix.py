"""`f` on the checklist: the fix for this flow, one keystroke from acting on it.

`w` writes it to a file (the report directory); on a live cluster `d` dry-runs it
server-side and `A` applies it after the same typed-context confirmation as a rollback,
through the rollback's applier: live set re-read, backup, dry-run, apply, journal
(`triage rollback journal` / `revert` undo it). A replay only writes the file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.syntax import Syntax
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from triage.errors import error_line
from triage.model import Flow
from triage.model.untrusted import clean_lines
from triage.ui.session import Session
from triage.ui.widgets.confirm import ConfirmContextModal
from triage.ui.widgets.source_bar import SourceBar

if TYPE_CHECKING:
    from triage.rollback.api import PolicyApi
    from triage.rollback.plan import Plan

ApiFactory = Callable[[], "PolicyApi"]
GROUP = "fix"


def fix_file_name(flow: Flow) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", f"{flow.source}-{flow.destination}-{flow.port}".lower())
    return f"fix-{slug.strip('-')[:100]}.yaml"


class FixScreen(Screen[None]):
    SCREEN_NAME = "Fix"
    HELP = """\
The least-privilege policy that admits exactly this flow, as the Verdict step computed it.
Review it first. `w` writes it to a file in the report directory. On a live cluster, `d`
dry-runs it server-side (nothing changes) and `A` applies it after you type the context
name: the live policies of its namespace are re-read (a change since refuses), backed up,
dry-run, then the one policy is created (or replaced) and the run is journalled, so
`triage rollback revert JOURNAL` takes it back. A replay never offers `d` or `A`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="fix.back"),
        Binding("w", "save", "Save", tooltip="Save: write the fix to a file", id="fix.save"),
        Binding("d", "dry_run", "Dry-run", id="fix.dry_run"),
        Binding("A", "apply", "Apply…", key_display="A", id="fix.apply"),
    ]

    class Logged(Message):
        def __init__(self, text: str, style: str = "") -> None:
            super().__init__()
            self.text = text
            self.style = style

    class Planned(Message):
        def __init__(self, plan: Plan) -> None:
            super().__init__()
            self.plan = plan

    def __init__(self, flow: Flow, fix_yaml: str, *, api_factory: ApiFactory | None = None):
        super().__init__()
        self.flow = flow
        self.fix_yaml = fix_yaml
        self.api_factory = api_factory
        self.busy = ""
        self.log_lines: list[Text] = []

    @property
    def session(self) -> Session:
        session = self.app.session  # type: ignore[attr-defined]
        assert session is not None
        return session  # type: ignore[no-any-return]

    @property
    def context(self) -> str:
        return self.session.context or ""

    def compose(self) -> ComposeResult:
        yield SourceBar(id="source-bar")
        where = (
            "replay: w writes it to a file"
            if self.session.read_only
            else f"live context {self.context}: w saves · d dry-runs · A applies (typed context)"
        )
        yield Static(
            Text.assemble(("Fix for ", "bold"), str(self.flow), f"\n{where}"), id="fix-banner"
        )
        with VerticalScroll(id="fix-body"):
            yield Static(
                Syntax(
                    clean_lines(self.fix_yaml),
                    "yaml",
                    theme="ansi_dark",
                    background_color="default",
                ),
                id="fix-yaml",
            )
        yield Static(id="fix-log")
        yield Footer(compact=True, show_command_palette=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("dry_run", "apply"):
            if self.session.read_only:
                return False  # a replay never offers what would touch a cluster
            return not self.busy
        return True

    # ------------------------------------------------------------------ log

    def add_log(self, text: str, style: str = "") -> None:
        self.log_lines.append(Text(text, style=style))
        self.query_one("#fix-log", Static).update(Text("\n").join(self.log_lines[-6:]))

    def on_fix_screen_logged(self, message: Logged) -> None:
        self.add_log(message.text, message.style)

    def _log(self, text: str, style: str = "") -> None:
        """Thread-safe: a message the screen turns into a log line."""
        self.post_message(self.Logged(text, style))

    # ------------------------------------------------------------------ save

    def action_save(self) -> None:
        directory = Path(getattr(self.app, "report_dir", Path.cwd()))
        path = directory / fix_file_name(self.flow)

        def job() -> None:
            from triage.files import write_private

            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_private(path, self.fix_yaml)  # 0600, atomic, never through a symlink
            self._log(f"written: {path}", "green")

        self.run_worker(job, thread=True, group="fix-save", exit_on_error=False)

    # ------------------------------------------------------------------ cluster

    def _make_api(self) -> Any:
        if self.api_factory is not None:
            return self.api_factory()
        from triage.rollback.api import KubePolicyApi

        target = getattr(getattr(self.app, "source", None), "target", None)
        kubeconfig = getattr(target, "kubeconfig", None)
        timeout = float(getattr(target, "timeout", 20.0))
        return KubePolicyApi.connect(self.context, kubeconfig, timeout)

    def _plan(self) -> Plan:
        """Thread: the live set re-read (by the session's context, by name), then the plan."""
        import dataclasses

        from triage.rollback.fixplan import fix_plan
        from triage.sources.live import LiveTarget, load_live

        target = getattr(getattr(self.app, "source", None), "target", None)
        if not isinstance(target, LiveTarget):
            target = LiveTarget(context=self.context)
        target = dataclasses.replace(target, context=self.context)
        loaded = load_live(target)
        scope = tuple(sorted(set(target.namespaces))) or None
        return fix_plan(
            loaded.snapshot,
            self.fix_yaml,
            context=loaded.context,
            live_scope=scope,
            server=loaded.server,
        )

    def _store(self) -> Any:
        from triage.rollback.store import Store

        return Store.open(getattr(self.app, "state_dir", None))

    def _start(self, what: str, job: Callable[[], None]) -> None:
        self.busy = what
        self.refresh_bindings()
        self.run_worker(job, thread=True, group=GROUP, exclusive=True, exit_on_error=False)

    @on(Worker.StateChanged)
    def job_done(self, event: Worker.StateChanged) -> None:
        if event.worker.group != GROUP:
            return
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            self.add_log(f"{self.busy} failed: {error_line(error) if error else '?'}", "bold red")
        if event.state in (WorkerState.ERROR, WorkerState.SUCCESS, WorkerState.CANCELLED):
            self.busy = ""
            self.refresh_bindings()

    def action_dry_run(self) -> None:
        if not self.check_action("dry_run", ()):
            return
        self.add_log(f"dry-run on {self.context}…", "bold")

        def job() -> None:
            from triage.rollback.apply import Applier

            plan = self._plan()
            api = self._make_api()
            try:
                with self._store() as store:
                    results = Applier(api, store).dry_run(plan)
            finally:
                close = getattr(api, "close", None)
                if callable(close):
                    close()
            failed = [r for r in results if not r.ok]
            if failed:
                self._log(f"dry-run: refused by the server: {failed[0].error}", "bold red")
            else:
                self._log(
                    f"dry-run: the server accepts it ({plan.summary()}); nothing was changed",
                    "green",
                )

        self._start("dry-run", job)

    def action_apply(self) -> None:
        if not self.check_action("apply", ()):
            return
        self.add_log(f"planning against the live set of {self.context}…", "dim")

        def job() -> None:
            self.post_message(self.Planned(self._plan()))

        self._start("plan", job)

    def on_fix_screen_planned(self, message: Planned) -> None:
        plan = message.plan
        self.busy = ""
        self.refresh_bindings()
        if plan.empty:
            self.add_log("the live set already has this policy: nothing to apply", "green")
            return
        lines = [
            plan.summary(),
            f"target: {plan.target.description} (namespace {', '.join(plan.scope or ())})",
            *(f"warning: {w}" for w in plan.warnings),
            "",
            *(f"{i}. {op.action} {op.key}" for i, op in enumerate(plan.operations, start=1)),
            "",
            "The live set is re-read (any change since refuses), saved as a backup, dry-run",
            "server-side, then applied and journalled (triage rollback revert undoes it).",
        ]
        modal = ConfirmContextModal(
            f"Apply the fix to context {self.context}?", lines, self.context, verb="Apply"
        )
        self.app.push_screen(modal, lambda typed: self._confirmed(plan, typed))

    def _confirmed(self, plan: Plan, typed: str | None) -> None:
        if not typed:
            self.add_log("cancelled: nothing applied", "dim")
            return

        def job() -> None:
            from triage.rollback.apply import Applier, Run

            api = self._make_api()
            try:
                with self._store() as store:
                    result = Applier(api, store).run(Run.apply(plan), confirmed_context=typed)
            finally:
                close = getattr(api, "close", None)
                if callable(close):
                    close()
            for line in result.report():
                self._log(line, "green" if result.ok else "bold red")

        self.add_log(f"applying to {typed}…", "bold")
        self._start("apply", job)

    def action_back(self) -> None:
        self.dismiss()
