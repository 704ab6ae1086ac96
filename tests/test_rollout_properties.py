"""Properties of the generated rollout, on seeded random clusters (benchmarks/generator.py)
with random observed flows:

- every observed flow that was allowed stays allowed (none breaks), and every observed flow
  between two pods of the rollout namespaces is allowed afterwards;
- on a cluster without policies of its own, the generated set allows nothing to or from the
  rollout namespaces beyond the observed traffic (per workload pair and port) and DNS.
"""

from __future__ import annotations

from collections import defaultdict

import pytest

from benchmarks.generator import generate_cluster, sample_flows
from triage.model import Snapshot
from triage.policy.classes import compile_snapshot
from triage.policy.dns import dns_target
from triage.policy.portset import PortSet
from triage.rollout import Observed, generate
from triage.sources.assemble import assemble

DNS = PortSet.parse("UDP 53; TCP 53")


def cluster(pods: int, policies: int, seed: int) -> Snapshot:
    items = generate_cluster(pods, policies, seed)["items"]
    snapshot, _ = assemble(("generated.yaml", i, d) for i, d in enumerate(items))
    return snapshot


def scope_of(snapshot: Snapshot, seed: int) -> tuple[str, ...]:
    teams = sorted(ns.name for ns in snapshot.namespaces if ns.name != "kube-system")
    return tuple(teams[seed % 2 :: 2]) or tuple(teams)  # half of them, never kube-system


@pytest.mark.parametrize("seed", range(6))
def test_no_observed_flow_breaks(seed: int) -> None:
    snapshot = cluster(240, 30, seed)
    scope = scope_of(snapshot, seed)
    gen = generate(snapshot, scope, Observed(tuple(sample_flows(snapshot, 600, seed))))
    assert gen.connections, "the sample must touch the rollout namespaces"
    assert gen.breaks == ()
    for check in gen.checks:
        c = check.connection
        both_inside = (
            c.source is not None
            and c.destination is not None
            and c.source.namespace in scope
            and c.destination.namespace in scope
        )
        if both_inside:
            assert check.after, f"{c.flow} resolved to {c.source_label} → {c.destination_label}"


@pytest.mark.parametrize("seed", range(6))
def test_nothing_beyond_observed_traffic_and_dns(seed: int) -> None:
    snapshot = cluster(200, 0, seed)
    scope = set(scope_of(snapshot, seed))
    gen = generate(snapshot, sorted(scope), Observed(tuple(sample_flows(snapshot, 500, seed))))
    assert not gen.breaks
    observed: dict[tuple[str, str, str, str], PortSet] = defaultdict(PortSet.empty)
    for c in gen.connections:
        if c.source is not None and c.destination is not None:
            key = (
                c.source.namespace,
                c.source.workload,
                c.destination.namespace,
                c.destination.workload,
            )
            observed[key] = observed[key] | PortSet.single(c.protocol, c.port)
    dns_pods = dns_target(snapshot)
    after = snapshot.with_policies(gen.candidates)
    model = compile_snapshot(after)
    checked = 0
    for s in after.pods:
        cs = model.class_of[s.key]
        for d in after.pods:
            if s is d or (s.namespace not in scope and d.namespace not in scope):
                continue
            allowed = model.pair(cs, model.class_of[d.key])
            key = (s.namespace, s.workload, d.namespace, d.workload)
            extra = allowed - observed.get(key, PortSet.empty())
            is_dns = dns_pods.matches(d)
            if is_dns:
                extra = extra - DNS
            assert not extra, f"{s.key} → {d.key}: {extra.describe()} was never observed"
            checked += 1
    assert checked > 1000


@pytest.mark.parametrize("seed", range(4))
def test_the_judge_agrees_with_explain(seed: int) -> None:
    """The preview's fast verdicts (class model, egress rules to outside addresses) are the
    engine's: compared with `explain` connection by connection, before and after."""
    from triage.model import Flow, IPRef, PodRef
    from triage.policy import explain
    from triage.rollout.plan import _Judge

    snapshot = cluster(240, 60, seed)
    scope = scope_of(snapshot, seed)
    gen = generate(snapshot, scope, Observed(tuple(sample_flows(snapshot, 400, seed))))
    outside = tuple(p for p in snapshot.policies if p.namespace not in scope)
    outside_ips = 0
    for snap in (snapshot, snapshot.with_policies(outside + gen.candidates)):
        judge = _Judge(snap)
        for c in gen.connections:
            src = PodRef(c.source.namespace, c.source.name) if c.source else IPRef(str(c.source_ip))
            dst = (
                PodRef(c.destination.namespace, c.destination.name)
                if c.destination
                else IPRef(str(c.destination_ip))
            )
            expected = explain(snap, Flow(src, dst, c.port, c.protocol)).allowed
            assert judge.allowed(c) == expected, (c.flow, src, dst)
            outside_ips += c.destination is None
    assert outside_ips > 20
