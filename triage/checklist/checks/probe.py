"""Step 7, probe: run (or read the recorded) connect probe and compare it with the verdict."""

from __future__ import annotations

from typing import Any

from triage.checklist.checks.common import _pod_of, _ran, _result
from triage.checklist.model import ChecklistContext, StepResult
from triage.model import (
    PodRef,
    ServiceRef,
)
from triage.probes.base import ProbeResult

# ---------------------------------------------------------------- 7 probe


def _probe_evidence(probe: ProbeResult) -> list[str]:
    out = [
        f"probe ({probe.via}): {probe.outcome}"
        + (f" in {probe.duration_ms} ms" if probe.duration_ms else "")
    ]
    if probe.command:
        out.append(f"ran: {probe.command_line}")
    if probe.note:
        out.append(f"note: {probe.note}")
    out.extend(f"| {line}" for line in probe.output.strip().splitlines()[:12])
    return out


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _outcome_text(outcome: str) -> str:
    return {
        "timeout": "timed out",
        "refused": "was refused",
        "nxdomain": "found no such name",
        "error": "failed",
        "success": "succeeded",
    }.get(outcome, outcome)


def _probe_target(ctx: ChecklistContext) -> tuple[str, int] | str:
    """(ip, port) to connect to, or why there is none."""
    exp = ctx.explanation
    dst = ctx.flow.destination
    if isinstance(dst, ServiceRef) and exp.service is not None:
        service = ctx.snapshot.service(dst.namespace, dst.name)
        if service is not None and service.cluster_ip and service.cluster_ip != "None":
            return service.cluster_ip, exp.service.port
    primary = exp.primary
    if primary is None:
        return "no destination to probe (see the Flow step)"
    ip = primary.destination.ip
    if ip is None:
        return f"{primary.destination.name} has no IP address"
    if primary.port is None:
        return (
            f"the port {ctx.flow.port} does not resolve to a number on {primary.destination.name}"
        )
    return ip, primary.port


def _mismatch_causes(ctx: ChecklistContext, predicted_allowed: bool) -> list[str]:
    causes = []
    primary = ctx.explanation.primary
    for pod_name in [primary.source.name, primary.destination.name] if primary is not None else []:
        pod = _pod_of(ctx.snapshot, pod_name)
        if pod is not None and pod.host_network:
            causes.append(f"{pod.key} uses hostNetwork: most CNIs do not apply NetworkPolicy to it")
    causes.extend(f"another policy engine: {e}" for e in ctx.snapshot.policy_engines)
    if predicted_allowed:
        causes.append(
            "something outside NetworkPolicy drops it: another policy engine's rules "
            "(AdminNetworkPolicy, Calico GlobalNetworkPolicy, CiliumNetworkPolicy), a node "
            "firewall, or the destination not listening/ready"
        )
    else:
        causes.append(
            "the CNI does not enforce NetworkPolicy (e.g. flannel alone), or enforces it "
            "differently (policies applied after the connection was established)"
        )
    return causes


def check_probe(ctx: ChecklistContext) -> StepResult:
    source = ctx.flow.source
    if not isinstance(source, PodRef):
        return _result("skip", f"source {source} is not a pod: there is nowhere to probe from")
    if ctx.prober is None:
        return _result(
            "skip", "no prober: static analysis only (connect to a live cluster to probe)"
        )
    if ctx.flow.protocol == "SCTP":
        return _result("skip", "probes test TCP and UDP only")
    exp = ctx.explanation
    target = _probe_target(ctx)
    if isinstance(target, str):
        return _result("skip", target)
    ip, port = target
    if exp.unknown is not None:
        return _result("skip", f"no prediction to test: {exp.unknown}")
    predicted = exp.allowed
    prediction = "allowed" if predicted else "denied"
    primary = exp.primary
    no_listener = (
        not predicted
        and primary is not None
        and primary.blocked_by is not None
        and primary.egress.allowed
        and primary.ingress.allowed
    )
    if no_listener:
        prediction = "refused or dropped: no backend takes this port"
    probe = ctx.prober.connect(source, ip, port, ctx.flow.protocol, ctx.probe_timeout)

    def probed(*args: Any, **kwargs: Any) -> StepResult:
        return _ran(_result(*args, **kwargs), source, probe)

    evidence = [f"prediction: {prediction}", f"target: {ip}:{port}/{ctx.flow.protocol}"]
    evidence.extend(_probe_evidence(probe))
    details = {"probe_output": probe.output} if probe.output else {}
    if probe.outcome == "not-recorded":
        return probed(
            "skip",
            f"not recorded: the recording has no connect probe from {source} to {ip}:{port}; "
            f"the policies predict {prediction}",
            evidence,
            details=details,
        )
    if probe.outcome == "error":
        return probed(
            "error",
            f"the probe could not run: {_first_line(probe.output) or probe.note or 'no output'}",
            evidence,
            "check that the source pod is running and that exec (or ephemeral containers) is "
            "allowed for you",
            details,
        )
    if probe.outcome == "success":
        if predicted:
            return probed(
                "pass", f"connected to {ip}:{port}, as predicted", evidence, details=details
            )
        causes = _mismatch_causes(ctx, False)
        evidence.extend(f"possible cause: {c}" for c in causes)
        return probed(
            "warn",
            f"connected to {ip}:{port}, but the policies deny it: prediction and observation "
            "disagree",
            evidence,
            causes[0],
            details,
        )
    if probe.outcome == "refused" and no_listener:
        return probed(
            "pass",
            f"connection to {ip}:{port} refused, as predicted: the policies allow it, but "
            "the Service forwards to a port no backend has",
            evidence,
            "fix the Service's targetPort (see the Ports step)",
            details,
        )
    if probe.outcome == "refused":
        if predicted:
            return probed(
                "fail",
                f"connection to {ip}:{port} refused: policy allows it, but nothing listens on "
                "that port (or the backend is not ready)",
                evidence,
                "check the container's listening port and the Service's targetPort",
                details,
            )
        return probed(
            "pass",
            f"connection to {ip}:{port} refused, as predicted denied (this CNI rejects "
            "instead of dropping)",
            evidence,
            "see the Verdict step for the fix",
            details,
        )
    # timeout
    if not predicted:
        return probed(
            "pass",
            f"connection to {ip}:{port} timed out, as predicted: a NetworkPolicy drop",
            evidence,
            "see the Verdict step for the fix",
            details,
        )
    causes = _mismatch_causes(ctx, True)
    evidence.extend(f"possible cause: {c}" for c in causes)
    return probed(
        "fail",
        f"connection to {ip}:{port} timed out although the policies allow it: prediction and "
        "observation disagree",
        evidence,
        causes[0],
        details,
    )
