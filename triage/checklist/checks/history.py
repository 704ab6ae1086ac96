"""What changed: the policies and labels since the known-good set (step 8), the flows that
regressed and the rollback that would restore them (the failed-rollout runbook)."""

from __future__ import annotations

from triage.checklist.changes import ADMIN_CHANGES, changes_between, flow_change
from triage.checklist.checks.common import _result
from triage.checklist.model import ChecklistContext, StepResult

# ---------------------------------------------------------------- 8 what changed


def check_changes(ctx: ChecklistContext) -> StepResult:
    known_good = ctx.effective_known_good
    if known_good is None:
        return _result("skip", "no known-good policy set to compare with")
    snapshot = ctx.snapshot
    everything = changes_between(snapshot, known_good)
    fc = flow_change(snapshot, known_good, ctx.flow)
    label = f"known-good {known_good.name}" + (
        f" ({known_good.captured_at})" if known_good.captured_at else ""
    )
    verdicts = (
        f"{'allowed' if fc.allowed_then else 'denied'} with {label}, "
        f"{'allowed' if fc.allowed_now else 'denied'} now"
    )
    evidence = [verdicts]
    shown = fc.flipping or fc.relevant
    evidence.extend(f"{'flipped it: ' if c in fc.flipping else ''}{c.summary}" for c in fc.relevant)
    others = [c for c in everything if c not in fc.relevant]
    if others:
        evidence.append(f"{len(others)} other change(s) elsewhere do not touch this flow:")
        evidence.extend(f"  {c.summary}" for c in others[:20])
    details = {"diff": "".join(c.diff for c in shown)} if shown else {}
    if fc.regressed:
        if fc.flipping:
            what = "; ".join(c.summary for c in fc.flipping)
        elif fc.jointly:
            what = "these changes together: " + "; ".join(c.summary for c in fc.relevant)
        else:
            what = "no single change explains it"
        return _result(
            "fail",
            f"regressed: {verdicts}; {what}",
            evidence,
            f"roll back to {known_good.name} (see the rollback), or re-apply the change "
            "without what closed this flow",
            details,
        )
    if not fc.allowed_then and not fc.allowed_now:
        return _result(
            "warn",
            f"not a regression: already denied with {label}",
            evidence,
            "the cause is older than the known-good set: follow the Verdict step's fix",
            details,
        )
    if fc.allowed_now and not fc.allowed_then:
        return _result(
            "pass", f"allowed now, denied with {label}: fixed since", evidence, details=details
        )
    return _result(
        "pass",
        f"allowed with {label} and now"
        + (f"; {len(everything)} change(s) since, none closes this flow" if everything else ""),
        evidence,
        details=details,
    )


# ---------------------------------------------------------------- failed rollout


def check_regressions(ctx: ChecklistContext) -> StepResult:
    from triage.checklist.candidates import regressed_flows

    known_good = ctx.effective_known_good
    if known_good is None:
        return _result("skip", "no known-good policy set to compare with")
    found = regressed_flows(ctx.snapshot, known_good)
    if not found:
        return _result(
            "pass",
            f"no flow between workloads regressed since known-good {known_good.name}",
        )
    evidence = [f"{c.flow}: {c.reason}" for c in found]
    n = len(found)
    return _result(
        "fail",
        f"{n} flow{'s' if n != 1 else ''} allowed with known-good {known_good.name} "
        f"{'are' if n != 1 else 'is'} denied now",
        evidence,
        "roll back to the known-good set, or fix the changes listed in What changed",
    )


def check_rollback(ctx: ChecklistContext) -> StepResult:
    known_good = ctx.effective_known_good
    if known_good is None:
        return _result("skip", "no known-good policy set to roll back to")
    everything = changes_between(ctx.snapshot, known_good)
    changes = [c for c in everything if c.kind.startswith("policy-")]
    admin = [c for c in everything if c.kind in ADMIN_CHANGES]
    labels = [c for c in everything if c not in changes and c not in admin]
    if not changes and not labels and not admin:
        return _result(
            "pass",
            f"the policies and labels match known-good {known_good.name}: nothing to roll back",
        )
    evidence = [c.summary for c in changes]
    if admin:
        evidence.append(
            f"{len(admin)} cluster-scoped admin policy change(s) are not rolled back by "
            "restoring NetworkPolicies; restore them from the diff with kubectl apply:"
        )
        evidence.extend(f"  {c.summary}" for c in admin)
    if labels:
        evidence.append(f"{len(labels)} label change(s) are not rolled back by restoring policies:")
        evidence.extend(f"  {c.summary}" for c in labels)
    return _result(
        "warn",
        f"roll back {len(changes)} policy change(s) to known-good {known_good.name}: open the "
        "rollback to stage, dry-run, apply and verify",
        evidence,
        "the rollback asks for a confirmation that names the context; nothing is applied "
        "from the checklist",
        {"diff": "".join(c.diff for c in (*changes, *admin))},
    )
