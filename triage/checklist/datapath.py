"""The datapath beside the checklist: flow-log evidence for the Verdict and Probe steps, and
the flow picker's datapath candidates.

A flow log (`--flows FILE`, `:flows FILE`, or the `datapath` section of a recording) is
reconciled with the snapshot once per checklist; the steps then show, next to the static
verdict and the probe, what the CNI saw for the same connections and whether it agrees.
"""

from __future__ import annotations

import dataclasses

from triage.checklist.model import CandidateFlow, ChecklistContext, StepResult
from triage.model import Snapshot
from triage.model.datapath import Aggregation
from triage.model.untrusted import shell_join
from triage.policy.reconcile import Reconciled, matching, reconcile

MAX_LINES = 3  # datapath lines per step: one flow rarely has more than a few backends


def datapath_candidates(
    snapshot: Snapshot, aggregation: Aggregation, captured_at: str = ""
) -> list[CandidateFlow]:
    """The flows the datapath dropped (or would have: AUDIT), most drops first, then those
    where it disagrees with the policies; each as the flow the engine checked."""
    found: list[CandidateFlow] = []
    seen = set()
    for item in reconcile(snapshot, aggregation, captured_at=captured_at):
        flow = item.flow
        blocked = flow.dropped > 0 or flow.datapath == "AUDIT"
        if item.engine_flow is None or not (blocked or item.agree is False):
            continue
        if item.engine_flow in seen:
            continue
        seen.add(item.engine_flow)
        found.append(CandidateFlow(item.engine_flow, _reason(item), "datapath"))
    return found


def _reason(item: Reconciled) -> str:
    flow = item.flow
    reasons = ", ".join(r for r, _ in flow.drop_reasons)
    seen = f"{flow.datapath} ×{flow.count}" + (f" ({reasons})" if reasons else "")
    if item.agree:
        return f"{seen}; policies agree"
    return f"{seen}; {item.cause_text}" if item.cause_text else seen


def datapath_items(ctx: ChecklistContext) -> list[Reconciled]:
    """The reconciled datapath flows for the context's flow ([] without a flow log)."""
    aggregation = ctx.datapath
    if aggregation is None and ctx.incident is not None:
        aggregation = ctx.incident.datapath
    if aggregation is None or not aggregation.flows:
        return []
    captured = ctx.incident.meta.captured_at if ctx.incident is not None else ""
    explanation = ctx.explanation
    # Only flows on the same port and protocol can match: reconcile those, not the log.
    ports = {(v.port, v.protocol) for v in explanation.verdicts}
    near = [f for f in aggregation.flows if (f.port, f.protocol) in ports]
    return matching(explanation, reconcile(ctx.snapshot, near, captured_at=captured))


def with_datapath(ctx: ChecklistContext, result: StepResult) -> StepResult:
    """The Verdict or Probe step's result with the datapath's lines beside it. A verdict
    the datapath contradicts becomes a warning that says why."""
    try:
        items = datapath_items(ctx)
    except LookupError:  # the flow does not resolve: the Flow step says so
        return result
    if not items:
        return result
    evidence = [*result.evidence, *(i.line() for i in items[:MAX_LINES])]
    if len(items) > MAX_LINES:
        evidence.append(f"datapath: … and {len(items) - MAX_LINES} more flows")
    changed = dataclasses.replace(result, evidence=tuple(evidence))
    disagree = [i for i in items if i.agree is False]
    if result.step_id != "verdict" or not disagree or result.status not in ("pass", "fail"):
        return changed
    first = disagree[0]
    did = "dropped" if first.flow.last_verdict in ("DROPPED", "AUDIT") else "forwarded"
    return dataclasses.replace(
        changed,
        status="warn",
        summary=f"{result.summary} — but the datapath {did} it: {first.cause_text}",
        hint=f"the datapath and the policies disagree ({first.cause}): {next_step(first)}",
    )


# The resource each CNI policy kind is read as (kubectl get ...), namespaced or not.
_RESOURCES = {
    "CiliumNetworkPolicy": ("ciliumnetworkpolicies.cilium.io", True),
    "CiliumClusterwideNetworkPolicy": ("ciliumclusterwidenetworkpolicies.cilium.io", False),
    "CalicoNetworkPolicy": ("networkpolicies.projectcalico.org", True),
    "GlobalNetworkPolicy": ("globalnetworkpolicies.projectcalico.org", False),
    "StagedNetworkPolicy": ("stagednetworkpolicies.projectcalico.org", True),
    "StagedGlobalNetworkPolicy": ("stagedglobalnetworkpolicies.projectcalico.org", False),
    "AdminNetworkPolicy": ("adminnetworkpolicies.policy.networking.k8s.io", False),
    "BaselineAdminNetworkPolicy": ("baselineadminnetworkpolicies.policy.networking.k8s.io", False),
}


def next_step(item: Reconciled) -> str:
    """What to look at for a disagreement, with a command to paste (shell-quoted)."""
    if item.cause in ("explicit-deny", "cni-policy"):
        for policy in item.flow.policies:
            found = _RESOURCES.get(policy.kind)
            if found is None or not policy.name:
                continue
            resource, namespaced = found
            argv = ["kubectl", "get", resource]
            if namespaced and policy.namespace:
                argv += ["-n", policy.namespace]
            argv += [policy.name, "-o", "yaml"]
            return f"read the policy the CNI names: {shell_join(argv)}"
        return (
            "read the CNI's own policies (kubectl get ciliumnetworkpolicies -A, or Calico's "
            "globalnetworkpolicies): NetworkPolicy cannot see them"
        )
    advice = {
        "stale-snapshot": "reload the cluster (ctrl+r) or record it again, then re-check",
        "stale-capture": "capture flows again after the snapshot, or record a new snapshot",
        "host-network": "NetworkPolicy does not apply to node traffic: see the CNI's host policies",
        "ip-reused": "the address changed hands: capture again, or check the pod the IP "
        "belongs to now",
        "service-dnat": "ask about the backend pod and its targetPort, as policies see it",
        "not-policy": "not a policy problem: see the CNI agent's logs for the drop reason",
    }
    return advice.get(item.cause, "compare the snapshot with the cluster the log is from")
