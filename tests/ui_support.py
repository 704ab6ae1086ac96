"""Shared set-up of the UI tests (no tests here): one deterministic app per test, built by
the same factory as the CLI; the settle helper (every worker finished, with a deadline);
`text_of` (what a Static shows); `finished` (the StepFinished results of recorded messages)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from pathlib import Path

from rich.console import Console
from textual.message import Message
from textual.pilot import Pilot
from textual.widgets import Static
from textual.worker import WorkerCancelled, WorkerFailed

from triage.checklist import StepResult
from triage.model import Flow
from triage.sources.recording import bundled_incident, bundled_incidents, load_incident
from triage.ui.app import TriageApp, make_app
from triage.ui.messages import StepFinished
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


SETTLE_DEADLINE = 60.0  # seconds; a worker still running then is a hang, not slowness


async def settle(pilot: Pilot[None], deadline: float = SETTLE_DEADLINE) -> None:
    """Wait until every worker is finished (cancelled and failed ones included; workers that
    finishing ones start are waited for too), then one refresh. Fails naming the workers
    still running after `deadline` seconds, instead of hanging until the test timeout.

    `app.workers.wait_for_complete()` raises at once when one worker was cancelled (a rerun
    cancels the previous one) while the others still run, hence the loop around it."""
    await pilot.pause()
    give_up = time.monotonic() + deadline
    while running := [w for w in pilot.app.workers if not w.is_finished]:
        left = give_up - time.monotonic()
        if left <= 0:
            names = ", ".join(w.description or w.name or repr(w) for w in running)
            raise AssertionError(f"workers still running after {deadline:.0f} s: {names}")
        with contextlib.suppress(WorkerCancelled, WorkerFailed, TimeoutError):
            await asyncio.wait_for(pilot.app.workers.wait_for_complete(running), left)
        await pilot.pause()
    await pilot.pause()


def text_of(widget: Static) -> str:
    """What a Static shows, as plain text (Rich renderables printed without styles)."""
    content = widget.content
    if isinstance(content, str):
        return content
    console = Console(width=200, file=io.StringIO(), color_system=None)
    with console.capture() as capture:
        console.print(content)
    return capture.get()


def finished(messages: list[Message]) -> dict[str, StepResult]:
    unique = {id(m): m for m in messages if isinstance(m, StepFinished)}
    return {m.step_id: m.result for m in unique.values()}
