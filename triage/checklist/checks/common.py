"""What the checks share: the result builder, the reason codes they group by, and the
readings of a verdict (sides, rules, the endpoints' labels) several checks make."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from triage.checklist.hints import LABEL_CODES
from triage.checklist.model import ChecklistContext, Status, StepResult
from triage.model import (
    Pod,
    PodRef,
    Snapshot,
)
from triage.model.untrusted import shell_join
from triage.policy import (
    PolicyTrace,
    Reason,
    RuleTrace,
    SideTrace,
    Verdict,
)
from triage.probes.base import ProbeResult

Check = Callable[[ChecklistContext], StepResult]

_NAMESPACE_CODES = frozenset(
    {"namespace-not-own", "namespace-name-label-missing", "wrong-namespace"}
)
_PORT_CODES = frozenset(
    {
        "protocol",
        "port",
        "port-range",
        "named-port-unresolved",
        "port-unknown",
        "named-port-ambiguous",
    }
)


def _result(
    status: Status,
    summary: str,
    evidence: list[str] | tuple[str, ...] = (),
    hint: str = "",
    details: Mapping[str, str] | None = None,
) -> StepResult:
    """A result whose step_id and kubectl `run_step` fills in."""
    return StepResult("", status, summary, tuple(evidence), hint, "", dict(details or {}))


def _ran(result: StepResult, source: PodRef, probe: ProbeResult) -> StepResult:
    """A probe step's kubectl is the command that ran (in the container it ran in), so
    pasting it repeats exactly what the step saw; a recorded probe keeps the runbook's."""
    if not probe.command or probe.via == "recorded":
        return result
    argv = ["kubectl", "exec", "-n", source.namespace, source.name]
    if probe.container:
        argv += ["-c", probe.container]
    return dataclasses.replace(result, kubectl=shell_join([*argv, "--", *probe.command]))


# ---------------------------------------------------------------- shared readings


def _is_namespace_reason(reason: Reason) -> bool:
    return reason.code in _NAMESPACE_CODES or reason.term == "namespace-selector"


def _is_label_reason(reason: Reason) -> bool:
    return reason.code in LABEL_CODES and not _is_namespace_reason(reason)


@dataclass(frozen=True)
class _Side:
    trace: SideTrace
    subject: str  # "source" or "destination": the pod the side belongs to
    other: str  # the far end, whose labels the peers are checked against

    @property
    def verb(self) -> str:
        return self.trace.direction.lower()


def _sides(verdict: Verdict) -> tuple[_Side, _Side]:
    return (
        _Side(verdict.egress, "source", "destination"),
        _Side(verdict.ingress, "destination", "source"),
    )


def _relevant_rules(policy: PolicyTrace) -> list[RuleTrace]:
    """Rules about this flow's port: a rule for another port says nothing about labels."""
    return [r for r in policy.rules if r.port_matched]


def _primary(ctx: ChecklistContext) -> Verdict | None:
    return ctx.explanation.primary


def _pod_of(snapshot: Snapshot, name: str) -> Pod | None:
    return snapshot.pod_by_key.get(name)


def _endpoint_labels(snapshot: Snapshot, verdict: Verdict, role: str) -> Mapping[str, str]:
    end = verdict.source if role == "source" else verdict.destination
    pod = _pod_of(snapshot, end.name)
    return pod.labels if pod is not None else {}


def _rule_name(policy: PolicyTrace, verb: str, rule: RuleTrace) -> str:
    return f"{policy.key} {verb} rule #{rule.index}"
