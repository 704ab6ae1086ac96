"""An Incident: a Snapshot plus what the operator knew at the time (docs/architecture.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from triage.model.admin import AdminPolicy
from triage.model.datapath import Aggregation
from triage.model.flow import Flow
from triage.model.objects import NetworkPolicy
from triage.model.snapshot import Snapshot

ProbeKind = Literal["dns", "connect"]
ProbeOutcome = Literal["success", "timeout", "refused", "nxdomain", "error"]


@dataclass(frozen=True, slots=True)
class IncidentMeta:
    title: str
    cluster: str = ""
    context: str = ""
    captured_at: str = ""  # RFC 3339, as recorded; never "now"
    summary: str = ""
    # The bundled runbook that fits this incident (`lateral-movement`); "" for none: the
    # TUI then opens the default `blocked-flow`. An explicit `--runbook` still wins.
    runbook: str = ""


@dataclass(frozen=True, slots=True)
class ReportedFlow:
    flow: Flow
    note: str = ""


@dataclass(frozen=True, slots=True)
class ProbeRecord:
    """A probe that really ran, kept so a replay can answer with it."""

    kind: ProbeKind
    source: str  # NS/POD
    target: str  # a host name, NS/POD, NS/svc/NAME or an IP
    port: int | None
    protocol: str
    outcome: ProbeOutcome
    output: str = ""
    duration_ms: int = 0
    at: str = ""


@dataclass(frozen=True, slots=True)
class KnownGood:
    """A policy set that worked, with the labels of that moment, so a diff can tell a
    policy change from a label change."""

    name: str
    captured_at: str
    policies: tuple[NetworkPolicy, ...]
    namespace_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    pod_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # The cluster-scoped admin policies of that moment (ClusterNetworkPolicy, ANP, BANP);
    # () when the set recorded none (then a rollback leaves the admin tiers alone).
    admin_policies: tuple[AdminPolicy, ...] = ()
    # The namespaces the set speaks for (a manifests folder of one team, a `-n` snapshot);
    # None: every namespace. Policies outside it are neither "added" nor "removed".
    scope: tuple[str, ...] | None = None

    def in_scope(self, namespace: str) -> bool:
        return self.scope is None or namespace in self.scope


@dataclass(frozen=True, slots=True)
class Note:
    at: str
    text: str


@dataclass(frozen=True)
class Incident:
    meta: IncidentMeta
    snapshot: Snapshot
    flows: tuple[ReportedFlow, ...] = ()
    probes: tuple[ProbeRecord, ...] = ()
    known_good: tuple[KnownGood, ...] = ()
    notes: tuple[Note, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)
    # What the CNI's datapath saw (`triage record --flows`): aggregated, bounded, no labels.
    datapath: Aggregation | None = None
