"""Property: on random tiered clusters the class matrix (tiers_matrix.py) and
`engine.explain` agree on every pod pair and probed port."""

from __future__ import annotations

from typing import Any

from hypothesis import given

from tests.engine_builders import cluster
from tests.test_tiers_property import SETTINGS, tiered_clusters
from triage.model import Flow, PodRef
from triage.policy import explain
from triage.policy.classes import compile_snapshot
from triage.policy.matrix import class_matrix, compute_matrix
from triage.policy.tiers_matrix import TierModel

PROBES = [("TCP", p) for p in (53, 80, 85, 443, 500, 8080)] + [("UDP", p) for p in (53, 80)]


@SETTINGS
@given(docs=tiered_clusters())
def test_matrix_and_explain_agree_on_every_pair(docs: list[dict[str, Any]]) -> None:
    snap = cluster(*docs)
    model = compile_snapshot(snap)
    cm = class_matrix(model)
    # The per-pair walk (used by exposure) agrees with the block algorithm.
    tiers = TierModel(model)
    for s in range(len(model.classes)):
        for d in range(len(model.classes)):
            egress, _ = tiers.side("Egress", s, d)
            ingress, _ = tiers.side("Ingress", d, s)
            assert egress & ingress == cm.get(s, d)
    for src in snap.pods:
        for dst in snap.pods:
            allowed = cm.pod_ports(src, dst)
            for proto, port in PROBES:
                flow = Flow(
                    PodRef(src.namespace, src.name), PodRef(dst.namespace, dst.name), port, proto
                )  # type: ignore[arg-type]
                want = explain(snap, flow).allowed
                assert ((proto, port) in allowed) == want, (str(flow), allowed)


def test_admin_deny_shows_in_the_workload_matrix() -> None:
    from tests.admin_builders import cnp, ns_peer, rule
    from tests.engine_builders import ns, pod

    snap = cluster(
        ns("a"),
        ns("b"),
        pod("a", "x", {"app": "x"}, ip="10.0.0.1"),
        pod("b", "y", {"app": "y"}, ip="10.0.0.2"),
        cnp(
            "no-a",
            "Admin",
            1,
            subject={"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": "b"}}},
            ingress=[rule("Deny", [ns_peer("a")])],
        ),
    )
    m = compute_matrix(snap)
    x, y = m.index("a/x"), m.index("b/y")
    assert m.cell(x, y) is None
    cell = m.cell(y, x)
    assert cell is not None and cell.ports.is_all


def test_exposure_names_the_admin_rule_that_grants_or_cuts() -> None:
    from tests.admin_builders import cnp, ns_peer, rule
    from tests.engine_builders import ns, pod
    from triage.policy.exposure import compute_exposure

    snap = cluster(
        ns("a"),
        ns("b"),
        pod("a", "x", {"app": "x"}, ip="10.0.0.1", ports=[("http", 80, "TCP")]),
        pod("b", "y", {"app": "y"}, ip="10.0.0.2", ports=[("http", 80, "TCP")]),
        cnp(
            "iso",
            "Admin",
            1,
            ingress=[
                rule(
                    "Accept",
                    [ns_peer("a")],
                    name="a-in",
                    protocols=[{"tcp": {"destinationPort": {"number": 80}}}],
                ),
                rule("Deny", [{"namespaces": {}}], name="rest"),
            ],
        ),
    )
    x = snap.pod("a", "x")
    assert x is not None
    exposure = compute_exposure(snap, x)
    assert [r.key for r in exposure.outbound] == ["b/y"]
    reach = exposure.outbound[0]
    assert reach.allowed.describe() == "TCP 80"
    assert str(reach.ports[0].ingress) == "cnp/iso ingress rule #0"
    assert exposure.inbound == ()  # b → a: the Deny cuts everything but a's own namespace
