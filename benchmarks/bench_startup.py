"""Whole-process `triage matrix` and start-up: where a short command's time goes.

    .venv/bin/python benchmarks/bench_startup.py [--sizes 1000,5000,10000] [--repeat 3]
        [--format json|yaml] [--tree PATH]

Per size (pods; policies = pods / 5, `benchmarks/generator.py`, seed 0): the wall-clock
median of `python -m triage matrix --manifests FILE > /dev/null` run `--repeat` times in
fresh processes, and the same run split into phases by a child that calls what the command
calls, in order: interpreter start, imports and the argument parser, load (read, parse,
validate, assemble), the matrix, the text output. The floor is `python -m triage --help`.

`--tree PATH` measures another checkout of the source (e.g. `git archive main | tar -x -C
/tmp/before`): its `triage` is imported instead of this one's, bytecode compiled first as
`benchmarks/run` does. Figures and the before/after table: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def cluster_file(pods: int, fmt: str) -> Path:
    path = RESULTS / f"start-{pods}.{fmt}"
    if not path.exists():
        sys.path.insert(0, str(ROOT))
        from benchmarks.generator import generate_cluster, write_cluster

        RESULTS.mkdir(parents=True, exist_ok=True)
        write_cluster(generate_cluster(pods=pods, policies=pods // 5, seed=0), path)
    return path


def _env(tree: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tree)
    return env


def wall(argv: list[str], tree: Path, repeat: int) -> tuple[float, float]:
    """Median wall-clock and CPU seconds of `argv` in fresh processes (stdout discarded)."""
    walls, cpus = [], []
    for _ in range(repeat):
        before = os.times()
        started = time.perf_counter()
        subprocess.run(
            argv, cwd=tree, env=_env(tree), stdout=subprocess.DEVNULL, check=True, timeout=600
        )
        walls.append(time.perf_counter() - started)
        after = os.times()
        cpus.append(
            (after.children_user - before.children_user)
            + (after.children_system - before.children_system)
        )
    return statistics.median(walls), statistics.median(cpus)


def phases(path: Path, tree: Path, repeat: int) -> dict[str, float]:
    """Median CPU seconds per phase, measured inside fresh child processes (CPU, not wall:
    on a shared machine it is the steadier figure). "interpreter" is the child's CPU time
    before its first line runs: Python's start-up, site and the path finders."""
    runs: list[dict[str, float]] = []
    for _ in range(repeat):
        before = os.times()
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--child", str(path)],
            cwd=tree,
            env=_env(tree),
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
        after = os.times()
        total = (after.children_user - before.children_user) + (
            after.children_system - before.children_system
        )
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        figures["interpreter"] = total - sum(figures.values())
        runs.append(figures)
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def child(path: str) -> None:
    """One `triage matrix --manifests PATH` (text output), timed phase by phase."""
    t0 = time.process_time()
    from triage.cli import build_parser

    try:
        parser = build_parser("matrix")  # this tree: the matrix command's module only
    except TypeError:
        parser = build_parser()  # an older tree (--tree): every command's module
    args = parser.parse_args(["matrix", "--manifests", path])
    from triage.commands.common import load_source
    from triage.commands.matrix import matrix_renderable
    from triage.policy.matrix import compute_matrix

    t1 = time.process_time()
    loaded = load_source(args)
    t2 = time.process_time()
    matrix = compute_matrix(loaded.snapshot, [], None)
    t3 = time.process_time()
    from rich.console import Console

    with open(os.devnull, "w", encoding="utf-8") as sink:
        console = Console(file=sink, highlight=False, width=100)
        console.print(matrix_renderable(matrix))
    t4 = time.process_time()
    figures = {
        "imports+parser": t1 - t0,
        "load": t2 - t1,
        "matrix": t3 - t2,
        "output": t4 - t3,
    }
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,10000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--format", choices=("json", "yaml"), default="json")
    parser.add_argument("--tree", type=Path, default=ROOT)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    tree = args.tree.resolve()
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "triage"], cwd=tree, check=True, timeout=300
    )
    python = [sys.executable]
    floor, floor_cpu = wall([*python, "-m", "triage", "--help"], tree, args.repeat)
    print(
        f"tree {tree}, python {sys.version.split()[0]}, nproc {os.cpu_count()}, "
        f"median of {args.repeat}"
    )
    print(f"triage --help: {floor * 1000:.0f} ms wall, {floor_cpu * 1000:.0f} ms CPU")
    print(
        f"{'pods/policies':>14} {'wall':>8} {'CPU':>8} | CPU by phase: {'start':>7} "
        f"{'imports':>8} {'load':>7} {'matrix':>7} {'output':>7}"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        path = cluster_file(size, args.format)
        whole, cpu = wall(
            [*python, "-m", "triage", "matrix", "--manifests", str(path)], tree, args.repeat
        )
        split = phases(path, tree, args.repeat)
        print(
            f"{size:>8}/{size // 5:<5} {whole:>7.2f}s {cpu:>7.2f}s |{'':>14}"
            f"{split['interpreter']:>6.2f}s "
            f"{split['imports+parser']:>7.2f}s {split['load']:>6.2f}s {split['matrix']:>6.2f}s "
            f"{split['output']:>6.2f}s",
            flush=True,
        )


if __name__ == "__main__":
    main()
