"""A rollback plan toward a known-good set that recorded admin policies says which
cluster-scoped policies differ (it writes NetworkPolicies only)."""

from __future__ import annotations

from tests.admin_builders import cnp, ns_peer, rule
from tests.engine_builders import cluster, ns, pod
from triage.rollback.plan import make_plan
from triage.rollback.policyset import PolicySet


def test_plan_warns_about_admin_policies_it_does_not_restore() -> None:
    base = [ns("web"), ns("db"), pod("db", "pg", {"app": "pg"}, ip="10.0.2.1")]
    then = cluster(*base, cnp("guard", "Admin", 10, ingress=[rule("Pass", [ns_peer("web")])]))
    now = cluster(*base, cnp("guard", "Admin", 10, ingress=[rule("Deny", [ns_peer("web")])]))
    target = PolicySet("known-good", (), admin_policies=then.admin_policies)
    plan = make_plan(now, target, context="ctx")
    assert plan.empty
    assert plan.warnings == (
        "cluster-scoped admin policies differ from the target and this plan does not write "
        "them (it restores NetworkPolicies only): cnp/guard (Admin tier, priority 10) changed "
        "since the target",
    )
    # Same admin policies (or a target that recorded none): no warning.
    assert make_plan(then, target, context="ctx").warnings == ()
    assert make_plan(now, PolicySet("kg", ()), context="ctx").warnings == ()
