"""Properties (Hypothesis) of Service verdicts and of nearest misses.

- A Service flow is decided by the pods its EndpointSlices list for that port: checked
  against a small per-pod model written here from the EndpointSlice controller's and
  kube-proxy's rules, on the raw manifests, with each backend's verdict from the
  reference evaluator of tests/test_properties.py (so nothing of the engine is reused).
- A nearest miss is a recipe: relabel the far end so the missed peer's selectors match,
  and make the missed `ports` entry name the flow's port and protocol, and that side opens.
"""

from __future__ import annotations

import copy
import random
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.engine_builders import ns, pod, svc
from tests.test_properties import (
    KEYS,
    NAMESPACES,
    SETTINGS,
    VALUES,
    _ref_selector,
    build,
    clusters,
    label_maps,
    policies,
    reference_allowed,
)
from triage.model import Flow, PodRef, ServiceRef
from triage.policy import explain
from triage.policy.trace import NearMiss, Verdict

# ------------------------------------------------------------------ Service clusters

NAMED = (("http", 80), ("http", 8080), ("metrics", 9090), (None, 80), (None, 9090))
TARGETS = (80, 8080, "http", "metrics")


@st.composite
def service_clusters(draw: st.DrawFn) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = [ns(name) for name in NAMESPACES]
    for i in range(draw(st.integers(2, 7))):
        containers = []
        for c in range(draw(st.integers(1, 2))):
            ports = draw(
                st.lists(st.sampled_from(NAMED), min_size=1, max_size=2, unique_by=lambda p: p[0])
            )
            containers.append(
                {
                    "name": f"c{c}",
                    "image": "x",
                    "ports": [
                        {**({"name": n} if n else {}), "containerPort": num, "protocol": "TCP"}
                        for n, num in ports
                    ],
                }
            )
        doc = pod(
            draw(st.sampled_from(NAMESPACES[:2])),
            f"p{i}",
            draw(label_maps),
            ip=None if draw(st.integers(0, 9)) == 9 else f"10.0.{i % 2}.{i + 1}",
            phase=draw(st.sampled_from(("Running",) * 8 + ("Succeeded", "Pending"))),
        )
        doc["spec"]["containers"] = containers
        ready = draw(st.sampled_from((None, True, True, False)))
        if ready is not None:
            doc["status"]["conditions"] = [{"type": "Ready", "status": str(ready)}]
        if draw(st.integers(0, 4)) == 4:
            doc["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        docs.append(doc)
    pods = [d for d in docs if d["kind"] == "Pod"]
    for i in range(draw(st.integers(1, 3))):
        # Mostly a selector some pod has, so that Services have backends to choose from.
        like = draw(st.sampled_from(pods))
        selector = dict(like["metadata"]["labels"]) or {"app": "1"}
        if draw(st.integers(0, 3)) == 0:
            selector = draw(
                st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), min_size=1)
            )
        doc = svc(
            like["metadata"]["namespace"],
            f"s{i}",
            selector,
            [
                {"port": 1000 + j, "targetPort": t}
                for j, t in enumerate(
                    draw(st.lists(st.sampled_from(TARGETS), min_size=1, max_size=2))
                )
            ],
        )
        if draw(st.booleans()):
            doc["spec"]["publishNotReadyAddresses"] = True
        docs.append(doc)
    docs.extend(draw(policies(f"np{i}")) for i in range(draw(st.integers(0, 4))))
    return docs


def model_backends(
    docs: list[dict[str, Any]], service: dict[str, Any], sp: dict[str, Any]
) -> list[tuple[str, int]]:
    """(pod, port) the Service port forwards to, by the EndpointSlice rules, on raw dicts."""
    namespace = service["metadata"]["namespace"]
    publish = bool(service["spec"].get("publishNotReadyAddresses"))
    resolved = []
    for d in docs:
        if d["kind"] != "Pod" or d["metadata"]["namespace"] != namespace:
            continue
        labels = d["metadata"]["labels"]
        if any(labels.get(k) != v for k, v in service["spec"]["selector"].items()):
            continue
        if d["status"].get("phase") in ("Succeeded", "Failed") or not d["status"].get("podIP"):
            continue
        target = sp["targetPort"]
        if isinstance(target, str):
            numbers = [
                p["containerPort"]
                for c in d["spec"]["containers"]
                for p in c["ports"]
                if p.get("name") == target and p["protocol"] == "TCP"
            ]
            if not numbers:
                continue
            number = numbers[0]
        else:
            number = target
        conditions = d["status"].get("conditions") or []
        ready_cond = next((c["status"] == "True" for c in conditions if c["type"] == "Ready"), True)
        terminating = "deletionTimestamp" in d["metadata"]
        resolved.append((d, number, ready_cond, terminating))
    key = lambda d: f"{d['metadata']['namespace']}/{d['metadata']['name']}"  # noqa: E731
    ready = [(key(d), n) for d, n, r, t in resolved if publish or (r and not t)]
    if ready:
        return ready
    return [(key(d), n) for d, n, r, t in resolved if t and r]


@SETTINGS
@given(docs=service_clusters(), seed=st.integers(0, 2**16))
def test_service_verdicts_follow_a_per_pod_endpointslice_model(
    docs: list[dict[str, Any]], seed: int
) -> None:
    snapshot = build(docs)
    rng = random.Random(seed)
    sources = [p for p in snapshot.pods if p.ips]
    if not sources:
        return
    for service in (d for d in docs if d["kind"] == "Service"):
        for sp in service["spec"]["ports"]:
            src = rng.choice(sources)
            source = PodRef(src.namespace, src.name)
            ref = ServiceRef(service["metadata"]["namespace"], service["metadata"]["name"])
            e = explain(snapshot, Flow(source, ref, sp["port"], "TCP"))
            expected = model_backends(docs, service, sp)
            assert e.service is not None
            assert list(e.service.backends) == [k for k, _ in expected], (service, sp)
            if not expected:
                assert not e.allowed
                continue
            assert [(v.destination.name, v.port) for v in e.verdicts] == expected
            want = all(
                reference_allowed(docs, Flow(source, PodRef(*k.split("/")), n, "TCP"))
                for k, n in expected
            )
            assert e.allowed == want, (service, sp, src.key)


# ------------------------------------------------------------------ nearest misses


def _pod_doc(docs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    namespace, name = key.split("/")
    return next(
        d
        for d in docs
        if d["kind"] == "Pod"
        and d["metadata"]["namespace"] == namespace
        and d["metadata"]["name"] == name
    )


def _satisfy(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Change `labels` (in place) so that `selector` matches, one key at a time: keep a
    value that satisfies every term on its key, else the first that does (or no label).
    False when no choice does (the engine flags such selectors as never matching)."""
    keys = set(selector.get("matchLabels", {}))
    keys |= {e["key"] for e in selector.get("matchExpressions", [])}
    for key in sorted(keys):
        terms = {
            "matchLabels": {k: v for k, v in selector.get("matchLabels", {}).items() if k == key},
            "matchExpressions": [
                e for e in selector.get("matchExpressions", []) if e["key"] == key
            ],
        }
        current = labels.get(key)
        options: list[str | None] = [current, *VALUES, *terms["matchLabels"].values(), None]
        for e in terms["matchExpressions"]:
            options.extend(e.get("values", []))
        for option in options:
            trial = {key: option} if option is not None else {}
            if _ref_selector(terms, trial):
                if option is None:
                    labels.pop(key, None)
                else:
                    labels[key] = option
                break
        else:
            return False
    return _ref_selector(selector, labels)


def apply_miss(
    docs: list[dict[str, Any]], verdict: Verdict, miss: NearMiss, flow: Flow
) -> list[dict[str, Any]] | None:
    """`docs` with the miss applied, or None when it cannot be applied by relabeling the
    far end or editing the ports entry (a wrong namespace, an ipBlock)."""
    if any(r.code in ("wrong-namespace", "namespace-not-own") for r in miss.missing):
        return None
    if any(r.term == "ip-block" or r.code == "not-a-pod" for r in miss.missing):
        return None
    docs = copy.deepcopy(docs)
    namespace, name = miss.policy.split("/")
    policy = next(
        d
        for d in docs
        if d["kind"] == "NetworkPolicy"
        and d["metadata"]["namespace"] == namespace
        and d["metadata"]["name"] == name
    )
    key, peer_key = ("egress", "to") if miss.direction == "Egress" else ("ingress", "from")
    rule = policy["spec"][key][miss.rule]
    far = verdict.destination if miss.direction == "Egress" else verdict.source
    if miss.peer is not None:
        peer = rule[peer_key][miss.peer]
        far_doc = _pod_doc(docs, far.name)
        if "podSelector" in peer and not _satisfy(
            peer["podSelector"], far_doc["metadata"]["labels"]
        ):
            return None
        if "namespaceSelector" in peer:
            ns_doc = next(
                d
                for d in docs
                if d["kind"] == "Namespace" and d["metadata"]["name"] == far.namespace
            )
            if not _satisfy(peer["namespaceSelector"], ns_doc["metadata"]["labels"]):
                return None
    if miss.port is not None:
        entry = rule["ports"][miss.port]
        entry.pop("endPort", None)
        entry["port"] = flow.port
        entry["protocol"] = flow.protocol
    return docs


@st.composite
def dense_clusters(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Random clusters with more policies, so that both sides of a flow often deny."""
    docs: list[dict[str, Any]] = draw(clusters())
    docs.extend(draw(policies(f"more{i}")) for i in range(draw(st.integers(2, 6))))
    return docs


@SETTINGS
@given(docs=dense_clusters(), seed=st.integers(0, 2**16))
def test_applying_a_nearest_miss_opens_its_side(docs: list[dict[str, Any]], seed: int) -> None:
    snapshot = build(docs)
    rng = random.Random(seed)
    pods = [PodRef(p.namespace, p.name) for p in snapshot.pods]
    for _ in range(30):
        src, dst = rng.sample(pods, 2)
        flow = Flow(src, dst, rng.choice((53, 80, 8080, 9090)), rng.choice(("TCP", "UDP")))
        verdict = explain(snapshot, flow).primary
        assert verdict is not None
        if verdict.allowed:
            assert verdict.nearest_misses == ()
            continue
        denied = [s.direction for s in (verdict.egress, verdict.ingress) if not s.allowed]
        # One nearest miss per denying side that has a rule at all.
        with_rules = [
            s.direction
            for s in (verdict.egress, verdict.ingress)
            if not s.allowed and any(p.rules for p in s.policies)
        ]
        assert [m.direction for m in verdict.nearest_misses] == with_rules
        assert set(with_rules) <= set(denied)
        for miss in verdict.nearest_misses:
            if miss.never is not None:
                continue
            changed = apply_miss(docs, verdict, miss, flow)
            if changed is None:
                continue
            after = explain(build(changed), flow).primary
            assert after is not None
            side = after.egress if miss.direction == "Egress" else after.ingress
            assert side.allowed, (miss, flow)
