"""Every rule of docs/architecture.md "NetworkPolicy semantics", each with concrete verdicts
and the reasons (codes and texts) the trace gives."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine_builders import ask, cluster, codes, labels, netpol, ns, only, pod, svc
from triage.model import Snapshot
from triage.policy import explanation_to_dict, policies_selecting
from triage.policy.describe import side_summary

# ------------------------------------------------------------------ a small world

BASE: list[dict[str, Any]] = [
    ns("app", {"team": "shop"}),
    ns("other", {"team": "ops"}),
    pod("app", "a", {"app": "a"}, ip="10.1.0.1", ports=[("http", 8080, "TCP")]),
    pod("app", "b", {"app": "b"}, ip="10.1.0.2", ports=[("http", 8080, "TCP")]),
    pod("app", "c", {"app": "c", "role": "x"}, ip="10.1.0.3"),
    pod("other", "a", {"app": "a"}, ip="10.2.0.1"),
    pod("other", "z", {"app": "z"}, ip="10.2.0.9"),
]


def world(*policies: dict[str, Any], extra: tuple[dict[str, Any], ...] = ()) -> Snapshot:
    return cluster(*BASE, *extra, *policies)


def allowed(
    snapshot: Snapshot, src: str, dst: str, port: int | str = 8080, proto: str = "TCP"
) -> bool:
    return ask(snapshot, src, dst, port, proto).allowed


# ------------------------------------------------------------------ isolation


def test_no_policy_allows_everything_and_says_not_isolated() -> None:
    v = only(ask(world(), "app/a", "app/b", 8080))
    assert v.allowed
    assert (v.egress.isolated, v.ingress.isolated) == (False, False)
    assert side_summary(v.egress) == (
        "no policy selects app/a for Egress: it is not isolated for egress, so all egress "
        "is allowed"
    )
    assert side_summary(v.ingress) == (
        "no policy selects app/b for Ingress: it is not isolated for ingress, so all ingress "
        "is allowed"
    )
    assert v.nearest_miss is None


def test_isolation_is_per_direction() -> None:
    snap = world(netpol("app", "deny-b-in", labels(app="b"), policy_types=["Ingress"]))
    into_b = only(ask(snap, "app/a", "app/b", 8080))
    assert not into_b.allowed
    assert into_b.egress.allowed and not into_b.egress.isolated
    assert into_b.ingress.isolated and not into_b.ingress.allowed
    assert side_summary(into_b.ingress) == (
        "app/b is isolated for ingress by deny-b-in (podSelector app=b), which allow no "
        "ingress at all (default deny)"
    )
    # b's own egress is not isolated by an Ingress policy.
    out_of_b = only(ask(snap, "app/b", "app/a", 8080))
    assert out_of_b.allowed and not out_of_b.egress.isolated
    # Pods the policy does not select are untouched.
    assert allowed(snap, "app/a", "app/c")


def test_policy_types_absent_means_ingress_only_without_egress_rules() -> None:
    snap = world(netpol("app", "p", labels(app="b"), ingress=[]))
    sel = policies_selecting(snap, snap.pod("app", "b"))  # type: ignore[arg-type]
    assert [p.name for p in sel["Ingress"]] == ["p"]
    assert sel["Egress"] == []
    assert snap.policy_by_key["app/p"].policy_types == ("Ingress",)
    assert not allowed(snap, "app/a", "app/b")
    assert allowed(snap, "app/b", "app/a")


def test_policy_types_absent_with_egress_rules_isolates_both_directions() -> None:
    # The surprise: a policy written only for egress, without policyTypes, also isolates
    # ingress (Ingress is always implied) and has no ingress rule.
    snap = world(
        netpol("app", "p", labels(app="b"), egress=[{"to": [{"podSelector": labels(app="a")}]}])
    )
    assert snap.policy_by_key["app/p"].policy_types == ("Egress", "Ingress")
    assert allowed(snap, "app/b", "app/a")
    assert not allowed(snap, "app/b", "app/c")
    v = only(ask(snap, "app/a", "app/b", 8080))
    assert not v.allowed and v.ingress.isolated and not v.ingress.allowed


def test_empty_egress_list_without_policy_types_adds_no_egress() -> None:
    # The API server's defaulting looks at len(spec.egress): `egress: []` is no egress.
    snap = world(netpol("app", "p", labels(app="b"), egress=[]))
    assert snap.policy_by_key["app/p"].policy_types == ("Ingress",)
    assert allowed(snap, "app/b", "app/a")


def test_empty_policy_types_list_is_defaulted() -> None:
    snap = world(netpol("app", "p", labels(app="b"), policy_types=[]))
    assert snap.policy_by_key["app/p"].policy_types == ("Ingress",)


def test_explicit_egress_type_ignores_ingress_rules_and_leaves_ingress_open() -> None:
    snap = world(
        netpol("app", "p", labels(app="b"), policy_types=["Egress"], ingress=[{}], egress=[])
    )
    assert snap.policy_by_key["app/p"].policy_types == ("Egress",)
    assert allowed(snap, "app/a", "app/b")  # ingress not isolated
    v = only(ask(snap, "app/b", "app/a", 8080))
    assert not v.allowed and v.egress.isolated
    assert side_summary(v.egress).endswith("which allow no egress at all (default deny)")


def test_both_sides_must_allow() -> None:
    snap = world(
        netpol(
            "app",
            "a-out",
            labels(app="a"),
            egress=[{"to": [{"podSelector": labels(app="b")}]}],
            policy_types=["Egress"],
        ),
        netpol(
            "app", "b-in", labels(app="b"), ingress=[{"from": [{"podSelector": labels(app="c")}]}]
        ),
    )
    v = only(ask(snap, "app/a", "app/b", 8080))
    assert v.egress.allowed and not v.ingress.allowed and not v.allowed
    assert v.nearest_miss is not None and v.nearest_miss.direction == "Ingress"


# ------------------------------------------------------------------ union


def test_policies_are_a_union() -> None:
    snap = world(
        netpol(
            "app", "from-a", labels(app="b"), ingress=[{"from": [{"podSelector": labels(app="a")}]}]
        ),
        netpol(
            "app", "from-c", labels(app="b"), ingress=[{"from": [{"podSelector": labels(app="c")}]}]
        ),
        netpol("app", "deny-all", {}, policy_types=["Ingress"]),
    )
    va = only(ask(snap, "app/a", "app/b", 8080))
    assert va.allowed
    assert va.ingress.decision is not None
    assert (va.ingress.decision.policy, va.ingress.decision.rule) == ("app/from-a", 0)
    vc = only(ask(snap, "app/c", "app/b", 8080))
    assert vc.allowed and vc.ingress.decision.policy == "app/from-c"  # type: ignore[union-attr]
    # Every selecting policy is in the trace, by name, whatever the input order.
    assert [p.name for p in va.ingress.policies] == ["deny-all", "from-a", "from-c"]
    assert not allowed(snap, "other/z", "app/b")


def test_rule_needs_peer_and_port() -> None:
    snap = world(
        netpol(
            "app",
            "p",
            labels(app="b"),
            ingress=[{"from": [{"podSelector": labels(app="a")}], "ports": [{"port": 8080}]}],
        )
    )
    assert allowed(snap, "app/a", "app/b", 8080)
    v = only(ask(snap, "app/a", "app/b", 9090))
    assert not v.allowed
    rule = v.ingress.policies[0].rules[0]
    assert (rule.peer_matched, rule.port_matched) == (True, False)
    assert rule.ports[0].reason.text == "port 9090 is not 8080"  # type: ignore[union-attr]
    v2 = only(ask(snap, "app/c", "app/b", 8080))
    assert (
        v2.ingress.policies[0].rules[0].peer_matched,
        v2.ingress.policies[0].rules[0].port_matched,
    ) == (False, True)


# ------------------------------------------------------------------ peers


def test_pod_selector_alone_means_own_namespace() -> None:
    snap = world(
        netpol("app", "p", labels(app="b"), ingress=[{"from": [{"podSelector": labels(app="a")}]}])
    )
    assert allowed(snap, "app/a", "app/b")
    v = only(ask(snap, "other/a", "app/b", 8080))  # same label, other namespace
    assert not v.allowed
    (reason,) = v.ingress.policies[0].rules[0].peers[0].reasons
    assert reason.code == "namespace-not-own"
    assert reason.text == (
        "source is in namespace other; a podSelector without namespaceSelector only selects "
        "pods of namespace app"
    )


def test_namespace_selector_alone_means_every_pod_of_those_namespaces() -> None:
    snap = world(
        netpol(
            "app",
            "p",
            labels(app="b"),
            ingress=[{"from": [{"namespaceSelector": labels(team="ops")}]}],
        )
    )
    assert allowed(snap, "other/a", "app/b")
    assert allowed(snap, "other/z", "app/b")
    v = only(ask(snap, "app/a", "app/b", 8080))
    assert not v.allowed
    (reason,) = v.ingress.policies[0].rules[0].peers[0].reasons
    assert (reason.code, reason.subject) == ("label-value", "namespace app")
    assert reason.text == "namespace app label team=shop is not team=ops"


def test_pod_and_namespace_selector_in_one_peer_is_and() -> None:
    peer = {"namespaceSelector": labels(team="ops"), "podSelector": labels(app="a")}
    snap = world(netpol("app", "p", labels(app="b"), ingress=[{"from": [peer]}]))
    assert allowed(snap, "other/a", "app/b")
    # Right namespace, wrong pod.
    v = only(ask(snap, "other/z", "app/b", 8080))
    assert not v.allowed
    assert [r.text for r in v.ingress.policies[0].rules[0].peers[0].reasons] == [
        "source label app=z is not app=a"
    ]
    # Right pod labels, wrong namespace (the pod's own namespace does not count here).
    v = only(ask(snap, "app/a", "app/b", 8080))
    assert not v.allowed
    assert [r.text for r in v.ingress.policies[0].rules[0].peers[0].reasons] == [
        "namespace app label team=shop is not team=ops"
    ]
    assert v.ingress.policies[0].rules[0].peers[0].description == (
        "namespaceSelector team=ops AND podSelector app=a"
    )


def test_two_peers_are_or() -> None:
    peers = [{"namespaceSelector": labels(team="ops")}, {"podSelector": labels(app="a")}]
    snap = world(netpol("app", "p", labels(app="b"), ingress=[{"from": peers}]))
    assert allowed(snap, "other/z", "app/b")  # first peer
    assert allowed(snap, "app/a", "app/b")  # second peer
    v = only(ask(snap, "app/c", "app/b", 8080))
    assert not v.allowed
    peer_traces = v.ingress.policies[0].rules[0].peers
    assert [p.matched for p in peer_traces] == [False, False]
    assert [r.code for p in peer_traces for r in p.reasons] == ["label-value", "label-value"]


def test_empty_pod_selector_selects_all_pods_of_own_namespace() -> None:
    snap = world(netpol("app", "p", labels(app="b"), ingress=[{"from": [{"podSelector": {}}]}]))
    assert allowed(snap, "app/a", "app/b") and allowed(snap, "app/c", "app/b")
    assert not allowed(snap, "other/a", "app/b")
    assert not allowed(snap, "192.0.2.1", "app/b")


def test_empty_namespace_selector_selects_all_pods_of_all_namespaces_but_no_ip() -> None:
    snap = world(
        netpol("app", "p", labels(app="b"), ingress=[{"from": [{"namespaceSelector": {}}]}])
    )
    assert allowed(snap, "app/a", "app/b") and allowed(snap, "other/z", "app/b")
    v = only(ask(snap, "192.0.2.1", "app/b", 8080))
    assert not v.allowed
    (reason,) = v.ingress.policies[0].rules[0].peers[0].reasons
    assert reason.code == "not-a-pod"
    assert reason.text == (
        "source 192.0.2.1 is not a pod of this cluster; pod and namespace selectors only match pods"
    )


@pytest.mark.parametrize("rule", [{}, {"from": []}, {"from": None}])
def test_rule_without_from_allows_every_peer_even_external(rule: dict[str, Any]) -> None:
    snap = world(netpol("app", "p", labels(app="b"), ingress=[rule]))
    assert allowed(snap, "other/z", "app/b") and allowed(snap, "192.0.2.1", "app/b", 1)


def test_empty_ingress_list_denies_all_but_empty_rule_allows_all() -> None:
    assert not allowed(world(netpol("app", "p", labels(app="b"), ingress=[])), "app/a", "app/b")
    assert allowed(world(netpol("app", "p", labels(app="b"), ingress=[{}])), "app/a", "app/b")


# ------------------------------------------------------------------ ipBlock

V4_BLOCK = {"ipBlock": {"cidr": "10.1.0.0/16", "except": ["10.1.0.2/32", "10.1.9.0/24"]}}


def test_ipblock_with_except_against_external_ips() -> None:
    snap = world(netpol("app", "p", labels(app="a"), ingress=[{"from": [V4_BLOCK]}]))
    assert allowed(snap, "10.1.200.7", "app/a")
    v = only(ask(snap, "10.1.9.9", "app/a", 8080))
    assert not v.allowed
    (reason,) = v.ingress.policies[0].rules[0].peers[0].reasons
    assert (reason.code, reason.text) == (
        "ip-in-except",
        "source IP 10.1.9.9 is inside 10.1.0.0/16 but in except 10.1.9.0/24",
    )
    v = only(ask(snap, "10.3.0.1", "app/a", 8080))
    (reason,) = v.ingress.policies[0].rules[0].peers[0].reasons
    assert (reason.code, reason.text) == (
        "ip-outside-cidr",
        "source IP 10.3.0.1 is outside 10.1.0.0/16",
    )
    assert v.ingress.policies[0].rules[0].peers[0].description == (
        "ipBlock 10.1.0.0/16 except 10.1.0.2/32, 10.1.9.0/24"
    )


def test_ipblock_matches_pod_ips_too() -> None:
    snap = world(netpol("app", "p", labels(app="a"), ingress=[{"from": [V4_BLOCK]}]))
    assert allowed(snap, "app/c", "app/a")  # 10.1.0.3 is inside
    v = only(ask(snap, "app/b", "app/a", 8080))  # 10.1.0.2 is excepted
    assert not v.allowed
    assert codes(v) == ["ip-in-except"]
    assert v.source.ip == "10.1.0.2"
    assert codes(only(ask(snap, "other/z", "app/a", 8080))) == ["ip-outside-cidr"]


def test_ipblock_egress_to_external_ip() -> None:
    snap = world(
        netpol(
            "app",
            "out",
            labels(app="a"),
            policy_types=["Egress"],
            egress=[{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}]}],
        )
    )
    v = only(ask(snap, "app/a", "93.184.216.34", 443))
    assert v.allowed and v.destination.kind == "external"
    assert not v.ingress.governed
    v = only(ask(snap, "app/a", "169.254.169.254", 80))
    assert not v.allowed and codes(v) == ["ip-in-except"]


IPV6_PODS = (
    pod("app", "v6", {"app": "v6"}, ips=["fd00::10"], ports=[("http", 8080, "TCP")]),
    pod("app", "dual", {"app": "dual"}, ips=["10.1.0.50", "fd00::50"]),
    pod("app", "v6-excepted", {"app": "v6x"}, ips=["fd00::1:5"]),
)


def test_ipblock_ipv6_with_except() -> None:
    block = {"ipBlock": {"cidr": "fd00::/64", "except": ["fd00::1:0/112"]}}
    snap = world(netpol("app", "p", labels(app="v6"), ingress=[{"from": [block]}]), extra=IPV6_PODS)
    assert allowed(snap, "fd00::abcd", "app/v6")
    assert allowed(snap, "fd00:0000::0099", "app/v6")  # any spelling of an address
    v = only(ask(snap, "fd00::1:7", "app/v6", 8080))
    (reason,) = v.ingress.policies[0].rules[0].peers[0].reasons
    assert (reason.code, reason.text) == (
        "ip-in-except",
        "source IP fd00::1:7 is inside fd00::/64 but in except fd00::1:0/112",
    )
    assert codes(only(ask(snap, "fd01::1", "app/v6", 8080))) == ["ip-outside-cidr"]
    # Pods by name: the connection uses the destination's family, IPv6 here.
    assert codes(only(ask(snap, "app/v6-excepted", "app/v6", 8080))) == ["ip-in-except"]
    dual = only(ask(snap, "app/dual", "app/v6", 8080))
    assert dual.allowed and dual.source.ip == "fd00::50"


def test_ipblock_family_mismatch_is_explained() -> None:
    block = {"ipBlock": {"cidr": "fd00::/64"}}
    snap = world(netpol("app", "p", labels(app="a"), ingress=[{"from": [block]}]))
    v = only(ask(snap, "app/c", "app/a", 8080))
    (reason,) = v.ingress.policies[0].rules[0].peers[0].reasons
    assert (reason.code, reason.text) == (
        "ip-outside-cidr",
        "source IP 10.1.0.3 is IPv4, fd00::/64 is IPv6",
    )


# ------------------------------------------------------------------ operators


@pytest.mark.parametrize(
    ("expression", "src_allowed"),
    [
        ({"key": "role", "operator": "In", "values": ["x", "y"]}, {"c": True, "a": False}),
        ({"key": "role", "operator": "NotIn", "values": ["x"]}, {"c": False, "a": True}),
        ({"key": "role", "operator": "Exists"}, {"c": True, "a": False}),
        ({"key": "role", "operator": "DoesNotExist"}, {"c": False, "a": True}),
    ],
)
def test_operators_in_a_peer(expression: dict[str, Any], src_allowed: dict[str, bool]) -> None:
    # app/c has role=x, app/a has no role label at all.
    peer = {"podSelector": {"matchExpressions": [expression]}}
    snap = world(netpol("app", "p", labels(app="b"), ingress=[{"from": [peer]}]))
    for name, expected in src_allowed.items():
        assert allowed(snap, f"app/{name}", "app/b") is expected, name


def test_operator_reasons_in_the_trace() -> None:
    peers = [
        {"podSelector": {"matchExpressions": [{"key": "role", "operator": "DoesNotExist"}]}},
        {
            "podSelector": {
                "matchExpressions": [{"key": "role", "operator": "NotIn", "values": ["x"]}]
            }
        },
    ]
    snap = world(netpol("app", "p", labels(app="b"), ingress=[{"from": peers}]))
    v = only(ask(snap, "app/c", "app/b", 8080))
    texts = [r.text for p in v.ingress.policies[0].rules[0].peers for r in p.reasons]
    assert texts == [
        "source has label role=x (selector requires it to be absent)",
        "source label role=x is excluded by NotIn [x]",
    ]
    assert codes(v) == ["label-present", "value-in"]


def test_not_in_in_the_policy_pod_selector_selects_pods_without_the_key() -> None:
    snap = world(
        netpol(
            "app",
            "p",
            {"matchExpressions": [{"key": "role", "operator": "NotIn", "values": ["x"]}]},
            ingress=[],
        )
    )
    # a and b have no role label: selected, so isolated. c has role=x: not selected.
    assert not allowed(snap, "other/z", "app/a")
    assert not allowed(snap, "other/z", "app/b")
    assert allowed(snap, "other/z", "app/c", 1)


# ------------------------------------------------------------------ ports and protocols

DNS_POD = pod(
    "other",
    "dns",
    {"app": "dns"},
    ip="10.2.0.53",
    ports=[("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("sig", 2905, "SCTP")],
)


def test_protocols_tcp_udp_sctp() -> None:
    snap = world(
        netpol(
            "other",
            "p",
            labels(app="dns"),
            ingress=[
                {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "SCTP", "port": 2905}]}
            ],
        ),
        extra=(DNS_POD,),
    )
    assert allowed(snap, "app/a", "other/dns", 53, "UDP")
    assert allowed(snap, "app/a", "other/dns", 2905, "SCTP")
    v = only(ask(snap, "app/a", "other/dns", 53, "TCP"))
    assert not v.allowed
    port_traces = v.ingress.policies[0].rules[0].ports
    assert [p.reason.text for p in port_traces] == [  # type: ignore[union-attr]
        "rule allows UDP, flow is TCP",
        "rule allows SCTP, flow is TCP",
    ]
    assert codes(v) == ["protocol", "protocol"]


def test_protocol_defaults_to_tcp() -> None:
    snap = world(
        netpol("other", "p", labels(app="dns"), ingress=[{"ports": [{"port": 53}]}]),
        extra=(DNS_POD,),
    )
    assert allowed(snap, "app/a", "other/dns", 53, "TCP")
    assert not allowed(snap, "app/a", "other/dns", 53, "UDP")


def test_port_without_number_allows_every_port_of_its_protocol() -> None:
    snap = world(
        netpol("other", "p", labels(app="dns"), ingress=[{"ports": [{"protocol": "UDP"}]}]),
        extra=(DNS_POD,),
    )
    assert allowed(snap, "app/a", "other/dns", 53, "UDP")
    assert allowed(snap, "app/a", "other/dns", 5353, "UDP")
    assert not allowed(snap, "app/a", "other/dns", 53, "TCP")


def test_named_port_resolved_on_the_destination_for_ingress() -> None:
    snap = world(netpol("app", "p", labels(app="b"), ingress=[{"ports": [{"port": "http"}]}]))
    v = only(ask(snap, "app/a", "app/b", 8080))
    assert v.allowed
    assert v.ingress.policies[0].rules[0].ports[0].description == "TCP http (= 8080)"
    v = only(ask(snap, "app/a", "app/b", 9090))
    (port_trace,) = v.ingress.policies[0].rules[0].ports
    assert (port_trace.reason.code, port_trace.reason.text) == (  # type: ignore[union-attr]
        "port",
        "named port http is 8080/TCP on the destination, the flow uses 9090",
    )


def test_named_port_the_destination_does_not_declare() -> None:
    snap = world(netpol("app", "p", labels(app="c"), ingress=[{"ports": [{"port": "http"}]}]))
    v = only(ask(snap, "app/a", "app/c", 8080))
    assert not v.allowed
    (port_trace,) = v.ingress.policies[0].rules[0].ports
    assert (port_trace.reason.code, port_trace.reason.text) == (  # type: ignore[union-attr]
        "named-port-unresolved",
        "destination has no container port named http (TCP); its ports: none declared",
    )


def test_named_port_needs_the_same_protocol() -> None:
    snap = world(
        netpol("other", "p", labels(app="dns"), ingress=[{"ports": [{"port": "dns"}]}]),
        extra=(DNS_POD,),
    )
    # `dns` is a UDP port; the rule's protocol defaults to TCP, so it never resolves.
    assert not allowed(snap, "app/a", "other/dns", 53, "TCP")
    assert codes(only(ask(snap, "app/a", "other/dns", 53, "TCP"))) == ["named-port-unresolved"]
    assert not allowed(snap, "app/a", "other/dns", 53, "UDP")


def test_named_port_in_an_egress_rule_is_resolved_on_the_destination_pod() -> None:
    # a's http is 8080; the destination dst-http's http is 9000. The egress rule of a says
    # `port: http`: it means 9000 when talking to dst-http.
    dst = pod("other", "dst-http", {"app": "dst"}, ip="10.2.0.7", ports=[("http", 9000, "TCP")])
    snap = world(
        netpol(
            "app",
            "out",
            labels(app="a"),
            policy_types=["Egress"],
            egress=[{"ports": [{"port": "http"}]}],
        ),
        extra=(dst,),
    )
    assert allowed(snap, "app/a", "other/dst-http", 9000)
    v = only(ask(snap, "app/a", "other/dst-http", 8080))
    assert not v.allowed
    assert v.egress.policies[0].rules[0].ports[0].reason.text == (  # type: ignore[union-attr]
        "named port http is 9000/TCP on the destination, the flow uses 8080"
    )
    # Toward an address outside the cluster, a name cannot be resolved.
    v = only(ask(snap, "app/a", "192.0.2.10", 8080))
    assert codes(v) == ["named-port-unresolved"]


def test_flow_given_by_port_name() -> None:
    snap = world(netpol("app", "p", labels(app="b"), ingress=[{"ports": [{"port": 8080}]}]))
    v = only(ask(snap, "app/a", "app/b", "http"))
    assert v.allowed and (v.port, v.port_name) == (8080, "http")
    v = only(ask(snap, "app/a", "app/c", "http"))
    assert not v.allowed
    assert v.blocked_by is not None and v.blocked_by.code == "named-port-unresolved"
    assert (
        v.blocked_by.text == "app/c has no container port named http/TCP (its ports: none declared)"
    )


def test_end_port_range() -> None:
    snap = world(
        netpol(
            "app", "p", labels(app="b"), ingress=[{"ports": [{"port": 32000, "endPort": 32768}]}]
        )
    )
    for port in (32000, 32500, 32768):
        assert allowed(snap, "app/a", "app/b", port), port
    for port in (31999, 32769):
        v = only(ask(snap, "app/a", "app/b", port))
        assert not v.allowed
        reason = v.ingress.policies[0].rules[0].ports[0].reason
        assert (reason.code, reason.text) == (  # type: ignore[union-attr]
            "port-range",
            f"port {port} is outside 32000-32768",
        )
    assert snap.policy_by_key["app/p"].ingress[0].ports[0].describe() == "TCP 32000-32768"


# ------------------------------------------------------------------ Services

SERVICE_WORLD = (
    pod("app", "web-1", {"app": "web"}, ip="10.1.1.1", ports=[("http", 8080, "TCP")]),
    pod("app", "web-2", {"app": "web"}, ip="10.1.1.2", ports=[("http", 8081, "TCP")]),
    svc(
        "app",
        "web",
        {"app": "web"},
        [{"name": "http", "port": 80, "targetPort": "http"}],
        "10.96.0.80",
    ),
    svc("app", "web-num", {"app": "web"}, [{"port": 80, "targetPort": 8080}]),
    svc("app", "manual", None, [{"port": 80}]),
    svc("app", "empty", {"app": "nobody"}, [{"port": 80}]),
)


def test_service_resolves_to_backends_and_named_target_port_per_pod() -> None:
    snap = world(
        netpol("app", "p", labels(app="web"), ingress=[{"ports": [{"port": 8080}]}]),
        extra=SERVICE_WORLD,
    )
    e = ask(snap, "app/a", "app/svc/web", 80)
    assert e.service is not None
    assert (e.service.service, e.service.port, e.service.target_port) == ("app/web", 80, "http")
    assert e.service.backends == ("app/web-1", "app/web-2")
    assert [(v.destination.name, v.port, v.allowed) for v in e.verdicts] == [
        ("app/web-1", 8080, True),
        ("app/web-2", 8081, False),
    ]
    assert not e.allowed
    assert e.primary is e.verdicts[1]
    assert [w.code for w in e.warnings] == ["service-partly-reachable"]
    assert e.warnings[0].text == (  # golden wording
        "only 1 of 2 backends of app/web are reachable: the connection works or fails "
        "depending on the backend chosen"
    )
    # A Service port may be named in the flow too.
    assert ask(snap, "app/a", "app/svc/web", "http").service.port == 80  # type: ignore[union-attr]


def test_service_cluster_ip_is_resolved_like_the_service() -> None:
    snap = world(extra=SERVICE_WORLD)
    e = ask(snap, "app/a", "10.96.0.80", 80)
    assert e.allowed and e.service is not None and e.service.service == "app/web"
    assert e.warnings[0].code == "cluster-ip" and e.warnings[0].subject == "app/web"
    assert "10.96.0.80 is the ClusterIP of Service app/web" in e.warnings[0].text


def test_service_problems_never_reach_policy() -> None:
    snap = world(extra=SERVICE_WORLD)
    e = ask(snap, "app/a", "app/svc/web", 443)
    assert not e.allowed and e.verdicts == ()
    assert e.problem is not None and e.problem.code == "service-port"
    assert e.problem.text == "Service app/web has no port 443/TCP (it exposes: http 80/TCP)"
    e = ask(snap, "app/a", "app/svc/manual", 80)
    assert e.problem is not None and e.problem.code == "service-no-selector"
    e = ask(snap, "app/a", "app/svc/empty", 80)
    assert e.problem is not None and e.problem.code == "service-no-backends"
    assert e.problem.text == "Service app/empty selector app=nobody matches no pod in namespace app"


def test_service_target_port_the_backend_lacks() -> None:
    snap = world(
        extra=(
            pod("app", "odd", {"app": "odd"}, ip="10.1.1.9", ports=[("web", 80, "TCP")]),
            svc("app", "odd", {"app": "odd"}, [{"port": 80, "targetPort": "http"}]),
        )
    )
    e = ask(snap, "app/a", "app/svc/odd", 80)
    v = only(e)
    assert not e.allowed and v.blocked_by is not None
    assert v.blocked_by.code == "target-port-unresolved"
    assert v.blocked_by.text == (
        "Service app/odd targetPort http matches no container port of app/odd (its ports: "
        "web 80/TCP); the Service forwards nothing to it"
    )


# ------------------------------------------------------------------ warnings and pitfalls


def test_pod_to_itself_is_evaluated_and_warned() -> None:
    snap = world(
        netpol("app", "p", labels(app="a"), ingress=[{"from": [{"podSelector": labels(app="b")}]}])
    )
    v = only(ask(snap, "app/a", "app/a", 8080))
    assert not v.allowed  # evaluated like any flow: a is not allowed in by the rule
    assert codes(v) == ["label-value"]
    assert v.warnings[0].code == "self-traffic"
    assert v.warnings[0].text.startswith(
        "app/a reaches itself: the policies were evaluated like any other flow, but many CNIs "
        "never filter a pod's traffic to itself"
    )
    assert only(ask(world(), "app/a", "app/a", 8080)).allowed


def test_host_network_pod_is_warned() -> None:
    snap = world(
        extra=(pod("app", "node-agent", {"app": "agent"}, ip="192.168.0.5", host_network=True),)
    )
    v = only(ask(snap, "app/node-agent", "app/b", 8080))
    assert [(w.code, w.subject) for w in v.warnings] == [("host-network", "app/node-agent")]
    assert v.warnings[0].text == (
        "source app/node-agent uses hostNetwork: most CNIs do not enforce NetworkPolicy on it; "
        "this verdict assumes they do"
    )
    # By IP, a hostNetwork pod is the node: not treated as that pod.
    v = only(ask(snap, "192.168.0.5", "app/b", 8080))
    assert v.source.kind == "external"


def test_missing_metadata_name_label_pitfall() -> None:
    snap = cluster(
        ns("old", name_label=False),
        ns("web"),
        pod("old", "client", {"app": "client"}, ip="10.9.0.1"),
        pod("web", "server", {"app": "server"}, ip="10.9.1.1"),
        netpol(
            "web",
            "from-old",
            labels(app="server"),
            ingress=[
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": "old"}
                            }
                        }
                    ]
                }
            ],
        ),
    )
    v = only(ask(snap, "old/client", "web/server", 80))
    assert not v.allowed
    (reason,) = v.ingress.policies[0].rules[0].peers[0].reasons
    assert reason.code == "namespace-name-label-missing"
    assert reason.text == (
        "namespace old has no label kubernetes.io/metadata.name (needs "
        "kubernetes.io/metadata.name=old); Kubernetes sets it from 1.21 on, so this namespace "
        "comes from an older cluster or a hand-made recording"
    )


def test_source_ip_of_a_pod_is_that_pod() -> None:
    snap = world(
        netpol("app", "p", labels(app="b"), ingress=[{"from": [{"podSelector": labels(app="a")}]}])
    )
    v = only(ask(snap, "10.1.0.1", "app/b", 8080))
    assert v.allowed and v.source.name == "app/a"


def test_no_pod_at_either_end_is_warned() -> None:
    v = only(ask(world(), "192.0.2.1", "192.0.2.2", 80))
    assert v.allowed
    assert [w.code for w in v.warnings] == ["no-pod-ends"]


def test_json_contract_has_the_top_level_keys() -> None:
    snap = world(netpol("app", "p", labels(app="b"), ingress=[]))
    doc = explanation_to_dict(ask(snap, "app/a", "app/b", 8080))
    assert {"allowed", "flow", "egress", "ingress", "warnings"} <= set(doc)
    assert doc["allowed"] is False
    assert doc["flow"] == {"from": "app/a", "to": "app/b", "port": 8080, "protocol": "TCP"}
    assert doc["ingress"]["isolated"] is True and doc["egress"]["isolated"] is False
    assert doc["ingress"]["policies"][0]["name"] == "p"
