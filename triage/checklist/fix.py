"""The least-privilege fix: the smallest NetworkPolicy YAML that allows exactly one flow.

One policy per side that denies: an egress policy in the source's namespace selecting the
source, an ingress policy in the destination's namespace selecting the destination. Each
selects its pod by the labels that tell its workload apart from the other pods of its
namespace (never by pod-template-hash and the like, which change on every rollout); the
peer is a namespaceSelector on kubernetes.io/metadata.name AND a podSelector, or an ipBlock
/32 for an address outside the cluster's pods; the port is the number the destination pod
sees (after the Service's targetPort) with its protocol.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from triage.model import NAMESPACE_NAME_LABEL, Flow, Pod, Protocol, Snapshot
from triage.model.manifest import dump_yaml
from triage.policy import Explanation, Verdict, explain
from triage.policy.workloads import distinguishing_labels
from triage.policy.workloads import dns_name as _dns_name

FIX_LABEL = "netpol-triage/allow"  # suggested when a pod has no usable label at all


def _pod_selector(snapshot: Snapshot, pods: Sequence[Pod], notes: list[str]) -> dict[str, Any]:
    labels = distinguishing_labels(snapshot, pods)
    if labels:
        return {"matchLabels": labels}
    names = ", ".join(p.key for p in pods)
    notes.append(
        f"{names} has no stable label to select it by: label it first "
        f"(kubectl label pod -n {pods[0].namespace} {pods[0].name} {FIX_LABEL}=true)"
    )
    return {"matchLabels": {FIX_LABEL: "true"}}


def _peer(
    snapshot: Snapshot, pods: Sequence[Pod], ip: str | None, notes: list[str]
) -> dict[str, Any]:
    if not pods:
        bits = 128 if ip and ":" in ip else 32
        return {"ipBlock": {"cidr": f"{ip}/{bits}"}}
    namespace = pods[0].namespace
    labels = snapshot.namespace_labels(namespace) or {}
    if labels.get(NAMESPACE_NAME_LABEL) != namespace:
        notes.append(
            f"namespace {namespace} has no {NAMESPACE_NAME_LABEL}={namespace} label (set "
            "automatically from Kubernetes 1.21 on): add it, or this selector never matches"
        )
    return {
        "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: namespace}},
        "podSelector": _pod_selector(snapshot, pods, notes),
    }


def _ports(verdicts: Sequence[Verdict], protocol: Protocol) -> list[Any]:
    """The destination port numbers (a verdict that reached policy always has one)."""
    numbers = sorted({v.port for v in verdicts if v.port is not None})
    return [{"protocol": protocol, "port": n} for n in numbers]


def _policy(
    name: str, namespace: str, selector: Mapping[str, Any], direction: str, rule: dict[str, Any]
) -> dict[str, Any]:
    key = "egress" if direction == "Egress" else "ingress"
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"podSelector": dict(selector), "policyTypes": [direction], key: [rule]},
    }


def _pods(snapshot: Snapshot, names: Sequence[str]) -> list[Pod]:
    return [p for p in (snapshot.pod_by_key.get(n) for n in names) if p is not None]


def fix_documents(
    snapshot: Snapshot, verdicts: Sequence[Verdict]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The fix policies (as manifests) for the denied verdicts of one flow, and notes the
    operator must read (labels to add first)."""
    denied = [v for v in verdicts if not v.allowed and v.blocked_by is None]
    if not denied:
        return [], []
    first = denied[0]
    protocol = first.protocol
    notes: list[str] = []
    source_pods = _pods(snapshot, [first.source.name] if first.source.kind == "pod" else [])
    egress_denied = [v for v in denied if not v.egress.allowed]
    ingress_denied = [v for v in denied if not v.ingress.allowed]
    src_label = source_pods[0].workload if source_pods else first.source.name
    dest_names = [v.destination.name for v in denied if v.destination.kind == "pod"]
    dest_pods = _pods(snapshot, list(dict.fromkeys(dest_names)))
    dst_label = dest_pods[0].workload if dest_pods else first.destination.name
    base = f"allow-{src_label}-to-{dst_label}"
    same_namespace = bool(source_pods and dest_pods) and (
        source_pods[0].namespace == dest_pods[0].namespace
    )
    documents: list[dict[str, Any]] = []
    if egress_denied and source_pods:
        targets = [v.destination.name for v in egress_denied if v.destination.kind == "pod"]
        pods = _pods(snapshot, list(dict.fromkeys(targets)))
        rule = {
            "to": [_peer(snapshot, pods, first.destination.ip, notes)],
            "ports": _ports(egress_denied, protocol),
        }
        suffix = "-egress" if same_namespace and ingress_denied else ""
        name = _dns_name(f"{base}-{_port_tag(egress_denied, protocol)}", 63 - len(suffix))
        selector = _pod_selector(snapshot, source_pods, notes)
        documents.append(_policy(name + suffix, source_pods[0].namespace, selector, "Egress", rule))
    if ingress_denied:
        pods = _pods(
            snapshot,
            list(dict.fromkeys(v.destination.name for v in ingress_denied)),
        )
        if pods:
            rule = {
                "from": [_peer(snapshot, source_pods, first.source.ip, notes)],
                "ports": _ports(ingress_denied, protocol),
            }
            suffix = "-ingress" if same_namespace and egress_denied else ""
            name = _dns_name(f"{base}-{_port_tag(ingress_denied, protocol)}", 63 - len(suffix))
            selector = _pod_selector(snapshot, pods, notes)
            documents.append(_policy(name + suffix, pods[0].namespace, selector, "Ingress", rule))
    return documents, list(dict.fromkeys(notes))


def _port_tag(verdicts: Sequence[Verdict], protocol: Protocol) -> str:
    numbers = sorted({v.port for v in verdicts if v.port is not None})
    tag = "-".join(str(n) for n in numbers) or "port"
    return tag if protocol == "TCP" else f"{tag}-{protocol.lower()}"


def least_privilege_fix(snapshot: Snapshot, target: Flow | Explanation | Verdict) -> str:
    """NetworkPolicy YAML (one document per side that needs it, egress and/or ingress) that
    would allow exactly this flow; "" when the flow is already allowed, or when no policy
    can fix it (no backends, a Service port or named port that does not exist)."""
    if isinstance(target, Flow):
        target = explain(snapshot, target)
    if isinstance(target, Explanation):
        verdicts: Sequence[Verdict] = target.verdicts
        title = str(target.flow)
    else:
        verdicts = (target,)
        title = f"{target.source.name} → {target.destination.name}:{target.port}/{target.protocol}"
    documents, notes = fix_documents(snapshot, verdicts)
    if not documents:
        return ""
    header = [f"# Least-privilege fix for {title}"]
    header += [f"# NOTE: {n}" for n in notes]
    body = "---\n".join(dump_yaml(d) for d in documents)
    return "\n".join(header) + "\n" + body
