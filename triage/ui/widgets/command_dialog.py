"""`c` when the terminal cannot take the clipboard: the command in a dialog, selectable.

Textual copies with the OSC 52 escape, which many terminals (the Linux console, tmux and
screen without clipboard pass-through, serial consoles) silently drop. There the command is
shown in a read-only text area instead, where the mouse or the terminal's own selection
can take it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static, TextArea

from triage.model.untrusted import clean_lines


def clipboard_available(env: Mapping[str, str] | None = None) -> bool:
    """Can OSC 52 be expected to reach the system clipboard? `TRIAGE_CLIPBOARD=off|on`
    overrides the guess."""
    env = os.environ if env is None else env
    forced = env.get("TRIAGE_CLIPBOARD", "").lower()
    if forced in ("off", "on"):
        return forced == "on"
    term = env.get("TERM", "")
    if not term or term in ("dumb", "linux") or term.startswith("screen"):
        return False
    return not env.get("TMUX")


class CommandDialog(ModalScreen[None]):
    DEFAULT_CSS = """
    CommandDialog { align: center middle; }
    CommandDialog > #command-box {
        width: 90%;
        max-width: 110;
        height: auto;
        border: thick $accent;
        background: $surface;
        padding: 0 1;
    }
    CommandDialog TextArea { height: auto; max-height: 12; }
    CommandDialog #command-hint { color: $text-muted; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "dismiss", "Close", id="command.close"),
    ]

    def __init__(self, title: str, command: str) -> None:
        super().__init__()
        self.title_text = title
        self.command = clean_lines(command)

    def compose(self) -> ComposeResult:
        with Vertical(id="command-box") as box:
            box.border_title = self.title_text
            yield TextArea(self.command, read_only=True, id="command-text", soft_wrap=True)
            yield Static(
                "the clipboard is not reachable from this terminal: select the text "
                "(shift+drag in most terminals); esc closes",
                id="command-hint",
            )

    def on_mount(self) -> None:
        area = self.query_one(TextArea)
        area.focus()
        area.select_all()


def copy_or_show(app: App[object], title: str, text: str) -> None:
    """Copy `text` (OSC 52) and say so, or show it in a CommandDialog when the terminal
    cannot take it."""
    if clipboard_available():
        app.copy_to_clipboard(text)
        app.notify(clean_lines(text), title=f"copied {title}", markup=False)
    else:
        app.push_screen(CommandDialog(title, text))
