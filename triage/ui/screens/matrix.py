"""`:matrix [NS...]`: the reachability matrix between workloads as a coloured grid.

Rows are sources, columns destinations (numbered; the row labels carry the numbers). A
cell is green when every port is allowed, yellow for some ports, magenta when the pods of
a workload differ, and a dim dot when nothing is. The cell under the cursor is spelled
out below the grid. Large matrices (more than GRID_LIMIT workloads) are listed instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import Worker, WorkerState

from triage.errors import error_line
from triage.model import Flow, Snapshot
from triage.policy.matrix import Matrix, PortQuery, cell_kind, cell_text
from triage.ui.safe_text import data_text
from triage.ui.widgets.source_bar import SourceBar

GRID_LIMIT = 120
GLYPHS = {"all": "●", "some": "◐", "varies": "◌", "none": "·"}
STYLES = {"all": "bold green", "some": "yellow", "varies": "magenta", "none": "dim"}


class MatrixScreen(Screen[None]):
    HELP = """\
Which workload may open which ports to which other: egress at the source intersected with
ingress at the destination, named ports resolved per pod. Rows are sources, columns
destinations. ● every port · ◐ some ports · ◌ differs between the workload's pods · nothing.
Move with the arrows; the cell under the cursor is spelled out below the grid."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back", id="matrix.back"),
    ]

    DEFAULT_CSS = """
    MatrixScreen {
        #matrix-title { height: auto; padding: 0 1; background: $panel; }
        #matrix-grid { height: 1fr; }
        #matrix-detail { height: auto; min-height: 3; padding: 0 1; border-top: solid $accent; }
    }
    """

    class Computed(Message, bubble=False):
        def __init__(self, matrix: Matrix) -> None:
            super().__init__()
            self.matrix = matrix

    def __init__(
        self,
        snapshot: Snapshot,
        namespaces: Sequence[str] = (),
        port: PortQuery | None = None,
    ) -> None:
        super().__init__()
        self.snapshot = snapshot
        self.namespaces = tuple(namespaces)
        self.port = port
        self.matrix: Matrix | None = None
        self.grid = False

    def compose(self) -> ComposeResult:
        yield SourceBar(id="source-bar")
        yield Static(Text("Reachability matrix: computing…"), id="matrix-title")
        yield DataTable(id="matrix-grid", cursor_type="cell")
        yield Static(id="matrix-detail")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.compute()

    @work(
        thread=True,
        exclusive=True,
        group="matrix",
        exit_on_error=False,
        description="Computing the matrix",
    )
    def compute(self) -> None:
        from triage.policy.matrix import compute_matrix

        self.post_message(self.Computed(compute_matrix(self.snapshot, self.namespaces, self.port)))

    @on(Worker.StateChanged)
    def worker_failed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "matrix" and event.state == WorkerState.ERROR:
            error = event.worker.error
            text = error_line(error) if error is not None else "unknown error"
            self.query_one("#matrix-title", Static).update(Text(text, style="bold red"))

    @on(Computed)
    def show(self, message: Computed) -> None:
        matrix = message.matrix
        self.matrix = matrix
        what = (
            "all protocols and ports"
            if matrix.port is None
            else f"{matrix.port.protocol} {matrix.port.port}"
        )
        where = ", ".join(self.namespaces) if self.namespaces else "all namespaces"
        title = Text.assemble(
            ("Reachability matrix", "bold"),
            f" · {where} · {what} · {len(matrix.workloads)} workloads, {matrix.pods} pods, "
            f"{matrix.classes} classes · {matrix.count} allowed pairs\n",
        )
        for kind, label in (
            ("all", "every port"),
            ("some", "some ports"),
            ("varies", "differs between pods"),
            ("none", "nothing"),
        ):
            title.append(f"{GLYPHS[kind]} {label}   ", style=STYLES[kind])
        for warning in matrix.warnings:
            title.append(f"\nwarning: {warning}", style="yellow")
        self.query_one("#matrix-title", Static).update(title)
        table = self.query_one("#matrix-grid", DataTable)
        table.clear(columns=True)
        n = len(matrix.workloads)
        self.grid = n <= GRID_LIMIT
        if self.grid:
            table.cursor_type = "cell"
            table.add_column("FROM \\ TO", key="from")
            for j in range(n):
                table.add_column(str(j + 1), key=str(j))
            for i, w in enumerate(matrix.workloads):
                cells: list[Text] = [Text(f"{i + 1:>3} {w.key}")]
                for j in range(n):
                    kind = cell_kind(matrix.cell(i, j))
                    cells.append(Text(f" {GLYPHS[kind]}", style=STYLES[kind]))
                table.add_row(*cells, key=str(i))
            if n:
                table.cursor_coordinate = Coordinate(0, 1)
        else:
            table.cursor_type = "row"
            table.add_columns("FROM", "TO", "ALLOWED")
            for cell in matrix.iter_cells():
                kind = cell_kind(cell)
                table.add_row(
                    data_text(matrix.workloads[cell.source].key),
                    data_text(matrix.workloads[cell.destination].key),
                    Text(cell_text(cell), style=STYLES[kind]),
                )
        table.focus()
        self.describe(table.cursor_coordinate)

    @on(DataTable.CellHighlighted, "#matrix-grid")
    def cell_highlighted(self, event: DataTable.CellHighlighted) -> None:
        self.describe(event.coordinate)

    def describe(self, coordinate: Coordinate) -> None:
        detail = self.query_one("#matrix-detail", Static)
        matrix = self.matrix
        if matrix is None or not self.grid or not matrix.workloads:
            detail.update("")
            return
        i, j = coordinate.row, coordinate.column - 1
        if j < 0:
            detail.update(Text(f"source {matrix.workloads[i].key}: move right to a destination"))
            return
        src, dst = matrix.workloads[i], matrix.workloads[j]
        cell = matrix.cell(i, j)
        kind = cell_kind(cell)
        text = Text.assemble(
            (f"{src.key}", "bold"),
            " → ",
            (f"{dst.key}", "bold"),
            f"  ({len(src.pods)} → {len(dst.pods)} pods)\n",
            (cell_text(cell), STYLES[kind]),
        )
        if cell is not None and cell.self_only:
            text.append(
                "\nthe pod to itself: evaluated like any flow, but many CNIs never filter it",
                style="dim",
            )
        detail.update(text)

    def flow_at(self, coordinate: Coordinate) -> Flow | None:
        """The flow of the cell (grid) or row (list) at `coordinate`: one pod of each
        workload, the matrix's port or the destination's first declared one."""
        from triage.ui.flows import flow_between

        matrix = self.matrix
        if matrix is None or not matrix.workloads:
            return None
        if self.grid:
            i, j = coordinate.row, coordinate.column - 1
            if j < 0:
                return None
        else:
            cells = list(matrix.iter_cells())
            if not 0 <= coordinate.row < len(cells):
                return None
            i, j = cells[coordinate.row].source, cells[coordinate.row].destination
        port = matrix.port
        return flow_between(
            matrix.workloads[i].pods[0],
            matrix.workloads[j].pods[0],
            port.port if port is not None else None,
            port.protocol if port is not None else "TCP",
        )

    @on(DataTable.CellSelected, "#matrix-grid")
    @on(DataTable.RowSelected, "#matrix-grid")
    def open_flow(self, event: DataTable.CellSelected | DataTable.RowSelected) -> None:
        """`enter`: that flow's checklist."""
        table = self.query_one("#matrix-grid", DataTable)
        flow = self.flow_at(table.cursor_coordinate)
        open_checklist = getattr(self.app, "open_checklist", None)
        if flow is None:
            self.notify("no flow here: pick a destination cell with a declared port")
        elif open_checklist is not None:
            open_checklist(flow)

    def action_back(self) -> None:
        self.dismiss()
