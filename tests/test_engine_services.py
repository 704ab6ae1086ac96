"""Service verdicts follow the EndpointSlices: per-pod FindPort of a named targetPort,
readiness, terminating pods and publishNotReadyAddresses (triage.policy.services)."""

from __future__ import annotations

from typing import Any

from tests.engine_builders import Manifest, ask, cluster, labels, netpol, ns, pod, svc
from triage.model import parse_flow
from triage.policy import explanation_to_dict, service_backends
from triage.policy.exposure import compute_exposure
from triage.policy.services import port_backends

WEB = {"app": "web"}


def _ready(doc: Manifest, ready: bool) -> Manifest:
    doc["status"]["conditions"] = [{"type": "Ready", "status": "True" if ready else "False"}]
    return doc


def _terminating(doc: Manifest) -> Manifest:
    doc["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return doc


def _partial_named_port(*extra: Manifest) -> Any:
    return cluster(
        ns("app"),
        pod("app", "cli", {"app": "cli"}, ip="10.0.0.1"),
        pod("app", "web-1", WEB, ip="10.0.0.2", ports=[("metrics", 9100, "TCP")]),
        pod("app", "web-2", WEB, ip="10.0.0.3", ports=[(None, 9100, "TCP")]),
        svc("app", "web", WEB, [{"port": 9100, "targetPort": "metrics"}]),
        *extra,
    )


def test_a_pod_that_cannot_resolve_the_named_target_port_is_not_a_backend() -> None:
    """No NetworkPolicy at all: web-2 declares 9100 without the name, so the EndpointSlice
    controller leaves it out of the port and the Service forwards only to web-1."""
    e = ask(_partial_named_port(), "app/cli", "app/svc/web", 9100)
    assert e.allowed and e.problem is None
    assert [v.destination.name for v in e.verdicts] == ["app/web-1"]
    assert e.service is not None and e.service.backends == ("app/web-1",)
    assert [(w.code, w.subject) for w in e.warnings] == [("service-not-backend", "app/web")]
    assert e.warnings[0].text == (  # golden wording
        "not backends of Service app/web port 9100/TCP (targetPort metrics), so left out of the "
        "verdict: app/web-2 (no container port named metrics/TCP)"
    )
    doc = explanation_to_dict(e)
    assert doc["allowed"] is True
    assert [w["code"] for w in doc["warning_details"]] == ["service-not-backend"]
    assert [b["destination"] for b in doc["backends"]] == ["app/web-1"]


def test_the_left_out_pod_does_not_deny_the_service_flow() -> None:
    # A policy admitting only web-1's port name: web-2 would deny, but it is no backend.
    deny_2 = netpol("app", "only-metrics", labels(app="web"), ingress=[{"ports": [{"port": 1}]}])
    e = ask(_partial_named_port(deny_2), "app/cli", "app/svc/web", 9100)
    assert not e.allowed and [v.destination.name for v in e.verdicts] == ["app/web-1"]


def test_when_no_pod_resolves_the_port_each_is_shown_blocked() -> None:
    snap = cluster(
        ns("app"),
        pod("app", "cli", {"app": "cli"}, ip="10.0.0.1"),
        pod("app", "web-1", WEB, ip="10.0.0.2", ports=[(None, 80, "TCP")]),
        svc("app", "web", WEB, [{"port": 80, "targetPort": "http"}]),
    )
    e = ask(snap, "app/cli", "app/svc/web", 80)
    assert not e.allowed and e.service is not None and e.service.backends == ()
    assert [(v.destination.name, v.blocked_by and v.blocked_by.code) for v in e.verdicts] == [
        ("app/web-1", "target-port-unresolved")
    ]


def test_named_port_in_two_containers_resolves_to_the_first() -> None:
    doc = pod("app", "web-1", WEB, ip="10.0.0.2", ports=[("http", 81, "TCP")])
    doc["spec"]["containers"].append(
        {"name": "b", "image": "x", "ports": [{"name": "http", "containerPort": 443}]}
    )
    snap = cluster(
        ns("app"),
        pod("app", "cli", {"app": "cli"}, ip="10.0.0.1"),
        doc,
        svc("app", "web", WEB, [{"port": 80, "targetPort": "http"}]),
    )
    e = ask(snap, "app/cli", "app/svc/web", 80)
    assert [(v.destination.name, v.port) for v in e.verdicts] == [("app/web-1", 81)]


def _readiness_world(*pods: Manifest, publish: bool = False) -> Any:
    service = svc("app", "web", WEB, [{"port": 80, "targetPort": 8080}])
    if publish:
        service["spec"]["publishNotReadyAddresses"] = True
    return cluster(ns("app"), pod("app", "cli", {"app": "cli"}, ip="10.0.0.1"), *pods, service)


def _web(name: str, ip: str) -> Manifest:
    return pod("app", name, WEB, ip=ip, ports=[("http", 8080, "TCP")])


def test_not_ready_pods_are_not_backends_unless_published() -> None:
    up = _ready(_web("web-1", "10.0.0.2"), True)
    down = _ready(_web("web-2", "10.0.0.3"), False)
    e = ask(_readiness_world(up, down), "app/cli", "app/svc/web", 80)
    assert [v.destination.name for v in e.verdicts] == ["app/web-1"]
    assert [w.code for w in e.warnings] == ["service-not-backend"]
    assert "app/web-2 (not ready)" in e.warnings[0].text
    published = _readiness_world(up, down, publish=True)
    e = ask(published, "app/cli", "app/svc/web", 80)
    assert [v.destination.name for v in e.verdicts] == ["app/web-1", "app/web-2"]
    assert e.warnings == ()


def test_a_pod_without_a_ready_condition_counts_as_ready() -> None:
    e = ask(_readiness_world(_web("web-1", "10.0.0.2")), "app/cli", "app/svc/web", 80)
    assert e.allowed and [v.destination.name for v in e.verdicts] == ["app/web-1"]


def test_terminating_pods_serve_only_when_nothing_is_ready() -> None:
    ready = _ready(_web("web-1", "10.0.0.2"), True)
    leaving = _terminating(_ready(_web("web-2", "10.0.0.3"), True))
    e = ask(_readiness_world(ready, leaving), "app/cli", "app/svc/web", 80)
    assert [v.destination.name for v in e.verdicts] == ["app/web-1"]
    assert "app/web-2 (terminating)" in e.warnings[0].text
    # Only terminating pods: kube-proxy falls back to those still serving (Ready).
    not_serving = _terminating(_ready(_web("web-3", "10.0.0.4"), False))
    e = ask(_readiness_world(leaving, not_serving), "app/cli", "app/svc/web", 80)
    assert e.allowed and [v.destination.name for v in e.verdicts] == ["app/web-2"]
    # publishNotReadyAddresses: every pod is ready, terminating or not.
    e = ask(_readiness_world(ready, leaving, publish=True), "app/cli", "app/svc/web", 80)
    assert [v.destination.name for v in e.verdicts] == ["app/web-1", "app/web-2"]


def test_no_ready_backend_at_all_is_blocked_before_policy() -> None:
    down = _ready(_web("web-1", "10.0.0.2"), False)
    e = ask(_readiness_world(down), "app/cli", "app/svc/web", 80)
    assert not e.allowed
    assert [v.blocked_by and v.blocked_by.code for v in e.verdicts] == ["backend-not-ready"]
    assert e.verdicts[0].egress.allowed and e.verdicts[0].ingress.allowed


def test_readiness_and_deletion_survive_the_recording_round_trip() -> None:
    from triage.sources.recording import pod_manifest, service_manifest
    from triage.sources.redact import redact_pod, redact_service

    snap = _readiness_world(_terminating(_ready(_web("web-1", "10.0.0.2"), False)), publish=True)
    web = snap.pod("app", "web-1")
    assert web is not None and web.ready is False and web.terminating
    service = snap.services[0]
    assert service.publish_not_ready
    again = cluster(
        ns("app"), redact_pod(pod_manifest(web)), redact_service(service_manifest(service))
    )
    assert again.pods == (web,) and again.services == (service,)


def test_every_consumer_asks_the_same_backends() -> None:
    snap = _partial_named_port()
    service = snap.services[0]
    assert [p.key for p in service_backends(snap, service)] == ["app/web-1"]
    res = port_backends(snap, service, service.ports[0])
    assert [(nb.pod.key, nb.code) for nb in res.excluded] == [
        ("app/web-2", "target-port-unresolved")
    ]
    cli = snap.pod("app", "cli")
    assert cli is not None
    exposure = compute_exposure(snap, cli)
    assert [(s.service, s.reachable, s.backends) for s in exposure.services] == [
        ("app/web", ("app/web-1",), 1)
    ]


def test_checklist_flow_and_ports_steps_read_the_same_backends() -> None:
    from triage.checklist import ChecklistContext, run_step

    ctx = ChecklistContext(_partial_named_port(), parse_flow("app/cli", "app/svc/web", 9100))
    flow = run_step(ctx, "flow")
    assert "backend" in flow.summary and "1 backend on 9100/TCP" in flow.summary
    ports = run_step(ctx, "ports")
    assert ports.status == "warn"
    assert ports.summary.startswith("not backends of Service app/web port 9100/TCP")
    verdict = run_step(ctx, "verdict")
    # Allowed; the left-out pod is worth a look, so the step warns with it as evidence.
    assert verdict.status == "warn" and verdict.summary.startswith("allowed")
    assert any(e.startswith("warning: not backends of Service app/web") for e in verdict.evidence)
