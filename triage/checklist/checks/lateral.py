"""Lateral movement: default-deny coverage, the compromised pod's reach and its containment."""

from __future__ import annotations

from triage.checklist.checks.common import _result
from triage.checklist.fix import delta_text
from triage.checklist.model import ChecklistContext, Status, StepResult
from triage.model import (
    Direction,
    IPRef,
    Pod,
    PodRef,
    Snapshot,
)
from triage.policy.dns import dns_target
from triage.policy.exposure import External, Reach

# ---------------------------------------------------------------- lateral movement


def _source_pod(ctx: ChecklistContext) -> Pod | None:
    src = ctx.flow.source
    if isinstance(src, PodRef):
        return ctx.snapshot.pod(src.namespace, src.name)
    if isinstance(src, IPRef):
        return ctx.snapshot.pods_by_ip.get(src.ip)
    return None


def check_default_deny(ctx: ChecklistContext) -> StepResult:
    from triage.policy.exposure import namespace_default_denies

    pod = _source_pod(ctx)
    if pod is None:
        return _result("skip", f"{ctx.flow.source} is not a pod of this cluster")
    found = namespace_default_denies(ctx.snapshot, pod.namespace)
    evidence = [
        f"{d}: {', '.join(found[d]) if found[d] else 'none'}" for d in ("Ingress", "Egress")
    ]
    missing = [d.lower() for d in ("Ingress", "Egress") if not found[d]]
    if not missing:
        return _result(
            "pass",
            f"namespace {pod.namespace} has a default-deny for ingress and egress",
            evidence,
        )
    from triage.model.manifest import dump_yaml
    from triage.policy.generate import default_deny
    from triage.policy.verify import verify

    directions: list[Direction] = [d for d in ("Ingress", "Egress") if not found[d]]
    fix = default_deny(ctx.snapshot, pod.namespace, directions)
    verification = verify(ctx.snapshot, fix)
    evidence += [f"note: {n}" for n in verification.notes]
    closes = len(verification.closes)
    evidence.append(
        f"the default-deny closes {closes} pod-to-pod flow{'s' if closes != 1 else ''} "
        "allowed today (allow what each workload needs first)"
        + (
            "; it keeps DNS egress"
            if "Egress" in directions and not verification.dns_closed
            else ""
        )
    )
    return _result(
        "fail" if len(missing) == 2 else "warn",
        f"namespace {pod.namespace} has no default-deny for {' and '.join(missing)}",
        evidence,
        "add a policy with podSelector {} and policyTypes "
        f"[{', '.join(directions)}] and no rules but DNS egress (below)",
        {
            "fix_yaml": "---\n".join(dump_yaml(m) for m in fix.manifests()),
            "fix_delta": delta_text(verification),
        },
    )


def _reach_text(reach: Reach) -> str:
    declared = ", ".join(g.describe() for g in reach.ports)
    if reach.all_ports:
        ports = "all ports" + (f" (it declares {declared})" if declared else "")
    elif reach.undeclared:
        ports = declared + ("; " if declared else "") + reach.undeclared.describe()
    else:
        ports = declared
    n = len(reach.pods)
    return f"{reach.key} ({n} pod{'s' if n != 1 else ''}) on {ports or reach.allowed.describe()}"


def _only_dns(snapshot: Snapshot, reach: Reach) -> bool:
    from triage.policy.portset import PortSet

    target = dns_target(snapshot)
    if reach.namespace != target.namespace or not reach.allowed <= PortSet.parse("UDP 53; TCP 53"):
        return False
    pods = [snapshot.pod(reach.namespace, name) for name in reach.pods]
    return all(p is not None and target.matches(p) for p in pods)


def _external_text(external: External) -> str:
    rule = str(external.rule) if external.rule is not None else "not isolated"
    return f"{external.peer} on {external.ports.describe()} ({rule})"


def check_exposure(ctx: ChecklistContext) -> StepResult:
    from triage.policy.exposure import compute_exposure

    pod = _source_pod(ctx)
    if pod is None:
        return _result("skip", f"{ctx.flow.source} is not a pod of this cluster")
    exposure = compute_exposure(ctx.snapshot, pod)
    evidence = [f"reaches {_reach_text(r)}" for r in exposure.outbound]
    outside = [e for e in exposure.external if e.direction == "Egress"]
    evidence += [f"reaches outside the cluster: {_external_text(e)}" for e in outside]
    evidence += [f"reachable from {_reach_text(r)}" for r in exposure.inbound]
    evidence += [f"warning: {w}" for w in exposure.warnings]
    beyond_dns = [r for r in exposure.outbound if not _only_dns(ctx.snapshot, r)]
    n = exposure.reachable_pods
    summary = (
        f"{pod.key} can open connections to {n} pod{'s' if n != 1 else ''} in "
        f"{len(exposure.outbound)} workload{'s' if len(exposure.outbound) != 1 else ''}"
    )
    if outside:
        summary += " and to addresses outside the cluster"
    status: Status = "pass"
    if beyond_dns or outside:
        status = "fail"
    elif exposure.outbound:
        status = "warn"
        summary += " (cluster DNS only)"
    elif not exposure.inbound:
        summary = f"{pod.key} can reach nothing and nothing reaches it"
    return _result(status, summary, evidence, "see Containment for the policy that cuts it off")


def check_containment(ctx: ChecklistContext) -> StepResult:
    from triage.model.manifest import dump_yaml
    from triage.policy.exposure import contain

    pod = _source_pod(ctx)
    if pod is None:
        return _result("skip", f"{ctx.flow.source} is not a pod of this cluster")
    plan = contain(ctx.snapshot, pod, "pod")
    evidence = [f"{i}. {command}" for i, command in enumerate(plan.commands, 1)]
    evidence += [f"note: {n}" for n in plan.notes]
    residual = [f"reaches {_reach_text(r)}" for r in plan.residual]
    residual += [f"reachable from {_reach_text(r)}" for r in plan.residual_inbound]
    residual += [
        f"reaches outside the cluster: {_external_text(e)}"
        for e in plan.after.external
        if e.direction == "Egress" and (e.rule is None or e.rule.policy != plan.policy.key)
    ]
    evidence += [f"would remain: {r}" for r in residual]
    if plan.kept_open_by:
        evidence.append(f"kept open by: {', '.join(plan.kept_open_by)}")
    if not residual:
        status: Status = "pass"
        summary = f"quarantining {pod.key} cuts every path but DNS"
        hint = "apply the quarantine policy first, then relabel the pod"
    else:
        status = "warn"
        summary = (
            f"quarantining {pod.key} leaves {len(residual)} path(s) open: policies are "
            "additive, and " + (", ".join(plan.kept_open_by) or "other policies") + " still "
            "select it"
        )
        hint = "narrow the policies that keep paths open (their podSelector), then quarantine"
    return _result(
        status,
        summary,
        evidence,
        hint,
        {"fix_yaml": dump_yaml(plan.manifest), "residual": "\n".join(residual)},
    )
