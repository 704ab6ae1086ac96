"""Step 2, DNS: may the source reach the cluster DNS (egress to its pods on 53 UDP and TCP),
and does a live lookup answer?"""

from __future__ import annotations

from typing import Any

from triage.checklist.checks.common import _ran, _result
from triage.checklist.checks.probe import _first_line, _outcome_text, _probe_evidence
from triage.checklist.model import ChecklistContext, Status, StepResult
from triage.model import (
    Flow,
    PodRef,
    ServiceRef,
)
from triage.policy import (
    explain,
    selecting_policies,
)
from triage.policy.describe import near_miss_text, side_summary
from triage.policy.dns import dns_pods

# ---------------------------------------------------------------- 2 dns


def _dns_name(ctx: ChecklistContext) -> tuple[str, str | None]:
    """The name to look up and the address it should resolve to."""
    dst = ctx.flow.destination
    if isinstance(dst, ServiceRef):
        service = ctx.snapshot.service(dst.namespace, dst.name)
        ip = service.cluster_ip if service is not None else None
        return f"{dst.name}.{dst.namespace}.svc.cluster.local", ip if ip != "None" else None
    kubernetes = ctx.snapshot.service("default", "kubernetes")
    return "kubernetes.default.svc.cluster.local", kubernetes.cluster_ip if kubernetes else None


def _static_dns(ctx: ChecklistContext, source: PodRef) -> tuple[Status, str, list[str], str]:
    snapshot = ctx.snapshot
    pod = snapshot.pod(source.namespace, source.name)
    if pod is None:
        if not snapshot.in_scope(source.namespace):
            return "skip", f"source {source}: namespace {source.namespace} not loaded (-n)", [], ""
        return "fail", f"source {source} is not in the snapshot", [], ""
    servers = dns_pods(snapshot)
    if not servers:
        return (
            "warn",
            "no DNS pods (k8s-app=kube-dns or coredns) in the snapshot: cannot check DNS egress",
            [],
            "load kube-system too, or check DNS by hand",
        )
    evidence: list[str] = []
    server = servers[0]
    results: dict[str, bool] = {}
    for proto in ("UDP", "TCP"):
        verdict = explain(snapshot, Flow(source, PodRef(server.namespace, server.name), 53, proto))
        results[proto] = verdict.allowed
        primary = verdict.primary
        mark = "✓" if verdict.allowed else "✗"
        evidence.append(f"{mark} {proto} 53 to {server.key}")
        if primary is not None:
            for side in (primary.egress, primary.ingress):
                if not side.allowed or side.decision is not None:
                    evidence.append(f"  {side_summary(side)}")
            if primary.nearest_miss is not None and not verdict.allowed:
                evidence.append(f"  nearest miss: {near_miss_text(primary.nearest_miss)}")
    egress_isolated = bool(selecting_policies(snapshot, pod, "Egress"))
    if not egress_isolated:
        evidence.insert(0, f"{pod.key} is not isolated for egress: all egress is allowed")
    if results["UDP"] and results["TCP"]:
        return "pass", f"policies allow UDP and TCP 53 from {source} to {server.key}", evidence, ""
    if results["UDP"]:
        return (
            "warn",
            f"policies allow UDP 53 but not TCP 53 from {source} to {server.key}: large "
            "answers (truncated, retried over TCP) will fail",
            evidence,
            "add TCP 53 next to UDP 53 in the DNS egress rule",
        )
    which = "UDP and TCP 53" if not results["TCP"] else "UDP 53"
    return (
        "fail",
        f"policies deny {which} from {source} to {server.key}: name lookups time out",
        evidence,
        "allow egress to namespaceSelector kubernetes.io/metadata.name=kube-system AND "
        "podSelector k8s-app=kube-dns on UDP and TCP 53",
    )


def check_dns(ctx: ChecklistContext) -> StepResult:
    source = ctx.flow.source
    if not isinstance(source, PodRef):
        return _result("skip", f"source {source} is not a pod: its DNS is not the cluster's")
    static_status, static_summary, evidence, hint = _static_dns(ctx, source)
    name, expected = _dns_name(ctx)
    if ctx.prober is None:
        evidence.append("probe: none (static analysis only)")
        return _result(static_status, static_summary, evidence, hint)
    probe = ctx.prober.dns(source, name, ctx.probe_timeout)

    def probed(*args: Any, **kwargs: Any) -> StepResult:
        return _ran(_result(*args, **kwargs), source, probe)

    evidence.extend(_probe_evidence(probe))
    details = {"probe_output": probe.output} if probe.output else {}
    if probe.outcome == "not-recorded":
        return probed(static_status, static_summary, evidence, hint, details)
    if probe.outcome == "error":
        return probed(
            "error",
            f"the DNS probe failed: {_first_line(probe.output) or probe.note}; static check: "
            f"{static_summary}",
            evidence,
            hint,
            details,
        )
    if probe.outcome == "success":
        got = ", ".join(probe.addresses) or "?"
        if expected and expected not in probe.addresses:
            return probed(
                "warn",
                f"{name} resolves to {got}, but the Service's ClusterIP is {expected}",
                evidence,
                "a stale answer, another Service of that name through the search path, or a "
                "recording older than the Service",
                details,
            )
        if static_status == "fail":
            return probed(
                "warn",
                f"{name} resolved to {got} although the policies deny DNS: {static_summary}",
                evidence,
                "the lookup did not go through policy: a node-local DNS cache (169.254.20.10),"
                " a hostNetwork pod, or a CNI that does not enforce NetworkPolicy",
                details,
            )
        return probed(
            "pass",
            f"{name} resolves to {got}" + (" (the Service's ClusterIP)" if expected else ""),
            evidence,
            "",
            details,
        )
    if probe.outcome == "nxdomain":
        return probed(
            "fail",
            f"{name} does not exist (NXDOMAIN): DNS answered, the name is wrong or the Service "
            "is missing",
            evidence,
            "check the Service name and namespace the client uses",
            details,
        )
    confirmed = static_status == "fail"
    return probed(
        "fail",
        f"DNS lookup of {name} {_outcome_text(probe.outcome)}"
        + (f", as the policies predict: {static_summary}" if confirmed else ""),
        evidence,
        hint
        if confirmed
        else "policies allow DNS: check the DNS pods themselves, or another policy engine",
        details,
    )
