"""Property: on random tiered clusters, the engine's verdict equals that of an independent
reference evaluator (tests/tiers_reference.py, written from the API docs on raw manifests)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.engine_builders import cluster
from tests.tiers_reference import Cluster
from tests.tiers_strategies import EXTERNAL, PORTS, SETTINGS, tiered_clusters
from triage.model import parse_flow
from triage.policy import explain


@SETTINGS
@given(docs=tiered_clusters(), data=st.data())
def test_engine_agrees_with_the_reference_evaluator(
    docs: list[dict[str, Any]], data: st.DataObject
) -> None:
    snapshot = cluster(*docs)
    ref = Cluster(docs)
    ends = [*ref.pods, *EXTERNAL]
    for _ in range(6):
        src = data.draw(st.sampled_from(ends))
        dst = data.draw(st.sampled_from(ends))
        if src in EXTERNAL and dst in EXTERNAL:
            continue
        port = data.draw(st.sampled_from(PORTS))
        proto = data.draw(st.sampled_from(("TCP", "UDP")))
        expected = ref.allowed(src, dst, port, proto)
        got = explain(snapshot, parse_flow(src, dst, port, proto))
        assert got.allowed is expected, (
            src,
            dst,
            port,
            proto,
            got.verdicts[0].egress.summary,
            got.verdicts[0].ingress.summary,
        )
