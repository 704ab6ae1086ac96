"""The least-privilege fix: valid NetworkPolicy YAML that, added to the snapshot, allows the
flow and nothing new for pods outside the two workloads."""

from __future__ import annotations

import itertools

import pytest
import yaml

from tests.test_checklist_classic import BACKEND, CANARY, CLASSIC, FRONTEND, TRAEFIK
from triage.checklist import least_privilege_fix
from triage.model import Flow, NetworkPolicy, PodRef, Snapshot, parse_flow
from triage.policy import explain, is_allowed
from triage.policy.generate import SELECT_LABEL, select_pods
from triage.sources.manifests import load_manifests
from triage.sources.parse import parse_network_policy


@pytest.fixture(scope="module")
def classic() -> Snapshot:
    return load_manifests([CLASSIC])[0]


def parse_fix(text: str) -> list[NetworkPolicy]:
    policies = []
    for i, doc in enumerate(d for d in yaml.safe_load_all(text) if d):
        policy, problems = parse_network_policy(doc, "fix.yaml", i)
        assert not problems, problems
        assert policy is not None
        policies.append(policy)
    return policies


def all_flows(snapshot: Snapshot) -> list[Flow]:
    out = []
    for src, dst in itertools.product(snapshot.pods, snapshot.pods):
        if src.key == dst.key:
            continue
        for cp in dst.ports:
            out.append(
                Flow(
                    PodRef(src.namespace, src.name),
                    PodRef(dst.namespace, dst.name),
                    cp.port,
                    cp.protocol,
                )
            )
    return out


CASES = [
    (CANARY, "develop/svc/backend", "80"),
    (FRONTEND, "develop/svc/backend", "80"),
    (BACKEND, "production/svc/production-db", "5432"),
    (FRONTEND, BACKEND, "9090"),
    ("develop/debug", "production/production-db-0", "5432"),
    ("develop/debug", "203.0.113.7", "443"),
    (TRAEFIK, "develop/frontend-canary-5f6d7-p9zz", "http"),
]


@pytest.mark.parametrize(("src", "dst", "port"), CASES)
def test_fix_allows_the_flow_and_nothing_unrelated(
    classic: Snapshot, src: str, dst: str, port: str
) -> None:
    flow = parse_flow(src, dst, port)
    assert not is_allowed(classic, flow)
    text = least_privilege_fix(classic, flow)
    assert text.startswith(f"# Least-privilege fix for {flow}")
    fix = parse_fix(text)
    assert 1 <= len(fix) <= 2
    after = classic.with_policies((*classic.policies, *fix))
    assert is_allowed(after, flow)
    # Nothing newly allowed unless it leaves the source's workload for the destination's
    # workload on the fixed port.
    source_pod = classic.pod_by_key[src]
    verdict = explain(classic, flow).primary
    assert verdict is not None
    dest_pod = classic.pod_by_key.get(verdict.destination.name)
    for other in all_flows(classic):
        if is_allowed(classic, other) or not is_allowed(after, other):
            continue
        other_src = classic.pod_by_key[str(other.source)]
        other_dst = classic.pod_by_key[str(other.destination)]
        assert other_src.workload == source_pod.workload, other
        assert dest_pod is not None and other_dst.workload == dest_pod.workload, other
        assert other.port == verdict.port and other.protocol == flow.protocol, other


def test_fix_shape_for_the_canary(classic: Snapshot) -> None:
    text = least_privilege_fix(classic, parse_flow(CANARY, "develop/svc/backend", "80"))
    egress, ingress = (d for d in yaml.safe_load_all(text) if d)
    assert egress["metadata"] == {
        "name": "allow-frontend-canary-to-backend-8080-egress",
        "namespace": "develop",
    }
    assert egress["spec"] == {
        "podSelector": {"matchLabels": {"app": "frontend-canary"}},
        "policyTypes": ["Egress"],
        "egress": [
            {
                "to": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "develop"}
                        },
                        "podSelector": {"matchLabels": {"app": "backend"}},
                    }
                ],
                "ports": [{"protocol": "TCP", "port": 8080}],
            }
        ],
    }
    assert ingress["spec"]["podSelector"] == {"matchLabels": {"app": "backend"}}
    assert ingress["spec"]["ingress"][0]["from"][0]["podSelector"] == {
        "matchLabels": {"app": "frontend-canary"}
    }


def test_only_the_denying_side_gets_a_policy(classic: Snapshot) -> None:
    # frontend → backend: ingress already admits app=frontend; only egress is missing.
    text = least_privilege_fix(classic, parse_flow(FRONTEND, "develop/svc/backend", "80"))
    (only,) = (d for d in yaml.safe_load_all(text) if d)
    assert only["spec"]["policyTypes"] == ["Egress"]
    assert only["metadata"]["name"] == "allow-frontend-to-backend-8080"


def test_external_destination_uses_an_ipblock(classic: Snapshot) -> None:
    text = least_privilege_fix(classic, parse_flow("develop/debug", "203.0.113.7", "443"))
    (only,) = (d for d in yaml.safe_load_all(text) if d)
    assert only["spec"]["egress"][0]["to"] == [{"ipBlock": {"cidr": "203.0.113.7/32"}}]


def test_allowed_flow_and_unfixable_flow_give_no_fix(classic: Snapshot) -> None:
    assert least_privilege_fix(classic, parse_flow(TRAEFIK, "develop/svc/backend", "80")) == ""
    # a Service port that does not exist: no policy can help
    assert least_privilege_fix(classic, parse_flow(FRONTEND, "develop/svc/backend", "8080")) == ""


def test_fix_accepts_an_explanation_or_a_verdict(classic: Snapshot) -> None:
    flow = parse_flow(CANARY, "develop/svc/backend", "80")
    exp = explain(classic, flow)
    assert least_privilege_fix(classic, exp) == least_privilege_fix(classic, flow)
    assert exp.primary is not None
    from_verdict = least_privilege_fix(classic, exp.primary)
    assert parse_fix(from_verdict) == parse_fix(least_privilege_fix(classic, flow))


def test_selection_skips_volatile_keys(classic: Snapshot) -> None:
    pod = classic.pod_by_key[CANARY]
    import dataclasses

    hashed = dataclasses.replace(pod, labels={**pod.labels, "pod-template-hash": "5f6d7"})
    snapshot = dataclasses.replace(
        classic, pods=tuple(hashed if p.key == CANARY else p for p in classic.pods)
    )
    selection = select_pods(snapshot, [hashed])
    # tier=web alone would also select the stable frontend: app is needed, and enough
    assert selection.selector.match_labels == (("app", "frontend-canary"),)
    assert selection.selector.match_expressions == ()
    assert selection.labels == ()


def test_pod_without_labels_gets_a_label_to_add(classic: Snapshot) -> None:
    import dataclasses

    debug = classic.pod_by_key["develop/debug"]
    bare = dataclasses.replace(debug, labels={})
    snapshot = dataclasses.replace(
        classic, pods=tuple(bare if p.key == debug.key else p for p in classic.pods)
    )
    text = least_privilege_fix(snapshot, parse_flow("develop/debug", "203.0.113.7", "443"))
    assert "# NOTE: develop/debug has no stable label to select it by" in text
    assert f"#   kubectl label pod -n develop debug {SELECT_LABEL}=debug --overwrite" in text
    assert f"{SELECT_LABEL}: debug" in text
