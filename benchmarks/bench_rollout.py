"""Rollout benchmark: generate the default-deny rollout (default-deny, DNS guardrail,
least-privilege allows) for every namespace of a generated cluster from random observed
flows, each observed flow judged by the engine under the current and the candidate set.
One command:

    .venv/bin/python benchmarks/bench_rollout.py [--pods 5000] [--policies 500] [--flows 50000]

The cluster and the flows come from benchmarks/generator.py (seeded). Timed: resolving the
flows, building the policies and verifying every observed connection (`rollout.generate`),
the best of `--repeat` runs, wall clock and CPU. The plan and its connectivity delta
(`plan_rollout`) are the rollback's and are measured by its own figures, not here. Target
(issue 14): 5k pods / 50k observed flows under 10 s. Never asserted by the unit tests.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.generator import generate_cluster, sample_flows  # noqa: E402
from triage.rollout import Observed, generate  # noqa: E402
from triage.sources.assemble import assemble  # noqa: E402

TARGET_S = 10.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=5000)
    parser.add_argument("--policies", type=int, default=500)
    parser.add_argument("--flows", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)

    cluster = generate_cluster(args.pods, args.policies, args.seed)
    snapshot, _ = assemble(("bench.yaml", i, d) for i, d in enumerate(cluster["items"]))
    flows = sample_flows(snapshot, args.flows, args.seed)
    namespaces = tuple(ns.name for ns in snapshot.namespaces if ns.name != "kube-system")
    observed = Observed(tuple(flows), (), ("generator",))
    print(
        f"cluster: {len(snapshot.pods)} pods, {len(snapshot.policies)} policies, "
        f"{len(namespaces)} rollout namespaces; {len(flows)} observed flows"
    )
    best_wall = best_cpu = float("inf")
    gen = None
    for _ in range(max(1, args.repeat)):
        wall, cpu = time.perf_counter(), time.process_time()
        gen = generate(snapshot, namespaces, observed)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    assert gen is not None
    print(
        f"generated {len(gen.generated)} policies from {len(gen.connections)} connections "
        f"({len(gen.unresolved)} flows unresolved); kept {len(gen.kept)}, "
        f"would break {len(gen.breaks)}"
    )
    verdict = "ok" if best_wall <= TARGET_S else "OVER TARGET"
    print(
        f"generate: {best_wall:.2f} s wall, {best_cpu:.2f} s CPU "
        f"(target ≤ {TARGET_S:.0f} s: {verdict})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
