"""`:` — k9s command mode: a one-line prompt at the bottom with completion."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Static

from triage.ui.widgets.inputs import TriageInput


class CommandPrompt(ModalScreen[str | None]):
    """Dismisses with the typed command line, or None on `esc`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Cancel", id="prompt.cancel"),
    ]

    def __init__(self, words: list[str], hint: str) -> None:
        super().__init__()
        self.words = words
        self.hint = hint

    def compose(self) -> ComposeResult:
        yield Static(Text(self.hint), id="prompt-hint")
        yield TriageInput(
            placeholder="command (tab/→ completes)",
            suggester=SuggestFromList(self.words, case_sensitive=False),
            id="prompt-input",
        )

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)
