"""A checklist fix as a rollback plan: every policy of a two-sided fix is planned."""

from __future__ import annotations

import pytest

from tests.engine_builders import ask, cluster, netpol, ns, pod
from triage.checklist.fix import least_privilege_fix
from triage.errors import UsageError
from triage.rollback.fixplan import fix_plan, fix_policies


def two_sided() -> tuple[object, object]:
    snapshot = cluster(
        ns("web"),
        ns("api"),
        pod("web", "web-1", {"app": "web"}, ip="10.0.0.1"),
        pod("api", "api-1", {"app": "api"}, ip="10.0.0.2", ports=[("http", 8080, "TCP")]),
        netpol("web", "deny-egress", {}, egress=[], policy_types=["Egress"]),
        netpol("api", "deny-ingress", {}, ingress=[], policy_types=["Ingress"]),
    )
    return snapshot, ask(snapshot, "web/web-1", "api/api-1", 8080)


def test_a_two_sided_fix_is_planned_as_one_create_per_side() -> None:
    snapshot, explanation = two_sided()
    fix_yaml = least_privilege_fix(snapshot, explanation)  # type: ignore[arg-type]
    policies = fix_policies(fix_yaml)
    assert sorted(p.namespace for p in policies) == ["api", "web"]
    plan = fix_plan(snapshot, fix_yaml, context="ctx", simulation=True)  # type: ignore[arg-type]
    assert sorted(op.action for op in plan.operations) == ["create", "create"]
    assert {f"{op.namespace}/{op.name}" for op in plan.operations} == {p.key for p in policies}


def test_anything_but_networkpolicies_is_refused() -> None:
    with pytest.raises(UsageError, match="NetworkPolicy documents only"):
        fix_policies("kind: Pod\n")
