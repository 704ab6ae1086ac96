"""metav1.Status bodies, shaped byte for byte like the apiserver's.

The tool under test parses `e.body` of ApiException (reason, details.causes, message), so
these shapes are part of the contract, not decoration: keep key names and message wording
as in k8s.io/apimachinery/pkg/api/errors.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from .resources import Resource

REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}

EXPIRED_CONTINUE_MESSAGE = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter, or use the continue token "
    "in this response to retrieve the remainder of the results. Continuing with the "
    "provided token results in an inconsistent list - objects that were created, modified, "
    "or deleted between the time the first chunk was returned and now may show up in the list."
)


class ApiError(Exception):
    """A failure the server answers with a Status body. Raised anywhere in a handler."""

    def __init__(
        self,
        code: int,
        reason: str | None,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        list_meta: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.list_meta = list_meta or {}
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": dict(self.list_meta),
            "status": "Failure",
            "message": self.message,
        }
        # StatusReasonUnknown is "" and omitempty in Go: non-API errors carry no reason key.
        if self.reason:
            status["reason"] = self.reason
        if self.details is not None:
            status["details"] = self.details
        status["code"] = self.code
        return status

    def json(self) -> bytes:
        return json.dumps(self.body()).encode()


def resource_details(resource: Resource, name: str | None = None) -> dict[str, Any]:
    # Go's StatusDetails has omitempty everywhere, and puts the *resource* into "kind".
    details: dict[str, Any] = {}
    if name:
        details["name"] = name
    if resource.group:
        details["group"] = resource.group
    details["kind"] = resource.plural
    return details


def not_found(resource: Resource, name: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{resource.qualified} "{name}" not found',
        resource_details(resource, name),
    )


def unknown_path() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def already_exists(resource: Resource, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{resource.qualified} "{name}" already exists',
        resource_details(resource, name),
    )


def conflict(resource: Resource, name: str, why: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {resource.qualified} "{name}": {why}',
        resource_details(resource, name),
    )


STALE_OBJECT = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def method_not_allowed(
    message: str = "the server does not allow this method on the requested resource",
) -> ApiError:
    return ApiError(405, "MethodNotAllowed", message, {})


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def expired_continue(inconsistent_token: str | None) -> ApiError:
    meta = {"continue": inconsistent_token} if inconsistent_token else {}
    return ApiError(410, "Expired", EXPIRED_CONTINUE_MESSAGE, list_meta=meta)


def internal_error(why: str) -> ApiError:
    """apierrors.NewInternalError: the cause is repeated in details.causes."""
    return ApiError(
        500,
        "InternalError",
        f"Internal error occurred: {why}",
        {"causes": [{"message": why}]},
    )


def unknown_error(message: str, code: int = 500) -> ApiError:
    """What ErrorToAPIStatus makes of a plain Go error: no reason, no details."""
    return ApiError(code, None, message)


def forbidden(
    resource: Resource,
    *,
    user: str,
    verb: str,
    name: str | None,
    namespace: str | None,
    subresource: str | None = None,
) -> ApiError:
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    target = f"{resource.plural}/{subresource}" if subresource else resource.plural
    why = f'User "{user}" cannot {verb} resource "{target}" in API group "{resource.group}" {scope}'
    subject = f'{resource.qualified} "{name}"' if name else resource.qualified
    return ApiError(
        403, "Forbidden", f"{subject} is forbidden: {why}", resource_details(resource, name)
    )


def for_code(code: int, message: str | None = None, reason: str | None = None) -> ApiError:
    """A generic Status for an injected fault."""
    reason = (
        reason if reason is not None else REASONS.get(code, "InternalError" if code >= 500 else "")
    )
    return ApiError(code, reason or None, message or f"injected fault: HTTP {code}", {})


def success(details: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }


class FieldError:
    """One entry of a field.ErrorList, rendered like apimachinery's field.Error."""

    def __init__(
        self,
        kind: str,
        field: str,
        value: Any = None,
        detail: str = "",
        *,
        supported: list[str] | None = None,
    ) -> None:
        self.kind = kind
        self.field = field
        self.value = value
        self.detail = detail
        self.supported = supported or []

    _REASONS: ClassVar[dict[str, tuple[str, str]]] = {
        "required": ("FieldValueRequired", "Required value"),
        "invalid": ("FieldValueInvalid", "Invalid value"),
        "unsupported": ("FieldValueNotSupported", "Unsupported value"),
        "forbidden": ("FieldValueForbidden", "Forbidden"),
        "duplicate": ("FieldValueDuplicate", "Duplicate value"),
        "not_found": ("FieldValueNotFound", "Not found"),
    }

    @property
    def reason(self) -> str:
        return self._REASONS[self.kind][0]

    def body(self) -> str:
        label = self._REASONS[self.kind][1]
        if self.kind in ("required", "forbidden"):
            return f"{label}: {self.detail}" if self.detail else label
        text = f"{label}: {_go_value(self.value)}"
        if self.kind == "unsupported":
            options = ", ".join(f'"{s}"' for s in self.supported)
            return f"{text}: supported values: {options}"
        return f"{text}: {self.detail}" if self.detail else text

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"


def _go_value(value: Any) -> str:
    # field.Error prints strings with %q and numbers bare; other values are rare here.
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def invalid(kind: str, group: str, name: str, errors: list[FieldError]) -> ApiError:
    qualified_kind = f"{kind}.{group}" if group else kind
    # apimachinery's NewInvalid brackets the list only when there are several errors.
    summary = str(errors[0]) if len(errors) == 1 else "[" + ", ".join(map(str, errors)) + "]"
    details: dict[str, Any] = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = kind
    details["causes"] = [
        {"reason": e.reason, "message": e.body(), "field": e.field} for e in errors
    ]
    return ApiError(422, "Invalid", f'{qualified_kind} "{name}" is invalid: {summary}', details)
