"""The checks a runbook's steps name (`CHECKS`); `triage.checklist.run` runs them.

Each check reads the context (snapshot, flow, explanation, prober, known-good set) and
returns one StepResult. Static checks are pure; `dns` and `probe` also ask the prober.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from triage.checklist.changes import ADMIN_CHANGES, changes_between, flow_change
from triage.checklist.fix import admin_denied, delta_text, fix_text, fix_verification
from triage.checklist.hints import LABEL_CODES, format_labels, with_hint
from triage.checklist.model import ChecklistContext, Status, StepResult
from triage.checklist.rollout_step import check_rollout
from triage.checklist.tiers_step import check_tiers
from triage.model import (
    NAMESPACE_NAME_LABEL,
    Direction,
    Flow,
    IPRef,
    LabelSelector,
    Pod,
    PodRef,
    ServiceRef,
    Snapshot,
)
from triage.model.untrusted import shell_join
from triage.policy import (
    PolicyTrace,
    Reason,
    RuleTrace,
    SideTrace,
    UnknownEndpoint,
    Verdict,
    explain,
    selecting_policies,
    selector_failures,
)
from triage.policy.describe import misses_clause, near_miss_text, side_summary
from triage.policy.dns import dns_pods, dns_target
from triage.policy.exposure import External, Reach
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


# ---------------------------------------------------------------- 3 labels


def _unselected_allowing_policies(
    ctx: ChecklistContext, verdict: Verdict, side: _Side
) -> list[tuple[str, tuple[Reason, ...]]]:
    """Policies of the subject's namespace (for this direction) that do not select the
    subject but whose rules would allow the flow if they did: a label near miss on
    `spec.podSelector`."""
    snapshot = ctx.snapshot
    end = verdict.source if side.subject == "source" else verdict.destination
    pod = _pod_of(snapshot, end.name)
    if pod is None:
        return []
    direction = side.trace.direction
    out = []
    for pol in snapshot.policies_by_namespace.get(pod.namespace, ()):
        if direction not in pol.policy_types:
            continue
        reasons = selector_failures(pol.pod_selector, pod.labels, side.subject)
        if not reasons:
            continue
        # Would it allow the flow if it selected the pod? Ask the engine with this policy
        # alone, selecting everything.
        probe = dataclasses.replace(
            pol, pod_selector=LabelSelector(), policy_types=(direction,), manifest={}
        )
        try:
            trial = explain(snapshot.with_policies((probe,)), ctx.flow)
        except UnknownEndpoint:
            continue
        trial_verdicts = [v for v in trial.verdicts if v.destination.name == end.name] or list(
            trial.verdicts
        )
        if not trial_verdicts:
            continue
        trial_side = (
            trial_verdicts[0].egress if direction == "Egress" else trial_verdicts[0].ingress
        )
        if trial_side.allowed:
            out.append((pol.key, reasons))
    return out


def check_labels(ctx: ChecklistContext) -> StepResult:
    primary = _primary(ctx)
    if primary is None:
        return _result("skip", "no pod to compare labels with (see the Flow step)")
    snapshot = ctx.snapshot
    evidence: list[str] = []
    for role in ("source", "destination"):
        end = primary.source if role == "source" else primary.destination
        if end.kind == "pod":
            evidence.append(
                f"{role} {end.name}: {format_labels(_endpoint_labels(snapshot, primary, role))}"
            )
    # Advice only where a label change is the verdict's nearest miss: a label that misses
    # some other rule (or another workload's policy) is evidence, never "relabel the pod".
    nearest = primary.nearest_miss
    # One nearest miss per denying side: label advice for any of them.
    nearest_rules = {(m.policy, m.direction, m.rule) for m in primary.nearest_misses}
    strong: list[str] = []  # the nearest miss lacks only labels: fixing them admits the flow
    weak: list[str] = []  # the nearest miss lacks labels and something else
    for side in _sides(primary):
        trace = side.trace
        if not trace.isolated:
            continue
        for pol in trace.policies:
            evidence.append(
                f"✓ {pol.key} podSelector {pol.pod_selector} selects the {side.subject}"
            )
            other_labels = _endpoint_labels(snapshot, primary, side.other)
            for rule in _relevant_rules(pol):
                where = _rule_name(pol, side.verb, rule)
                if not rule.peers:
                    evidence.append(
                        f"✓ {where}: no {'to' if side.verb == 'egress' else 'from'}"
                        " list, every peer matches"
                    )
                is_nearest = (pol.key, trace.direction, rule.index) in nearest_rules
                for peer in rule.peers:
                    if peer.matched:
                        evidence.append(f"✓ {where} peer #{peer.index} {peer.description}")
                        continue
                    labels = [r for r in peer.reasons if _is_label_reason(r)]
                    others = [r for r in peer.reasons if not _is_label_reason(r)]
                    if not labels:
                        continue
                    texts = [with_hint(r, other_labels) if is_nearest else r.text for r in labels]
                    evidence.append(
                        f"✗ {where} peer #{peer.index} {peer.description}: {'; '.join(texts)}"
                    )
                    if trace.allowed or not is_nearest:
                        continue
                    if others:
                        weak.append(f"{'; '.join(texts)} ({where}, also: {others[0].text})")
                    else:
                        strong.append(f"{'; '.join(texts)} ({where})")
        if not trace.allowed:
            for key, reasons in _unselected_allowing_policies(ctx, primary, side):
                line = f"{key} would allow this flow but does not select the {side.subject}"
                if nearest is None:
                    # No selecting rule comes close: this label is the nearest miss.
                    subject_labels = _endpoint_labels(snapshot, primary, side.subject)
                    why = "; ".join(with_hint(r, subject_labels) for r in reasons)
                    evidence.append(f"✗ {line}: {why}")
                    strong.append(f"{line}: {why}")
                else:
                    # The verdict names a nearer miss: relabelling this pod as the workload
                    # another policy selects is not the fix to propose; shown for the record.
                    why = "; ".join(r.text for r in reasons)
                    evidence.append(f"· {line}: {why}")
    if strong:
        return _result(
            "fail",
            strong[0],
            evidence,
            "fix the label on the pod (its Deployment template), or add the value to the "
            "selector if the pod is meant to be admitted; see the Verdict step for a policy "
            "that admits exactly this flow",
        )
    if weak:
        return _result(
            "warn",
            f"labels miss a selector, but not only labels: {weak[0]}",
            evidence,
            "see the Namespaces and Ports steps",
        )
    if primary.allowed:
        summary = "labels match every selector that decides this flow"
    elif nearest is not None:
        summary = (
            f"labels are not the nearest miss; the verdict names the {misses_clause(primary)} "
            "(see the Verdict step)"
        )
    else:
        summary = (
            "labels are not what blocks this flow: no rule for this port misses on labels alone"
        )
    return _result("pass", summary, evidence)


# ---------------------------------------------------------------- 4 namespaces


def check_namespaces(ctx: ChecklistContext) -> StepResult:
    primary = _primary(ctx)
    if primary is None:
        return _result("skip", "no pod to compare namespaces with (see the Flow step)")
    snapshot = ctx.snapshot
    evidence: list[str] = []
    pitfalls: list[str] = []
    names = [e.namespace for e in (primary.source, primary.destination) if e.namespace]
    for name in dict.fromkeys(names):
        ns = snapshot.namespace_by_name.get(name)
        labels = ns.labels if ns is not None else {}
        note = " (not in the input: assumed)" if ns is not None and ns.synthesized else ""
        evidence.append(f"namespace {name}: {format_labels(labels)}{note}")
        if labels.get(NAMESPACE_NAME_LABEL) != name:
            pitfalls.append(
                f"namespace {name} has no {NAMESPACE_NAME_LABEL}={name} label: Kubernetes sets "
                "it from 1.21 on, so a namespaceSelector on it never matches this namespace "
                "(an older cluster, or a hand-made recording)"
            )
    strong: list[tuple[Reason, str]] = []  # (the namespace miss, the rule it is in)
    for side in _sides(primary):
        trace = side.trace
        if not trace.isolated:
            continue
        other = primary.source if side.other == "source" else primary.destination
        for pol in trace.policies:
            for rule in _relevant_rules(pol):
                where = _rule_name(pol, side.verb, rule)
                for peer in rule.peers:
                    if peer.ip_block:
                        continue
                    ns_reasons = [r for r in peer.reasons if _is_namespace_reason(r)]
                    rest = [r for r in peer.reasons if not _is_namespace_reason(r)]
                    if peer.namespace_selector:
                        mark = "✗" if ns_reasons else "✓"
                        text = "; ".join(r.text for r in ns_reasons) or (
                            f"namespace {other.namespace} matches"
                        )
                        evidence.append(
                            f"{mark} {where} peer #{peer.index} {peer.description}: {text}"
                        )
                    elif ns_reasons:
                        evidence.append(
                            f"✗ {where} peer #{peer.index} {peer.description}: {ns_reasons[0].text}"
                        )
                    if not ns_reasons or rest or trace.allowed:
                        continue
                    cross = other.namespace != pol.namespace
                    if (
                        any(r.code == "namespace-name-label-missing" for r in ns_reasons)
                        or peer.pod_selector
                        or cross
                    ):
                        strong.append((ns_reasons[0], where))
    hint = ""
    codes = {reason.code for reason, _ in strong}
    if "namespace-not-own" in codes:
        hint = (
            "add a namespaceSelector (kubernetes.io/metadata.name: <the peer's namespace>) to "
            "the SAME peer entry as the podSelector; as a separate entry it would admit every "
            "pod of that namespace"
        )
    elif codes == {"wrong-namespace"}:
        hint = (
            "name the peer's namespace in the namespaceSelector (kubernetes.io/metadata.name "
            "is set by the API server to the namespace's name and cannot be relabeled)"
        )
    elif strong:
        hint = "label the namespace, or change the namespaceSelector to a label it has"
    if strong:
        first = f"{strong[0][0].text} ({strong[0][1]})"
        return _result("fail", first, evidence + [f"pitfall: {p}" for p in pitfalls], hint)
    if pitfalls:
        return _result(
            "warn",
            pitfalls[0],
            evidence,
            f"kubectl label namespace <name> {NAMESPACE_NAME_LABEL}=<name>",
        )
    summary = (
        "namespace labels match every namespaceSelector that decides this flow"
        if primary.allowed
        else "namespaces are not what blocks this flow"
    )
    return _result("pass", summary, evidence)


# ---------------------------------------------------------------- 5 ports


def _container_ports(pod: Pod) -> str:
    ports = [f"{cp.name + ' ' if cp.name else ''}{cp.port}/{cp.protocol}" for cp in pod.ports]
    return ", ".join(ports) or "none declared"


def check_ports(ctx: ChecklistContext) -> StepResult:
    exp = ctx.explanation
    snapshot = ctx.snapshot
    flow = ctx.flow
    evidence = [f"flow: port {flow.port}/{flow.protocol}"]
    if exp.service is not None:
        res = exp.service
        evidence.append(
            f"Service {res.service}: port {res.port}/{res.protocol} → targetPort {res.target_port}"
        )
    if exp.problem is not None:
        if exp.problem.code in ("service-port", "named-port-unresolved"):
            return _result("fail", exp.problem.text, evidence, "use a port the Service exposes")
        return _result("skip", f"no backend to check ports on: {exp.problem.text}", evidence)
    failures: list[str] = []
    warnings: list[str] = []
    for v in exp.verdicts:
        pod = _pod_of(snapshot, v.destination.name)
        if pod is not None:
            evidence.append(
                f"{pod.key}: container ports {_container_ports(pod)}; the flow arrives on "
                f"{v.port if v.port is not None else '?'}/{v.protocol}"
            )
            declared = any(cp.port == v.port and cp.protocol == v.protocol for cp in pod.ports)
            if v.port is not None and not declared and v.blocked_by is None:
                warnings.append(
                    f"{pod.key} declares no container port {v.port}/{v.protocol}: if nothing "
                    "listens there the connection is refused whatever the policies say"
                )
        if v.blocked_by is not None:
            failures.append(v.blocked_by.text)
    for w in exp.warnings:
        if w.code == "service-not-backend":
            # Pods the Service selects but does not forward this port to (a named targetPort
            # they do not declare, not ready): the verdict leaves them out.
            evidence.append(w.text)
            warnings.append(w.text)
    primary = exp.primary
    if primary is not None:
        for side in _sides(primary):
            if not side.trace.isolated:
                continue
            for pol in side.trace.policies:
                for rule in pol.rules:
                    if not rule.peer_matched:
                        continue
                    where = _rule_name(pol, side.verb, rule)
                    if not rule.ports:
                        evidence.append(f"✓ {where}: no ports list, every port")
                    for port in rule.ports:
                        mark = "✓" if port.matched else "✗"
                        why = f": {port.reason.text}" if port.reason is not None else ""
                        evidence.append(
                            f"{mark} {where} port #{port.index} {port.description}{why}"
                        )
                    if not rule.port_matched and not side.trace.allowed:
                        missing = [r for r in rule.failures if r.code in _PORT_CODES]
                        if missing:
                            failures.append(
                                f"{where} admits the {side.other} but not the port: "
                                f"{missing[0].text}"
                            )
    if failures:
        return _result(
            "fail",
            failures[0],
            evidence,
            "policies see the pod's port after the Service's DNAT: allow the targetPort "
            "(number or the container port's name), with the right protocol",
        )
    if warnings:
        return _result("warn", warnings[0], evidence)
    if primary is not None and primary.port is not None:
        summary = (
            f"port {flow.port}/{flow.protocol} reaches the pod as {primary.port}/{primary.protocol}"
        )
        if primary.port_name:
            summary += f" ({primary.port_name})"
        summary += "; no rule that admits the peer refuses the port"
    else:
        summary = "no port problem found"
    return _result("pass", summary, evidence)


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


# ---------------------------------------------------------------- running

CHECKS: Mapping[str, Check] = {
    "flow": check_flow,
    "dns": check_dns,
    "labels": check_labels,
    "namespaces": check_namespaces,
    "tiers": check_tiers,
    "ports": check_ports,
    "verdict": check_verdict,
    "probe": check_probe,
    "changes": check_changes,
    "regressions": check_regressions,
    "rollback": check_rollback,
    "default-deny": check_default_deny,
    "exposure": check_exposure,
    "containment": check_containment,
    "rollout": check_rollout,
}
