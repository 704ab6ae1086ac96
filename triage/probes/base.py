"""What a probe returns, and what a prober is (docs/architecture.md "Checklist and probes").

A probe runs one command in (or next to) the source pod: a DNS lookup or a TCP/UDP connect.
Live probers exec in the cluster; the recorded prober answers from an incident recording and
says `not-recorded` rather than invent an answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from triage.model import PodRef
from triage.model.untrusted import clean_lines, shell_join

ProbeKind = Literal["dns", "connect"]
ProbeOutcome = Literal["success", "timeout", "refused", "nxdomain", "error", "not-recorded"]
ProbeVia = Literal["exec", "ephemeral", "recorded"]

PROBE_OUTCOMES: tuple[ProbeOutcome, ...] = (
    "success",
    "timeout",
    "refused",
    "nxdomain",
    "error",
    "not-recorded",
)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One probe that ran (or was looked up in a recording).

    `command` is the argv that ran (empty when nothing ran); `output` is stdout and stderr as
    the tool printed them; `note` says anything the operator should know about how the result
    was obtained ("ran in ephemeral container triage-debug-1a2b", "recorded at ...").
    `addresses` are the IPs a DNS probe resolved (parsed from the output; empty otherwise).
    """

    kind: ProbeKind
    outcome: ProbeOutcome
    output: str
    duration_ms: int
    command: tuple[str, ...]
    via: ProbeVia
    note: str = ""
    addresses: tuple[str, ...] = ()
    container: str = ""  # the container `command` ran in (exec or ephemeral); "" if none

    def __post_init__(self) -> None:
        # What a pod's tools print is outside data (its image decides): no control
        # character of it reaches a terminal, a report or a recording.
        object.__setattr__(self, "output", clean_lines(self.output))
        object.__setattr__(self, "note", clean_lines(self.note))

    @property
    def ok(self) -> bool:
        return self.outcome == "success"

    @property
    def command_line(self) -> str:
        return shell_join(self.command)


@runtime_checkable
class Prober(Protocol):
    """Runs probes from a source pod. Implementations never raise for cluster or tool
    problems: those become an `error` result whose output says why."""

    live: bool

    def dns(self, source: PodRef, name: str, timeout: float) -> ProbeResult:
        """Resolve `name` (a DNS-1123 host name) from inside `source`."""
        ...

    def connect(
        self, source: PodRef, ip: str, port: int, protocol: str, timeout: float
    ) -> ProbeResult:
        """Open a connection from `source` to `ip`:`port` (`protocol` TCP or UDP)."""
        ...


class ProbeInputError(ValueError):
    """A probe was asked for with a name, IP or port that is not valid: nothing ran."""
