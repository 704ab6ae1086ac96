"""The checklist's Tiers step: the admin/baseline decision for the flow, with the kubectl
command to see the deciding policy."""

from __future__ import annotations

from tests.admin_builders import all_namespaces, cnp, ns_peer, rule
from tests.engine_builders import cluster, netpol, ns, pod
from triage.checklist.model import ChecklistContext
from triage.checklist.run import run_step
from triage.model import parse_flow

BASE = [
    ns("web"),
    ns("db"),
    pod("web", "fe", {"app": "fe"}, ip="10.0.1.1"),
    pod("db", "pg", {"app": "pg"}, ip="10.0.2.1", ports=[("sql", 5432, "TCP")]),
    netpol(
        "db",
        "allow-web",
        {},
        ingress=[{"from": [{"namespaceSelector": {}}], "ports": [{"port": 5432}]}],
    ),
]


def tiers_step(*docs: dict[str, object]):  # type: ignore[no-untyped-def]
    snapshot = cluster(*BASE, *docs)  # type: ignore[arg-type]
    ctx = ChecklistContext(snapshot, parse_flow("web/fe", "db/pg", 5432, "TCP"))
    return run_step(ctx, "tiers")


def test_admin_deny_fails_the_step_and_names_policy_rule_and_peer() -> None:
    result = tiers_step(
        cnp(
            "platform-guard",
            "Admin",
            10,
            ingress=[rule("Deny", [ns_peer("web")], name="no-web-to-db")],
        )
    )
    assert result.status == "fail"
    assert result.summary == (
        "Admin tier: cnp/platform-guard rule no-web-to-db denies ingress at db/pg "
        "(peer: namespaces kubernetes.io/metadata.name=web)"
    )
    assert result.kubectl == "kubectl get clusternetworkpolicies platform-guard -o yaml"
    assert "no NetworkPolicy can override an Admin-tier Deny" in result.hint
    assert "ingress at db/pg: Admin: cnp/platform-guard rule no-web-to-db Deny" in result.evidence


def test_pass_to_networkpolicy_passes_the_step() -> None:
    result = tiers_step(
        cnp("guard", "Admin", 10, ingress=[rule("Pass", [all_namespaces()], name="owners")])
    )
    assert result.status == "pass"
    assert result.summary == "the tiers let this flow through (Default, NetworkPolicy)"
    assert result.kubectl == (
        "kubectl get clusternetworkpolicies,adminnetworkpolicies,"
        "baselineadminnetworkpolicies -o wide"
    )


def test_baseline_deny_where_no_networkpolicy_selects() -> None:
    result = tiers_step(
        cnp("base", "Baseline", 10, egress=[rule("Deny", [all_namespaces()], name="no-egress")])
    )
    assert result.status == "fail"
    assert result.summary.startswith(
        "Baseline tier: cnp/base rule no-egress denies egress at web/fe"
    )


def test_skipped_without_admin_policies() -> None:
    assert tiers_step().status == "skip"


def test_what_changed_names_the_admin_policy_that_flipped_the_flow() -> None:
    from triage.checklist.changes import flow_change
    from triage.model.incident import KnownGood

    before = cnp(
        "platform-guard", "Admin", 10, ingress=[rule("Pass", [ns_peer("web")], name="owners")]
    )
    after = cnp(
        "platform-guard", "Admin", 10, ingress=[rule("Deny", [ns_peer("web")], name="owners")]
    )
    then = cluster(*BASE, before)  # type: ignore[arg-type]
    now = cluster(*BASE, after)  # type: ignore[arg-type]
    good = KnownGood("before-rollout", "", then.policies, admin_policies=then.admin_policies)
    fc = flow_change(now, good, parse_flow("web/fe", "db/pg", 5432, "TCP"))
    assert fc.regressed
    assert [c.summary for c in fc.flipping] == [
        "ClusterNetworkPolicy platform-guard (Admin tier, priority 10) changed"
    ]
    assert "-    action: Pass" in fc.flipping[0].diff and "+    action: Deny" in fc.flipping[0].diff
    from triage.checklist.runbook import load_runbook

    ctx = ChecklistContext(
        now,
        parse_flow("web/fe", "db/pg", 5432, "TCP"),
        known_good=good,
        runbook=load_runbook("failed-rollout"),
    )
    rollback = run_step(ctx, "rollback")
    assert rollback.status == "warn"
    assert (
        "1 cluster-scoped admin policy change(s) are not rolled back by restoring "
        "NetworkPolicies; restore them from the diff with kubectl apply:"
    ) in rollback.evidence
    changes = run_step(ctx, "changes")
    assert changes.status == "fail"
    assert "platform-guard" in changes.summary


def test_no_networkpolicy_fix_is_offered_against_an_admin_deny() -> None:
    from triage.checklist.fix import least_privilege_fix

    snapshot = cluster(
        *BASE,  # type: ignore[arg-type]
        cnp("guard", "Admin", 10, ingress=[rule("Deny", [ns_peer("web")], name="no-web")]),
    )
    flow = parse_flow("web/fe", "db/pg", 5432, "TCP")
    assert least_privilege_fix(snapshot, flow) == ""
    verdict = run_step(ChecklistContext(snapshot, flow), "verdict")
    assert verdict.status == "fail"
    assert "fix_yaml" not in verdict.details
    assert verdict.hint.startswith("an Admin-tier Deny decides this flow before any NetworkPolicy")
    # A Baseline Deny is overridden by a NetworkPolicy that selects the pod: a fix is offered.
    base = cluster(
        ns("web"),
        ns("db"),
        pod("web", "fe", {"app": "fe"}, ip="10.0.1.1"),
        pod("db", "pg", {"app": "pg"}, ip="10.0.2.1", ports=[("sql", 5432, "TCP")]),
        cnp("base", "Baseline", 10, ingress=[rule("Deny", [ns_peer("web")], name="no-web")]),
    )
    assert "kind: NetworkPolicy" in least_privilege_fix(base, flow)
