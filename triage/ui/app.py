"""The triage TUI: load a source in a worker, then flow picker → checklist, with the cluster
view, help and `:` commands one key away. `make_app` is shared by the CLI and the tests."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.timer import Timer
from textual.types import AnimationLevel
from textual.worker import Worker, WorkerState

from triage.errors import error_line
from triage.model import Flow
from triage.model.untrusted import clean, clean_lines
from triage.ui import command_registry as commands
from triage.ui.cluster_index import ClusterIndex
from triage.ui.command_registry import TriageCommands
from triage.ui.messages import LoadProgressed, SessionLoaded
from triage.ui.screens.loading import LoadingScreen
from triage.ui.session import Session, Source

if TYPE_CHECKING:
    from triage.model.datapath import Aggregation
    from triage.model.incident import KnownGood
    from triage.probes.live import EphemeralRequest


def default_report_dir() -> Path:
    """`$XDG_STATE_HOME/netpol-triage/reports` (or `~/.local/state/netpol-triage/reports`)."""
    from triage.rollback.store import default_state_dir

    return default_state_dir() / "reports"


# How often the live watch (`w`) re-lists the cluster.
WATCH_SECONDS = 10.0

# The checklist's runbook when neither the operator nor the recording names one.
DEFAULT_RUNBOOK = "blocked-flow"


class TriageApp(App[None]):
    CSS_PATH = "triage.tcss"
    TITLE = "netpol-triage"
    COMMANDS: ClassVar = App.COMMANDS | {TriageCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        # Quit, reload and watch stay out of the footer (80 columns); help and the palette
        # list them, and the header says when a watch runs.
        Binding("ctrl+q", "quit", "Quit", priority=True, show=False, id="app.quit"),
        Binding("colon", "command_prompt", "Cmd", key_display=":", id="app.command"),
        Binding("question_mark,f1", "help", "Help", key_display="?", id="app.help"),
        Binding("ctrl+r", "reload", "Reload", show=False, id="app.reload"),
        Binding("w", "toggle_watch", "Watch", show=False, id="app.watch"),
    ]

    def __init__(
        self,
        source: Source,
        *,
        report_dir: Path | None = None,
        theme: str = "textual-dark",
        animation_level: AnimationLevel | None = None,
        cursor_blink: bool = True,
        initial_flow: Flow | None = None,
        runbook: str | None = None,
        state_dir: Path | None = None,
        known_good: KnownGood | None = None,
        show_age: bool = True,
        flow_log: Aggregation | None = None,
    ) -> None:
        super().__init__()
        # A flow log given with --flows or :flows; None: the recording's datapath section.
        self.flow_log = flow_log
        # The snapshot store (rollback targets, last known-good); None: the default.
        self.state_dir = state_dir
        # `--known-good ID|PATH`, resolved before the UI opened; when None, the recording's
        # own set or the store's last known-good of the context (found at each load).
        self.requested_known_good = known_good
        self.known_good: KnownGood | None = known_good
        # `runbook` None: the recording's `metadata.runbook` once it is loaded, else the
        # default; a runbook the operator names (`--runbook`, `:runbook`) always wins.
        self.requested_runbook = runbook
        self.runbook = runbook or DEFAULT_RUNBOOK
        self.theme = theme
        if animation_level is not None:
            self.animation_level = animation_level
        self.source = source
        # Reports go to `--report-dir`, else the state directory: never the current
        # directory, which is often a git checkout where a report must not land unnoticed.
        self.report_dir = report_dir if report_dir is not None else default_report_dir()
        self.cursor_blink = cursor_blink
        self.initial_flow = initial_flow
        self.session: Session | None = None
        self.last_flow: Flow | None = None
        self._cluster_index: tuple[Session, ClusterIndex] | None = None
        self.startup_error: str | None = None  # the first load failed: quit exits with 2
        # Live: `w` re-lists every WATCH_SECONDS and re-runs the open step.
        self.watch_timer: Timer | None = None
        # The header's "read 12 s ago"; off for deterministic snapshots of live screens.
        self.show_age = show_age

    # ------------------------------------------------------------------ the output boundary
    # Every notification, the header and the clipboard carry outside data (names, notes,
    # commands): cleaned of control characters here, and toasts read no markup.

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        super().notify(
            clean_lines(message),
            title=clean(title),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    def copy_to_clipboard(self, text: str) -> None:
        super().copy_to_clipboard(clean_lines(text))

    def format_title(self, title: str, sub_title: str) -> Content:
        return super().format_title(clean(title), clean(sub_title))

    # ------------------------------------------------------------------ loading

    def on_mount(self) -> None:
        self.push_screen(LoadingScreen(self.source.description))
        self.load_source()

    @work(
        thread=True,
        exclusive=True,
        group="load",
        exit_on_error=False,
        description="Loading the cluster",
    )
    def load_source(self) -> None:
        def progress(text: str) -> None:
            self.post_message(LoadProgressed(text))

        session = self.source.load(progress, self.confirm_debug_container)
        self.post_message(SessionLoaded(session, self._find_known_good(session)))

    def _find_known_good(self, session: Session) -> KnownGood | None:
        """In a worker: the explicit set, else the recording's, else the store's last
        known-good snapshot of the session's context. A store that cannot be read is a
        warning, not a failed load."""
        from triage.rollback.knowngood import last_known_good

        if self.requested_known_good is not None:
            return self.requested_known_good
        try:
            return last_known_good(session.context, session.incident, self.state_dir)
        except Exception as exc:  # UsageError from the store: locked, corrupt, unreadable
            self.call_from_thread(
                self.notify, error_line(exc), title="no known-good set", severity="warning"
            )
            return None

    @work(thread=True, exclusive=True, group="known-good", exit_on_error=False)
    def refresh_known_good(self) -> None:
        """After the rollback screen saved or marked a snapshot: "what changed" and the
        regressed candidates follow the store's new last known-good set."""
        session = self.session
        if session is None:
            return
        found = self._find_known_good(session)
        self.call_from_thread(setattr, self, "known_good", found)

    def confirm_debug_container(self, request: EphemeralRequest) -> bool:
        """The live prober's consent hook, called from a probe step's thread worker: may it
        add an ephemeral debug container to `request.pod`? Pre-approved sessions
        (`--allow-debug-container`) say which context is being changed; otherwise the
        operator is asked in a modal and the worker waits for the answer. Replays, and any
        context but the session's, never get one."""
        from triage.ui.debug_consent import ask_from_thread, debug_container_modal

        session = self.session
        if session is None or session.read_only or session.debug_containers == "never":
            return False
        if not request.context or request.context != session.context:
            return False
        if session.debug_containers == "allowed":
            self.call_from_thread(
                self.notify,
                f"adding an ephemeral debug container ({request.image}) to pod "
                f"{request.pod_key} in context {request.context}: it stays until the pod is "
                "deleted (--allow-debug-container)",
                title=f"changing context {request.context}",
                severity="warning",
                timeout=10,
            )
            return True
        return ask_from_thread(self, debug_container_modal(request))

    def on_load_progressed(self, message: LoadProgressed) -> None:
        if isinstance(self.screen, LoadingScreen):
            self.screen.show_progress(message.text)

    def on_session_loaded(self, message: SessionLoaded) -> None:
        from triage.ui.screens.flow_picker import FlowPickerScreen

        previous = self.session
        self.session = message.session
        self.known_good = message.known_good
        if previous is not None:
            self._reloaded(previous, message.session)
            return
        incident = message.session.incident
        if self.requested_runbook is None and incident is not None and incident.meta.runbook:
            self.runbook = incident.meta.runbook
        if self.initial_flow is not None and not self._initial_flow_exists(message.session):
            return
        self.switch_screen(FlowPickerScreen())
        if self.initial_flow is not None:
            self.open_checklist(self.initial_flow)

    def _reloaded(self, previous: Session, session: Session) -> None:
        """A reload (ctrl+r, or the watch): the checklist stays and re-runs its open step on
        the new data; the flow picker looks for candidates again; a screen computed from the
        old snapshot (cluster, exposure, matrix) gives way to the flow picker. The
        notification says what changed."""
        from triage.ui.reload import reload_summary
        from triage.ui.screens.checklist import ChecklistScreen
        from triage.ui.screens.flow_picker import FlowPickerScreen
        from triage.ui.widgets.source_bar import SourceBar

        stack = self.screen_stack
        keep = 2  # the default screen and the flow picker
        if isinstance(self.screen, ChecklistScreen) and len(stack) == 3:
            keep = 3
        while len(self.screen_stack) > keep:
            self.pop_screen()
        for screen in self.screen_stack:
            if isinstance(screen, FlowPickerScreen):
                screen.find_candidates()
            if isinstance(screen, ChecklistScreen):
                screen.reload_session()
            for bar in screen.query(SourceBar):
                bar.refresh_source()
        watching = " (watch)" if self.watch_timer is not None else ""
        self.notify(
            reload_summary(previous.snapshot, session.snapshot),
            title=f"reloaded {session.label}{watching}",
            timeout=4 if watching else 6,
        )

    def _initial_flow_exists(self, session: Session) -> bool:
        """`--flow` on a live cluster can only be checked once it is loaded: an endpoint
        that is not there ends the app with its one line and exit 2, as the CLI does for a
        replay before the screen opens."""
        from triage.policy import UnknownEndpoint, explain

        assert self.initial_flow is not None
        try:
            explain(session.snapshot, self.initial_flow)
        except UnknownEndpoint as exc:
            self.startup_error = error_line(exc)
            self.exit(return_code=2, message=f"triage: error: {self.startup_error}")
            return False
        return True

    @on(Worker.StateChanged)
    def worker_failed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "load" or event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        text = error_line(error) if error is not None else "unknown error"
        if isinstance(self.screen, LoadingScreen):
            self.startup_error = text
            self.screen.show_error(text)
        else:
            self.notify(text, title="reload failed", severity="error")

    async def action_quit(self) -> None:
        # Bad input is exit code 2 with its one line on stderr, in the UI as on the CLI.
        if self.startup_error is not None:
            self.exit(return_code=2, message=f"triage: error: {self.startup_error}")
        else:
            self.exit()

    # ------------------------------------------------------------------ datapath

    @property
    def datapath(self) -> Aggregation | None:
        """The flow log the picker and the checklist show: --flows / :flows, else the
        recording's stored evidence."""
        if self.flow_log is not None:
            return self.flow_log
        incident = self.session.incident if self.session is not None else None
        return incident.datapath if incident is not None else None

    @work(thread=True, exclusive=True, group="flow-log", exit_on_error=False)
    def load_flow_log(self, path: str) -> None:
        """`:flows FILE`: read and aggregate in a worker, then refresh the candidates."""
        from triage.sources.flowlogs import read_aggregation

        aggregation = read_aggregation(Path(path))
        self.call_from_thread(self.use_flow_log, aggregation, path)

    def use_flow_log(self, aggregation: Aggregation, path: str) -> None:
        from triage.model.untrusted import clean
        from triage.ui.screens.flow_picker import FlowPickerScreen

        self.flow_log = aggregation
        dropped = sum(1 for f in aggregation.flows if f.dropped)
        skipped = len(aggregation.warnings) + aggregation.warnings_dropped
        self.notify(
            f"{len(aggregation.flows)} distinct flows, {dropped} with drops"
            + (f"; {skipped} unusable lines" if skipped else ""),
            title=f"flow log {clean(path)}",
        )
        self.open_flow_picker()
        picker = self.screen_stack[-1]
        if isinstance(picker, FlowPickerScreen):
            picker.find_candidates()

    @on(Worker.StateChanged)
    def flow_log_failed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "flow-log" and event.state == WorkerState.ERROR:
            error = event.worker.error
            text = error_line(error) if error is not None else "unknown error"
            self.notify(text, title="flow log", severity="error")

    # ------------------------------------------------------------------ navigation

    def open_cluster(
        self, *, view: str = "pods", namespace: str | None = None, filter_text: str = ""
    ) -> None:
        from triage.ui.screens.cluster import ClusterScreen

        if self.session is None:
            return
        if isinstance(self.screen, ClusterScreen):
            self.screen.configure(view=view, namespace=namespace, filter_text=filter_text)
            return
        self.push_screen(ClusterScreen(view=view, namespace=namespace, filter_text=filter_text))

    def open_flow_picker(self, arg: str = "") -> None:
        from triage.ui.screens.flow_picker import FlowPickerScreen

        if self.session is None:
            return
        # The flow picker is the root screen (above the default screen): pop back to it.
        while len(self.screen_stack) > 2:
            self.pop_screen()
        picker = self.screen_stack[-1]
        if arg and isinstance(picker, FlowPickerScreen):
            picker.start_from_text(arg)

    def open_checklist(self, flow: Flow) -> None:
        from triage.ui.screens.checklist import ChecklistScreen

        self.last_flow = flow
        self.push_screen(ChecklistScreen(flow, self.runbook))

    def open_exposure(self, pod: str | None) -> None:
        """`:exposure NS/POD` (default: the last flow's source pod)."""
        from triage.model import PodRef
        from triage.ui.screens.exposure import ExposureScreen

        if self.session is None:
            return
        if pod is None and self.last_flow is not None and isinstance(self.last_flow.source, PodRef):
            pod = str(self.last_flow.source)
        if pod is None:
            self.notify("usage: :exposure NS/POD", severity="warning")
            return
        from triage.policy import UnknownEndpoint
        from triage.policy.exposure import find_pod

        try:
            # NS/WORKLOAD is its first pod; a typo gets "did you mean" as on the CLI.
            found, _ = find_pod(self.session.snapshot, pod)
        except UnknownEndpoint as exc:
            self.notify(f"{error_line(exc)}; usage: :exposure NS/POD", severity="warning")
            return
        self.push_screen(ExposureScreen(self.session.snapshot, found.key))

    def open_matrix(self, namespaces: list[str]) -> None:
        from triage.ui.screens.matrix import MatrixScreen

        if self.session is None:
            return
        unknown = [ns for ns in namespaces if ns not in self.session.snapshot.namespace_by_name]
        if unknown:
            self.notify(f"no namespace {', '.join(unknown)}", severity="warning")
            return
        self.push_screen(MatrixScreen(self.session.snapshot, namespaces))

    def use_runbook(self, name: str) -> None:
        """`:runbook NAME`: later checklists, and the current one, follow that runbook."""
        from triage.checklist import bundled_runbooks, load_runbook
        from triage.ui.screens.checklist import ChecklistScreen

        try:
            load_runbook(name)
        except Exception as exc:  # SourceError: a bad name or file, said in one line
            known = ", ".join(bundled_runbooks())
            self.notify(f"{error_line(exc)} (bundled: {known})", severity="warning")
            return
        self.runbook = self.requested_runbook = name
        if isinstance(self.screen, ChecklistScreen):
            flow = self.screen.flow
            self.pop_screen()
            self.open_checklist(flow)
        else:
            self.notify(f"checklists now follow the runbook {name}")

    def open_last_checklist(self) -> None:
        if self.last_flow is None:
            self.notify("no checklist yet: pick a flow first (:flow)", severity="warning")
            return
        self.open_flow_picker()
        self.open_checklist(self.last_flow)

    def set_flow_endpoint(self, role: str, text: str) -> None:
        """The cluster screen's "as source" / "as destination": back to the flow picker."""
        from triage.ui.screens.flow_picker import FlowPickerScreen

        self.open_flow_picker()
        picker = self.screen_stack[-1]
        if isinstance(picker, FlowPickerScreen):
            picker.set_endpoint(role, text)

    @property
    def cluster_index(self) -> ClusterIndex:
        """Rows of the cluster screen, built once per loaded session."""
        assert self.session is not None
        if self._cluster_index is None or self._cluster_index[0] is not self.session:
            self._cluster_index = (
                self.session,
                ClusterIndex(self.session.snapshot, self.session.incident),
            )
        return self._cluster_index[1]

    # ------------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("reload", "toggle_watch"):
            # A replay never touches a cluster; reloading one is meaningless too.
            return self.session is not None and not self.session.read_only
        return True

    def action_reload(self) -> None:
        if self.session is not None and not self.session.read_only:
            self.notify(f"{self.source.description}…", title="reload")
            self.load_source()

    def action_toggle_watch(self) -> None:
        """Live only: re-list namespaces, pods, Services and policies every WATCH_SECONDS
        and re-run the open step; `w` again stops."""
        from triage.ui.widgets.source_bar import SourceBar

        if self.session is None or self.session.read_only:
            return
        if self.watch_timer is not None:
            self.watch_timer.stop()
            self.watch_timer = None
            self.notify("watch stopped", title="watch")
        else:
            self.watch_timer = self.set_interval(WATCH_SECONDS, self._watch_tick)
            self.notify(
                f"re-listing every {WATCH_SECONDS:g} s and re-running the open step; w stops",
                title="watch",
            )
        for bar in self.screen.query(SourceBar):
            bar.refresh_source()

    def _watch_tick(self) -> None:
        if self.session is not None and not self.session.read_only:
            self.load_source()

    def action_command_prompt(self) -> None:
        from triage.ui.screens.command_prompt import CommandPrompt

        if self.session is None:
            return
        hint = "  ".join(c.usage or f":{c.name}" for c in commands.available(self))
        self.push_screen(CommandPrompt(commands.completions(self), hint), self.run_command)

    def run_command(self, line: str | None) -> None:
        if not line:
            return
        name, _, arg = line.lstrip(":").strip().partition(" ")
        command = commands.find(self, name)
        if command is None:
            known = ", ".join(f":{c.name}" for c in commands.available(self))
            self.notify(f"unknown command :{name} (known: {known})", severity="warning")
            return
        command.run(self, arg.strip())

    def action_help(self) -> None:
        from triage.ui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        topic, topic_help = getattr(self.screen, "help_topic", lambda: ("", ""))()
        self.push_screen(HelpScreen(self.screen, topic, topic_help))

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """The palette lists the screen's key bindings too (it does not consult
        `check_action`, so hidden actions are skipped here by hand)."""
        yield from super().get_system_commands(screen)
        seen: set[str] = set()
        for active in screen.active_bindings.values():
            binding = active.binding
            # App-level keys kept out of the 80-column footer still belong in the palette.
            listed = binding.show or (binding.id or "").startswith("app.")
            if not listed or not active.enabled or binding.action in seen:
                continue
            if binding.action in ("quit", "command_palette", "command_prompt"):
                continue
            seen.add(binding.action)
            key = binding.key_display or self.get_key_display(binding)
            yield SystemCommand(
                f"{binding.description} ({key})",
                binding.tooltip or f"press {key}",
                partial(self.run_action, binding.action, active.node),
            )


def make_app(
    source: Source,
    *,
    report_dir: Path | None = None,
    theme: str = "textual-dark",
    animation_level: AnimationLevel | None = None,
    cursor_blink: bool = True,
    initial_flow: Flow | None = None,
    runbook: str | None = None,
    state_dir: Path | None = None,
    known_good: KnownGood | None = None,
    show_age: bool = True,
    flow_log: Aggregation | None = None,
) -> TriageApp:
    """The app for a source; the CLI and the tests both build it here. `runbook` None:
    a recording's `metadata.runbook`, else `blocked-flow`. `flow_log` None: the
    recording's datapath evidence, if any."""
    return TriageApp(
        source,
        report_dir=report_dir,
        theme=theme,
        animation_level=animation_level,
        cursor_blink=cursor_blink,
        initial_flow=initial_flow,
        runbook=runbook,
        state_dir=state_dir,
        known_good=known_good,
        show_age=show_age,
        flow_log=flow_log,
    )
