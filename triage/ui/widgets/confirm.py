"""The confirmations before anything touches a cluster.

`ConfirmContextModal`, the typed one (a rollback), like k9s's ShowConfirmAck
(docs/architecture.md, "The TUI"): focus starts on Cancel, so a stray `enter` cancels; the
Apply button does nothing until the input holds exactly the expected context name; `esc`
cancels. The modal dismisses with the name that was typed (the applier checks it once more
against the client's context) or None.

`ConfirmModal`, the yes/no one (a debug container for a probe): it names the context on a
line of its own; focus starts on No, so a stray `enter` declines; `y` (or tab to Yes, then
`enter`) agrees; `n` and `esc` decline. It dismisses with True or False.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static


class ConfirmContextModal(ModalScreen[str | None]):
    DEFAULT_CSS = """
    ConfirmContextModal {
        align: center middle;
    }
    ConfirmContextModal > #confirm-box {
        width: 80;
        max-width: 100%;
        height: auto;
        max-height: 90%;
        border: thick $error;
        background: $surface;
        padding: 0 1;
    }
    ConfirmContextModal #confirm-title { text-style: bold; color: $text-error; }
    ConfirmContextModal #confirm-body { margin: 1 0; }
    ConfirmContextModal #confirm-prompt { color: $text-muted; }
    ConfirmContextModal #confirm-input { margin: 0 0 1 0; }
    ConfirmContextModal #confirm-input.-match { border: tall $success; }
    ConfirmContextModal #confirm-hint { color: $text-muted; height: 1; }
    ConfirmContextModal #confirm-hint.-mismatch { color: $text-warning; }
    ConfirmContextModal #confirm-buttons { height: auto; align: right middle; }
    ConfirmContextModal Button { margin-left: 2; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="confirm.cancel"),
    ]

    def __init__(self, title: str, lines: Sequence[str], context: str, verb: str = "Apply") -> None:
        super().__init__()
        self.title_text = title
        self.lines = tuple(lines)
        self.context = context
        self.verb = verb

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box") as box:
            box.border_title = "confirm"
            yield Static(Text(self.title_text), id="confirm-title")
            yield Static(Text("\n".join(self.lines)), id="confirm-body")
            yield Static(
                Text.assemble(
                    "Type the context name ",
                    (self.context, "bold"),
                    f" to enable {self.verb}:",
                ),
                id="confirm-prompt",
            )
            yield Input(placeholder=self.context, id="confirm-input")
            yield Static("", id="confirm-hint")
            with Horizontal(id="confirm-buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button(self.verb, id="confirm", variant="error", disabled=True)

    def on_mount(self) -> None:
        cursor_blink = getattr(self.app, "cursor_blink", True)
        self.query_one(Input).cursor_blink = bool(cursor_blink)
        # Typing goes straight into the field; `enter` on an empty field still cancels.
        self.query_one(Input).focus()

    @property
    def matches(self) -> bool:
        return self.query_one(Input).value == self.context

    @on(Input.Changed, "#confirm-input")
    def typed(self, event: Input.Changed) -> None:
        match = event.value == self.context
        self.query_one("#confirm", Button).disabled = not match
        event.input.set_class(match, "-match")
        hint = self.query_one("#confirm-hint", Static)
        hint.set_class(bool(event.value) and not match, "-mismatch")
        hint.update("" if match or not event.value else "does not match the context name")

    @on(Input.Submitted, "#confirm-input")
    def submitted(self) -> None:
        value = self.query_one(Input).value
        if self.matches:
            self.dismiss(value)
        elif not value:
            self.dismiss(None)  # Cancel stays the default: a stray enter changes nothing

    @on(Button.Pressed, "#confirm")
    def confirmed(self) -> None:
        if self.matches:  # a disabled button cannot be pressed; checked again all the same
            self.dismiss(self.query_one(Input).value)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmModal(ModalScreen[bool]):
    DEFAULT_CSS = """
    ConfirmModal {
        align: center middle;
    }
    ConfirmModal > #confirm-box {
        width: 84;
        height: auto;
        max-height: 90%;
        border: thick $warning;
        background: $surface;
        padding: 0 1;
    }
    ConfirmModal #confirm-title { text-style: bold; color: $text-warning; }
    ConfirmModal #confirm-context { margin-top: 1; }
    ConfirmModal #confirm-body { margin: 1 0; }
    ConfirmModal #confirm-prompt { color: $text-muted; }
    ConfirmModal #confirm-buttons { height: auto; align: right middle; }
    ConfirmModal Button { margin-left: 2; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "decline", "No", id="confirm.no"),
        Binding("y", "accept", "Yes", id="confirm.yes"),
    ]

    def __init__(
        self, title: str, lines: Sequence[str], context: str, yes: str = "Yes", no: str = "No"
    ) -> None:
        super().__init__()
        self.title_text = title
        self.lines = tuple(lines)
        self.context = context
        self.yes = yes
        self.no = no

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box") as box:
            box.border_title = "confirm"
            yield Static(Text(self.title_text), id="confirm-title")
            yield Static(
                Text.assemble("context ", (self.context, "bold reverse")), id="confirm-context"
            )
            yield Static(Text("\n".join(self.lines)), id="confirm-body")
            yield Static(
                Text.assemble(
                    ("y", "bold"),
                    f" {self.yes.lower()} · ",
                    ("n", "bold"),
                    " / ",
                    ("esc", "bold"),
                    f" {self.no.lower()}",
                ),
                id="confirm-prompt",
            )
            with Horizontal(id="confirm-buttons"):
                yield Button(self.no, id="no", variant="primary")
                yield Button(self.yes, id="yes", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed, "#yes")
    def action_accept(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#no")
    def action_decline(self) -> None:
        self.dismiss(False)
