"""The exposure and matrix screens, mounted in a tiny host App (the TUI wires them to
`:exposure` / `:matrix`): Pilot tests on their state, and SVG snapshots.

Update the snapshots only after looking at them:
`pytest tests/test_ui_exposure_matrix.py --snapshot-update`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import DataTable, Static, TabbedContent

from tests.ui_support import settle
from triage.model import Snapshot
from triage.policy.matrix import PortQuery
from triage.sources.manifests import load_manifests
from triage.ui.screens.exposure import ExposureScreen
from triage.ui.screens.matrix import MatrixScreen

DATA = Path(__file__).parent / "data"
SIZE = (120, 40)


def load(name: str) -> Snapshot:
    snapshot, _ = load_manifests([DATA / name])
    return snapshot


class Host(App[None]):
    """Pushes one screen; deterministic (fixed theme, no animation)."""

    def __init__(self, make_screen: Callable[[], Screen[None]]) -> None:
        super().__init__()
        self.theme = "textual-dark"
        self.animation_level = "none"
        self.make_screen = make_screen

    def on_mount(self) -> None:
        self.push_screen(self.make_screen())


def plain(widget: Static) -> str:
    return str(widget.render())


def exposure_host() -> Host:
    snapshot = load("matrix/lateral.yaml")
    return Host(lambda: ExposureScreen(snapshot, "develop/debug"))


def matrix_host(port: PortQuery | None = None) -> Host:
    snapshot = load("classic.yaml")
    return Host(lambda: MatrixScreen(snapshot, port=port))


async def test_exposure_screen_tables_and_containment() -> None:
    app = exposure_host()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ExposureScreen) and screen.exposure is not None
        reaches = screen.query_one("#reaches-table", DataTable)
        workloads = {str(reaches.get_row_at(i)[1]) for i in range(reaches.row_count)}
        assert workloads == {"coredns", "production-db", "traefik"}
        assert screen.query_one("#reached-by-table", DataTable).row_count == 0
        header = plain(screen.query_one("#exposure-header", Static))
        assert "Egress: NOT isolated" in header
        await pilot.press("3")
        assert screen.query_one(TabbedContent).active == "containment"
        assert screen.containment is not None and screen.containment.scope == "pod"
        assert "reaches only DNS" in plain(screen.query_one("#containment-status", Static))
        await pilot.press("c")
        await settle(pilot)
        assert screen.containment is not None and screen.containment.scope == "namespace"
        assert screen.containment.policy.name == "default-deny-egress"
        await pilot.press("escape")
        assert not isinstance(app.screen, ExposureScreen)


async def test_exposure_screen_reports_an_unknown_pod() -> None:
    snapshot = load("classic.yaml")
    app = Host(lambda: ExposureScreen(snapshot, "develop/nope"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "no such pod" in plain(app.screen.query_one("#exposure-header", Static))


async def test_matrix_screen_grid_and_detail() -> None:
    app = matrix_host()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MatrixScreen) and screen.matrix is not None
        grid = screen.query_one("#matrix-grid", DataTable)
        assert grid.row_count == 7 and len(grid.columns) == 8
        keys = [w.key for w in screen.matrix.workloads]
        src, dst = keys.index("traefik/traefik"), keys.index("develop/backend")
        assert str(grid.get_cell_at((src, dst + 1))).strip() == "◐"
        grid.cursor_coordinate = grid.cursor_coordinate._replace(row=src, column=dst + 1)
        await pilot.pause()
        detail = plain(screen.query_one("#matrix-detail", Static))
        assert "traefik/traefik → develop/backend" in detail and "TCP 8080" in detail
        await pilot.press("up")  # production-db → backend: nothing
        await pilot.pause()
        detail = plain(screen.query_one("#matrix-detail", Static))
        assert "production/production-db → develop/backend" in detail and "none" in detail


async def test_matrix_screen_one_port() -> None:
    app = matrix_host(PortQuery("TCP", 5432))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MatrixScreen) and screen.matrix is not None
        pairs = {
            (screen.matrix.workloads[c.source].key, screen.matrix.workloads[c.destination].key)
            for c in screen.matrix.iter_cells()
        }
        assert ("kube-system/coredns", "production/production-db") in pairs
        assert all(not src.startswith("develop/") for src, _ in pairs)


def test_exposure_snapshot(snap_compare) -> None:
    assert snap_compare(exposure_host(), terminal_size=SIZE, run_before=settle)


def test_exposure_containment_snapshot(snap_compare) -> None:
    async def containment(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)

    assert snap_compare(exposure_host(), terminal_size=SIZE, run_before=containment)


def test_matrix_snapshot(snap_compare) -> None:
    assert snap_compare(matrix_host(), terminal_size=SIZE, run_before=settle)
