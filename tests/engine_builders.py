"""Builders for engine tests: Kubernetes manifests as plain dicts, assembled through the real
parser, so every engine test also exercises parsing. (No tests here; imported by the
test_engine_* modules, test_properties and test_cli_explain.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from triage.model import Snapshot, parse_flow
from triage.policy import Explanation, Verdict, explain
from triage.sources.assemble import assemble

DATA = Path(__file__).parent / "data"
CLASSIC = DATA / "classic.yaml"

Manifest = dict[str, Any]


def ns(name: str, labels: dict[str, str] | None = None, *, name_label: bool = True) -> Manifest:
    all_labels = {"kubernetes.io/metadata.name": name} if name_label else {}
    all_labels.update(labels or {})
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": all_labels},
    }


def pod(
    namespace: str,
    name: str,
    labels: dict[str, str] | None = None,
    *,
    ip: str | None = None,
    ips: list[str] | None = None,
    ports: list[tuple[str | None, int, str]] | None = None,
    host_network: bool = False,
    phase: str = "Running",
) -> Manifest:
    """`ports`: (name, number, protocol) container ports of one container."""
    container_ports = []
    for pname, number, proto in ports or []:
        entry: dict[str, Any] = {"containerPort": number, "protocol": proto}
        if pname:
            entry["name"] = pname
        container_ports.append(entry)
    addresses = ips if ips is not None else ([ip] if ip else [])
    status: dict[str, Any] = {"phase": phase}
    if addresses:
        status["podIP"] = addresses[0]
        status["podIPs"] = [{"ip": a} for a in addresses]
    spec: dict[str, Any] = {
        "containers": [{"name": "main", "image": "x", "ports": container_ports}]
    }
    if host_network:
        spec["hostNetwork"] = True
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {})},
        "spec": spec,
        "status": status,
    }


def svc(
    namespace: str,
    name: str,
    selector: dict[str, str] | None,
    ports: list[dict[str, Any]],
    cluster_ip: str | None = None,
) -> Manifest:
    spec: dict[str, Any] = {"ports": ports}
    if selector is not None:
        spec["selector"] = selector
    if cluster_ip:
        spec["clusterIP"] = cluster_ip
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


_ABSENT: Any = object()


def netpol(
    namespace: str,
    name: str,
    pod_selector: dict[str, Any] | None = None,
    *,
    ingress: Any = _ABSENT,
    egress: Any = _ABSENT,
    policy_types: list[str] | None = None,
) -> Manifest:
    spec: dict[str, Any] = {"podSelector": pod_selector if pod_selector is not None else {}}
    if ingress is not _ABSENT:
        spec["ingress"] = ingress
    if egress is not _ABSENT:
        spec["egress"] = egress
    if policy_types is not None:
        spec["policyTypes"] = policy_types
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def labels(**kv: str) -> dict[str, Any]:
    """A podSelector/namespaceSelector with matchLabels (underscores stay underscores)."""
    return {"matchLabels": dict(kv)}


def cluster(*docs: Manifest) -> Snapshot:
    snapshot, _ = assemble(("test.yaml", i, d) for i, d in enumerate(docs))
    return snapshot


def ask(snapshot: Snapshot, src: str, dst: str, port: int | str, proto: str = "TCP") -> Explanation:
    return explain(snapshot, parse_flow(src, dst, port, proto))


def only(explanation: Explanation) -> Verdict:
    assert len(explanation.verdicts) == 1, explanation
    return explanation.verdicts[0]


def codes(explanation_or_verdict: Explanation | Verdict) -> list[str]:
    """Every reason code in the trace, in order: what the tests key on."""
    verdict = (
        explanation_or_verdict.primary
        if isinstance(explanation_or_verdict, Explanation)
        else explanation_or_verdict
    )
    assert verdict is not None
    out = []
    for side in (verdict.egress, verdict.ingress):
        for pol in side.policies:
            for rule in pol.rules:
                for peer in rule.peers:
                    out.extend(r.code for r in peer.reasons)
                for port in rule.ports:
                    if port.reason is not None:
                        out.append(port.reason.code)
    return out
