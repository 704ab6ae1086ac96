"""The `rollout` step: the default-deny rollout of the flow's destination namespace,
generated from the incident's observed traffic (its flows and successful probes), judged
by the engine: which observed flows stay allowed, which would break, what closes."""

from __future__ import annotations

from triage.checklist.model import ChecklistContext, Status, StepResult
from triage.model import IPRef
from triage.model.untrusted import clean, shell_join


def _namespace(ctx: ChecklistContext) -> str | None:
    dst = ctx.flow.destination
    if isinstance(dst, IPRef):
        pod = ctx.snapshot.pods_by_ip.get(dst.ip)
        return pod.namespace if pod is not None else None
    return dst.namespace


def check_rollout(ctx: ChecklistContext) -> StepResult:
    from triage.rollout import Observed, observed_from_incident, plan_rollout
    from triage.rollout.render import connection_text, manifests_yaml

    namespace = _namespace(ctx)
    if namespace is None:
        return StepResult(
            "", "skip", f"{ctx.flow.destination} is not in a namespace of this cluster"
        )
    if ctx.incident is not None:
        observed = observed_from_incident(ctx.incident)
    else:
        observed = Observed((ctx.flow,), (), ("the flow in focus",))
    rollout = plan_rollout(ctx.snapshot, (namespace,), observed, context=None, simulation=True)
    gen = rollout.generation
    closed = rollout.plan.delta.closed
    evidence = [f"generated: {', '.join(clean(g.policy.name) for g in gen.generated)}"]
    evidence += [f"keeps {connection_text(c.connection)}" for c in gen.kept[:10]]
    evidence += [f"BREAKS {connection_text(c.connection)}" for c in gen.breaks[:10]]
    evidence += [
        f"closes {clean(c.source.label)} → {clean(c.destination.label)}:{c.port_label}"
        for c in closed[:10]
    ]
    evidence += [f"note: {clean(n)}" for n in gen.notes]
    command = shell_join(["triage", "rollout", "plan", "--namespace", namespace, "-o", "yaml"])
    status: Status
    if gen.breaks:
        status = "fail"
        summary = (
            f"a default-deny rollout of {namespace} would break {len(gen.breaks)} observed flow(s)"
        )
        hint = "fix the unresolved selectors, or exclude the flows (--exclude) before applying"
    elif observed.empty:
        status = "warn"
        summary = f"no observed traffic: a rollout of {namespace} keeps only DNS"
        hint = "give observed flows (--observed FILE) before planning a rollout"
    else:
        status = "pass"
        summary = (
            f"a default-deny rollout of {namespace} keeps {len(gen.kept)} observed flow(s) "
            f"and DNS, and closes {len(closed)}"
        )
        hint = f"preview and apply with `{command}` then `triage rollout apply --context CTX`"
    return StepResult(
        "", status, summary, tuple(evidence), hint, "", {"fix_yaml": manifests_yaml(rollout)}
    )
