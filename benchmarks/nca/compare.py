"""Compare triage's pod-pair connection sets with network-config-analyzer's, and sort every
disagreement into a known cause.

Runs under triage's interpreter. `nca_json` is the file `nca_pairs.py` wrote: the pods NCA
kept (it models at most two pods per namespace/owner/labels group) and, per ordered pod
pair, the protocols and ports NCA allows. Every ordered pair of kept pods is compared,
self pairs included (NCA computes them and only hides them in its printed output).

Causes, each checked by re-running triage under NCA's assumption and seeing the pair agree:

- `ipblock-pod-ip`: NCA never matches pod IPs against ipBlocks (it models ipBlocks as
  addresses outside the cluster); docs/architecture.md matches them (pod IPs included), as do the
  upstream conformance tests.
- `namespace-name-label`: NCA gives every namespace `kubernetes.io/metadata.name`; triage
  evaluates the labels the snapshot records (docs/architecture.md: a pre-1.21 cluster or a hand-made
  recording may lack it).
- `nca-exists-scope`: an NCA bug. For `Exists`/`DoesNotExist` in a peer's podSelector NCA
  looks only at the policy's own namespace (`PeerContainer.get_peers_with_key(self.namespace,
  ...)` in K8sPolicyYamlParser.parse_requirement, where In/NotIn search every namespace),
  so `namespaceSelector: X` + `podSelector: {matchExpressions: [{key: k, operator:
  Exists}]}` never matches a pod of another namespace. Kubernetes (and docs/architecture.md)
  select the pods with the key in every namespace X selects.
- `other`: anything else, printed in full for a person to decide.

A disagreement explained by several assumptions together is named by all of them (`+`).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from triage.model import (
    NAMESPACE_NAME_LABEL,
    LabelSelector,
    Namespace,
    NetworkPolicy,
    Peer,
    Rule,
    Snapshot,
)
from triage.policy.classes import compile_snapshot
from triage.policy.matrix import ClassMatrix, class_matrix
from triage.policy.portset import NO_PORTS, PortSet


def load_nca(path: Path) -> tuple[list[str], dict[tuple[str, str], PortSet]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    theirs: dict[tuple[str, str], PortSet] = {}
    for src, dst, ports in data["pairs"]:
        key = (src, dst)
        theirs[key] = theirs.get(key, NO_PORTS) | PortSet.from_dict(ports)
    return data["pods"], theirs


def without_pod_ips(snapshot: Snapshot) -> Snapshot:
    pods = tuple(dataclasses.replace(p, ips=()) for p in snapshot.pods)
    return Snapshot(snapshot.namespaces, pods, snapshot.services, snapshot.policies)


def with_namespace_names(snapshot: Snapshot) -> Snapshot:
    namespaces = tuple(
        Namespace(ns.name, {NAMESPACE_NAME_LABEL: ns.name, **ns.labels}, ns.synthesized)
        for ns in snapshot.namespaces
    )
    known = {ns.name for ns in namespaces}
    extra = tuple(
        Namespace(n, {NAMESPACE_NAME_LABEL: n}, True)
        for n in sorted({p.namespace for p in snapshot.pods} - known)
    )
    return Snapshot(namespaces + extra, snapshot.pods, snapshot.services, snapshot.policies)


def exists_scoped_to_policy_namespace(snapshot: Snapshot) -> Snapshot:
    """NCA's reading: a peer podSelector with Exists/DoesNotExist only matches pods of the
    policy's namespace (whatever its namespaceSelector says)."""

    def scoped(peer: Peer, namespace: str) -> Peer:
        sel = peer.pod_selector
        if peer.namespace_selector is None or sel is None:
            return peer
        if not any(r.operator in ("Exists", "DoesNotExist") for r in sel.match_expressions):
            return peer
        ns_sel = peer.namespace_selector
        narrowed = LabelSelector(
            tuple(sorted({*ns_sel.match_labels, (NAMESPACE_NAME_LABEL, namespace)})),
            ns_sel.match_expressions,
        )
        return Peer(pod_selector=sel, namespace_selector=narrowed)

    def rules(rs: tuple[Rule, ...], namespace: str) -> tuple[Rule, ...]:
        return tuple(Rule(tuple(scoped(p, namespace) for p in r.peers), r.ports) for r in rs)

    policies = tuple(
        NetworkPolicy(
            p.namespace,
            p.name,
            p.pod_selector,
            p.policy_types,
            rules(p.ingress, p.namespace),
            rules(p.egress, p.namespace),
        )
        for p in snapshot.policies
    )
    # The narrowing needs every namespace to carry its name label, as NCA assumes anyway.
    named = with_namespace_names(snapshot)
    return Snapshot(named.namespaces, snapshot.pods, snapshot.services, policies)


ASSUMPTIONS: tuple[tuple[str, Callable[[Snapshot], Snapshot]], ...] = (
    ("ipblock-pod-ip", without_pod_ips),
    ("namespace-name-label", with_namespace_names),
    ("nca-exists-scope", exists_scoped_to_policy_namespace),
)


def _lookup(snapshot: Snapshot) -> Callable[[str, str], PortSet]:
    cm: ClassMatrix = class_matrix(compile_snapshot(snapshot))
    class_of = cm.model.class_of

    def get(src: str, dst: str) -> PortSet:
        return cm.portsets[cm.rows[class_of[src]][class_of[dst]]]

    return get


def compare(snapshot: Snapshot, nca_json: Path, examples: int = 5) -> dict[str, Any]:
    kept, theirs = load_nca(nca_json)
    ours_pods = {p.key for p in snapshot.pods}
    pods = [k for k in kept if k in ours_pods]  # NCA's synthetic "-livesim" pods left out
    ours = _lookup(snapshot)
    variants: dict[str, Callable[[str, str], PortSet]] = {}
    causes: Counter[str] = Counter()
    samples: dict[str, list[str]] = {}
    compared = 0
    for src in pods:
        for dst in pods:
            compared += 1
            a = ours(src, dst)
            b = theirs.get((src, dst), NO_PORTS)
            if a == b:
                continue
            cause = "other"
            for size in range(1, len(ASSUMPTIONS) + 1):
                for combo in itertools.combinations(ASSUMPTIONS, size):
                    name = "+".join(n for n, _ in combo)
                    if name not in variants:
                        built = snapshot
                        for _, transform in combo:
                            built = transform(built)
                        variants[name] = _lookup(built)
                    if variants[name](src, dst) == b:
                        cause = name
                        break
                if cause != "other":
                    break
            if src == dst:
                cause += " (self)"
            causes[cause] += 1
            if len(samples.setdefault(cause, [])) < examples:
                samples[cause].append(f"{src} → {dst}: triage {a.describe()} | NCA {b.describe()}")
    return {
        "pods": len(snapshot.pods),
        "nca_pods": len(pods),
        "pairs_compared": compared,
        "disagreements": sum(causes.values()),
        "causes": dict(causes),
        "examples": samples,
    }
