"""`triage exposure`: concrete blast radii, deciding rules that agree with the engine, and
containment (the lateral-movement runbook)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from triage.cli import main
from triage.model import (
    Flow,
    LabelSelector,
    NetworkPolicy,
    PodRef,
    Rule,
    Snapshot,
)
from triage.policy import explain
from triage.policy.classes import compile_snapshot
from triage.policy.exposure import (
    RuleRef,
    compute_exposure,
    contain,
    exposure_to_dict,
    find_pod,
)
from triage.sources.manifests import load_manifests

from .test_matrix import random_snapshot

DATA = Path(__file__).parent / "data"
CLASSIC = DATA / "classic.yaml"
LATERAL = DATA / "matrix" / "lateral.yaml"
INCIDENT = (
    Path(__file__).parent.parent / "runbooks" / "incidents" / "lateral-movement-debug-pod.yaml"
)


def load(path: Path) -> Snapshot:
    snapshot, _ = load_manifests([path])
    return snapshot


def reaches(exposure: object, attr: str = "outbound") -> dict[str, str]:
    return {r.key: r.allowed.describe() for r in getattr(exposure, attr)}


def test_debug_pod_blast_radius_before_default_deny() -> None:
    snap = load(LATERAL)
    pod, _ = find_pod(snap, "develop/debug")
    exp = compute_exposure(snap, pod)
    assert not exp.isolated["Egress"] and exp.isolated["Ingress"]
    assert exp.default_deny["Ingress"] == ("develop/default-deny-ingress",)
    assert exp.default_deny["Egress"] == ()
    assert reaches(exp) == {
        "kube-system/coredns": "all ports",
        "production/production-db": "all ports",
        "traefik/traefik": "all ports",
    }
    assert reaches(exp, "inbound") == {}  # develop's default-deny ingress
    db = next(r for r in exp.outbound if r.key == "production/production-db")
    (grant,) = db.ports
    assert (grant.port, grant.protocol, grant.name) == (5432, "TCP", "postgres")
    assert grant.egress is None and grant.ingress is None  # neither side isolated
    assert grant.services == ("production/production-db:5432/TCP",)
    services = {(s.service, s.port) for s in exp.services}
    assert ("production/production-db", 5432) in services
    assert [(e.direction, e.peer) for e in exp.external] == [
        ("Egress", "any address"),
    ]


def test_backend_is_reached_by_traefik_through_allow_backend_ingress() -> None:
    snap = load(CLASSIC)
    pod, _ = find_pod(snap, "develop/backend-6c8f9-h4lm")
    exp = compute_exposure(snap, pod)
    assert reaches(exp, "inbound") == {"traefik/traefik": "TCP 8080"}
    (inbound,) = exp.inbound
    (grant,) = inbound.ports
    assert grant.port == 8080 and grant.name == "http"
    assert grant.ingress == RuleRef("develop/allow-backend-ingress", "Ingress", 0)
    assert grant.egress is None
    assert grant.services == ("develop/backend:80/TCP",)
    # allow-dns-egress isolates backend's egress: DNS only
    assert reaches(exp) == {"kube-system/coredns": "TCP 53; UDP 53"}
    (dns,) = exp.outbound
    assert {g.egress for g in dns.ports} == {RuleRef("develop/allow-dns-egress", "Egress", 0)}
    data = exposure_to_dict(exp)
    json.dumps(data)
    assert data["reached_by"][0]["ports"][0]["ingress"] == (
        "develop/allow-backend-ingress ingress rule #0"
    )


def test_workload_name_resolves_to_its_first_pod_and_unknown_names_fail() -> None:
    snap = load(CLASSIC)
    pod, notes = find_pod(snap, "develop/backend")
    assert pod.name == "backend-6c8f9-h4lm" and "workload" in notes[0]
    from triage.policy import UnknownEndpoint

    with pytest.raises(UnknownEndpoint, match="did you mean"):
        find_pod(snap, "develop/debugg")
    with pytest.raises(UnknownEndpoint, match="no namespace"):
        find_pod(snap, "nope/debug")


@pytest.mark.parametrize("seed", range(15))
def test_deciding_rules_agree_with_engine(seed: int) -> None:
    snap = random_snapshot(seed, pods=10, policies=8)
    model = compile_snapshot(snap)
    for pod in snap.pods[:5]:
        exp = compute_exposure(snap, pod, model)
        for reach in exp.outbound:
            for name in reach.pods:
                for grant in reach.ports:
                    flow = Flow(
                        PodRef(pod.namespace, pod.name),
                        PodRef(reach.namespace, name),
                        grant.port,
                        grant.protocol,
                    )
                    (verdict,) = explain(snap, flow).verdicts
                    assert verdict.allowed
                    for side, ref in (
                        (verdict.egress, grant.egress),
                        (verdict.ingress, grant.ingress),
                    ):
                        if ref is None:
                            assert not side.isolated
                        else:
                            assert side.decision is not None
                            assert (side.decision.policy, side.decision.rule) == (
                                ref.policy,
                                ref.rule,
                            )
        for reach in exp.inbound:
            for name in reach.pods:
                for grant in reach.ports:
                    flow = Flow(
                        PodRef(reach.namespace, name),
                        PodRef(pod.namespace, pod.name),
                        grant.port,
                        grant.protocol,
                    )
                    assert explain(snap, flow).allowed


def test_quarantine_leaves_only_dns() -> None:
    snap = load(LATERAL)
    pod, _ = find_pod(snap, "develop/debug")
    c = contain(snap, pod, "pod")
    assert c.policy.key == "develop/quarantine"
    assert c.manifest["spec"]["podSelector"] == {"matchLabels": {"quarantine": "true"}}
    assert c.manifest["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert c.commands[-1] == (
        "kubectl label pod -n develop debug quarantine=true --overwrite app- run-"
    )
    assert c.residual == () and c.residual_inbound == () and c.kept_open_by == ()
    assert reaches(c.after) == {"kube-system/coredns": "TCP 53; UDP 53"}
    yaml.safe_load(yaml.safe_dump(c.manifest))


def test_namespace_default_deny_egress_cuts_the_database() -> None:
    snap = load(LATERAL)
    pod, _ = find_pod(snap, "develop/debug")
    c = contain(snap, pod, "namespace")
    assert c.policy.key == "develop/default-deny-egress"
    assert c.policy.pod_selector.is_empty and c.policy.policy_types == ("Egress",)
    assert reaches(c.after) == {"kube-system/coredns": "TCP 53; UDP 53"}
    after = snap.with_policies((*snap.policies, c.policy))
    flow = Flow(PodRef("develop", "debug"), PodRef("production", "production-db-0"), 5432)
    assert explain(snap, flow).allowed and not explain(after, flow).allowed


def test_containment_names_the_policy_that_keeps_a_path_open() -> None:
    snap = load(LATERAL)
    allow_all = NetworkPolicy(
        "develop", "allow-all-egress", LabelSelector(), ("Egress",), egress=(Rule(),)
    )
    snap = snap.with_policies((*snap.policies, allow_all))
    pod, _ = find_pod(snap, "develop/debug")
    c = contain(snap, pod, "pod")
    assert "production/production-db" in {r.key for r in c.residual}
    assert c.kept_open_by == ("develop/allow-all-egress",)


def test_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["exposure", "develop/debug", "--manifests", str(LATERAL), "-o", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {r["workload"] for r in data["reaches"]} == {"coredns", "production-db", "traefik"}
    assert data["containment"]["residual"] == []
    assert main(["exposure", "develop/debug", "--manifests", str(LATERAL)]) == 0
    out = capsys.readouterr().out
    assert "production-db" in out and "quarantine" in out
    assert main(["exposure", "develop/debug", "--manifests", str(LATERAL), "-o", "yaml"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["kind"] == "NetworkPolicy"
    assert main(["exposure", "develop/nope", "--manifests", str(LATERAL)]) == 2


def test_bundled_lateral_movement_incident(capsys: pytest.CaptureFixture[str]) -> None:
    assert INCIDENT.is_file(), f"{INCIDENT} is bundled and must stay so"
    args = ["exposure", "develop/debug-shell", "--recording", str(INCIDENT), "-o", "json"]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    db = next(r for r in data["reaches"] if r["workload"] == "production-db")
    assert db["all_ports"] and db["ports"][0]["port"] == 5432
    assert data["default_deny"]["Egress"] == []
    assert data["containment"]["residual"] == []
