"""A checklist's fix as a plan the rollback machinery can dry-run, apply and journal.

A verified fix is one NetworkPolicy per side it opens (an egress allow at the source, an
ingress allow at the destination: two namespaces when the ends live apart). Its target policy
set is the live set of the fix's namespaces with the fix's policies added (or replacing
policies of the same name), scoped to those namespaces, so the plan can only create or
replace the fix's policies: nothing else is deleted, and no other namespace is touched.
Applying it goes through the same Applier as a rollback: the live set is re-read and
compared, saved as a backup, dry-run server-side, applied and journalled (`triage rollback
journal`, `revert`).
"""

from __future__ import annotations

import yaml

from triage.errors import UsageError
from triage.model import NetworkPolicy, Snapshot
from triage.rollback.plan import Plan, make_plan
from triage.rollback.policyset import PolicySet


def fix_policies(fix_yaml: str) -> tuple[NetworkPolicy, ...]:
    """The NetworkPolicies of a fix's YAML (comments allowed). UsageError otherwise."""
    from triage.sources.parse import parse_network_policy

    try:
        docs = [d for d in yaml.safe_load_all(fix_yaml) if d is not None]
    except yaml.YAMLError as exc:
        raise UsageError(f"the fix is not valid YAML: {exc}") from None
    if not docs or not all(isinstance(d, dict) and d.get("kind") == "NetworkPolicy" for d in docs):
        raise UsageError("the fix must be NetworkPolicy documents only")
    policies: list[NetworkPolicy] = []
    for index, doc in enumerate(docs):
        policy, problems = parse_network_policy(doc, "fix", index)
        if problems or policy is None:
            raise UsageError(f"the fix does not parse: {problems[0] if problems else '?'}")
        policies.append(policy)
    if len({p.key for p in policies}) != len(policies):
        raise UsageError("the fix names one policy twice")
    return tuple(policies)


def fix_target(live: Snapshot, policies: tuple[NetworkPolicy, ...]) -> PolicySet:
    namespaces = tuple(sorted({p.namespace for p in policies}))
    replaced = {p.key for p in policies}
    kept = tuple(p for p in live.policies if p.namespace in namespaces and p.key not in replaced)
    return PolicySet(
        description="fix " + ", ".join(p.key for p in policies),
        policies=(*kept, *policies),
        scope=namespaces,
    )


def fix_plan(
    live: Snapshot,
    fix_yaml: str,
    *,
    context: str | None,
    live_scope: tuple[str, ...] | None = None,
    server: str = "",
    simulation: bool = False,
) -> Plan:
    """The plan that adds the fix to the live set (a create or replace per policy)."""
    return make_plan(
        live,
        fix_target(live, fix_policies(fix_yaml)),
        context=context,
        live_scope=live_scope,
        live_source=f"context {context}" if context else "",
        server=server,
        simulation=simulation,
    )
