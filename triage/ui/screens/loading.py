"""Shown while the source loads in a thread worker; keeps the last progress line and, on
failure, the error with what to do next."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, LoadingIndicator, Static

from triage.ui.widgets.source_bar import SourceBar


class LoadingScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "retry", "Retry", id="loading.retry"),
    ]

    def __init__(self, description: str) -> None:
        super().__init__()
        self.description = description
        self.failed = False

    def compose(self) -> ComposeResult:
        yield SourceBar(id="source-bar")
        with Vertical(id="loading-box"):
            yield Static(Text(self.description + "…"), id="loading-title")
            yield LoadingIndicator(id="loading-indicator")
            yield Static("", id="loading-progress")
        yield Footer(compact=True, show_command_palette=False)

    def show_progress(self, text: str) -> None:
        self.query_one("#loading-progress", Static).update(Text(text))

    def show_error(self, error: str) -> None:
        self.failed = True
        self.query_one("#loading-indicator").display = False
        self.query_one("#loading-title", Static).update(Text(f"{self.description}: failed"))
        progress = self.query_one("#loading-progress", Static)
        progress.add_class("-error")
        text = Text(error)
        live = getattr(getattr(self.app, "source", None), "mode", "") == "live"
        if live:
            text.append(
                "\n\nPress r to retry, or ctrl+q to quit. No cluster at hand? "
                "`triage demo` replays a recorded incident.",
                style="not bold",
            )
        else:
            text.append("\n\nPress ctrl+q to quit.", style="not bold")
        progress.update(text)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "retry":
            # Retrying is for a live connection that failed; a bad file stays bad.
            return self.failed and getattr(getattr(self.app, "source", None), "mode", "") == "live"
        return True

    def action_retry(self) -> None:
        if not self.check_action("retry", ()):
            return
        self.failed = False
        self.app.startup_error = None  # type: ignore[attr-defined]
        self.query_one("#loading-indicator").display = True
        self.query_one("#loading-title", Static).update(Text(self.description + "…"))
        progress = self.query_one("#loading-progress", Static)
        progress.remove_class("-error")
        progress.update("")
        self.refresh_bindings()
        self.app.load_source()  # type: ignore[attr-defined]
