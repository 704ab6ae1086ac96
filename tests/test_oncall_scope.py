"""`-n NS`: outside the loaded namespaces a verdict is "unknown: not loaded (-n)", never a
false DENIED; an address that may be an unloaded pod is judged on the loaded side only."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tests.engine_builders import ask, cluster, labels, netpol, ns, pod
from triage.cli import main
from triage.model import Snapshot
from triage.policy import explanation_to_dict
from triage.sources.recording import bundled_incident

DNS_EGRESS = netpol(
    "app",
    "dns-only",
    labels(app="web"),
    egress=[
        {
            "to": [{"namespaceSelector": labels(**{"kubernetes.io/metadata.name": "kube-system"})}],
            "ports": [{"port": 53, "protocol": "UDP"}],
        }
    ],
    policy_types=["Egress"],
)


def partial(*docs: dict[str, object], scope: tuple[str, ...] = ("app",)) -> Snapshot:
    return dataclasses.replace(cluster(*docs), scope=scope)


def test_a_pod_of_an_unloaded_namespace_is_unknown_not_denied() -> None:
    snap = partial(ns("app"), pod("app", "web", {"app": "web"}, ip="10.0.1.1"))
    exp = ask(snap, "app/web", "kube-system/svc/kube-dns", "53", "UDP")
    assert exp.state == "unknown"
    assert exp.unknown is not None and exp.unknown.startswith("unknown: not loaded (-n)")
    assert "namespace kube-system" in exp.unknown
    document = explanation_to_dict(exp)
    assert document["allowed"] is None
    assert document["unknown"] == exp.unknown
    # The same name on a whole snapshot is still a usage error, not "unknown".
    from triage.policy import UnknownEndpoint

    with pytest.raises(UnknownEndpoint):
        ask(dataclasses.replace(snap, scope=None), "app/web", "kube-system/svc/kube-dns", 53)


def test_egress_to_an_unloaded_address_allowed_by_the_source_is_unknown() -> None:
    snap = partial(ns("app"), pod("app", "web", {"app": "web"}, ip="10.0.1.1"), DNS_EGRESS)
    exp = ask(snap, "app/web", "10.244.0.10", "53", "UDP")
    assert exp.state == "unknown"
    assert exp.unknown is not None
    assert "egress side (app/web) may allow this flow" in exp.unknown
    assert "ingress at the destination is not known" in exp.unknown
    # No egress policy at all: the source side allows it; the far side is still unknown.
    open_snap = partial(ns("app"), pod("app", "web", {"app": "web"}, ip="10.0.1.1"))
    exp = ask(open_snap, "app/web", "10.244.0.10", "53", "UDP")
    assert exp.state == "unknown"
    assert "egress side (app/web) allows this flow" in str(exp.unknown)


def test_egress_the_source_denies_whatever_the_far_end_is_stays_denied() -> None:
    snap = partial(ns("app"), pod("app", "web", {"app": "web"}, ip="10.0.1.1"), DNS_EGRESS)
    exp = ask(snap, "app/web", "10.244.0.10", "80")
    assert exp.state == "denied"
    assert exp.unknown is None
    judged = [w for w in exp.warnings if w.code == "judged-one-side"]
    assert [w.text.split(":")[0] for w in judged] == ["judged on the egress side only"]
    assert judged[0].subject == "10.244.0.10"
    assert explanation_to_dict(exp)["allowed"] is False


def test_a_whole_snapshot_is_unchanged() -> None:
    snap = cluster(ns("app"), pod("app", "web", {"app": "web"}, ip="10.0.1.1"), DNS_EGRESS)
    exp = ask(snap, "app/web", "10.244.0.10", "53", "UDP")
    assert exp.state == "denied"
    assert exp.unknown is None


def test_live_explain_with_n_says_unknown(
    kube_api_factory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's example: CoreDNS in kube-system, from a user limited to `checkout`."""
    from triage.sources.recording import load_incident

    server = kube_api_factory(incident=bundled_incident("demo"))
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig", context="prod")
    snapshot = load_incident(bundled_incident("demo")).snapshot
    coredns = next(p for p in snapshot.pods if p.namespace == "kube-system")
    source = "checkout/checkout-web-7c9d8f6b5-8hx2p"
    common = ["--kubeconfig", str(kubeconfig), "-n", "checkout", "-o", "json"]
    assert (
        main(["explain", *common, "--from", source, "--to", coredns.key, "--port", "53/UDP"]) == 0
    )
    document = json.loads(capsys.readouterr().out)
    assert document["allowed"] is None
    assert document["unknown"].startswith("unknown: not loaded (-n): the destination is in ")
    assert (
        main(["explain", *common, "--from", source, "--to", coredns.ips[0], "--port", "53/UDP"])
        == 0
    )
    document = json.loads(capsys.readouterr().out)
    # The whole cluster allows it (test_incidents); the scoped answer must not say DENIED.
    assert document["allowed"] is None
    assert document["unknown"] == (
        f"unknown: not loaded (-n): {coredns.ips[0]} is not a pod of the loaded namespaces "
        "(checkout); it may be a pod of a namespace that was not loaded (-n); the egress side "
        f"({source}) allows this flow, the ingress at the destination is not known"
    )
    assert (
        main(
            ["explain", *common[:-2], "--from", source, "--to", coredns.ips[0], "--port", "53/UDP"]
        )
        == 0
    )
    assert "UNKNOWN" in capsys.readouterr().out


def test_checklist_on_a_partial_snapshot_never_fails_for_lack_of_data() -> None:
    from triage.checklist import ChecklistContext, run_step
    from triage.checklist.runbook import runbook_for
    from triage.model import parse_flow
    from triage.sources.recording import load_incident

    whole = load_incident(bundled_incident("demo")).snapshot
    keep = ("checkout",)
    snap = Snapshot(
        tuple(n for n in whole.namespaces if n.name in keep),
        tuple(p for p in whole.pods if p.namespace in keep),
        tuple(s for s in whole.services if s.namespace in keep),
        tuple(p for p in whole.policies if p.namespace in keep),
        scope=keep,
    )
    flow = parse_flow(
        "monitoring/prometheus-k8s-0", "checkout/checkout-api-6b8f7d9c4-kz4vn", "9090"
    )
    ctx = ChecklistContext(snap, flow)
    found = {sid: run_step(ctx, sid) for sid in runbook_for(ctx).step_ids}
    assert found["verdict"].status == "warn"
    assert found["verdict"].summary.startswith("unknown: not loaded (-n): the source is in ")
    assert found["dns"].status == "skip"
    assert "not loaded (-n)" in found["dns"].summary
    assert not [sid for sid, r in found.items() if r.status in ("fail", "error")]
