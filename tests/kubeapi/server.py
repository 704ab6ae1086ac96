"""`KubeApiServer`: a fake Kubernetes API server for the test suite.

It runs aiohttp in its own daemon thread with its own event loop (docs/architecture.md, "The
Kubernetes client"): the tool's synchronous `kubernetes` client, `kubernetes.aio`, kubectl
subprocesses and pytest-asyncio tests can all talk to it without sharing a loop and
deadlocking.

Typical use::

    server = KubeApiServer.from_incident("runbooks/incidents/demo.yaml").start()
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
    server.script_exec("team-a", "web-0", ["nslookup"], stdout="Address: 10.0.0.7\\n")
    server.inject("GET", r"/networkpolicies$", status=503, times=2)
    ...
    server.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from .faults import ForbidRule, Injection, RecordedRequest
from .incident import ADMIN_CRDS, IncidentObjects, load_incident
from .kubeconfig import TlsMaterial, make_tls, write_kubeconfig
from .objects import JsonDict, clone, prepare, rfc3339
from .podexec import CommandMatcher, ExecCall, ExecHandler, ExecScript
from .resources import CRDS, NAMESPACES, NETWORK_POLICIES, PODS, SERVICES, Resource, crd_resource
from .rest import RestApi
from .state import DEFAULT_TOKEN, DEFAULT_USER, ServerState

_UNSET: Any = object()


class KubeApiServer:
    def __init__(
        self,
        *,
        token: str | None = DEFAULT_TOKEN,
        require_auth: bool | None = None,
        tls: bool = False,
        user: str = DEFAULT_USER,
        host: str = "127.0.0.1",
        port: int = 0,
        unscripted_exec: str = "oci",
        ephemeral_start_delay: float | None = 0.0,
        ephemeral_waiting_reason: str = "PodInitializing",
    ) -> None:
        """`require_auth` defaults to "a token is set". kubectl sends no token over plain
        http (client-go only attaches credentials to TLS transports), so kubectl tests
        either pass `require_auth=False` or `tls=True`."""
        if unscripted_exec not in ("oci", "shell"):
            raise ValueError("unscripted_exec must be 'oci' or 'shell'")
        self.state = ServerState(
            token=token,
            require_auth=token is not None if require_auth is None else require_auth,
            user=user,
            unscripted_exec=unscripted_exec,
            ephemeral_start_delay=ephemeral_start_delay,
            ephemeral_waiting_reason=ephemeral_waiting_reason,
        )
        self.host = host
        self._requested_port = port
        self._tls: TlsMaterial | None = make_tls() if tls else None
        self._api = RestApi(self.state)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self.incident: dict[str, Any] = {}

    # -- construction from recordings ------------------------------------------------------

    @classmethod
    def from_incident(cls, source: str | Path | dict[str, Any], **options: Any) -> KubeApiServer:
        """A (not yet started) server holding the cluster objects of a recorded incident."""
        server = cls(**options)
        server.seed_incident(source)
        return server

    def seed_incident(self, source: str | Path | dict[str, Any]) -> IncidentObjects:
        objects = load_incident(source)
        self.incident = objects.metadata
        self.seed(
            namespaces=objects.namespaces,
            pods=objects.pods,
            services=objects.services,
            network_policies=objects.network_policies,
        )
        if objects.admin_policies:
            # The CRDs of the kinds the recording holds are installed, as on the cluster.
            for kind in sorted({str(o["kind"]) for o in objects.admin_policies}):
                plural, _, group = ADMIN_CRDS[kind].partition(".")
                version = "v1alpha2" if kind == "ClusterNetworkPolicy" else "v1alpha1"
                if self.state.registry.lookup(group, version, plural) is None:
                    self.add_crd(ADMIN_CRDS[kind])
            self.seed(objects=objects.admin_policies)
        return objects

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> KubeApiServer:
        if self._thread is not None:
            raise RuntimeError("server already started")
        started = threading.Event()
        failures: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._run, args=(started, failures), name="kube-api-test-server", daemon=True
        )
        self._thread.start()
        if not started.wait(timeout=15):
            raise RuntimeError("test API server did not start within 15 s")
        if failures:
            self._thread.join()
            self._thread = None
            raise failures[0]
        return self

    def stop(self) -> None:
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop may already be closed
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=15)
        self._thread = None

    def __enter__(self) -> KubeApiServer:
        return self.start() if self._thread is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self, started: threading.Event, failures: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        self.state.loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start(), which re-raises in the test
            failures.append(exc)
            started.set()
            loop.close()
            return
        started.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._shutdown())
            loop.close()

    async def _serve(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._api.handle)
        # A short shutdown timeout: handlers parked in an injected delay or a hanging exec
        # script must not hold up teardown.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        ssl_context = self._tls.server_context if self._tls else None
        site = web.TCPSite(self._runner, self.host, self._requested_port, ssl_context=ssl_context)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        self.state.server_address = f"{self.host}:{self._port}"

    async def _shutdown(self) -> None:
        for task in list(self._api.tasks):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("server not started")
        return self._port

    @property
    def url(self) -> str:
        scheme = "https" if self._tls else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def ca_pem(self) -> bytes | None:
        return self._tls.ca_pem if self._tls else None

    def write_kubeconfig(
        self,
        path: str | Path,
        context: str = "triage-test",
        *,
        namespace: str | None = None,
        token: str | None = _UNSET,
    ) -> Path:
        """Write a kubeconfig for this server; `path` may be a directory. `token` overrides
        the server's token (e.g. a wrong one, to provoke 401)."""
        target = Path(path)
        if target.is_dir():
            target = target / "kubeconfig"
        return write_kubeconfig(
            target,
            server=self.url,
            token=self.state.token if token is _UNSET else token,
            context=context,
            namespace=namespace,
            ca_pem=self.ca_pem,
        )

    # -- objects ------------------------------------------------------------------------

    def resource(self, kind: str) -> Resource:
        """Resolve "Pod", "pods", "po", "netpol", "networkpolicies.crd.projectcalico.org" ..."""
        return self.state.registry.resolve(kind)

    def add(self, obj: JsonDict) -> JsonDict:
        """Store `obj` as the apiserver would have it (uid, resourceVersion, timestamps filled
        in) and return a copy of the stored object. An existing object is replaced."""
        resource = self.state.registry.for_object(obj)
        return clone(self._put(resource, obj))

    def _put(self, resource: Resource, obj: JsonDict) -> JsonDict:
        stored = prepare(resource, clone(obj))
        stored["metadata"].pop("resourceVersion", None)
        return self.state.store.put(resource, stored)

    def seed(
        self,
        *,
        namespaces: Iterable[JsonDict] = (),
        pods: Iterable[JsonDict] = (),
        services: Iterable[JsonDict] = (),
        network_policies: Iterable[JsonDict] = (),
        objects: Iterable[JsonDict] = (),
    ) -> int:
        """Bulk-load objects (any iterables, generators welcome); returns how many.

        `kind` may be omitted in the typed arguments. Nothing is returned per object so that
        seeding 10,000 pods costs one JSON round trip each and no more.
        """
        count = 0
        for resource, items in (
            (NAMESPACES, namespaces),
            (PODS, pods),
            (SERVICES, services),
            (NETWORK_POLICIES, network_policies),
        ):
            for obj in items:
                self._put(resource, obj)
                count += 1
        for obj in objects:
            self._put(self.state.registry.for_object(obj), obj)
            count += 1
        return count

    def objects(self, kind: str, namespace: str | None = None) -> list[JsonDict]:
        """Copies of the stored objects of `kind`, in the apiserver's list order."""
        return [clone(o) for o in self.state.store.items(self.resource(kind), namespace)]

    def get(self, kind: str, name: str, namespace: str | None = None) -> JsonDict | None:
        obj = self.state.store.get(self.resource(kind), namespace, name)
        return clone(obj) if obj is not None else None

    def remove(self, kind: str, name: str, namespace: str | None = None) -> bool:
        return self.state.store.remove(self.resource(kind), namespace, name) is not None

    @property
    def resource_version(self) -> int:
        return self.state.store.resource_version

    def add_crd(
        self,
        name: str,
        *,
        kind: str | None = None,
        version: str | None = None,
        namespaced: bool | None = None,
        short_names: tuple[str, ...] | None = None,
    ) -> JsonDict:
        """Install a CustomResourceDefinition: it is listed under apiextensions.k8s.io and its
        resource is served (discovery, list, get, CRUD) like a built-in one."""
        resource = crd_resource(
            name, kind=kind, version=version, namespaced=namespaced, short_names=short_names
        )
        self.state.registry.register(resource)
        names: dict[str, Any] = {
            "plural": resource.plural,
            "singular": resource.singular,
            "kind": resource.kind,
            "listKind": resource.list_kind,
        }
        if resource.short_names:
            names["shortNames"] = list(resource.short_names)
        crd = {
            "apiVersion": CRDS.api_version,
            "kind": CRDS.kind,
            "metadata": {"name": name},
            "spec": {
                "group": resource.group,
                "names": names,
                "scope": "Namespaced" if resource.namespaced else "Cluster",
                "versions": [
                    {
                        "name": resource.version,
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            }
                        },
                    }
                ],
            },
            "status": {
                "acceptedNames": names,
                "storedVersions": [resource.version],
                "conditions": [
                    {
                        "type": "Established",
                        "status": "True",
                        "reason": "InitialNamesAccepted",
                        "message": "the initial names have been accepted",
                        "lastTransitionTime": rfc3339(),
                    }
                ],
            },
        }
        return self.add(crd)

    # -- faults, RBAC, pagination ------------------------------------------------------------

    def inject(
        self,
        method: str,
        path: str,
        *,
        status: int | None = None,
        message: str | None = None,
        reason: str | None = None,
        body: Any = None,
        delay: float = 0.0,
        drop: bool = False,
        on_call: int = 1,
        times: int | None = 1,
        retry_after: int | None = None,
    ) -> Injection:
        """Make matching requests fail.

        `method` is an HTTP method or "*"; `path` a regex searched in the URL path (no query).
        From the `on_call`-th matching request on, for `times` requests (None = forever):
        wait `delay` seconds, then close the TCP connection (`drop`), or answer `status`
        with an apiserver Status body (or `body`), or, with neither, answer normally.
        """
        if status is None and not drop and not delay:
            raise ValueError("an injection needs status=, drop=True or delay=")
        injection = Injection(
            method=method.upper(),
            path=re.compile(path),
            status=status,
            message=message,
            reason=reason,
            body=body,
            delay=delay,
            drop=drop,
            on_call=max(1, on_call),
            times=times,
            retry_after=retry_after,
        )
        return self.state.faults.add_injection(injection)

    def clear_injections(self) -> None:
        self.state.faults.clear_injections()

    def forbid(self, verb: str, resource: str, namespace: str | None = None) -> ForbidRule:
        """Deny `verb` on `resource` ("pods", "pods/exec", "networkpolicies", "*") with the
        RBAC 403, in `namespace` only or (None) everywhere including cluster scope."""
        return self.state.faults.add_forbid(ForbidRule(verb, resource, namespace))

    def allow(self, rule: ForbidRule | None = None) -> None:
        """Lift one denial, or all of them."""
        self.state.faults.remove_forbid(rule)

    def expire_continue_tokens(self) -> None:
        """Compact: every continue token issued so far now answers 410 Expired."""
        self.state.tokens.expire_all()

    # -- exec ---------------------------------------------------------------------------

    def script_exec(
        self,
        namespace: str | None,
        pod: str | None,
        command: CommandMatcher = None,
        stdout: str | bytes = "",
        stderr: str | bytes = "",
        exit_code: int = 0,
        *,
        container: str | None = None,
        delay: float = 0.0,
        handler: ExecHandler | None = None,
        exact: bool = False,
        times: int | None = None,
    ) -> ExecScript:
        """Answer exec requests in `namespace`/`pod` (None = any) whose argv starts with
        `command` (a list, or a string split like a shell would; `exact=True` for the whole
        argv; a callable(argv) -> bool; None for any command).

        The answer is `stdout`, then `stderr`, then exit `exit_code`, after `delay` seconds.
        `handler`, an async callable taking an `ExecSession`, replaces all that for
        misbehaviour (hang, drop, InternalError, v5 CLOSE, huge output). The newest matching
        script wins; `times` limits how often a script answers. Unscripted commands fail like
        a binary missing from the image.
        """
        script = ExecScript(
            namespace=namespace,
            pod=pod,
            command=command,
            stdout=stdout.encode() if isinstance(stdout, str) else stdout,
            stderr=stderr.encode() if isinstance(stderr, str) else stderr,
            exit_code=exit_code,
            container=container,
            delay=delay,
            handler=handler,
            exact=exact,
            times=times,
        )
        return self.state.add_script(script)

    @property
    def exec_log(self) -> list[ExecCall]:
        return list(self.state.exec_log)

    def start_ephemeral_container(self, namespace: str, pod: str, container: str) -> bool:
        """Flip a waiting ephemeral container to running now (with ephemeral_start_delay=None)."""
        return self._api.ephemeral.start(namespace, pod, container)

    # -- request log -----------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        return list(self.state.requests)

    def requests_matching(
        self, method: str | None = None, path: str | None = None
    ) -> list[RecordedRequest]:
        pattern = re.compile(path) if path else None
        return [
            r
            for r in self.requests
            if (method is None or r.method == method.upper())
            and (pattern is None or pattern.search(r.path))
        ]

    def clear_requests(self) -> None:
        self.state.clear_requests()
