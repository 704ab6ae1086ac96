"""A virtualised table for 10k-row resource lists (toolong's Line-API idiom).

`DataTable` builds every row up front, which costs seconds at 10k rows and again on every
filter keystroke. This widget keeps the rows as a plain sequence and renders only the lines
on screen, so filtering is one pass over pre-lowered strings plus a redraw of ~40 lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from triage.model.untrusted import clean
from triage.ui.filtering import Row
from triage.ui.fit import elide_middle


@dataclass(frozen=True, slots=True)
class Column:
    label: str
    max_width: int = 40
    dim: bool = False  # secondary information (labels): drawn in the muted style
    # How a cell too wide is cut: "end" (prose) or "middle" (identifiers: a pod name's end
    # tells replicas apart).
    elide: str = "end"


GAP = 2


class ResourceTable(ScrollView, can_focus=True):
    """Rows of `filtering.Row`; a cursor; `RowHighlighted` / `RowSelected` messages."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "first", "First", show=False),
        Binding("end,G", "last", "Last", show=False),
        Binding("left,h", "scroll_columns(-8)", "Scroll left", show=False),
        Binding("right,l", "scroll_columns(8)", "Scroll right", show=False),
        Binding("enter", "select", "Select", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "resource-table--header",
        "resource-table--cursor",
        "resource-table--dim",
        "resource-table--empty",
    }

    DEFAULT_CSS = """
    ResourceTable {
        height: 1fr;
        background: $surface;
        & > .resource-table--header { color: $text-accent; text-style: bold; }
        & > .resource-table--cursor { background: $boost; text-style: bold; }
        &:focus > .resource-table--cursor { background: $block-cursor-background;
            color: $block-cursor-foreground; }
        & > .resource-table--dim { color: $text-muted; }
        & > .resource-table--empty { color: $text-muted; text-style: italic; }
    }
    """

    cursor = reactive(0, repaint=False, init=False)

    @dataclass
    class RowHighlighted(Message):
        table: ResourceTable
        row: Row[Any] | None

        @property
        def control(self) -> ResourceTable:
            return self.table

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, ResourceTable.RowHighlighted) and message.table is self.table

    @dataclass
    class RowSelected(Message):
        table: ResourceTable
        row: Row[Any]

        @property
        def control(self) -> ResourceTable:
            return self.table

    def __init__(
        self,
        columns: Sequence[Column],
        *,
        empty_text: str = "nothing to show",
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.columns = tuple(columns)
        self.empty_text = empty_text
        self._rows: Sequence[Row[Any]] = ()
        self._widths: list[int] = [cell_len(c.label) for c in self.columns]

    # ------------------------------------------------------------------ data

    @property
    def rows(self) -> Sequence[Row[Any]]:
        return self._rows

    @property
    def row_count(self) -> int:
        return len(self._rows)

    @property
    def current(self) -> Row[Any] | None:
        if 0 <= self.cursor < len(self._rows):
            return self._rows[self.cursor]
        return None

    def fit_columns(self, rows: Sequence[Row[Any]]) -> None:
        """Size the columns for a full data set once, so a filter does not make them jump."""
        widths = [cell_len(c.label) for c in self.columns]
        for row in rows:
            for i, cell in enumerate(row.cells):
                if len(cell) > widths[i]:
                    widths[i] = len(cell)
        self._widths = [min(w, c.max_width) for w, c in zip(widths, self.columns, strict=True)]

    def show(self, rows: Sequence[Row[Any]], *, keep: str | None = None) -> None:
        """Replace the visible rows; keep the cursor on the row with key `keep` if present."""
        self._rows = rows
        position = 0
        if keep is not None:
            for i, row in enumerate(rows):
                if row.key == keep:
                    position = i
                    break
        self._update_virtual_size()
        self.set_reactive(ResourceTable.cursor, position)
        self._scroll_to_cursor()
        self.refresh()
        self.post_message(self.RowHighlighted(self, self.current))

    def _update_virtual_size(self) -> None:
        width = sum(self._widths) + GAP * len(self._widths)
        self.virtual_size = Size(width, len(self._rows) + 1)

    # ------------------------------------------------------------------ cursor

    def watch_cursor(self, old: int, new: int) -> None:
        self._scroll_to_cursor()
        self.refresh()
        self.post_message(self.RowHighlighted(self, self.current))

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self._rows) - 1))

    def _scroll_to_cursor(self) -> None:
        visible = max(1, self.scrollable_content_region.height - 1)
        top = round(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False, immediate=True)

    def action_cursor(self, delta: int) -> None:
        self.cursor += delta

    def action_page(self, direction: int) -> None:
        self.cursor += direction * max(1, self.scrollable_content_region.height - 2)

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        self.cursor = len(self._rows) - 1

    def action_scroll_columns(self, delta: int) -> None:
        self.scroll_to(x=self.scroll_x + delta, animate=False)

    def action_select(self) -> None:
        row = self.current
        if row is not None:
            self.post_message(self.RowSelected(self, row))

    def on_click(self, event: events.Click) -> None:
        y = event.y - 1
        if y >= 0:
            self.cursor = round(self.scroll_y) + y
            if event.chain == 2:
                self.action_select()

    def on_resize(self) -> None:
        self._scroll_to_cursor()

    # ------------------------------------------------------------------ rendering

    def _line(self, cells: Sequence[str], style: Any, dim_style: Any) -> list[Segment]:
        segments: list[Segment] = []
        last = len(self.columns) - 1
        for i, (raw, width) in enumerate(zip(cells, self._widths, strict=False)):
            cell = clean(raw)  # outside data, drawn as segments: no control characters
            if len(cell) > width and self.columns[i].elide == "middle":
                text = elide_middle(cell, width)
            elif len(cell) > width:
                text = set_cell_size(cell, width - 1) + "…"
            elif i == last:
                text = cell
            else:
                text = set_cell_size(cell, width)
            segments.append(Segment(text, dim_style if self.columns[i].dim else style))
            if i != last:
                segments.append(Segment(" " * GAP, style))
        return segments

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        scroll_x = round(self.scroll_x)
        if y == 0:
            header = base + self.get_component_rich_style("resource-table--header")
            segments = self._line([c.label for c in self.columns], header, header)
            return Strip(segments).crop_extend(scroll_x, scroll_x + width, base)
        if not self._rows:
            if y == 1:
                empty = base + self.get_component_rich_style("resource-table--empty")
                return Strip([Segment(self.empty_text, empty)]).crop_extend(0, width, base)
            return Strip.blank(width, base)
        index = round(self.scroll_y) + y - 1
        if index >= len(self._rows):
            return Strip.blank(width, base)
        row = self._rows[index]
        if index == self.cursor:
            fill = base + self.get_component_rich_style("resource-table--cursor")
            segments = self._line(row.cells, fill, fill)
        else:
            fill = base
            dim = base + self.get_component_rich_style("resource-table--dim")
            segments = self._line(row.cells, base, dim)
        return Strip(segments).crop_extend(scroll_x, scroll_x + width, fill)
