"""What the screens that write to a cluster (rollback, rollout) share: where to read the
live set from, a RollbackSession for the session's context, the banner and progress log
(`ClusterWriteScreen`), and writing a plan to a file from a thread worker."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from triage.ui.safe_text import data_block

if TYPE_CHECKING:
    from textual.app import App

    from triage.rollback.api import PolicyApi
    from triage.rollback.session import RollbackSession
    from triage.sources.live import LiveTarget
    from triage.ui.session import Session


def session_live_target(
    app: App[Any],
    session: Session,
    configured: LiveTarget | None,
    *,
    all_namespaces: bool = False,
) -> LiveTarget:
    """Always the session's context by name, never "the current context" (the kubeconfig
    may have switched since the session was loaded, and a plan must be of the cluster the
    confirmation names). `all_namespaces` drops the session's namespace scope."""
    from triage.sources.live import LiveTarget

    target = configured
    if target is None:
        source_target = getattr(getattr(app, "source", None), "target", None)
        if isinstance(source_target, LiveTarget):
            target = source_target
    if target is None:
        return LiveTarget(context=session.context)
    if session.context and target.context != session.context:
        target = dataclasses.replace(target, context=session.context)
    if all_namespaces and target.namespaces:
        target = dataclasses.replace(target, namespaces=())
    return target


def export_in_thread(screen: Screen[Any], name: str, text: str, title: str, group: str) -> None:
    """Write `text` to the app's report directory as `name` (private and atomic), from a
    thread worker, and notify the path."""
    app = screen.app
    directory = Path(getattr(app, "report_dir", Path.cwd()))

    def job() -> None:
        from triage.files import write_private

        directory.mkdir(parents=True, exist_ok=True)
        path = directory / name
        write_private(path, text)  # 0600, atomic, never through a planted symbolic link
        app.call_from_thread(app.notify, str(path), title=title)

    screen.run_worker(job, thread=True, group=group, exit_on_error=False)


class ClusterWriteScreen(Screen[None]):
    """A screen that may write to the session's cluster (rollback, rollout): the session,
    whether it is a replay (then nothing touching a cluster is offered), the context, the
    live target and its RollbackSession (an API factory in tests), the store, the SIMULATION / LIVE
    banner and the progress log. Subclasses set the widget ids."""

    BANNER_ID = ""
    LOG_ID = ""
    LOG_TEXT_ID = ""
    ALL_NAMESPACES = False  # read every namespace, whatever the session's scope
    RUN_GROUP = ""  # the worker group of cluster-touching jobs: one at a time

    def __init__(
        self,
        session: Session | None = None,
        *,
        state_dir: Path | None = None,
        live_target: LiveTarget | None = None,
        api_factory: Callable[[], PolicyApi] | None = None,
    ) -> None:
        super().__init__()
        self._session = session
        self.state_dir = state_dir
        self._live_target = live_target
        self.api_factory = api_factory
        self.busy = ""  # the cluster-touching job in progress, if any
        self.log_lines: list[Text] = []

    @property
    def session(self) -> Session:
        session = self._session or getattr(self.app, "session", None)
        assert session is not None, f"{type(self).__name__} needs a loaded session"
        return session

    @property
    def simulation(self) -> bool:
        return self.session.read_only

    @property
    def context(self) -> str:
        return self.session.context or ""

    def live_target(self) -> LiveTarget:
        return session_live_target(
            self.app, self.session, self._live_target, all_namespaces=self.ALL_NAMESPACES
        )

    def rollback_session(self) -> RollbackSession:
        """The cluster-touching half (planning from the live set, dry-run, apply, resume,
        revert), Textual-free and shared with `triage rollback` and `triage rollout`."""
        from triage.rollback.session import RollbackSession

        return RollbackSession(self.live_target(), self.state_dir, self.api_factory)

    def open_store(self) -> Any:
        from triage.rollback.store import Store

        return Store.open(self.state_dir or getattr(self.app, "state_dir", None))

    def show_banner(self, simulation_text: str, live_text: str) -> None:
        banner = self.query_one(f"#{self.BANNER_ID}", Static)
        banner.set_class(self.simulation, "-simulation")
        banner.set_class(not self.simulation, "-live")
        label, text = (
            (" SIMULATION ", simulation_text) if self.simulation else (" LIVE ", live_text)
        )
        banner.update(
            Text.assemble((label, "bold reverse"), text, no_wrap=True, overflow="ellipsis")
        )

    def add_log(self, text: str, style: str = "") -> None:
        self.log_lines.append(data_block(text, style))  # names, contexts, API messages
        self.query_one(f"#{self.LOG_TEXT_ID}", Static).update(Text("\n").join(self.log_lines))
        self.query_one(f"#{self.LOG_ID}", VerticalScroll).scroll_end(animate=False)

    def _start_job(self, what: str, job: Callable[[], None]) -> None:
        """Run a cluster-touching job in a thread worker; `busy` says which until its
        result message clears it."""
        self.busy = what
        self.refresh_bindings()
        self.run_worker(
            job,
            name=what,
            thread=True,
            group=self.RUN_GROUP,
            exclusive=True,
            exit_on_error=False,
            description=what,
        )
