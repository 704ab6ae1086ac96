"""Run network-config-analyzer's connectivity map on a cluster folder, timed, then dump
the allowed connections of every pod pair as JSON.

Runs under NCA's own interpreter (benchmarks/nca/.venv), never triage's:

    benchmarks/nca/.venv/bin/python benchmarks/nca/nca_pairs.py CLUSTER_DIR OUT.json

The query is exactly `nca --connectivity -r CLUSTER_DIR --output_format txt_no_fw_rules
--output_endpoints pods` (the per-pair listing, NCA's closest output to a matrix); the
dump reads the connection sets NCA's ConnectivityGraph computed for that output, so it
compares what NCA printed, not a re-computation. Time and peak RSS are taken when the
query returns, before the dump. Prints one JSON line with the metrics.
"""

from __future__ import annotations

import json
import resource
import sys
import time

START = time.perf_counter()

from nca.CoreDS.Peer import BasePeerSet, Pod  # noqa: E402
from nca.FWRules import ConnectivityGraph as cg  # noqa: E402
from nca.nca_cli import nca_main  # noqa: E402

PROTOCOLS = ("TCP", "UDP", "SCTP")
captured: list[object] = []
_original = cg.ConnectivityGraph.get_connections_without_fw_rules_txt_format


def _capture(self, *args, **kwargs):  # type: ignore[no-untyped-def]
    captured.append(self)
    return _original(self, *args, **kwargs)


cg.ConnectivityGraph.get_connections_without_fw_rules_txt_format = _capture


def _ranges(values: object) -> list[list[int]]:
    out = []
    for item in values:  # type: ignore[attr-defined]
        text = str(item)
        lo, _, hi = text.partition("-")
        out.append([int(lo), int(hi or lo)])
    return out


def props_to_ports(props: object) -> dict[str, list[list[int]]]:
    """NCA connection properties (peers projected out) → {"TCP": [[lo, hi], ...], ...}."""
    if props.is_all():  # type: ignore[attr-defined]
        return {p: [[1, 65535]] for p in PROTOCOLS}
    by: dict[str, list[list[int]]] = {}
    for cube in props:  # type: ignore[attr-defined]
        d = props.get_cube_dict(cube)  # type: ignore[attr-defined]
        extra = set(d) - {"protocols", "dst_ports"}
        if extra:
            raise SystemExit(f"unexpected dimensions {sorted(extra)} in {d}")
        protocols = (
            [p.strip() for p in str(d["protocols"]).split(",")] if "protocols" in d else PROTOCOLS
        )
        ports = _ranges(d["dst_ports"]) if "dst_ports" in d else [[1, 65535]]
        for proto in protocols:
            if proto in PROTOCOLS:
                by.setdefault(proto, []).extend(ports)
    return by


def main() -> int:
    folder, out_path = sys.argv[1], sys.argv[2]
    txt_path = out_path + ".txt"
    t0 = time.perf_counter()
    rc = nca_main(
        [
            "--connectivity",
            "-r",
            folder,
            "--output_format",
            "txt_no_fw_rules",
            "--output_endpoints",
            "pods",
            "-f",
            txt_path,
        ]
    )
    seconds = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    pairs = []
    for graph in captured:
        for props, peer_pairs in graph.props_to_peers.items():  # type: ignore[attr-defined]
            if not props:
                continue
            ports = props_to_ports(props)
            for src, dst in peer_pairs:
                if not isinstance(src, Pod) or not isinstance(dst, Pod):
                    continue  # IP blocks: the matrix compares pods
                pairs.append([src.full_name(), dst.full_name(), ports])
    # NCA keeps at most two pods per (namespace, owner, labels) group: list the ones it kept.
    kept = [p.full_name() for p in BasePeerSet().ordered_peer_list if isinstance(p, Pod)]
    with open(out_path, "w", encoding="utf-8") as fh:
        json.dump({"pods": kept, "pairs": pairs}, fh)
    print(
        json.dumps(
            {
                "rc": rc,
                "query_seconds": seconds,
                "seconds": t0 - START + seconds,
                "import_seconds": t0 - START,
                "peak_kb": peak_kb,
                "pairs": len(pairs),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
