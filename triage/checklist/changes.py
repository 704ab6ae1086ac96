"""What changed since the last known-good set, and which change flipped a flow.

"Then" is the current cluster with the known-good policies AND the known-good labels applied
(pods and namespaces that exist now keep today's labels unless the known-good set recorded
theirs), so a policy change can be told from a label change.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from triage.model import Flow, IPRef, NetworkPolicy, PodRef, ServiceRef, Snapshot
from triage.model.admin import KUBECTL_RESOURCE, AdminPolicy
from triage.model.incident import KnownGood
from triage.model.manifest import dump_yaml, trimmed_policy_manifest
from triage.policy import explain, is_allowed, service_backends
from triage.sources.parse_admin import admin_policy_manifest

ChangeKind = Literal[
    "policy-added",
    "policy-changed",
    "policy-removed",
    "admin-added",
    "admin-changed",
    "admin-removed",
    "pod-labels",
    "namespace-labels",
]
ADMIN_CHANGES: tuple[ChangeKind, ...] = ("admin-added", "admin-changed", "admin-removed")


@dataclass(frozen=True, slots=True)
class Change:
    kind: ChangeKind
    key: str  # NS/NAME of the policy or pod, the namespace name, or cnp/NAME (admin policy)
    summary: str
    diff: str  # unified diff, known-good → now


def _same_policy(a: NetworkPolicy, b: NetworkPolicy) -> bool:
    return dataclasses.replace(a, resource_version=None) == dataclasses.replace(
        b, resource_version=None
    )


def _unified(before: str, after: str, name: str) -> str:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"known-good/{name}",
        tofile=f"now/{name}",
    )
    return "".join(lines)


def _labels_yaml(labels: Mapping[str, str] | None) -> str:
    if labels is None:
        return ""
    return dump_yaml({"labels": dict(sorted(labels.items()))})


def then_snapshot(snapshot: Snapshot, known_good: KnownGood) -> Snapshot:
    """The cluster as it was with the known-good set: its policies and recorded labels."""
    ns_labels = known_good.namespace_labels
    pod_labels = known_good.pod_labels
    namespaces = tuple(
        dataclasses.replace(ns, labels=dict(ns_labels[ns.name])) if ns.name in ns_labels else ns
        for ns in snapshot.namespaces
    )
    pods = tuple(
        dataclasses.replace(p, labels=dict(pod_labels[p.key])) if p.key in pod_labels else p
        for p in snapshot.pods
    )
    # Outside the set's scope the cluster is as it is now: nothing there is "then".
    kept = tuple(p for p in snapshot.policies if not known_good.in_scope(p.namespace))
    return dataclasses.replace(
        snapshot,
        namespaces=namespaces,
        pods=pods,
        policies=tuple(known_good.policies) + kept,
        # A set recorded without admin policies (older recordings) leaves today's in place.
        admin_policies=known_good.admin_policies or snapshot.admin_policies,
    )


def changes_between(snapshot: Snapshot, known_good: KnownGood) -> list[Change]:
    """Every difference: policies added, changed, removed; labels changed on pods and
    namespaces the known-good set recorded. Sorted by kind, then key."""
    out: list[Change] = []
    then = {p.key: p for p in known_good.policies}
    now = {k: p for k, p in snapshot.policy_by_key.items() if known_good.in_scope(p.namespace)}
    for key in sorted(then.keys() | now.keys()):
        old, new = then.get(key), now.get(key)
        if old is not None and new is not None and _same_policy(old, new):
            continue
        old_text = dump_yaml(trimmed_policy_manifest(old)) if old is not None else ""
        new_text = dump_yaml(trimmed_policy_manifest(new)) if new is not None else ""
        diff = _unified(old_text, new_text, f"networkpolicy/{key}")
        if old is None:
            out.append(Change("policy-added", key, f"policy {key} added", diff))
        elif new is None:
            out.append(Change("policy-removed", key, f"policy {key} removed", diff))
        else:
            out.append(Change("policy-changed", key, f"policy {key} changed", diff))
    if known_good.admin_policies:
        out.extend(_admin_changes(known_good.admin_policies, snapshot.admin_policies))
    for key, labels in sorted(known_good.pod_labels.items()):
        pod = snapshot.pod_by_key.get(key)
        if pod is not None and dict(pod.labels) != dict(labels):
            out.append(
                Change(
                    "pod-labels",
                    key,
                    f"labels of pod {key} changed: {_label_delta(labels, pod.labels)}",
                    _unified(_labels_yaml(labels), _labels_yaml(pod.labels), f"pod/{key}"),
                )
            )
    for name, labels in sorted(known_good.namespace_labels.items()):
        current = snapshot.namespace_labels(name)
        if current is not None and dict(current) != dict(labels):
            out.append(
                Change(
                    "namespace-labels",
                    name,
                    f"labels of namespace {name} changed: {_label_delta(labels, current)}",
                    _unified(_labels_yaml(labels), _labels_yaml(current), f"namespace/{name}"),
                )
            )
    order = {k: i for i, k in enumerate(ChangeKind.__args__)}  # type: ignore[attr-defined]
    return sorted(out, key=lambda c: (order[c.kind], c.key))


def _admin_text(policy: AdminPolicy | None) -> str:
    if policy is None:
        return ""
    manifest = admin_policy_manifest(policy)
    manifest["metadata"].pop("resourceVersion", None)
    return dump_yaml(manifest)


def _admin_changes(then: tuple[AdminPolicy, ...], now: tuple[AdminPolicy, ...]) -> list[Change]:
    """Cluster-scoped admin policies added, changed or removed since the known-good set."""
    out: list[Change] = []
    before = {p.key: p for p in then}
    after = {p.key: p for p in now}
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if old is not None and new is not None and _same_admin(old, new):
            continue
        ref = new or old
        assert ref is not None
        where = f"{ref.kind} {ref.name} ({ref.tier} tier, priority {ref.priority})"
        diff = _unified(
            _admin_text(old), _admin_text(new), f"{KUBECTL_RESOURCE[ref.kind]}/{ref.name}"
        )
        if old is None:
            out.append(Change("admin-added", key, f"{where} added", diff))
        elif new is None:
            out.append(Change("admin-removed", key, f"{where} removed", diff))
        else:
            out.append(Change("admin-changed", key, f"{where} changed", diff))
    return out


def _same_admin(a: AdminPolicy, b: AdminPolicy) -> bool:
    return dataclasses.replace(a, resource_version=None) == dataclasses.replace(
        b, resource_version=None
    )


def _label_delta(before: Mapping[str, str], after: Mapping[str, str]) -> str:
    parts = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if old is None:
            parts.append(f"+{key}={new}")
        elif new is None:
            parts.append(f"-{key}={old}")
        else:
            parts.append(f"{key}={old}→{new}")
    return ", ".join(parts)


def revert(snapshot: Snapshot, then: Snapshot, changes: Iterable[Change]) -> Snapshot:
    """`snapshot` with these changes undone (taken back from `then`)."""
    policies = dict(snapshot.policy_by_key)
    pods = dict(snapshot.pod_by_key)
    namespaces = dict(snapshot.namespace_by_name)
    admin = {p.key: p for p in snapshot.admin_policies}
    then_admin = {p.key: p for p in then.admin_policies}
    for change in changes:
        if change.kind in ADMIN_CHANGES:
            old_admin = then_admin.get(change.key)
            if old_admin is None:
                admin.pop(change.key, None)
            else:
                admin[change.key] = old_admin
        elif change.kind.startswith("policy-"):
            old = then.policy_by_key.get(change.key)
            if old is None:
                policies.pop(change.key, None)
            else:
                policies[change.key] = old
        elif change.kind == "pod-labels":
            pods[change.key] = then.pod_by_key[change.key]
        else:
            namespaces[change.key] = then.namespace_by_name[change.key]
    return dataclasses.replace(
        snapshot,
        namespaces=tuple(namespaces.values()),
        pods=tuple(pods.values()),
        policies=tuple(policies[k] for k in sorted(policies)),
        admin_policies=tuple(admin[k] for k in sorted(admin)),
    )


def flow_parties(snapshot: Snapshot, flow: Flow) -> tuple[set[str], set[str]]:
    """The pod keys and namespaces a flow involves (a Service as its backends)."""
    pods: set[str] = set()
    namespaces: set[str] = set()
    for end in (flow.source, flow.destination):
        if isinstance(end, PodRef):
            pods.add(str(end))
            namespaces.add(end.namespace)
        elif isinstance(end, ServiceRef):
            namespaces.add(end.namespace)
            service = snapshot.service(end.namespace, end.name)
            if service is not None:
                pods.update(p.key for p in service_backends(snapshot, service))
        elif isinstance(end, IPRef):
            pod = snapshot.pods_by_ip.get(end.ip)
            if pod is not None:
                pods.add(pod.key)
                namespaces.add(pod.namespace)
    return pods, namespaces


def relevant_changes(snapshot: Snapshot, flow: Flow, changes: Iterable[Change]) -> list[Change]:
    """The changes that can affect this flow: policies of the source's or the destination's
    namespace, labels of the pods involved and of their namespaces."""
    pods, namespaces = flow_parties(snapshot, flow)
    out = []
    for change in changes:
        if change.kind in ADMIN_CHANGES:
            out.append(change)  # cluster-scoped: may concern any flow
        elif change.kind.startswith("policy-"):
            if change.key.split("/", 1)[0] in namespaces:
                out.append(change)
        elif change.kind == "pod-labels":
            if change.key in pods:
                out.append(change)
        elif change.key in namespaces:
            out.append(change)
    return out


@dataclass(frozen=True)
class FlowChange:
    """The verdict of one flow then (known-good) and now, and the changes that flipped it."""

    allowed_then: bool
    allowed_now: bool
    relevant: tuple[Change, ...]
    flipping: tuple[Change, ...]  # each flips the verdict alone when reverted
    jointly: bool  # no single change flips it; reverting all relevant ones together does

    @property
    def regressed(self) -> bool:
        return self.allowed_then and not self.allowed_now


def flow_change(snapshot: Snapshot, known_good: KnownGood, flow: Flow) -> FlowChange:
    then = then_snapshot(snapshot, known_good)
    allowed_then = explain(then, flow).allowed
    allowed_now = explain(snapshot, flow).allowed
    relevant = relevant_changes(snapshot, flow, changes_between(snapshot, known_good))
    flipping: list[Change] = []
    jointly = False
    if allowed_then != allowed_now:
        for change in relevant:
            if is_allowed(revert(snapshot, then, [change]), flow) != allowed_now:
                flipping.append(change)
        if not flipping and relevant:
            jointly = is_allowed(revert(snapshot, then, relevant), flow) != allowed_now
    return FlowChange(allowed_then, allowed_now, tuple(relevant), tuple(flipping), jointly)
