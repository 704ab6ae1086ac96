"""Inputs that follow the app's settings (cursor blink off in tests) and complete on tab."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import Input


class TriageInput(Input):
    """An Input whose ghost-text suggestion is accepted by `tab` as well as `→`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "accept_or_next", "Complete", show=False),
    ]

    def on_mount(self) -> None:
        self.cursor_blink = getattr(self.app, "cursor_blink", True)

    def action_accept_or_next(self) -> None:
        # The screen's fuzzy completion under the cursor first (the flow picker's list),
        # then the inline suggestion; with nothing to take, tab moves on.
        accept = getattr(self.screen, "accept_completion", None)
        if callable(accept) and self.id and accept(self.id):
            return
        suggestion = self._suggestion
        if suggestion and suggestion != self.value:
            self.value = suggestion
            self.cursor_position = len(self.value)
        else:
            self.screen.focus_next()
