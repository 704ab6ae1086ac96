"""Step 1, flow: does the flow resolve (pods, Service, backends, ports) and what does it mean?"""

from __future__ import annotations

from triage.checklist.checks.common import _result
from triage.checklist.hints import format_labels
from triage.checklist.model import ChecklistContext, Status, StepResult
from triage.model import (
    PodRef,
    ServiceRef,
)
from triage.policy import (
    UnknownEndpoint,
)

# ---------------------------------------------------------------- 1 flow


def check_flow(ctx: ChecklistContext) -> StepResult:
    flow = ctx.flow
    snapshot = ctx.snapshot
    try:
        exp = ctx.explanation
    except UnknownEndpoint as exc:
        return _result("fail", str(exc), [f"flow: {flow}"], "pick a pod or Service that exists")
    evidence: list[str] = []
    if isinstance(flow.source, PodRef):
        pod = snapshot.pod(flow.source.namespace, flow.source.name)
        if pod is not None:
            evidence.append(
                f"source: pod {pod.key} (namespace {pod.namespace}, IP "
                f"{', '.join(pod.ips) or 'none'}, labels {format_labels(pod.labels)})"
            )
    else:
        evidence.append(f"source: {flow.source} (not a pod of this cluster)")
    status: Status = "pass"
    dst = flow.destination
    if isinstance(dst, ServiceRef):
        service = snapshot.service(dst.namespace, dst.name)
        cluster_ip = service.cluster_ip if service is not None else None
        res = exp.service
        if res is not None:
            evidence.append(
                f"destination: Service {res.service} (ClusterIP {cluster_ip or 'none'}), port "
                f"{res.port}/{res.protocol} → targetPort {res.target_port}"
            )
        else:
            evidence.append(f"destination: Service {dst} (ClusterIP {cluster_ip or 'none'})")
    elif isinstance(dst, PodRef):
        evidence.append(f"destination: pod {dst}")
    else:
        pod = snapshot.pods_by_ip.get(dst.ip)
        where = f"pod {pod.key}" if pod is not None else "not a pod of this cluster"
        evidence.append(f"destination: {dst.ip} ({where})")
    if exp.problem is not None:
        return _result(
            "fail",
            exp.problem.text,
            evidence,
            "the flow never reaches a pod, so no policy is involved yet; fix the Service first",
        )
    reachable = 0
    for v in exp.verdicts:
        if v.destination.kind != "pod":
            continue
        port = f"{v.port_name + ' = ' if v.port_name else ''}{v.port}/{v.protocol}"
        if v.blocked_by is not None:
            evidence.append(f"backend {v.destination.name}: {v.blocked_by.text}")
        else:
            reachable += 1
            evidence.append(
                f"backend {v.destination.name} (IP {v.destination.ip or 'none'}): port {port}"
            )
    warnings = exp.all_warnings
    evidence.extend(f"warning: {w.text}" for w in warnings)
    src_ns = flow.source.namespace if isinstance(flow.source, PodRef) else "-"
    dst_ns = exp.verdicts[0].destination.namespace if exp.verdicts else None
    evidence.append(f"namespaces: {src_ns} → {dst_ns or '-'}")
    primary = exp.primary
    if isinstance(dst, ServiceRef) and exp.service is not None:
        n = len(exp.service.backends)
        target = f"{primary.port}/{primary.protocol}" if primary and primary.port else "?"
        summary = (
            f"{flow.source} → Service {exp.service.service} port {exp.service.port}/"
            f"{exp.service.protocol} → {n} backend{'s' if n != 1 else ''} on {target}"
        )
    else:
        seen_port = primary.port if primary is not None and primary.port is not None else flow.port
        summary = f"{flow.source} → {dst}: port {seen_port}/{flow.protocol}"
    hint = ""
    blocked = [v for v in exp.verdicts if v.blocked_by is not None]
    if blocked and reachable == 0:
        status = "fail"
        summary = blocked[0].blocked_by.text if blocked[0].blocked_by else summary
        hint = "no backend can take this port; see the Ports step"
    elif blocked or warnings:
        status = "warn"
        hint = "read the warnings: the verdict below assumes the pods are running normally"
    return _result(status, summary, evidence, hint)
