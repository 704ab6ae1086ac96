"""Content negotiation for GET: full objects, a meta.k8s.io/v1 Table, or metadata only.

A client asking `as=PartialObjectMetadataList` gets names and labels without spec, as from a
real apiserver, so a tool that accidentally reads spec from such a response fails here too.
"""

from __future__ import annotations

from typing import Any, Literal

from .objects import JsonDict
from .status import ApiError

Representation = Literal["object", "table", "partial"]
META_V1 = "meta.k8s.io/v1"


def _params(entry: str) -> tuple[str, dict[str, str]]:
    media, *rest = (part.strip() for part in entry.split(";"))
    params = {}
    for part in rest:
        key, _, value = part.partition("=")
        params[key.strip()] = value.strip()
    return media.lower(), params


def negotiate(accept: str, *, is_list: bool) -> Representation:
    """The first entry of Accept this server can produce, like the apiserver's negotiator."""
    if not accept.strip():
        return "object"
    for entry in accept.split(","):
        media, params = _params(entry)
        if media not in ("application/json", "application/*", "*/*"):
            continue  # protobuf, yaml, cbor: JSON is what this server speaks
        wanted = params.get("as")
        if wanted is None:
            return "object"
        if params.get("g") != "meta.k8s.io" or params.get("v") != "v1":
            continue
        if wanted == "Table":
            return "table"
        if wanted == ("PartialObjectMetadataList" if is_list else "PartialObjectMetadata"):
            return "partial"
    raise ApiError(
        406,
        "NotAcceptable",
        "only the following media types are accepted: application/json, "
        "application/json;as=Table;v=v1;g=meta.k8s.io, "
        "application/json;as=PartialObjectMetadata(List);v=v1;g=meta.k8s.io",
        {},
    )


def partial_object(obj: JsonDict) -> JsonDict:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": META_V1,
        "metadata": obj.get("metadata") or {},
    }


def partial_list(items: list[JsonDict], list_meta: dict[str, Any]) -> JsonDict:
    return {
        "kind": "PartialObjectMetadataList",
        "apiVersion": META_V1,
        "metadata": list_meta,
        "items": [partial_object(o) for o in items],
    }
