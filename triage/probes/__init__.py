"""Probes from the source pod: live (exec / ephemeral debug container) and recorded.

`triage.probes.live.LiveProber` is not imported here: it pulls in the kubernetes client.
"""

from triage.probes.base import (
    PROBE_OUTCOMES,
    ProbeInputError,
    ProbeKind,
    ProbeOutcome,
    Prober,
    ProbeResult,
    ProbeVia,
)
from triage.probes.recorded import RecordedProber

__all__ = [
    "PROBE_OUTCOMES",
    "ProbeInputError",
    "ProbeKind",
    "ProbeOutcome",
    "ProbeResult",
    "ProbeVia",
    "Prober",
    "RecordedProber",
]
