"""The admin tiers, case by case, from the API types of network-policy-api (v1alpha2
ClusterNetworkPolicy, v1alpha1 AdminNetworkPolicy / BaselineAdminNetworkPolicy):

- Admin tier before NetworkPolicy, Baseline tier after; Accept/Allow and Deny are final,
  Pass goes to the next tier; "if a given connection wasn't allowed or denied by any of the
  tiers, ... all pods can communicate".
- Lower priority first; rules in written order; the first matching rule decides.
- NetworkPolicy "always makes a final decision for selected pods".
- Host-network pods are never subjects nor namespaces/pods peers.
- A peer with no field fails closed.
- `networks: 0.0.0.0/0` "will allow or deny all IPv4 pod-to-pod traffic as well".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.admin_builders import (
    all_namespaces,
    anp,
    banp,
    cnp,
    ns_peer,
    pods_peer,
    proto_range,
    rule,
    tcp,
)
from tests.engine_builders import ask, cluster, labels, netpol, ns, only, pod
from triage.model import Snapshot
from triage.policy import Verdict

BASE: list[dict[str, Any]] = [
    ns("web", {"team": "web"}),
    ns("db", {"team": "db"}),
    ns("mon", {"team": "mon"}),
    pod("web", "fe", {"app": "fe"}, ip="10.0.1.1", ports=[("http", 8080, "TCP")]),
    pod("web", "fe2", {"app": "fe2"}, ip="10.0.1.2"),
    pod(
        "db",
        "pg",
        {"app": "pg"},
        ip="10.0.2.1",
        ports=[("sql", 5432, "TCP"), ("sig", 7000, "SCTP")],
    ),
    pod("mon", "prom", {"app": "prom"}, ip="10.0.3.1"),
    pod("kube-system", "node-agent", {"app": "agent"}, ip="192.168.0.10", host_network=True),
]


def snap(*extra: dict[str, Any]) -> Snapshot:
    return cluster(*BASE, *extra)


def verdict(
    s: Snapshot, src: str = "web/fe", dst: str = "db/pg", port: int | str = 5432, proto: str = "TCP"
) -> Verdict:
    return only(ask(s, src, dst, port, proto))


def path(v: Verdict, side: str = "ingress") -> str:
    trace = getattr(v, side).tiers
    assert trace is not None
    return str(trace.text)


def decided(v: Verdict, side: str = "ingress") -> tuple[str, bool]:
    trace = getattr(v, side).tiers
    assert trace is not None
    return trace.decided_by, trace.allowed


ALLOW_PG = netpol(
    "db",
    "allow-fe",
    {},
    ingress=[{"from": [{"namespaceSelector": labels(team="web")}], "ports": [{"port": 5432}]}],
)
DENY_ALL_DB = netpol("db", "deny-all", {}, ingress=[])


# ------------------------------------------------------------- every action in every tier


@pytest.mark.parametrize(("action", "allowed"), [("Accept", True), ("Deny", False)])
def test_admin_accept_and_deny_are_final_over_networkpolicy(action: str, allowed: bool) -> None:
    # The NetworkPolicy says the opposite of the admin rule: the admin rule wins.
    np = ALLOW_PG if action == "Deny" else DENY_ALL_DB
    s = snap(np, cnp("sec", "Admin", 10, ingress=[rule(action, [ns_peer("web")], name="r")]))
    v = verdict(s)
    assert v.allowed is allowed
    assert decided(v) == ("Admin", allowed)
    assert path(v) == f"Admin: cnp/sec rule r {action}"
    # The NetworkPolicy never ran: no nearest miss taken from it.
    assert v.ingress.policies == ()


def test_admin_pass_hands_over_to_networkpolicy() -> None:
    s = snap(
        DENY_ALL_DB, cnp("sec", "Admin", 10, ingress=[rule("Pass", [ns_peer("web")], name="p")])
    )
    v = verdict(s)
    assert not v.allowed
    assert decided(v) == ("NetworkPolicy", False)
    assert (
        path(v)
        == "Admin: cnp/sec rule p Pass → NetworkPolicy: no rule of db/deny-all admits TCP 5432"
    )


def test_admin_pass_then_networkpolicy_allows() -> None:
    s = snap(ALLOW_PG, cnp("sec", "Admin", 10, ingress=[rule("Pass", [ns_peer("web")], name="p")]))
    v = verdict(s)
    assert v.allowed
    assert path(v) == "Admin: cnp/sec rule p Pass → NetworkPolicy: db/allow-fe rule #0 allows"


@pytest.mark.parametrize(("action", "allowed"), [("Accept", True), ("Deny", False)])
def test_baseline_decides_when_no_networkpolicy_selects(action: str, allowed: bool) -> None:
    s = snap(cnp("base", "Baseline", 5, ingress=[rule(action, [all_namespaces()], name="b")]))
    v = verdict(s)
    assert v.allowed is allowed
    assert (
        path(v) == "Admin: no policy selects db/pg → NetworkPolicy: none selects db/pg → "
        f"Baseline: cnp/base rule b {action}"
    )


def test_baseline_pass_falls_through_to_default_allow() -> None:
    s = snap(
        cnp(
            "base",
            "Baseline",
            5,
            ingress=[
                rule("Pass", [ns_peer("web")], name="skip"),
                rule("Deny", [all_namespaces()], name="deny"),
            ],
        )
    )
    v = verdict(s)
    assert v.allowed
    assert decided(v) == ("Default", True)
    assert path(v).endswith("Baseline: cnp/base rule skip Pass → default: allowed")
    # From another namespace the Pass does not match and the Deny does.
    assert not verdict(s, src="mon/prom").allowed


def test_baseline_is_overridden_by_a_selecting_networkpolicy() -> None:
    s = snap(ALLOW_PG, banp(ingress=[rule("Deny", [all_namespaces()], name="deny")]))
    v = verdict(s)
    assert v.allowed
    assert decided(v) == ("NetworkPolicy", True)
    # A pod no NetworkPolicy selects gets the baseline.
    v2 = verdict(s, src="db/pg", dst="web/fe", port=8080)
    assert not v2.allowed and decided(v2) == ("Baseline", False)


def test_no_policy_matches_anywhere_means_allowed() -> None:
    s = snap(cnp("sec", "Admin", 1, ingress=[rule("Deny", [ns_peer("mon")])]))
    v = verdict(s)
    assert v.allowed
    assert path(v) == (
        "Admin: none of the 1 ingress rule(s) of cnp/sec matches → NetworkPolicy: none selects "
        "db/pg → Baseline: no policy selects db/pg → default: allowed"
    )


def test_pass_chain_ending_in_each_tier() -> None:
    admin_pass = cnp("a", "Admin", 1, ingress=[rule("Pass", [all_namespaces()], name="pass")])
    # Ends in NetworkPolicy.
    assert decided(verdict(snap(admin_pass, DENY_ALL_DB))) == ("NetworkPolicy", False)
    # Ends in Baseline.
    base_deny = cnp("b", "Baseline", 1, ingress=[rule("Deny", [all_namespaces()], name="no")])
    assert decided(verdict(snap(admin_pass, base_deny))) == ("Baseline", False)
    # Ends in the default, through a Baseline Pass.
    base_pass = cnp("b", "Baseline", 1, ingress=[rule("Pass", [all_namespaces()], name="pass")])
    assert decided(verdict(snap(admin_pass, base_pass))) == ("Default", True)


def test_admin_pass_skips_the_rest_of_the_admin_tier() -> None:
    # Priority 1 passes; the Deny at priority 2 is in the same tier and is skipped.
    s = snap(
        cnp("first", "Admin", 1, ingress=[rule("Pass", [all_namespaces()], name="pass")]),
        cnp("second", "Admin", 2, ingress=[rule("Deny", [all_namespaces()], name="deny")]),
    )
    assert verdict(s).allowed


# ------------------------------------------------------------- priority and rule order


def test_lower_priority_value_wins_whatever_the_names() -> None:
    s = snap(
        cnp("aaa", "Admin", 20, ingress=[rule("Accept", [all_namespaces()], name="ok")]),
        cnp("zzz", "Admin", 10, ingress=[rule("Deny", [all_namespaces()], name="no")]),
    )
    v = verdict(s)
    assert not v.allowed and path(v) == "Admin: cnp/zzz rule no Deny"


def test_rules_are_evaluated_in_written_order() -> None:
    first_accept = cnp(
        "p",
        "Admin",
        1,
        ingress=[
            rule("Accept", [ns_peer("web")], name="a"),
            rule("Deny", [all_namespaces()], name="d"),
        ],
    )
    first_deny = cnp(
        "p",
        "Admin",
        1,
        ingress=[
            rule("Deny", [all_namespaces()], name="d"),
            rule("Accept", [ns_peer("web")], name="a"),
        ],
    )
    assert verdict(snap(first_accept)).allowed
    v = verdict(snap(first_deny))
    assert not v.allowed
    # Only the rules walked are in the trace: the Accept after the Deny was never reached.
    step = v.ingress.tiers.steps[0]  # type: ignore[union-attr]
    assert [r.name for r in step.policies[0].rules] == ["d"]


def test_a_deny_names_the_closest_accept_above_it_as_the_tiers_nearest_miss() -> None:
    s = snap(
        cnp(
            "p",
            "Admin",
            1,
            ingress=[
                rule("Accept", [pods_peer("web", {"app": "frontend"})], name="fe-in"),
                rule("Deny", [all_namespaces()], name="d"),
            ],
        )
    )
    v = verdict(s)
    miss = v.ingress.tiers.steps[0].nearest_miss  # type: ignore[union-attr]
    assert miss is not None
    assert (miss.policy, miss.rule, miss.action) == ("cnp/p", "fe-in", "Accept")
    assert [r.code for r in miss.missing] == ["label-value"]


def test_cnp_and_anp_share_the_admin_tier_and_banp_comes_after_baseline_cnps() -> None:
    s = snap(
        anp("a", 5, ingress=[rule("Deny", [all_namespaces()], name="anp-deny")]),
        cnp("c", "Admin", 6, ingress=[rule("Accept", [all_namespaces()], name="cnp-accept")]),
    )
    assert path(verdict(s)) == "Admin: anp/a rule anp-deny Deny"
    s2 = snap(
        banp(ingress=[rule("Deny", [all_namespaces()], name="banp-deny")]),
        cnp("c", "Baseline", 1000, ingress=[rule("Accept", [all_namespaces()], name="cnp-accept")]),
    )
    assert verdict(s2).allowed


# ------------------------------------------------------------- subjects


def test_subject_namespaces_and_pods() -> None:
    by_ns = cnp(
        "p",
        "Admin",
        1,
        subject={"namespaces": labels(team="db")},
        ingress=[rule("Deny", [all_namespaces()])],
    )
    assert not verdict(snap(by_ns)).allowed
    assert verdict(snap(by_ns), src="db/pg", dst="web/fe", port=8080).allowed
    by_pod = cnp(
        "p",
        "Admin",
        1,
        subject={
            "pods": {"namespaceSelector": labels(team="web"), "podSelector": labels(app="fe2")}
        },
        ingress=[rule("Deny", [all_namespaces()])],
    )
    assert not verdict(snap(by_pod), src="db/pg", dst="web/fe2", port=80).allowed
    assert verdict(snap(by_pod), src="db/pg", dst="web/fe", port=8080).allowed


def test_host_network_pods_are_never_subjects() -> None:
    s = snap(
        cnp("p", "Admin", 1, subject={"namespaces": {}}, ingress=[rule("Deny", [all_namespaces()])])
    )
    v = verdict(s, src="web/fe", dst="kube-system/node-agent", port=10250)
    assert v.allowed
    assert "host-network pods are never subjects" in path(v)


def test_egress_is_evaluated_at_the_source_with_its_own_chain() -> None:
    s = snap(
        cnp(
            "p",
            "Admin",
            1,
            subject={"namespaces": labels(team="web")},
            egress=[rule("Deny", [ns_peer("db")], name="no-db")],
        )
    )
    v = verdict(s)
    assert not v.allowed
    assert path(v, "egress") == "Admin: cnp/p rule no-db Deny"
    assert v.ingress.allowed


# ------------------------------------------------------------- peers


def test_pods_peer_needs_namespace_and_pod_labels() -> None:
    s = snap(cnp("p", "Admin", 1, ingress=[rule("Deny", [pods_peer("web", {"app": "fe"})])]))
    assert not verdict(s).allowed
    assert verdict(s, src="web/fe2").allowed


def test_namespaces_and_pods_peers_never_match_host_network_pods() -> None:
    s = snap(cnp("p", "Admin", 1, ingress=[rule("Deny", [all_namespaces()], name="d")]))
    v = verdict(s, src="kube-system/node-agent", dst="db/pg")
    assert v.allowed
    rules = v.ingress.tiers.steps[0].policies[0].rules  # type: ignore[union-attr]
    assert rules[0].peers[0].reasons[0].code == "host-network"


def test_networks_peer_matches_by_address_and_catches_pods() -> None:
    s = snap(
        cnp(
            "p",
            "Admin",
            1,
            subject={"namespaces": labels(team="web")},
            egress=[rule("Deny", [{"networks": ["0.0.0.0/0"]}], name="all")],
        )
    )
    v = verdict(s)
    assert not v.allowed  # 0.0.0.0/0 catches pod-to-pod traffic too
    narrow = snap(
        cnp(
            "p",
            "Admin",
            1,
            subject={"namespaces": labels(team="web")},
            egress=[rule("Deny", [{"networks": ["10.0.3.0/24"]}])],
        )
    )
    assert verdict(narrow).allowed
    assert not verdict(narrow, dst="mon/prom", port=9090).allowed
    assert not only(ask(narrow, "web/fe", "10.0.3.77", 443)).allowed


def test_nodes_peer_matches_known_node_addresses_only() -> None:
    s = snap(
        cnp(
            "p",
            "Admin",
            1,
            subject={"namespaces": labels(team="web")},
            egress=[rule("Deny", [{"nodes": {}}], name="no-nodes")],
        )
    )
    assert not only(ask(s, "web/fe", "192.168.0.10", 10250)).allowed
    assert verdict(s).allowed  # a pod address is no node address


def test_nodes_peer_with_labels_cannot_be_decided_and_says_so() -> None:
    s = snap(
        cnp(
            "p",
            "Admin",
            1,
            subject={"namespaces": labels(team="web")},
            egress=[
                rule("Accept", [{"nodes": labels(role="infra")}], name="infra"),
                rule("Deny", [{"networks": ["0.0.0.0/0"]}], name="rest"),
            ],
        )
    )
    v = only(ask(s, "web/fe", "192.168.0.10", 10250))
    assert not v.allowed
    assert any(
        "cannot be evaluated statically" in w.text and "no node labels" in w.text
        for w in v.warnings
    )


def test_domain_names_cannot_be_decided_and_say_so() -> None:
    s = snap(
        cnp(
            "p",
            "Admin",
            1,
            subject={"namespaces": labels(team="web")},
            egress=[
                rule("Accept", [{"domainNames": ["*.example.com"]}], name="ext"),
                rule("Deny", [{"networks": ["0.0.0.0/0"]}], name="rest"),
            ],
        )
    )
    v = only(ask(s, "web/fe", "93.184.216.34", 443))
    assert not v.allowed
    assert any(
        "domainNames *.example.com cannot be evaluated statically" in w.text for w in v.warnings
    )


@pytest.mark.parametrize(
    ("action", "decider", "first"),
    [
        # Accept: the peer matches nothing; the admin tier has nothing to say.
        ("Accept", "Baseline", "Admin: none of the 1 ingress rule(s) of cnp/p matches"),
        # Deny: "treat the rule as a 'Deny all' rule".
        ("Deny", "Admin", "Admin: cnp/p rule odd Deny"),
        # Pass: passes all traffic on to the next tier.
        ("Pass", "Baseline", "Admin: cnp/p rule odd Pass"),
    ],
)
def test_unknown_peer_fails_closed(action: str, decider: str, first: str) -> None:
    base = cnp("base", "Baseline", 1, ingress=[rule("Deny", [ns_peer("mon")], name="no-mon")])
    s = snap(cnp("p", "Admin", 1, ingress=[rule(action, [{}], name="odd")]), base)
    v = verdict(s, src="mon/prom")
    assert not v.allowed
    assert decided(v) == (decider, False)
    assert path(v).split(" → ")[0] == first
    # From web (no baseline deny) only the Deny rule still denies.
    assert verdict(s).allowed is (action != "Deny")


# ------------------------------------------------------------- ports


def test_port_number_range_and_protocol() -> None:
    s = snap(
        cnp("p", "Admin", 1, ingress=[rule("Deny", [all_namespaces()], protocols=[tcp(5432)])])
    )
    assert not verdict(s).allowed
    assert verdict(s, port=5433).allowed
    assert verdict(s, port=5432, proto="UDP").allowed
    r = snap(
        cnp(
            "p",
            "Admin",
            1,
            ingress=[rule("Deny", [all_namespaces()], protocols=[proto_range("tcp", 5000, 6000)])],
        )
    )
    assert not verdict(r, port=5000).allowed and not verdict(r, port=6000).allowed
    assert verdict(r, port=6001).allowed


def test_sctp() -> None:
    s = snap(
        cnp(
            "p",
            "Admin",
            1,
            ingress=[
                rule(
                    "Deny",
                    [all_namespaces()],
                    protocols=[{"sctp": {"destinationPort": {"number": 7000}}}],
                )
            ],
        )
    )
    assert not verdict(s, port=7000, proto="SCTP").allowed
    assert verdict(s, port=7000, proto="TCP").allowed


def test_named_ports_resolve_on_the_destination_pod() -> None:
    s = snap(
        cnp(
            "p",
            "Admin",
            1,
            ingress=[rule("Deny", [all_namespaces()], protocols=[{"destinationNamedPort": "sql"}])],
        )
    )
    assert not verdict(s, port=5432).allowed
    assert not verdict(s, port="sql").allowed
    v = verdict(s, dst="mon/prom", port=5432)
    assert v.allowed  # prom has no port named sql
    a = snap(anp("a", 1, ingress=[rule("Deny", [all_namespaces()], ports=[{"namedPort": "sig"}])]))
    assert not verdict(a, port=7000, proto="SCTP").allowed
    assert verdict(a, port=7000, proto="TCP").allowed


def test_anp_port_forms() -> None:
    s = snap(
        anp(
            "a",
            1,
            ingress=[
                rule("Deny", [all_namespaces()], ports=[{"portNumber": {"port": 5432}}]),
                rule(
                    "Deny",
                    [all_namespaces()],
                    ports=[{"portRange": {"protocol": "UDP", "start": 50, "end": 60}}],
                ),
            ],
        )
    )
    assert not verdict(s, port=5432).allowed
    assert not verdict(s, port=55, proto="UDP").allowed
    assert verdict(s, port=55).allowed


# ------------------------------------------------------------- with NetworkPolicy isolation


def test_networkpolicy_egress_isolation_and_admin_ingress_accept() -> None:
    # The source is isolated for egress by a NetworkPolicy that allows nothing: the Admin
    # Accept at the destination's ingress does not help the source's egress.
    s = snap(
        netpol("web", "no-egress", {}, egress=[], policy_types=["Egress"]),
        cnp(
            "p",
            "Admin",
            1,
            subject={"namespaces": labels(team="db")},
            ingress=[rule("Accept", [all_namespaces()])],
        ),
    )
    v = verdict(s)
    assert not v.allowed
    assert not v.egress.allowed and v.ingress.allowed
    # An Admin Accept on the egress side overrides the source's NetworkPolicy.
    s2 = snap(
        netpol("web", "no-egress", {}, egress=[], policy_types=["Egress"]),
        cnp(
            "p",
            "Admin",
            1,
            subject={"namespaces": labels(team="web")},
            egress=[rule("Accept", [ns_peer("db")])],
        ),
    )
    assert verdict(s2).allowed


def test_baseline_deny_applies_to_the_side_no_networkpolicy_selects() -> None:
    # Ingress at pg is allowed by a NetworkPolicy; egress at fe has none, so the baseline's
    # egress deny decides that side.
    s = snap(ALLOW_PG, banp(egress=[rule("Deny", [all_namespaces()], name="no-out")]))
    v = verdict(s)
    assert not v.allowed
    assert decided(v, "egress") == ("Baseline", False)
    assert decided(v, "ingress") == ("NetworkPolicy", True)


def test_service_flows_walk_the_tiers_per_backend() -> None:
    from tests.engine_builders import svc

    s = snap(
        svc("db", "pg", {"app": "pg"}, [{"port": 5432, "targetPort": "sql"}]),
        cnp("p", "Admin", 1, ingress=[rule("Deny", [ns_peer("web")], name="no-web")]),
    )
    e = ask(s, "web/fe", "db/svc/pg", 5432)
    assert not e.allowed
    assert path(e.verdicts[0]) == "Admin: cnp/p rule no-web Deny"


# ------------------------------------------------------------- CLI: JSON shape


def test_explain_flows_batch_keeps_its_shape_and_adds_tiers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from triage.cli import main

    docs = [
        *BASE,
        ALLOW_PG,
        cnp("sec", "Admin", 10, ingress=[rule("Deny", [ns_peer("web")], name="no-web")]),
    ]
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "c.yaml").write_text(yaml.safe_dump_all(docs))
    flows = tmp_path / "flows.yaml"
    flows.write_text(
        yaml.safe_dump(
            [
                {"from": "web/fe", "to": "db/pg", "port": 5432},
                {"from": "mon/prom", "to": "db/pg", "port": 5432},
            ]
        )
    )
    assert (
        main(
            [
                "explain",
                "--manifests",
                str(tmp_path / "m"),
                "--flows",
                str(flows),
                "--output",
                "json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert [d["allowed"] for d in out] == [False, False]
    first = out[0]
    assert first["tiers"]["ingress"]["decided_by"] == "Admin"
    assert first["tiers"]["ingress"]["path"] == "Admin: cnp/sec rule no-web Deny"
    assert (
        first["tiers"]["ingress"]["steps"][0]["peer"]
        == "namespaces kubernetes.io/metadata.name=web"
    )
    assert first["ingress"]["tiers"]["decided_by"] == "Admin"
    second = out[1]
    assert second["tiers"]["ingress"]["decided_by"] == "NetworkPolicy"
