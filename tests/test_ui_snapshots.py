"""SVG snapshots (pytest-textual-snapshot; determinism: docs/architecture.md "The TUI"): the
checklist after all steps of every bundled incident's first reported flow (in the runbook
the recording names), the lateral movement's containment step, the flow picker and the
cluster screen.

Update only after looking at the result: `pytest tests/test_ui_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from tests.test_ui_support import INCIDENTS, SIZE, app_for, first_reported_flow, settle
from triage.sources.recording import bundled_incident


@pytest.mark.parametrize("incident", INCIDENTS, ids=[p.stem for p in INCIDENTS])
def test_checklist_after_all_steps(snap_compare, incident: Path, tmp_path: Path) -> None:
    async def run_all(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)

    app = app_for(incident, tmp_path, initial_flow=first_reported_flow(incident))
    assert snap_compare(app, terminal_size=SIZE, run_before=run_all)


def test_lateral_movement_containment_step(snap_compare, tmp_path: Path) -> None:
    """The recording names its runbook (lateral-movement): after run-all the checklist
    stands on what the debug pod still reaches (the snapshot above); one step down is the
    quarantine policy that cuts it off."""
    incident = bundled_incident("lateral-movement-debug-pod")

    async def containment(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        await pilot.press("down")
        await settle(pilot)

    app = app_for(incident, tmp_path, initial_flow=first_reported_flow(incident))
    assert snap_compare(app, terminal_size=SIZE, run_before=containment)


def test_flow_picker_candidates(snap_compare, tmp_path: Path) -> None:
    assert snap_compare(app_for("demo", tmp_path), terminal_size=SIZE, run_before=settle)


def test_flow_picker_completion(snap_compare, tmp_path: Path) -> None:
    async def type_source(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.click("#source")
        await pilot.press(*"web")
        await settle(pilot)

    assert snap_compare(app_for("demo", tmp_path), terminal_size=SIZE, run_before=type_source)


def test_cluster_pods(snap_compare, tmp_path: Path) -> None:
    async def open_cluster(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("f2")
        await settle(pilot)

    assert snap_compare(app_for("demo", tmp_path), terminal_size=SIZE, run_before=open_cluster)


def test_cluster_policies_filtered(snap_compare, tmp_path: Path) -> None:
    async def filter_policies(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("f2", "2", "slash", *"allow")
        await settle(pilot)

    app = app_for("demo", tmp_path)
    assert snap_compare(app, terminal_size=SIZE, run_before=filter_policies)
