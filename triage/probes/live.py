"""Live probes: exec in the source pod over the websocket, or in an ephemeral debug container
when the pod's image lacks the tool and the operator agreed to one.

An ephemeral container changes the pod (it patches pods/ephemeralcontainers) and cannot be
removed: it stays until the pod is deleted. So the prober never adds one on its own. It asks
`confirm_ephemeral(EphemeralRequest)` (which names the context, the pod, the image and the
missing tools), once per pod, under the pod's lock, and remembers the answer for the life of
the prober (the session). Without a hook it adds none and says how to allow one. A running
triage debug container already in the pod is reused without asking: exec in it changes nothing.

The traps of the `kubernetes` client (docs/architecture.md, "The Kubernetes client") are
handled here: exec goes through a DEDICATED ApiClient (stream() patches the client it is
given), always with `_preload_content=False` and our own deadline (`run_forever(timeout)`),
the channel-3 status is parsed defensively (InternalError has no exit code), and the pod and
container are checked to exist and run before any exec (a failed upgrade only says
"Handshake status 404"). Every cluster or tool problem becomes a ProbeResult with outcome
"error"; only invalid input raises (ProbeInputError).
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from triage.model import PodRef
from triage.probes.argv import (
    classify_connect,
    classify_dns,
    connect_commands,
    dns_commands,
    is_missing_tool,
)
from triage.probes.base import ProbeKind, ProbeOutcome, ProbeResult, ProbeVia

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from triage.sources.live import LiveTarget

DEBUG_IMAGE = "nicolaka/netshoot:v0.13"
DEBUG_PREFIX = "triage-debug-"
EXEC_GRACE = 5.0  # seconds an exec may run beyond the tool's own timeout
_IMAGE_PULL_ERRORS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
# What the error of a probe that needed a debug container (and got none) says to do.
CONSENT_HINT = "pass --allow-debug-container to let triage add one"


@dataclass(frozen=True)
class EphemeralRequest:
    """What the operator is asked before a debug container is added to a pod."""

    context: str  # the kubeconfig context the prober talks to ("" when unknown)
    namespace: str
    pod: str
    target_container: str  # the container whose namespaces the debug container joins
    image: str
    missing: tuple[str, ...]  # the tools the pod's image lacks, in the order tried
    kind: ProbeKind  # the probe that needs them

    @property
    def pod_key(self) -> str:
        return f"{self.namespace}/{self.pod}"

    @property
    def reason(self) -> str:
        return (
            f"the {self.kind} probe needs one of {', '.join(self.missing)}; the image of "
            f"container {self.target_container} has none of them"
        )


ConfirmEphemeral = Callable[[EphemeralRequest], bool]


def consent_for_context(context: str) -> ConfirmEphemeral:
    """A pre-approval (`--allow-debug-container --context NAME`): yes for every pod of
    `context`, no for any other context."""

    def confirm(request: EphemeralRequest) -> bool:
        return bool(context) and request.context == context

    return confirm


@dataclass(frozen=True)
class ExecOutput:
    """What one exec produced. `exit_code` None: no exit code (timeout, InternalError)."""

    stdout: str
    stderr: str
    exit_code: int | None
    elapsed: float
    error: str = ""  # the exec itself failed (not the command): why
    timed_out: bool = False

    @property
    def output(self) -> str:
        parts = [self.stdout, self.stderr, self.error]
        return "\n".join(p.rstrip("\n") for p in parts if p.strip())

    @property
    def missing_tool(self) -> bool:
        return is_missing_tool(self.exit_code if not self.error else -1, self.output)


def debug_container_name() -> str:
    """A fresh name for an ephemeral debug container."""
    return f"{DEBUG_PREFIX}{secrets.token_hex(3)}"


class _Refused(Exception):
    """A check before the probe failed: the probe cannot run. The message says why."""


class _Declined(Exception):
    """No consent to a debug container (no hook, a no, or no answer). The message says why
    and how to allow one."""


def parse_exec_status(raw: str) -> tuple[int | None, str]:
    """The exit code and failure message of a channel-3 metav1.Status.

    Success → (0, ""); NonZeroExitCode → (N, message); InternalError and anything else →
    (None, message). Never raises."""
    if not raw.strip():
        return None, "the exec ended without a status"
    try:
        status = json.loads(raw)
    except ValueError:
        return None, raw.strip()  # protocols before v4 sent plain text
    if not isinstance(status, dict):
        return None, raw.strip()
    if status.get("status") == "Success":
        return 0, ""
    message = str(status.get("message") or "")
    if status.get("reason") == "NonZeroExitCode":
        causes = (status.get("details") or {}).get("causes") or []
        for cause in causes:
            if isinstance(cause, dict) and cause.get("reason") == "ExitCode":
                try:
                    return int(cause.get("message", "")), message
                except ValueError:
                    break
    return None, message or json.dumps(status)


def _api_error_text(exc: Exception) -> str:
    """An ApiException as one line; the websocket handshake hides its HTTP status in reason."""
    status = getattr(exc, "status", None)
    reason = str(getattr(exc, "reason", "") or exc)
    body = getattr(exc, "body", None)
    if status == 0:
        match = re.search(r"Handshake status (\d+ [^-]*)", reason)
        if match:
            detail = ""
            tail = reason.rsplit("-+-+-", 1)[-1].strip()
            with contextlib.suppress(ValueError, AttributeError):
                detail = json.loads(tail).get("message", "")
            return f"exec refused: HTTP {match.group(1).strip()}" + (
                f": {detail}" if detail else ""
            )
        return f"exec failed: {reason.splitlines()[0] if reason else exc}"
    message = ""
    if body:
        try:
            message = json.loads(body).get("message", "")
        except (ValueError, AttributeError, TypeError):
            message = ""
    return f"HTTP {status}: {message or reason}"


class LiveProber:
    """Probes in the live cluster.

    `api` is the configured ApiClient for REST calls and `exec_api` a second, dedicated one
    for exec (both from `triage.sources.live.api_clients(target)`); a LiveTarget may be given
    instead, and the clients are then made on first use. `context` names the kubeconfig
    context those clients use (taken from the target's connection when not given); it is
    what an EphemeralRequest names. `timeout` bounds each REST call
    (default: the target's request timeout, else 10 s);
    `ephemeral_timeout` bounds the wait for a debug container to start; an exec may run
    `exec_grace` seconds beyond the probe's own timeout before it is abandoned.

    `confirm_ephemeral` decides whether a debug container may be added to a pod whose image
    lacks the tools (None: never); it may block (a TUI waits for the operator) and is called
    at most once per pod. `consent_hint` ends the error of a probe that got no debug
    container: how to allow one.
    """

    live = True

    def __init__(
        self,
        api: ApiClient | LiveTarget,
        exec_api: ApiClient | None = None,
        debug_image: str = DEBUG_IMAGE,
        timeout: float | None = None,
        *,
        ephemeral_timeout: float = 60.0,
        confirm_ephemeral: ConfirmEphemeral | None = None,
        consent_hint: str = CONSENT_HINT,
        context: str | None = None,
        poll_interval: float = 0.5,
        exec_grace: float = EXEC_GRACE,
    ) -> None:
        self._target: LiveTarget | None = None
        self._api: ApiClient | None = None
        self._exec_api: ApiClient | None = exec_api
        from kubernetes.client import ApiClient

        if isinstance(api, ApiClient):
            self._api = api
        else:
            self._target = api
        self.debug_image = debug_image
        target_timeout = getattr(self._target, "timeout", None)
        self.timeout = timeout if timeout is not None else float(target_timeout or 10.0)
        self.ephemeral_timeout = ephemeral_timeout
        self.confirm_ephemeral = confirm_ephemeral
        self.consent_hint = consent_hint
        self.context = context
        self.poll_interval = poll_interval
        self.exec_grace = exec_grace
        self._debug_containers: dict[tuple[str, str], str] = {}
        # The operator's answer per pod, for the life of this prober (the session).
        self._consent: dict[tuple[str, str], bool] = {}
        # Steps run in parallel worker threads: one lock for the lazy clients, one per pod so
        # that two probes never add two debug containers to the same pod, nor ask twice.
        self._lock = threading.Lock()
        self._pod_locks: dict[tuple[str, str], threading.Lock] = {}

    # ------------------------------------------------------------------ clients

    def _clients(self) -> tuple[ApiClient, ApiClient]:
        with self._lock:
            if self._api is None:
                from triage.sources.live import api_clients

                assert self._target is not None
                self._api, exec_api, context = api_clients(self._target)
                self._exec_api = self._exec_api or exec_api
                self.context = self.context or context
            if self._exec_api is None:
                # Never exec through the REST client: stream() patches it (module docstring).
                from kubernetes.client import ApiClient

                self._exec_api = ApiClient(self._api.configuration)
            return self._api, self._exec_api

    def _core(self) -> Any:
        from kubernetes.client import CoreV1Api

        api, _ = self._clients()
        return CoreV1Api(api)

    def _pod_lock(self, source: PodRef) -> threading.Lock:
        with self._lock:
            return self._pod_locks.setdefault((source.namespace, source.name), threading.Lock())

    # ------------------------------------------------------------------ probes

    def dns(self, source: PodRef, name: str, timeout: float) -> ProbeResult:
        commands = dns_commands(name, timeout)

        def classify(
            argv: tuple[str, ...], out: ExecOutput
        ) -> tuple[ProbeOutcome, tuple[str, ...]]:
            if out.timed_out:
                return "timeout", ()
            return classify_dns(argv, out.output, out.exit_code)

        return self._probe("dns", source, commands, timeout, classify)

    def connect(
        self, source: PodRef, ip: str, port: int, protocol: str, timeout: float
    ) -> ProbeResult:
        commands = connect_commands(ip, port, protocol, timeout)

        def classify(
            argv: tuple[str, ...], out: ExecOutput
        ) -> tuple[ProbeOutcome, tuple[str, ...]]:
            if out.timed_out:
                return "timeout", ()
            return classify_connect(out.output, out.exit_code, out.elapsed, timeout), ()

        return self._probe("connect", source, commands, timeout, classify)

    def _probe(
        self,
        kind: ProbeKind,
        source: PodRef,
        commands: Sequence[tuple[str, ...]],
        timeout: float,
        classify: Callable[[tuple[str, ...], ExecOutput], tuple[ProbeOutcome, tuple[str, ...]]],
    ) -> ProbeResult:
        started = time.monotonic()

        def error(
            message: str, command: tuple[str, ...] = (), via: ProbeVia = "exec"
        ) -> ProbeResult:
            ms = int((time.monotonic() - started) * 1000)
            return ProbeResult(kind, "error", message, ms, command, via)

        try:
            container = self._running_container(source)
        except _Refused as exc:
            return error(str(exc))
        tried: list[str] = []
        for argv in commands:
            out = self._exec(source, container, argv, timeout)
            if out.missing_tool:
                tried.append(argv[0])
                continue
            if out.error and out.exit_code is None and not out.timed_out:
                return error(out.output, argv)
            outcome, addresses = classify(argv, out)
            return ProbeResult(
                kind,
                outcome,
                out.output,
                int(out.elapsed * 1000),
                argv,
                "exec",
                "",
                addresses,
                container,
            )
        missing = ", ".join(tried)
        lack = f"the image of {source} has none of: {missing}"
        try:
            with self._pod_lock(source):
                debug = self._debug_container(
                    source, container, _request_for(self, source, container, tried, kind)
                )
        except _Declined as exc:
            return error(f"{lack}; no debug container was added: {exc}", commands[0])
        except _Refused as exc:
            return error(
                f"{lack}; no debug container either: {exc}",
                commands[0],
                "ephemeral",
            )
        note = (
            f"ran in ephemeral debug container {debug} ({self.debug_image}): the image of "
            f"{source} has none of: {missing}"
        )
        for argv in commands:
            out = self._exec(source, debug, argv, timeout)
            if out.missing_tool:
                continue
            if out.error and out.exit_code is None and not out.timed_out:
                return error(out.output, argv, "ephemeral")
            outcome, addresses = classify(argv, out)
            return ProbeResult(
                kind,
                outcome,
                out.output,
                int(out.elapsed * 1000),
                argv,
                "ephemeral",
                note,
                addresses,
                debug,
            )
        return error(
            f"neither {source} nor the debug image {self.debug_image} has any of: {missing}",
            commands[0],
            "ephemeral",
        )

    # ------------------------------------------------------------------ checks

    def _read_pod(self, source: PodRef) -> Any:
        from kubernetes.client.exceptions import ApiException

        try:
            return self._core().read_namespaced_pod(
                source.name, source.namespace, _request_timeout=self.timeout
            )
        except ApiException as exc:
            if exc.status == 404:
                raise _Refused(f"pod {source} not found") from None
            if exc.status == 403:
                raise _Refused(
                    f"RBAC: you may not get pods in namespace {source.namespace}"
                ) from None
            raise _Refused(f"cannot read pod {source}: {_api_error_text(exc)}") from None
        except Exception as exc:  # connection refused, timeouts, TLS: all mean "no probe"
            raise _Refused(f"cannot read pod {source}: {type(exc).__name__}: {exc}") from None

    def _running_container(self, source: PodRef) -> str:
        """The first container of the pod, checked to be running."""
        pod = self._read_pod(source)
        phase = getattr(pod.status, "phase", None) if pod.status else None
        if phase != "Running":
            raise _Refused(f"pod {source} is {phase or 'in an unknown phase'}, not Running")
        containers = pod.spec.containers if pod.spec else []
        if not containers:
            raise _Refused(f"pod {source} has no container")
        name: str = containers[0].name
        if pod.spec.host_network:
            pass  # the probe still runs; the checklist warns about hostNetwork itself
        for status in (pod.status.container_statuses or []) if pod.status else []:
            if status.name == name and (status.state is None or status.state.running is None):
                raise _Refused(f"container {name} of pod {source} is not running")
        return name

    # ------------------------------------------------------------------ exec

    def _exec(
        self, source: PodRef, container: str, argv: tuple[str, ...], timeout: float
    ) -> ExecOutput:
        from kubernetes.client import ApiClient

        # stream() swaps a method of the client it is given for the time of the call, so
        # concurrent execs on one client would restore each other's patch: each exec gets
        # its own short-lived client built from the dedicated exec configuration.
        _, exec_api = self._clients()
        exec_client = ApiClient(exec_api.configuration)
        try:
            return self._stream_exec(exec_client, source, container, argv, timeout)
        finally:
            exec_client.close()  # type: ignore[no-untyped-call]

    def _stream_exec(
        self,
        exec_client: ApiClient,
        source: PodRef,
        container: str,
        argv: tuple[str, ...],
        timeout: float,
    ) -> ExecOutput:
        from kubernetes.client import CoreV1Api
        from kubernetes.client.exceptions import ApiException
        from kubernetes.stream import stream

        wall = timeout + self.exec_grace
        started = time.monotonic()
        try:
            ws = stream(
                CoreV1Api(exec_client).connect_get_namespaced_pod_exec,
                source.name,
                source.namespace,
                command=list(argv),
                container=container,
                stderr=True,
                stdin=False,
                stdout=True,
                tty=False,
                _preload_content=False,
                _request_timeout=wall,
            )
        except ApiException as exc:
            return ExecOutput("", "", None, time.monotonic() - started, _api_error_text(exc))
        except Exception as exc:
            text = f"exec failed: {type(exc).__name__}: {exc}"
            return ExecOutput("", "", None, time.monotonic() - started, text)
        try:
            try:
                ws.run_forever(timeout=wall)
            except Exception as exc:  # the connection dropped without a close frame
                elapsed = time.monotonic() - started
                out, err = _drain(ws)
                return ExecOutput(out, err, None, elapsed, f"exec connection lost: {exc}")
            elapsed = time.monotonic() - started
            still_open = ws.is_open()
            out, err = _drain(ws)
            if still_open:
                return ExecOutput(
                    out,
                    err,
                    None,
                    elapsed,
                    f"the exec did not finish within {wall:.0f}s",
                    timed_out=True,
                )
            raw_status = ws.read_channel(3)
            exit_code, message = parse_exec_status(
                raw_status if isinstance(raw_status, str) else raw_status.decode("utf-8", "replace")
            )
            if exit_code is None:
                return ExecOutput(out, err, None, elapsed, message)
            return ExecOutput(out, err, exit_code, elapsed)
        finally:
            with contextlib.suppress(Exception):
                ws.close()

    # ------------------------------------------------------------------ ephemeral container

    def _debug_container(self, source: PodRef, target: str, request: EphemeralRequest) -> str:
        """A running ephemeral debug container in the pod: one already there (ephemeral
        containers cannot be removed, so they are reused, without asking: exec in one changes
        nothing), else a new one if the operator agrees. Called under the pod's lock."""
        pod = self._read_pod(source)
        reused = self._reusable(source, pod)
        if reused is not None:
            return reused
        self._ask(request)
        # The answer may have taken minutes: build the patch from the pod as it is now.
        pod = self._read_pod(source)
        reused = self._reusable(source, pod)
        if reused is not None:
            return reused
        name = debug_container_name()
        api, _ = self._clients()
        existing = [
            api.sanitize_for_serialization(c)  # type: ignore[no-untyped-call]
            for c in (pod.spec.ephemeral_containers or [])
        ]
        body = {
            "spec": {
                "ephemeralContainers": [
                    *existing,
                    {
                        "name": name,
                        "image": self.debug_image,
                        "command": ["sleep", "3600"],
                        "targetContainerName": target,
                        "stdin": False,
                        "tty": False,
                    },
                ]
            }
        }
        from kubernetes.client.exceptions import ApiException

        try:
            self._core().patch_namespaced_pod_ephemeralcontainers(
                source.name, source.namespace, body, _request_timeout=self.timeout
            )
        except ApiException as exc:
            if exc.status == 403:
                raise _Refused(
                    f"RBAC: you may not patch pods/ephemeralcontainers in namespace "
                    f"{source.namespace}"
                ) from None
            raise _Refused(f"cannot add a debug container: {_api_error_text(exc)}") from None
        except Exception as exc:
            raise _Refused(f"cannot add a debug container: {type(exc).__name__}: {exc}") from None
        self._debug_containers[(source.namespace, source.name)] = name
        return self._wait_running(source, name)

    def _reusable(self, source: PodRef, pod: Any) -> str | None:
        key = (source.namespace, source.name)
        known = self._debug_containers.get(key)
        for status in (pod.status.ephemeral_container_statuses or []) if pod.status else []:
            reusable = status.name == known or (
                status.name.startswith(DEBUG_PREFIX) and status.image == self.debug_image
            )
            if reusable and status.state is not None and status.state.running is not None:
                self._debug_containers[key] = status.name
                return str(status.name)
        return None

    def _ask(self, request: EphemeralRequest) -> None:
        """Raise _Declined unless the operator agrees to a debug container in this pod; a yes
        or no is remembered per pod, a failed question (the UI went away) is not."""
        key = (request.namespace, request.pod)
        if self.confirm_ephemeral is None:
            raise _Declined(
                f"adding one (an ephemeral container running {request.image}, which stays in "
                f"the pod until the pod is deleted) needs your consent; {self.consent_hint}"
            )
        answer = self._consent.get(key)
        if answer is None:
            try:
                answer = bool(self.confirm_ephemeral(request))
            except Exception as exc:
                raise _Declined(
                    f"the question was not answered ({type(exc).__name__}: {exc}); "
                    f"{self.consent_hint}"
                ) from None
            self._consent[key] = answer
        if not answer:
            raise _Declined(
                f"you declined a debug container in {request.pod_key} "
                f"(context {request.context or 'unknown'}); {self.consent_hint}"
            )

    def _wait_running(self, source: PodRef, name: str) -> str:
        deadline = time.monotonic() + self.ephemeral_timeout
        waiting = "not reported yet"
        while True:
            pod = self._read_pod(source)
            for status in (pod.status.ephemeral_container_statuses or []) if pod.status else []:
                if status.name != name or status.state is None:
                    continue
                if status.state.running is not None:
                    return name
                if status.state.terminated is not None:
                    reason = status.state.terminated.reason or "terminated"
                    raise _Refused(f"debug container {name} ended: {reason}")
                if status.state.waiting is not None:
                    waiting = status.state.waiting.reason or "waiting"
                    if waiting in _IMAGE_PULL_ERRORS:
                        raise _Refused(
                            f"debug container {name} cannot start: {waiting} ({self.debug_image})"
                        )
            if time.monotonic() >= deadline:
                raise _Refused(
                    f"debug container {name} did not start within {self.ephemeral_timeout:.0f}s "
                    f"({waiting})"
                )
            time.sleep(min(self.poll_interval, max(0.0, deadline - time.monotonic())))


def _request_for(
    prober: LiveProber, source: PodRef, container: str, missing: list[str], kind: ProbeKind
) -> EphemeralRequest:
    return EphemeralRequest(
        context=prober.context or "",
        namespace=source.namespace,
        pod=source.name,
        target_container=container,
        image=prober.debug_image,
        missing=tuple(missing),
        kind=kind,
    )


def _drain(ws: Any) -> tuple[str, str]:
    out = ws.read_channel(1)
    err = ws.read_channel(2)

    def text(value: Any) -> str:
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")

    return text(out), text(err)
