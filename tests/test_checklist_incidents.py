"""Every bundled incident through its runbook with the recorded prober: the statuses each
step must reach and the sentences that carry the diagnosis."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from triage.checklist import ChecklistContext, StepResult, candidate_flows, load_runbook, run_all
from triage.model.incident import Incident
from triage.probes import RecordedProber
from triage.sources.recording import load_incident

INCIDENTS = Path(__file__).resolve().parent.parent / "triage" / "data" / "incidents"


@cache
def incident(name: str) -> Incident:
    return load_incident(INCIDENTS / f"{name}.yaml")


def run(name: str, flow_index: int, runbook: str = "blocked-flow") -> dict[str, StepResult]:
    inc = incident(name)
    ctx = ChecklistContext(
        inc.snapshot,
        inc.flows[flow_index].flow,
        inc,
        RecordedProber(inc),
        runbook=load_runbook(runbook),
    )
    return {r.step_id: r for r in run_all(ctx)}


def statuses(got: dict[str, StepResult]) -> str:
    return " ".join(f"{k}={r.status}" for k, r in got.items())


def test_frontend_canary_label_mismatch() -> None:
    got = run("frontend-canary-label-mismatch", 0)
    assert statuses(got) == (
        "flow=pass dns=pass labels=fail namespaces=pass tiers=skip "
        "ports=pass verdict=fail probe=pass "
        "changes=skip"
    )
    assert got["labels"].summary == (
        "source label app=frontend-canary is not in [frontend, frontend-primary]; did you "
        "mean frontend? (develop/allow-backend-ingress ingress rule #0)"
    )
    assert got["dns"].summary == (
        "backend.develop.svc.cluster.local resolves to 10.12.7.201 (the Service's ClusterIP)"
    )
    assert got["probe"].summary == (
        "connection to 10.12.7.201:80 timed out, as predicted: a NetworkPolicy drop"
    )
    assert "probe (recorded): timeout in 3002 ms" in got["probe"].evidence
    assert "allow-frontend-canary-to-backend-8080" in got["verdict"].details["fix_yaml"]
    control = run("frontend-canary-label-mismatch", 1)
    assert control["verdict"].status == "pass"
    assert control["probe"].summary == "connected to 10.12.7.201:80, as predicted"


def test_traefik_namespace_label_missing() -> None:
    got = run("traefik-namespace-label-missing", 0)
    assert statuses(got) == (
        "flow=pass dns=pass labels=pass namespaces=fail tiers=skip "
        "ports=pass verdict=fail probe=pass "
        "changes=skip"
    )
    assert got["namespaces"].summary.startswith(
        "namespace traefik has no label kubernetes.io/metadata.name (needs "
        "kubernetes.io/metadata.name=traefik); Kubernetes sets it from 1.21 on"
    )
    assert got["namespaces"].hint.startswith("label the namespace")
    fix = got["verdict"].details["fix_yaml"]
    assert "# NOTE: namespace traefik has no kubernetes.io/metadata.name=traefik label" in fix


def test_service_targetport_mismatch() -> None:
    got = run("service-targetport-mismatch", 0)
    assert statuses(got) == (
        "flow=fail dns=pass labels=pass namespaces=pass tiers=skip "
        "ports=fail verdict=fail probe=pass "
        "changes=skip"
    )
    assert got["flow"].summary == (
        "Service orders/orders-api targetPort http matches no container port of "
        "orders/orders-api-84c7d9f5b6-9tq2m (its ports: web 8080/TCP, metrics 9102/TCP); "
        "the Service forwards nothing to it"
    )
    assert got["verdict"].summary.startswith("the policies allow it, but it cannot connect:")
    assert "fix_yaml" not in got["verdict"].details
    assert got["probe"].summary == (
        "connection to 10.0.148.91:80 refused, as predicted: the policies allow it, but the "
        "Service forwards to a port no backend has"
    )
    direct = run("service-targetport-mismatch", 1)
    assert direct["verdict"].status == "pass" and direct["probe"].status == "pass"


def test_dns_egress_default_deny() -> None:
    got = run("dns-egress-default-deny", 1)
    assert statuses(got) == (
        "flow=pass dns=fail labels=pass namespaces=pass tiers=skip "
        "ports=pass verdict=pass probe=pass "
        "changes=skip"
    )
    assert got["dns"].summary.startswith(
        "DNS lookup of fraud-scorer.risk.svc.cluster.local timed out, as the policies "
        "predict: policies deny UDP and TCP 53 from payments/payments-api-6f9c7b8d4-2xkqp"
    )
    assert "kube-dns on UDP and TCP 53" in got["dns"].hint
    dns_flow = run("dns-egress-default-deny", 0)
    assert dns_flow["verdict"].status == "fail"
    assert dns_flow["probe"].status == "skip"
    assert dns_flow["probe"].summary.startswith("not recorded: the recording has no connect probe")


def test_failed_rollout_blocked_flow_names_the_change() -> None:
    got = run("failed-rollout", 0)
    assert statuses(got) == (
        "flow=pass dns=pass labels=pass namespaces=pass tiers=skip "
        "ports=fail verdict=fail probe=pass "
        "changes=fail"
    )
    assert got["ports"].summary == (
        "checkout/allow-api-from-web ingress rule #0 admits the source but not the port: "
        "port 8080 is not 8443"
    )
    assert got["changes"].summary.endswith("denied now; policy checkout/allow-api-from-web changed")
    assert got["changes"].details["diff"] == (
        "--- known-good/networkpolicy/checkout/allow-api-from-web\n"
        "+++ now/networkpolicy/checkout/allow-api-from-web\n"
        "@@ -18,4 +18,4 @@\n"
        "           app: checkout-web\n"
        "     ports:\n"
        "     - protocol: TCP\n"
        "-      port: 8080\n"
        "+      port: 8443\n"
    )
    scrape = run("failed-rollout", 2)
    assert scrape["changes"].summary.endswith(
        "denied now; policy checkout/allow-metrics-scrape removed"
    )


def test_failed_rollout_runbook() -> None:
    got = run("failed-rollout", 0, "failed-rollout")
    assert statuses(got) == "changes=fail regressions=fail rollback=warn"
    regressions = got["regressions"]
    assert regressions.summary.endswith("are denied now")
    assert any(
        e.startswith("monitoring/prometheus-k8s-0 → checkout/svc/checkout-api:9090/TCP")
        for e in regressions.evidence
    )
    assert got["rollback"].summary.startswith("roll back 3 policy change(s) to known-good")


def test_lateral_movement_debug_pod() -> None:
    got = run("lateral-movement-debug-pod", 0, "lateral-movement")
    assert statuses(got) == "default-deny=warn exposure=fail containment=pass"
    exposure = got["exposure"]
    assert (
        "reaches production/production-db (1 pod) on all ports (it declares 5432/TCP "
        "(postgres))" in exposure.evidence
    )
    assert exposure.summary == (
        "develop/debug-shell can open connections to 4 pods in 4 workloads and to addresses "
        "outside the cluster"
    )
    assert got["containment"].summary == "quarantining develop/debug-shell cuts every path but DNS"
    blocked = run("lateral-movement-debug-pod", 0)
    # the recording is from before containment: the flow works, and the known-good
    # baseline denied it
    assert blocked["changes"].summary.startswith("allowed now, denied with known-good")


@pytest.mark.parametrize("name", sorted(p.stem for p in INCIDENTS.glob("*.yaml")))
def test_every_incident_every_flow_runs_cleanly(name: str) -> None:
    inc = incident(name)
    for index in range(len(inc.flows)):
        for runbook in (
            "blocked-flow",
            "failed-rollout",
            "lateral-movement",
            "default-deny-rollout",
        ):
            got = run(name, index, runbook)
            assert "error" not in {r.status for r in got.values()}, statuses(got)
            assert all(r.summary and r.kubectl for r in got.values())
    found = candidate_flows(inc.snapshot, inc)
    assert [c.flow for c in found[: len(inc.flows)]] == [f.flow for f in inc.flows]
