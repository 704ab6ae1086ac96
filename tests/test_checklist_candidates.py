"""Candidate flows: reported, regressed since the known-good set, DNS-blocked, Services no
outside pod can reach; and fast on 10k pods."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tests.checklist_support import CANARY, FRONTEND, TRAEFIK
from triage.checklist import CandidateFlow, candidate_flows
from triage.model import Snapshot, parse_flow
from triage.model.incident import Incident, IncidentMeta, KnownGood, ReportedFlow
from triage.policy import is_allowed
from triage.sources.assemble import assemble


def by_source(candidates: list[CandidateFlow]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for c in candidates:
        out.setdefault(c.source, []).append(str(c.flow))
    return out


def test_classic_has_nothing_to_propose_without_an_incident(classic: Snapshot) -> None:
    # develop's egress allows DNS; every Service is reachable from somewhere outside
    assert candidate_flows(classic) == []


def test_reported_flows_come_first_with_their_note(classic: Snapshot) -> None:
    flow = parse_flow(CANARY, "develop/svc/backend", "80")
    incident = Incident(IncidentMeta("t"), classic, flows=(ReportedFlow(flow, "504s"),))
    (only,) = candidate_flows(classic, incident)
    assert only == CandidateFlow(flow, "504s", "reported")


def test_dns_blocked_workloads(classic: Snapshot) -> None:
    policies = tuple(p for p in classic.policies if p.name != "allow-dns-egress")
    deny = dataclasses.replace(
        next(p for p in classic.policies if p.name == "default-deny-ingress"),
        name="deny-egress",
        policy_types=("Egress",),
        manifest={},
    )
    snapshot = classic.with_policies((*policies, deny))
    found = candidate_flows(snapshot)
    assert {c.source for c in found} == {"dns"}
    flows = {str(c.flow) for c in found}
    assert f"{FRONTEND} → kube-system/svc/kube-dns:53/UDP" in flows
    assert f"{CANARY} → kube-system/svc/kube-dns:53/UDP" in flows
    assert len(flows) == 4  # every develop workload: frontend, canary, backend, debug
    assert all(not is_allowed(snapshot, c.flow) for c in found)
    assert found[0].reason.endswith(
        "is isolated for egress and its policies do not allow DNS (UDP 53 to "
        "kube-system/coredns-5d78c-abcd)"
    )


def test_unreachable_service_when_the_namespace_label_is_missing(classic: Snapshot) -> None:
    namespaces = tuple(
        dataclasses.replace(ns, labels={}) if ns.name == "traefik" else ns
        for ns in classic.namespaces
    )
    snapshot = dataclasses.replace(classic, namespaces=namespaces)
    found = candidate_flows(snapshot)
    assert [(c.source, str(c.flow)) for c in found] == [
        ("unreachable-service", f"{TRAEFIK} → develop/svc/backend:80/TCP")
    ]
    assert found[0].reason == (
        "no pod outside develop can reach Service develop/backend port 80/TCP (backends on "
        "8080), although its ingress policies name clients outside the namespace"
    )


def test_internal_services_are_not_proposed(classic: Snapshot) -> None:
    # production-db admits only its own namespace: internal by design
    deny = dataclasses.replace(
        next(p for p in classic.policies if p.name == "default-deny-ingress"),
        namespace="production",
        manifest={},
    )
    snapshot = classic.with_policies((*classic.policies, deny))
    assert candidate_flows(snapshot) == []


def test_regressed_flows_from_the_known_good_set(classic: Snapshot) -> None:
    before = tuple(p for p in classic.policies if p.name != "allow-dns-egress")
    incident = Incident(IncidentMeta("t"), classic, known_good=(KnownGood("kg", "", before),))
    found = by_source(candidate_flows(classic, incident))
    assert set(found) == {"regressed"}
    assert f"{FRONTEND} → develop/svc/backend:80/TCP" in found["regressed"]
    assert (
        "develop/backend-6c8f9-h4lm → production/svc/production-db:5432/TCP" in (found["regressed"])
    )
    # the canary was denied before too (ingress): not a regression
    assert f"{CANARY} → develop/svc/backend:80/TCP" not in found["regressed"]


# ---------------------------------------------------------------- 10k pods


def _big_cluster(n_ns: int = 50, n_wl: int = 20, n_pods: int = 10) -> Snapshot:
    docs: list[dict[str, Any]] = [
        {
            "kind": "Namespace",
            "metadata": {
                "name": "kube-system",
                "labels": {"kubernetes.io/metadata.name": "kube-system"},
            },
        },
        {
            "kind": "Pod",
            "metadata": {
                "name": "coredns-1",
                "namespace": "kube-system",
                "labels": {"k8s-app": "kube-dns"},
            },
            "spec": {
                "containers": [
                    {
                        "name": "c",
                        "ports": [
                            {"containerPort": 53, "protocol": "UDP"},
                            {"containerPort": 53, "protocol": "TCP"},
                        ],
                    }
                ]
            },
            "status": {"phase": "Running", "podIP": "10.250.0.10"},
        },
    ]
    n = 0
    for i in range(n_ns):
        ns = f"ns{i}"
        docs.append(
            {
                "kind": "Namespace",
                "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}},
            }
        )
        for w in range(n_wl):
            app = f"app{w}"
            for p in range(n_pods):
                n += 1
                docs.append(
                    {
                        "kind": "Pod",
                        "metadata": {
                            "name": f"{app}-abc-{p}",
                            "namespace": ns,
                            "labels": {"app": app, "pod-template-hash": "abc"},
                            "ownerReferences": [
                                {
                                    "apiVersion": "apps/v1",
                                    "kind": "ReplicaSet",
                                    "name": f"{app}-abc",
                                    "uid": "u",
                                }
                            ],
                        },
                        "spec": {
                            "containers": [
                                {"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}
                            ]
                        },
                        "status": {
                            "phase": "Running",
                            "podIP": f"10.{n // 65536}.{(n // 256) % 256}.{n % 256}",
                        },
                    }
                )
            docs.append(
                {
                    "kind": "Service",
                    "metadata": {"name": app, "namespace": ns},
                    "spec": {
                        "selector": {"app": app},
                        "clusterIP": f"10.97.{i}.{w}",
                        "ports": [{"port": 80, "targetPort": "http"}],
                    },
                }
            )
        for name, spec in (
            ("default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
            (
                "dns",
                {
                    "podSelector": {},
                    "policyTypes": ["Egress"],
                    "egress": [
                        {
                            "to": [
                                {
                                    "namespaceSelector": {
                                        "matchLabels": {
                                            "kubernetes.io/metadata.name": "kube-system"
                                        }
                                    }
                                }
                            ],
                            "ports": [
                                {"port": 53, "protocol": "UDP"},
                                {"port": 53, "protocol": "TCP"},
                            ],
                        }
                    ],
                },
            ),
            (
                "same-ns",
                {
                    "podSelector": {},
                    "ingress": [{"from": [{"podSelector": {}}]}],
                    "egress": [{"to": [{"podSelector": {}}]}],
                },
            ),
        ):
            docs.append(
                {
                    "apiVersion": "networking.k8s.io/v1",
                    "kind": "NetworkPolicy",
                    "metadata": {"name": name, "namespace": ns},
                    "spec": spec,
                }
            )
    snapshot, _ = assemble(("gen", i, d) for i, d in enumerate(docs))
    return snapshot


@pytest.mark.timeout(120)
def test_candidates_on_10k_pods() -> None:
    snapshot = _big_cluster()
    assert len(snapshot.pods) == 10_001
    # The rollout removed ns0's same-namespace policy: ns0's workloads lost each other.
    now = snapshot.with_policies(tuple(p for p in snapshot.policies if p.key != "ns0/same-ns"))
    incident = Incident(
        IncidentMeta("big"), now, known_good=(KnownGood("kg", "", snapshot.policies),)
    )
    found = candidate_flows(now, incident)  # how long: benchmarks/bench_guards.py
    regressed = [c for c in found if c.source == "regressed"]
    assert {c.source for c in found} == {"regressed"}
    # 20 source workloads in ns0, at most 10 listed each
    assert len(regressed) == 200
    assert all(str(c.flow).startswith("ns0/") and "ns0/svc/" in str(c.flow) for c in regressed)
    assert candidate_flows(snapshot) == []
