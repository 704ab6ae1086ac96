"""A plan as text (terminal), Markdown (a runbook to follow or attach to a ticket) and JSON.

The three are renderings of the same `Plan`. The runbook gives, for each step, the kubectl
command that does the same thing, and the probes to run afterwards.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from triage.model import Flow, Snapshot
from triage.model.admin import KUBECTL_RESOURCE
from triage.model.untrusted import (
    clean,
    clean_lines,
    markdown_code,
    markdown_fence,
    markdown_text,
    shell_join,
)
from triage.policy import UnknownEndpoint, explain
from triage.rollback.delta import Delta, DeltaGroup, FlowChange
from triage.rollback.plan import ORDERING_RULE, PHASE_NAMES, PHASES, Operation, Plan, spec_yaml
from triage.rollback.policyset import scope_text

MAX_PROBES = 8
SIMULATION_BANNER = "SIMULATION: computed against a recording; nothing can be applied from here"


def _context(plan: Plan) -> str:
    return plan.context or "CONTEXT"


def manifest_yaml(op: Operation) -> str:
    body = op.manifest()
    return yaml.safe_dump(body, sort_keys=False, default_flow_style=False) if body else ""


def kubectl_command(op: Operation, context: str) -> str:
    """The kubectl equivalent of one step (a heredoc for create and replace).

    `replace`, not `apply`: apply merges with what is on the cluster and keeps fields the
    target no longer has; replace sends the whole object, as the applier does, and fails on
    a resourceVersion conflict just like it."""
    admin = op.admin_policy
    if op.action == "delete" and admin is not None:
        resource = KUBECTL_RESOURCE[admin.kind]
        return shell_join(["kubectl", "--context", context, "delete", resource, op.name])
    if op.action == "delete":
        argv = ["kubectl", "--context", context, "delete", "networkpolicy", op.name]
        return shell_join([*argv, "-n", op.namespace])
    verb = "create" if op.action == "create" else "replace"
    body = clean_lines(manifest_yaml(op).rstrip())
    # The here-document ends at a line that is exactly the delimiter; none of the body's.
    lines = set(body.split("\n"))
    delimiter = "EOF"
    while delimiter in lines:
        delimiter += "_"
    command = shell_join(["kubectl", "--context", context, verb, "-f", "-"])
    return f"{command} <<'{delimiter}'\n{body}\n{delimiter}"


# ---------------------------------------------------------------- verification probes


@dataclass(frozen=True)
class Probe:
    change: FlowChange
    expect: str  # "allowed" or "denied"
    command: str  # kubectl exec ...
    explain_command: str  # triage explain ...


def _probe_command(change: FlowChange, context: str, snapshot: Snapshot | None) -> str:
    src_ns, _, src_pod = change.source.member.partition("/")
    dst = change.destination
    address = dst.member
    if dst.namespace and snapshot is not None:
        pod = snapshot.pod(*dst.member.split("/", 1))
        address = pod.ips[0] if pod is not None and pod.ips else dst.member
    if not change.source.namespace:
        source = clean(change.source.label)
        return f"# from {source}: probe from outside the cluster to {clean(address)}"
    exec_ = ["kubectl", "--context", context, "exec", "-n", src_ns, src_pod, "--"]
    if change.port == 53 and change.protocol == "UDP":
        lookup = ["nslookup", "-timeout=3", "kubernetes.default.svc.cluster.local", address]
        return shell_join([*exec_, *lookup])
    flag = "-zu" if change.protocol == "UDP" else "-z"
    return shell_join([*exec_, "nc", flag, "-w", "3", address, str(change.port)])


def _explain_command(change: FlowChange, context: str) -> str:
    return shell_join(
        [
            "triage",
            "explain",
            "--context",
            context,
            "--from",
            change.source.member,
            "--to",
            change.destination.member,
            "--port",
            f"{change.port}/{change.protocol}",
        ]
    )


def _probe_priority(change: FlowChange) -> tuple[int, str, str, bool, int, str]:
    """DNS first (its loss breaks everything), then flows a named rule decides, then the
    rest; ties in the delta's order."""
    rank = 0 if change.port == 53 else 1 if change.why.startswith("allowed by") else 2
    udp_dns = change.port == 53 and change.protocol == "UDP"  # nslookup beats nc for DNS
    return (
        rank,
        change.destination.label,
        change.source.label,
        not udp_dns,
        change.port,
        change.protocol,
    )


def verification_probes(plan: Plan, limit: int = MAX_PROBES) -> list[Probe]:
    """A few flows from the delta to probe after applying: closed ones first (they are what
    breaks), then opened ones; one per source and destination workload."""
    picked: dict[str, list[Probe]] = {"denied": [], "allowed": []}
    ctx = _context(plan)
    for changes, expect in ((plan.delta.closed, "denied"), (plan.delta.opened, "allowed")):
        seen: set[tuple[str, str]] = set()
        for change in sorted(changes, key=_probe_priority):
            pair = (change.source.label, change.destination.label)
            if pair in seen:
                continue
            seen.add(pair)
            picked[expect].append(
                Probe(
                    change,
                    expect,
                    _probe_command(change, ctx, plan.live_snapshot),
                    _explain_command(change, ctx),
                )
            )
    closed, opened = picked["denied"], picked["allowed"]
    n_closed = min(len(closed), max(1, limit // 2), limit)
    return closed[:n_closed] + opened[: limit - n_closed]


@dataclass(frozen=True)
class FlowCheck:
    flow: Flow
    note: str
    before: bool | None
    after: bool | None
    error: str = ""


def check_flows(plan: Plan, flows: Sequence[tuple[Flow, str]]) -> list[FlowCheck]:
    """Reported flows (an incident's), judged now and after the rollback."""
    snap = plan.live_snapshot
    if snap is None:
        return []
    after_snap = snap.with_policies(plan.final_policies)
    if plan.final_admin is not None:
        after_snap = after_snap.with_admin_policies(plan.final_admin)
    out = []
    for flow, note in flows:
        try:
            out.append(
                FlowCheck(
                    flow, note, explain(snap, flow).allowed, explain(after_snap, flow).allowed
                )
            )
        except UnknownEndpoint as exc:
            out.append(FlowCheck(flow, note, None, None, str(exc)))
    return out


def _verdict(value: bool | None) -> str:
    return "?" if value is None else "allowed" if value else "denied"


# ---------------------------------------------------------------- text


def _group_line(group: DeltaGroup) -> str:
    sources = ", ".join(group.sources[:4]) + (
        f" +{len(group.sources) - 4} more" if len(group.sources) > 4 else ""
    )
    return f"{group.destination} {group.port} ← {sources}  ({'; '.join(group.why)})"


def delta_lines(delta: Delta, indent: str = "  ") -> list[str]:
    if delta.empty:
        return [f"{indent}no flow changes its verdict"]
    lines = []
    for which, title in (("opened", "will open"), ("closed", "will close")):
        groups = delta.groups(which)
        count = len(delta.opened if which == "opened" else delta.closed)
        lines.append(f"{indent}{title}: {count} flow(s)")
        lines.extend(f"{indent}  {_group_line(g)}" for g in groups)
    return lines


def plan_to_text(plan: Plan, *, diffs: bool = True) -> str:
    lines: list[str] = []
    if plan.simulation:
        lines.append(SIMULATION_BANNER)
    lines.append(f"Rollback plan toward {plan.target.description}")
    lines.append(f"  context: {plan.context or '-'}   live: {plan.live_source or '-'}")
    lines.append(f"  scope: {scope_text(plan.scope)}")
    lines.append(f"  {plan.summary()}")
    for warning in plan.warnings:
        lines.append(f"  warning: {warning}")
    if plan.operations:
        lines.append("")
        lines.extend(textwrap.wrap("Order: " + ORDERING_RULE, width=100))
        lines.append("")
        lines.append("Steps:")
        for i, op in enumerate(plan.operations, start=1):
            lines.append(
                f"  {i}. {op.action:<7} {op.key}  [phase {op.phase} {PHASE_NAMES[op.phase]}]  "
                f"{op.effect.summary()}"
            )
            if op.admin:
                lines.append(f"       {op.kind}, {op.tier_text} (cluster-scoped)")
            if diffs and op.diff:
                lines.extend(f"       {d}" for d in op.diff)
    unchanged = (*plan.unchanged, *plan.admin_unchanged)
    if unchanged:
        lines.append("")
        lines.append(f"Unchanged ({len(unchanged)}): {', '.join(unchanged)}")
    lines.append("")
    lines.append(
        f"Connectivity delta ({plan.reps} representative workload(s), "
        f"{plan.delta.checked} verdicts):"
    )
    lines.extend(delta_lines(plan.delta))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- markdown


_md_escape = markdown_text  # every piece of data in the runbook


def _md_delta_table(groups: list[DeltaGroup]) -> list[str]:
    lines = ["| destination | port | sources | why |", "| --- | --- | --- | --- |"]
    for g in groups:
        lines.append(
            f"| {_md_escape(g.destination)} | {g.port} | {_md_escape(', '.join(g.sources))} | "
            f"{_md_escape('; '.join(g.why))} |"
        )
    return lines


def plan_to_markdown(plan: Plan, *, flows: Sequence[tuple[Flow, str]] = ()) -> str:
    ctx = _context(plan)
    out: list[str] = [f"# Rollback plan: {_md_escape(plan.target.description)}", ""]
    if plan.simulation:
        out += [f"> **{SIMULATION_BANNER}.**", ""]
    out += [
        f"- Context: {markdown_code(ctx)}",
        f"- Live set: {_md_escape(plan.live_source or '-')}",
        f"- Target: {_md_escape(plan.target.description)}",
        f"- Scope: {_md_escape(scope_text(plan.scope))} (policies elsewhere are not touched)",
        f"- Summary: {_md_escape(plan.summary())}",
        "",
    ]
    if plan.warnings:
        out += ["## Warnings", ""]
        out += [f"- {_md_escape(w)}" for w in plan.warnings]
        out.append("")
    out += ["## Order", "", ORDERING_RULE, ""]
    out += ["## Steps", ""]
    if not plan.operations:
        out += ["Nothing to do.", ""]
    for i, op in enumerate(plan.operations, start=1):
        out += [
            f"### {i}. {op.action} {markdown_code(op.key)}",
            "",
            f"- Phase {op.phase}: {PHASES[op.phase]}",
            *([f"- {op.kind}, {op.tier_text} (cluster-scoped)"] if op.admin else []),
            f"- Effect of this step alone: {_md_escape(op.effect.summary())}",
        ]
        if op.action != "create":
            out.append(f"- Planned resourceVersion: {markdown_code(op.planned_rv)}")
        out.append("")
        if op.diff:
            out += [*markdown_fence("\n".join(op.diff), "diff"), ""]
        elif op.action == "delete" and op.live is not None:
            out += ["Removes:", "", *markdown_fence(spec_yaml(op.live), "yaml"), ""]
        out += [*markdown_fence(kubectl_command(op, ctx), "sh"), ""]
    if plan.unchanged or plan.admin_unchanged:
        out += ["## Unchanged", ""]
        out += [f"- {markdown_code(k)}" for k in (*plan.unchanged, *plan.admin_unchanged)]
        out.append("")
    out += [
        "## Connectivity delta",
        "",
        f"Judged by the engine over {plan.reps} representative workload(s) (one pod per "
        f"owner) and the ports their pods declare or the policies name; "
        f"{plan.delta.checked} verdicts.",
        "",
    ]
    for which, title in (("opened", "Flows that will open"), ("closed", "Flows that will close")):
        groups = plan.delta.groups(which)
        count = len(plan.delta.opened if which == "opened" else plan.delta.closed)
        out += [f"### {title} ({count})", ""]
        out += (_md_delta_table(groups) if groups else ["None."]) + [""]
    out += ["## Verify after applying", ""]
    target_hint = (
        markdown_code(
            shell_join(
                ["triage", "rollback", "plan", "--context", ctx, "--to", plan.target.snapshot_id]
            )
        )
        if plan.target.snapshot_id is not None
        else "`triage rollback plan` toward the same target"
    )
    out += [f"Re-run {target_hint}: it must say nothing to do.", ""]
    checks = check_flows(plan, flows)
    if checks:
        out += [
            "### Reported flows",
            "",
            "| flow | now | after the rollback | note |",
            "| --- | --- | --- | --- |",
        ]
        for c in checks:
            note = c.error or c.note
            out.append(
                f"| {_md_escape(str(c.flow))} | {_verdict(c.before)} | {_verdict(c.after)} | "
                f"{_md_escape(note)} |"
            )
        out.append("")
    probes = verification_probes(plan)
    if probes:
        out += ["### Probes", ""]
    for n, probe in enumerate(probes, start=1):
        change = probe.change
        out += [
            f"{n}. {_md_escape(change.source.label)} → {_md_escape(change.destination.label)} "
            f"{_md_escape(change.port_label)}: expect **{probe.expect}**",
            "",
            *(
                f"   {line}"
                for line in markdown_fence(f"{probe.command}\n{probe.explain_command}", "sh")
            ),
        ]
    out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------- json


def _change_dict(change: FlowChange) -> dict[str, Any]:
    return {
        "source": change.source.label,
        "source_pod": change.source.member,
        "destination": change.destination.label,
        "destination_pod": change.destination.member,
        "port": change.port,
        "protocol": change.protocol,
        "why": change.why,
    }


def delta_to_dict(delta: Delta) -> dict[str, Any]:
    return {
        "opened": [_change_dict(c) for c in delta.opened],
        "closed": [_change_dict(c) for c in delta.closed],
        "verdicts": delta.checked,
    }


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    ctx = _context(plan)
    return {
        "simulation": plan.simulation,
        "context": plan.context,
        "live": plan.live_source,
        "target": {
            "description": plan.target.description,
            "snapshot_id": plan.target.snapshot_id,
        },
        "scope": None if plan.scope is None else list(plan.scope),
        "summary": plan.summary(),
        "ordering_rule": ORDERING_RULE,
        "warnings": list(plan.warnings),
        "steps": [
            {
                "step": i,
                "action": op.action,
                "namespace": op.namespace,
                "name": op.name,
                "kind": op.kind,
                "key": op.key,
                "tier": None if op.admin_policy is None else op.admin_policy.tier,
                "priority": None if op.admin_policy is None else op.admin_policy.priority,
                "phase": op.phase,
                "phase_text": PHASES[op.phase],
                "planned_resource_version": op.planned_rv,
                "effect": delta_to_dict(op.effect),
                "diff": list(op.diff),
                "manifest": op.manifest(),
                "kubectl": kubectl_command(op, ctx),
            }
            for i, op in enumerate(plan.operations, start=1)
        ],
        "unchanged": list(plan.unchanged),
        "admin_unchanged": list(plan.admin_unchanged),
        "live_resource_versions": dict(plan.live_versions),
        "admin_resource_versions": None
        if plan.admin_versions is None
        else dict(plan.admin_versions),
        "delta": delta_to_dict(plan.delta),
        "verify": [
            {
                "source": p.change.source.member,
                "destination": p.change.destination.member,
                "port": p.change.port,
                "protocol": p.change.protocol,
                "expect": p.expect,
                "command": p.command,
                "explain": p.explain_command,
            }
            for p in verification_probes(plan)
        ],
    }
