"""The checklist's data: runbooks, steps, results and the context a step runs in.

This module is the contract with the UI (ui/screens/checklist.py) and the CLI: frozen
dataclasses and plain types only. The logic lives in the sibling modules:

- `load_runbook(name_or_path) -> Runbook`, `runbook_for(ctx)`  (runbook.py)
- `render_kubectl(template, ctx) -> str`, `PLACEHOLDERS`   (kubectl.py)
- the checks, by step id: `CHECKS`                        (steps.py)
- `run_step(ctx, step_id) -> StepResult`, `run_all(ctx)`   (run.py)
- `candidate_flows(snapshot, incident) -> list[CandidateFlow]`  (candidates.py)
- `least_privilege_fix(snapshot, flow_or_verdict) -> str`  (fix.py)
- `export_report(ctx, results) -> str`                     (report.py)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Literal

from triage.model import Flow, Snapshot
from triage.model.datapath import Aggregation
from triage.model.incident import Incident, KnownGood
from triage.probes.base import Prober

if TYPE_CHECKING:
    from triage.policy import Explanation

Status = Literal["pending", "running", "pass", "fail", "warn", "skip", "error"]
STATUSES: tuple[Status, ...] = ("pending", "running", "pass", "fail", "warn", "skip", "error")
# Results a step can return; "pending" and "running" are the UI's states before a result.
FINAL_STATUSES: tuple[Status, ...] = ("pass", "fail", "warn", "skip", "error")

CandidateSource = Literal[
    "reported", "regressed", "near-miss", "dns", "unreachable-service", "datapath"
]


@dataclass(frozen=True, slots=True)
class StepSpec:
    """One step of a runbook, as written in the YAML.

    `id` names the check that runs (see `triage.checklist.steps.CHECKS`); `text` is what the
    operator reads; `kubectl` is a template of the command that shows the same evidence, with
    `{src_ns}`-style placeholders (`triage.checklist.runbook.PLACEHOLDERS`); `live` says the
    step runs a probe in the cluster when a live prober is available.
    """

    id: str
    title: str
    text: str
    kubectl: str
    help: str = ""
    live: bool = False


@dataclass(frozen=True, slots=True)
class Runbook:
    name: str
    title: str
    description: str
    steps: tuple[StepSpec, ...]
    path: str = field(default="", compare=False)  # where it was loaded from

    def step(self, step_id: str) -> StepSpec:
        for spec in self.steps:
            if spec.id == step_id:
                return spec
        known = ", ".join(s.id for s in self.steps)
        raise KeyError(f"runbook {self.name} has no step {step_id!r} (its steps: {known})")

    @property
    def step_ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.steps)


@dataclass(frozen=True, slots=True)
class StepResult:
    """What one step found. `status` is one of FINAL_STATUSES; `summary` is one line;
    `evidence` the lines that back it; `hint` what to do next; `kubectl` the rendered
    command that shows the same evidence. `details` carries larger texts by key:
    "fix_yaml" (a NetworkPolicy that would allow the flow), "diff" (unified diff of what
    changed), "probe_output" (raw probe output), "residual" (lateral movement)."""

    step_id: str
    status: Status
    summary: str
    evidence: tuple[str, ...] = ()
    hint: str = ""
    kubectl: str = ""
    details: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ChecklistContext:
    """Everything a step needs. Build one per (snapshot, flow); steps share its caches.

    `prober` None: no probes at all (static analysis only; probe steps are skipped).
    `known_good` None: taken from the incident's last known-good set, if any.
    `runbook` None: the bundled `blocked-flow` runbook (`runbook.runbook_for(ctx)` resolves
    it; this module stays below the loader, so it never loads one itself).
    """

    snapshot: Snapshot
    flow: Flow
    incident: Incident | None = None
    prober: Prober | None = None
    known_good: KnownGood | None = None
    runbook: Runbook | None = None
    probe_timeout: float = 5.0
    # A flow log (Aggregation) the Verdict and Probe steps show beside their result; None:
    # the incident's recorded `datapath`, if any.
    datapath: Aggregation | None = None

    @cached_property
    def effective_known_good(self) -> KnownGood | None:
        if self.known_good is not None:
            return self.known_good
        if self.incident is not None and self.incident.known_good:
            return self.incident.known_good[-1]
        return None

    @cached_property
    def explanation(self) -> Explanation:
        """`explain(snapshot, flow)`, computed once. Raises UnknownEndpoint."""
        from triage.policy import explain

        return explain(self.snapshot, self.flow)


@dataclass(frozen=True, slots=True)
class CandidateFlow:
    """A flow worth triaging, and why it was proposed.

    `source`: "reported" (the incident's reported flows), "regressed" (allowed in the last
    known-good set, denied now), "dns" (an egress-isolated pod that cannot reach DNS),
    "unreachable-service" (a Service no pod outside its namespace can reach), "near-miss"
    (a peer selector that matches no pod but nearly matches this flow's pod), "datapath"
    (a flow log's dropped flows and disagreements)."""

    flow: Flow
    reason: str
    source: CandidateSource
