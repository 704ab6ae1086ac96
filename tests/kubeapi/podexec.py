"""pods/exec over websocket: the v4/v5 channel protocol and scripted command results.

The wire behaviour follows the notes (§1, §4): one channel byte per message, an empty
"connection established" frame first, a metav1.Status JSON on channel 3, and only then a
websocket close, because the Python client derives `returncode` from that close.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shlex
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .objects import JsonDict
from .status import ApiError, bad_request, unknown_error

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
FRAME_SIZE = 32 * 1024

CommandMatcher = Sequence[str] | str | Callable[[list[str]], bool] | None
ExecHandler = Callable[["ExecSession"], Awaitable[None]]


def parse_bool(text: str) -> bool:
    """Go's strconv.ParseBool: client 37 sends true/false, 35/36 send True/False."""
    if text in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise bad_request(f'strconv.ParseBool: parsing "{text}": invalid syntax')


def go_argv(argv: Sequence[str]) -> str:
    """fmt's %v of a []string, as used in runtime error messages."""
    return "[" + " ".join(argv) + "]"


def success_status() -> JsonDict:
    return {"metadata": {}, "status": "Success"}


def exit_status(argv: Sequence[str], exit_code: int) -> JsonDict:
    # containerd's CodeExitError wording, wrapped by remotecommand's v4 status writer.
    return {
        "metadata": {},
        "status": "Failure",
        "message": (
            "command terminated with non-zero exit code: "
            f"error executing command {go_argv(argv)}, exit code {exit_code}"
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]},
    }


def internal_error_status(why: str) -> JsonDict:
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"Internal error occurred: {why}",
        "reason": "InternalError",
        "details": {"causes": [{"message": why}]},
        "code": 500,
    }


def missing_binary_status(argv: Sequence[str]) -> JsonDict:
    """What containerd + runc report for a binary that is not in the image."""
    program = argv[0] if argv else ""
    if "/" in program:
        cause = f'exec: "{program}": stat {program}: no such file or directory'
    else:
        cause = f'exec: "{program}": executable file not found in $PATH'
    why = (
        "error executing command in container: failed to exec in container: "
        f'failed to start exec "{secrets.token_hex(32)}": OCI runtime exec failed: '
        f"exec failed: unable to start container process: {cause}: unknown"
    )
    return internal_error_status(why)


@dataclass
class ExecScript:
    """One scripted answer. Later scripts win over earlier ones."""

    namespace: str | None
    pod: str | None
    command: CommandMatcher
    stdout: bytes = b""
    stderr: bytes = b""
    exit_code: int = 0
    container: str | None = None
    delay: float = 0.0
    handler: ExecHandler | None = None
    exact: bool = False
    times: int | None = None
    used: int = 0

    def matches(self, namespace: str, pod: str, container: str, argv: list[str]) -> bool:
        if self.times is not None and self.used >= self.times:
            return False
        if self.namespace not in (None, namespace) or self.pod not in (None, pod):
            return False
        if self.container not in (None, container):
            return False
        if self.command is None:
            return True
        if callable(self.command):
            return bool(self.command(argv))
        expected = (
            shlex.split(self.command) if isinstance(self.command, str) else list(self.command)
        )
        if self.exact:
            return argv == expected
        return argv[: len(expected)] == expected


@dataclass
class ExecCall:
    """One exec request that reached the websocket stage, for assertions."""

    namespace: str
    pod: str
    container: str
    argv: list[str]
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool
    protocol: str
    method: str
    script: ExecScript | None = None
    status: JsonDict | None = None  # what was sent on channel 3, once sent
    stdin_data: bytes = b""
    started_at: float = field(default_factory=time.monotonic)
    finished_at: float | None = None

    @property
    def exit_code(self) -> int | None:
        if self.status is None:
            return None
        if self.status.get("status") == "Success":
            return 0
        try:
            return int(self.status["details"]["causes"][0]["message"])
        except (KeyError, IndexError, ValueError):
            return None


class ExecSession:
    """What a scripted `handler` drives: write frames, finish, or misbehave on purpose."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, call: ExecCall) -> None:
        self.ws = ws
        self.call = call
        self._request = request
        self._stdin = bytearray()
        self._stdin_closed = asyncio.Event()
        self.finished = False

    @property
    def argv(self) -> list[str]:
        return self.call.argv

    @property
    def container(self) -> str:
        return self.call.container

    @property
    def protocol(self) -> str:
        return self.call.protocol

    async def write(self, channel: int, data: bytes | str) -> None:
        payload = data.encode() if isinstance(data, str) else data
        if channel == STDERR and self.call.tty:
            channel = STDOUT  # a TTY has one output stream
        for start in range(0, len(payload), FRAME_SIZE):
            await self.ws.send_bytes(bytes([channel]) + payload[start : start + FRAME_SIZE])

    async def stdout(self, data: bytes | str) -> None:
        await self.write(STDOUT, data)

    async def stderr(self, data: bytes | str) -> None:
        await self.write(STDERR, data)

    async def send_status(self, status: JsonDict) -> None:
        """Write a Status on channel 3, then close the websocket (the client needs both)."""
        self.call.status = status
        await self.ws.send_bytes(
            bytes([ERROR]) + json.dumps(status, separators=(",", ":")).encode()
        )
        await self.close()

    async def finish(self, exit_code: int = 0) -> None:
        await self.send_status(
            success_status() if exit_code == 0 else exit_status(self.argv, exit_code)
        )

    async def internal_error(self, why: str) -> None:
        await self.send_status(internal_error_status(why))

    async def close_channel(self, channel: int) -> None:
        """The v5 CLOSE signal for one stream (v4 has no such frame)."""
        await self.ws.send_bytes(bytes([CLOSE, channel]))

    async def close(self) -> None:
        self.finished = True
        self.call.finished_at = time.monotonic()
        await self.ws.close()

    def drop(self) -> None:
        """Cut the TCP connection with no close frame (client: WebSocketConnectionClosed)."""
        self.finished = True
        transport = self._request.transport
        if transport is not None:
            transport.abort()

    async def hang(self) -> None:
        """Never answer: the client has to rely on its own timeout."""
        await asyncio.Event().wait()

    async def read_stdin(self) -> bytes:
        """Everything the client wrote on stdin, once it closed stdin or the socket."""
        await self._stdin_closed.wait()
        return bytes(self._stdin)

    async def pump_input(self) -> None:
        async for message in self.ws:
            if message.type == WSMsgType.BINARY:
                data = message.data
            elif message.type == WSMsgType.TEXT:
                data = message.data.encode()
            else:
                continue
            if not data:
                continue
            channel, payload = data[0], data[1:]
            if channel == STDIN:
                self._stdin.extend(payload)
                self.call.stdin_data = bytes(self._stdin)
            elif channel == CLOSE and payload[:1] == bytes([STDIN]):
                self._stdin_closed.set()
        self._stdin_closed.set()


@dataclass
class ExecRequest:
    argv: list[str]
    container: str | None
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool


def parse_exec_query(query: Any) -> ExecRequest:
    argv = list(query.getall("command", []))
    flags = {
        name: parse_bool(query.get(name, "false")) for name in ("stdin", "stdout", "stderr", "tty")
    }
    if not argv:
        raise bad_request("you must specify at least one command for the container")
    if not (flags["stdin"] or flags["stdout"] or flags["stderr"]):
        raise bad_request("you must specify at least 1 of stdin, stdout, stderr")
    return ExecRequest(argv, query.get("container") or None, **flags)


def resolve_container(pod: JsonDict, requested: str | None) -> str:
    """pod.validateContainer plus the phase checks of ExecLocation, worded like the apiserver."""
    spec, name = pod.get("spec") or {}, pod["metadata"]["name"]
    regular = [c["name"] for c in spec.get("containers") or []]
    everything = (
        regular
        + [c["name"] for c in spec.get("initContainers") or []]
        + [c["name"] for c in spec.get("ephemeralContainers") or []]
    )
    if not requested:
        if len(regular) == 1:
            requested = regular[0]
        elif not regular:
            raise bad_request(f"pod {name} does not have a container")
        else:
            raise bad_request(
                f"a container name must be specified for pod {name}, "
                f"choose one of: {go_argv(everything)}"
            )
    elif requested not in everything:
        raise bad_request(f"container {requested} is not valid for pod {name}")
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        raise bad_request(
            f"cannot exec into a container in a completed pod; current phase is {phase}"
        )
    if phase == "Pending" and not spec.get("nodeName"):
        raise bad_request(f"pod {name} does not have a host assigned")
    _require_running(pod, requested)
    return requested


def _require_running(pod: JsonDict, container: str) -> None:
    # The kubelet only finds running containers; fixtures without statuses are taken as
    # running so that minimal test pods stay usable.
    status = pod.get("status") or {}
    for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        for entry in status.get(key) or []:
            if entry.get("name") == container and "running" not in (entry.get("state") or {}):
                raise unknown_error(f'container not found ("{container}")')


def lowest_output_channel(request: ExecRequest) -> int:
    if request.stdout:
        return STDOUT
    return STDERR if request.stderr else ERROR


async def open_websocket(request: web.Request) -> tuple[web.WebSocketResponse, str]:
    if request.headers.get("Upgrade", "").lower() != "websocket":
        raise bad_request("Upgrade request required")
    ws = web.WebSocketResponse(protocols=PROTOCOLS, timeout=2.0, max_msg_size=0)
    ready = ws.can_prepare(request)
    if not ready.ok:
        raise bad_request("websocket handshake failed")
    if ready.protocol is None:
        offered = request.headers.get("Sec-WebSocket-Protocol", "")
        raise ApiError(
            400,
            "BadRequest",
            f"requested protocol(s) are not supported: [{offered}]; supports {go_argv(PROTOCOLS)}",
        )
    await ws.prepare(request)
    return ws, ready.protocol


async def run_script(session: ExecSession, script: ExecScript | None, unscripted: str) -> None:
    if script is None:
        if unscripted == "shell":
            await session.stderr(f"sh: {session.argv[0]}: not found\n")
            await session.finish(127)
        else:
            await session.send_status(missing_binary_status(session.argv))
        return
    if script.delay:
        await asyncio.sleep(script.delay)
    if script.handler is not None:
        await script.handler(session)
        if not session.finished:
            await session.finish(0)
        return
    if script.stdout:
        await session.stdout(script.stdout)
    if script.stderr:
        await session.stderr(script.stderr)
    await session.finish(script.exit_code)


async def serve_exec(
    ws: web.WebSocketResponse,
    request: web.Request,
    call: ExecCall,
    exec_request: ExecRequest,
    script: ExecScript | None,
    unscripted: str,
) -> None:
    session = ExecSession(ws, request, call)
    pump = asyncio.create_task(session.pump_input())
    try:
        await ws.send_bytes(bytes([lowest_output_channel(exec_request)]))
        await run_script(session, script, unscripted)
    except ConnectionResetError:
        pass  # the client went away mid-stream; nothing left to tell it
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
        if not ws.closed and not session.finished:
            await ws.close()
