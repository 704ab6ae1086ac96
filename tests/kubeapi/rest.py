"""HTTP front of the server: one aiohttp handler for every path.

Every request is recorded, authenticated, offered to the fault plan, routed by its real
Kubernetes URL and checked against the RBAC denials, in that order, so faults can hit any
endpoint (discovery and the exec handshake included) and a 401 wins over a 403 as it does
in the apiserver.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import yaml
from aiohttp import web

from . import discovery
from .crud import Crud, dry_run_requested
from .ephemeral import EphemeralContainers
from .faults import RecordedRequest
from .media import negotiate, partial_list, partial_object
from .paging import list_page
from .patch import apply_patch
from .podexec import ExecCall, open_websocket, parse_exec_query, resolve_container, serve_exec
from .resources import PODS, Resource
from .selectors import combine, field_predicate, label_predicate
from .state import ServerState
from .status import (
    ApiError,
    bad_request,
    for_code,
    forbidden,
    method_not_allowed,
    not_found,
    unauthorized,
    unknown_path,
)
from .tables import to_table

PUBLIC_PATHS = frozenset({"/version", "/healthz", "/livez", "/readyz"})
JSON = "application/json"


@dataclass(frozen=True)
class Target:
    resource: Resource
    namespace: str | None
    name: str | None
    subresource: str | None

    @property
    def rbac_resource(self) -> str:
        if self.subresource:
            return f"{self.resource.plural}/{self.subresource}"
        return self.resource.plural


def json_response(
    obj: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=json.dumps(obj, separators=(",", ":")).encode(),
        status=status,
        content_type=JSON,
        headers=headers,
    )


def error_response(error: ApiError) -> web.Response:
    return json_response(error.body(), error.code, error.headers)


def _decode_body(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        pass
    if "yaml" in content_type:
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            pass
    return text


class RestApi:
    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.crud = Crud(state)
        self.ephemeral = EphemeralContainers(state, self.crud)
        self.tasks: set[asyncio.Task[Any]] = set()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        try:
            return await self._handle(request)
        finally:
            if task is not None:
                self.tasks.discard(task)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        response: web.StreamResponse
        raw = await request.read()
        body = _decode_body(raw, request.content_type)
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query={k: request.query.getone(k) for k in request.query},
            query_items=list(request.query.items()),
            body=body,
            headers=dict(request.headers),
        )
        self.state.record(record)
        try:
            self._authenticate(request)
            fault = self.state.faults.next_fault(request.method, request.path)
            if fault is not None:
                if fault.delay:
                    await asyncio.sleep(fault.delay)
                if fault.drop:
                    if request.transport is not None:
                        request.transport.abort()
                    record.status = None  # no answer was sent
                    return web.Response(status=499)  # never reaches the client
                if fault.status is not None:
                    headers = {}
                    if fault.retry_after is not None:
                        headers["Retry-After"] = str(fault.retry_after)
                    if fault.body is not None:
                        response = json_response(fault.body, fault.status, headers)
                        record.status = response.status
                        return response
                    error = for_code(fault.status, fault.message, fault.reason)
                    error.headers = headers
                    raise error
            response = await self._route(request, body)
        except ApiError as error:
            response = error_response(error)
        record.status = response.status
        return response

    def _authenticate(self, request: web.Request) -> None:
        if not self.state.require_auth or request.path in PUBLIC_PATHS:
            return
        if request.headers.get("Authorization", "") != f"Bearer {self.state.token}":
            raise unauthorized()

    async def _route(self, request: web.Request, body: Any) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        parts = [p for p in path.split("/") if p]
        if path == "/version":
            return json_response(discovery.VERSION_INFO)
        if path in PUBLIC_PATHS:
            return web.Response(text="ok")
        if not parts:
            return json_response({"paths": ["/api", "/api/v1", "/apis", "/openapi/v3", "/version"]})
        if parts[0] == "openapi":
            return self._openapi(parts)
        if parts[0] == "api" and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts == ["api"]:
            return json_response(discovery.api_versions(self.state.server_address))
        elif parts == ["apis"]:
            return json_response(discovery.api_group_list(self.state.registry))
        elif parts[0] == "apis" and len(parts) == 2:
            document = discovery.api_group(self.state.registry, parts[1])
            if document is None:
                raise unknown_path()
            return json_response(document)
        elif parts[0] == "apis" and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise unknown_path()
        if not rest:
            if request.method != "GET":
                raise method_not_allowed()
            resources = discovery.api_resource_list(self.state.registry, group, version)
            if resources is None:
                raise unknown_path()
            return json_response(resources)
        target = self._target(group, version, rest)
        verb = self._verb(request, target)
        self._authorize(verb, target)
        return await self._dispatch(request, target, body)

    def _openapi(self, parts: list[str]) -> web.Response:
        if parts == ["openapi", "v3"]:
            return json_response(discovery.openapi_v3_root(self.state.registry))
        if len(parts) > 2 and parts[1] == "v3":
            document = discovery.openapi_v3_group_version(self.state.registry, "/".join(parts[2:]))
            if document is not None:
                return json_response(document)
        # No /openapi/v2: kubectl apply tolerates its absence, and nothing else needs it.
        raise unknown_path()

    def _target(self, group: str, version: str, rest: list[str]) -> Target:
        registry = self.state.registry
        target: Target | None = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            resource = registry.lookup(group, version, rest[2])
            if resource is not None and resource.namespaced and len(rest) <= 5:
                target = Target(resource, rest[1], _at(rest, 3), _at(rest, 4))
        if target is None:
            resource = registry.lookup(group, version, rest[0])
            if resource is None:
                raise unknown_path()
            if resource.namespaced:
                if len(rest) != 1:
                    raise unknown_path()
                target = Target(resource, None, None, None)
            elif len(rest) <= 3:
                target = Target(resource, None, _at(rest, 1), _at(rest, 2))
            else:
                raise unknown_path()
        if target.subresource and target.resource.subresource(target.subresource) is None:
            raise unknown_path()
        return target

    def _verb(self, request: web.Request, target: Target) -> str:
        if target.subresource == "exec":
            # AuthorizePodWebsocketUpgradeCreatePermission (on by default since 1.30): the
            # websocket GET needs "create" like the POST.
            return "create"
        method = request.method
        if method == "GET":
            if target.name is None:
                return "watch" if request.query.get("watch") in ("1", "true", "True") else "list"
            return "get"
        collection = target.name is None
        return {
            "POST": "create",
            "PUT": "update",
            "PATCH": "patch",
            "DELETE": "deletecollection" if collection else "delete",
        }.get(method, method.lower())

    def _authorize(self, verb: str, target: Target) -> None:
        if self.state.faults.is_forbidden(verb, target.rbac_resource, target.namespace):
            raise forbidden(
                target.resource,
                user=self.state.user,
                verb=verb,
                name=target.name,
                namespace=target.namespace,
                subresource=target.subresource,
            )

    async def _dispatch(
        self, request: web.Request, target: Target, body: Any
    ) -> web.StreamResponse:
        resource, namespace, name = target.resource, target.namespace, target.name
        method = request.method
        query = request.query
        if target.subresource == "exec":
            if method not in ("GET", "POST"):
                raise method_not_allowed()
            return await self._exec(request, target)
        if target.subresource == "ephemeralcontainers":
            return self._ephemeral(request, target, body)
        if target.subresource == "status":
            return self._status(request, target, body)
        if target.subresource:
            raise method_not_allowed()
        if method == "GET":
            if query.get("watch") in ("1", "true", "True"):
                raise method_not_allowed("watch is not supported by the triage test server")
            if name is None:
                return self._list(request, resource, namespace)
            return self._respond(request, resource, self.crud.get(resource, namespace, name))
        if method == "POST" and name is None:
            dry_run = dry_run_requested(query.getall("dryRun", []))
            created = self.crud.create(resource, namespace, body, dry_run=dry_run)
            return json_response(created, 201)
        if name is None and method == "DELETE":
            return self._delete_collection(request, resource, namespace, body)
        if name is None:
            raise method_not_allowed()
        if method == "PUT":
            dry_run = dry_run_requested(query.getall("dryRun", []))
            return json_response(self.crud.update(resource, namespace, name, body, dry_run=dry_run))
        if method == "PATCH":
            dry_run = dry_run_requested(query.getall("dryRun", []))
            patched = self.crud.patch(
                resource, namespace, name, body, request.content_type, dry_run=dry_run
            )
            return json_response(patched)
        if method == "DELETE":
            dry_run = dry_run_requested(query.getall("dryRun", []), body)
            return json_response(self.crud.delete(resource, namespace, name, body, dry_run=dry_run))
        raise method_not_allowed()

    def _respond(
        self, request: web.Request, resource: Resource, obj: dict[str, Any]
    ) -> web.Response:
        shape = negotiate(request.headers.get("Accept", ""), is_list=False)
        if shape == "table":
            meta = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
            return json_response(to_table(resource, [obj], meta))
        if shape == "partial":
            return json_response(partial_object(obj))
        return json_response(obj)

    def _predicate(self, request: web.Request) -> Any:
        return combine(
            label_predicate(request.query.get("labelSelector", "")),
            field_predicate(request.query.get("fieldSelector", "")),
        )

    def _list(
        self, request: web.Request, resource: Resource, namespace: str | None
    ) -> web.Response:
        try:
            limit = int(request.query.get("limit", "0") or 0)
        except ValueError as exc:
            raise bad_request(f"invalid limit: {exc}") from exc
        # Negotiate first: an unacceptable Accept must not cost a continue snapshot.
        shape = negotiate(request.headers.get("Accept", ""), is_list=True)
        page = list_page(
            self.state.store,
            self.state.tokens,
            resource,
            namespace,
            limit=limit,
            continue_token=request.query.get("continue") or None,
            predicate=self._predicate(request),
        )
        if shape == "table":
            return json_response(to_table(resource, page.items, page.list_meta()))
        if shape == "partial":
            return json_response(partial_list(page.items, page.list_meta()))
        return json_response(
            {
                "kind": resource.list_kind,
                "apiVersion": resource.api_version,
                "metadata": page.list_meta(),
                "items": page.items,
            }
        )

    def _delete_collection(
        self, request: web.Request, resource: Resource, namespace: str | None, body: Any
    ) -> web.Response:
        dry_run = dry_run_requested(request.query.getall("dryRun", []), body)
        predicate = self._predicate(request)
        deleted = []
        with self.state.store.lock:
            for obj in self.state.store.items(resource, namespace):
                if predicate is None or predicate(obj):
                    deleted.append(
                        self.crud.delete(
                            resource,
                            obj["metadata"].get("namespace"),
                            obj["metadata"]["name"],
                            body,
                            dry_run=dry_run,
                        )
                    )
        meta = {"resourceVersion": str(self.state.store.resource_version)}
        return json_response(
            {
                "kind": resource.list_kind,
                "apiVersion": resource.api_version,
                "metadata": meta,
                "items": deleted,
            }
        )

    def _ephemeral(self, request: web.Request, target: Target, body: Any) -> web.Response:
        namespace, name = target.namespace or "", target.name or ""
        dry_run = dry_run_requested(request.query.getall("dryRun", []))
        if request.method == "GET":
            return json_response(self.crud.get(PODS, namespace, name))
        if request.method == "PATCH":
            return json_response(
                self.ephemeral.patch(namespace, name, body, request.content_type, dry_run=dry_run)
            )
        if request.method == "PUT":
            return json_response(self.ephemeral.replace(namespace, name, body, dry_run=dry_run))
        raise method_not_allowed()

    def _status(self, request: web.Request, target: Target, body: Any) -> web.Response:
        resource, namespace, name = target.resource, target.namespace, target.name or ""
        dry_run = dry_run_requested(request.query.getall("dryRun", []))
        if request.method == "GET":
            return json_response(self.crud.get(resource, namespace, name))
        if request.method == "PUT":
            new_status = body.get("status") if isinstance(body, dict) else None
            return json_response(
                self.crud.update_status(resource, namespace, name, new_status, dry_run=dry_run)
            )
        if request.method == "PATCH":
            existing = self.crud.get(resource, namespace, name)
            patched = apply_patch(request.content_type, existing, body)
            new_status = patched.get("status") if isinstance(patched, dict) else None
            return json_response(
                self.crud.update_status(resource, namespace, name, new_status, dry_run=dry_run)
            )
        raise method_not_allowed()

    async def _exec(self, request: web.Request, target: Target) -> web.StreamResponse:
        namespace, name = target.namespace or "", target.name or ""
        pod = self.state.store.get(PODS, namespace, name)
        if pod is None:
            raise not_found(PODS, name)
        exec_request = parse_exec_query(request.query)
        container = resolve_container(pod, exec_request.container)
        ws, protocol = await open_websocket(request)
        call = ExecCall(
            namespace=namespace,
            pod=name,
            container=container,
            argv=exec_request.argv,
            stdin=exec_request.stdin,
            stdout=exec_request.stdout,
            stderr=exec_request.stderr,
            tty=exec_request.tty,
            protocol=protocol,
            method=request.method,
        )
        call.script = self.state.find_script(namespace, name, container, exec_request.argv)
        self.state.log_exec(call)
        await serve_exec(ws, request, call, exec_request, call.script, self.state.unscripted_exec)
        return ws


def _at(parts: list[str], index: int) -> str | None:
    return parts[index] if len(parts) > index else None
