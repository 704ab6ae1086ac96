"""The reachability matrix, side by side with network-config-analyzer (NCA).

For each generated cluster size: time and peak memory of `triage matrix -o json` (the whole
process: interpreter, imports, loading, computing, writing) against NCA's connectivity map
(`nca --connectivity -r FILE --output_format txt_no_fw_rules --output_endpoints pods`, run by
benchmarks/nca/nca_pairs.py under NCA's own venv: imports plus query, peak RSS taken when the
query returns), then every ordered pod pair compared port by port, each disagreement sorted
into its cause (benchmarks/nca/compare.py). Then the edge-case files in
benchmarks/nca/edge-cases/.

Set up NCA once (it is never a dependency of triage):

    python3 -m venv benchmarks/nca/.venv
    benchmarks/nca/.venv/bin/pip install network-config-analyzer==2.1.0

Run:

    .venv/bin/python benchmarks/bench_matrix.py                 # shared generator, all sizes
    .venv/bin/python benchmarks/bench_matrix.py --sizes 500:50 --families shared,stress

Writes raw results to benchmarks/results/ (not committed) and the table to
benchmarks/MATRIX_RESULTS.md (with --write-md).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE / "nca"))

from compare import compare  # noqa: E402

NCA_PYTHON = HERE / "nca" / ".venv" / "bin" / "python"
NCA_DRIVER = HERE / "nca" / "nca_pairs.py"
RESULTS = HERE / "results"
DEFAULT_SIZES = "500:50,1000:100,2000:200,3000:300,5000:500"

ANALYSIS = """\
## Every kind of disagreement, and who is right

Each disagreement above was sorted by re-running triage under one of NCA's assumptions
and checking that the pair then agrees (benchmarks/nca/compare.py); none was left over
in the generated clusters. Judged against docs/architecture.md's semantics:

1. **`ipblock-pod-ip`: triage is right.** NCA never matches a pod's IP against an
   ipBlock (it models ipBlocks as addresses outside the cluster). docs/architecture.md: "ipBlock
   matches the peer's IP (pod IPs included)", which is also what the upstream NetworkPolicy
   e2e tests rely on ("should allow egress access to server in CIDR block" uses the server
   pod's IP). The same cause covers a pod without an IP as destination: triage, like
   `triage explain`, evaluates the source's primary IP (and warns that the destination has
   no IP). Because CNIs differ here and pod IPs are ephemeral, `triage lint` reports such
   rules (`ipblock-pods`).
2. **`nca-exists-scope`: triage is right (an NCA bug).** For `Exists`/`DoesNotExist` in a
   peer's podSelector NCA only looks at pods of the policy's own namespace
   (`K8sPolicyYamlParser.parse_requirement` calls
   `PeerContainer.get_peers_with_key(self.namespace, ...)`, while In/NotIn search every
   namespace), so `namespaceSelector: X` + `podSelector: {key: k, operator: Exists}` never
   matches a pod of another namespace. Kubernetes selects the pods having the key in every
   namespace X selects. Minimal case: edge-cases/exists-across-namespaces.yaml.
3. **`namespace-name-label`: triage follows docs/architecture.md.** NCA gives every namespace
   `kubernetes.io/metadata.name`; triage evaluates the labels the snapshot records. A live
   cluster of 1.21 or later always carries the label, so both agree there; for a
   pre-1.21 cluster or a hand-made manifest triage says the namespaceSelector does not match
   and why (docs/architecture.md names this as a classic cause of blocked traffic). NCA
   describes what a current API server would do after re-applying the manifests.
4. **Port name declared in two containers (edge-cases/selectors-and-ports.yaml,
   `other (self)`): triage is right.** Pod `a/p1` declares port name `http` in two
   containers. The API docs ask for unique names, but the apiserver only refuses a duplicate
   inside one container (triage refuses that too); across containers it accepts the pod,
   and Kubernetes resolves a named port to the first match (FindPort, as for a Service's
   targetPort). triage takes the first (8080), NCA the last (9090).
5. **Input NCA refuses (edge-cases/rejected-by-nca.yaml): triage is right.** A policy with
   `ingress` rules whose policyTypes lacks Ingress: the API server accepts it and the rules
   have no effect, which is what triage does; NCA rejects the whole input.

Not disagreements, but differences of scope: NCA keeps at most two pods per
(namespace, owner, labels) group and drops the rest (the comparison covers the pods it
keeps; triage groups pods into equivalence classes instead and still answers per pod, IPs
included); NCA adds synthetic `*-livesim` pods (left out); NCA's map also has IP-range
endpoints, triage's matrix is pods only (addresses outside the cluster are in
`triage exposure`). A pod's traffic to itself is evaluated like any other flow by both
(NCA only hides these pairs in its printed output); hostNetwork pods are treated as
ordinary pods by both (triage warns).
"""


def generate(family: str, pods: int, policies: int, seed: int, out: Path) -> Path:
    """`shared`: benchmarks/generator.py (one List file); `stress`: benchmarks/nca/generate.py
    (ipBlocks over pod subnets, NotIn, env/team namespace selectors; a folder)."""
    if family == "shared":
        from benchmarks.generator import generate_cluster, write_cluster

        path = out / f"shared-{pods}-{policies}-{seed}.json"
        if not path.exists():
            write_cluster(generate_cluster(pods, policies, seed), path)
        return path
    from generate import generate_cluster as stress_cluster
    from generate import write_cluster as write_stress

    folder = out / f"stress-{pods}-{policies}-{seed}"
    if not folder.exists():
        write_stress(stress_cluster(pods, policies, seed), folder)
    return folder


TIME = Path("/usr/bin/time")


def run_measured(argv: list[str], stdout: Path, timeout: float) -> tuple[float, int, int]:
    """Wall seconds, peak RSS (KiB) and exit status of one process.

    The process is started through /usr/bin/time: ru_maxrss is a high-water mark that
    survives exec, so a child forked straight from this (large) Python process would
    report this process's size as its own peak."""
    metrics = stdout.with_suffix(".time")
    wrapped = [str(TIME), "-f", "%M", "-o", str(metrics), *argv] if TIME.exists() else argv
    with stdout.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(wrapped, stdout=out, stderr=subprocess.DEVNULL, cwd=ROOT)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return float("inf"), 0, -9
        elapsed = time.perf_counter() - start
    peak = 0
    if TIME.exists():
        lines = metrics.read_text(encoding="utf-8").split()
        peak = int(lines[-1]) if lines and lines[-1].isdigit() else 0
    return elapsed, peak, rc


def bench_triage(cluster: Path, out: Path, repeat: int) -> dict[str, Any]:
    argv = [sys.executable, "-m", "triage", "matrix", "--manifests", str(cluster), "-o", "json"]
    runs = [run_measured(argv, out / "triage.json", 600) for _ in range(repeat)]
    best = min(runs, key=lambda r: r[0])
    data = json.loads((out / "triage.json").read_text(encoding="utf-8"))
    return {
        "seconds": best[0],
        "all_seconds": [r[0] for r in runs],
        "peak_kb": max(r[1] for r in runs),
        "rc": best[2],
        "workloads": len(data["workloads"]),
        "classes": data["classes"],
        "cells": len(data["connections"]),
    }


def bench_nca(cluster: Path, out: Path, timeout: float) -> dict[str, Any]:
    argv = [str(NCA_PYTHON), str(NCA_DRIVER), str(cluster), str(out / "nca.json")]
    wall, peak, rc = run_measured(argv, out / "nca.metrics", timeout)
    if rc != 0:
        return {"rc": rc, "seconds": wall, "finished": False}
    metrics = json.loads((out / "nca.metrics").read_text(encoding="utf-8").splitlines()[-1])
    metrics["wall_with_dump"] = wall
    metrics["peak_kb_with_dump"] = peak
    metrics["finished"] = metrics["rc"] == 0 and (out / "nca.json").exists()
    return metrics


def triage_in_process(cluster: Path) -> float:
    """Load + matrix + JSON inside this process (no interpreter start, no imports)."""
    from triage.policy.matrix import compute_matrix, matrix_to_dict
    from triage.sources.manifests import load_manifests

    start = time.perf_counter()
    snapshot, _ = load_manifests([cluster])
    json.dumps(matrix_to_dict(compute_matrix(snapshot)))
    return time.perf_counter() - start


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores{mem}, Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def nca_version() -> str:
    try:
        out = subprocess.run(
            [str(NCA_PYTHON), "-m", "pip", "show", "network-config-analyzer"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
    except OSError:
        return "?"
    for line in out.splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    return "?"


def fmt_s(x: float) -> str:
    return "—" if x == float("inf") else f"{x:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="PODS:POLICIES,... ")
    parser.add_argument("--families", default="shared,stress")
    parser.add_argument("--stress-max-pods", type=int, default=2000)
    parser.add_argument(
        "--triage-only-sizes",
        default="10000:2000",
        help="shared-generator sizes timed for triage alone (beyond what NCA is run on)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="triage runs per size (best)")
    parser.add_argument("--nca-timeout", type=float, default=1800)
    parser.add_argument("--no-nca", action="store_true")
    parser.add_argument(
        "--write-md", action="store_true", help="write benchmarks/MATRIX_RESULTS.md"
    )
    args = parser.parse_args(argv)
    if not args.no_nca and not NCA_PYTHON.exists():
        print(f"NCA is not installed: see {__file__}'s docstring", file=sys.stderr)
        return 2
    RESULTS.mkdir(exist_ok=True)
    # pip compiles an installed package's bytecode (NCA's venv has it); an editable checkout
    # under PYTHONDONTWRITEBYTECODE=1 would recompile triage on every run (~65 ms).
    compileall.compile_dir(ROOT / "triage", quiet=1)
    sizes = [tuple(int(x) for x in s.split(":")) for s in args.sizes.split(",")]
    rows: list[dict[str, Any]] = []
    load_before = os.getloadavg()
    for family in args.families.split(","):
        for pods, policies in sizes:
            if family == "stress" and pods > args.stress_max_pods:
                continue
            out = RESULTS / f"{family}-{pods}-{policies}"
            out.mkdir(parents=True, exist_ok=True)
            cluster = generate(family, pods, policies, args.seed, RESULTS)
            t = bench_triage(cluster, out, args.repeat)
            inproc = min(triage_in_process(cluster) for _ in range(args.repeat))
            row: dict[str, Any] = {
                "family": family,
                "pods": pods,
                "policies": policies,
                "triage": t,
                "triage_in_process": inproc,
            }
            if not args.no_nca:
                n = bench_nca(cluster, out, args.nca_timeout)
                row["nca"] = n
                if n.get("finished"):
                    from triage.sources.manifests import load_manifests

                    snapshot, _ = load_manifests([cluster])
                    row["compare"] = compare(snapshot, out / "nca.json")
            row["load_average"] = os.getloadavg()[0]
            rows.append(row)
            (out / "row.json").write_text(json.dumps(row, indent=2, default=str))
            print(summary_line(row), flush=True)
    for spec in filter(None, args.triage_only_sizes.split(",")):
        pods, policies = (int(x) for x in spec.split(":"))
        out = RESULTS / f"shared-{pods}-{policies}"
        out.mkdir(parents=True, exist_ok=True)
        cluster = generate("shared", pods, policies, args.seed, RESULTS)
        row = {
            "family": "shared",
            "pods": pods,
            "policies": policies,
            "triage": bench_triage(cluster, out, args.repeat),
            "triage_in_process": min(triage_in_process(cluster) for _ in range(args.repeat)),
            "load_average": os.getloadavg()[0],
        }
        rows.append(row)
        print(summary_line(row), flush=True)
    edge = edge_cases() if not args.no_nca else []
    load_after = os.getloadavg()
    text = markdown(rows, edge, load_before, load_after, args)
    print()
    print(text)
    if args.write_md:
        (HERE / "MATRIX_RESULTS.md").write_text(text, encoding="utf-8")
    return 0


def summary_line(row: dict[str, Any]) -> str:
    t = row["triage"]
    n = row.get("nca", {})
    c = row.get("compare", {})
    ratio = n.get("seconds", 0) / t["seconds"] if n.get("finished") else 0
    return (
        f"{row['family']:>6} {row['pods']:>5} pods {row['policies']:>4} pol: triage "
        f"{t['seconds']:.2f}s {t['peak_kb'] / 1024:.0f}MB | NCA "
        f"{fmt_s(n.get('seconds', float('inf')))}s "
        f"{n.get('peak_kb', 0) / 1024:.0f}MB | x{ratio:.1f} | "
        f"disagreements {c.get('disagreements', '-')} {c.get('causes', '')}"
    )


def edge_cases() -> list[dict[str, Any]]:
    out = []
    for path in sorted((HERE / "nca" / "edge-cases").glob("*.yaml")):
        dest = RESULTS / f"edge-{path.stem}"
        dest.mkdir(parents=True, exist_ok=True)
        n = bench_nca(path, dest, 300)
        entry: dict[str, Any] = {"file": path.name, "nca_finished": n.get("finished", False)}
        if n.get("finished"):
            from triage.sources.manifests import load_manifests

            snapshot, _ = load_manifests([path])
            entry["compare"] = compare(snapshot, dest / "nca.json", examples=20)
        out.append(entry)
    return out


def markdown(
    rows: list[dict[str, Any]],
    edge: list[dict[str, Any]],
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
    args: argparse.Namespace,
) -> str:
    lines = [
        "# Reachability matrix: triage vs network-config-analyzer",
        "",
        "Produced by `benchmarks/bench_matrix.py` "
        f"(`--sizes {args.sizes} --families {args.families} --repeat {args.repeat}`).",
        "",
        f"- Machine: {machine()}; load average {load_before[0]:.1f} before, "
        f"{load_after[0]:.1f} after (the cores were shared with other work).",
        f"- network-config-analyzer {nca_version()} in its own venv; query "
        "`--connectivity -r CLUSTER --output_format txt_no_fw_rules --output_endpoints pods`.",
        "- triage s: the whole `triage matrix --manifests CLUSTER -o json` process, best of "
        f"{args.repeat}; NCA s: one run, imports + query, peak RSS at the end of the query. "
        "Both started through /usr/bin/time (peak RSS of the process alone).",
        "- In-process: triage load + matrix + JSON inside an already started interpreter "
        f"(best of {args.repeat}) against NCA's query (parse + connectivity + output, "
        "imports excluded): the cost of the analysis without either tool's start-up.",
        "- Clusters: `shared` = benchmarks/generator.py (the project's generator); `stress` = "
        "benchmarks/nca/generate.py (ipBlocks over pod subnets, NotIn, namespace selectors "
        "by env/team, port ranges, UDP). JSON, as `kubectl get -o json` writes it.",
        "- Pairs compared: every ordered pair of the pods NCA keeps (it models at most two "
        "pods per namespace/owner/labels group), self pairs included, every protocol and port.",
        "",
        "| cluster | pods | policies | workloads | classes | triage s | NCA s | speed-up "
        "| triage MiB | NCA MiB | memory | triage in-process s | NCA query s | in-process "
        "speed-up | pairs compared | disagreements |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        t = row["triage"]
        n = row.get("nca", {})
        c = row.get("compare", {})
        done = n.get("finished", False)
        speed = f"**{n['seconds'] / t['seconds']:.1f}×**" if done else "—"
        mem = f"{n['peak_kb'] / t['peak_kb']:.1f}×" if done else "—"
        causes = ", ".join(f"{v} {k}" for k, v in sorted(c.get("causes", {}).items()))
        lines.append(
            f"| {row['family']} | {row['pods']} | {row['policies']} | {t['workloads']} "
            f"| {t['classes']} | {t['seconds']:.2f} | "
            f"{fmt_s(n['seconds']) if done else 'did not finish'} | {speed} "
            f"| {t['peak_kb'] / 1024:.0f} | {n['peak_kb'] / 1024:.0f} | {mem} "
            f"| {row['triage_in_process']:.2f} | {n.get('query_seconds', 0):.2f} "
            f"| {n.get('query_seconds', 0) / row['triage_in_process']:.0f}× "
            f"| {c.get('pairs_compared', '—')} | {c.get('disagreements', '—')}"
            f"{' (' + causes + ')' if causes else ''} |"
            if done
            else f"| {row['family']} | {row['pods']} | {row['policies']} | {t['workloads']} "
            f"| {t['classes']} | {t['seconds']:.2f} | "
            f"{'not run' if 'nca' not in row else 'did not finish'} | — "
            f"| {t['peak_kb'] / 1024:.0f} | — | — | {row['triage_in_process']:.2f} | — | — | — "
            "| — |"
        )
    done = [r for r in rows if r.get("nca", {}).get("finished")]
    if done:
        e2e = [(r["nca"]["seconds"] / r["triage"]["seconds"], r) for r in done]
        inp = [(r["nca"]["query_seconds"] / r["triage_in_process"], r) for r in done]
        below = sorted({r["pods"] for x, r in e2e if x < 20})
        # What the process costs beyond the analysis itself: interpreter, imports, parsing
        # of the arguments (the smallest difference, the least disturbed by load).
        startup = min(r["triage"]["seconds"] - r["triage_in_process"] for r in done)
        five_k = [r for r in rows if r["pods"] == 5000 and r["family"] == "shared"]
        lines += [
            "",
            "Summary: whole-process speed-up "
            f"{min(x for x, _ in e2e):.1f}× to {max(x for x, _ in e2e):.1f}×"
            + (
                f" (below 20× at {', '.join(map(str, below))} pods, where triage's fixed "
                f"start-up — interpreter, imports and argument parsing, ≈{startup:.2f} s — is "
                "most of its time)"
                if below
                else ""
            )
            + f"; in-process {min(x for x, _ in inp):.0f}× to {max(x for x, _ in inp):.0f}×; "
            f"NCA needs {min(r['nca']['peak_kb'] / r['triage']['peak_kb'] for r in done):.1f}× "
            f"to {max(r['nca']['peak_kb'] / r['triage']['peak_kb'] for r in done):.1f}× the memory."
            + (
                f" Target 5k pods / 500 policies: {five_k[0]['triage']['seconds']:.2f} s, "
                f"{five_k[0]['triage']['peak_kb'] / 1024:.0f} MiB (≤ 10 s, ≤ 1 GB)."
                if five_k
                else ""
            ),
        ]
    if edge:
        lines += ["", "## Edge cases (benchmarks/nca/edge-cases/)", ""]
        for e in edge:
            if not e["nca_finished"]:
                lines.append(f"- `{e['file']}`: NCA refused the input (see the file's header).")
                continue
            c = e["compare"]
            lines.append(
                f"- `{e['file']}`: {c['pairs_compared']} pairs, "
                f"{c['disagreements']} disagreement(s)"
            )
            for cause, samples in sorted(c["examples"].items()):
                for s in samples:
                    lines.append(f"  - {cause}: {s}")
    lines += ["", ANALYSIS.rstrip()]
    examples = [
        (row["family"], row["pods"], cause, s)
        for row in rows
        for cause, samples in row.get("compare", {}).get("examples", {}).items()
        for s in samples[:2]
    ]
    if examples:
        lines += ["", "## Sample disagreements from the generated clusters", ""]
        for family, pods, cause, s in examples:
            lines.append(f"- {family} {pods}: {cause}: {s}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
