"""A Kubernetes API server for tests: real REST paths, Status bodies, pagination, RBAC
denials, fault injection and pods/exec over websocket. See `server.KubeApiServer`."""

from .faults import ForbidRule, Injection, RecordedRequest
from .podexec import ExecCall, ExecScript, ExecSession
from .server import KubeApiServer
from .state import DEFAULT_TOKEN, DEFAULT_USER

__all__ = [
    "DEFAULT_TOKEN",
    "DEFAULT_USER",
    "ExecCall",
    "ExecScript",
    "ExecSession",
    "ForbidRule",
    "Injection",
    "KubeApiServer",
    "RecordedRequest",
]
