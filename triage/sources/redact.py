"""Redaction by construction: what a recording may hold, as an allow-list.

A recording is shared (postmortems, training, bug reports), so it must never carry a Secret,
a ConfigMap, a container's env/envFrom, args, command, volumes or mounts, a service-account
token, or an annotation nobody vetted (`kubectl.kubernetes.io/last-applied-configuration`
repeats the whole object, env included). Nothing here removes fields: every function builds a
new dict from the fields it names, so a field Kubernetes adds tomorrow stays out until someone
adds it here on purpose.

Both the writer (`triage.sources.recording`) and the live recorder (`triage record`) pass every
object through `redact_manifest`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any

# The annotations a recording keeps. Both are short, operator-facing and useful in triage:
# `default-container` tells a probe which container to exec into; `description` is the
# human explanation Kubernetes documents for any object. Nothing else, on any kind.
ALLOWED_ANNOTATIONS: frozenset[str] = frozenset(
    {
        "kubectl.kubernetes.io/default-container",
        "kubernetes.io/description",
    }
)

# Kinds a recording holds; every other kind (Secret, ConfigMap, ServiceAccount, ...) is refused.
RECORDABLE_KINDS: tuple[str, ...] = (
    "Namespace",
    "Pod",
    "Service",
    "NetworkPolicy",
    "ClusterNetworkPolicy",
    "AdminNetworkPolicy",
    "BaselineAdminNetworkPolicy",
)


class UnrecordableKind(ValueError):
    """An object of a kind a recording never holds (a Secret, a ConfigMap, ...)."""


def _copy(value: Any) -> Any:
    """A deep copy of plain data, without copy.deepcopy's bookkeeping for the shapes JSON
    and YAML give (a 10k-pod recording redacts several times faster); deepcopy for the rest."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or kind is float or value is None:
        return value
    if kind is dict:
        return {k: _copy(v) for k, v in value.items()}
    if kind is list:
        return [_copy(v) for v in value]
    return copy.deepcopy(value)


def _pick(source: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The named keys of `source` that are present and not None, deep-copied."""
    out: dict[str, Any] = {}
    for key in keys:
        value = source.get(key)
        if value is not None:
            out[key] = _copy(value)
    return out


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if type(value) is dict or isinstance(value, Mapping) else {}


def _list_of_mappings(value: Any) -> list[Mapping[str, Any]]:
    if not isinstance(value, list):
        return []
    return [v for v in value if type(v) is dict or isinstance(v, Mapping)]


_SCALAR = (str, int, float, bool)
_STR_ONLY = {str}


def _string_map(value: Any) -> dict[str, Any]:
    """A label map: string keys, scalar values (the parser reports non-strings)."""
    if type(value) is dict and set(map(type, value)) | set(map(type, value.values())) <= _STR_ONLY:
        return dict(value)  # every key and value a string: the usual case, checked in C
    return {str(k): v for k, v in _mapping(value).items() if isinstance(v, _SCALAR)}


def redact_metadata(
    meta: Any, *, namespaced: bool, owner_references: bool = False
) -> dict[str, Any]:
    """name, namespace, labels, uid, resourceVersion, creationTimestamp and the allowed
    annotations; ownerReferences (kind, name, controller, apiVersion, uid) when asked."""
    meta = _mapping(meta)
    keys = ["name", "namespace"] if namespaced else ["name"]
    out = _pick(meta, keys)
    labels = _string_map(meta.get("labels"))
    if labels:
        out["labels"] = labels
    annotations = {
        k: v
        for k, v in _mapping(meta.get("annotations")).items()
        if k in ALLOWED_ANNOTATIONS and isinstance(v, str)
    }
    if annotations:
        out["annotations"] = annotations
    if owner_references:
        refs = [
            _pick(ref, ("apiVersion", "kind", "name", "uid", "controller"))
            for ref in _list_of_mappings(meta.get("ownerReferences"))
        ]
        if refs:
            out["ownerReferences"] = refs
    out.update(_pick(meta, ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp")))
    return out


def _container_ports(value: Any) -> list[dict[str, Any]]:
    return [
        _pick(p, ("name", "containerPort", "protocol", "hostPort"))
        for p in _list_of_mappings(value)
    ]


def _container(value: Mapping[str, Any], *, with_ports: bool) -> dict[str, Any]:
    out = _pick(value, ("name", "image"))
    if with_ports:
        ports = _container_ports(value.get("ports"))
        if ports:
            out["ports"] = ports
    return out


def _container_status(value: Mapping[str, Any]) -> dict[str, Any]:
    out = _pick(value, ("name", "image", "ready", "started", "restartCount"))
    state: dict[str, Any] = {}
    # The state's reason and timestamps; never `message` (a termination message is free
    # text the container wrote, and may hold anything).
    for phase, state_keys in (
        ("running", ("startedAt",)),
        ("waiting", ("reason",)),
        ("terminated", ("reason", "exitCode", "startedAt", "finishedAt")),
    ):
        entry = _mapping(value.get("state")).get(phase)
        if isinstance(entry, Mapping):
            state[phase] = _pick(entry, state_keys)
    if state:
        out["state"] = state
    return out


def redact_pod(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A Pod as a recording keeps it: identity, labels, owner, container names, images and
    ports, hostNetwork, node, phase, readiness, deletion time and IPs. No env, args, command,
    volumes or mounts."""
    spec = _mapping(doc.get("spec"))
    status = _mapping(doc.get("status"))
    out_spec: dict[str, Any] = {
        "containers": [
            _container(c, with_ports=True) for c in _list_of_mappings(spec.get("containers"))
        ]
    }
    ephemeral = [
        _container(c, with_ports=False) for c in _list_of_mappings(spec.get("ephemeralContainers"))
    ]
    if ephemeral:
        out_spec["ephemeralContainers"] = ephemeral
    out_spec.update(_pick(spec, ("hostNetwork", "nodeName")))
    out_status = _pick(status, ("phase", "podIP", "hostIP"))
    # Readiness decides whether a Service forwards to the pod: the condition's type and
    # status only (never its message).
    conditions = [
        _pick(cond, ("type", "status"))
        for cond in _list_of_mappings(status.get("conditions"))
        if cond.get("type") == "Ready"
    ]
    if conditions:
        out_status["conditions"] = conditions
    pod_ips = [_pick(e, ("ip",)) for e in _list_of_mappings(status.get("podIPs"))]
    if pod_ips:
        out_status["podIPs"] = pod_ips
    statuses = [_container_status(s) for s in _list_of_mappings(status.get("containerStatuses"))]
    if statuses:
        out_status["containerStatuses"] = statuses
    out: dict[str, Any] = {
        "apiVersion": doc.get("apiVersion") or "v1",
        "kind": "Pod",
        "metadata": redact_metadata(doc.get("metadata"), namespaced=True, owner_references=True),
        "spec": out_spec,
    }
    if out_status:
        out["status"] = out_status
    return out


def redact_service(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A Service: selector, ports, cluster IPs and type."""
    spec = _mapping(doc.get("spec"))
    out_spec = _pick(
        spec,
        ("type", "selector", "clusterIP", "clusterIPs", "externalName", "publishNotReadyAddresses"),
    )
    ports = [
        _pick(p, ("name", "protocol", "port", "targetPort", "nodePort", "appProtocol"))
        for p in _list_of_mappings(spec.get("ports"))
    ]
    if ports:
        out_spec["ports"] = ports
    return {
        "apiVersion": doc.get("apiVersion") or "v1",
        "kind": "Service",
        "metadata": redact_metadata(doc.get("metadata"), namespaced=True),
        "spec": out_spec,
    }


def redact_namespace(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A Namespace: its name and labels (what namespaceSelectors see), and its phase."""
    out: dict[str, Any] = {
        "apiVersion": doc.get("apiVersion") or "v1",
        "kind": "Namespace",
        "metadata": redact_metadata(doc.get("metadata"), namespaced=False),
    }
    status = _pick(_mapping(doc.get("status")), ("phase",))
    if status:
        out["status"] = status
    return out


def redact_network_policy(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A NetworkPolicy: the full spec (it is what the tool reasons about) and its identity;
    annotations outside the allow-list are dropped, last-applied-configuration included."""
    out: dict[str, Any] = {
        "apiVersion": doc.get("apiVersion") or "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": redact_metadata(doc.get("metadata"), namespaced=True),
    }
    if doc.get("spec") is not None:
        out["spec"] = _copy(doc["spec"])
    return out


def _admin_redactor(kind: str, api_version: str) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    def redact(doc: Mapping[str, Any]) -> dict[str, Any]:
        """A cluster-scoped admin policy: like a NetworkPolicy, the full spec and identity."""
        out: dict[str, Any] = {
            "apiVersion": doc.get("apiVersion") or api_version,
            "kind": kind,
            "metadata": redact_metadata(doc.get("metadata"), namespaced=False),
        }
        if doc.get("spec") is not None:
            out["spec"] = _copy(doc["spec"])
        return out

    return redact


_REDACTORS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "Namespace": redact_namespace,
    "Pod": redact_pod,
    "Service": redact_service,
    "NetworkPolicy": redact_network_policy,
    "ClusterNetworkPolicy": _admin_redactor(
        "ClusterNetworkPolicy", "policy.networking.k8s.io/v1alpha2"
    ),
    "AdminNetworkPolicy": _admin_redactor(
        "AdminNetworkPolicy", "policy.networking.k8s.io/v1alpha1"
    ),
    "BaselineAdminNetworkPolicy": _admin_redactor(
        "BaselineAdminNetworkPolicy", "policy.networking.k8s.io/v1alpha1"
    ),
}


def redact_manifest(doc: Mapping[str, Any], kind: str | None = None) -> dict[str, Any]:
    """The allow-listed copy of one API object (a plain dict, as `kubectl get -o json` or
    `ApiClient.sanitize_for_serialization` gives it). `kind` names the kind when the object
    lacks it (items of a typed API list do). Raises UnrecordableKind for any kind but
    RECORDABLE_KINDS."""
    if not isinstance(doc, Mapping):
        raise TypeError(f"expected a mapping, got {type(doc).__name__}")
    actual = doc.get("kind") or kind
    redactor = _REDACTORS.get(actual) if isinstance(actual, str) else None
    if redactor is None:
        raise UnrecordableKind(
            f"a recording never holds a {actual or 'object without kind'}; it keeps only "
            + ", ".join(RECORDABLE_KINDS)
        )
    return redactor(doc)
