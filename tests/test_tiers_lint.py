"""Lint findings for the admin tiers: each check on a cluster made to trip it, and quiet
on one that does not."""

from __future__ import annotations

from typing import Any

from tests.admin_builders import all_namespaces, cnp, ns_peer, pods_peer, rule, tcp
from tests.engine_builders import cluster, netpol, ns, pod
from triage.policy.lint import Finding, lint

BASE: list[dict[str, Any]] = [
    ns("kube-system"),
    ns("web"),
    ns("db"),
    pod(
        "kube-system",
        "coredns",
        {"k8s-app": "kube-dns"},
        ip="10.0.0.53",
        ports=[("dns", 53, "UDP")],
    ),
    pod("kube-system", "node", {"app": "node"}, ip="192.168.0.10", host_network=True),
    pod("web", "fe", {"app": "fe"}, ip="10.0.1.1", ports=[("http", 8080, "TCP")]),
    pod("db", "pg", {"app": "pg"}, ip="10.0.2.1", ports=[("sql", 5432, "TCP")]),
]


def tier(*docs: dict[str, Any]) -> list[Finding]:
    report = lint(cluster(*BASE, *docs))
    return [f for f in report.findings if f.code.startswith("tier-")]


def codes(findings: list[Finding]) -> list[tuple[str, str | None, int | None]]:
    return [(f.code, f.policy, f.rule) for f in findings]


def test_priority_tie_is_medium_when_subjects_overlap() -> None:
    found = tier(
        cnp("a", "Admin", 5, ingress=[rule("Deny", [ns_peer("web")])]), cnp("b", "Admin", 5)
    )
    ties = [f for f in found if f.code == "tier-priority-tie"]
    assert [(f.policy, f.severity) for f in ties] == [("cnp/b", "medium")]
    assert ties[0].title == "Admin tier priority 5 is shared by cnp/a, cnp/b"
    assert not [
        f for f in tier(cnp("a", "Admin", 5), cnp("b", "Admin", 6)) if f.code == "tier-priority-tie"
    ]


def test_networks_all_addresses_catch_pods() -> None:
    found = tier(
        cnp(
            "egress",
            "Admin",
            1,
            subject={"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": "web"}}},
            egress=[rule("Deny", [{"networks": ["0.0.0.0/0"]}], name="no-internet")],
        )
    )
    nets = [f for f in found if f.code == "tier-networks-pods"]
    assert len(nets) == 1
    assert nets[0].severity == "high"
    assert (
        nets[0].title == "networks 0.0.0.0/0 also matches pod traffic (3 pod(s))"
    )  # not the host-network one
    quiet = tier(
        cnp("egress", "Admin", 1, egress=[rule("Deny", [{"networks": ["203.0.113.0/24"]}])])
    )
    assert not [f for f in quiet if f.code == "tier-networks-pods"]


def test_admin_deny_cutting_dns() -> None:
    found = tier(
        cnp(
            "lock",
            "Admin",
            1,
            subject={"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": "web"}}},
            egress=[rule("Deny", [all_namespaces()], name="lockdown")],
        )
    )
    dns = [f for f in found if f.code == "tier-cuts-dns"]
    assert [(f.policy, f.severity) for f in dns] == [("cnp/lock", "high")]
    assert "lockdown" in dns[0].title
    # Accepting DNS first keeps it working.
    fixed = tier(
        cnp(
            "lock",
            "Admin",
            1,
            subject={"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": "web"}}},
            egress=[
                rule(
                    "Accept",
                    [ns_peer("kube-system")],
                    name="dns",
                    protocols=[{"udp": {"destinationPort": {"number": 53}}}],
                ),
                rule("Deny", [all_namespaces()], name="lockdown"),
            ],
        )
    )
    assert not [f for f in fixed if f.code == "tier-cuts-dns"]


def test_fail_closed_admin_deny_cuts_kubelet_probes() -> None:
    found = tier(
        cnp(
            "odd",
            "Admin",
            1,
            subject={"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": "db"}}},
            ingress=[rule("Deny", [{}], name="typo")],
        )
    )
    kubelet = [f for f in found if f.code == "tier-cuts-kubelet"]
    assert [(f.policy, f.direction) for f in kubelet] == [("cnp/odd", "Ingress")]
    # A Deny with real peers never matches the node address.
    assert not [
        f
        for f in tier(cnp("ok", "Admin", 1, ingress=[rule("Deny", [all_namespaces()])]))
        if f.code == "tier-cuts-kubelet"
    ]


def test_pass_that_nothing_below_decides() -> None:
    found = tier(
        cnp(
            "p",
            "Admin",
            1,
            subject={"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": "db"}}},
            ingress=[rule("Pass", [ns_peer("web")], name="to-owners")],
        )
    )
    assert codes([f for f in found if f.code == "tier-pass-undecided"]) == [
        ("tier-pass-undecided", "cnp/p", 0)
    ]
    # With a NetworkPolicy isolating the pods, the Pass has a decider.
    decided = tier(
        netpol("db", "owners", {}, ingress=[{"from": [{"namespaceSelector": {}}]}]),
        cnp(
            "p",
            "Admin",
            1,
            subject={"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": "db"}}},
            ingress=[rule("Pass", [ns_peer("web")])],
        ),
    )
    assert not [f for f in decided if f.code == "tier-pass-undecided"]


def test_rule_shadowed_by_a_higher_priority_policy() -> None:
    found = tier(
        cnp("first", "Admin", 1, ingress=[rule("Deny", [all_namespaces()], name="deny-all")]),
        cnp(
            "later",
            "Admin",
            2,
            ingress=[
                rule("Accept", [pods_peer("web", {"app": "fe"})], name="fe", protocols=[tcp(5432)])
            ],
        ),
    )
    shadow = [f for f in found if f.code == "tier-shadowed-rule"]
    assert [(f.policy, f.rule, f.severity) for f in shadow] == [("cnp/later", 0, "medium")]
    assert "shadowed by cnp/first (priority 1) rule deny-all (Deny)" in shadow[0].title
    # The other way round nothing is shadowed: the narrow rule comes first.
    flipped = tier(
        cnp(
            "first",
            "Admin",
            1,
            ingress=[rule("Accept", [pods_peer("web", {"app": "fe"})], protocols=[tcp(5432)])],
        ),
        cnp("later", "Admin", 2, ingress=[rule("Deny", [all_namespaces()])]),
    )
    assert not [f for f in flipped if f.code == "tier-shadowed-rule"]
