"""Fix benchmark: the `triage explain --fix` logic on every denied pod-to-pod flow of many
seeded random clusters. One command:

    .venv/bin/python benchmarks/bench_fixes.py [--clusters 300] [--seed 0]

Each cluster comes from benchmarks/generator.py (seeded; 10 to 50 pods in namespaces of
up to 15, 0 to 10 policies per namespace, so isolation is partial and varied). For every
ordered pair of distinct pods and every port the destination declares, a flow the engine
denies goes through exactly what `explain --fix` runs: `explain`, then
`verify.verified_fix` (the builder, then the verifier, against one baseline per cluster).

Figures: fixes made; denied flows no policy can fix (a named port the pod lacks); flows the
fixes open besides their target (and how many of those leave the two ends' workloads);
fixes that need a label; closes (flows allowed before and denied after: must be 0); and
failures (a fix that does not open its flow by `explain` on the cluster with the fix
applied, or an exception: must be 0). Wall clock is the machine's, shared and noisy.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import benchmarks.generator as generator  # noqa: E402
from triage.model import Flow, PodRef, Snapshot  # noqa: E402
from triage.policy import explain  # noqa: E402
from triage.policy.matrix import class_matrix  # noqa: E402
from triage.policy.verify import baseline, verified_fix  # noqa: E402
from triage.sources.assemble import assemble, flatten  # noqa: E402


def random_cluster(seed: int) -> Snapshot:
    rng = random.Random(seed)
    generator.PODS_PER_NAMESPACE = 15  # several namespaces per small cluster
    pods = rng.randint(10, 50)
    namespaces = -(-(pods - generator.DNS_PODS) // generator.PODS_PER_NAMESPACE)
    policies = rng.randint(0, 10 * namespaces)
    snapshot, _ = assemble(
        flatten("bench.yaml", 0, generator.generate_cluster(pods, policies, seed))
    )
    return snapshot


def denied_flows(snapshot: Snapshot) -> list[Flow]:
    """Every denied pod-to-pod flow on a port the destination declares (found with the
    class matrix, each then re-asked of the engine)."""
    base = baseline(snapshot)
    matrix = class_matrix(base.model)
    out = []
    for s in snapshot.pods:
        for d in snapshot.pods:
            if s.key == d.key:
                continue
            allowed = matrix.pod_ports(s, d)
            for cp in d.ports:
                if (cp.protocol, cp.port) not in allowed:
                    out.append(
                        Flow(
                            PodRef(s.namespace, s.name),
                            PodRef(d.namespace, d.name),
                            cp.port,
                            cp.protocol,
                        )
                    )
    return out


def run(clusters: int, seed: int) -> int:
    figures: Counter[str] = Counter()
    failures: list[str] = []
    started = time.perf_counter()
    for i in range(clusters):
        snapshot = random_cluster(seed + i)
        figures["clusters"] += 1
        figures["pods"] += len(snapshot.pods)
        base = baseline(snapshot)
        for flow in denied_flows(snapshot):
            figures["denied"] += 1
            try:
                explanation = explain(snapshot, flow)
                if explanation.allowed:
                    failures.append(f"seed {seed + i}: matrix and engine disagree on {flow}")
                    continue
                verification = verified_fix(snapshot, explanation, base=base)
                if verification is None:
                    figures["not fixable"] += 1
                    continue
                figures["fixes"] += 1
                figures["fixes with labels"] += bool(verification.fix.labels)
                figures["closes"] += len(verification.closes)
                figures["opens besides the target"] += len(verification.opens)
                figures["fixes opening others"] += bool(verification.opens)
                src = snapshot.pod_by_key[str(flow.source)]
                dst = snapshot.pod_by_key[str(flow.destination)]
                for opened in verification.opens:
                    a = snapshot.pod_by_key[opened.source]
                    b = snapshot.pod_by_key[opened.destination]
                    if (a.namespace, a.workload) != (src.namespace, src.workload) or (
                        b.namespace,
                        b.workload,
                    ) != (dst.namespace, dst.workload):
                        figures["opens beyond the two workloads"] += 1
                if not verification.target_allowed:
                    failures.append(f"seed {seed + i}: the fix does not open {flow}")
                elif verification.closes:
                    failures.append(
                        f"seed {seed + i}: the fix for {flow} closes {verification.closes[0]}"
                    )
            except Exception as exc:  # a benchmark reports, it does not stop
                failures.append(f"seed {seed + i}: {flow}: {type(exc).__name__}: {exc}")
    elapsed = time.perf_counter() - started
    print(
        f"clusters: {figures['clusters']} (seeds {seed}..{seed + clusters - 1}), "
        f"pods: {figures['pods']}"
    )
    print(f"denied pod-to-pod flows (declared ports): {figures['denied']}")
    print(f"fixes made: {figures['fixes']}   not fixable by policy: {figures['not fixable']}")
    print(f"fixes that need a label added: {figures['fixes with labels']}")
    print(
        f"flows opened besides the target: {figures['opens besides the target']} "
        f"(by {figures['fixes opening others']} fixes; "
        f"{figures['opens beyond the two workloads']} beyond the two ends' workloads)"
    )
    print(f"closes (must be 0): {figures['closes']}")
    print(f"failures (must be 0): {len(failures)}")
    for line in failures[:10]:
        print(f"  {line}")
    per_fix = 1000 * elapsed / max(1, figures["denied"])
    print(f"wall clock: {elapsed:.1f} s ({per_fix:.2f} ms per denied flow)")
    return 1 if failures or figures["closes"] else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clusters", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    return run(args.clusters, args.seed)


if __name__ == "__main__":
    sys.exit(main())
