"""Rollback of cluster-scoped admin policies (ClusterNetworkPolicy, ANP, BANP): a target
that carries an admin set is planned, ordered, applied, verified, resumed and reverted like
NetworkPolicies, at the cluster-scoped REST paths of policy.networking.k8s.io."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.admin_builders import cnp, ns_peer, rule, tcp
from tests.engine_builders import cluster, ns, pod
from tests.rollback_helpers import SHOP_OBJECTS
from triage.model import Flow, PodRef
from triage.policy import explain
from triage.rollback.api import KubePolicyApi
from triage.rollback.apply import Applier, RollbackRefused, Run, resume_run, revert_run
from triage.rollback.plan import Plan, make_plan
from triage.rollback.policyset import PolicySet, admin_equal, parse_admins
from triage.rollback.render import kubectl_command, plan_to_dict, plan_to_text
from triage.rollback.store import Store
from triage.sources.live import LiveTarget, load_live

BASE = [
    ns("web"),
    ns("db"),
    pod("db", "pg", {"app": "pg"}, ip="10.0.2.1", ports=[("pg", 5432, "TCP")]),
]
PASS_WEB = cnp("guard", "Admin", 10, ingress=[rule("Pass", [ns_peer("web")], "web-pass")])
DENY_WEB = cnp("guard", "Admin", 10, ingress=[rule("Deny", [ns_peer("web")], "web-deny")])


def test_plan_replaces_a_changed_admin_policy_and_names_tier_and_priority() -> None:
    then = cluster(*BASE, PASS_WEB)
    now = cluster(*BASE, DENY_WEB)
    target = PolicySet("known-good", (), admin_policies=then.admin_policies)
    plan = make_plan(now, target, context="ctx")
    assert [(op.action, op.key, op.kind) for op in plan.operations] == [
        ("replace", "cnp/guard", "ClusterNetworkPolicy")
    ]
    op = plan.operations[0]
    assert op.tier_text == "Admin tier, priority 10"
    assert op.describe() == "replace ClusterNetworkPolicy cnp/guard (Admin tier, priority 10)"
    assert op.namespace == ""
    assert "-- action: Deny" in op.diff and "+- action: Pass" in op.diff, op.diff
    # No NetworkPolicy anywhere: a flow from web to db is allowed once the Deny is a Pass.
    assert op.effect.closed == ()
    assert plan.warnings == ()
    text = plan_to_text(plan)
    assert "ClusterNetworkPolicy, Admin tier, priority 10 (cluster-scoped)" in text
    step = plan_to_dict(plan)["steps"][0]
    assert (step["kind"], step["key"], step["tier"], step["priority"]) == (
        "ClusterNetworkPolicy",
        "cnp/guard",
        "Admin",
        10,
    )
    assert step["manifest"]["metadata"] == {"name": "guard"}
    assert step["manifest"]["apiVersion"] == "policy.networking.k8s.io/v1alpha2"
    # Same admin policies, or a target that says nothing about them: nothing to do.
    assert make_plan(then, target, context="ctx").empty
    assert make_plan(now, PolicySet("kg", ()), context="ctx").empty


def test_the_delta_uses_the_target_admin_set() -> None:
    base = [*BASE, ns("app"), pod("web", "fe", {"app": "fe"}, ip="10.0.1.1")]
    now = cluster(*base, DENY_WEB)
    then = cluster(*base, PASS_WEB)
    flow = Flow(PodRef("web", "fe"), PodRef("db", "pg"), 5432, "TCP")
    assert not explain(now, flow).verdicts[0].allowed
    assert explain(then, flow).verdicts[0].allowed
    plan = make_plan(now, PolicySet("kg", (), admin_policies=then.admin_policies), context="c")
    assert [(c.source.member, c.destination.member) for c in plan.delta.opened] == [
        ("web/fe", "db/pg")
    ]
    assert plan.delta.closed == ()


def test_an_admin_deny_is_deleted_only_after_its_replacement_lands() -> None:
    """Live: a broad Deny `platform-deny`; target: a narrower Deny `guard` in its place.
    Deleting the broad one first would open web→db (denied by both) for a moment."""
    broad = cnp("platform-deny", "Admin", 10, ingress=[rule("Deny", [ns_peer("web")])])
    narrow = cnp(
        "guard", "Admin", 20, ingress=[rule("Deny", [ns_peer("web")], "pg", protocols=[tcp(5432)])]
    )
    base = [*BASE, pod("web", "fe", {"app": "fe"}, ip="10.0.1.1")]
    now = cluster(*base, broad)
    then = cluster(*base, narrow)
    plan = make_plan(now, PolicySet("kg", (), admin_policies=then.admin_policies), context="c")
    assert [(op.action, op.key, op.phase) for op in plan.operations] == [
        ("create", "cnp/guard", 1),
        ("delete", "cnp/platform-deny", 4),
    ]
    assert kubectl_command(plan.operations[1], "c") == (
        "kubectl --context c delete clusternetworkpolicies platform-deny"
    )


# ---------------------------------------------------------------- against the API server

CONTEXT = "triage-test"
CNP_PATH = "/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies"
SHOP_DENY = cnp(
    "shop-guard",
    "Admin",
    10,
    subject={"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": "shop"}}},
    ingress=[rule("Deny", [ns_peer("ingress")], "deny-ingress")],
)
SHOP_PASS = cnp(
    "shop-guard",
    "Admin",
    10,
    subject={"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": "shop"}}},
    ingress=[rule("Pass", [ns_peer("ingress")], "pass-ingress")],
)
EXTRA_DENY = cnp("late-deny", "Admin", 5, ingress=[rule("Deny", [ns_peer("kube-system")])])
OLD_BASELINE = cnp(
    "baseline-dns", "Baseline", 50, egress=[rule("Accept", [ns_peer("kube-system")])]
)


@dataclass
class Env:
    server: Any
    kubeconfig: Path
    store: Store

    def api(self) -> KubePolicyApi:
        return KubePolicyApi.connect(CONTEXT, self.kubeconfig, 5.0)

    def live(self) -> Any:
        return load_live(LiveTarget(context=CONTEXT, kubeconfig=self.kubeconfig, timeout=5.0))

    def admin(self) -> dict[str, Any]:
        docs = self.api().list_admin_policies()
        return {p.key: p for p in parse_admins(docs)}

    def plan(self) -> Plan:
        target = PolicySet(
            "known-good", (), admin_policies=parse_admins([SHOP_PASS, OLD_BASELINE], "test")
        )
        return make_plan(
            self.live().snapshot, target, context=CONTEXT, live_source="test", server=""
        )


@pytest.fixture
def env(kube_api: Any, kubeconfig: Path, tmp_path: Path) -> Any:
    kube_api.seed(
        namespaces=[o for o in SHOP_OBJECTS if o["kind"] == "Namespace"],
        pods=[o for o in SHOP_OBJECTS if o["kind"] == "Pod"],
    )
    kube_api.add_crd("clusternetworkpolicies.policy.networking.k8s.io")
    kube_api.seed(objects=[SHOP_DENY, EXTRA_DENY])
    store = Store.open(tmp_path / "state")
    try:
        yield Env(kube_api, kubeconfig, store)
    finally:
        store.close()


def _same(got: dict[str, Any], docs: list[dict[str, Any]]) -> bool:
    want = {p.key: p for p in parse_admins(docs)}
    return got.keys() == want.keys() and all(admin_equal(got[k], want[k]) for k in want)


@pytest.mark.live
def test_apply_restores_the_admin_set_and_revert_brings_back_the_live_one(env: Env) -> None:
    plan = env.plan()
    assert [(op.action, op.key, op.phase) for op in plan.operations] == [
        ("create", "cnp/baseline-dns", 1),
        ("replace", "cnp/shop-guard", 1),
        ("delete", "cnp/late-deny", 4),
    ]
    result = Applier(env.api(), env.store).run(Run.apply(plan), confirmed_context=CONTEXT)
    assert result.ok, result.report()
    assert _same(env.admin(), [SHOP_PASS, OLD_BASELINE])
    writes = [
        (r.method, r.path, r.dry_run)
        for r in env.server.requests
        if r.method in ("POST", "PUT", "DELETE")
    ]
    assert writes == [
        ("POST", CNP_PATH, True),
        ("PUT", f"{CNP_PATH}/shop-guard", True),
        ("DELETE", f"{CNP_PATH}/late-deny", True),
        ("POST", CNP_PATH, False),
        ("PUT", f"{CNP_PATH}/shop-guard", False),
        ("DELETE", f"{CNP_PATH}/late-deny", False),
    ]
    journal = env.store.journal(result.journal_id)
    assert [s.key for s in journal.steps] == ["cnp/baseline-dns", "cnp/shop-guard", "cnp/late-deny"]
    assert journal.target_admin is not None and len(journal.target_admin) == 2
    backup = env.store.snapshot(result.backup_snapshot_id)
    assert backup.admin_policies is not None
    assert sorted(p.key for p in backup.admin_policies) == ["cnp/late-deny", "cnp/shop-guard"]

    run = revert_run(env.store, result.journal_id, env.live().snapshot, context=CONTEXT)
    reverted = Applier(env.api(), env.store).run(run, confirmed_context=CONTEXT)
    assert reverted.ok, reverted.report()
    assert _same(env.admin(), [SHOP_DENY, EXTRA_DENY])


@pytest.mark.live
def test_an_admin_policy_changed_since_the_plan_refuses_the_run(env: Env) -> None:
    plan = env.plan()
    # Someone else edits the admin policy after the plan: the run refuses, writes nothing.
    env.api().replace_admin(EXTRA_DENY | {"metadata": {"name": "shop-guard"}}, dry_run=False)
    with pytest.raises(RollbackRefused, match=r"cnp/shop-guard changed \(resourceVersion"):
        Applier(env.api(), env.store).run(Run.apply(plan), confirmed_context=CONTEXT)
    assert sorted(env.admin()) == ["cnp/late-deny", "cnp/shop-guard"]


@pytest.mark.live
def test_a_fault_at_one_step_then_resume_reaches_the_target(env: Env) -> None:
    plan = env.plan()
    # The second call to PUT shop-guard is the real one (the first is its dry-run).
    env.server.inject("PUT", rf"{CNP_PATH}/shop-guard$", on_call=2, status=500, message="boom")
    result = Applier(env.api(), env.store).run(Run.apply(plan), confirmed_context=CONTEXT)
    assert result.status == "failed"
    assert [s.state for s in result.steps] == ["done", "failed", "not-run"]
    now = env.admin()
    assert "cnp/late-deny" in now  # the Deny is still there: nothing was opened
    assert "cnp/baseline-dns" in now
    run = resume_run(env.store, result.journal_id, env.live().snapshot, context=CONTEXT)
    assert [(op.action, op.key) for op in run.plan.operations] == [
        ("replace", "cnp/shop-guard"),
        ("delete", "cnp/late-deny"),
    ]
    resumed = Applier(env.api(), env.store).run(run, confirmed_context=CONTEXT)
    assert resumed.ok, resumed.report()
    assert _same(env.admin(), [SHOP_PASS, OLD_BASELINE])
