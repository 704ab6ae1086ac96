"""`?`: the keys of the screen below, its `:` commands and the help of what is selected."""

from __future__ import annotations

import re
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from triage.ui import command_registry as commands


def keys_table(screen: Screen[object]) -> Table:
    """Every active binding of `screen` with a description: the footer's first."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    seen: set[tuple[str, str]] = set()
    # The footer's keys first, then the rest (scrolling, focus) for completeness.
    ordered = sorted(screen.active_bindings.values(), key=lambda a: not a.binding.show)
    for active in ordered:
        binding = active.binding
        if not binding.description or (binding.action, binding.description) in seen:
            continue
        seen.add((binding.action, binding.description))
        display = binding.key_display or screen.app.get_key_display(binding)
        table.add_row(Text(display), Text(binding.tooltip or binding.description))
    return table


def screen_name(screen: Screen[object]) -> str:
    """What the screen is called in the UI: its `SCREEN_NAME`, else its class name in
    words ("FlowPickerScreen" → "Flow picker")."""
    name = getattr(screen, "SCREEN_NAME", "")
    if name:
        return str(name)
    words = re.findall(r"[A-Z][a-z0-9]*", type(screen).__name__.removesuffix("Screen"))
    return " ".join(words).capitalize() if words else type(screen).__name__


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "dismiss", "Close", id="help.close"),
    ]

    def __init__(self, screen: Screen[object], topic: str = "", topic_help: str = "") -> None:
        super().__init__()
        self.target = screen
        self.topic = topic
        self.topic_help = topic_help

    def compose(self) -> ComposeResult:
        app = self.target.app
        with VerticalScroll(id="help-box") as box:
            box.border_title = f"Help · {screen_name(self.target)}"
            box.border_subtitle = "esc closes"
            screen_help = getattr(self.target, "HELP", "")
            if screen_help:
                yield Static(Text(screen_help.strip()), classes="help-text")
            if self.topic_help:
                yield Static(Text(self.topic, style="bold"), classes="help-heading")
                yield Static(Text(self.topic_help.strip()), classes="help-text")
            yield Static(Text("Keys", style="bold"), classes="help-heading")
            yield Static(keys_table(self.target), classes="help-keys")
            yield Static(
                Text("Commands (type : then the command)", style="bold"), classes="help-heading"
            )
            table = Table.grid(padding=(0, 2))
            table.add_column(style="bold", no_wrap=True)
            table.add_column()
            for command in commands.available(app):  # type: ignore[arg-type]
                table.add_row(Text(command.usage or f":{command.name}"), Text(command.help))
            yield Static(table, classes="help-keys")
