"""The engine's compiled form of a snapshot: built once, held by the snapshot, passed
explicitly when the caller has it, and never kept alive by a global cache."""

from __future__ import annotations

import gc
import weakref

from tests.engine_builders import cluster, labels, netpol, ns, pod
from triage.model import Snapshot, parse_flow
from triage.policy import CompiledPolicies, build_index, compiled, explain


def _snapshot() -> Snapshot:
    return cluster(
        ns("a"),
        pod("a", "x", {"app": "x"}, ip="10.0.0.1"),
        pod("a", "y", {"app": "y"}, ip="10.0.0.2"),
        netpol("a", "deny", labels(app="y"), ingress=[]),
    )


def test_built_once_and_held_by_the_snapshot() -> None:
    snap = _snapshot()
    first = compiled(snap)
    assert isinstance(first, CompiledPolicies)
    assert compiled(snap) is first and build_index(snap) is first
    other = snap.with_policies(())
    assert compiled(other) is not first
    flow = parse_flow("a/x", "a/y", 80)
    assert not explain(snap, flow).allowed
    assert explain(other, flow).allowed  # the new snapshot's own compiled form
    # Passed explicitly: the same answer.
    assert not explain(snap, flow, first).allowed


def test_a_dropped_snapshot_is_freed_without_the_cycle_collector() -> None:
    snap = _snapshot()
    explain(snap, parse_flow("a/x", "a/y", 80))
    ref = weakref.ref(snap)
    gc.disable()
    try:
        del snap
        assert ref() is None
    finally:
        gc.enable()
