"""PATCH bodies: JSON merge patch (RFC 7386), strategic merge patch and JSON patch (RFC 6902).

Strategic merge differs from merge patch only for lists that declare a merge key in the Go
types. NetworkPolicy declares none, so for it SMP is exactly a merge patch; pods merge their
container lists by name, which is what the ephemeralcontainers subresource relies on.
"""

from __future__ import annotations

import copy
from typing import Any

from .status import ApiError, bad_request

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# Field name → merge key, for the list fields of the kinds this server stores.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
    "ownerReferences": "uid",
    "conditions": "type",
    "containerStatuses": "name",
    "initContainerStatuses": "name",
    "ephemeralContainerStatuses": "name",
    "podIPs": "ip",
}
# Service and container ports merge on the port number.
PORT_MERGE_KEYS = {"ports": ("containerPort", "port")}


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):  # directives such as $setElementOrder/ and $retainKeys
            continue
        if value is None:
            result.pop(key, None)
            continue
        merge_key = _merge_key(key, result.get(key), value)
        if merge_key and isinstance(value, list):
            result[key] = _merge_list(result.get(key) or [], value, merge_key)
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    return result


def _merge_key(field: str, current: Any, incoming: Any) -> str | None:
    if field in MERGE_KEYS:
        return MERGE_KEYS[field]
    if field in PORT_MERGE_KEYS:
        sample = next((e for e in [*(incoming or []), *(current or [])] if isinstance(e, dict)), {})
        for candidate in PORT_MERGE_KEYS[field]:
            if candidate in sample:
                return candidate
    return None


def _merge_list(current: list[Any], patch: list[Any], key: str) -> list[Any]:
    merged = [copy.deepcopy(item) for item in current]
    for item in patch:
        if not isinstance(item, dict):
            merged.append(copy.deepcopy(item))
            continue
        directive = item.get("$patch")
        index = next(
            (
                i
                for i, existing in enumerate(merged)
                if isinstance(existing, dict) and existing.get(key) == item.get(key)
            ),
            None,
        )
        if directive == "delete":
            if index is not None:
                merged.pop(index)
        elif index is None:
            merged.append({k: copy.deepcopy(v) for k, v in item.items() if k != "$patch"})
        else:
            merged[index] = strategic_merge_patch(merged[index], item)
    return merged


def json_patch(target: Any, operations: Any) -> Any:
    if not isinstance(operations, list):
        raise bad_request("the JSON patch must be a list of operations")
    document = copy.deepcopy(target)
    for operation in operations:
        document = _apply_operation(document, operation)
    return document


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f"invalid JSON pointer {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _parent(document: Any, parts: list[str]) -> Any:
    node = document
    for part in parts[:-1]:
        if isinstance(node, list):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise _unprocessable(f"doc is missing path: /{'/'.join(parts)}")
    return node


def _unprocessable(message: str) -> ApiError:
    # JSON patch failures come back as 422 with no details in the apiserver.
    return ApiError(422, "Invalid", message)


def _apply_operation(document: Any, operation: dict[str, Any]) -> Any:
    op = operation.get("op")
    parts = _pointer(str(operation.get("path", "")))
    if op in ("add", "replace", "test") and "value" not in operation:
        raise bad_request(f"missing value for {op} operation")
    if op == "test":
        if _get(document, parts) != operation["value"]:
            raise _unprocessable(f"testing value /{'/'.join(parts)} failed")
        return document
    if op in ("move", "copy"):
        value = copy.deepcopy(_get(document, _pointer(str(operation.get("from", "")))))
        if op == "move":
            document = _remove(document, _pointer(str(operation["from"])))
        return _add(document, parts, value)
    if op == "remove":
        return _remove(document, parts)
    if op == "replace":
        _get(document, parts)
        document = _remove(document, parts)
        return _add(document, parts, copy.deepcopy(operation["value"]))
    if op == "add":
        return _add(document, parts, copy.deepcopy(operation["value"]))
    raise bad_request(f"unexpected JSON patch operation {op!r}")


def _get(document: Any, parts: list[str]) -> Any:
    node = document
    for part in parts:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError):
            raise _unprocessable(f"doc is missing path: /{'/'.join(parts)}") from None
    return node


def _add(document: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent = _parent(document, parts)
    last = parts[-1]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if index > len(parent):
            raise _unprocessable(f"add operation index {index} out of bounds")
        parent.insert(index, value)
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise _unprocessable(f"doc is missing path: /{'/'.join(parts)}")
    return document


def _remove(document: Any, parts: list[str]) -> Any:
    parent = _parent(document, parts)
    try:
        if isinstance(parent, list):
            parent.pop(int(parts[-1]))
        else:
            del parent[parts[-1]]
    except (KeyError, IndexError, ValueError, TypeError):
        raise _unprocessable(f"doc is missing path: /{'/'.join(parts)}") from None
    return document


def apply_patch(content_type: str, target: Any, body: Any) -> Any:
    media = content_type.split(";")[0].strip().lower()
    if media == MERGE_PATCH:
        return merge_patch(target, body)
    if media == STRATEGIC_MERGE_PATCH:
        return strategic_merge_patch(target, body)
    if media == JSON_PATCH:
        return json_patch(target, body)
    raise ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{JSON_PATCH}, {MERGE_PATCH}, {STRATEGIC_MERGE_PATCH} "
        "(server-side apply is not supported by the triage test server)",
    )
