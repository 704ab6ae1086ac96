"""Benchmark: `triage record` of a 10k-pod cluster served by the Kubernetes API test server.

    .venv/bin/python benchmarks/bench_record.py                # 10,000 pods, 3 runs
    .venv/bin/python benchmarks/bench_record.py --pods 2000 --runs 1 --decode models

The server runs in this process (its own thread); every measured run is a fresh
subprocess running `triage record` (triage.cli.main), so the time includes interpreter start
and imports. Peak memory is the child's VmHWM from /proc: not ru_maxrss, which Linux
carries over from the forking parent (this process, holding the server's 10k pods) across
exec. A second child run times the phases as the CLI runs them (load_live with redaction and
the one parse, building the incident, write).

Targets: ≤ 10 s and ≤ 600 MB for 10,000 pods. The exit status is 1 when one is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET_SECONDS = 10.0
TARGET_MB = 600.0

Manifest = dict[str, Any]


# ------------------------------------------------------------------------------ the cluster


def local_cluster(pods: int, policies: int, seed: int) -> list[Manifest]:
    """A deterministic cluster shaped like a real one: ~200 pods per namespace, Deployments'
    pods with owner references, two containers with named ports, full container statuses,
    a Service per app, and per namespace a default deny plus allow rules."""
    import random

    from tests.kubeapi.builders import namespace, network_policy, pod, service

    rng = random.Random(seed)
    namespaces = max(1, pods // 200)
    apps_per_ns = 20
    objects: list[Manifest] = []
    for n in range(namespaces):
        objects.append(
            namespace(f"team-{n:03d}", {"team": f"t{n % 17}", "env": rng.choice(["prod", "dev"])})
        )
    for i in range(pods):
        ns = f"team-{i % namespaces:03d}"
        app = f"app-{(i // namespaces) % apps_per_ns:02d}"
        manifest = pod(
            f"{app}-{i:06x}-{rng.randrange(16**5):05x}",
            ns,
            labels={
                "app": app,
                "tier": rng.choice(["web", "api", "db", "worker"]),
                "version": f"v{rng.randrange(1, 4)}",
                "pod-template-hash": f"{rng.randrange(16**8):08x}",
            },
            ip=f"10.{64 + i // 65000}.{(i // 250) % 256}.{i % 250 + 1}",
            node=f"node-{i % 40:02d}",
            containers=("app", "sidecar"),
            ports=(("http", 8080, "TCP"), ("metrics", 9090, "TCP")),
        )
        manifest["metadata"]["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": f"{app}-{i % 7:x}c9d8f6b5",
                "uid": f"00000000-0000-4000-8000-{i:012d}",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        manifest["metadata"]["annotations"] = {
            "kubectl.kubernetes.io/default-container": "app",
            "prometheus.io/scrape": "true",
        }
        manifest["spec"]["containers"][0]["env"] = [{"name": "MODE", "value": "production"}]
        objects.append(manifest)
    for n in range(namespaces):
        ns = f"team-{n:03d}"
        for a in range(apps_per_ns):
            objects.append(
                service(
                    f"app-{a:02d}",
                    ns,
                    selector={"app": f"app-{a:02d}"},
                    ports=(("http", 80, "http", "TCP"),),
                    cluster_ip=f"10.96.{n}.{a + 1}",
                )
            )
    for p in range(policies):
        ns = f"team-{p % namespaces:03d}"
        if p < namespaces:
            objects.append(network_policy("default-deny", ns, policy_types=["Ingress", "Egress"]))
            continue
        app = f"app-{p % apps_per_ns:02d}"
        objects.append(
            network_policy(
                f"allow-{app}-{p}",
                ns,
                pod_selector={"matchLabels": {"app": app}},
                ingress=[
                    {
                        "from": [
                            {
                                "namespaceSelector": {"matchLabels": {"team": f"t{p % 17}"}},
                                "podSelector": {
                                    "matchExpressions": [
                                        {"key": "tier", "operator": "In", "values": ["web", "api"]}
                                    ]
                                },
                            }
                        ],
                        "ports": [{"port": "http"}, {"port": 9090, "protocol": "TCP"}],
                    }
                ],
                egress=[{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}]}],
            )
        )
    return objects


def cluster_objects(pods: int, policies: int, seed: int) -> tuple[list[Manifest], str]:
    """benchmarks/generator.py's generate_cluster when it exists, else the local one."""
    try:
        from benchmarks.generator import generate_cluster  # type: ignore[import-not-found]
    except ImportError:
        return local_cluster(pods, policies, seed), "local generator (bench_record.py)"
    generated = generate_cluster(pods, policies, seed)
    return list(_flatten(generated)), "benchmarks/generator.py generate_cluster"


def _flatten(generated: Any) -> Iterable[Manifest]:
    if isinstance(generated, dict) and "items" in generated:
        yield from generated["items"]
    elif isinstance(generated, dict):
        for key in ("namespaces", "pods", "services", "networkPolicies", "network_policies"):
            yield from generated.get(key) or []
    else:
        for item in generated:
            yield from _flatten(item) if isinstance(item, list) else [item]


# ------------------------------------------------------------------------------ children


def child_phases(kubeconfig: str, out: str, decode: str) -> None:
    """In a fresh interpreter: time each phase of a record, print one JSON line."""
    started = time.perf_counter()
    from triage.commands.record import build_incident, utc_now
    from triage.sources.live import LiveTarget, load_live
    from triage.sources.recording import write_incident

    imported = time.perf_counter()
    peaks = {"import": peak()}
    target = LiveTarget(kubeconfig=Path(kubeconfig))
    load = load_live(target, decode=decode, redact=True)  # type: ignore[arg-type]
    loaded = time.perf_counter()
    peaks["load_live"] = peak()
    incident = build_incident(load, captured_at=utc_now())
    built = time.perf_counter()
    peaks["build"] = peak()
    write_incident(incident, out)
    written = time.perf_counter()
    peaks["write"] = peak()
    print(
        json.dumps(
            {
                "seconds": {
                    "import": imported - started,
                    "load_live": loaded - imported,
                    "build": built - loaded,
                    "write": written - built,
                },
                "peak_mb_after": peaks,
                "pods": len(incident.snapshot.pods),
            }
        )
    )


def peak() -> float:
    """This process's peak RSS in MB since exec (VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource  # not Linux: the best there is

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_record(argv: list[str]) -> int:
    """`triage record ARGV...` in this fresh interpreter; the peak goes to stdout."""
    from triage.cli import main as triage_main

    code = triage_main(["record", *argv])
    print(json.dumps({"peak_mb": peak()}))
    return code


def run_child(argv: list[str]) -> tuple[float, str]:
    """Run a subprocess; (wall seconds, stdout)."""
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, cwd=ROOT, check=False)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr.decode(errors="replace"))
        raise SystemExit(f"child failed ({proc.returncode}): {' '.join(argv)}")
    return wall, proc.stdout.decode()


def last_json(stdout: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return result


# ------------------------------------------------------------------------------ main


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--policies", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--decode", choices=("json", "models"), default="json")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--child-phases", nargs=3, metavar=("KUBECONFIG", "OUT", "DECODE"))
    parser.add_argument("--child-record", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.child_record:
        return child_record(args.child_record)
    if args.child_phases:
        child_phases(*args.child_phases)
        return 0

    from tests.kubeapi import KubeApiServer

    t0 = time.perf_counter()
    objects, source = cluster_objects(args.pods, args.policies, args.seed)
    server = KubeApiServer()
    server.seed(objects=objects)
    seeded = time.perf_counter() - t0
    pods = sum(1 for o in objects if o.get("kind") == "Pod")
    del objects
    server.start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-record-") as tmp:
            kubeconfig = server.write_kubeconfig(Path(tmp) / "kubeconfig")
            out = Path(tmp) / "incident.yaml"
            walls: list[float] = []
            peaks: list[float] = []
            me = [sys.executable, str(Path(__file__).resolve())]
            record = [*me, "--child-record", "-o", str(out), "--kubeconfig", str(kubeconfig)]
            if args.decode == "models":
                # The CLI always decodes JSON; the model path is measured by the phases run.
                walls, peaks = [], []
            else:
                for _ in range(args.runs):
                    wall, stdout = run_child(record)
                    walls.append(wall)
                    peaks.append(last_json(stdout)["peak_mb"])
            size = out.stat().st_size if out.exists() else 0
            phase_argv = [*me, "--child-phases", str(kubeconfig), str(out), args.decode]
            phase_wall, phase_out = run_child(phase_argv)
            phases = last_json(phase_out)
            phase_peak = max(phases["peak_mb_after"].values())
    finally:
        server.stop()

    result = {
        "machine": machine(),
        "cluster": f"{pods} pods, {args.policies} policies ({source}), seeded in {seeded:.1f}s",
        "decode": args.decode,
        "record_wall_s": walls,
        "record_wall_median_s": statistics.median(walls) if walls else None,
        "record_peak_mb": max(peaks) if peaks else None,
        "file_mb": size / 2**20,
        "phases_s": {k: round(v, 3) for k, v in phases["seconds"].items()},
        "phases_peak_mb_after": {k: round(v) for k, v in phases["peak_mb_after"].items()},
        "phases_wall_s": phase_wall,
        "phases_peak_mb": phase_peak,
    }
    wall_ok = (result["record_wall_median_s"] or phase_wall) <= TARGET_SECONDS
    peak_ok = (result["record_peak_mb"] or phase_peak) <= TARGET_MB
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"machine:  {result['machine']}")
        print(f"cluster:  {result['cluster']}")
        if walls:
            runs = ", ".join(f"{w:.2f}" for w in walls)
            print(
                f"triage record: median {result['record_wall_median_s']:.2f} s ({runs}), "
                f"peak {result['record_peak_mb']:.0f} MB, file {result['file_mb']:.1f} MB"
            )
        print(
            f"phases ({args.decode}): "
            + ", ".join(f"{k} {v:.2f} s" for k, v in result["phases_s"].items())
            + f"; total {phase_wall:.2f} s, peak {phase_peak:.0f} MB"
        )
        print(
            "peak MB after: "
            + ", ".join(f"{k} {v}" for k, v in result["phases_peak_mb_after"].items())
        )
        print(
            f"targets: ≤ {TARGET_SECONDS:g} s {'ok' if wall_ok else 'MISSED'}, "
            f"≤ {TARGET_MB:g} MB {'ok' if peak_ok else 'MISSED'}"
        )
    return 0 if wall_ok and peak_ok else 1


if __name__ == "__main__":
    sys.exit(main())
