"""meta.k8s.io/v1 Table responses, so `kubectl get` prints real columns instead of the
NAME/AGE fallback (and logs no "Unable to decode server response into a Table")."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from .media import partial_object
from .objects import JsonDict, parse_rfc3339
from .resources import Resource
from .selectors import format_label_selector

Column = tuple[str, str, int]  # name, type, priority (1 = only with -o wide)


def human_duration(delta: dt.timedelta) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration, the AGE column format."""
    seconds = int(delta.total_seconds())
    if seconds < 0:
        return "<invalid>"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    years = days // 365
    if days < 365 * 8:
        rest = days % 365
        return f"{years}y{rest}d" if rest else f"{years}y"
    return f"{years}y"


def age(obj: JsonDict) -> str:
    created = parse_rfc3339((obj.get("metadata") or {}).get("creationTimestamp") or "")
    if created is None:
        return "<unknown>"
    return human_duration(dt.datetime.now(dt.UTC) - created)


def _pod_row(pod: JsonDict) -> list[Any]:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    restarts = sum(int(s.get("restartCount") or 0) for s in statuses)
    reason = status.get("reason") or status.get("phase") or "Unknown"
    for entry in statuses:
        state = entry.get("state") or {}
        waiting = state.get("waiting") or {}
        terminated = state.get("terminated") or {}
        if waiting.get("reason"):
            reason = waiting["reason"]
        elif terminated.get("reason"):
            reason = terminated["reason"]
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Terminating"
    return [
        pod["metadata"]["name"],
        f"{ready}/{len(spec.get('containers') or [])}",
        reason,
        str(restarts),
        age(pod),
        status.get("podIP") or "<none>",
        spec.get("nodeName") or "<none>",
    ]


def _service_ports(service: JsonDict) -> str:
    parts = []
    for port in (service.get("spec") or {}).get("ports") or []:
        text = str(port.get("port"))
        if port.get("nodePort"):
            text += f":{port['nodePort']}"
        parts.append(f"{text}/{port.get('protocol') or 'TCP'}")
    return ",".join(parts) or "<none>"


def _service_row(service: JsonDict) -> list[Any]:
    spec = service.get("spec") or {}
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    external = ",".join(i.get("ip") or i.get("hostname") or "" for i in ingress)
    if not external:
        external = ",".join(spec.get("externalIPs") or []) or (
            "<pending>" if spec.get("type") == "LoadBalancer" else "<none>"
        )
    selector = spec.get("selector") or {}
    return [
        service["metadata"]["name"],
        spec.get("type") or "ClusterIP",
        spec.get("clusterIP") or "<none>",
        external,
        _service_ports(service),
        age(service),
        ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "<none>",
    ]


def _crd_row(crd: JsonDict) -> list[Any]:
    return [crd["metadata"]["name"], crd["metadata"].get("creationTimestamp", "")]


_LAYOUTS: dict[str, tuple[list[Column], Callable[[JsonDict], list[Any]]]] = {
    "Pod": (
        [
            ("Name", "string", 0),
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
            ("Age", "string", 0),
            ("IP", "string", 1),
            ("Node", "string", 1),
        ],
        _pod_row,
    ),
    "Service": (
        [
            ("Name", "string", 0),
            ("Type", "string", 0),
            ("Cluster-IP", "string", 0),
            ("External-IP", "string", 0),
            ("Port(s)", "string", 0),
            ("Age", "string", 0),
            ("Selector", "string", 1),
        ],
        _service_row,
    ),
    "Namespace": (
        [("Name", "string", 0), ("Status", "string", 0), ("Age", "string", 0)],
        lambda ns: [
            ns["metadata"]["name"],
            (ns.get("status") or {}).get("phase") or "Active",
            age(ns),
        ],
    ),
    "NetworkPolicy": (
        [("Name", "string", 0), ("Pod-Selector", "string", 0), ("Age", "string", 0)],
        lambda np: [
            np["metadata"]["name"],
            format_label_selector((np.get("spec") or {}).get("podSelector")),
            age(np),
        ],
    ),
    "CustomResourceDefinition": (
        [("Name", "string", 0), ("Created At", "date", 0)],
        _crd_row,
    ),
}
_DEFAULT_LAYOUT: tuple[list[Column], Callable[[JsonDict], list[Any]]] = (
    [("Name", "string", 0), ("Age", "string", 0)],
    lambda obj: [obj["metadata"]["name"], age(obj)],
)


def to_table(resource: Resource, items: list[JsonDict], list_meta: dict[str, Any]) -> JsonDict:
    columns, row = _LAYOUTS.get(resource.kind, _DEFAULT_LAYOUT)
    definitions = [
        {
            "name": name,
            "type": kind,
            "format": "name" if name == "Name" else "",
            "description": f"{name} of the {resource.kind}",
            "priority": priority,
        }
        for name, kind, priority in columns
    ]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": definitions,
        "rows": [{"cells": row(obj), "object": partial_object(obj)} for obj in items],
    }
