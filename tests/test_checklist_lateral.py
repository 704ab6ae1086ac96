"""The lateral-movement runbook on the classic scenario: default-deny, exposure and
containment, computed with triage.policy.exposure."""

from __future__ import annotations

import pytest
import yaml

from tests.test_checklist_classic import CLASSIC
from triage.checklist import ChecklistContext, StepResult, load_runbook, run_all
from triage.model import Snapshot, parse_flow
from triage.policy import is_allowed
from triage.sources.manifests import load_manifests
from triage.sources.parse import parse_network_policy


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
    assert [r.status for r in got.values()] == ["pass", "warn", "pass"]
    assert got["default-deny"].summary == (
        "namespace develop has a default-deny for ingress and egress"
    )
    assert got["default-deny"].evidence == (
        "Ingress: develop/default-deny-ingress",
        "Egress: develop/allow-dns-egress (with 1 allow rule(s))",
    )
    assert got["exposure"].summary == (
        "develop/debug can open connections to 1 pod in 1 workload (cluster DNS only)"
    )
    assert got["exposure"].evidence == (
        "reaches kube-system/coredns (1 pod) on 53/TCP (dns-tcp), 53/UDP (dns)",
    )
    contain = got["containment"]
    assert contain.summary == "quarantining develop/debug cuts every path but DNS"
    assert contain.evidence == (
        "1. kubectl apply -f quarantine.yaml",
        "2. kubectl label pod -n develop debug quarantine=true --overwrite app- run-",
    )
    quarantine = yaml.safe_load(contain.details["fix_yaml"])
    assert quarantine["spec"]["podSelector"] == {"matchLabels": {"quarantine": "true"}}
    assert quarantine["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert [p["port"] for p in quarantine["spec"]["egress"][0]["ports"]] == [53, 53]


def test_pod_in_a_namespace_without_policies(classic: Snapshot) -> None:
    got = lateral(classic, "traefik/traefik-8b7c6-q1w2")
    assert got["default-deny"].status == "fail"
    assert got["default-deny"].summary == (
        "namespace traefik has no default-deny for ingress and egress"
    )
    fix = yaml.safe_load(got["default-deny"].details["fix_yaml"])
    # The default-deny keeps DNS egress to the DNS pods (UDP and TCP 53), nothing else.
    assert fix["spec"] == {
        "podSelector": {},
        "policyTypes": ["Ingress", "Egress"],
        "egress": [
            {
                "to": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                        },
                        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                    }
                ],
                "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
            }
        ],
    }
    # Applied, the engine agrees: DNS still resolves, lateral movement is cut.
    policy, problems = parse_network_policy(fix, "fix.yaml", 0)
    assert policy is not None and not problems
    after = classic.with_policies((*classic.policies, policy))
    dns = "kube-system/coredns-5d78c-abcd"
    for proto in ("UDP", "TCP"):
        assert is_allowed(after, parse_flow("traefik/traefik-8b7c6-q1w2", dns, "53", proto))
    assert not is_allowed(
        after, parse_flow("traefik/traefik-8b7c6-q1w2", "production/production-db-0", "5432")
    )
    # ...and the step says what it closes, verified on the whole cluster.
    delta = got["default-deny"].details["fix_delta"]
    lines = delta.splitlines()
    assert lines[:2] == ["opens nothing", "closes 10 flows:"]
    assert "  traefik/traefik-8b7c6-q1w2 → develop/backend-6c8f9-h4lm:8080/TCP" in lines
    assert not any("→ kube-system/" in line for line in lines)  # DNS stays open
    assert got["default-deny"].evidence[-1] == (
        "the default-deny closes 10 pod-to-pod flows allowed today (allow what each workload "
        "needs first); it keeps DNS egress"
    )
    exposure = got["exposure"]
    assert exposure.status == "fail"
    assert exposure.summary == (
        "traefik/traefik-8b7c6-q1w2 can open connections to 3 pods in 3 workloads and to "
        "addresses outside the cluster"
    )
    assert "reaches develop/backend (1 pod) on 8080/TCP (http)" in exposure.evidence
    assert (
        "reaches production/production-db (1 pod) on all ports (it declares 5432/TCP "
        "(postgres))" in exposure.evidence
    )
    assert "reaches outside the cluster: any address on all ports (not isolated)" in (
        exposure.evidence
    )
    contain = got["containment"]
    assert contain.status == "pass"
    assert any("its ReplicaSet, which starts a clean replacement" in e for e in contain.evidence)


def test_containment_names_what_keeps_paths_open(classic: Snapshot) -> None:
    # An allow-all egress policy with podSelector {} keeps the quarantined pod's egress open.
    from tests.test_checklist_classic import with_manifests

    allow_all = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "allow-all-egress", "namespace": "develop"},
        "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]},
    }
    snapshot = with_manifests(classic, [allow_all])
    contain = lateral(snapshot, "develop/debug")["containment"]
    assert contain.status == "warn"
    assert contain.summary == (
        "quarantining develop/debug leaves 4 path(s) open: policies are additive, and "
        "develop/allow-all-egress, develop/allow-dns-egress still select it"
    )
    assert "kept open by: develop/allow-all-egress, develop/allow-dns-egress" in contain.evidence
    assert (
        "would remain: reaches outside the cluster: any address on all ports "
        "(develop/allow-all-egress egress rule #0)" in contain.evidence
    )
    assert contain.details["residual"]


def test_ip_source_is_skipped(classic: Snapshot) -> None:
    ctx = ChecklistContext(
        classic,
        parse_flow("203.0.113.5", "develop/svc/backend", "80"),
        runbook=load_runbook("lateral-movement"),
    )
    assert {r.status for r in run_all(ctx)} == {"skip"}
