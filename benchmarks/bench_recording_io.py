"""Benchmark: write and load a 10k-pod recording (triage/sources/recording/). One command:

    .venv/bin/python benchmarks/bench_recording_io.py [--pods 10000] [--policies 2000] [--runs 5]

The incident is benchmarks/generator.py's cluster (seeded) passed through
`incident_from_manifests`, as `triage record` builds it. Each run times `write_incident`
(atomic, fsynced) and `load_incident` of that file in this process, plus their phases, and
then `load_incident` in a fresh interpreter, imports included: what `triage replay` pays
before the TUI can show its first screen. Figures are medians of the runs (wall clock; the
machine is often shared, so the load average is printed). Target: load_incident of a
10k-pod / 2k-policy recording ≤ 1.2 s (the TUI's first screen within 2 s of start).
`--known-good` adds a known-good set (every policy and label) to the recording.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET_LOAD_S = 1.2
T = TypeVar("T")


def timed(timings: dict[str, list[float]], name: str, fn: Callable[[], T]) -> T:
    gc.collect()  # every phase starts from the same heap, whatever the last one left
    started = time.perf_counter()
    value = fn()
    timings.setdefault(name, []).append(time.perf_counter() - started)
    return value


def build_incident(pods: int, policies: int, seed: int, known_good: bool) -> Any:
    from benchmarks.generator import generate_cluster
    from triage.model.incident import IncidentMeta, KnownGood, Note
    from triage.sources.recording import incident_from_manifests

    cluster = generate_cluster(pods, policies, seed)
    meta = IncidentMeta(
        f"bench {pods} pods / {policies} policies",
        cluster="bench",
        context="bench",
        captured_at="2026-01-01T00:00:00Z",
    )
    incident = incident_from_manifests(
        meta, cluster["items"], notes=[Note("2026-01-01T00:00:00Z", "benchmark")]
    )
    if known_good:
        snap = incident.snapshot
        good = KnownGood(
            "before",
            meta.captured_at,
            snap.policies,
            {ns.name: dict(ns.labels) for ns in snap.namespaces if not ns.synthesized},
            {pod.key: dict(pod.labels) for pod in snap.pods},
        )
        incident = dataclasses.replace(incident, known_good=(good,))
    return incident


def one_run(incident: Any, path: Path, timings: dict[str, list[float]]) -> Any:
    """write_incident and load_incident once, each with its phases; the loaded incident."""
    from triage.sources import recording
    from triage.sources.recording import codec as recording_codec

    document = timed(
        timings, "write: incident_to_document", lambda: recording.incident_to_document(incident)
    )
    timed(timings, "write: validate_document", lambda: recording.validate_document(document, "x"))
    timed(timings, "write: render text", lambda: recording_codec._dump(document, io.StringIO()))
    timed(timings, "write_incident", lambda: recording.write_incident(incident, path))
    raw = timed(timings, "load: read + parse text", lambda: recording.read_incident_document(path))
    timed(timings, "load: validate_document", lambda: recording.validate_document(raw, "x"))
    timed(
        timings, "load: incident_from_document", lambda: recording.incident_from_document(raw, "x")
    )
    return timed(timings, "load_incident", lambda: recording.load_incident(path))


def fresh_load(path: Path) -> dict[str, float]:
    """load_incident in a new interpreter (the child below), imports included."""
    child = [sys.executable, str(Path(__file__).resolve()), "--child-load", str(path)]
    started = time.perf_counter()
    done = subprocess.run(child, capture_output=True, text=True, check=False, cwd=ROOT)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout)
    return {**result, "wall_s": wall}


def child_load(path: Path) -> dict[str, float]:
    """In a fresh interpreter: import, then load_incident; seconds and peak RSS."""
    started = time.perf_counter()
    from triage.sources.recording import load_incident

    imported = time.perf_counter()
    incident = load_incident(path)
    loaded = time.perf_counter()
    return {
        "import_s": imported - started,
        "load_s": loaded - imported,
        "pods": len(incident.snapshot.pods),
        "peak_mb": peak_mb(),
    }


def peak_mb() -> float:
    """This process's peak RSS in MB (VmHWM on Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    return (
        f"{os.cpu_count()} CPUs (nproc {usable}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}, load average {load:.2f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--policies", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--known-good", action="store_true", help="add a known-good set")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--child-load", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_load is not None:
        print(json.dumps(child_load(args.child_load)))
        return 0

    print(f"recording I/O benchmark — {machine()} at start")
    timings: dict[str, list[float]] = {}
    incident = timed(
        timings,
        "build: incident_from_manifests",
        lambda: build_incident(args.pods, args.policies, args.seed, args.known_good),
    )
    fresh: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-recording-") as tmp:
        path = Path(tmp) / "incident.yaml"
        for run in range(args.runs):
            loaded = one_run(incident, path, timings)
            if run == 0 and loaded != incident:
                raise SystemExit("round trip failed: load_incident(write_incident(x)) != x")
            del loaded
            fresh.append(fresh_load(path))
        size_mb = path.stat().st_size / 2**20

    snap = incident.snapshot
    print(
        f"{len(snap.pods)} pods, {len(snap.services)} services, {len(snap.policies)} policies"
        f"{', a known-good set' if args.known_good else ''}: file {size_mb:.1f} MB; "
        f"medians of {args.runs} runs (min–max)"
    )
    medians = {name: statistics.median(values) for name, values in timings.items()}
    for name, values in timings.items():
        spread = f"({min(values):.3f}–{max(values):.3f})" if len(values) > 1 else ""
        indent = "    " if ":" in name and not name.startswith("build") else "  "
        print(f"{indent}{name:<34} {medians[name]:7.3f} s  {spread}")
    fresh_medians = {k: statistics.median(r[k] for r in fresh) for k in fresh[0]}
    print(
        f"  fresh interpreter: import {fresh_medians['import_s']:.3f} s + load_incident "
        f"{fresh_medians['load_s']:.3f} s; process wall {fresh_medians['wall_s']:.3f} s, "
        f"peak {fresh_medians['peak_mb']:.0f} MB"
    )
    load_s = max(medians["load_incident"], fresh_medians["load_s"])
    mark = "ok  " if load_s <= TARGET_LOAD_S else "MISS"
    print(f"  [{mark}] load_incident: {load_s:.3g} s (target ≤ {TARGET_LOAD_S:g} s)")
    print(f"  load average {os.getloadavg()[0]:.2f} at the end")
    if args.json is not None:
        report = {
            "machine": machine(),
            "pods": len(snap.pods),
            "policies": len(snap.policies),
            "file_mb": size_mb,
            "medians_s": medians,
            "runs_s": timings,
            "fresh_interpreter": fresh,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
