"""Cluster-scoped admin policies: ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2)
and AdminNetworkPolicy / BaselineAdminNetworkPolicy (v1alpha1), in one shape.

The three kinds say the same thing in two vocabularies, so the model holds one form:

- a tier (`Admin` before every NetworkPolicy, `Baseline` after them),
- a priority (lower first; the v1alpha1 singleton BaselineAdminNetworkPolicy has none and
  is ordered after every Baseline-tier ClusterNetworkPolicy, see `rank`),
- a subject (`namespaces`, or `pods` = namespace AND pod selector; host-network pods are
  never subjects),
- per direction an ordered rule list; each rule an action (`Accept`, `Deny`, `Pass`; the
  v1alpha1 `Allow` is stored as `Accept`), peers, and destination ports.

Peers that cannot be decided from a snapshot alone (`domainNames`, `nodes` with a label
selector) are kept as such; the evaluator says so in its trace rather than guessing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from triage.model.objects import Direction, LabelSelector, Protocol

Tier = Literal["Admin", "Baseline"]
TIERS: tuple[Tier, ...] = ("Admin", "Baseline")
Action = Literal["Accept", "Deny", "Pass"]
AdminKind = Literal["ClusterNetworkPolicy", "AdminNetworkPolicy", "BaselineAdminNetworkPolicy"]
ADMIN_KINDS: tuple[AdminKind, ...] = (
    "ClusterNetworkPolicy",
    "AdminNetworkPolicy",
    "BaselineAdminNetworkPolicy",
)
PeerKind = Literal["namespaces", "pods", "networks", "nodes", "domainNames", "unknown"]

# What `kubectl get` calls each kind (short names of the CRDs).
KUBECTL_RESOURCE: Mapping[AdminKind, str] = {
    "ClusterNetworkPolicy": "clusternetworkpolicies",
    "AdminNetworkPolicy": "adminnetworkpolicies",
    "BaselineAdminNetworkPolicy": "baselineadminnetworkpolicies",
}
SHORT_KIND: Mapping[AdminKind, str] = {
    "ClusterNetworkPolicy": "cnp",
    "AdminNetworkPolicy": "anp",
    "BaselineAdminNetworkPolicy": "banp",
}


@dataclass(frozen=True, slots=True)
class AdminSelector:
    """A subject, or a `namespaces` / `pods` peer: the namespace selector, and for `pods`
    the pod selector too (None: every pod of the selected namespaces)."""

    namespace_selector: LabelSelector
    pod_selector: LabelSelector | None = None

    def describe(self) -> str:
        if self.pod_selector is None:
            return f"namespaces {self.namespace_selector.describe()}"
        return (
            f"pods {self.pod_selector.describe()} in namespaces "
            f"{self.namespace_selector.describe()}"
        )


@dataclass(frozen=True, slots=True)
class AdminPeer:
    """One `from` / `to` entry. `kind` names the one field that is set; `unknown` is an
    entry with no field this model knows (an empty one, or one of a newer API version):
    the API says to fail closed on it (an Accept rule matches nothing, a Deny or Pass rule
    everything)."""

    kind: PeerKind
    selector: AdminSelector | None = None  # namespaces, pods
    networks: tuple[str, ...] = ()  # CIDRs
    node_selector: LabelSelector | None = None  # nodes
    domain_names: tuple[str, ...] = ()
    unknown_fields: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.selector is not None:
            return self.selector.describe()
        if self.kind == "networks":
            return f"networks {', '.join(self.networks)}"
        if self.kind == "nodes":
            sel = self.node_selector.describe() if self.node_selector is not None else "?"
            return f"nodes {sel}"
        if self.kind == "domainNames":
            return f"domainNames {', '.join(self.domain_names)}"
        fields = ", ".join(self.unknown_fields) or "no field"
        return f"unknown peer ({fields})"


@dataclass(frozen=True, slots=True)
class AdminPort:
    """One destination-port entry: a protocol with one port or an inclusive range, or a
    named port (resolved on the destination pod, whatever its protocol)."""

    protocol: Protocol | None = None  # None only for a named port
    port: int | None = None  # None with a protocol: every port of it
    end_port: int | None = None
    name: str | None = None

    def describe(self) -> str:
        if self.name is not None:
            return f"named port {self.name}"
        if self.port is None:
            return f"all {self.protocol} ports"
        if self.end_port is not None:
            return f"{self.protocol} {self.port}-{self.end_port}"
        return f"{self.protocol} {self.port}"


@dataclass(frozen=True, slots=True)
class AdminRule:
    name: str  # "" when the rule has none; shown as "#INDEX"
    action: Action
    peers: tuple[AdminPeer, ...]
    ports: tuple[AdminPort, ...] = ()  # empty: every port and protocol

    @property
    def fails_closed(self) -> bool:
        return any(p.kind == "unknown" for p in self.peers)


@dataclass(frozen=True, slots=True)
class AdminPolicy:
    kind: AdminKind
    name: str
    tier: Tier
    priority: int | None  # None: the BaselineAdminNetworkPolicy singleton
    subject: AdminSelector
    ingress: tuple[AdminRule, ...] = ()
    egress: tuple[AdminRule, ...] = ()
    resource_version: str | None = None
    manifest: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> str:
        """Unique across kinds: `cnp/NAME`, `anp/NAME`, `banp/default`."""
        return f"{SHORT_KIND[self.kind]}/{self.name}"

    @property
    def rank(self) -> tuple[int, int, str]:
        """Evaluation order within the tier: priority, then (for the undefined case of
        equal priorities, which lint reports) kind and name, so the answer is stable. The
        BaselineAdminNetworkPolicy has no priority and comes after every priority."""
        priority = 1001 if self.priority is None else self.priority
        return (priority, ADMIN_KINDS.index(self.kind), self.name)

    def rules(self, direction: Direction) -> tuple[AdminRule, ...]:
        return self.ingress if direction == "Ingress" else self.egress

    def rule_label(self, direction: Direction, index: int) -> str:
        """How a rule is named to people: its `name`, else `ingress #0`."""
        rule = self.rules(direction)[index]
        return rule.name if rule.name else f"{direction.lower()} #{index}"
