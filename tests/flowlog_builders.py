"""Hand-written Hubble and Calico Goldmane flow-log lines, shaped as the tools print them.

Hubble: the `flow.Flow` message of cilium's api/v1/flow/flow.proto as `hubble observe -o json`
prints it (proto field names, enums by name), bare or wrapped as `{"flow": {...}}`.
Calico: the goldmane `Flow` (`Key` with `policies.enforced_policies` / `pending_policies`
PolicyHits, `start_time`, `end_time`, `num_connections_started`) as its emitter marshals it.
(No tests here; imported by test_flowlogs, test_flow_reconcile and test_cli_flows.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def endpoint(
    namespace: str = "", pod: str = "", labels: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {"ID": 1234, "identity": 5678}
    if namespace:
        out["namespace"] = namespace
    if pod:
        out["pod_name"] = pod
    out["labels"] = labels if labels is not None else [f"k8s:app={pod.split('-')[0]}"]
    out.update(extra)
    return out


def policy(
    name: str, namespace: str = "", kind: str = "CiliumNetworkPolicy", **extra: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "kind": kind, "revision": "7"}
    if namespace:
        out["namespace"] = namespace
    out.update(extra)
    return out


def hubble(
    src: tuple[str, str, str],
    dst: tuple[str, str, str],
    port: int | None = 8080,
    *,
    verdict: str | int = "FORWARDED",
    drop: str | int | None = None,
    direction: str | int = "EGRESS",
    protocol: str = "TCP",
    time: str = "2026-12-04T03:00:00.123456789Z",
    is_reply: bool | None = False,
    wrapped: bool = False,
    src_labels: list[str] | None = None,
    dst_labels: list[str] | None = None,
    dst_service: dict[str, str] | None = None,
    flags: dict[str, bool] | None = None,
    **extra: Any,
) -> str:
    """One line. `src`/`dst` are (namespace, pod, ip); an empty pod gives no pod_name."""
    if protocol in ("TCP", "UDP", "SCTP"):
        layer: dict[str, Any] = {"source_port": 43512, "destination_port": port}
        if protocol == "TCP":
            layer["flags"] = flags if flags is not None else {"SYN": True}
    else:
        layer = {"type": 8}
    flow: dict[str, Any] = {
        "time": time,
        "uuid": "c9a3f0d2-0000-4000-8000-000000000001",
        "verdict": verdict,
        "ethernet": {"source": "aa:bb:cc:dd:ee:01", "destination": "aa:bb:cc:dd:ee:02"},
        "IP": {"source": src[2], "destination": dst[2], "ipVersion": "IPv4"},
        "l4": {protocol: layer},
        "source": endpoint(src[0], src[1], src_labels),
        "destination": endpoint(dst[0], dst[1], dst_labels),
        "Type": "L3_L4",
        "node_name": "kind-worker",
        "event_type": {"type": 5},
        "traffic_direction": direction,
        "Summary": "TCP Flags: SYN",
    }
    if is_reply is not None:
        flow["is_reply"] = is_reply
    if drop is not None:
        flow["drop_reason_desc"] = drop
        flow["drop_reason"] = 133
    if dst_service is not None:
        flow["destination_service"] = dst_service
    flow.update(extra)
    body = {"flow": flow, "node_name": "kind-worker", "time": time} if wrapped else flow
    return json.dumps(body)


def calico(
    src: tuple[str, str],
    dst: tuple[str, str],
    port: int = 8080,
    *,
    action: str = "Allow",
    proto: str = "TCP",
    reporter: str = "src",
    enforced: list[dict[str, Any]] | None = None,
    pending: list[dict[str, Any]] | None = None,
    start: int = 1796266800,
    connections: int = 3,
    src_type: str = "wep",
    dst_type: str = "wep",
    **key_extra: Any,
) -> str:
    key: dict[str, Any] = {
        "source_name": src[1],
        "source_namespace": src[0],
        "source_type": src_type,
        "dest_name": dst[1],
        "dest_namespace": dst[0],
        "dest_type": dst_type,
        "dest_port": port,
        "proto": proto,
        "reporter": reporter,
        "action": action,
        "policies": {
            "enforced_policies": enforced or [],
            "pending_policies": pending or [],
        },
    }
    key.update(key_extra)
    return json.dumps(
        {
            "Key": key,
            "start_time": start,
            "end_time": start + 15,
            "source_labels": ["app=client"],
            "dest_labels": ["app=server"],
            "packets_in": 10,
            "packets_out": 12,
            "bytes_in": 900,
            "bytes_out": 1200,
            "num_connections_started": connections,
        }
    )


def hit(
    name: str,
    namespace: str = "",
    *,
    kind: int | str = 6,
    tier: str = "default",
    action: str = "Allow",
    policy_index: int = 0,
    rule_index: int = 0,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": kind,
        "name": name,
        "tier": tier,
        "action": action,
        "policy_index": policy_index,
        "rule_index": rule_index,
    }
    if namespace:
        out["namespace"] = namespace
    return out


def write(tmp: Path, *lines: str, name: str = "flows.json") -> Path:
    path = tmp / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path
