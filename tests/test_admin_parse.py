"""Parsing and validation of ClusterNetworkPolicy (v1alpha2), AdminNetworkPolicy and
BaselineAdminNetworkPolicy (v1alpha1), from the CRD validation of network-policy-api: one
line per problem naming file, object and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.admin_builders import anp, banp, cnp, ns_peer, proto_range, rule, tcp
from tests.engine_builders import ns, pod
from triage.model.admin import AdminPort
from triage.sources import SourceError
from triage.sources.assemble import assemble
from triage.sources.parse_admin import admin_policy_manifest, parse_admin_policy
from triage.sources.recording import incident_from_document, incident_to_document


def problems_of(*docs: dict[str, Any]) -> list[str]:
    with pytest.raises(SourceError) as info:
        assemble(("f.yaml", i, d) for i, d in enumerate(docs))
    return [str(p) for p in info.value.problems]


C = "f.yaml: ClusterNetworkPolicy bad"


def with_spec(doc: dict[str, Any], **spec: Any) -> dict[str, Any]:
    doc["spec"].update(spec)
    return doc


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (cnp("bad", "Admin", 1001), f"{C}: spec.priority: priority 1001 is out of range 0-1000"),
        (cnp("bad", "Admin", -1), f"{C}: spec.priority: priority -1 is out of range 0-1000"),
        (
            with_spec(cnp("bad", "Admin", 1), priority="1"),
            f"{C}: spec.priority: expected an integer 0-1000, got '1'",
        ),
        (cnp("bad", "Top", 1), f"{C}: spec.tier: unknown tier 'Top'; expected Admin or Baseline"),
        (
            cnp("bad", "Admin", 1, subject={}),
            f"{C}: spec.subject: exactly one of namespaces or pods must be set, got neither",
        ),
        (
            cnp("bad", "Admin", 1, subject={"namespaces": {}, "pods": {"podSelector": {}}}),
            f"{C}: spec.subject: exactly one of namespaces or pods must be set, got namespaces "
            "and pods",
        ),
        (
            cnp("bad", "Admin", 1, ingress=[rule("Allow", [ns_peer("a")])]),
            f"{C}: spec.ingress[0].action: unknown action 'Allow'; ClusterNetworkPolicy takes "
            "Accept, Deny, Pass",
        ),
        (
            cnp("bad", "Admin", 1, ingress=[rule("Deny", [{"networks": ["10.0.0.0/8"]}])]),
            f"{C}: spec.ingress[0].from[0].networks: networks is an egress peer; ingress peers "
            "are namespaces, pods",
        ),
        (
            cnp(
                "bad",
                "Admin",
                1,
                egress=[rule("Deny", [{"networks": ["10.0.0.0/8"], "namespaces": {}}])],
            ),
            f"{C}: spec.egress[0].to[0]: exactly one peer field may be set, got namespaces and "
            "networks",
        ),
        (
            cnp("bad", "Admin", 1, egress=[rule("Deny", [{"networks": ["10.0.0.0/33"]}])]),
            f"{C}: spec.egress[0].to[0].networks[0]: invalid CIDR '10.0.0.0/33' (expected an "
            "address/prefix length)",
        ),
        (
            cnp("bad", "Admin", 1, egress=[rule("Deny", [{"domainNames": ["example.com"]}])]),
            f"{C}: spec.egress[0].to[0].domainNames: domainNames peers are only allowed in "
            "Accept/Allow rules",
        ),
        (
            cnp("bad", "Admin", 1, egress=[rule("Accept", [{"domainNames": ["*example.com"]}])]),
            f"{C}: spec.egress[0].to[0].domainNames[0]: invalid domain name '*example.com'",
        ),
        (
            cnp(
                "bad",
                "Admin",
                1,
                egress=[
                    rule(
                        "Accept",
                        [{"networks": ["10.0.0.0/8"]}],
                        protocols=[{"destinationNamedPort": "http"}],
                    )
                ],
            ),
            f"{C}: spec.egress[0].protocols: a named port cannot be used with "
            "networks/nodes/domainNames peers (they have no named ports)",
        ),
        (
            cnp(
                "bad",
                "Admin",
                1,
                ingress=[rule("Deny", [ns_peer("a")], protocols=[proto_range("tcp", 90, 80)])],
            ),
            f"{C}: spec.ingress[0].protocols[0].tcp.destinationPort.range: start 90 must be less "
            "than end 80",
        ),
        (
            cnp(
                "bad",
                "Admin",
                1,
                ingress=[
                    rule(
                        "Deny",
                        [ns_peer("a")],
                        protocols=[{"tcp": {"destinationPort": {"number": 70000}}}],
                    )
                ],
            ),
            f"{C}: spec.ingress[0].protocols[0].tcp.destinationPort.number: port 70000 is out of "
            "range 1-65535",
        ),
        (
            cnp(
                "bad",
                "Admin",
                1,
                ingress=[
                    rule(
                        "Deny",
                        [ns_peer("a")],
                        protocols=[
                            {
                                "tcp": {"destinationPort": {"number": 80}},
                                "udp": {"destinationPort": {"number": 80}},
                            }
                        ],
                    )
                ],
            ),
            f"{C}: spec.ingress[0].protocols[0]: exactly one of tcp, udp, sctp or "
            "destinationNamedPort must be set",
        ),
        (
            cnp(
                "bad", "Admin", 1, ingress=[rule("Deny", [ns_peer("a")], protocols=[{"icmp": {}}])]
            ),
            f"{C}: spec.ingress[0].protocols[0].icmp: unknown field (expected tcp, udp, sctp, "
            "destinationNamedPort)",
        ),
        (
            cnp("bad", "Admin", 1, ingress=[rule("Deny", [ns_peer("a")]) for _ in range(26)]),
            f"{C}: spec.ingress: at most 25 rules per direction (ClusterNetworkPolicy), got 26",
        ),
        (
            with_spec(cnp("bad", "Admin", 1), ingress=[{"action": "Deny"}]),
            f"{C}: spec.ingress[0].from: missing; a rule needs at least one peer",
        ),
        (
            cnp("bad", "Admin", 1, ingress=[rule("Deny", [ns_peer("a")], name="x\x1b[31mred")]),
            f"{C}: spec.ingress[0].name: contains control characters: x\ufffd[31mred",
        ),
        (
            with_spec(cnp("bad", "Admin", 1), egres=[]),
            f"{C}: spec.egres: unknown field (expected tier, priority, subject, ingress, egress)",
        ),
        (
            anp("bad", 1, ingress=[rule("Accept", [ns_peer("a")])]),
            "f.yaml: AdminNetworkPolicy bad: spec.ingress[0].action: unknown action 'Accept'; "
            "AdminNetworkPolicy takes Allow, Deny, Pass",
        ),
        (
            anp(
                "bad",
                1,
                ingress=[
                    rule(
                        "Allow",
                        [ns_peer("a")],
                        ports=[{"portNumber": {"port": 80}, "namedPort": "x"}],
                    )
                ],
            ),
            "f.yaml: AdminNetworkPolicy bad: spec.ingress[0].ports[0]: exactly one of portNumber, "
            "namedPort or portRange must be set",
        ),
        (
            anp("bad", 1, ingress=[rule("Allow", [ns_peer("a")]) for _ in range(101)]),
            "f.yaml: AdminNetworkPolicy bad: spec.ingress: at most 100 rules per direction "
            "(AdminNetworkPolicy), got 101",
        ),
        (
            banp(name="other"),
            "f.yaml: BaselineAdminNetworkPolicy other: metadata.name: a BaselineAdminNetworkPolicy "
            "is a singleton named default, got 'other'",
        ),
        (
            banp(ingress=[rule("Pass", [ns_peer("a")])]),
            "f.yaml: BaselineAdminNetworkPolicy default: spec.ingress[0].action: unknown action "
            "'Pass'; BaselineAdminNetworkPolicy takes Allow, Deny",
        ),
        (
            with_spec(banp(), priority=3),
            "f.yaml: BaselineAdminNetworkPolicy default: spec.priority: unknown field (expected "
            "subject, ingress, egress)",
        ),
    ],
)
def test_invalid_admin_policy_names_file_object_and_field(
    doc: dict[str, Any], expected: str
) -> None:
    assert expected in problems_of(doc)


def test_cnp_parses_every_field() -> None:
    doc = cnp(
        "sec",
        "Admin",
        10,
        subject={"pods": {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "a"}}}},
        ingress=[
            rule(
                "Pass",
                [ns_peer("mon")],
                name="allow-monitoring",
                protocols=[
                    tcp(80),
                    proto_range("sctp", 1000, 2000),
                    {"destinationNamedPort": "metrics"},
                ],
            )
        ],
        egress=[
            rule("Deny", [{"networks": ["0.0.0.0/0"]}, {"nodes": {}}]),
            rule("Accept", [{"domainNames": ["*.example.com"]}]),
        ],
    )
    policy, problems = parse_admin_policy(doc, "f", 0)
    assert problems == [] and policy is not None
    assert (policy.key, policy.tier, policy.priority) == ("cnp/sec", "Admin", 10)
    assert policy.subject.describe() == "pods app=a in namespaces {} (all)"
    r = policy.ingress[0]
    assert (r.name, r.action) == ("allow-monitoring", "Pass")
    assert r.ports == (
        AdminPort("TCP", 80),
        AdminPort("SCTP", 1000, 2000),
        AdminPort(name="metrics"),
    )
    assert [p.kind for p in policy.egress[0].peers] == ["networks", "nodes"]
    assert policy.egress[1].peers[0].domain_names == ("*.example.com",)
    assert policy.rule_label("Egress", 1) == "egress #1"
    # The model-built manifest parses back to the same policy.
    again, _ = parse_admin_policy(admin_policy_manifest(policy), "f", 0)
    assert again == policy


def test_anp_allow_is_accept_and_ports_default_to_tcp() -> None:
    doc = anp(
        "a",
        5,
        egress=[
            rule(
                "Allow",
                [ns_peer("x")],
                ports=[
                    {"portNumber": {"port": 53}},
                    {"portNumber": {"protocol": "UDP", "port": 53}},
                    {"portRange": {"protocol": "SCTP", "start": 10, "end": 20}},
                    {"namedPort": "dns"},
                ],
            )
        ],
    )
    policy, problems = parse_admin_policy(doc, "f", 0)
    assert problems == [] and policy is not None
    assert policy.egress[0].action == "Accept"
    assert policy.egress[0].ports == (
        AdminPort("TCP", 53),
        AdminPort("UDP", 53),
        AdminPort("SCTP", 10, 20),
        AdminPort(name="dns"),
    )
    base, problems = parse_admin_policy(banp(ingress=[rule("Deny", [ns_peer("x")])]), "f", 0)
    assert problems == [] and base is not None
    assert (base.key, base.tier, base.priority) == ("banp/default", "Baseline", None)
    again, _ = parse_admin_policy(admin_policy_manifest(policy), "f", 0)
    assert again == policy


def test_empty_peer_fails_closed_with_a_load_warning() -> None:
    snapshot, report = assemble(
        [
            ("f.yaml", 0, cnp("fc", "Admin", 3, ingress=[rule("Deny", [{}])])),
            ("f.yaml", 1, cnp("fa", "Admin", 4, ingress=[rule("Accept", [{"future": {}}])])),
        ]
    )
    assert snapshot.admin_policies[0].ingress[0].fails_closed
    assert (
        "cnp/fc ingress #0: a peer with no known field fails closed: this Deny rule matches all "
        "traffic" in report.warnings
    )
    assert (
        "cnp/fa ingress #0: a peer with no known field fails closed: this Accept rule matches "
        "nothing" in report.warnings
    )


def test_equal_priorities_in_a_tier_warn() -> None:
    _, report = assemble(
        [
            ("f.yaml", 0, cnp("a", "Admin", 5)),
            ("f.yaml", 1, anp("b", 5)),
            ("f.yaml", 2, cnp("c", "Baseline", 5)),
        ]
    )
    assert report.warnings == (
        "Admin tier: cnp/a, anp/b share priority 5; the API leaves their order undefined "
        "(triage evaluates them by kind, then name)",
    )


def test_other_groups_with_the_same_kind_are_skipped() -> None:
    antrea = {
        "apiVersion": "crd.antrea.io/v1beta1",
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": "x"},
        "spec": {"priority": 5},
    }
    snapshot, report = assemble([("f.yaml", 0, antrea)])
    assert snapshot.admin_policies == ()
    assert report.skipped_kinds == {"ClusterNetworkPolicy (crd.antrea.io/v1beta1)": 1}


def test_manifest_directory_loads_admin_policies(tmp_path: Path) -> None:
    from triage.sources.manifests import load_manifests

    docs = [ns("a"), pod("a", "p", ip="10.0.0.1"), cnp("z", "Baseline", 1), banp()]
    (tmp_path / "c.yaml").write_text(yaml.safe_dump_all(docs))
    snapshot, _ = load_manifests([tmp_path])
    assert [p.key for p in snapshot.admin_policies] == ["banp/default", "cnp/z"]


def test_recording_round_trips_admin_policies_and_known_good() -> None:
    policy = cnp("deny-db", "Admin", 10, ingress=[rule("Deny", [ns_peer("web")], name="no-web")])
    old = cnp("deny-db", "Admin", 10, ingress=[rule("Pass", [ns_peer("web")], name="no-web")])
    document = {
        "apiVersion": "triage/v1",
        "kind": "Incident",
        "metadata": {"title": "t"},
        "namespaces": [ns("web")],
        "adminPolicies": [policy, banp()],
        "knownGood": [{"name": "before", "adminPolicies": [old]}],
    }
    incident = incident_from_document(document, "r.yaml")
    assert [p.key for p in incident.snapshot.admin_policies] == ["banp/default", "cnp/deny-db"]
    assert incident.known_good[0].admin_policies[0].ingress[0].action == "Pass"
    again = incident_from_document(incident_to_document(incident), "r2.yaml")
    assert again.snapshot.admin_policies == incident.snapshot.admin_policies
    assert again.known_good[0].admin_policies == incident.known_good[0].admin_policies


def test_recording_refuses_an_admin_policy_of_another_kind() -> None:
    document = {
        "apiVersion": "triage/v1",
        "kind": "Incident",
        "metadata": {"title": "t"},
        "adminPolicies": [
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "spec": {}}
        ],
    }
    with pytest.raises(SourceError) as info:
        incident_from_document(document, "r.yaml")
    assert "adminPolicies[0]" in str(info.value)
