"""Nearest miss: for a denied flow, the rule that came closest and exactly what it lacks."""

from __future__ import annotations

from tests.engine_builders import ask, cluster, labels, netpol, ns, pod
from triage.model import Snapshot
from triage.policy import explanation_to_dict

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


# ------------------------------------------------------------------ one per denying side


def _both_sides_deny() -> Snapshot:
    return cluster(
        *BASE,
        netpol(
            "other",
            "client-egress",
            labels(app="client"),
            egress=[{"to": [{"podSelector": labels(app="db")}]}],
            policy_types=["Egress"],
        ),
        netpol(
            "app",
            "server-ingress",
            labels(app="server"),
            ingress=[{"from": [{"namespaceSelector": {}, "podSelector": labels(tier="api")}]}],
        ),
    )


def test_when_both_sides_deny_each_has_its_nearest_miss() -> None:
    v = ask(_both_sides_deny(), "other/client", "app/server", 8080).primary
    assert v is not None and not v.egress.allowed and not v.ingress.allowed
    assert [(m.side, m.policy, m.rule, m.peer, m.port) for m in v.nearest_misses] == [
        ("egress", "other/client-egress", 0, 0, None),
        ("ingress", "app/server-ingress", 0, 0, None),
    ]
    egress, ingress = v.nearest_misses
    # Structured: the term, the failing requirement and the actual value.
    assert [(r.code, r.term, r.requirement, r.actual) for r in egress.missing] == [
        (
            "namespace-not-own",
            "namespace-selector",
            "namespace other (no namespaceSelector)",
            "app",
        ),
        ("label-value", "pod-selector", "app=db", "server"),
    ]
    assert [(r.code, r.term, r.requirement, r.actual) for r in ingress.missing] == [
        ("label-value", "pod-selector", "tier=api", "web")
    ]
    doc = explanation_to_dict(ask(_both_sides_deny(), "other/client", "app/server", 8080))
    assert [m["side"] for m in doc["nearest_misses"]] == ["egress", "ingress"]
    assert doc["nearest_misses"][1]["missing"][0]["term"] == "pod-selector"
    assert doc["nearest_miss"]["policy"] == "app/server-ingress"  # the nearer of the two


def test_one_denying_side_has_one_nearest_miss() -> None:
    s = snap(netpol("app", "p", labels(app="server"), ingress=[{"ports": [{"port": 80}]}]))
    v = ask(s, "other/client", "app/server", 8080).primary
    assert v is not None
    assert [(m.side, m.port) for m in v.nearest_misses] == [("ingress", 0)]
    assert [(r.code, r.term, r.requirement, r.actual) for r in v.nearest_misses[0].missing] == [
        ("port", "port", "TCP 80", "8080")
    ]


# ------------------------------------------------------------------ what the miss means


def test_a_miss_on_the_namespace_name_label_is_a_wrong_namespace() -> None:
    by_name = {"matchLabels": {"kubernetes.io/metadata.name": "payments"}}
    s = snap(
        netpol(
            "app", "p", labels(app="server"), ingress=[{"from": [{"namespaceSelector": by_name}]}]
        )
    )
    v = ask(s, "other/client", "app/server", 8080).primary
    assert v is not None and v.nearest_miss is not None
    (reason,) = v.nearest_miss.missing
    assert (reason.code, reason.term, reason.actual) == (
        "wrong-namespace",
        "namespace-selector",
        "other",
    )
    assert reason.text == (  # golden wording: not a label to change
        "wrong namespace: source is in namespace other, the rule admits namespace payments "
        "only (kubernetes.io/metadata.name=payments; the apiserver sets this label to the name)"
    )
    excluded = {
        "matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["other"]}
        ]
    }
    s = snap(
        netpol(
            "app", "p", labels(app="server"), ingress=[{"from": [{"namespaceSelector": excluded}]}]
        )
    )
    v = ask(s, "other/client", "app/server", 8080).primary
    assert v is not None and v.nearest_miss is not None
    assert [r.code for r in v.nearest_miss.missing] == ["wrong-namespace"]


def _two_http_ports() -> Snapshot:
    server = pod("app", "server", {"app": "server"}, ip="10.1.0.1", ports=[("http", 81, "TCP")])
    server["spec"]["containers"][0]["name"] = "a"
    server["spec"]["containers"].append(
        {"name": "b", "image": "x", "ports": [{"name": "http", "containerPort": 443}]}
    )
    return cluster(
        *BASE[:2],
        server,
        BASE[3],
        netpol("app", "p", labels(app="server"), ingress=[{"ports": [{"port": "http"}]}]),
    )


def test_a_port_name_declared_twice_is_named_as_the_cause() -> None:
    v = ask(_two_http_ports(), "other/client", "app/server", 443).primary
    assert v is not None and not v.allowed
    assert v.nearest_miss is not None
    (reason,) = v.nearest_miss.missing
    assert (reason.code, reason.term, reason.actual, reason.expected) == (
        "named-port-ambiguous",
        "port",
        "443",
        ("81",),
    )
    assert reason.text == "http is 81 in container a and 443 in container b; the first wins"
    # The header says 443 is "http": the warning says why that does not contradict the miss.
    assert [(w.code, w.subject) for w in v.warnings] == [("named-port-ambiguous", "app/server")]
    assert ask(_two_http_ports(), "other/client", "app/server", 81).allowed


def _never_matches(selector: dict[str, object]) -> Snapshot:
    return snap(
        netpol(
            "app",
            "p",
            labels(app="server"),
            ingress=[
                {"from": [{"podSelector": selector}]},
                {"from": [{"namespaceSelector": {}, "podSelector": labels(app="nope")}]},
            ],
        )
    )


def test_a_selector_that_can_never_match_is_flagged() -> None:
    contradiction = {
        "matchLabels": {"role": "be"},
        "matchExpressions": [{"key": "role", "operator": "DoesNotExist"}],
    }
    v = ask(_never_matches(contradiction), "app/server", "app/server", 8080).primary
    assert v is not None and not v.allowed
    codes = [w.code for w in v.warnings]
    assert "selector-never-matches" in codes
    flagged = next(w for w in v.warnings if w.code == "selector-never-matches")
    assert flagged.subject == "app/p"
    assert flagged.text == (
        "app/p ingress rule #0 peer #0: podSelector role=be,!role can never match: role=be and "
        "!role contradict each other"
    )
    # The nearest miss never points at a peer no relabeling can open.
    assert v.nearest_miss is not None and v.nearest_miss.rule == 1


def test_disjoint_values_and_empty_in_can_never_match() -> None:
    from triage.model import LabelSelector, Requirement
    from triage.policy.selectors import unsatisfiable

    assert unsatisfiable(LabelSelector((("role", "be"),))) is None
    assert unsatisfiable(LabelSelector((), (Requirement("role", "In", ()),))) == (
        "role in () has no values: it matches nothing"
    )
    disjoint = LabelSelector((("role", "be"),), (Requirement("role", "In", ("fe",)),))
    assert unsatisfiable(disjoint) == "role=be and role in (fe) leave no value of role possible"
    excluded = LabelSelector((("role", "be"),), (Requirement("role", "NotIn", ("be",)),))
    assert unsatisfiable(excluded) is not None
    exists = LabelSelector((), (Requirement("a", "Exists"), Requirement("a", "DoesNotExist")))
    assert unsatisfiable(exists) == "a and !a contradict each other"
    assert unsatisfiable(LabelSelector((), (Requirement("a", "NotIn", ("x",)),))) is None


def test_the_namespaces_step_never_suggests_relabeling_the_name_label() -> None:
    from triage.checklist import ChecklistContext, run_step
    from triage.model import parse_flow

    by_name = {"matchLabels": {"kubernetes.io/metadata.name": "payments"}}
    s = snap(
        netpol(
            "app",
            "p",
            labels(app="server"),
            ingress=[
                {"from": [{"namespaceSelector": by_name, "podSelector": labels(app="client")}]}
            ],
        )
    )
    step = run_step(
        ChecklistContext(s, parse_flow("other/client", "app/server", 8080)), "namespaces"
    )
    assert step.status == "fail"
    assert step.summary.startswith("wrong namespace: source is in namespace other")
    assert "name the peer's namespace in the namespaceSelector" in step.hint
    assert "label the namespace" not in step.hint


def test_a_denying_side_without_rules_is_named_next_to_the_other_sides_miss() -> None:
    from triage.policy.describe import misses_clause

    s = cluster(
        *BASE,
        netpol("other", "no-egress", {}, egress=[], policy_types=["Egress"]),
        netpol("app", "p", labels(app="server"), ingress=[{"ports": [{"port": 80}]}]),
    )
    v = ask(s, "other/client", "app/server", 8080).primary
    assert v is not None and not v.egress.allowed and not v.ingress.allowed
    assert [m.side for m in v.nearest_misses] == ["ingress"]  # egress has no rule to miss
    assert misses_clause(v) == (
        "nearest misses: app/p ingress rule #0: port 8080 is not 80; and egress at "
        "other/client: no rule to change, other/no-egress allow no egress at all (default "
        "deny); it needs a rule of its own"
    )
