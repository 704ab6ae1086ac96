"""Shown while the source loads in a thread worker; keeps the last progress line and, on
failure, the error with what to do next."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, LoadingIndicator, Static

from triage.ui.widgets.source_bar import SourceBar


class LoadingScreen(Screen[None]):
    def __init__(self, description: str) -> None:
        super().__init__()
        self.description = description

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
        self.query_one("#loading-indicator").display = False
        self.query_one("#loading-title", Static).update(Text(f"{self.description}: failed"))
        progress = self.query_one("#loading-progress", Static)
        progress.add_class("-error")
        progress.update(Text(f"{error}\n\nPress ctrl+q to quit."))
