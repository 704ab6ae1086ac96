"""Flows worth triaging, proposed from a snapshot and an incident."""

from __future__ import annotations

from triage.checklist.model import CandidateFlow
from triage.model import Snapshot
from triage.model.incident import Incident


def candidate_flows(snapshot: Snapshot, incident: Incident | None = None) -> list[CandidateFlow]:
    """The incident's reported flows; flows allowed in the last known-good set and denied
    now; egress-isolated pods that cannot reach DNS; Services whose backends no pod outside
    their namespace can reach. Sampled per workload, so it stays fast on 10k pods."""
    raise NotImplementedError
