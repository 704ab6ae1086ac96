"""The matrix with admin tiers: 5k pods / 500 NetworkPolicies, without and with 50
ClusterNetworkPolicies (the same cluster otherwise). Target: with ≤ 2× without.

    .venv/bin/python benchmarks/bench_tiers.py [--pods 5000 --policies 500 --cnps 50 --repeat 5]

Times `compute_matrix` (classes, class matrix, workload cells) in process, median of
`--repeat` runs, after one warm-up; loading is reported apart.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.generator import generate_cluster, iter_items
from triage.model import Snapshot
from triage.policy.classes import compile_snapshot
from triage.policy.matrix import compute_matrix
from triage.sources.assemble import assemble


def load(pods: int, policies: int, cnps: int, seed: int) -> tuple[Snapshot, float]:
    started = time.perf_counter()
    cluster = generate_cluster(pods, policies, seed, cnps)
    snapshot, _ = assemble(("generated", i, d) for i, d in enumerate(iter_items(cluster)))
    return snapshot, time.perf_counter() - started


def measure(snapshot: Snapshot, repeat: int) -> tuple[float, int, int]:
    compute_matrix(snapshot)  # warm-up
    times = []
    cells = classes = 0
    for _ in range(repeat):
        started = time.perf_counter()
        m = compute_matrix(snapshot, model=compile_snapshot(snapshot))
        times.append(time.perf_counter() - started)
        cells, classes = m.count, len(compile_snapshot(snapshot).classes)
    return statistics.median(times), cells, classes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=5000)
    parser.add_argument("--policies", type=int, default=500)
    parser.add_argument("--cnps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    plain, t_plain = load(args.pods, args.policies, 0, args.seed)
    tiered, t_tiered = load(args.pods, args.policies, args.cnps, args.seed)
    base, base_cells, base_classes = measure(plain, args.repeat)
    with_tiers, cells, classes = measure(tiered, args.repeat)
    ratio = with_tiers / base if base else float("inf")
    print(f"cluster: {args.pods} pods, {args.policies} NetworkPolicies, seed {args.seed}")
    print(
        f"load (generate + parse): {t_plain:.2f} s without, {t_tiered:.2f} s with {args.cnps} CNPs"
    )
    print(
        f"matrix without ClusterNetworkPolicies: {base * 1000:.0f} ms median of {args.repeat} "
        f"({base_classes} classes, {base_cells} allowed cells)"
    )
    print(
        f"matrix with {args.cnps} ClusterNetworkPolicies: {with_tiers * 1000:.0f} ms median of "
        f"{args.repeat} ({classes} classes, {cells} allowed cells)"
    )
    verdict = "OK" if ratio <= 2.0 else "OVER TARGET"
    print(f"ratio with/without: {ratio:.2f}x (target ≤ 2.00x) {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
