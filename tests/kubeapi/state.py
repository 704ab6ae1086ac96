"""Everything the request handlers share with the test thread, in one place."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

from .faults import FaultPlan, RecordedRequest
from .paging import ContinueTokens
from .podexec import ExecCall, ExecScript
from .resources import ResourceRegistry
from .store import ObjectStore

DEFAULT_TOKEN = "triage-test-token"
DEFAULT_USER = "system:serviceaccount:default:triage"


@dataclass
class ServerState:
    token: str | None = DEFAULT_TOKEN
    require_auth: bool = True
    user: str = DEFAULT_USER
    # "oci": an unscripted command fails like a binary missing from the image (containerd's
    # InternalError on channel 3); "shell": like `sh` not finding it (stderr + exit 127).
    unscripted_exec: str = "oci"
    # Seconds until a new ephemeral container reports state.running; None: it never starts
    # and keeps waiting with `ephemeral_waiting_reason`.
    ephemeral_start_delay: float | None = 0.0
    ephemeral_waiting_reason: str = "PodInitializing"
    registry: ResourceRegistry = field(default_factory=ResourceRegistry.builtin)
    store: ObjectStore = field(default_factory=ObjectStore)
    tokens: ContinueTokens = field(default_factory=ContinueTokens)
    faults: FaultPlan = field(default_factory=FaultPlan)
    requests: list[RecordedRequest] = field(default_factory=list)
    exec_log: list[ExecCall] = field(default_factory=list)
    scripts: list[ExecScript] = field(default_factory=list)
    loop: asyncio.AbstractEventLoop | None = None
    server_address: str = "127.0.0.1:0"
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def log_exec(self, call: ExecCall) -> None:
        with self._lock:
            self.exec_log.append(call)

    def add_script(self, script: ExecScript) -> ExecScript:
        with self._lock:
            self.scripts.append(script)
        return script

    def find_script(
        self, namespace: str, pod: str, container: str, argv: list[str]
    ) -> ExecScript | None:
        with self._lock:
            for script in reversed(self.scripts):
                if script.matches(namespace, pod, container, argv):
                    script.used += 1
                    return script
        return None
