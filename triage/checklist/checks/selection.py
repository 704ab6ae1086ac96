"""Steps 3 to 5, labels, namespaces and ports: which selector term or port keeps an
allowing rule from matching the flow."""

from __future__ import annotations

import dataclasses

from triage.checklist.checks.common import (
    _PORT_CODES,
    _endpoint_labels,
    _is_label_reason,
    _is_namespace_reason,
    _pod_of,
    _primary,
    _relevant_rules,
    _result,
    _rule_name,
    _Side,
    _sides,
)
from triage.checklist.hints import format_labels, with_hint
from triage.checklist.model import ChecklistContext, StepResult
from triage.model import (
    NAMESPACE_NAME_LABEL,
    LabelSelector,
    Pod,
)
from triage.policy import (
    Reason,
    UnknownEndpoint,
    Verdict,
    explain,
    selector_failures,
)
from triage.policy.describe import misses_clause

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
