"""Nearest miss: for a denied flow, the rule that came closest and exactly what it lacks."""

from __future__ import annotations

from tests.engine_builders import ask, cluster, labels, netpol, ns, pod
from triage.model import Snapshot

BASE = (
    ns("app", {"team": "shop"}),
    ns("other", {"team": "ops"}),
    pod("app", "server", {"app": "server"}, ip="10.1.0.1", ports=[("http", 8080, "TCP")]),
    pod("other", "client", {"app": "client", "tier": "web"}, ip="10.2.0.1"),
)


def snap(*policies: dict[str, object]) -> Snapshot:
    return cluster(*BASE, *policies)  # type: ignore[arg-type]


def miss(snapshot: Snapshot, port: int = 8080, proto: str = "TCP") -> tuple[str, int, list[str]]:
    v = ask(snapshot, "other/client", "app/server", port, proto).primary
    assert v is not None and not v.allowed and v.nearest_miss is not None
    return v.nearest_miss.policy, v.nearest_miss.rule, [r.code for r in v.nearest_miss.missing]


def test_one_label_value_is_nearer_than_a_foreign_namespace() -> None:
    # Rule 0 would match the client's labels, but only pods of namespace app; rule 1 has
    # the right namespace and misses one label value.
    s = snap(
        netpol(
            "app",
            "p",
            labels(app="server"),
            ingress=[
                {"from": [{"podSelector": labels(app="client")}]},
                {
                    "from": [
                        {"namespaceSelector": labels(team="ops"), "podSelector": labels(app="cli")}
                    ]
                },
            ],
        )
    )
    assert miss(s) == ("app/p", 1, ["label-value"])


def test_fewer_failed_terms_win() -> None:
    s = snap(
        netpol(
            "app",
            "p",
            labels(app="server"),
            ingress=[
                {"from": [{"namespaceSelector": {}, "podSelector": labels(app="x", tier="y")}]},
                {"from": [{"namespaceSelector": {}, "podSelector": labels(app="x", tier="web")}]},
            ],
        )
    )
    assert miss(s) == ("app/p", 1, ["label-value"])


def test_the_closest_peer_and_port_of_a_rule_are_reported() -> None:
    s = snap(
        netpol(
            "app",
            "p",
            labels(app="server"),
            ingress=[
                {
                    "from": [
                        {"ipBlock": {"cidr": "192.168.0.0/16"}},
                        {"namespaceSelector": {}, "podSelector": labels(tier="db")},
                    ],
                    "ports": [{"protocol": "UDP", "port": 8080}, {"port": 80}],
                }
            ],
        )
    )
    v = ask(s, "other/client", "app/server", 8080).primary
    assert v is not None and v.nearest_miss is not None
    assert [r.text for r in v.nearest_miss.missing] == [
        "source label tier=web is not tier=db",
        "port 8080 is not 80",
    ]


def test_ties_are_broken_by_policy_name_not_load_order() -> None:
    a = netpol("app", "a-first", labels(app="server"), ingress=[{"ports": [{"port": 80}]}])
    b = netpol("app", "b-second", labels(app="server"), ingress=[{"ports": [{"port": 81}]}])
    assert miss(snap(a, b))[0] == "app/a-first"
    assert miss(snap(b, a))[0] == "app/a-first"


def test_a_policy_without_rules_has_no_nearest_miss() -> None:
    s = snap(netpol("app", "deny", {}, policy_types=["Ingress"]))
    v = ask(s, "other/client", "app/server", 8080).primary
    assert v is not None and not v.allowed and v.nearest_miss is None


def test_the_allowed_side_is_never_the_nearest_miss() -> None:
    s = snap(
        netpol("app", "in", labels(app="server"), ingress=[{"ports": [{"port": 80}]}]),
        netpol(
            "other",
            "out",
            labels(app="client"),
            policy_types=["Egress"],
            egress=[{"to": [{"namespaceSelector": {}}], "ports": [{"port": 8080}]}],
        ),
    )
    assert miss(s) == ("app/in", 0, ["port"])
