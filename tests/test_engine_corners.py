"""Corners of the semantics found by an adversarial review: each case is concrete, checks the
verdict and its explanation, and (where pods are both ends) that the matrix and the exposure
say the same as `explain`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from tests.engine_builders import ask, cluster, codes, labels, netpol, ns, only, pod, svc
from triage.model import FlowSyntaxError, Snapshot, parse_flow, parse_port
from triage.policy import explain, explanation_to_dict
from triage.policy.classes import compile_snapshot
from triage.policy.exposure import compute_exposure
from triage.policy.matrix import class_matrix
from triage.sources.assemble import assemble
from triage.sources.errors import SourceError


def agree_with_matrix_and_exposure(snap: Snapshot, port: int, proto: str = "TCP") -> None:
    """explain, the class matrix and the exposure give one answer for every pod pair."""
    model = compile_snapshot(snap)
    cm = class_matrix(model)
    for src in snap.pods:
        exposure = compute_exposure(snap, src, model)
        reached = {f"{r.namespace}/{p}": r.allowed for r in exposure.outbound for p in r.pods}
        for dst in snap.pods:
            want = ask(snap, src.key, dst.key, port, proto).allowed
            assert ((proto, port) in cm.pod_ports(src, dst)) == want, (src.key, dst.key)
            if dst is not src:
                got = (proto, port) in reached.get(dst.key, frozenset())  # type: ignore[operator]
                assert got == want, (src.key, dst.key)


# ------------------------------------------------------------------ policyTypes and peers


def test_policy_types_and_empty_lists_in_every_spelling() -> None:
    web = pod("a", "web", {"app": "web"}, ip="10.0.0.1")
    cli = pod("a", "cli", {"app": "cli"}, ip="10.0.0.2")
    other = pod("b", "cli", {"app": "cli"}, ip="10.0.1.2")
    cases: list[tuple[dict[str, Any], bool, bool]] = [
        # (spec beyond the podSelector, a/cli → a/web allowed, a/web → a/cli allowed)
        ({"policyTypes": [], "ingress": [{}], "egress": []}, True, True),
        (
            {"policyTypes": [], "egress": [{"to": [{"ipBlock": {"cidr": "192.0.2.0/24"}}]}]},
            False,
            False,
        ),
        ({"policyTypes": ["Egress"], "ingress": [{"from": [{"podSelector": {}}]}]}, True, False),
        ({"ingress": [{"from": []}]}, True, True),
        ({"ingress": [{"from": [{"namespaceSelector": {}}]}]}, True, True),
        (
            {"ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"x": "y"}}}]}]},
            False,
            True,
        ),
        ({"ingress": [{"from": [{"podSelector": {}, "namespaceSelector": {}}]}]}, True, True),
    ]
    for spec, into_web, out_of_web in cases:
        pol = netpol("a", "p", labels(app="web"))
        pol["spec"].update(spec)
        snap = cluster(ns("a"), ns("b"), web, cli, other, pol)
        assert ask(snap, "a/cli", "a/web", 80).allowed is into_web, spec
        assert ask(snap, "a/web", "a/cli", 80).allowed is out_of_web, spec
        agree_with_matrix_and_exposure(snap, 80)


def test_in_with_an_empty_value_is_shown_as_one() -> None:
    pol = netpol(
        "a",
        "p",
        labels(app="web"),
        ingress=[
            {
                "from": [
                    {
                        "podSelector": {
                            "matchExpressions": [{"key": "tier", "operator": "In", "values": [""]}]
                        }
                    }
                ]
            }
        ],
    )
    snap = cluster(
        ns("a"),
        pod("a", "web", {"app": "web"}, ip="10.0.0.1"),
        pod("a", "blank", {"tier": ""}, ip="10.0.0.2"),
        pod("a", "none", {}, ip="10.0.0.3"),
        pol,
    )
    assert ask(snap, "a/blank", "a/web", 80).allowed
    v = only(ask(snap, "a/none", "a/web", 80))
    assert not v.allowed and codes(v) == ["label-missing"]
    assert v.ingress.policies[0].rules[0].peers[0].description == 'podSelector tier in ("")'
    assert v.nearest_miss is not None
    assert v.nearest_miss.missing[0].text == 'source has no label tier (needs one of [""])'
    agree_with_matrix_and_exposure(snap, 80)


# ------------------------------------------------------------------ unknown fields


def _policy_problems(spec: dict[str, Any]) -> list[str]:
    doc = netpol("a", "p", {})
    doc["spec"].update(spec)
    with pytest.raises(SourceError) as err:
        assemble([("f.yaml", 0, doc)])
    return [str(p) for p in err.value.problems]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        # `form` for `from`: read as "no from", the rule would admit every peer.
        (
            {"ingress": [{"form": [{"podSelector": {}}]}]},
            "spec.ingress[0].form: unknown field of an ingress rule (expected from, ports)",
        ),
        (
            {"egress": [{"from": [{"podSelector": {}}]}]},
            "spec.egress[0].from: unknown field of an egress rule (expected to, ports)",
        ),
        (
            {"ingress": [{"ports": [{"port": 80, "endport": 90}]}]},
            "spec.ingress[0].ports[0].endport: unknown field of a port (expected protocol, "
            "port, endPort)",
        ),
        (
            {"ingress": [{"from": [{"podSelector": {}, "namespaceSelecter": {}}]}]},
            "spec.ingress[0].from[0].namespaceSelecter: unknown field of a peer (expected "
            "podSelector, namespaceSelector, ipBlock)",
        ),
        (
            {
                "ingress": [
                    {"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "expect": ["10.1.0.0/16"]}}]}
                ]
            },
            "spec.ingress[0].from[0].ipBlock.expect: unknown field of an ipBlock (expected "
            "cidr, except)",
        ),
    ],
)
def test_unknown_fields_of_a_policy_are_refused_not_dropped(
    spec: dict[str, Any], expected: str
) -> None:
    assert _policy_problems(spec) == [f"f.yaml: NetworkPolicy a/p: {expected}"]


# ------------------------------------------------------------------ hostNetwork node addresses


HOST_WORLD = (
    ns("a"),
    pod("a", "web", {"app": "web"}, ip="10.0.0.1"),
    pod("a", "agent", {"app": "agent"}, ip="192.168.0.5", host_network=True),
    pod("a", "exporter", {"app": "exporter"}, ip="192.168.0.5", host_network=True),
)


def test_a_node_address_of_host_network_pods_is_never_guessed_silently() -> None:
    snap = cluster(
        *HOST_WORLD,
        netpol(
            "a",
            "p",
            labels(app="web"),
            ingress=[{"from": [{"podSelector": labels(app="agent")}]}],
        ),
    )
    e = ask(snap, "192.168.0.5", "a/web", 80)
    v = only(e)
    # The node address is not one pod: no pod selector can match it, only an ipBlock.
    assert v.source.kind == "external" and not v.allowed
    assert codes(v) == ["not-a-pod"]
    warning = (
        "source 192.168.0.5 is the node address of hostNetwork pod(s) a/agent, a/exporter: "
        "treated as an address outside the pods, so pod and namespace selectors do not match "
        "it; most CNIs do not enforce NetworkPolicy on hostNetwork pods"
    )
    assert [(w.code, w.subject) for w in v.warnings] == [("node-address", "192.168.0.5")]
    assert v.warnings[0].text == warning
    assert warning in explanation_to_dict(e)["warnings"]
    assert {"code": "node-address", "text": warning, "subject": "192.168.0.5"} in (
        explanation_to_dict(e)["warning_details"]
    )
    v = only(ask(snap, "a/web", "192.168.0.5", 80))
    assert v.allowed and v.destination.kind == "external"
    assert [w.code for w in v.warnings] == ["node-address"]
    assert v.warnings[0].text.startswith("destination 192.168.0.5 is the node address")


# ------------------------------------------------------------------ dual-stack Services


DUAL = (
    ns("a"),
    pod("a", "web", {"app": "web"}, ips=["10.0.0.1", "fd00::1"], ports=[("http", 8080, "TCP")]),
    pod("a", "cli", {"app": "cli"}, ips=["10.0.0.9", "fd00::9"]),
)


def _dual_service() -> dict[str, Any]:
    doc = svc("a", "web", {"app": "web"}, [{"port": 80, "targetPort": "http"}], "10.96.0.10")
    doc["spec"]["clusterIPs"] = ["10.96.0.10", "fd00:96::10"]
    doc["spec"]["ipFamilies"] = ["IPv4", "IPv6"]
    return doc


def test_the_secondary_cluster_ip_of_a_dual_stack_service_is_that_service() -> None:
    only_v6 = netpol(
        "a", "v6", labels(app="web"), ingress=[{"from": [{"ipBlock": {"cidr": "fd00::/64"}}]}]
    )
    snap = cluster(*DUAL, _dual_service(), only_v6)
    assert snap.services[0].cluster_ips == ("10.96.0.10", "fd00:96::10")
    # Through the IPv6 ClusterIP the connection is IPv6 end to end: the source's IPv6
    # address is what the ipBlock sees.
    e = ask(snap, "a/cli", "fd00:96::10", 80)
    assert e.service is not None and e.service.service == "a/web"
    v = only(e)
    assert v.allowed and v.port == 8080
    assert (v.source.ip, v.destination.ip) == ("fd00::9", "fd00::1")
    # Through the IPv4 one it is IPv4, and the IPv6-only rule does not admit it.
    v = only(ask(snap, "a/cli", "10.96.0.10", 80))
    assert not v.allowed and (v.source.ip, v.destination.ip) == ("10.0.0.9", "10.0.0.1")
    assert v.nearest_miss is not None
    assert v.nearest_miss.missing[0].text == "source IP 10.0.0.9 is IPv4, fd00::/64 is IPv6"
    # An IPv6 source and an IPv4 ClusterIP: the operator asked for a connection that cannot
    # exist; the verdict (policies only) comes with a note that says so.
    v = only(ask(snap, "fd00::9", "10.96.0.10", 80))
    assert (v.source.ip, v.destination.ip) == ("fd00::9", "10.0.0.1")
    assert "address-family-mismatch" in [w.code for w in v.warnings]
    assert "source fd00::9 is IPv6 but the connection is IPv4: no such connection exists" in [
        w.text for w in v.warnings
    ]


def test_cluster_ips_survive_the_recording_round_trip() -> None:
    from triage.model.manifest import service_manifest
    from triage.sources.parse import parse_service

    snap = cluster(*DUAL, _dual_service())
    again, problems = parse_service(service_manifest(snap.services[0]), "x", 0)
    assert problems == [] and again is not None
    assert again.cluster_ips == ("10.96.0.10", "fd00:96::10")


# ------------------------------------------------------------------ flows written by people


def test_a_service_port_name_may_be_a_63_character_dns_label() -> None:
    long_name = "http-metrics-for-the-prometheus-scraper"
    assert parse_port(long_name) == long_name
    assert parse_port("a" * 63) == "a" * 63
    for bad in ("a" * 64, "-http", "http-", "HTTP", "a_b"):
        with pytest.raises(FlowSyntaxError):
            parse_port(bad)
    snap = cluster(
        *DUAL,
        svc("a", "web", {"app": "web"}, [{"name": long_name, "port": 80, "targetPort": "http"}]),
    )
    e = explain(snap, parse_flow("a/cli", "a/svc/web", long_name))
    assert e.allowed and e.service is not None and e.service.port == 80
    # Against a pod, such a name can never be a container port: said so, not a syntax error.
    v = only(explain(snap, parse_flow("a/cli", "a/web", long_name)))
    assert not v.allowed and v.blocked_by is not None
    assert v.blocked_by.code == "named-port-unresolved"


def test_a_recording_keeps_dual_stack_cluster_ips_and_long_service_port_names(
    tmp_path: Path,
) -> None:
    from triage.model.incident import IncidentMeta, ReportedFlow
    from triage.sources.recording import incident_from_manifests, load_incident, write_incident

    long_name = "http-metrics-for-the-prometheus-scraper"
    service = _dual_service()
    service["spec"]["ports"] = [{"name": long_name, "port": 80, "targetPort": "http"}]
    incident = incident_from_manifests(
        IncidentMeta("dual stack", captured_at="2024-05-14T09:12:00Z"), [*DUAL, service]
    )
    flow = parse_flow("a/cli", "fd00:96::10", long_name)
    incident = dataclasses.replace(incident, flows=(ReportedFlow(flow),))
    path = tmp_path / "incident.yaml"
    write_incident(incident, path)
    again = load_incident(path)
    assert again.snapshot.services[0].cluster_ips == ("10.96.0.10", "fd00:96::10")
    assert again.flows[0].flow == flow
    e = explain(again.snapshot, flow)
    assert e.allowed and e.service is not None and e.service.service == "a/web"
    assert only(e).source.ip == "fd00::9"


def test_service_backends_are_its_endpoints_not_every_selected_pod() -> None:
    """A finished pod or one without an IP is selected but gets no traffic: it must not
    decide a Service flow (a dead pod would otherwise make it read as denied)."""
    from tests.engine_builders import ask, cluster, ns, pod, svc

    web = {"app": "web"}
    snapshot = cluster(
        ns("a"),
        pod("a", "client", {"app": "client"}, ip="10.0.0.1"),
        pod("a", "web-live", web, ip="10.0.0.2", ports=[("http", 80, "TCP")]),
        pod("a", "web-done", web, ip="10.0.0.3", phase="Succeeded"),
        pod("a", "web-new", web, phase="Pending"),
        svc("a", "web", web, [{"port": 80, "targetPort": "http"}]),
    )
    explanation = ask(snapshot, "a/client", "a/svc/web", 80)
    assert explanation.allowed
    assert [v.destination.name for v in explanation.verdicts] == ["a/web-live"]
    assert explanation.service is not None and explanation.service.backends == ("a/web-live",)
    assert [w.code for w in explanation.warnings] == ["service-idle-pods"]
    assert explanation.warnings[0].text == (
        "Service a/web also selects pods that are not endpoints and get no traffic: "
        "a/web-done (Succeeded), a/web-new (no IP)"
    )

    idle = cluster(
        ns("a"),
        pod("a", "client", {"app": "client"}, ip="10.0.0.1"),
        pod("a", "web-done", web, ip="10.0.0.3", phase="Failed"),
        svc("a", "web", web, [{"port": 80, "targetPort": 80}]),
    )
    explanation = ask(idle, "a/client", "a/svc/web", 80)
    assert not explanation.allowed and explanation.problem is not None
    assert explanation.problem.text == (
        "Service a/web selector app=web matches no running pod with an IP in namespace a; "
        "only pods that are not endpoints: a/web-done (Failed)"
    )
