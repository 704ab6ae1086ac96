"""The `tiers` step: what the admin tiers (ClusterNetworkPolicy, AdminNetworkPolicy,
BaselineAdminNetworkPolicy) decide for this flow, per side, before and after the
NetworkPolicies. An Admin Deny cannot be overridden by any NetworkPolicy: that is the
finding this step exists for."""

from __future__ import annotations

from triage.checklist.model import ChecklistContext, StepResult
from triage.model.admin import KUBECTL_RESOURCE, AdminKind
from triage.model.untrusted import shell_join
from triage.policy import SideTrace

_ALL = ",".join(KUBECTL_RESOURCE.values())


def _kubectl_for(ctx: ChecklistContext, key: str | None) -> str:
    if key is not None:
        for pol in ctx.snapshot.admin_policies:
            if pol.key == key:
                kind: AdminKind = pol.kind
                return shell_join(
                    ["kubectl", "get", KUBECTL_RESOURCE[kind], pol.name, "-o", "yaml"]
                )
    return shell_join(["kubectl", "get", _ALL, "-o", "wide"])


def check_tiers(ctx: ChecklistContext) -> StepResult:
    snapshot = ctx.snapshot
    if not snapshot.admin_policies:
        return StepResult(
            "",
            "skip",
            "no ClusterNetworkPolicy, AdminNetworkPolicy or BaselineAdminNetworkPolicy in the "
            "snapshot: only NetworkPolicies decide",
        )
    primary = ctx.explanation.primary
    if primary is None:
        return StepResult("", "skip", "no verdict to walk the tiers of (see the Flow step)")
    sides: list[SideTrace] = [primary.egress, primary.ingress]
    evidence: list[str] = []
    deciding: tuple[SideTrace, str, str | None] | None = None
    warn: str | None = None
    for side in sides:
        chain = side.tiers
        where = f"{side.direction.lower()} at {side.endpoint}"
        if chain is None:
            evidence.append(f"{where}: not a pod of the cluster; no tier applies")
            continue
        evidence.append(f"{where}: {chain.text}")
        for step in chain.steps:
            if step.nearest_miss is not None and not chain.allowed:
                evidence.append(f"  nearest miss in the {step.tier} tier: {step.nearest_miss.text}")
        last = chain.steps[-1]
        if not chain.allowed and chain.decided_by in ("Admin", "Baseline") and deciding is None:
            deciding = (side, chain.decided_by, last.policy)
        if chain.decided_by == "Default" and any(s.outcome == "Pass" for s in chain.steps):
            warn = warn or (
                f"{where}: a Pass hands this flow to tiers with nothing to say; it is allowed by "
                "default"
            )
    undecidable = [w.text for w in primary.warnings if w.code == "tier-undecidable-peer"]
    evidence.extend(f"warning: {w}" for w in undecidable)
    if deciding is not None:
        side, tier, key = deciding
        assert side.tiers is not None
        step = side.tiers.steps[-1]
        peer = f" (peer: {step.peer})" if step.peer else ""
        summary = (
            f"{tier} tier: {key} rule {step.rule} denies {side.direction.lower()} at "
            f"{side.endpoint}{peer}"
        )
        if tier == "Admin":
            hint = (
                "no NetworkPolicy can override an Admin-tier Deny: add an Accept (or a Pass "
                "to the namespace owners) above it at a lower priority value, or restore the "
                "previous admin policy (see What changed / rollback)"
            )
        else:
            hint = (
                "a Baseline-tier Deny applies only where no NetworkPolicy selects the pod: "
                "add a NetworkPolicy that allows this flow, or change the baseline"
            )
        return StepResult("", "fail", summary, tuple(evidence), hint, _kubectl_for(ctx, key))
    if undecidable:
        return StepResult(
            "",
            "warn",
            "a rule on the path uses domainNames or node labels, which a snapshot cannot decide",
            tuple(evidence),
            "check the rule against the live cluster (the verdict treats it as not matching)",
            _kubectl_for(ctx, None),
        )
    if warn is not None:
        return StepResult("", "warn", warn, tuple(evidence), "", _kubectl_for(ctx, None))
    decided = {s.tiers.decided_by for s in sides if s.tiers is not None}
    if primary.allowed:
        summary = "the tiers let this flow through (" + ", ".join(sorted(decided)) + ")"
    else:
        summary = "the tiers hand this flow to NetworkPolicy, which decides it (see Verdict)"
    return StepResult("", "pass", summary, tuple(evidence), "", _kubectl_for(ctx, None))
