"""Benchmark: stream, aggregate and reconcile a 1M-line Hubble capture. One command:

    .venv/bin/python benchmarks/bench_flowlogs.py [--lines 1000000] [--distinct 5000]

Generates `--lines` Hubble flow lines (`hubble observe -o json` shape: wrapped and bare,
~1 KiB each, a quarter of them replies, drops with POLICY_DENIED / POLICY_DENY and
attribution lists) between pods of benchmarks/generator.py's cluster (2k pods / 400
policies), over `--distinct` distinct flows, into a temporary file (not timed). Then, in a
fresh interpreter per size, times `read_flow_log` + `aggregate` (the stream) and `reconcile`
on the snapshot, and reports the child's peak RSS. The stream is run on a tenth of the file
and on all of it: memory that does not grow with the file is what "constant memory" means.
Target: 1M lines streamed, aggregated and reconciled in < 30 s; peak RSS of the 1M run
within 10% (+20 MB) of the 100k run. Wall clock on a shared machine (load average printed).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET_S = 30.0
PODS, POLICIES, SEED = 2000, 400, 0


def _snapshot():  # type: ignore[no-untyped-def]
    from benchmarks.generator import generate_cluster, iter_items
    from triage.sources.assemble import assemble

    cluster = generate_cluster(PODS, POLICIES, SEED)
    snapshot, _ = assemble(("bench", i, d) for i, d in enumerate(iter_items(cluster)))
    return snapshot


def _endpoint(pod) -> dict:  # type: ignore[no-untyped-def]
    labels = [f"k8s:{k}={v}" for k, v in sorted(pod.labels.items())]
    labels.append(f"k8s:io.kubernetes.pod.namespace={pod.namespace}")
    return {
        "ID": 1000 + hash(pod.key) % 3000,
        "identity": 20000 + hash(pod.key) % 9000,
        "namespace": pod.namespace,
        "labels": labels,
        "pod_name": pod.name,
        "workloads": [{"name": pod.workload, "kind": "Deployment"}],
    }


def generate(path: Path, lines: int, distinct: int) -> None:
    snapshot = _snapshot()
    pods = [p for p in snapshot.pods if p.ips and p.ports]
    rng = random.Random(SEED)
    flows = []
    for _ in range(distinct):
        src, dst = rng.sample(pods, 2)
        port = rng.choice(dst.ports)
        flows.append((src, dst, port.port, port.protocol))
    deny = [{"name": "deny-legacy", "namespace": "team-000", "kind": "CiliumNetworkPolicy"}]
    with path.open("w", encoding="utf-8") as out:
        for i in range(lines):
            src, dst, port, proto = flows[int(rng.paretovariate(1.2)) % distinct]
            reply = i % 4 == 3
            dropped = not reply and i % 5 == 0
            a, b = (dst, src) if reply else (src, dst)
            layer = {"source_port": 40000 + i % 20000, "destination_port": 43512 if reply else port}
            if proto == "TCP":
                layer["flags"] = {"SYN": True, "ACK": True} if reply else {"SYN": True}
            flow = {
                "time": f"2026-12-04T03:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}."
                f"{i % 1000:03d}000000Z",
                "uuid": f"00000000-0000-4000-8000-{i:012d}",
                "verdict": "DROPPED" if dropped else "FORWARDED",
                "ethernet": {"source": "aa:bb:cc:dd:ee:01", "destination": "aa:bb:cc:dd:ee:02"},
                "IP": {"source": a.ips[0], "destination": b.ips[0], "ipVersion": "IPv4"},
                "l4": {proto: layer},
                "source": _endpoint(a),
                "destination": _endpoint(b),
                "Type": "L3_L4",
                "node_name": f"node-{i % 7}",
                "event_type": {"type": 1 if dropped else 4},
                "traffic_direction": "INGRESS" if i % 2 else "EGRESS",
                "is_reply": reply,
                "Summary": "TCP Flags: SYN",
            }
            if dropped:
                flow["drop_reason"] = 181 if i % 3 == 0 else 133
                flow["drop_reason_desc"] = "POLICY_DENY" if i % 3 == 0 else "POLICY_DENIED"
                if i % 3 == 0:
                    flow["egress_denied_by"] = deny
            body = {"flow": flow, "node_name": flow["node_name"], "time": flow["time"]}
            out.write(json.dumps(body if i % 2 else flow) + "\n")


CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[3])
from benchmarks.bench_flowlogs import _snapshot
from triage.model.datapath import aggregate
from triage.policy.reconcile import reconcile
from triage.sources.flowlogs import read_flow_log
import itertools
snapshot = _snapshot()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
limit = int(sys.argv[2])
t0, c0 = time.perf_counter(), time.process_time()
agg = aggregate(itertools.islice(read_flow_log(sys.argv[1]), limit))
t1, c1 = time.perf_counter(), time.process_time()
items = reconcile(snapshot, agg)
t2, c2 = time.perf_counter(), time.process_time()
print(json.dumps({
    "stream_s": t1 - t0, "reconcile_s": t2 - t1, "cpu_s": c2 - c0, "records": agg.records,
    "replies": agg.replies, "distinct": len(agg.flows), "warnings": len(agg.warnings),
    "agree": sum(1 for r in items if r.agree),
    "disagree": sum(1 for r in items if r.agree is False),
    "rss_before_mb": base / 1024,
    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def run_child(path: Path, limit: int) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(limit), str(ROOT)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--distinct", type=int, default=5000)
    args = parser.parse_args()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"nproc {os.cpu_count()}, {sys.version.split()[0]}, load average {load}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "capture.json"
        started = time.perf_counter()
        generate(path, args.lines, args.distinct)
        size = path.stat().st_size / 2**20
        print(
            f"generated {args.lines:,} lines ({size:,.0f} MiB, {args.distinct:,} distinct flows "
            f"on {PODS} pods / {POLICIES} policies) in {time.perf_counter() - started:.1f} s"
        )
        small = run_child(path, max(args.lines // 10, 1))
        full = run_child(path, args.lines)
    for label, r in (("1/10", small), ("all", full)):
        lines = r["records"] + r["replies"] + r["warnings"]
        print(
            f"{label:>4}: {lines:>9,} lines  stream+aggregate {r['stream_s']:6.2f} s "
            f"({lines / r['stream_s']:,.0f} lines/s)  reconcile {r['reconcile_s']:5.2f} s  "
            f"(CPU {r['cpu_s']:.1f} s) "
            f"({r['distinct']:,} flows: {r['agree']:,} agree, {r['disagree']:,} disagree)  "
            f"peak RSS {r['rss_mb']:,.0f} MB (snapshot alone {r['rss_before_mb']:,.0f} MB)"
        )
    total = full["stream_s"] + full["reconcile_s"]
    grew = full["rss_mb"] - small["rss_mb"]
    constant = grew <= 0.1 * small["rss_mb"] + 20
    verdict = "met" if total < TARGET_S else "MISSED"
    print(
        f"total {total:.1f} s wall, {full['cpu_s']:.1f} s CPU (target < {TARGET_S:.0f} s: "
        f"{verdict}); peak RSS grew {grew:+.0f} MB from 1/10 to all "
        f"({'constant' if constant else 'GROWS'})"
    )
    return 0 if total < TARGET_S and constant else 1


if __name__ == "__main__":
    sys.exit(main())
