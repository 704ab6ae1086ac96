"""A checklist's fix as a plan the rollback machinery can dry-run, apply and journal.

The fix is one NetworkPolicy. Its target policy set is the live set of the fix's namespace
with the fix added (or replacing a policy of the same name), scoped to that namespace, so
the plan can only create or replace that one policy: nothing else in the namespace is
deleted, and no other namespace is touched. Applying it goes through the same Applier as a
rollback: the live set is re-read and compared, saved as a backup, dry-run server-side,
applied and journalled (`triage rollback journal`, `revert`).
"""

from __future__ import annotations

from typing import Any

import yaml

from triage.errors import UsageError
from triage.model import NetworkPolicy, Snapshot
from triage.rollback.plan import Plan, make_plan
from triage.rollback.policyset import PolicySet


def fix_policy(fix_yaml: str) -> NetworkPolicy:
    """The one NetworkPolicy of a fix's YAML (comments allowed). UsageError otherwise."""
    from triage.sources.parse import parse_network_policy

    try:
        docs = [d for d in yaml.safe_load_all(fix_yaml) if d is not None]
    except yaml.YAMLError as exc:
        raise UsageError(f"the fix is not valid YAML: {exc}") from None
    if len(docs) != 1 or not isinstance(docs[0], dict) or docs[0].get("kind") != "NetworkPolicy":
        raise UsageError("the fix must be exactly one NetworkPolicy")
    doc: dict[str, Any] = docs[0]
    policy, problems = parse_network_policy(doc, "fix", 0)
    if problems or policy is None:
        raise UsageError(f"the fix does not parse: {problems[0] if problems else '?'}")
    return policy


def fix_target(live: Snapshot, policy: NetworkPolicy) -> PolicySet:
    namespace = policy.namespace
    kept = tuple(p for p in live.policies if p.namespace == namespace and p.key != policy.key)
    return PolicySet(
        description=f"fix {policy.key}",
        policies=(*kept, policy),
        scope=(namespace,),
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
    """The plan that adds the fix to the live set (one create or replace)."""
    policy = fix_policy(fix_yaml)
    return make_plan(
        live,
        fix_target(live, policy),
        context=context,
        live_scope=live_scope,
        live_source=f"context {context}" if context else "",
        server=server,
        simulation=simulation,
    )
