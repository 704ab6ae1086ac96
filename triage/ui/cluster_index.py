"""Table rows for the cluster screen, built once per snapshot and kept by the app.

Textual-free: rows are `filtering.Row`s whose cells are plain strings, so a 10k-pod
snapshot costs one pass here and nothing per keystroke beyond the filter itself.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

from triage.model import Namespace, NetworkPolicy, Pod, Service, Snapshot
from triage.model.incident import Incident
from triage.policy import selector_matches, service_backends
from triage.ui.filtering import Row, format_labels, make_row


def pod_ports(pod: Pod) -> str:
    """`http:80,dns:53/UDP`: names first, protocol only when it is not TCP."""
    return ",".join(
        (f"{p.name}:" if p.name else "")
        + str(p.port)
        + ("" if p.protocol == "TCP" else f"/{p.protocol}")
        for p in pod.ports
    )


def describe_ports(pod: Pod) -> str:
    return ", ".join(
        f"{p.port}/{p.protocol}" + (f" ({p.name})" if p.name else "") for p in pod.ports
    )


class ClusterIndex:
    def __init__(self, snapshot: Snapshot, incident: Incident | None = None) -> None:
        self.snapshot = snapshot
        self.incident = incident

    # ------------------------------------------------------------------ rows

    @cached_property
    def namespace_rows(self) -> Sequence[Row[Namespace | None]]:
        counts = {ns: len(pods) for ns, pods in self.snapshot.pods_by_namespace.items()}
        rows: list[Row[Namespace | None]] = [
            make_row("*", None, ["(all)", str(len(self.snapshot.pods))])
        ]
        for ns in sorted(self.snapshot.namespaces, key=lambda n: n.name):
            cells = [ns.name, str(counts.get(ns.name, 0))]
            rows.append(make_row(ns.name, ns, cells, ns.labels, format_labels(ns.labels)))
        return rows

    @cached_property
    def pod_rows(self) -> Sequence[Row[Pod]]:
        rows = []
        for pod in sorted(self.snapshot.pods, key=lambda p: (p.namespace, p.name)):
            owner = str(pod.owner) if pod.owner is not None else ""
            ip = ",".join(pod.ips) + (" (host)" if pod.host_network else "")
            cells = [pod.namespace, pod.name, ip, pod_ports(pod), format_labels(pod.labels), owner]
            rows.append(make_row(pod.key, pod, cells, pod.labels))
        return rows

    @cached_property
    def pod_rows_by_namespace(self) -> Mapping[str, Sequence[Row[Pod]]]:
        grouped: dict[str, list[Row[Pod]]] = defaultdict(list)
        for row in self.pod_rows:
            grouped[row.item.namespace].append(row)
        return grouped

    def selected_pods(self, policy: NetworkPolicy) -> list[Pod]:
        return [
            pod
            for pod in self.snapshot.pods_by_namespace.get(policy.namespace, ())
            if selector_matches(policy.pod_selector, pod.labels)
        ]

    @cached_property
    def policy_rows(self) -> Sequence[Row[NetworkPolicy]]:
        rows = []
        for pol in sorted(self.snapshot.policies, key=lambda p: (p.namespace, p.name)):
            cells = [
                pol.namespace,
                pol.name,
                pol.pod_selector.describe(),
                ",".join(pol.policy_types),
                str(len(self.selected_pods(pol))),
            ]
            labels = dict(pol.pod_selector.match_labels)
            rows.append(make_row(pol.key, pol, cells, labels))
        return rows

    @cached_property
    def service_rows(self) -> Sequence[Row[Service]]:
        rows = []
        for svc in sorted(self.snapshot.services, key=lambda s: (s.namespace, s.name)):
            ports = ",".join(
                f"{p.port}→{p.target_port}/{p.protocol}"
                if p.protocol != "TCP"
                else f"{p.port}→{p.target_port}"
                for p in svc.ports
            )
            selector = format_labels(svc.selector) if svc.selector else "(none)"
            cells = [svc.namespace, svc.name, svc.cluster_ip or "", ports, selector]
            rows.append(make_row(svc.key, svc, cells, svc.selector or {}))
        return rows

    def rows(self, view: str, namespace: str | None) -> Sequence[Row[Any]]:
        if view == "pods":
            if namespace is None:
                return self.pod_rows
            return self.pod_rows_by_namespace.get(namespace, ())
        all_rows: Sequence[Row[Any]] = self.policy_rows if view == "policies" else self.service_rows
        if namespace is None:
            return all_rows
        return [r for r in all_rows if r.item.namespace == namespace]

    # ------------------------------------------------------------------ YAML

    def manifest(self, obj: Namespace | Pod | Service | NetworkPolicy) -> Mapping[str, Any]:
        """The object's manifest as recorded when the recording kept it, else rebuilt."""
        from triage.model import manifest
        from triage.sources import recording

        kind = type(obj).__name__
        key = obj.name if isinstance(obj, Namespace) else obj.key
        if self.incident is not None:
            kept = self.incident.extra.get(recording.MANIFESTS, {})
            if (kind, key) in kept:
                return kept[(kind, key)]  # type: ignore[no-any-return]
        if isinstance(obj, NetworkPolicy):
            return obj.manifest or manifest.policy_manifest_from_model(
                obj, with_resource_version=True
            )
        if isinstance(obj, Pod):
            return manifest.pod_manifest(obj)
        if isinstance(obj, Service):
            return manifest.service_manifest(obj)
        return manifest.namespace_manifest(obj)

    def backends(self, service: Service) -> tuple[Pod, ...]:
        return service_backends(self.snapshot, service)
