"""Immutable cluster objects: what the engine reasons about, nothing more.

Label maps are plain dicts typed as ``Mapping``: they are never mutated after parsing, and
keeping them dicts keeps 10k-pod snapshots cheap to build.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Protocol = Literal["TCP", "UDP", "SCTP"]
PROTOCOLS: tuple[Protocol, ...] = ("TCP", "UDP", "SCTP")
Direction = Literal["Ingress", "Egress"]
Operator = Literal["In", "NotIn", "Exists", "DoesNotExist"]
OPERATORS: tuple[Operator, ...] = ("In", "NotIn", "Exists", "DoesNotExist")

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def shown_value(value: str) -> str:
    """A label value as a person should read it: the empty value (a valid one) as `""`."""
    return value if value else '""'


@dataclass(frozen=True, slots=True)
class Requirement:
    """One `matchExpressions` entry."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LabelSelector:
    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[Requirement, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.match_labels and not self.match_expressions

    def describe(self) -> str:
        """kubectl-style rendering: `app=web,tier in (a,b),!debug`."""
        parts = [f"{k}={v}" for k, v in self.match_labels]
        for req in self.match_expressions:
            values = ",".join(shown_value(v) for v in req.values)
            if req.operator == "In":
                parts.append(f"{req.key} in ({values})")
            elif req.operator == "NotIn":
                parts.append(f"{req.key} notin ({values})")
            elif req.operator == "Exists":
                parts.append(req.key)
            else:
                parts.append(f"!{req.key}")
        return ",".join(parts) if parts else "{} (all)"


@dataclass(frozen=True, slots=True)
class ContainerPort:
    port: int
    protocol: Protocol = "TCP"
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Container:
    name: str
    image: str = ""
    ports: tuple[ContainerPort, ...] = ()


@dataclass(frozen=True, slots=True)
class Namespace:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    synthesized: bool = False  # made up because a pod referenced it; see sources


@dataclass(frozen=True, slots=True)
class Owner:
    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True, slots=True)
class Pod:
    namespace: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    ips: tuple[str, ...] = ()
    containers: tuple[Container, ...] = ()
    host_network: bool = False
    owner: Owner | None = None
    node: str | None = None
    phase: str | None = None
    # `status.conditions[type=Ready]`: None when the object does not say (a hand-written
    # manifest); such a pod is taken as ready, as a Service would forward to it once running.
    ready: bool | None = None
    deletion_timestamp: str | None = None  # `metadata.deletionTimestamp`: shutting down

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def terminating(self) -> bool:
        return self.deletion_timestamp is not None

    @property
    def ports(self) -> tuple[ContainerPort, ...]:
        return tuple(p for c in self.containers for p in c.ports)

    def named_port(self, name: str, protocol: Protocol) -> int | None:
        """The number behind a port name: the first container port with that name and
        protocol, across containers in order (Kubernetes' FindPort does the same)."""
        for container in self.containers:
            for cp in container.ports:
                if cp.name == name and cp.protocol == protocol:
                    return cp.port
        return None

    @property
    def workload(self) -> str:
        """The owner if known (ReplicaSet hashes trimmed to the Deployment), else the pod."""
        if self.owner is None:
            return self.name
        if self.owner.kind == "ReplicaSet" and "-" in self.owner.name:
            return self.owner.name.rsplit("-", 1)[0]
        return self.owner.name


@dataclass(frozen=True, slots=True)
class ServicePort:
    port: int
    target_port: int | str
    protocol: Protocol = "TCP"
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Service:
    namespace: str
    name: str
    selector: Mapping[str, str] | None = None  # None: no selector, endpoints managed by hand
    ports: tuple[ServicePort, ...] = ()
    cluster_ip: str | None = None
    type: str = "ClusterIP"
    # `spec.clusterIPs` as recorded, the primary first: two on a dual-stack Service; ()
    # when the manifest has none (then `cluster_ip` is the only one).
    cluster_ips: tuple[str, ...] = ()
    # `spec.publishNotReadyAddresses`: every selected pod counts as ready, terminating too.
    publish_not_ready: bool = False

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def all_cluster_ips(self) -> tuple[str, ...]:
        """Every address the Service answers on, of either family."""
        if self.cluster_ips:
            return self.cluster_ips
        return (self.cluster_ip,) if self.cluster_ip else ()


@dataclass(frozen=True, slots=True)
class IPBlock:
    cidr: str
    excepts: tuple[str, ...] = ()

    @property
    def network(self) -> IPNetwork:
        return ipaddress.ip_network(self.cidr, strict=False)


@dataclass(frozen=True, slots=True)
class Peer:
    """One `from`/`to` entry. Exactly one of the three shapes is set:
    pod and/or namespace selector, or an ipBlock."""

    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    ip_block: IPBlock | None = None

    def describe(self) -> str:
        if self.ip_block is not None:
            exc = f" except {', '.join(self.ip_block.excepts)}" if self.ip_block.excepts else ""
            return f"ipBlock {self.ip_block.cidr}{exc}"
        parts = []
        if self.namespace_selector is not None:
            parts.append(f"namespaceSelector {self.namespace_selector.describe()}")
        if self.pod_selector is not None:
            parts.append(f"podSelector {self.pod_selector.describe()}")
        return " AND ".join(parts)


@dataclass(frozen=True, slots=True)
class PolicyPort:
    protocol: Protocol = "TCP"
    port: int | str | None = None  # None: every port of the protocol
    end_port: int | None = None

    def describe(self) -> str:
        if self.port is None:
            return f"all {self.protocol} ports"
        if self.end_port is not None:
            return f"{self.protocol} {self.port}-{self.end_port}"
        return f"{self.protocol} {self.port}"


@dataclass(frozen=True, slots=True)
class Rule:
    """An ingress or egress rule. Empty `peers`: every peer; empty `ports`: every port."""

    peers: tuple[Peer, ...] = ()
    ports: tuple[PolicyPort, ...] = ()


@dataclass(frozen=True, slots=True)
class NetworkPolicy:
    namespace: str
    name: str
    pod_selector: LabelSelector
    policy_types: tuple[Direction, ...]  # effective types, defaults applied
    ingress: tuple[Rule, ...] = ()
    egress: tuple[Rule, ...] = ()
    resource_version: str | None = None
    manifest: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def rules(self, direction: Direction) -> tuple[Rule, ...]:
        return self.ingress if direction == "Ingress" else self.egress
