"""The checklist's Tiers step: the admin/baseline decision for the flow, with the kubectl
command to see the deciding policy."""

from __future__ import annotations

from tests.admin_builders import all_namespaces, cnp, ns_peer, rule
from tests.engine_builders import cluster, netpol, ns, pod
from triage.checklist.model import ChecklistContext
from triage.checklist.steps import run_step
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
