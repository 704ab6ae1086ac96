"""A rollout plan as text, Markdown, JSON and YAML manifests (no Rich: plain strings).

The connectivity delta and the steps are the rollback plan's own renderings; what is added
is the verdict of the observed traffic under the candidate set, the generated policies, and
what stays open.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from triage.model.untrusted import clean, clean_lines, shell_join
from triage.rollback.plan import PHASE_NAMES
from triage.rollback.policyset import clean_manifest, scope_text
from triage.rollback.render import SIMULATION_BANNER, delta_lines, delta_to_dict, plan_to_dict
from triage.rollout.observed import Connection
from triage.rollout.plan import Check, OpenPath, Rollout

ORDER_TEXT = (
    "Order: the DNS guardrail and the allows first, the default-deny last, so no moment of "
    "the apply has a namespace isolated without its guardrails."
)


def connection_text(c: Connection) -> str:
    return clean(f"{c.source_label} → {c.destination_label}:{c.port}/{c.protocol}")


def manifests(rollout: Rollout) -> list[dict[str, Any]]:
    """The generated policies as the API server receives them."""
    return [clean_manifest(g.policy) for g in rollout.generation.generated]


def manifests_yaml(rollout: Rollout) -> str:
    """A `kind: List` of the generated NetworkPolicies, ready for `kubectl apply -f -`."""
    doc = {"apiVersion": "v1", "kind": "List", "items": manifests(rollout)}
    return clean_lines(yaml.safe_dump(doc, sort_keys=False, default_flow_style=False))


def apply_command(rollout: Rollout, observed_files: Sequence[str] = ()) -> str:
    argv = ["triage", "rollout", "apply", "--context", rollout.plan.context or "CONTEXT"]
    for ns in rollout.namespaces:
        argv += ["--namespace", ns]
    for path in observed_files:
        argv += ["--observed", path]
    return shell_join([*argv, "--yes"])


def _checks(title: str, checks: Sequence[Check], limit: int = 20) -> list[str]:
    lines = [f"  {title}: {len(checks)}"]
    lines += [f"    {connection_text(c.connection)}" for c in checks[:limit]]
    if len(checks) > limit:
        lines.append(f"    … +{len(checks) - limit} more")
    return lines


def _open(paths: Sequence[OpenPath], limit: int = 30) -> list[str]:
    lines = []
    for kind, title in (
        ("observed", "observed"),
        ("dns", "DNS"),
        ("other", "other (not observed)"),
    ):
        items = [p for p in paths if p.kind == kind]
        if not items:
            continue
        lines.append(f"  {title}: {len(items)}")
        lines += [f"    {clean(p.text())}" for p in items[:limit]]
        if len(items) > limit:
            lines.append(f"    … +{len(items) - limit} more")
    return lines or ["  nothing"]


def preview_lines(rollout: Rollout) -> list[str]:
    gen = rollout.generation
    lines = ["Observed traffic under the new set:"]
    lines += _checks("kept", gen.kept)
    breaks = gen.breaks
    mark = "WOULD BREAK" if breaks else "would break"
    lines += _checks(f"{mark} (must be none)", breaks)
    if gen.already_denied:
        lines += _checks("denied today already (left as is)", gen.already_denied)
    if gen.observed.excluded:
        lines.append(f"  excluded by the operator: {len(gen.observed.excluded)}")
        lines += [f"    {clean(str(f))}" for f in gen.observed.excluded[:20]]
    if gen.unresolved:
        lines.append(f"  not resolved (no policy generated): {len(gen.unresolved)}")
        lines += [f"    {clean(str(u.flow))}: {clean(u.why)}" for u in gen.unresolved[:20]]
    lines.append("")
    lines.append(
        f"Connectivity delta ({rollout.plan.reps} representative workload(s), "
        f"{rollout.plan.delta.checked} verdicts): what closes is allowed today and not observed"
    )
    lines += [clean(line) for line in delta_lines(rollout.plan.delta)]
    lines.append("")
    lines.append("Stays open (to or from the rollout namespaces):")
    lines += _open(rollout.open_paths)
    return lines


def rollout_to_text(rollout: Rollout, observed_files: Sequence[str] = ()) -> str:
    gen, plan = rollout.generation, rollout.plan
    lines: list[str] = []
    if plan.simulation:
        lines.append(SIMULATION_BANNER)
    lines.append(f"Default-deny rollout of {scope_text(gen.namespaces)}")
    lines.append(
        f"  context: {clean(plan.context or '-')}   live: {clean(plan.live_source or '-')}"
    )
    sources = ", ".join(clean(s) for s in gen.observed.sources) or "none"
    lines.append(
        f"  observed: {len(gen.observed.flows)} flow(s) from {sources}; "
        f"{len(gen.connections)} connection(s) touch the namespaces"
    )
    lines.append(f"  {plan.summary()}")
    for note in gen.notes:
        lines.append(f"  note: {clean(note)}")
    for warning in plan.warnings:
        lines.append(f"  warning: {clean(warning)}")
    lines.append("")
    lines.append(f"Generated policies ({len(gen.generated)}):")
    for g in gen.generated:
        what = f" for {clean(g.workload)}" if g.workload else ""
        lines.append(f"  {clean(g.policy.key)}  [{g.role}{what}]")
    lines.append("")
    lines += preview_lines(rollout)
    if plan.operations:
        lines.append("")
        lines.append(ORDER_TEXT)
        lines.append("Steps:")
        for i, op in enumerate(plan.operations, start=1):
            lines.append(
                f"  {i}. {op.action:<7} {clean(op.key)}  [{PHASE_NAMES[op.phase]}]  "
                f"{op.effect.summary()}"
            )
    if not plan.simulation and plan.operations:
        lines.append("")
        lines.append(f"Apply: {apply_command(rollout, observed_files)}")
    return "\n".join(lines) + "\n"


def rollout_to_markdown(rollout: Rollout, observed_files: Sequence[str] = ()) -> str:
    gen, plan = rollout.generation, rollout.plan
    out = [f"# Default-deny rollout of {scope_text(gen.namespaces)}", ""]
    if plan.simulation:
        out += [f"> {SIMULATION_BANNER}", ""]
    out.append(f"- context: `{clean(plan.context or '-')}`")
    out.append(f"- observed flows: {len(gen.observed.flows)}")
    out.append(f"- {plan.summary()}")
    out += [f"- note: {clean(n)}" for n in gen.notes]
    out += ["", "## Preview", "", "```text", *preview_lines(rollout), "```", ""]
    out += ["## Generated policies", "", "```yaml", manifests_yaml(rollout).rstrip(), "```", ""]
    if plan.operations:
        out += ["## Steps", "", ORDER_TEXT, ""]
        out += [f"{i}. {op.action} `{clean(op.key)}`" for i, op in enumerate(plan.operations, 1)]
        if not plan.simulation:
            out += ["", "```sh", apply_command(rollout, observed_files), "```"]
    out.append("")
    return "\n".join(out)


def _check_dict(check: Check) -> dict[str, Any]:
    c = check.connection
    return {
        "source": clean(c.source_label),
        "destination": clean(c.destination_label),
        "port": c.port,
        "protocol": c.protocol,
        "flow": clean(str(c.flow)),
        "allowed_today": check.before,
        "allowed_after": check.after,
    }


def rollout_to_dict(rollout: Rollout) -> dict[str, Any]:
    gen = rollout.generation
    return {
        "namespaces": list(gen.namespaces),
        "context": rollout.plan.context,
        "simulation": rollout.plan.simulation,
        "observed": {
            "flows": len(gen.observed.flows),
            "sources": [clean(s) for s in gen.observed.sources],
            "excluded": [clean(str(f)) for f in gen.observed.excluded],
        },
        "notes": [clean(n) for n in gen.notes],
        "policies": manifests(rollout),
        "preview": {
            "safe": rollout.safe,
            "kept": [_check_dict(c) for c in gen.kept],
            "breaks": [_check_dict(c) for c in gen.breaks],
            "already_denied": [_check_dict(c) for c in gen.already_denied],
            "unresolved": [
                {"flow": clean(str(u.flow)), "why": clean(u.why)} for u in gen.unresolved
            ],
            "delta": delta_to_dict(rollout.plan.delta),
            "open": [
                {"source": p.source, "destination": p.destination, "ports": p.ports, "kind": p.kind}
                for p in rollout.open_paths
            ],
        },
        "plan": plan_to_dict(rollout.plan),
    }
