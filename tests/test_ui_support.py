"""Shared set-up of the UI tests (no tests here): one deterministic app per test, built by
the same factory as the CLI, and the settle helper."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot

from triage.model import Flow
from triage.sources.recording import bundled_incident, bundled_incidents, load_incident
from triage.ui.app import TriageApp, make_app
from triage.ui.session import ReplaySource

SIZE = (120, 40)
INCIDENTS = bundled_incidents()


def app_for(
    incident: str | Path = "demo",
    report_dir: Path | None = None,
    *,
    initial_flow: Flow | None = None,
    runbook: str | None = None,
) -> TriageApp:
    """A replay app with everything non-deterministic switched off. `runbook` None: the
    recording's own, as `triage replay` without `--runbook`."""
    path = incident if isinstance(incident, Path) else bundled_incident(incident)
    return make_app(
        ReplaySource(path),
        report_dir=report_dir,
        theme="textual-dark",
        animation_level="none",
        cursor_blink=False,
        initial_flow=initial_flow,
        runbook=runbook,
    )


def first_reported_flow(path: Path) -> Flow:
    return load_incident(path).flows[0].flow


async def settle(pilot: Pilot[None]) -> None:
    """Wait until every worker is finished (a cancelled one included), then one refresh."""
    await pilot.pause()
    while any(not w.is_finished for w in pilot.app.workers):
        await pilot.pause(0.01)
    await pilot.pause()
