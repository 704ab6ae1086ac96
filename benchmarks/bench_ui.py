"""UI benchmark: start to first screen on a 10k-pod recording, and filter keystroke to
redraw on the cluster screen. One command, prints medians:

    .venv/bin/python benchmarks/bench_ui.py [--pods 10000] [--policies 500] [--runs 3]

The recording is generated (benchmarks/generator.py, fixed seed), wrapped into an Incident
by triage.sources.recording and written to a temporary file, so the start figure includes
reading and validating the file, as `triage replay FILE` does. Timings are wall clock on this
machine; the budgets are the issue's: first screen ≤ 2 s, keystroke ≤ 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual.strip import Strip

from benchmarks.generator import generate_cluster
from triage.model.incident import Incident, IncidentMeta
from triage.sources.recording import (
    incident_from_manifests,
    load_incident,
    write_incident,
)
from triage.ui.app import TriageApp, make_app
from triage.ui.filtering import apply, parse_query
from triage.ui.session import ReplaySource
from triage.ui.widgets.resource_table import ResourceTable

SIZE = (120, 40)
KEYS = "app-42"  # typed one key at a time into the pods filter


def build_recording(pods: int, policies: int, directory: Path) -> Path:
    manifests = generate_cluster(pods, policies, 42)
    meta = IncidentMeta(
        title=f"benchmark: {pods} pods, {policies} policies",
        cluster="bench",
        captured_at="2024-01-01T00:00:00Z",
    )
    incident = incident_from_manifests(meta, [manifests], source="benchmarks/generator.py")
    path = directory / "bench.yaml"
    write_incident(incident, path)
    return path


def bench_app(source: Path | Incident) -> TriageApp:
    replay = ReplaySource(source) if isinstance(source, Path) else ReplaySource(incident=source)
    return make_app(replay, animation_level="none", cursor_blink=False)


async def wait_for(app: TriageApp, pilot: object, screen_name: str) -> None:
    while type(app.screen).__name__ != screen_name:
        await asyncio.sleep(0.005)


async def start_to_first_screen(source: Path | Incident) -> tuple[float, float]:
    """Seconds from starting the app to the flow picker on screen; and to its candidate
    flows (a background worker) listed."""
    app = bench_app(source)
    start = time.perf_counter()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app, pilot, "FlowPickerScreen")
        await pilot.pause()
        first = time.perf_counter() - start
        while any(not w.is_finished for w in app.workers):
            await asyncio.sleep(0.005)
        await pilot.pause()
        candidates = time.perf_counter() - start
    return first, candidates


async def filter_keystrokes(source: Path | Incident, *, settled: bool) -> list[float]:
    """Seconds from a key press in the `/` filter of the pods table to the last line of
    the table rendered again (Pilot's own idle waits after that are not counted).
    `settled`: wait until the candidate-flow search (a thread worker that holds the GIL
    on a big cluster) has finished first."""
    rendered: list[float] = []
    original = ResourceTable.render_line

    def timed_render_line(self: ResourceTable, y: int) -> Strip:
        strip = original(self, y)
        rendered.append(time.perf_counter())
        return strip

    ResourceTable.render_line = timed_render_line  # type: ignore[method-assign]
    app = bench_app(source)
    timings: list[float] = []
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(app, pilot, "FlowPickerScreen")
            while settled and any(not w.is_finished for w in app.workers):
                await asyncio.sleep(0.01)
            await pilot.press("f2")
            await wait_for(app, pilot, "ClusterScreen")
            await pilot.pause()
            await pilot.press("slash")
            await pilot.pause()
            for key in [*KEYS, *["backspace"] * len(KEYS)]:
                rendered.clear()
                start = time.perf_counter()
                await pilot.press(key)
                await pilot.pause()
                assert rendered, "the table was not redrawn"
                timings.append(rendered[-1] - start)
    finally:
        ResourceTable.render_line = original  # type: ignore[method-assign]
    return timings


def pure_filter_ms(path_rows: int) -> float:
    from triage.ui.filtering import make_row

    rows = [
        make_row(str(i), i, [f"ns-{i % 50}", f"app-{i % 97}-{i:05d}", "10.0.0.1"])
        for i in range(path_rows)
    ]
    query = parse_query("app-42")
    start = time.perf_counter()
    for _ in range(20):
        apply(rows, query)
    return (time.perf_counter() - start) / 20 * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--policies", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        path = build_recording(args.pods, args.policies, Path(tmp))
        size_mb = path.stat().st_size / 1e6
        print(
            f"recording: {args.pods} pods, {args.policies} policies, {size_mb:.1f} MB "
            f"(generated in {time.perf_counter() - start:.1f} s)"
        )
        start = time.perf_counter()
        incident = load_incident(path)
        read = time.perf_counter() - start
        print(f"reading the recording (load_incident, domain): {read:.2f} s")
        starts = [asyncio.run(start_to_first_screen(incident)) for _ in range(args.runs)]
        first = statistics.median(s[0] for s in starts)
        cands = statistics.median(s[1] for s in starts)
        print(
            f"UI start to first screen (flow picker), recording in memory: median {first:.2f} s"
            f" over {args.runs} runs (budget 2 s) {'OK' if first <= 2 else 'OVER'}"
        )
        print(f"UI start to candidate flows listed:  median {cands:.2f} s")
        whole = asyncio.run(start_to_first_screen(path))[0]
        print(f"`triage replay FILE` start to first screen, end to end: {whole:.2f} s")
        for settled in (True, False):
            keys = asyncio.run(filter_keystrokes(incident, settled=settled))
            median_ms = statistics.median(keys) * 1000
            when = "idle" if settled else "while the candidate search runs"
            print(
                f"filter keystroke to redraw, {args.pods} pods, {when}: median "
                f"{median_ms:.1f} ms, max {max(keys) * 1000:.1f} ms over {len(keys)} keystrokes"
                f" (budget 100 ms) {'OK' if median_ms <= 100 else 'OVER'}"
            )
        print(f"  of which the filter pass itself: {pure_filter_ms(args.pods):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
