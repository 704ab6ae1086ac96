"""The resource types the test API server knows, and how names map onto them.

Discovery documents, URL routing, Status messages ("networkpolicies.networking.k8s.io ...")
and kubectl's short names all derive from one `Resource` record, so they cannot drift apart.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

READ_VERBS = ("get", "list", "watch")
WRITE_VERBS = ("create", "delete", "deletecollection", "patch", "update")


@dataclass(frozen=True)
class Subresource:
    name: str
    kind: str
    verbs: tuple[str, ...]


@dataclass(frozen=True)
class Resource:
    group: str  # "" is the legacy core group served under /api/v1
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[Subresource, ...] = ()
    verbs: tuple[str, ...] = tuple(sorted(READ_VERBS + WRITE_VERBS))

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """The `GroupResource` string the apiserver puts into error messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def base_path(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    def subresource(self, name: str) -> Subresource | None:
        return next((s for s in self.subresources if s.name == name), None)

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        parts = [self.base_path]
        if self.namespaced and namespace is not None:
            parts.append(f"namespaces/{namespace}")
        parts.append(self.plural)
        if name is not None:
            parts.append(name)
        return "/".join(parts)


_STATUS = "status"

NAMESPACES = Resource(
    group="",
    version="v1",
    plural="namespaces",
    singular="namespace",
    kind="Namespace",
    namespaced=False,
    short_names=("ns",),
    subresources=(
        Subresource("finalize", "Namespace", ("update",)),
        Subresource(_STATUS, "Namespace", ("get", "patch", "update")),
    ),
    verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
)
PODS = Resource(
    group="",
    version="v1",
    plural="pods",
    singular="pod",
    kind="Pod",
    namespaced=True,
    short_names=("po",),
    categories=("all",),
    subresources=(
        Subresource("ephemeralcontainers", "Pod", ("get", "patch", "update")),
        Subresource("exec", "PodExecOptions", ("create", "get")),
        Subresource(_STATUS, "Pod", ("get", "patch", "update")),
    ),
)
SERVICES = Resource(
    group="",
    version="v1",
    plural="services",
    singular="service",
    kind="Service",
    namespaced=True,
    short_names=("svc",),
    categories=("all",),
    subresources=(Subresource(_STATUS, "Service", ("get", "patch", "update")),),
)
NETWORK_POLICIES = Resource(
    group="networking.k8s.io",
    version="v1",
    plural="networkpolicies",
    singular="networkpolicy",
    kind="NetworkPolicy",
    namespaced=True,
    short_names=("netpol",),
)
CRDS = Resource(
    group="apiextensions.k8s.io",
    version="v1",
    plural="customresourcedefinitions",
    singular="customresourcedefinition",
    kind="CustomResourceDefinition",
    namespaced=False,
    short_names=("crd", "crds"),
    categories=("api-extensions",),
    subresources=(Subresource(_STATUS, "CustomResourceDefinition", ("get", "patch", "update")),),
)

BUILTIN_RESOURCES = (NAMESPACES, PODS, SERVICES, NETWORK_POLICIES, CRDS)


@dataclass(frozen=True)
class CrdShape:
    kind: str
    version: str
    namespaced: bool
    short_names: tuple[str, ...] = ()


# The policy CRDs a triage tool cares about, so `add_crd("<plural>.<group>")` needs no more
# arguments for them. Versions are the ones each project serves as its storage version.
KNOWN_CRDS: dict[str, CrdShape] = {
    "networkpolicies.crd.projectcalico.org": CrdShape("NetworkPolicy", "v1", True),
    "globalnetworkpolicies.crd.projectcalico.org": CrdShape("GlobalNetworkPolicy", "v1", False),
    "networkpolicies.projectcalico.org": CrdShape(
        "NetworkPolicy", "v3", True, ("cnp", "caliconetworkpolicy")
    ),
    "globalnetworkpolicies.projectcalico.org": CrdShape(
        "GlobalNetworkPolicy", "v3", False, ("gnp",)
    ),
    "ciliumnetworkpolicies.cilium.io": CrdShape(
        "CiliumNetworkPolicy", "v2", True, ("cnp", "ciliumnp")
    ),
    "ciliumclusterwidenetworkpolicies.cilium.io": CrdShape(
        "CiliumClusterwideNetworkPolicy", "v2", False, ("ccnp",)
    ),
    "adminnetworkpolicies.policy.networking.k8s.io": CrdShape(
        "AdminNetworkPolicy", "v1alpha1", False, ("anp",)
    ),
    "baselineadminnetworkpolicies.policy.networking.k8s.io": CrdShape(
        "BaselineAdminNetworkPolicy", "v1alpha1", False, ("banp",)
    ),
    "clusternetworkpolicies.policy.networking.k8s.io": CrdShape(
        "ClusterNetworkPolicy", "v1alpha2", False, ("cnp",)
    ),
}


def crd_resource(
    name: str,
    *,
    kind: str | None = None,
    version: str | None = None,
    namespaced: bool | None = None,
    short_names: tuple[str, ...] | None = None,
) -> Resource:
    """Describe the custom resource that CRD `name` (`<plural>.<group>`) would serve."""
    plural, _, group = name.partition(".")
    if not plural or "." not in group:
        raise ValueError(f"CRD name must be <plural>.<group>, got {name!r}")
    known = KNOWN_CRDS.get(name)
    if kind is None:
        if known is None:
            raise ValueError(f"unknown CRD {name!r}: pass kind= (and version=, namespaced=)")
        kind = known.kind
    return Resource(
        group=group,
        version=version or (known.version if known else "v1"),
        plural=plural,
        singular=kind.lower(),
        kind=kind,
        namespaced=namespaced if namespaced is not None else (known.namespaced if known else True),
        short_names=short_names
        if short_names is not None
        else (known.short_names if known else ()),
    )


@dataclass
class ResourceRegistry:
    """All served resources. CRDs register into it at run time, hence the lock."""

    _by_path: dict[tuple[str, str, str], Resource] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def builtin(cls) -> ResourceRegistry:
        registry = cls()
        for resource in BUILTIN_RESOURCES:
            registry.register(resource)
        return registry

    def register(self, resource: Resource) -> None:
        with self._lock:
            self._by_path[(resource.group, resource.version, resource.plural)] = resource

    def lookup(self, group: str, version: str, plural: str) -> Resource | None:
        with self._lock:
            return self._by_path.get((group, version, plural))

    def all(self) -> list[Resource]:
        with self._lock:
            return list(self._by_path.values())

    def group_versions(self) -> dict[str, list[str]]:
        """Group name → served versions, in registration order ("" is the core group)."""
        groups: dict[str, list[str]] = {}
        for resource in self.all():
            versions = groups.setdefault(resource.group, [])
            if resource.version not in versions:
                versions.append(resource.version)
        return groups

    def in_group_version(self, group: str, version: str) -> list[Resource]:
        return [r for r in self.all() if r.group == group and r.version == version]

    def resolve(self, name: str) -> Resource:
        """Find a resource the way a test would name it: kind, plural, singular or short name,
        optionally qualified with its group ("networkpolicies.crd.projectcalico.org")."""
        wanted = name.lower()
        matches = [r for r in self.all() if wanted in _names(r)]
        if not matches:
            raise KeyError(f"no resource called {name!r}")
        # Built-ins win over CRDs with the same kind (Calico's NetworkPolicy vs ours), the way
        # kubectl prefers the core groups.
        matches.sort(key=lambda r: r not in BUILTIN_RESOURCES)
        return matches[0]

    def for_object(self, obj: dict[str, object]) -> Resource:
        api_version = obj.get("apiVersion")
        kind = obj.get("kind")
        if not isinstance(kind, str):
            raise ValueError("object has no kind")
        for resource in self.all():
            if resource.kind == kind and (api_version in (None, resource.api_version)):
                return resource
        raise ValueError(f"no resource serves {api_version}/{kind}")


def _names(resource: Resource) -> Iterator[str]:
    for base in (resource.kind.lower(), resource.plural, resource.singular, *resource.short_names):
        yield base
        yield f"{base}.{resource.group}" if resource.group else base
