"""Step 6, verdict: allowed or denied, by which policy and rule, with the least-privilege fix."""

from __future__ import annotations

from triage.checklist.checks.common import _result
from triage.checklist.fix import delta_text, fix_text, fix_verification
from triage.checklist.model import ChecklistContext, StepResult
from triage.policy import (
    Verdict,
)
from triage.policy.describe import misses_clause, near_miss_text, side_summary
from triage.policy.verify import admin_denied

# ---------------------------------------------------------------- 6 verdict


def check_verdict(ctx: ChecklistContext) -> StepResult:
    exp = ctx.explanation
    if exp.unknown is not None:
        # An end outside the loaded namespaces (-n): never a false DENIED.
        evidence = [f"warning: {w}" for w in exp.warnings if w.text != exp.unknown]
        return _result(
            "warn",
            exp.unknown,
            evidence,
            "start triage with -n for the other namespace too (or without -n) to judge both sides",
        )
    if exp.problem is not None:
        return _result("fail", f"denied before any policy: {exp.problem.text}")
    primary = exp.primary
    if primary is None:
        return _result("error", "the engine returned no verdict")
    evidence = [
        f"egress: {side_summary(primary.egress)}",
        f"ingress: {side_summary(primary.ingress)}",
    ]
    for side in (primary.egress, primary.ingress):
        if side.decision is not None:
            evidence.append(
                f"decided by {side.decision.policy} {side.direction.lower()} rule "
                f"#{side.decision.rule}"
            )
    if len(exp.verdicts) > 1:
        for v in exp.verdicts:
            evidence.append(f"backend {v.destination.name}: {'allowed' if v.allowed else 'denied'}")
    warnings = exp.all_warnings
    evidence.extend(f"warning: {w.text}" for w in warnings)
    if exp.allowed:
        return _result(
            "warn" if warnings else "pass", f"allowed: {_allowed_summary(primary)}", evidence
        )
    evidence.extend(f"nearest miss: {near_miss_text(m)}" for m in primary.nearest_misses)
    if primary.blocked_by is not None:
        evidence.append(f"blocked before policy: {primary.blocked_by.text}")
    denied_sides = [s for s in (primary.egress, primary.ingress) if not s.allowed]
    if denied_sides:
        where = " and ".join(f"{s.direction.lower()} at {s.endpoint}" for s in denied_sides)
        summary = f"denied by {where}"
        clause = misses_clause(primary)
        if clause:
            # Both sides deny: one miss each, as fixing one side alone does not open it.
            summary += f"; {clause}"
    else:
        blocked = primary.blocked_by.text if primary.blocked_by is not None else "?"
        summary = f"the policies allow it, but it cannot connect: {blocked}"
    verification = fix_verification(ctx.snapshot, exp)
    fix = fix_text(verification, str(exp.flow)) if verification is not None else ""
    details = {"fix_yaml": fix, "fix_delta": delta_text(verification)} if verification else {}
    if any(admin_denied(v) for v in exp.verdicts):
        hint = (
            "an Admin-tier Deny decides this flow before any NetworkPolicy: no NetworkPolicy "
            "can fix it (see the Tiers step)"
        )
    elif fix:
        hint = (
            "apply the least-privilege fix (kubectl apply -f fix.yaml) after review, or "
            "correct the near miss"
        )
    else:
        hint = "no policy can fix this; see the Ports and Flow steps"
    return _result("fail", summary, evidence, hint, details)


def _allowed_summary(verdict: Verdict) -> str:
    parts = []
    for side in (verdict.egress, verdict.ingress):
        verb = side.direction.lower()
        if side.decision is not None:
            parts.append(f"{verb} by {side.decision.policy} rule #{side.decision.rule}")
        elif not side.governed:
            parts.append(f"{verb}: {side.endpoint} is outside the cluster's pods")
        else:
            parts.append(f"{verb}: not isolated")
    return "; ".join(parts)
