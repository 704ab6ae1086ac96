"""The top bar: what is loaded and whether it can touch a cluster. Never a clock."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from triage.model.untrusted import clean
from triage.ui.session import Session


def source_text(session: Session | None, app_title: str) -> Text:
    """`netpol-triage  REPLAY · read-only  cluster x · captured T  title…`: the facts that
    tell whether this screen can be trusted come first; a long title is cut, not wrapped."""
    text = Text.assemble((f" {app_title} ", "bold"), no_wrap=True, overflow="ellipsis")
    if session is None:
        return text
    text.append(" REPLAY · read-only " if session.read_only else " LIVE ", "bold reverse")
    # Cluster, context, server and title are outside data (a recording, a kubeconfig).
    if session.details:
        text.append(f"  {clean(session.details)}")
    text.append(f"  {clean(session.label)}", "bold")
    if session.debug_containers == "allowed" and not session.read_only:
        # --allow-debug-container: probes may change pods of this context without asking.
        text.append(f"  debug containers allowed in context {clean(session.context)}", "bold")
    return text


class SourceBar(Static):
    """Docked at the top of every screen; the CSS colours the badge by mode."""

    def on_mount(self) -> None:
        self.refresh_source()

    def refresh_source(self) -> None:
        session = getattr(self.app, "session", None)
        self.set_class(session is not None and session.read_only, "-replay")
        self.set_class(session is not None and not session.read_only, "-live")
        self.update(source_text(session, self.app.title))
