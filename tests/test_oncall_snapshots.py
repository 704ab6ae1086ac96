"""80×24 snapshots of the screens an on-call reads first (flow picker, checklist, rollback),
and 120×40 checks that headers never cut an identifier: the destination and the port stay
on the checklist's flow line, and a long pod name gives up its middle, not its end.

Update only after looking at the result:
`pytest tests/test_oncall_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from tests.test_ui_support import INCIDENTS, app_for, first_reported_flow, settle
from triage.sources.recording import bundled_incident, load_incident
from triage.ui.screens.rollback import RollbackScreen

SMALL = (80, 24)
LARGE = (120, 40)


async def _run_all(pilot: Pilot[None]) -> None:
    await settle(pilot)
    await pilot.press("a")
    await settle(pilot)


async def _rollback(pilot: Pilot[None]) -> None:
    await settle(pilot)
    pilot.app.push_screen(RollbackScreen(pilot.app.session))  # type: ignore[attr-defined]
    await settle(pilot)


def test_flow_picker_80x24(snap_compare, tmp_path: Path) -> None:
    assert snap_compare(app_for("demo", tmp_path), terminal_size=SMALL, run_before=settle)


def test_checklist_80x24(snap_compare, tmp_path: Path) -> None:
    flow = first_reported_flow(bundled_incident("demo"))
    app = app_for("demo", tmp_path, initial_flow=flow)
    assert snap_compare(app, terminal_size=SMALL, run_before=_run_all)


def test_rollback_80x24(snap_compare, tmp_path: Path) -> None:
    app = app_for("failed-rollout", tmp_path)
    assert snap_compare(app, terminal_size=SMALL, run_before=_rollback)


def test_checklist_120x40_keeps_identifiers(snap_compare, tmp_path: Path) -> None:
    flow = first_reported_flow(bundled_incident("demo"))
    app = app_for("demo", tmp_path, initial_flow=flow)
    assert snap_compare(app, terminal_size=LARGE, run_before=_run_all)


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "120x40"])
@pytest.mark.parametrize("incident", INCIDENTS, ids=[p.stem for p in INCIDENTS])
async def test_headers_never_cut_the_destination_or_the_port(
    incident: Path, size: tuple[int, int], tmp_path: Path
) -> None:
    flow = load_incident(incident).flows[0].flow
    app = app_for(incident, tmp_path, initial_flow=flow)
    async with app.run_test(size=size) as pilot:
        await _run_all(pilot)
        line = str(app.screen.query_one("#flow-line", Static).render()).rstrip()
        width = size[0]
        assert len(line) <= width, line
        port = f":{flow.port}/{flow.protocol}"
        assert port in line, line
        assert "steps run" in line, line
        for end in (str(flow.source), str(flow.destination)):
            name = end.rsplit("/", 1)[-1]
            # whole, or cut in the middle: its start and its last characters are there
            assert end in line or ("…" in line and name[-4:] in line), (end, line)
        bar = str(app.screen.query_one("#source-bar", Static).render()).rstrip()
        assert "REPLAY" in bar
        meta = load_incident(incident).meta
        if meta.captured_at:
            assert meta.captured_at in bar, bar  # the capture time is never the cut part
