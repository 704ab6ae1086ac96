"""The checklist's step list: one `StepRow` per runbook step, coloured by state classes
(`-pass`, `-fail`, ...) in triage.tcss. No animated spinner: "running…" is static text, so
a snapshot taken mid-run is stable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Label

from triage.checklist import STATUSES, Status, StepSpec
from triage.ui.safe_text import data_text

GLYPHS: dict[Status, str] = {
    "pending": "·",
    "running": "…",
    "pass": "✔",
    "fail": "✘",
    "warn": "!",
    "skip": "–",
    "error": "‼",
}
WORDS: dict[Status, str] = {
    "pending": "",
    "running": "running…",
    "pass": "pass",
    "fail": "FAIL",
    "warn": "warn",
    "skip": "skip",
    "error": "error",
}


class StepRow(Horizontal):
    """`✘ 6 Verdict   FAIL`; the status is a state class for the CSS."""

    def __init__(self, number: int, spec: StepSpec) -> None:
        super().__init__(id=f"step-{spec.id}", classes="-pending")
        self.number = number
        self.spec = spec
        self.status: Status = "pending"

    def compose(self) -> ComposeResult:
        yield Label(GLYPHS["pending"], classes="glyph")
        yield Label(data_text(f"{self.number}. {self.spec.title}"), classes="title")
        yield Label("", classes="status")

    def set_status(self, status: Status) -> None:
        self.status = status
        for name in STATUSES:
            self.set_class(name == status, f"-{name}")
        self.query_one(".glyph", Label).update(GLYPHS[status])
        self.query_one(".status", Label).update(WORDS[status])

    def on_click(self, event: events.Click) -> None:
        parent = self.parent
        if isinstance(parent, StepList):
            parent.index = parent.rows.index(self)


class StepList(VerticalScroll, can_focus=True):
    BINDINGS: ClassVar[list[BindingType]] = [
        # Shown in the footer: the keys that move the list, and the detail pane beside it
        # (which is not focusable, so page keys here scroll it rather than this list).
        Binding("down,j", "move(1)", "Step", key_display="↑↓"),
        Binding("up,k", "move(-1)", "Previous step", show=False),
        Binding("pagedown", "screen.scroll_detail(1)", "Detail", key_display="pgdn", show=False),
        Binding("pageup", "screen.scroll_detail(-1)", "Detail up", show=False),
        Binding("home", "move(-1000)", "First step", show=False),
        Binding("end", "move(1000)", "Last step", show=False),
    ]

    index = reactive(0, init=False)

    @dataclass
    class StepHighlighted(Message):
        step_list: StepList
        step_id: str

        @property
        def control(self) -> StepList:
            return self.step_list

    def __init__(self, specs: tuple[StepSpec, ...], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.specs = specs

    def compose(self) -> ComposeResult:
        for number, spec in enumerate(self.specs, start=1):
            yield StepRow(number, spec)

    def on_mount(self) -> None:
        self._highlight()

    @property
    def rows(self) -> list[StepRow]:
        return list(self.query(StepRow))

    @property
    def current_id(self) -> str:
        return self.specs[self.index].id

    def row(self, step_id: str) -> StepRow:
        return self.query_one(f"#step-{step_id}", StepRow)

    def select(self, step_id: str) -> None:
        self.index = [s.id for s in self.specs].index(step_id)

    def validate_index(self, value: int) -> int:
        return max(0, min(value, len(self.specs) - 1))

    def watch_index(self) -> None:
        self._highlight()

    def _highlight(self) -> None:
        for i, row in enumerate(self.rows):
            row.set_class(i == self.index, "-selected")
        if self.rows:
            self.scroll_to_widget(self.rows[self.index], animate=False)
        self.post_message(self.StepHighlighted(self, self.current_id))

    def action_move(self, delta: int) -> None:
        self.index += delta
