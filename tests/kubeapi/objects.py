"""Turning loosely written fixtures into objects a real apiserver could have returned.

kubernetes 37's pydantic models reject a Pod without spec.containers, a resourceVersion that
is an int and a timestamp that is not RFC 3339 with a ValidationError (not an ApiException),
so every object is cleaned here once, on the way into the store.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import uuid
from typing import Any, TypeVar, cast

from .resources import Resource

JsonDict = dict[str, Any]
T = TypeVar("T")

DEFAULT_IMAGE = "registry.k8s.io/pause:3.10"


def rfc3339(moment: dt.datetime | None = None) -> str:
    moment = moment or dt.datetime.now(dt.UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _json_default(value: object) -> object:
    # PyYAML turns unquoted timestamps into datetimes; the apiserver only ever sends strings.
    if isinstance(value, dt.datetime):
        return rfc3339(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def clone(obj: T) -> T:
    """Deep copy through JSON: faster than copy.deepcopy, and it normalises YAML scalars."""
    return cast(T, json.loads(json.dumps(obj, default=_json_default)))


def new_uid() -> str:
    return str(uuid.uuid4())


def meta(obj: JsonDict) -> JsonDict:
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
        obj["metadata"] = metadata
    return metadata


def prepare(resource: Resource, obj: JsonDict, *, default_namespace: str = "default") -> JsonDict:
    """Fill what the apiserver always sets (except resourceVersion, which the store owns).

    Mutates and returns `obj`, which must already be a private copy.
    """
    obj["apiVersion"] = resource.api_version
    obj["kind"] = resource.kind
    metadata = meta(obj)
    if resource.namespaced:
        metadata.setdefault("namespace", default_namespace)
    else:
        metadata.pop("namespace", None)
    if not metadata.get("uid"):
        metadata["uid"] = new_uid()
    if not metadata.get("creationTimestamp"):
        metadata["creationTimestamp"] = rfc3339()
    if "resourceVersion" in metadata:
        metadata["resourceVersion"] = str(metadata["resourceVersion"])
    if "generation" in metadata and isinstance(metadata["generation"], str):
        metadata["generation"] = int(metadata["generation"])
    if resource.kind == "Pod":
        _prepare_pod(obj)
    elif resource.kind == "NetworkPolicy":
        # A missing podSelector is not an error: Go decodes it to the zero LabelSelector,
        # which the apiserver stores and returns as {} (select every pod of the namespace).
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict) and spec.get("podSelector") is None:
            spec["podSelector"] = {}
        metadata.setdefault("generation", 1)
    return obj


def _prepare_pod(pod: JsonDict) -> None:
    spec = pod.setdefault("spec", {})
    containers = spec.get("containers")
    if not containers:
        containers = [{"name": "app", "image": DEFAULT_IMAGE}]
        spec["containers"] = containers
    images: dict[str, str] = {}
    for kind in ("containers", "initContainers", "ephemeralContainers"):
        for index, container in enumerate(spec.get(kind) or []):
            container.setdefault("name", f"{kind[:-1].lower()}-{index}")
            images[container["name"]] = container.get("image", "")
    status = pod.get("status")
    if not isinstance(status, dict):
        return
    for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        for entry in status.get(key) or []:
            _complete_container_status(entry, images)


def _complete_container_status(entry: JsonDict, images: dict[str, str]) -> None:
    # V1ContainerStatus requires name, image, imageID, ready and restartCount.
    entry.setdefault("name", "app")
    entry.setdefault("image", images.get(entry["name"], DEFAULT_IMAGE) or DEFAULT_IMAGE)
    entry.setdefault("imageID", "")
    entry.setdefault("restartCount", 0)
    if "ready" not in entry:
        state = entry.get("state") or {}
        entry["ready"] = "running" in state


def running_state() -> JsonDict:
    return {"running": {"startedAt": rfc3339()}}


def container_id() -> str:
    return f"containerd://{secrets.token_hex(32)}"


def key_of(obj: JsonDict) -> tuple[str, str]:
    metadata = obj.get("metadata") or {}
    return (metadata.get("namespace") or "", metadata.get("name") or "")


def without_type_meta(obj: JsonDict) -> JsonDict:
    """Items of a typed list carry no kind/apiVersion on the wire (kubectl re-adds them)."""
    return {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}


def dig(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj
