"""Speed guards that used to be wall-clock assertions in unit tests, measured here instead.

    .venv/bin/python benchmarks/bench_guards.py [--pods 10000] [--plan-pods 1200] [--repeat 3]

On the generated cluster (`benchmarks/generator.py`, seed 0), after a "rollout" that
removes the frontend→backend egress policy of every tenth namespace:

- `candidate_flows` with the known-good set (the flows that regressed), and without one
  (the flows DNS or isolation leaves dark): the flow picker's first list;
- `make_plan` back to the known-good set: the rollback screen's plan and its connectivity
  delta, on a cluster of `--plan-pods` (the unit test's guard was at 1,200 pods; the delta
  is judged per workload pair, so it grows with the square of the workloads).

Median wall-clock and CPU seconds of `--repeat` runs; the CPU time is held against the
targets the unit tests used to assert on the wall clock (20 s, 10 s, 10 s; the unit tests
now assert only what was found), because on a shared machine the wall clock measures the
neighbours.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.generator import generate_cluster, iter_items  # noqa: E402
from triage.checklist import candidate_flows  # noqa: E402
from triage.model import Snapshot  # noqa: E402
from triage.model.incident import Incident, IncidentMeta, KnownGood  # noqa: E402
from triage.rollback.plan import make_plan  # noqa: E402
from triage.rollback.policyset import PolicySet  # noqa: E402
from triage.sources.assemble import assemble, flatten  # noqa: E402


def measure(work: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = work()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), result


def rolled_out(pods: int) -> tuple[Snapshot, Snapshot, int, int]:
    """The generated cluster (policies = pods / 5) as known good, and after a rollout that
    removed the frontend→backend policies of every tenth namespace."""
    cluster = generate_cluster(pods=pods, policies=pods // 5, seed=0)
    documents = [d for i, item in enumerate(iter_items(cluster)) for d in flatten("gen", i, item)]
    good, _ = assemble(documents)
    rolled = set(sorted({p.namespace for p in good.policies})[::10])
    now = good.with_policies(
        tuple(
            p
            for p in good.policies
            if not (p.namespace in rolled and "frontend" in p.name and "backend" in p.name)
        )
    )
    return good, now, len(good.policies) - len(now.policies), len(rolled)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--plan-pods", type=int, default=1_200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    for pods, which in ((args.pods, "candidates"), (args.plan_pods, "plan")):
        good, now, removed, namespaces = rolled_out(pods)
        print(
            f"{len(now.pods)} pods, {len(good.policies)} policies, the rollout removed "
            f"{removed} in {namespaces} namespaces; median of {args.repeat}"
        )
        incident = Incident(
            IncidentMeta("bench"), now, known_good=(KnownGood("before", "", good.policies),)
        )
        target = PolicySet("known-good", good.policies)
        rows: list[tuple[str, float, Callable[[], Any]]] = (
            [
                ("candidate_flows, known-good set", 20.0, partial(candidate_flows, now, incident)),
                ("candidate_flows, no known-good set", 10.0, partial(candidate_flows, now)),
            ]
            if which == "candidates"
            else [
                (
                    "make_plan back to the known-good",
                    10.0,
                    partial(make_plan, now, target, context="c"),
                )
            ]
        )
        for title, target_s, work in rows:
            wall, cpu, result = measure(work, args.repeat)
            found = len(result) if isinstance(result, list) else len(result.operations)
            verdict = "ok" if cpu <= target_s else "OVER TARGET"  # CPU: steadier when shared
            print(
                f"  {title:<36} {wall:>6.2f} s wall {cpu:>6.2f} s CPU  ({found} found; "
                f"target ≤ {target_s:.0f} s: {verdict})",
                flush=True,
            )


if __name__ == "__main__":
    main()
