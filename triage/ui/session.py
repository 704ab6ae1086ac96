"""What the UI works on once loading is done, and the sources it can be loaded from.

No Textual here: a source's `load()` runs in a thread worker of the app (never
blocking I/O on the event loop: docs/architecture.md "Data flow") and returns a `Session`.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from triage.model import Snapshot
from triage.model.incident import Incident

if TYPE_CHECKING:
    from triage.probes.live import ConfirmEphemeral
    from triage.sources.live import LiveTarget

Progress = Callable[[str], None]
Mode = Literal["live", "replay"]
# May a live probe add an ephemeral debug container to a pod whose image lacks the tools?
# never: no (replays, or nobody to ask); ask: the operator is asked, once per pod;
# allowed: pre-approved for the session's context (`--allow-debug-container`).
DebugContainers = Literal["never", "ask", "allowed"]


@dataclass(frozen=True)
class Session:
    """A loaded cluster: the snapshot, where it came from, and how probes are answered."""

    snapshot: Snapshot
    mode: Mode
    label: str  # the incident title, or the context name
    prober: Any  # triage.probes.base.Prober
    incident: Incident | None = None
    context: str | None = None
    server: str | None = None
    warnings: tuple[str, ...] = ()
    debug_containers: DebugContainers = "never"
    # When the data was read (live, RFC 3339 UTC) or recorded (replay): the header's age
    # and the report's footing.
    loaded_at: str = ""

    @property
    def read_only(self) -> bool:
        """A replay never touches a cluster: actions that would are not even shown."""
        return self.mode == "replay"

    @property
    def details(self) -> str:
        """The header's second part: cluster and capture time for a replay, the context
        and server for a live cluster. Never a clock."""
        if self.incident is not None and self.mode == "replay":
            meta = self.incident.meta
            parts = [f"cluster {meta.cluster}" if meta.cluster else ""]
            parts.append(f"captured {meta.captured_at}" if meta.captured_at else "")
            return " · ".join(p for p in parts if p)
        return f"server {self.server}" if self.server else ""


class Source(Protocol):
    mode: Mode

    @property
    def description(self) -> str:
        """What the loading screen says it is doing."""
        ...

    def load(self, progress: Progress, confirm_debug: ConfirmEphemeral | None = None) -> Session:
        """Load in a worker thread. `confirm_debug` is how a live prober asks the operator
        before it adds a debug container (see triage.probes.live); replays never ask."""
        ...


@dataclass(frozen=True)
class ReplaySource:
    """A recorded incident (`triage replay FILE`, `triage demo`): read-only."""

    path: Path | None = None
    incident: Incident | None = None  # already in memory (benchmarks, tests)
    mode: Mode = "replay"

    @property
    def description(self) -> str:
        return f"Reading the recording {self.path}" if self.path else "Opening the recording"

    def load(self, progress: Progress, confirm_debug: ConfirmEphemeral | None = None) -> Session:
        from triage.probes.recorded import RecordedProber

        incident = self.incident
        if incident is None:
            from triage.sources.recording import load_incident

            if self.path is None:
                raise ValueError("ReplaySource needs a path or an incident")
            progress(self.description)
            incident = load_incident(self.path)
        _keep_out_of_gc()
        return Session(
            snapshot=incident.snapshot,
            mode="replay",
            label=incident.meta.title,
            prober=RecordedProber(incident),
            incident=incident,
            context=incident.meta.context or None,
            warnings=tuple(incident.snapshot.warnings),
            loaded_at=incident.meta.captured_at,
        )


def utc_now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _keep_out_of_gc() -> None:
    """A 10k-pod snapshot is ~1M long-lived objects; without this the cyclic collector
    rescans them all several times during the first seconds of the UI (~0.3 s). They hold
    no cycles, so a replaced snapshot is still freed by reference counting."""
    gc.freeze()


@dataclass(frozen=True)
class LiveSource:
    """The live cluster of a kubeconfig context (`triage`, `triage tui`).

    `allow_debug_container` pre-approves debug containers for the session's context
    (`--allow-debug-container`); otherwise the `confirm_debug` hook given to `load` asks
    the operator, and without one none is ever added."""

    target: LiveTarget
    allow_debug_container: bool = False
    mode: Mode = "live"

    @property
    def description(self) -> str:
        context = self.target.context or "the current context"
        return f"Connecting to {context}"

    def load(self, progress: Progress, confirm_debug: ConfirmEphemeral | None = None) -> Session:
        from triage.probes.live import LiveProber, consent_for_context
        from triage.sources.live import load_live

        progress(self.description)
        loaded_at = utc_now()
        loaded = load_live(self.target, lambda resource, count: progress(f"{resource}: {count}"))
        _keep_out_of_gc()
        # An ephemeral debug container changes the pod for good: never without consent.
        policy: DebugContainers
        if self.allow_debug_container:
            # The hook (the UI) says which context is changed; the pre-approval alone
            # still holds for this context only.
            policy, confirm = "allowed", confirm_debug or consent_for_context(loaded.context)
        elif confirm_debug is not None:
            policy, confirm = "ask", confirm_debug
        else:
            policy, confirm = "never", None
        prober = LiveProber(
            self.target,
            confirm_ephemeral=confirm,
            consent_hint=(
                "reload (ctrl+r) to be asked again, or start triage with --allow-debug-container"
                if policy == "ask"
                else "start triage with --allow-debug-container to allow one"
            ),
            context=loaded.context,
        )
        return Session(
            snapshot=loaded.snapshot,
            mode="live",
            label=f"context {loaded.context}",
            prober=prober,
            context=loaded.context,
            server=loaded.server,
            warnings=tuple(loaded.warnings),
            debug_containers=policy,
            loaded_at=loaded_at,
        )
