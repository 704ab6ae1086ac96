"""Small constructors for realistic manifests, for tests and benchmarks that seed the server.

The shapes match what a 1.32 cluster returns (running pods carry full container statuses,
namespaces carry kubernetes.io/metadata.name), so client-side pydantic models accept them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .objects import DEFAULT_IMAGE, JsonDict, container_id, rfc3339

PortSpec = tuple[str, int, str]  # name, containerPort, protocol


def namespace(
    name: str, labels: Mapping[str, str] | None = None, *, name_label: bool = True
) -> JsonDict:
    all_labels = {"kubernetes.io/metadata.name": name} if name_label else {}
    all_labels.update(labels or {})
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": all_labels},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def pod(
    name: str,
    namespace: str = "default",
    *,
    labels: Mapping[str, str] | None = None,
    ip: str | None = "10.244.0.10",
    node: str = "node-1",
    containers: Sequence[str] = ("app",),
    ports: Sequence[PortSpec] = (),
    image: str = DEFAULT_IMAGE,
    phase: str = "Running",
    ready: bool = True,
) -> JsonDict:
    """A scheduled pod; `ports` go on the first container (named ports resolve there)."""
    specs: list[JsonDict] = []
    for index, container_name in enumerate(containers):
        spec: JsonDict = {"name": container_name, "image": image}
        if index == 0 and ports:
            spec["ports"] = [
                {"name": port_name, "containerPort": number, "protocol": protocol}
                for port_name, number, protocol in ports
            ]
        specs.append(spec)
    running = phase == "Running"
    statuses = [
        {
            "name": container_name,
            "image": image,
            "imageID": f"{image}@sha256:{'0' * 64}",
            "containerID": container_id(),
            "ready": ready and running,
            "started": running,
            "restartCount": 0,
            "state": {"running": {"startedAt": rfc3339()}}
            if running
            else {"waiting": {"reason": "ContainerCreating"}},
        }
        for container_name in containers
    ]
    status: JsonDict = {"phase": phase, "containerStatuses": statuses}
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
        status["hostIP"] = "172.18.0.2"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {})},
        "spec": {"containers": specs, "nodeName": node},
        "status": status,
    }


def service(
    name: str,
    namespace: str = "default",
    *,
    selector: Mapping[str, str] | None = None,
    ports: Sequence[tuple[str, int, int | str, str]] = (("http", 80, 8080, "TCP"),),
    cluster_ip: str = "10.96.0.10",
) -> JsonDict:
    """`ports` are (name, port, targetPort, protocol)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": cluster_ip,
            "clusterIPs": [cluster_ip],
            "selector": dict(selector or {}),
            "ports": [
                {"name": port_name, "port": port, "targetPort": target, "protocol": protocol}
                for port_name, port, target, protocol in ports
            ],
        },
        "status": {"loadBalancer": {}},
    }


def network_policy(
    name: str,
    namespace: str = "default",
    *,
    pod_selector: Mapping[str, Any] | None = None,
    ingress: Sequence[Mapping[str, Any]] | None = None,
    egress: Sequence[Mapping[str, Any]] | None = None,
    policy_types: Sequence[str] | None = None,
) -> JsonDict:
    spec: JsonDict = {"podSelector": dict(pod_selector or {})}
    if ingress is not None:
        spec["ingress"] = [dict(rule) for rule in ingress]
    if egress is not None:
        spec["egress"] = [dict(rule) for rule in egress]
    if policy_types is not None:
        spec["policyTypes"] = list(policy_types)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
