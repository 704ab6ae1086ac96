"""Properties of NetworkPolicy semantics on small random clusters (Hypothesis).

Labels come from a tiny alphabet so that selectors hit often. Every generated cluster goes
through the real parser (`assemble`), then the engine. Besides the algebraic properties
(order, union, monotonicity, default deny), the engine is checked against a deliberately
naive reference evaluator written straight from the semantics in docs/architecture.md, on
the raw manifests.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.engine_builders import cluster, netpol, ns, pod
from triage.model import Flow, IPRef, NetworkPolicy, PodRef, Rule, Snapshot
from triage.policy import explain, explanation_to_dict
from triage.sources.assemble import assemble

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

NAMESPACES = ("a", "b", "c")
KEYS = ("app", "tier")
VALUES = ("1", "2")
EXTERNAL_IPS = ("10.0.1.200", "192.0.2.1", "10.0.5.5")
BLOCKS = (
    {"cidr": "10.0.0.0/16"},
    {"cidr": "10.0.0.0/16", "except": ["10.0.1.0/24"]},
    {"cidr": "10.0.1.0/24", "except": ["10.0.1.0/30"]},
    {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]},
    {"cidr": "192.0.2.0/24"},
)
CONTAINER_PORTS = (
    ("http", 80, "TCP"),
    ("http", 8080, "TCP"),
    ("dns", 53, "UDP"),
    ("metrics", 9090, "TCP"),
)
FLOW_PORTS = (53, 80, 8080, 8085, 9090)
PROTOCOLS = ("TCP", "UDP")

# ------------------------------------------------------------------ strategies

label_maps = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=2)

expressions = st.one_of(
    st.builds(
        lambda k, op, vs: {"key": k, "operator": op, "values": sorted(vs)},
        st.sampled_from(KEYS),
        st.sampled_from(("In", "NotIn")),
        st.sets(st.sampled_from(VALUES), min_size=1),
    ),
    st.builds(
        lambda k, op: {"key": k, "operator": op},
        st.sampled_from(KEYS),
        st.sampled_from(("Exists", "DoesNotExist")),
    ),
)


@st.composite
def selectors(draw: st.DrawFn, keys: tuple[str, ...] = KEYS) -> dict[str, Any]:
    sel: dict[str, Any] = {}
    match_labels = draw(st.dictionaries(st.sampled_from(keys), st.sampled_from(VALUES), max_size=1))
    if match_labels:
        sel["matchLabels"] = match_labels
    exprs = draw(st.lists(expressions, max_size=1))
    if exprs:
        sel["matchExpressions"] = exprs
    return sel


@st.composite
def namespace_selectors(draw: st.DrawFn) -> dict[str, Any]:
    choice = draw(st.integers(0, 2))
    if choice == 0:
        return {}
    if choice == 1:
        name = draw(st.sampled_from(NAMESPACES))
        return {"matchLabels": {"kubernetes.io/metadata.name": name}}
    return {"matchLabels": {"env": draw(st.sampled_from(VALUES))}}


@st.composite
def peers(draw: st.DrawFn) -> dict[str, Any]:
    shape = draw(st.sampled_from(("pod", "ns", "both", "ip")))
    if shape == "ip":
        return {"ipBlock": dict(draw(st.sampled_from(BLOCKS)))}
    peer: dict[str, Any] = {}
    if shape in ("pod", "both"):
        peer["podSelector"] = draw(selectors())
    if shape in ("ns", "both"):
        peer["namespaceSelector"] = draw(namespace_selectors())
    return peer


@st.composite
def policy_ports(draw: st.DrawFn) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    proto = draw(st.sampled_from((None, "TCP", "UDP")))
    if proto:
        entry["protocol"] = proto
    port = draw(st.sampled_from((None, 53, 80, 8080, "http", "dns", "metrics")))
    if port is not None:
        entry["port"] = port
        if isinstance(port, int) and draw(st.booleans()):
            entry["endPort"] = port + draw(st.sampled_from((0, 5, 1000)))
    return entry


@st.composite
def rules(draw: st.DrawFn, peer_key: str) -> dict[str, Any]:
    rule: dict[str, Any] = {}
    if draw(st.booleans()):
        rule[peer_key] = draw(st.lists(peers(), max_size=2))
    if draw(st.booleans()):
        rule["ports"] = draw(st.lists(policy_ports(), max_size=2))
    return rule


@st.composite
def policies(draw: st.DrawFn, name: str) -> dict[str, Any]:
    namespace = draw(st.sampled_from(NAMESPACES))
    kwargs: dict[str, Any] = {}
    if draw(st.booleans()):
        kwargs["ingress"] = draw(st.lists(rules("from"), max_size=2))
    if draw(st.booleans()):
        kwargs["egress"] = draw(st.lists(rules("to"), max_size=2))
    types = draw(st.sampled_from((None, ["Ingress"], ["Egress"], ["Ingress", "Egress"])))
    if types is not None:
        kwargs["policy_types"] = types
    # Half the policies select the whole namespace, so that isolation is common.
    pod_selector = {} if draw(st.booleans()) else draw(selectors())
    return netpol(namespace, name, pod_selector, **kwargs)


@st.composite
def clusters(draw: st.DrawFn) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for name in NAMESPACES:
        env = draw(st.sampled_from((None, *VALUES)))
        docs.append(ns(name, {"env": env} if env else {}))
    n_pods = draw(st.integers(2, 7))
    for i in range(n_pods):
        ports = draw(
            st.lists(st.sampled_from(CONTAINER_PORTS), max_size=2, unique_by=lambda p: p[0])
        )
        docs.append(
            pod(
                draw(st.sampled_from(NAMESPACES)),
                f"p{i}",
                draw(label_maps),
                ip=f"10.0.{i % 2}.{i + 1}",
                ports=list(ports),
            )
        )
    n_policies = draw(st.integers(1, 6))
    docs.extend(draw(policies(f"np{i}")) for i in range(n_policies))
    return docs


def endpoints(snapshot: Snapshot) -> list[PodRef | IPRef]:
    out: list[PodRef | IPRef] = [PodRef(p.namespace, p.name) for p in snapshot.pods]
    out.extend(IPRef(ip) for ip in EXTERNAL_IPS)
    return out


def all_flows(snapshot: Snapshot, seed: int, n: int = 16) -> list[Flow]:
    rng = random.Random(seed)
    ends = endpoints(snapshot)
    pods = ends[: len(snapshot.pods)]
    flows = []
    for _ in range(n):
        # Mostly pod to pod: that is where selectors decide.
        src = rng.choice(ends if rng.random() < 0.25 else pods)
        dst = rng.choice(ends if rng.random() < 0.25 else pods)
        flows.append(Flow(src, dst, rng.choice(FLOW_PORTS), rng.choice(PROTOCOLS)))  # type: ignore[arg-type]
    return flows


def every_flow(snapshot: Snapshot) -> list[Flow]:
    """Every pair of endpoints on a few (port, protocol) pairs: cheap at this size, and
    far more likely than a sample to hit the one flow a wrong rule would decide."""
    ends = endpoints(snapshot)
    combos = ((80, "TCP"), (8080, "TCP"), (53, "UDP"), (9090, "TCP"), (8085, "TCP"))
    return [Flow(s, d, p, proto) for s in ends for d in ends for p, proto in combos]  # type: ignore[arg-type]


def verdicts(snapshot: Snapshot, flows: list[Flow]) -> list[bool]:
    return [explain(snapshot, f).allowed for f in flows]


def build(docs: list[dict[str, Any]]) -> Snapshot:
    snapshot, _ = assemble(("gen.yaml", i, d) for i, d in enumerate(docs))
    return snapshot


# ------------------------------------------------------------------ reference evaluator


def _ref_selector(sel: dict[str, Any], labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in sel.get("matchLabels", {}).items()):
        return False
    for e in sel.get("matchExpressions", []):
        has = e["key"] in labels
        value = labels.get(e["key"])
        ok = {
            "In": has and value in e.get("values", []),
            "NotIn": not has or value not in e.get("values", []),
            "Exists": has,
            "DoesNotExist": not has,
        }[e["operator"]]
        if not ok:
            return False
    return True


def reference_allowed(docs: list[dict[str, Any]], flow: Flow) -> bool:
    """docs/architecture.md's semantics, naively, on the raw manifests."""
    nss = {
        d["metadata"]["name"]: d["metadata"].get("labels", {})
        for d in docs
        if d["kind"] == "Namespace"
    }
    pods = {
        f"{d['metadata']['namespace']}/{d['metadata']['name']}": d
        for d in docs
        if d["kind"] == "Pod"
    }
    by_ip = {d["status"]["podIP"]: d for d in pods.values() if d["status"].get("podIP")}
    pols = [d for d in docs if d["kind"] == "NetworkPolicy"]

    def resolve(end: PodRef | IPRef) -> tuple[dict[str, Any] | None, str]:
        if isinstance(end, PodRef):
            d = pods[str(end)]
            return d, d["status"]["podIP"]
        return by_ip.get(end.ip), end.ip

    src, src_ip = resolve(flow.source)  # type: ignore[arg-type]
    dst, dst_ip = resolve(flow.destination)  # type: ignore[arg-type]

    def types(spec: dict[str, Any]) -> list[str]:
        if spec.get("policyTypes"):
            return list(spec["policyTypes"])
        return ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]

    def peer_ok(
        peer: dict[str, Any], policy_ns: str, other: dict[str, Any] | None, ip: str
    ) -> bool:
        if "ipBlock" in peer:
            b = peer["ipBlock"]
            addr = ipaddress.ip_address(ip)
            return addr in ipaddress.ip_network(b["cidr"]) and not any(
                addr in ipaddress.ip_network(e) for e in b.get("except", [])
            )
        if other is None:
            return False
        other_ns = other["metadata"]["namespace"]
        if "namespaceSelector" in peer:
            if not _ref_selector(peer["namespaceSelector"], nss[other_ns]):
                return False
        elif other_ns != policy_ns:
            return False
        return "podSelector" not in peer or _ref_selector(
            peer["podSelector"], other["metadata"]["labels"]
        )

    def port_ok(entry: dict[str, Any]) -> bool:
        if entry.get("protocol", "TCP") != flow.protocol:
            return False
        if "port" not in entry:
            return True
        number = entry["port"]
        if isinstance(number, str):
            if dst is None:
                return False
            found = [
                p["containerPort"]
                for c in dst["spec"]["containers"]
                for p in c["ports"]
                if p.get("name") == number and p["protocol"] == entry.get("protocol", "TCP")
            ]
            if not found:
                return False
            number = found[0]
        if "endPort" in entry:
            return bool(number <= flow.port <= entry["endPort"])  # type: ignore[operator]
        return bool(number == flow.port)

    def side(
        direction: str, subject: dict[str, Any] | None, other: dict[str, Any] | None, other_ip: str
    ) -> bool:
        if subject is None:
            return True
        subject_ns = subject["metadata"]["namespace"]
        selecting = [
            p
            for p in pols
            if p["metadata"]["namespace"] == subject_ns
            and direction in types(p["spec"])
            and _ref_selector(p["spec"]["podSelector"], subject["metadata"]["labels"])
        ]
        if not selecting:
            return True
        key, peer_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        for p in selecting:
            for rule in p["spec"].get(key) or []:
                rule_peers = rule.get(peer_key) or []
                rule_ports = rule.get("ports") or []
                peer_match = not rule_peers or any(
                    peer_ok(pe, subject_ns, other, other_ip) for pe in rule_peers
                )
                port_match = not rule_ports or any(port_ok(pp) for pp in rule_ports)
                if peer_match and port_match:
                    return True
        return False

    return side("Egress", src, dst, dst_ip) and side("Ingress", dst, src, src_ip)


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
