"""The classic scenario (tests/data/classic.yaml, DEVELOPERS.md): namespace develop with
default-deny ingress, allow-dns-egress (which isolates every pod for egress: the trap) and
allow-backend-ingress."""

from __future__ import annotations

import pytest

from tests.engine_builders import CLASSIC, ask, cluster, netpol
from triage.model import Snapshot
from triage.policy.describe import near_miss_text, side_summary
from triage.sources.manifests import load_manifests

FRONTEND = "develop/frontend-7d4b9c-x2kq"
CANARY = "develop/frontend-canary-5f6d7-p9zz"
BACKEND = "develop/backend-6c8f9-h4lm"
DEBUG = "develop/debug"
TRAEFIK = "traefik/traefik-8b7c6-q1w2"

# The fix the on-call engineer writes: let the frontends reach the backend.
ALLOW_FRONTEND_EGRESS = netpol(
    "develop",
    "allow-frontend-to-backend",
    {
        "matchExpressions": [
            {"key": "app", "operator": "In", "values": ["frontend", "frontend-canary"]}
        ]
    },
    policy_types=["Egress"],
    egress=[
        {"to": [{"podSelector": {"matchLabels": {"app": "backend"}}}], "ports": [{"port": 8080}]}
    ],
)


@pytest.fixture(scope="module")
def classic() -> Snapshot:
    snapshot, report = load_manifests([CLASSIC])
    assert report.skipped_kinds == {}
    return snapshot


@pytest.fixture(scope="module")
def fixed(classic: Snapshot) -> Snapshot:
    extra = cluster(ALLOW_FRONTEND_EGRESS).policies
    return classic.with_policies((*classic.policies, *extra))


def test_debug_pod_to_production_db_is_denied_at_egress(classic: Snapshot) -> None:
    e = ask(classic, DEBUG, "production/svc/production-db", 5432)
    assert not e.allowed
    v = e.primary
    assert v is not None and v.destination.name == "production/production-db-0"
    assert (v.egress.allowed, v.ingress.allowed) == (False, True)
    assert side_summary(v.egress) == (
        "develop/debug is isolated for egress by allow-dns-egress (podSelector {} selects "
        "every pod of develop for Egress, so it isolates them all); none of their 1 egress "
        "rule(s) allows TCP 5432 to production/production-db-0"
    )
    assert side_summary(v.ingress).startswith("no policy selects production/production-db-0")
    assert v.nearest_miss is not None
    assert (v.nearest_miss.policy, v.nearest_miss.rule) == ("develop/allow-dns-egress", 0)
    assert [r.code for r in v.nearest_miss.missing] == ["wrong-namespace", "label-missing", "port"]


def test_frontend_to_kube_dns_udp_53_is_allowed(classic: Snapshot) -> None:
    e = ask(classic, FRONTEND, "kube-system/svc/kube-dns", 53, "UDP")
    assert e.allowed
    v = e.primary
    assert v is not None and (v.port, v.port_name, v.protocol) == (53, "dns", "UDP")
    assert v.egress.decision is not None
    assert (v.egress.decision.policy, v.egress.decision.rule) == ("develop/allow-dns-egress", 0)
    assert side_summary(v.egress).endswith(
        "develop/allow-dns-egress egress rule #0 allows UDP 53 to kube-system/coredns-5d78c-abcd"
    )
    assert not v.ingress.isolated


def test_traefik_to_backend_8080_is_allowed(classic: Snapshot) -> None:
    e = ask(classic, TRAEFIK, BACKEND, 8080)
    assert e.allowed
    v = e.primary
    assert v is not None and not v.egress.isolated
    assert v.ingress.decision is not None
    assert (v.ingress.decision.policy, v.ingress.decision.rule) == (
        "develop/allow-backend-ingress",
        0,
    )
    peers = v.ingress.policies[0].rules[0].peers
    assert [p.matched for p in peers] == [False, True]  # via the traefik namespaceSelector
    # ... also through the Service.
    assert ask(classic, TRAEFIK, "develop/svc/backend", 80).allowed


def test_frontend_to_backend_is_denied_at_egress_by_the_dns_policy(classic: Snapshot) -> None:
    for dst, port in ((BACKEND, 8080), ("develop/svc/backend", 80)):
        e = ask(classic, FRONTEND, dst, port)
        assert not e.allowed
        v = e.primary
        assert v is not None and v.port == 8080
        assert (v.egress.allowed, v.ingress.allowed) == (False, True)
        assert [p.name for p in v.egress.policies] == ["allow-dns-egress"]
        assert (
            "allow-dns-egress (podSelector {} selects every pod of develop for Egress, so it "
            "isolates them all)"
        ) in side_summary(v.egress)
        assert v.nearest_miss is not None and v.nearest_miss.direction == "Egress"


def test_once_egress_is_opened_frontend_reaches_backend(fixed: Snapshot) -> None:
    e = ask(fixed, FRONTEND, BACKEND, 8080)
    assert e.allowed
    v = e.primary
    assert v is not None and v.egress.decision is not None and v.ingress.decision is not None
    assert v.egress.decision.policy == "develop/allow-frontend-to-backend"
    assert v.ingress.decision.policy == "develop/allow-backend-ingress"
    assert ask(fixed, FRONTEND, "develop/svc/backend", 80).allowed


def test_canary_stays_denied_with_its_label_named(fixed: Snapshot) -> None:
    e = ask(fixed, CANARY, BACKEND, 8080)
    assert not e.allowed
    v = e.primary
    assert v is not None and (v.egress.allowed, v.ingress.allowed) == (True, False)
    assert v.nearest_miss is not None
    assert (v.nearest_miss.direction, v.nearest_miss.policy, v.nearest_miss.rule) == (
        "Ingress",
        "develop/allow-backend-ingress",
        0,
    )
    (reason,) = v.nearest_miss.missing
    assert (reason.code, reason.key, reason.actual) == ("value-not-in", "app", "frontend-canary")
    assert reason.text == "source label app=frontend-canary is not in [frontend, frontend-primary]"
    assert near_miss_text(v.nearest_miss) == (
        "develop/allow-backend-ingress ingress rule #0: source label app=frontend-canary is "
        "not in [frontend, frontend-primary]"
    )


def test_canary_nearest_miss_is_the_backend_rule_even_while_egress_is_closed(
    classic: Snapshot,
) -> None:
    # Both sides deny; the backend rule lacks one label value, the DNS rule lacks a
    # namespace, a pod label and a port: the backend rule is the nearest.
    v = ask(classic, CANARY, BACKEND, 8080).primary
    assert v is not None and not v.egress.allowed and not v.ingress.allowed
    assert v.nearest_miss is not None
    assert (v.nearest_miss.policy, v.nearest_miss.rule) == ("develop/allow-backend-ingress", 0)
    assert [r.code for r in v.nearest_miss.missing] == ["value-not-in"]


def test_frontend_to_backend_metrics_port_is_denied(fixed: Snapshot) -> None:
    v = ask(fixed, FRONTEND, BACKEND, 9090).primary
    assert v is not None and not v.allowed
    assert v.port_name == "metrics"
    # Both the new egress rule and the ingress rule are on 8080 only.
    assert (v.egress.allowed, v.ingress.allowed) == (False, False)
    assert v.nearest_miss is not None
    (reason,) = v.nearest_miss.missing
    assert (reason.code, reason.text) == ("port", "port 9090 is not 8080")


def test_classic_file_loads_as_documented(classic: Snapshot) -> None:
    assert [n.name for n in classic.namespaces] == [
        "develop",
        "kube-system",
        "production",
        "traefik",
    ]
    assert len(classic.pods) == 7 and len(classic.services) == 3
    assert [p.name for p in classic.policies] == [
        "allow-backend-ingress",
        "allow-dns-egress",
        "default-deny-ingress",
    ]
