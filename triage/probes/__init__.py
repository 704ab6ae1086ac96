"""Probes from the source pod: live (exec / ephemeral debug container) and recorded."""

from triage.probes.base import (
    PROBE_OUTCOMES,
    ProbeInputError,
    ProbeKind,
    ProbeOutcome,
    Prober,
    ProbeResult,
    ProbeVia,
)

__all__ = [
    "PROBE_OUTCOMES",
    "ProbeInputError",
    "ProbeKind",
    "ProbeOutcome",
    "ProbeResult",
    "ProbeVia",
    "Prober",
]
