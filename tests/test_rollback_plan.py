"""Plans: the per-policy diff, semantic equality, scope, the ordering rule and the
connectivity delta (checked against the engine)."""

from __future__ import annotations

from tests.rollback_helpers import (
    ALLOW_API,
    DEFAULT_DENY,
    FAILED_ROLLOUT,
    SHOP_LIVE,
    SHOP_OBJECTS,
    SHOP_TARGET,
    netpol,
    ns,
    pod,
    policies,
    snapshot_of,
    with_rv,
)
from triage.model import Flow, PodRef
from triage.policy import explain
from triage.rollback.delta import connectivity_delta, representatives
from triage.rollback.plan import make_plan
from triage.rollback.policyset import PolicySet, clean_manifest, parse_policy, semantically_equal
from triage.rollback.targets import from_known_good, from_manifests
from triage.sources.recording import load_incident


def shop(live_policies=SHOP_LIVE):  # type: ignore[no-untyped-def]
    return snapshot_of(
        *SHOP_OBJECTS, *(with_rv(p, str(100 + i)) for i, p in enumerate(live_policies))
    )


def target(docs, scope=None):  # type: ignore[no-untyped-def]
    return PolicySet("test target", policies(*docs), scope=scope)


# ---------------------------------------------------------------- equality and diff


def test_semantic_equality_ignores_resource_version_and_manifest_spelling() -> None:
    explicit = netpol("shop", "p", {"podSelector": {}, "policyTypes": ["Ingress"]})
    implicit = netpol("shop", "p", {"podSelector": {}})
    a = parse_policy(with_rv(explicit, "1"))
    b = parse_policy(with_rv(implicit, "2"))
    assert a != b  # the model keeps the resourceVersion...
    assert semantically_equal(a, b)  # ...the rollback does not care
    other = parse_policy(netpol("shop", "p", {"podSelector": {}, "policyTypes": ["Egress"]}))
    assert not semantically_equal(a, other)


def test_equal_sets_make_an_empty_plan() -> None:
    plan = make_plan(shop(), target(SHOP_LIVE), context="c")
    assert plan.empty
    assert plan.unchanged == tuple(sorted(f"shop/{p['metadata']['name']}" for p in SHOP_LIVE))
    assert "nothing to do" in plan.summary()
    assert plan.delta.empty


def test_plan_finds_creates_replaces_deletes_with_a_spec_diff() -> None:
    plan = make_plan(shop(), target(SHOP_TARGET), context="c")
    by_key = {op.key: op for op in plan.operations}
    assert {k: op.action for k, op in by_key.items()} == {
        "shop/allow-api": "create",
        "shop/api-egress": "create",
        "shop/allow-web": "replace",
        "shop/lockdown-db-egress": "delete",
        "shop/allow-legacy": "delete",
    }
    assert plan.unchanged == ("shop/default-deny",)
    replace = by_key["shop/allow-web"]
    assert replace.planned_rv == "103"
    assert replace.diff[0].startswith("--- live shop/allow-web spec")
    assert "+- from:" in replace.diff
    assert any("kubernetes.io/metadata.name: ingress" in line for line in replace.diff)
    # replace carries the planned resourceVersion; create does not
    assert replace.manifest()["metadata"]["resourceVersion"] == "103"
    assert "resourceVersion" not in by_key["shop/allow-api"].manifest()["metadata"]
    assert by_key["shop/allow-legacy"].manifest() is None
    assert plan.live_versions == {
        "shop/allow-legacy": "102",
        "shop/allow-web": "103",
        "shop/default-deny": "100",
        "shop/lockdown-db-egress": "101",
    }


def test_ordering_allows_first_restricts_next_removes_allowances_last() -> None:
    plan = make_plan(shop(), target(SHOP_TARGET), context="c")
    order = [(op.action, op.name, op.phase) for op in plan.operations]
    assert order == [
        # 1: only opens: the new allowance, then dropping the db egress lockdown
        ("create", "allow-api", 1),
        ("delete", "lockdown-db-egress", 1),
        # 2: closes flows, fewest first (allow-web: 2 sources lose web:8080; api-egress: 3)
        ("replace", "allow-web", 2),
        ("create", "api-egress", 2),
        # 3: removing an allow policy comes last
        ("delete", "allow-legacy", 3),
    ]
    closed = [len(op.effect.closed) for op in plan.operations if op.phase == 2]
    assert closed == sorted(closed)
    for op in plan.operations:
        if op.phase == 1:
            assert op.effect.opens_only and not op.effect.empty


def test_delta_matches_the_engine_flow_by_flow() -> None:
    live = shop()
    plan = make_plan(live, target(SHOP_TARGET), context="c")
    before = live
    after = live.with_policies(plan.final_policies)
    assert plan.delta.opened and plan.delta.closed
    for change, was, now in [(c, False, True) for c in plan.delta.opened] + [
        (c, True, False) for c in plan.delta.closed
    ]:
        s = PodRef(*change.source.member.split("/"))
        d = PodRef(*change.destination.member.split("/"))
        flow = Flow(s, d, change.port, change.protocol)
        assert explain(before, flow).allowed is was, change
        assert explain(after, flow).allowed is now, change


def test_delta_names_the_flows_people_care_about() -> None:
    plan = make_plan(shop(), target(SHOP_TARGET), context="c")
    opened = {(c.source.label, c.destination.label, c.port_label) for c in plan.delta.opened}
    closed = {(c.source.label, c.destination.label, c.port_label) for c in plan.delta.closed}
    assert ("shop/web", "shop/api", "8080/TCP") in opened  # allow-api
    assert ("shop/db-0", "kube-system/coredns", "53/UDP") in opened  # lockdown gone
    assert ("shop/web", "shop/api", "9000/TCP") in closed  # allow-legacy removed
    assert ("shop/api", "shop/web", "8080/TCP") in closed  # allow-web narrowed...
    assert ("ingress/nginx", "shop/web", "8080/TCP") not in closed  # ...but ingress still in
    assert ("shop/api", "kube-system/coredns", "53/TCP") in closed  # api egress: UDP only
    assert ("shop/api", "kube-system/coredns", "53/UDP") not in closed
    groups = plan.delta.groups("closed")
    web = next(g for g in groups if g.destination == "shop/web" and g.port == "8080/TCP")
    assert "shop/api" in web.sources and "ingress/nginx" not in web.sources
    # one representative per workload: web-1 and web-2 are one workload
    assert [p.key for p in representatives(shop())] == [
        "ingress/nginx-1",
        "kube-system/coredns-1",
        "shop/api-1",
        "shop/db-0",
        "shop/web-1",
    ]


def test_delta_covers_ip_blocks() -> None:
    def api_egress(cidr: str, excepts: list[str], port: int):  # type: ignore[no-untyped-def]
        block: dict[str, object] = {"cidr": cidr}
        if excepts:
            block["except"] = excepts
        return netpol(
            "shop",
            "api-egress",
            {
                "podSelector": {"matchLabels": {"app": "api"}},
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"ipBlock": block}], "ports": [{"port": port}]}],
            },
        )

    internet = api_egress("0.0.0.0/0", ["10.0.0.0/8"], 443)
    dns_only = api_egress("10.3.0.0/16", [], 53)
    live = shop([DEFAULT_DENY, internet])
    delta = connectivity_delta(live, live.policies, policies(DEFAULT_DENY, dns_only))
    closed = {(c.source.label, c.destination.label, c.port) for c in delta.closed}
    assert ("shop/api", "ipBlock 0.0.0.0/0 except 10.0.0.0/8", 443) in closed
    outside = next(c for c in delta.closed if not c.destination.namespace)
    assert not outside.destination.member.startswith("10.")  # outside the except
    opened = {(c.source.label, c.destination.label, c.port_label) for c in delta.opened}
    assert ("shop/api", "kube-system/coredns", "53/TCP") in opened
    assert ("shop/api", "kube-system/coredns", "53/UDP") not in opened  # port 53 means TCP


def test_scope_keeps_other_namespaces_untouched() -> None:
    other = netpol("billing", "keep-me", {"podSelector": {}})
    live = snapshot_of(*SHOP_OBJECTS, ns("billing"), *SHOP_LIVE, other)
    scoped = make_plan(live, target(SHOP_TARGET, scope=("shop",)), context="c")
    assert all(op.namespace == "shop" for op in scoped.operations)
    assert "billing/keep-me" in {p.key for p in scoped.final_policies}
    # without a scope the same target deletes it
    unscoped = make_plan(live, target(SHOP_TARGET), context="c")
    assert ("delete", "billing/keep-me") in {(op.action, op.key) for op in unscoped.operations}
    # a live read limited to -n shop limits the plan the same way
    limited = make_plan(live, target(SHOP_TARGET), context="c", live_scope=("shop",))
    assert limited.scope == ("shop",)
    assert all(op.namespace == "shop" for op in limited.operations)
    # target policies outside the scope are reported, not applied
    far = target([*SHOP_TARGET, netpol("billing", "new", {"podSelector": {}})], scope=("shop",))
    plan = make_plan(live, far, context="c")
    assert any("outside the scope" in w and "billing/new" in w for w in plan.warnings)


def test_label_changes_since_the_target_are_warned_about() -> None:
    tgt = PolicySet(
        "t",
        policies(*SHOP_LIVE),
        namespace_labels={"shop": {"kubernetes.io/metadata.name": "shop", "team": "old"}},
        pod_labels={"shop/api-1": {"app": "api", "tier": "backend"}},
    )
    plan = make_plan(shop(), tgt, context="c")
    assert any("namespace shop labels changed" in w and "-team=old" in w for w in plan.warnings)
    assert any("shop/api-1" in w and "-tier=backend" in w for w in plan.warnings)


def test_manifests_target_scope_is_its_namespaces(tmp_path) -> None:
    import yaml

    (tmp_path / "shop.yaml").write_text(yaml.safe_dump_all([ALLOW_API, DEFAULT_DENY]))
    (tmp_path / "notes.txt").write_text("ignored")
    tgt = from_manifests([tmp_path])
    assert tgt.scope == ("shop",)
    assert [p.key for p in tgt.policies] == ["shop/allow-api", "shop/default-deny"]


def test_clean_manifest_strips_server_fields() -> None:
    doc = with_rv(ALLOW_API, "5")
    doc["metadata"].update(
        uid="x",
        creationTimestamp="2024-01-01T00:00:00Z",
        generation=3,
        managedFields=[{}],
        annotations={"kubectl.kubernetes.io/last-applied-configuration": "{}", "a": "b"},
    )
    doc["status"] = {}
    out = clean_manifest(parse_policy(doc))
    assert out["metadata"] == {"name": "allow-api", "namespace": "shop", "annotations": {"a": "b"}}
    assert set(out) == {"apiVersion", "kind", "metadata", "spec"}


def test_failed_rollout_plan_restores_the_reported_flows() -> None:
    incident = load_incident(FAILED_ROLLOUT)
    tgt = from_known_good(incident, None, "failed-rollout.yaml")
    plan = make_plan(incident.snapshot, tgt, context=incident.meta.context, simulation=True)
    assert tgt.scope == ("checkout",)
    assert [(op.action, op.key, op.phase) for op in plan.operations] == [
        ("create", "checkout/allow-metrics-scrape", 1),
        ("delete", "checkout/allow-api-to-db", 1),  # DNS back before anything closes
        ("replace", "checkout/allow-api-from-web", 2),
    ]
    after = incident.snapshot.with_policies(plan.final_policies)
    for reported in incident.flows:
        assert not explain(incident.snapshot, reported.flow).allowed
        assert explain(after, reported.flow).allowed, reported.note


def test_delta_on_a_large_cluster() -> None:
    """600 workloads, 2 pods each, 30 namespaces: restricting the verdicts to what a change can
    touch keeps a one-namespace rollback well under interactive limits."""
    docs = []
    for n in range(30):
        name = f"team-{n}"
        docs.append(ns(name))
        for w in range(20):
            for r in range(2):
                docs.append(
                    pod(
                        name,
                        f"w{w}-{r}",
                        {"app": f"w{w}"},
                        f"10.{n}.{w}.{r + 1}",
                        [(8080, "TCP")],
                        owner=f"w{w}-rs",
                    )
                )
    live_policies = [
        netpol(f"team-{n}", "default-deny", {"podSelector": {}, "policyTypes": ["Ingress"]})
        for n in range(30)
    ]
    live = snapshot_of(*docs, *live_policies)
    allow = netpol(
        "team-3",
        "allow-w1",
        {"podSelector": {"matchLabels": {"app": "w1"}}, "ingress": [{"ports": [{"port": 8080}]}]},
    )
    plan = make_plan(live, target([*live_policies, allow]), context="c")
    assert len(plan.delta.opened) == 599  # every other workload can now reach team-3/w1


def test_an_empty_target_is_called_out() -> None:
    plan = make_plan(shop(), target([]), context="c")
    assert len(plan.operations) == len(SHOP_LIVE)
    assert any("deletes all 4 live policies" in w for w in plan.warnings)


def test_the_rollback_domain_does_not_import_textual_or_rich() -> None:
    import subprocess
    import sys

    code = (
        "import sys; import triage.rollback, triage.rollback.render, triage.rollback.targets, "
        "triage.rollback.api, triage.rollback.apply, triage.rollback.store; "
        "print(sorted(m for m in ('textual', 'rich') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
