"""A Snapshot: everything the engine needs, with the indexes that keep it fast."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

from triage.model.admin import AdminPolicy
from triage.model.objects import Namespace, NetworkPolicy, Pod, Service

T = TypeVar("T")


@dataclass(frozen=True)
class Snapshot:
    namespaces: tuple[Namespace, ...] = ()
    pods: tuple[Pod, ...] = ()
    services: tuple[Service, ...] = ()
    policies: tuple[NetworkPolicy, ...] = ()
    warnings: tuple[str, ...] = field(default=(), compare=False)
    # Other policy engines found installed ("Calico (globalnetworkpolicies.crd...)", ...):
    # their rules can allow or deny what these verdicts do not see.
    policy_engines: tuple[str, ...] = field(default=(), compare=False)
    # Cluster-scoped ClusterNetworkPolicies / (Baseline)AdminNetworkPolicies, by `key`.
    admin_policies: tuple[AdminPolicy, ...] = ()
    # The namespaces that were loaded when the source is partial (`-n NS`, for users who
    # may not list cluster-wide); None: the whole cluster. Outside it the engine answers
    # "unknown", never DENIED (triage.policy.scope).
    scope: tuple[str, ...] | None = field(default=None, compare=False)

    @cached_property
    def _derived(self) -> dict[Callable[[Snapshot], Any], Any]:
        return {}

    def derived(self, build: Callable[[Snapshot], T]) -> T:
        """`build(self)`, computed once per snapshot and held by it (keyed by `build`): how
        layers above the model keep their compiled forms of a snapshot without a global
        cache. `build` must depend on the snapshot alone; the snapshot never changes."""
        cache = self._derived
        if build not in cache:
            cache[build] = build(self)
        return cache[build]  # type: ignore[no-any-return]

    @cached_property
    def namespace_by_name(self) -> Mapping[str, Namespace]:
        return {ns.name: ns for ns in self.namespaces}

    @cached_property
    def pod_by_key(self) -> Mapping[str, Pod]:
        return {p.key: p for p in self.pods}

    @cached_property
    def pods_by_namespace(self) -> Mapping[str, tuple[Pod, ...]]:
        grouped: dict[str, list[Pod]] = defaultdict(list)
        for pod in self.pods:
            grouped[pod.namespace].append(pod)
        return {ns: tuple(pods) for ns, pods in grouped.items()}

    @cached_property
    def pods_by_label(self) -> Mapping[tuple[str, str], tuple[Pod, ...]]:
        grouped: dict[tuple[str, str], list[Pod]] = defaultdict(list)
        for pod in self.pods:
            for item in pod.labels.items():
                grouped[item].append(pod)
        return {k: tuple(v) for k, v in grouped.items()}

    @cached_property
    def pods_by_ip(self) -> Mapping[str, Pod]:
        # hostNetwork pods share the node IP; the first non-host pod owns an IP.
        index: dict[str, Pod] = {}
        for pod in self.pods:
            for ip in pod.ips:
                if ip not in index or (index[ip].host_network and not pod.host_network):
                    index[ip] = pod
        return index

    @cached_property
    def policies_by_namespace(self) -> Mapping[str, tuple[NetworkPolicy, ...]]:
        grouped: dict[str, list[NetworkPolicy]] = defaultdict(list)
        for pol in self.policies:
            grouped[pol.namespace].append(pol)
        return {ns: tuple(pols) for ns, pols in grouped.items()}

    @cached_property
    def policy_by_key(self) -> Mapping[str, NetworkPolicy]:
        return {p.key: p for p in self.policies}

    @cached_property
    def service_by_key(self) -> Mapping[str, Service]:
        return {s.key: s for s in self.services}

    def pod(self, namespace: str, name: str) -> Pod | None:
        return self.pod_by_key.get(f"{namespace}/{name}")

    def service(self, namespace: str, name: str) -> Service | None:
        return self.service_by_key.get(f"{namespace}/{name}")

    def namespace_labels(self, name: str) -> Mapping[str, str] | None:
        ns = self.namespace_by_name.get(name)
        return None if ns is None else ns.labels

    def with_policies(self, policies: tuple[NetworkPolicy, ...]) -> Snapshot:
        """Same cluster, another policy set: how plans and diffs ask "what if"."""
        return dataclasses.replace(self, policies=policies)

    def with_admin_policies(self, admin_policies: tuple[AdminPolicy, ...]) -> Snapshot:
        """Same cluster, another set of cluster-scoped admin policies."""
        return dataclasses.replace(self, admin_policies=admin_policies)

    def in_scope(self, namespace: str) -> bool:
        """Was this namespace loaded? Always, unless the source is partial (`-n`)."""
        return self.scope is None or namespace in self.scope
