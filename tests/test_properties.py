"""Properties of NetworkPolicy semantics on small random clusters (Hypothesis).

Labels come from a tiny alphabet so that selectors hit often. Every generated cluster goes
through the real parser (`assemble`), then the engine. Besides the algebraic properties
(order, union, monotonicity, default deny), the engine is checked against a deliberately
naive reference evaluator written straight from the semantics in docs/architecture.md, on
the raw manifests.
"""

from __future__ import annotations

import dataclasses
import json
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.engine_builders import cluster, netpol, ns
from tests.property_support import (
    NAMESPACES,
    SETTINGS,
    all_flows,
    build,
    clusters,
    every_flow,
    policies,
    reference_allowed,
    rules,
    verdicts,
)
from triage.model import NetworkPolicy, PodRef, Rule
from triage.policy import explain, explanation_to_dict

# ------------------------------------------------------------------ properties


@SETTINGS
@given(docs=clusters())
def test_engine_agrees_with_the_reference_evaluator(docs: list[dict[str, Any]]) -> None:
    snapshot = build(docs)
    for flow in every_flow(snapshot):
        assert explain(snapshot, flow).allowed == reference_allowed(docs, flow), flow


@SETTINGS
@given(docs=clusters(), seed=st.integers(0, 2**16), order=st.randoms(use_true_random=False))
def test_policy_order_never_matters(
    docs: list[dict[str, Any]], seed: int, order: random.Random
) -> None:
    snapshot = build(docs)
    shuffled = list(snapshot.policies)
    order.shuffle(shuffled)
    other = snapshot.with_policies(tuple(shuffled))
    for flow in all_flows(snapshot, seed):
        # Not just the verdict: the whole trace, decision and nearest miss included.
        document = explanation_to_dict(explain(snapshot, flow))
        assert document == explanation_to_dict(explain(other, flow))
        json.dumps(document)  # the JSON contract is plain data


@SETTINGS
@given(
    docs=clusters(),
    seed=st.integers(0, 2**16),
    extra=policies("unused"),
    empty_namespace=st.booleans(),
)
def test_a_policy_selecting_no_pod_changes_nothing(
    docs: list[dict[str, Any]], seed: int, extra: dict[str, Any], empty_namespace: bool
) -> None:
    snapshot = build(docs)
    if empty_namespace:
        extra["metadata"]["namespace"] = "nobody-lives-here"
    else:
        extra["spec"]["podSelector"] = {"matchLabels": {"no-pod-has": "this"}}
    more = build([*docs, extra])
    flows = all_flows(snapshot, seed)
    assert verdicts(snapshot, flows) == verdicts(more, flows)


@SETTINGS
@given(
    docs=clusters(),
    seed=st.integers(0, 2**16),
    which=st.integers(0, 10),
    direction=st.sampled_from(("Ingress", "Egress")),
    rule=st.data(),
)
def test_adding_an_allow_rule_never_closes_a_flow(
    docs: list[dict[str, Any]], seed: int, which: int, direction: str, rule: st.DataObject
) -> None:
    """On the model, where policyTypes are already effective. (In a manifest without
    policyTypes, the first egress rule also turns on egress isolation: that is a change
    of policyTypes, not an added rule.)"""
    snapshot = build(docs)
    if not snapshot.policies:
        return
    target = snapshot.policies[which % len(snapshot.policies)]
    peer_key = "from" if direction == "Ingress" else "to"
    drawn = [rule.draw(rules(peer_key))]
    holder = build(
        [
            netpol(target.namespace, "tmp", {}, ingress=drawn)
            if direction == "Ingress"
            else netpol(target.namespace, "tmp", {}, egress=drawn)
        ]
    ).policies[0]
    added: Rule = holder.ingress[0] if direction == "Ingress" else holder.egress[0]
    changed: NetworkPolicy = (
        dataclasses.replace(target, ingress=(*target.ingress, added))
        if direction == "Ingress"
        else dataclasses.replace(target, egress=(*target.egress, added))
    )
    more = snapshot.with_policies(tuple(changed if p is target else p for p in snapshot.policies))
    flows = all_flows(snapshot, seed)
    for flow, before, after in zip(
        flows, verdicts(snapshot, flows), verdicts(more, flows), strict=True
    ):
        assert after or not before, flow


@SETTINGS
@given(docs=clusters(), seed=st.integers(0, 2**16))
def test_with_no_policy_every_flow_is_allowed(docs: list[dict[str, Any]], seed: int) -> None:
    snapshot = build(docs).with_policies(())
    for flow in all_flows(snapshot, seed):
        e = explain(snapshot, flow)
        assert e.allowed
        v = e.verdicts[0]
        assert not v.egress.isolated and not v.ingress.isolated and v.nearest_miss is None


@SETTINGS
@given(docs=clusters(), seed=st.integers(0, 2**16), namespace=st.sampled_from(NAMESPACES))
def test_default_deny_ingress_closes_every_flow_into_its_namespace(
    docs: list[dict[str, Any]], seed: int, namespace: str
) -> None:
    # Remove whatever could allow ingress in that namespace, then add the default deny.
    kept = [
        d
        for d in docs
        if not (
            d["kind"] == "NetworkPolicy"
            and d["metadata"]["namespace"] == namespace
            and ("ingress" in d["spec"] or "Ingress" in d["spec"].get("policyTypes", ["Ingress"]))
        )
    ]
    deny = netpol(namespace, "default-deny-ingress", {}, policy_types=["Ingress"])
    snapshot = build([*kept, deny])
    for flow in all_flows(snapshot, seed, 20):
        dst = flow.destination
        if isinstance(dst, PodRef) and dst.namespace == namespace:
            v = explain(snapshot, flow).verdicts[0]
            assert not v.allowed and v.ingress.isolated and not v.ingress.allowed
            assert v.ingress.decision is None


def test_the_generators_produce_selective_clusters() -> None:
    """Guard against a vacuous search: the strategies must yield both verdicts."""
    seen: set[bool] = set()

    @settings(max_examples=40, deadline=None, database=None)
    @given(docs=clusters(), seed=st.integers(0, 2**16))
    def collect(docs: list[dict[str, Any]], seed: int) -> None:
        snapshot = build(docs)
        seen.update(verdicts(snapshot, all_flows(snapshot, seed)))

    collect()
    assert seen == {True, False}
    assert cluster(ns("a")).namespaces[0].name == "a"
