"""The top bar: what is loaded and whether it can touch a cluster. Never a clock."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.text import Text
from textual.widgets import Static

from triage.model.untrusted import clean
from triage.ui.session import Session


def age_text(loaded_at: str, now: datetime | None = None) -> str:
    """`12 s ago`, `4 min ago`, `2 h ago` since an RFC 3339 UTC time; "" if unreadable."""
    try:
        then = datetime.strptime(loaded_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return ""
    seconds = max(0, int(((now or datetime.now(UTC)) - then).total_seconds()))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def source_text(
    session: Session | None, app_title: str, width: int = 0, age: str = "", watching: bool = False
) -> Text:
    """`netpol-triage  REPLAY · read-only  cluster x · captured T  title…`: the facts that
    tell whether this screen can be trusted come first; a long title is cut, not wrapped.
    In a narrow terminal (`width`) the app's name gives way to them."""
    full = _source_text(session, app_title, age, watching)
    if width and full.cell_len > width and session is not None:
        return _source_text(session, "", age, watching)
    return full


def _source_text(session: Session | None, app_title: str, age: str, watching: bool) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    if app_title:
        text.append(f" {app_title} ", "bold")
    if session is None:
        return text
    text.append(" REPLAY · read-only " if session.read_only else " LIVE ", "bold reverse")
    # Cluster, context, server and title are outside data (a recording, a kubeconfig).
    if session.details:
        text.append(f"  {clean(session.details)}")
    text.append(f"  {clean(session.label)}", "bold")
    if not session.read_only and session.loaded_at and age:
        text.append(f"  read {age}")
    if watching:
        text.append("  WATCH", "bold")
    if session.debug_containers == "allowed" and not session.read_only:
        # --allow-debug-container: probes may change pods of this context without asking.
        text.append(f"  debug containers allowed in context {clean(session.context)}", "bold")
    return text


class SourceBar(Static):
    """Docked at the top of every screen; the CSS colours the badge by mode."""

    def on_mount(self) -> None:
        self.refresh_source()
        if getattr(self.app, "show_age", False):
            # The age of live data moves; a replay's capture time does not.
            self.set_interval(5, self.refresh_source)

    def on_resize(self) -> None:
        self.refresh_source()

    def refresh_source(self) -> None:
        session = getattr(self.app, "session", None)
        self.set_class(session is not None and session.read_only, "-replay")
        self.set_class(session is not None and not session.read_only, "-live")
        width = self.size.width or self.app.size.width
        age = ""
        if session is not None and not session.read_only and getattr(self.app, "show_age", False):
            age = age_text(session.loaded_at)
        watching = getattr(self.app, "watch_timer", None) is not None
        self.update(source_text(session, self.app.title, width, age, watching))
