"""What changed since the known-good set: the verdict then and now, and the exact change
(policy or label) that flipped it; the failed-rollout runbook's steps; regressed flows."""

from __future__ import annotations

import dataclasses

import pytest

from tests.checklist_support import BACKEND, CANARY, FRONTEND, TRAEFIK
from triage.checklist import ChecklistContext, candidate_flows, load_runbook, run_all, run_step
from triage.checklist.candidates import regressed_flows
from triage.checklist.changes import changes_between, flow_change, then_snapshot
from triage.model import NetworkPolicy, Snapshot, parse_flow
from triage.model.incident import Incident, IncidentMeta, KnownGood
from triage.sources.parse import parse_network_policy


def _policy(snapshot: Snapshot, name: str) -> NetworkPolicy:
    return next(p for p in snapshot.policies if p.name == name)


def _backend_ingress_admitting_canary(snapshot: Snapshot) -> NetworkPolicy:
    pol = _policy(snapshot, "allow-backend-ingress")
    manifest = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": pol.name, "namespace": pol.namespace},
        "spec": {
            **pol.manifest["spec"],
            "ingress": [
                {
                    "from": [
                        {
                            "podSelector": {
                                "matchExpressions": [
                                    {
                                        "key": "app",
                                        "operator": "In",
                                        "values": ["frontend", "frontend-canary"],
                                    }
                                ]
                            }
                        },
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": "traefik"}
                            }
                        },
                    ],
                    "ports": [{"protocol": "TCP", "port": 8080}],
                }
            ],
        },
    }
    policy, problems = parse_network_policy(manifest, "kg", 0)
    assert policy is not None and not problems
    return policy


@pytest.fixture(scope="module")
def known_good(classic: Snapshot) -> KnownGood:
    """Before the rollout: no allow-dns-egress, and the backend admitted the canary."""
    policies = tuple(
        _backend_ingress_admitting_canary(classic) if p.name == "allow-backend-ingress" else p
        for p in classic.policies
        if p.name != "allow-dns-egress"
    )
    return KnownGood("before-rollout", "2024-09-01T12:00:00Z", policies)


def test_changes_between(classic: Snapshot, known_good: KnownGood) -> None:
    changes = changes_between(classic, known_good)
    assert [(c.kind, c.key) for c in changes] == [
        ("policy-added", "develop/allow-dns-egress"),
        ("policy-changed", "develop/allow-backend-ingress"),
    ]
    changed = changes[1]
    assert changed.diff.startswith(
        "--- known-good/networkpolicy/develop/allow-backend-ingress\n"
        "+++ now/networkpolicy/develop/allow-backend-ingress\n"
    )
    assert "-          - frontend-canary\n" in changed.diff
    assert "+          - frontend-primary\n" in changed.diff


def test_no_single_change_flips_it_but_together_they_do(
    classic: Snapshot, known_good: KnownGood
) -> None:
    flow = parse_flow(CANARY, "develop/svc/backend", "80")
    fc = flow_change(classic, known_good, flow)
    assert (fc.allowed_then, fc.allowed_now, fc.regressed) == (True, False, True)
    assert fc.flipping == ()
    assert fc.jointly
    result = run_step(ChecklistContext(classic, flow, known_good=known_good), "changes")
    assert result.status == "fail"
    assert result.summary == (
        "regressed: allowed with known-good before-rollout (2024-09-01T12:00:00Z), denied now; "
        "these changes together: policy develop/allow-dns-egress added; policy "
        "develop/allow-backend-ingress changed"
    )
    assert "+  name: allow-dns-egress" in result.details["diff"]


def test_single_policy_change_flips_it(classic: Snapshot, known_good: KnownGood) -> None:
    # frontend → backend: only the new allow-dns-egress (egress isolation) closed it
    flow = parse_flow(FRONTEND, "develop/svc/backend", "80")
    result = run_step(ChecklistContext(classic, flow, known_good=known_good), "changes")
    assert result.status == "fail"
    assert result.summary.endswith("denied now; policy develop/allow-dns-egress added")
    assert "flipped it: policy develop/allow-dns-egress added" in result.evidence
    assert result.details["diff"].startswith(
        "--- known-good/networkpolicy/develop/allow-dns-egress"
    )


def test_flow_that_still_works(classic: Snapshot, known_good: KnownGood) -> None:
    flow = parse_flow(TRAEFIK, "develop/svc/backend", "80")
    result = run_step(ChecklistContext(classic, flow, known_good=known_good), "changes")
    assert result.status == "pass"
    assert result.summary == (
        "allowed with known-good before-rollout (2024-09-01T12:00:00Z) and now; 2 change(s) "
        "since, none closes this flow"
    )


def test_flow_already_denied_then(classic: Snapshot) -> None:
    same = KnownGood("same", "", classic.policies)
    flow = parse_flow(CANARY, "develop/svc/backend", "80")
    result = run_step(ChecklistContext(classic, flow, known_good=same), "changes")
    assert result.status == "warn"
    assert result.summary == "not a regression: already denied with known-good same"


def test_namespace_label_change_flips_it(classic: Snapshot) -> None:
    # now: the traefik namespace lost kubernetes.io/metadata.name (e.g. recreated on 1.20)
    namespaces = tuple(
        dataclasses.replace(ns, labels={}) if ns.name == "traefik" else ns
        for ns in classic.namespaces
    )
    now = dataclasses.replace(classic, namespaces=namespaces)
    kg = KnownGood(
        "labels",
        "",
        classic.policies,
        namespace_labels={"traefik": {"kubernetes.io/metadata.name": "traefik"}},
    )
    flow = parse_flow(TRAEFIK, "develop/svc/backend", "80")
    result = run_step(ChecklistContext(now, flow, known_good=kg), "changes")
    assert result.status == "fail"
    assert result.summary.endswith(
        "denied now; labels of namespace traefik changed: -kubernetes.io/metadata.name=traefik"
    )
    assert result.details["diff"] == (
        "--- known-good/namespace/traefik\n"
        "+++ now/namespace/traefik\n"
        "@@ -1,2 +1 @@\n"
        "-labels:\n"
        "-  kubernetes.io/metadata.name: traefik\n"
        "+labels: {}\n"
    )


def test_pod_label_change_flips_it(classic: Snapshot) -> None:
    policies = tuple(p for p in classic.policies if p.name != "allow-dns-egress")
    pods = tuple(
        dataclasses.replace(p, labels={"app": "frontend-v2", "tier": "web"})
        if p.key == FRONTEND
        else p
        for p in classic.pods
    )
    now = Snapshot(classic.namespaces, pods, classic.services, policies)
    kg = KnownGood(
        "labels", "", policies, pod_labels={FRONTEND: {"app": "frontend", "tier": "web"}}
    )
    flow = parse_flow(FRONTEND, "develop/svc/backend", "80")
    then = then_snapshot(now, kg)
    assert then.pod_by_key[FRONTEND].labels == {"app": "frontend", "tier": "web"}
    result = run_step(ChecklistContext(now, flow, known_good=kg), "changes")
    assert result.status == "fail"
    assert result.summary.endswith(f"labels of pod {FRONTEND} changed: app=frontend→frontend-v2")
    assert "-  app: frontend\n" in result.details["diff"]
    assert "+  app: frontend-v2\n" in result.details["diff"]


def test_known_good_comes_from_the_incident(classic: Snapshot, known_good: KnownGood) -> None:
    incident = Incident(IncidentMeta("t"), classic, known_good=(known_good,))
    ctx = ChecklistContext(classic, parse_flow(FRONTEND, BACKEND, "8080"), incident=incident)
    assert ctx.effective_known_good is known_good


def test_failed_rollout_runbook(classic: Snapshot, known_good: KnownGood) -> None:
    flow = parse_flow(CANARY, "develop/svc/backend", "80")
    ctx = ChecklistContext(
        classic, flow, known_good=known_good, runbook=load_runbook("failed-rollout")
    )
    got = {r.step_id: r for r in run_all(ctx)}
    assert [got[k].status for k in ("changes", "regressions", "rollback")] == [
        "fail",
        "fail",
        "warn",
    ]
    regressions = got["regressions"]
    assert regressions.summary.endswith("allowed with known-good before-rollout are denied now")
    assert any(
        e.startswith(f"{CANARY} → develop/svc/backend:80/TCP: allowed with known-good")
        for e in regressions.evidence
    )
    rollback = got["rollback"]
    assert rollback.summary.startswith("roll back 2 policy change(s) to known-good before-rollout")
    assert "allow-dns-egress" in rollback.details["diff"]


def test_regressed_flows_and_candidates(classic: Snapshot, known_good: KnownGood) -> None:
    found = regressed_flows(classic, known_good)
    shown = {str(c.flow) for c in found}
    # everything in develop lost its egress (allow-dns-egress isolates every pod there)
    assert f"{CANARY} → develop/svc/backend:80/TCP" in shown
    assert f"{FRONTEND} → develop/svc/backend:80/TCP" in shown
    assert f"{BACKEND} → production/svc/production-db:5432/TCP" in shown
    assert all(c.source == "regressed" for c in found)
    # traefik → backend still works: not a regression
    assert f"{TRAEFIK} → develop/svc/backend:80/TCP" not in shown
    incident = Incident(IncidentMeta("t"), classic, known_good=(known_good,))
    candidates = candidate_flows(classic, incident)
    assert {c.source for c in candidates} == {"regressed"}


def test_no_known_good_skips(classic: Snapshot) -> None:
    ctx = ChecklistContext(
        classic, parse_flow(CANARY, BACKEND, "8080"), runbook=load_runbook("failed-rollout")
    )
    assert [r.status for r in run_all(ctx)] == ["skip", "skip", "skip"]
