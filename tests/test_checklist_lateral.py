"""The lateral-movement runbook on the classic scenario: default-deny, exposure, containment."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from tests.test_checklist_classic import CLASSIC
from triage.checklist import ChecklistContext, StepResult, load_runbook, run_all
from triage.checklist.lateral import containment, default_denies, reach
from triage.model import Snapshot, parse_flow
from triage.sources.manifests import load_manifests


@pytest.fixture(scope="module")
def classic() -> Snapshot:
    return load_manifests([CLASSIC])[0]


def lateral(snapshot: Snapshot, src: str) -> dict[str, StepResult]:
    ctx = ChecklistContext(
        snapshot,
        parse_flow(src, "production/svc/production-db", "5432"),
        runbook=load_runbook("lateral-movement"),
    )
    return {r.step_id: r for r in run_all(ctx)}


def test_debug_pod_in_develop(classic: Snapshot) -> None:
    got = lateral(classic, "develop/debug")
    assert [r.status for r in got.values()] == ["pass", "warn", "warn"]
    assert got["default-deny"].summary == (
        "namespace develop has a default-deny for ingress and egress"
    )
    assert got["default-deny"].evidence == (
        "Ingress: develop/default-deny-ingress",
        "Egress: develop/allow-dns-egress (allows only its 1 rule)",
    )
    assert got["exposure"].summary == (
        "develop/debug can open 2 connections to other workloads (cluster DNS only)"
    )
    contain = got["containment"]
    assert contain.summary == (
        "quarantining develop/debug leaves 2 path(s) open through broad selectors"
    )
    assert "would remain: reaches kube-system/coredns (coredns-5d78c-abcd) 53/UDP" in (
        contain.evidence
    )
    assert (
        "2. kubectl label pod -n develop debug quarantine=true --overwrite app- run-"
        in contain.evidence
    )
    quarantine = yaml.safe_load(contain.details["fix_yaml"])
    assert quarantine["spec"] == {
        "podSelector": {"matchLabels": {"quarantine": "true"}},
        "policyTypes": ["Ingress", "Egress"],
    }


def test_pod_in_a_namespace_without_policies(classic: Snapshot) -> None:
    got = lateral(classic, "traefik/traefik-8b7c6-q1w2")
    assert got["default-deny"].status == "fail"
    assert got["default-deny"].summary == (
        "namespace traefik has no default-deny for ingress and egress"
    )
    fix = yaml.safe_load(got["default-deny"].details["fix_yaml"])
    assert fix["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    exposure = got["exposure"]
    assert exposure.status == "fail"
    assert exposure.summary.endswith("and to the internet and the cloud metadata endpoint")
    assert "reaches develop/backend (backend-6c8f9-h4lm) 8080/TCP" in exposure.evidence
    assert "reaches production/production-db (production-db-0) 5432/TCP" in exposure.evidence
    assert got["containment"].status == "pass"
    assert got["containment"].summary == "quarantining traefik/traefik-8b7c6-q1w2 cuts every path"
    assert any(
        "its ReplicaSet, which starts a clean replacement" in e for e in got["containment"].evidence
    )


def test_reach_and_reached_by(classic: Snapshot) -> None:
    backend = classic.pod_by_key["develop/backend-6c8f9-h4lm"]
    result = reach(classic, backend)
    assert [str(p) for p in result.reached_by] == ["traefik/traefik (traefik-8b7c6-q1w2) 8080/TCP"]
    assert [str(p) for p in result.reachable] == [
        "kube-system/coredns (coredns-5d78c-abcd) 53/TCP",
        "kube-system/coredns (coredns-5d78c-abcd) 53/UDP",
    ]
    assert result.external == ()
    assert result.unknown_ports == 1  # the debug pod declares no port
    assert not result.truncated


def test_containment_is_simulated_not_assumed(classic: Snapshot) -> None:
    debug = classic.pod_by_key["develop/debug"]
    plan = containment(classic, debug)
    # allow-dns-egress selects every pod of develop, quarantined or not
    assert plan.residual == (
        "reaches kube-system/coredns (coredns-5d78c-abcd) 53/TCP",
        "reaches kube-system/coredns (coredns-5d78c-abcd) 53/UDP",
    )
    assert plan.steps[2] == (
        "   removing its labels takes the pod out of its Services; nothing replaces it"
    )


def test_default_denies(classic: Snapshot) -> None:
    assert default_denies(classic, "develop") == {
        "Ingress": ["develop/default-deny-ingress"],
        "Egress": ["develop/allow-dns-egress (allows only its 1 rule)"],
    }
    assert default_denies(classic, "production") == {"Ingress": [], "Egress": []}


def test_ip_source_is_skipped(classic: Snapshot) -> None:
    ctx = ChecklistContext(
        classic,
        parse_flow("203.0.113.5", "develop/svc/backend", "80"),
        runbook=load_runbook("lateral-movement"),
    )
    assert {r.status for r in run_all(ctx)} == {"skip"}


def test_hostnetwork_pods_are_not_counted(classic: Snapshot) -> None:
    pods = tuple(
        dataclasses.replace(p, host_network=True) if p.name.startswith("traefik") else p
        for p in classic.pods
    )
    snapshot = dataclasses.replace(classic, pods=pods)
    backend = snapshot.pod_by_key["develop/backend-6c8f9-h4lm"]
    assert reach(snapshot, backend).reached_by == ()
