"""Connecting to a cluster: kubeconfig or in-cluster config → configured `ApiClient`s, and
the mapping of every client-side failure to one clear `ClusterError` line.

Only `sources/live.py`, `probes/live.py` and the rollback applier talk to the API; they all
get their clients from `connect()` here and wrap each call in `api_call(...)`, so a refused,
timed-out or unreachable call reads the same everywhere:

    the cluster refused to list pods at cluster scope (403 Forbidden): pods is forbidden: ...
    list networkpolicies timed out after 20s (cluster scope, https://10.0.0.1:6443)
    cannot connect to https://10.0.0.1:6443 (connection refused) to list namespaces
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import urllib3
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from pydantic import ValidationError
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    ReadTimeoutError,
    SSLError,
)

from triage import __version__
from triage.errors import ClusterError

IN_CLUSTER = "in-cluster"
SERVICE_HOST_ENV = "KUBERNETES_SERVICE_HOST"

# One attempt per call, plus one retry of a failed *connect* (a dropped keep-alive socket, a
# flapping load balancer). Read errors are not retried: a timeout must cost one timeout, not
# four, and "list pods timed out after 20s" must be true.
_RETRIES = urllib3.Retry(total=None, connect=1, read=0, redirect=0, status=0, other=0)


@dataclass(frozen=True)
class Connection:
    """Where the clients point, and the names to show the operator."""

    api: client.ApiClient
    exec_api: client.ApiClient  # dedicated: stream() patches the ApiClient it runs on
    context: str  # the kubeconfig context, or "in-cluster"
    cluster: str  # the kubeconfig cluster name ("" in-cluster)
    server: str  # the API server URL
    kubeconfig: Path | None  # None in-cluster

    @property
    def server_host(self) -> str:
        return urlparse(self.server).hostname or self.server

    def close(self) -> None:
        self.api.close()
        self.exec_api.close()


def kubeconfig_paths(explicit: Path | None) -> list[Path]:
    """The kubeconfig files to merge, the way kubectl picks them: `--kubeconfig`, else
    `$KUBECONFIG` (a `:`-separated list), else `~/.kube/config`. Missing files are dropped;
    an explicit file that does not exist is an error."""
    if explicit is not None:
        path = explicit.expanduser()
        if not path.is_file():
            raise ClusterError(f"kubeconfig {explicit}: no such file")
        return [path]
    env = os.environ.get("KUBECONFIG")
    if env:
        candidates = [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    else:
        candidates = [Path("~/.kube/config").expanduser()]
    return [p for p in candidates if p.is_file()]


def _context_names(contexts: Any) -> list[str]:
    names = []
    for ctx in contexts or []:
        if isinstance(ctx, dict) and isinstance(ctx.get("name"), str):
            names.append(ctx["name"])
    return names


def _available(names: list[str]) -> str:
    return ", ".join(sorted(names)) if names else "(none)"


def _configuration_from_kubeconfig(
    paths: list[Path], context: str | None
) -> tuple[client.Configuration, str, str]:
    joined = os.pathsep.join(str(p) for p in paths)
    shown = ", ".join(str(p) for p in paths)
    try:
        contexts, active = _list_contexts(joined)
    except ConfigException as exc:
        raise ClusterError(f"kubeconfig {shown}: {_one_line(str(exc))}") from None
    except yaml.YAMLError as exc:
        raise ClusterError(f"kubeconfig {shown}: {_yaml_problem(exc)}") from None
    except (AttributeError, TypeError) as exc:
        # Valid YAML of the wrong shape (a list, a string): the loader trips over it.
        raise ClusterError(f"kubeconfig {shown}: not a kubeconfig ({exc})") from None
    names = _context_names(contexts)
    if context is None:
        if not isinstance(active, dict) or not active.get("name"):
            raise ClusterError(
                f"kubeconfig {shown} has no current context; pick one with --context: "
                f"{_available(names)}"
            )
        context = str(active["name"])
    if context not in names:
        raise ClusterError(
            f"context {context!r} is not in kubeconfig {shown}; available contexts: "
            f"{_available(names)}"
        )
    entry = next(c for c in contexts if isinstance(c, dict) and c.get("name") == context)
    cluster = str((entry.get("context") or {}).get("cluster") or "")
    cfg = client.Configuration()
    try:
        config.load_kube_config(
            config_file=joined, context=context, client_configuration=cfg, persist_config=False
        )
    except ConfigException as exc:
        detail = _one_line(str(exc))
        raise ClusterError(f"kubeconfig {shown}, context {context}: {detail}") from None
    except yaml.YAMLError as exc:
        raise ClusterError(f"kubeconfig {shown}: {_yaml_problem(exc)}") from None
    except OSError as exc:  # an exec credential plugin that is not installed, a bad cert path
        raise ClusterError(f"kubeconfig {shown}, context {context}: {exc}") from None
    return cfg, context, cluster


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One line for a YAML error: where and what, not PyYAML's multi-line excerpt."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"invalid YAML{where}: {problem}"


def check_kubeconfig(context: str | None, kubeconfig: Path | None) -> None:
    """Read the kubeconfig the way `connect` will, without a network call: a missing file,
    malformed YAML or an unknown context is one ClusterError line at start-up. No
    kubeconfig at all is left to `connect` (in-cluster configuration)."""
    paths = kubeconfig_paths(kubeconfig)
    if paths:
        _configuration_from_kubeconfig(paths, context)


def _list_contexts(joined: str) -> tuple[Any, Any]:
    try:
        contexts, active = config.list_kube_config_contexts(config_file=joined)
    except ConfigException as exc:
        # No current-context: the loader gives up before listing; list without it.
        if "current-context" not in str(exc):
            raise
        contexts = []
        for path in joined.split(os.pathsep):
            with open(path, encoding="utf-8") as fh:
                doc = yaml.safe_load(fh) or {}
            contexts.extend(doc.get("contexts") or [])
        return contexts, None
    return contexts, active


def connect(
    context: str | None = None, kubeconfig: Path | None = None, *, user_agent: str = ""
) -> Connection:
    """Configure the clients for a kubeconfig context (default: the current one), or the
    in-cluster service account when there is no kubeconfig and KUBERNETES_SERVICE_HOST is set.
    Raises ClusterError with one line (unknown context → the available ones)."""
    paths = kubeconfig_paths(kubeconfig)
    used: Path | None = None
    if paths:
        cfg, context_name, cluster = _configuration_from_kubeconfig(paths, context)
        used = paths[0]
    elif os.environ.get(SERVICE_HOST_ENV) and context is None:
        cfg = client.Configuration()
        try:
            config.load_incluster_config(client_configuration=cfg)
        except ConfigException as exc:
            raise ClusterError(f"in-cluster configuration: {exc}") from None
        context_name, cluster = IN_CLUSTER, ""
    else:
        where = os.environ.get("KUBECONFIG") or "~/.kube/config"
        wanted = f" with context {context!r}" if context else ""
        raise ClusterError(
            f"no kubeconfig found ({where}){wanted}; pass --kubeconfig FILE, set KUBECONFIG, "
            "or run inside a cluster"
        )
    cfg.retries = _RETRIES
    exec_cfg = copy.deepcopy(cfg)
    agent = user_agent or f"netpol-triage/{__version__}"
    api = client.ApiClient(configuration=cfg)
    api.user_agent = agent
    exec_api = client.ApiClient(configuration=exec_cfg)
    exec_api.user_agent = agent
    return Connection(api, exec_api, context_name, cluster, str(cfg.host), used)


# ---------------------------------------------------------------------------------------------
# Error mapping


@dataclass(frozen=True)
class CallSite:
    """What a call does, in the words of an RBAC rule: verb, resource, scope."""

    verb: str  # list, get, create, ...
    resource: str  # plural: pods, networkpolicies
    namespace: str | None = None  # None: cluster scope (or a cluster-scoped resource)
    name: str | None = None  # for get/update/delete of one object
    cluster_scoped: bool = False  # namespaces, CRDs: "at cluster scope" is implied

    @property
    def action(self) -> str:
        """`list pods at cluster scope`, `list pods in namespace a`, `get namespace a`."""
        if self.name is not None:
            singular = _SINGULAR.get(self.resource, self.resource)
            where = f" in namespace {self.namespace}" if self.namespace else ""
            return f"{self.verb} {singular} {self.name}{where}"
        if self.namespace:
            return f"{self.verb} {self.resource} in namespace {self.namespace}"
        if self.cluster_scoped:
            return f"{self.verb} {self.resource}"
        return f"{self.verb} {self.resource} at cluster scope"

    @property
    def scope(self) -> str:
        if self.namespace:
            return f"namespace {self.namespace}"
        return "cluster scope"


_SINGULAR = {
    "namespaces": "namespace",
    "pods": "pod",
    "services": "service",
    "networkpolicies": "networkpolicy",
    "customresourcedefinitions": "customresourcedefinition",
}


@dataclass(frozen=True)
class StatusInfo:
    code: int
    reason: str
    message: str

    @property
    def label(self) -> str:
        """`403 Forbidden`."""
        return f"{self.code} {self.reason}".strip()


def status_of(exc: ApiException) -> StatusInfo:
    """The metav1.Status in the body when there is one, else what HTTP said."""
    code = int(exc.status or 0)
    reason = str(exc.reason or "").strip()
    message = ""
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body.strip():
        try:
            doc = json.loads(body)
        except ValueError:
            message = body.strip().splitlines()[0][:300]
        else:
            if isinstance(doc, dict):
                message = str(doc.get("message") or "")
                if doc.get("reason"):
                    reason = str(doc["reason"])
                if isinstance(doc.get("code"), int) and doc["code"]:
                    code = int(doc["code"])
    if not reason:
        reason = _HTTP_REASONS.get(code, "")
    return StatusInfo(code, reason, message or reason)


_HTTP_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    410: "Expired",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class ApiStatusError(ClusterError):
    """A ClusterError that came from an API status; keeps the code for callers that care
    (a 403 on an optional call, a 404 meaning "no such namespace", a 410 during paging)."""

    def __init__(self, message: str, site: CallSite, status: StatusInfo) -> None:
        super().__init__(message)
        self.site = site
        self.status = status


def _one_line(text: str) -> str:
    return " ".join(text.split())


def api_error(exc: ApiException, site: CallSite, server: str) -> ClusterError:
    if not exc.status:
        # Status 0: the client gave up before HTTP (TLS failure; a websocket handshake).
        reason = _one_line(str(exc.reason or exc))
        return ClusterError(f"cannot {site.action} on {server}: {reason}")
    info = status_of(exc)
    detail = _one_line(info.message)
    if info.code == 401:
        text = (
            f"the cluster refused to {site.action} ({info.label}): {detail} — the credentials "
            "were rejected; refresh them (expired token?) or pick another --context"
        )
    elif info.code == 403:
        hint = " — try -n NAMESPACE" if site.namespace is None and not site.cluster_scoped else ""
        text = f"the cluster refused to {site.action} ({info.label}): {detail}{hint}"
    elif info.code == 404:
        text = f"cannot {site.action} ({info.label}): {detail}"
    else:
        text = f"the cluster failed to {site.action} ({info.label}): {detail}"
    return ApiStatusError(text, site, info)


def transport_error(
    exc: BaseException, site: CallSite, server: str, timeout: float
) -> ClusterError:
    """urllib3 failures (possibly wrapped in MaxRetryError) → one line naming the server."""
    cause: BaseException = exc
    if isinstance(exc, MaxRetryError) and exc.reason is not None:
        cause = exc.reason
    verb_resource = f"{site.verb} {site.resource}"
    if isinstance(cause, ReadTimeoutError | TimeoutError):
        return ClusterError(
            f"{verb_resource} timed out after {timeout:g}s ({site.scope}, {server}); "
            "raise --request-timeout or narrow with -n"
        )
    if isinstance(cause, NameResolutionError):
        return ClusterError(f"cannot connect to {server} to {site.action}: unknown host")
    if isinstance(cause, NewConnectionError):
        text = str(cause)
        why = "connection refused" if "refused" in text.lower() else _tail(text)
        return ClusterError(
            f"cannot connect to {server} ({why}) to {site.action}; is the cluster up, "
            "and is this the right context?"
        )
    # urllib3 2 makes NewConnectionError a ConnectTimeoutError subclass: test it after.
    if isinstance(cause, ConnectTimeoutError):
        return ClusterError(
            f"cannot connect to {server} to {site.action}: no answer within {timeout:g}s"
        )
    if isinstance(cause, SSLError):
        return ClusterError(f"TLS with {server} failed to {site.action}: {_tail(str(cause))}")
    if isinstance(cause, ProxyError):
        return ClusterError(f"the proxy to {server} failed to {site.action}: {_tail(str(cause))}")
    if isinstance(cause, ProtocolError):
        return ClusterError(
            f"the connection to {server} broke during {verb_resource} ({site.scope}): "
            f"{_tail(str(cause))}"
        )
    return ClusterError(f"cannot {site.action} on {server}: {_tail(str(cause))}")


def _tail(text: str) -> str:
    """The useful end of urllib3's nested messages: `... [Errno 111] Connection refused`."""
    text = _one_line(text)
    if "): " in text:
        text = text.rsplit("): ", 1)[1]
    return text.rstrip(")")


def validation_error(exc: ValidationError, site: CallSite) -> ClusterError:
    errors = exc.errors()
    where = ".".join(str(p) for p in errors[0]["loc"]) if errors else ""
    msg = errors[0]["msg"] if errors else str(exc)
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return ClusterError(
        f"the answer to {site.action} does not fit the kubernetes client's {exc.title} "
        f"model: {where}: {msg}{more}"
    )


@contextmanager
def api_call(site: CallSite, server: str, timeout: float) -> Iterator[None]:
    """Turn everything a call through the kubernetes client can raise into ClusterError."""
    try:
        yield
    except ApiException as exc:
        raise api_error(exc, site, server) from exc
    except ValidationError as exc:
        raise validation_error(exc, site) from exc
    except (HTTPError, TimeoutError, ConnectionError) as exc:
        raise transport_error(exc, site, server, timeout) from exc


def read_json(response: Any, site: CallSite, server: str) -> dict[str, Any]:
    """The JSON body of a `_preload_content=False` response (urllib3), released after."""
    try:
        data = response.data
    finally:
        release = getattr(response, "release_conn", None)
        if release is not None:
            release()
    try:
        doc = json.loads(data)
    except ValueError:
        kind = response.headers.get("content-type", "?") if hasattr(response, "headers") else "?"
        raise ClusterError(
            f"the answer of {server} to {site.action} is not JSON (content type {kind})"
        ) from None
    if not isinstance(doc, dict):
        raise ClusterError(f"the answer of {server} to {site.action} is not a JSON object")
    return doc
