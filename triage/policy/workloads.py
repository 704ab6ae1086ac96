"""Workloads as selectors see them: the labels that tell a workload's pods apart from the
other pods of their namespace (never pod-template-hash and the like, which change on every
rollout), and DNS-safe names for the policies generated for them. Used by the checklist's
least-privilege fix and by the rollout's generated allows."""

from __future__ import annotations

import re
from collections.abc import Sequence

from triage.model import Pod, Snapshot

# Labels that identify one pod or one revision, not a workload: a selector on them breaks on
# the next rollout.
VOLATILE_LABELS = frozenset(
    {
        "pod-template-hash",
        "controller-revision-hash",
        "pod-template-generation",
        "statefulset.kubernetes.io/pod-name",
        "apps.kubernetes.io/pod-index",
        "controller-uid",
        "batch.kubernetes.io/controller-uid",
        "job-name",
        "batch.kubernetes.io/job-name",
    }
)
# Keys that usually name a workload: tried first, in this order.
PREFERRED_LABELS = (
    "app.kubernetes.io/name",
    "app",
    "k8s-app",
    "name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "component",
    "tier",
    "role",
)


def distinguishing_labels(snapshot: Snapshot, pods: Sequence[Pod]) -> dict[str, str]:
    """The fewest labels, shared by all `pods`, that select no pod of their namespace outside
    their workloads; every shared stable label when no subset is that precise; {} when they
    share none."""
    if not pods:
        return {}
    common = {k: v for k, v in pods[0].labels.items() if k not in VOLATILE_LABELS}
    for pod in pods[1:]:
        common = {k: v for k, v in common.items() if pod.labels.get(k) == v}
    if not common:
        return {}
    namespace = pods[0].namespace
    neighbours = snapshot.pods_by_namespace.get(namespace, ())
    workloads = {p.workload for p in pods}
    wanted = {p.key for p in pods}
    acceptable = wanted | {p.key for p in neighbours if p.workload in workloads}
    rank = {k: i for i, k in enumerate(PREFERRED_LABELS)}
    keys = sorted(common, key=lambda k: (rank.get(k, len(rank)), k))
    chosen: dict[str, str] = {}
    candidates = list(neighbours)
    for key in keys:
        chosen[key] = common[key]
        candidates = [p for p in candidates if p.labels.get(key) == common[key]]
        if {p.key for p in candidates} <= acceptable:
            return chosen
    return chosen


def dns_name(text: str, limit: int = 63) -> str:
    """`text` as a DNS label (lowercase alphanumerics and dashes), at most `limit` long."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    name = re.sub(r"-{2,}", "-", name)
    return name[:limit].rstrip("-") or "fix"
