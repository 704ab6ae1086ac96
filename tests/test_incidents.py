"""The bundled incidents: each loads, tells a complete story, and each reported flow gets
the verdict and the reason the incident is about."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from triage.checklist.model import ChecklistContext
from triage.checklist.run import run_step
from triage.cli import main
from triage.model import IPRef, PodRef, ServiceRef, parse_flow
from triage.model.incident import Incident
from triage.policy import Explanation, Reason, explain
from triage.sources.recording import (
    DEMO_INCIDENT,
    bundled_incident,
    bundled_incidents,
    load_incident,
)

REQUIRED = {
    "dns-egress-default-deny",
    "frontend-canary-label-mismatch",
    "traefik-namespace-label-missing",
    "failed-rollout",
    "lateral-movement-debug-pod",
    "service-targetport-mismatch",
}


@dataclass(frozen=True)
class Expect:
    """What one reported flow must come out as."""

    allowed: bool
    denied_by: str | None = None  # "egress" or "ingress": the side that says no
    code: str | None = None  # a reason code of the nearest miss, or that of `blocked_by`
    text: str = ""  # a phrase of that same reason's text
    policy: str | None = None  # the policy of the nearest miss, or the one that allows
    tier: str = ""  # an Admin/Baseline decision: the deciding tier step's text


EXPECTED: dict[str, list[Expect]] = {
    "dns-egress-default-deny": [
        # The lookup: egress of payments-api is isolated (default-deny-all and the
        # fraud-scorer allow); nothing allows UDP 53 to CoreDNS.
        Expect(
            False,
            "egress",
            "protocol",
            "rule allows TCP, flow is UDP",
            "payments/allow-api-to-fraud-scorer",
        ),
        # The call itself is allowed by policy.
        Expect(True, policy="payments/allow-api-to-fraud-scorer"),
    ],
    "frontend-canary-label-mismatch": [
        Expect(
            False,
            "ingress",
            "value-not-in",
            "source label app=frontend-canary is not in [frontend, frontend-primary]",
            "develop/allow-backend-ingress",
        ),
        Expect(True, policy="develop/allow-backend-ingress"),
        Expect(True, policy="develop/allow-web-from-traefik"),
    ],
    "traefik-namespace-label-missing": [
        Expect(
            False,
            "ingress",
            "namespace-name-label-missing",
            "namespace traefik has no label kubernetes.io/metadata.name",
            "shop/allow-from-traefik",
        ),
        Expect(True, policy="shop/allow-storefront-to-catalog"),
    ],
    "failed-rollout": [
        Expect(False, "ingress", "port", "port 8080 is not 8443", "checkout/allow-api-from-web"),
        Expect(
            False,
            "egress",
            "namespace-not-own",
            "destination is in namespace kube-system",
            "checkout/allow-api-to-db",
        ),
        Expect(
            False,
            "ingress",
            "namespace-not-own",
            "source is in namespace monitoring",
            "checkout/allow-api-from-web",
        ),
    ],
    "lateral-movement-debug-pod": [
        # Before containment nothing stops the debug pod: no side is isolated.
        Expect(True),
        Expect(True),
        Expect(True),
    ],
    "default-deny-rollout": [
        # Before the rollout: only backend is isolated (ingress), and the frontends may call it.
        Expect(True, policy="production/backend-allow-frontend"),
        Expect(True),
        Expect(True, policy="production/backend-allow-frontend"),
        Expect(True),
        Expect(True),
        Expect(True),
    ],
    "cilium-payments-rollout": [
        # The new gateway calls the ledger on 9443; the ledger's policy allows 8080 only.
        Expect(
            False, "ingress", "port", "port 9443 is not 8080", "payments/allow-ledger-from-gateway"
        ),
        # NetworkPolicy allows the risk check: a CiliumNetworkPolicy deny drops it (Hubble).
        Expect(True, policy="payments/allow-risk-from-gateway"),
    ],
    "service-targetport-mismatch": [
        # The policies allow it; the Service's named targetPort matches no container port.
        Expect(False, None, "target-port-unresolved", "targetPort http matches no container"),
        Expect(True, policy="orders/allow-orders-from-checkout"),
    ],
    "platform-admin-deny": [
        # The NetworkPolicy allows it; the Admin tier decides first and denies it.
        Expect(
            False,
            "ingress",
            tier="Admin: cnp/finance-isolation rule deny-cross-namespace Deny",
        ),
    ],
}


def load(name: str) -> Incident:
    return load_incident(bundled_incident(name))


def cases() -> list[tuple[str, int, Expect]]:
    return [(name, i, e) for name, flows in EXPECTED.items() for i, e in enumerate(flows)]


def deciding_reasons(explanation: Explanation) -> tuple[Reason, ...]:
    """What blocks the flow: `blocked_by` (not policy), else what the nearest rule lacks."""
    verdict = explanation.primary
    assert verdict is not None
    if verdict.blocked_by is not None:
        return (verdict.blocked_by,)
    assert verdict.nearest_miss is not None
    return verdict.nearest_miss.missing


# ---------------------------------------------------------------- the set


def test_the_required_incidents_are_bundled() -> None:
    names = {p.stem for p in bundled_incidents()}
    assert names >= REQUIRED
    assert set(EXPECTED) == names, "every bundled incident needs its expectations here"
    assert DEMO_INCIDENT in REQUIRED
    assert bundled_incident("demo").stem == "failed-rollout"


@pytest.mark.parametrize("path", bundled_incidents(), ids=lambda p: p.stem)
def test_incident_tells_a_complete_story(path: Path) -> None:
    incident = load_incident(path)
    meta = incident.meta
    assert meta.title and meta.summary and meta.cluster and meta.context and meta.captured_at
    assert incident.snapshot.warnings == ()
    snap = incident.snapshot
    assert len(snap.namespaces) >= 3
    assert not any(ns.synthesized for ns in snap.namespaces)
    # Cluster DNS is part of every incident.
    dns = snap.service("kube-system", "kube-dns")
    assert dns is not None
    assert any(
        p.namespace == "kube-system" and p.labels.get("k8s-app") == "kube-dns" for p in snap.pods
    )
    assert incident.flows and all(r.note for r in incident.flows)
    assert incident.notes and all(n.at and n.text for n in incident.notes)
    assert incident.probes
    for probe in incident.probes:
        namespace, name = probe.source.split("/")
        assert snap.pod(namespace, name) is not None, probe.source
        assert probe.output and probe.duration_ms > 0 and probe.at
        # The recorded command and its output, as a terminal showed them.
        assert probe.output.startswith(("$ nslookup ", "$ nc "))
    # Timestamps are strings (never datetimes) and in order.
    times = [n.at for n in incident.notes]
    assert times == sorted(times)
    assert all(isinstance(t, str) for t in [meta.captured_at, *times])
    # Real-looking objects: owners, images, IPs.
    for pod in snap.pods:
        assert pod.ips and pod.phase == "Running"
        assert all(c.image for c in pod.containers)
    assert sum(p.owner is not None for p in snap.pods) >= len(snap.pods) - 1


def test_incidents_are_distinct() -> None:
    incidents = [load_incident(p) for p in bundled_incidents()]
    assert len({i.meta.title for i in incidents}) == len(incidents)
    assert len({i.meta.cluster for i in incidents}) == len(incidents)
    pod_ips = [ip for i in incidents for p in i.snapshot.pods for ip in p.ips]
    assert len(set(pod_ips)) == len(pod_ips)


# ---------------------------------------------------------------- verdicts


@pytest.mark.parametrize(("name", "index", "expect"), cases(), ids=lambda v: str(v)[:40])
def test_reported_flow_verdict(name: str, index: int, expect: Expect) -> None:
    incident = load(name)
    assert len(incident.flows) == len(EXPECTED[name])
    explanation = explain(incident.snapshot, incident.flows[index].flow)
    verdict = explanation.primary
    assert verdict is not None
    assert explanation.allowed is expect.allowed
    if expect.allowed:
        assert verdict.nearest_miss is None and verdict.blocked_by is None
        if expect.policy is not None:
            decisions = [s.decision.policy for s in (verdict.egress, verdict.ingress) if s.decision]
            assert expect.policy in decisions
        return
    if expect.denied_by == "egress":
        assert not verdict.egress.allowed and verdict.ingress.allowed
    elif expect.denied_by == "ingress":
        assert verdict.egress.allowed and not verdict.ingress.allowed
    else:  # not a policy verdict: both sides allow, something else blocks
        assert verdict.egress.allowed and verdict.ingress.allowed
    if expect.tier:
        side = verdict.ingress if expect.denied_by == "ingress" else verdict.egress
        assert side.tiers is not None and side.tiers.decided_by in ("Admin", "Baseline")
        assert side.tiers.text == expect.tier
        assert verdict.nearest_miss is None
        return
    reasons = deciding_reasons(explanation)
    assert any(r.code == expect.code and expect.text in r.text for r in reasons), reasons
    if expect.policy is not None:
        assert verdict.nearest_miss is not None
        assert verdict.nearest_miss.policy == expect.policy


def test_dns_egress_default_deny_is_the_default_deny() -> None:
    incident = load("dns-egress-default-deny")
    verdict = explain(incident.snapshot, incident.flows[0].flow).primary
    assert verdict is not None
    assert verdict.egress.isolated
    deny_all = next(p for p in verdict.egress.policies if p.name == "default-deny-all")
    assert deny_all.rules == ()
    assert set(deny_all.policy_types) == {"Ingress", "Egress"}
    assert not any(p.name == "allow-dns-egress" for p in incident.snapshot.policies)
    dns_probe = next(p for p in incident.probes if p.kind == "dns")
    assert dns_probe.outcome == "timeout"
    assert ";; connection timed out; no servers could be reached" in dns_probe.output


def test_traefik_namespace_lacks_the_name_label() -> None:
    incident = load("traefik-namespace-label-missing")
    labels = incident.snapshot.namespace_labels("traefik")
    assert labels is not None and "kubernetes.io/metadata.name" not in labels


def test_service_targetport_mismatch_blocks_every_backend() -> None:
    incident = load("service-targetport-mismatch")
    explanation = explain(incident.snapshot, incident.flows[0].flow)
    assert explanation.service is not None and explanation.service.target_port == "http"
    assert len(explanation.verdicts) == 2
    assert all(
        v.blocked_by and v.blocked_by.code == "target-port-unresolved" for v in explanation.verdicts
    )
    assert all(v.egress.allowed and v.ingress.allowed for v in explanation.verdicts)
    refused = next(p for p in incident.probes if p.outcome == "refused")
    assert "Connection refused" in refused.output


# ---------------------------------------------------------------- known-good


def test_failed_rollout_known_good_differs_by_add_change_remove() -> None:
    incident = load("failed-rollout")
    (known_good,) = incident.known_good
    live = {p.key: p for p in incident.snapshot.policies}
    good = {p.key: p for p in known_good.policies}
    added = live.keys() - good.keys()
    removed = good.keys() - live.keys()
    changed = {k for k in live.keys() & good.keys() if live[k] != good[k]}
    assert added == {"checkout/allow-api-to-db"}
    assert removed == {"checkout/allow-metrics-scrape"}
    assert changed == {"checkout/allow-api-from-web"}
    # Labels did not move: the breakage is the policies alone.
    assert known_good.namespace_labels == {
        ns.name: dict(ns.labels) for ns in incident.snapshot.namespaces
    }
    assert known_good.pod_labels == {p.key: dict(p.labels) for p in incident.snapshot.pods}


def test_failed_rollout_rollback_reopens_every_reported_flow() -> None:
    incident = load("failed-rollout")
    before = incident.snapshot.with_policies(incident.known_good[0].policies)
    for reported in incident.flows:
        assert not explain(incident.snapshot, reported.flow).allowed
        assert explain(before, reported.flow).allowed, str(reported.flow)


def test_lateral_movement_containment_closes_the_path() -> None:
    incident = load("lateral-movement-debug-pod")
    flow = incident.flows[0].flow
    assert flow.source == PodRef("develop", "debug-shell")
    assert flow.destination == ServiceRef("production", "production-db") and flow.port == 5432
    verdict = explain(incident.snapshot, flow).primary
    assert verdict is not None and not verdict.egress.isolated and not verdict.ingress.isolated
    assert incident.flows[2].flow.destination == IPRef("169.254.169.254")
    success = [p for p in incident.probes if p.port == 5432]
    assert success and all(p.outcome == "success" and "succeeded!" in p.output for p in success)
    (baseline,) = incident.known_good
    contained = incident.snapshot.with_policies(baseline.policies)
    assert not explain(contained, flow).allowed
    assert not explain(contained, incident.flows[1].flow).allowed
    legit = parse_flow(
        "production/backend-api-7f8d6c9b5-mq2zt", "production/svc/production-db", 5432
    )
    assert explain(contained, legit).allowed
    ingress = parse_flow(
        "ingress-nginx/ingress-nginx-controller-84f6b9c7d5-9wq4j", "production/svc/backend-api", 80
    )
    assert explain(contained, ingress).allowed


# ---------------------------------------------------------------- the CLI


@pytest.mark.parametrize(("name", "index", "expect"), cases(), ids=lambda v: str(v)[:40])
def test_triage_explain_recording(
    name: str, index: int, expect: Expect, capsys: pytest.CaptureFixture[str]
) -> None:
    path = bundled_incident(name)
    flow = load_incident(path).flows[index].flow
    code = main(
        [
            "explain",
            "--recording",
            str(path),
            "--from",
            str(flow.source),
            "--to",
            str(flow.destination),
            "--port",
            str(flow.port),
            "--protocol",
            flow.protocol,
            "--output",
            "json",
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    document = json.loads(out.out)
    assert document["allowed"] is expect.allowed
    if expect.code == "target-port-unresolved":
        assert document["blocked_by"]["code"] == expect.code
    elif expect.code is not None:
        assert expect.code in [r["code"] for r in document["nearest_miss"]["missing"]]


# ---------------------------------------------------------------- admin tier


def test_platform_admin_deny_shadows_the_networkpolicy_allow() -> None:
    incident = load("platform-admin-deny")
    flow = incident.flows[0].flow
    # Without the Admin tier the team's NetworkPolicy admits the flow.
    assert explain(incident.snapshot.with_admin_policies(()), flow).allowed
    ctx = ChecklistContext(incident.snapshot, flow)
    step = run_step(ctx, "tiers")
    assert step.status == "fail"
    assert step.summary == (
        "Admin tier: cnp/finance-isolation rule deny-cross-namespace denies ingress at "
        "finance/ledger-5b7c9d8f4-t6wqz (peer: namespaces team notin (finance))"
    )
    assert step.kubectl == "kubectl get clusternetworkpolicies finance-isolation -o yaml"
    # The known-good admin policy (same name, priority 10) passes reports down again.
    (known_good,) = incident.known_good
    assert [(a.key, a.priority) for a in known_good.admin_policies] == [
        ("cnp/finance-isolation", 10)
    ]
    assert explain(incident.snapshot.with_admin_policies(known_good.admin_policies), flow).allowed


def test_platform_admin_deny_rollback_plan_restores_the_earlier_admin_policy(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = bundled_incident("platform-admin-deny")
    argv = ["rollback", "plan", "--recording", str(path), "--state-dir", str(tmp_path), "-o"]
    assert main([*argv, "json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["simulation"] is True
    assert [
        (s["action"], s["key"], s["kind"], s["tier"], s["priority"], s["phase"])
        for s in plan["steps"]
    ] == [("replace", "cnp/finance-isolation", "ClusterNetworkPolicy", "Admin", 10, 1)]
    step = plan["steps"][0]
    assert [r["name"] for r in step["manifest"]["spec"]["ingress"]] == [
        "pass-reports",
        "deny-sandboxes",
    ]
    assert plan["unchanged"] == [
        "finance/allow-ledger-from-reports",
        "finance/default-deny-ingress",
    ]
    opened = [(f["source"], f["destination"], f["port"]) for f in plan["delta"]["opened"]]
    assert opened == [("reports/nightly-close", "finance/ledger", 8443)]
    assert plan["delta"]["closed"] == []
    assert main([*argv, "text"]) == 0
    text = capsys.readouterr().out
    assert "1. replace cnp/finance-isolation  [phase 1 allow]" in text
    assert "ClusterNetworkPolicy, Admin tier, priority 10 (cluster-scoped)" in text


def test_platform_admin_deny_has_no_networkpolicy_fix(capsys: pytest.CaptureFixture[str]) -> None:
    """An Admin-tier Deny decides before any NetworkPolicy: `--fix` offers none, and says why."""
    path = bundled_incident("platform-admin-deny")
    argv = ["explain", "--recording", str(path), "--from", "reports/nightly-close-7f6d5c4b9-h8rnp"]
    argv += ["--to", "finance/svc/ledger", "--port", "8443", "--fix"]
    assert main([*argv, "-o", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["allowed"] is False and document["fix"] is None
    assert main(argv) == 0
    assert "Fix: an Admin-tier Deny decides before any NetworkPolicy" in capsys.readouterr().out
