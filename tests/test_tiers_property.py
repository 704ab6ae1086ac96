"""Property: on random tiered clusters, the engine's verdict equals that of an independent
reference evaluator (tests/tiers_reference.py, written from the API docs on raw manifests)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.engine_builders import cluster, ns, pod
from tests.tiers_reference import Cluster
from triage.model import parse_flow
from triage.policy import explain

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

NAMESPACES = ("a", "b", "c")
VALUES = ("1", "2")
EXTERNAL = ("192.0.2.7", "198.51.100.9")
CIDRS = ("0.0.0.0/0", "10.0.0.0/16", "10.0.1.0/24", "192.0.2.0/24")
PORTS = (53, 80, 443, 8080)

label_maps = st.dictionaries(st.sampled_from(("app", "tier")), st.sampled_from(VALUES), max_size=2)
selectors = st.builds(lambda m: {"matchLabels": m} if m else {}, label_maps)


@st.composite
def pods(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for i in range(draw(st.integers(2, 6))):
        namespace = draw(st.sampled_from(NAMESPACES))
        ports: list[tuple[str | None, int, str]] = (
            [("web", 8080, "TCP")] if draw(st.booleans()) else [("web", 80, "TCP")]
        )
        if draw(st.booleans()):
            ports.append(("dns", 53, "UDP"))
        host = draw(st.integers(0, 9)) == 0
        out.append(
            pod(
                namespace,
                f"p{i}",
                draw(label_maps),
                ip=f"10.0.{i % 2}.{i + 10}",
                ports=ports,
                host_network=host,
            )
        )
    return out


@st.composite
def admin_peer(draw: st.DrawFn, egress: bool) -> dict[str, Any]:
    kinds = ["namespaces", "pods", "empty"] + (["networks"] if egress else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "namespaces":
        return {"namespaces": draw(selectors)}
    if kind == "pods":
        return {"pods": {"namespaceSelector": draw(selectors), "podSelector": draw(selectors)}}
    if kind == "networks":
        return {
            "networks": draw(st.lists(st.sampled_from(CIDRS), min_size=1, max_size=2, unique=True))
        }
    return {}


@st.composite
def cnp_port(draw: st.DrawFn) -> dict[str, Any]:
    form = draw(st.sampled_from(("number", "range", "named")))
    if form == "named":
        return {"destinationNamedPort": draw(st.sampled_from(("web", "dns")))}
    proto = draw(st.sampled_from(("tcp", "udp")))
    if form == "number":
        return {proto: {"destinationPort": {"number": draw(st.sampled_from(PORTS))}}}
    start = draw(st.sampled_from((50, 80, 400)))
    return {
        proto: {
            "destinationPort": {
                "range": {"start": start, "end": start + draw(st.sampled_from((5, 100, 9000)))}
            }
        }
    }


@st.composite
def anp_port(draw: st.DrawFn) -> dict[str, Any]:
    form = draw(st.sampled_from(("number", "range", "named")))
    if form == "named":
        return {"namedPort": draw(st.sampled_from(("web", "dns")))}
    proto = draw(st.sampled_from(("TCP", "UDP")))
    if form == "number":
        return {"portNumber": {"protocol": proto, "port": draw(st.sampled_from(PORTS))}}
    start = draw(st.sampled_from((50, 80, 400)))
    return {"portRange": {"protocol": proto, "start": start, "end": start + 100}}


@st.composite
def admin_rules(draw: st.DrawFn, kind: str, egress: bool) -> list[dict[str, Any]]:
    actions = {
        "ClusterNetworkPolicy": ("Accept", "Deny", "Pass"),
        "AdminNetworkPolicy": ("Allow", "Deny", "Pass"),
        "BaselineAdminNetworkPolicy": ("Allow", "Deny"),
    }[kind]
    rules = []
    for _ in range(draw(st.integers(0, 3))):
        peers = draw(st.lists(admin_peer(egress), min_size=1, max_size=2))
        r: dict[str, Any] = {
            "action": draw(st.sampled_from(actions)),
            ("to" if egress else "from"): peers,
        }
        has_ip_peer = any("networks" in p for p in peers)
        port_gen = cnp_port() if kind == "ClusterNetworkPolicy" else anp_port()
        ports = draw(st.lists(port_gen, max_size=2))
        if has_ip_peer:  # the API refuses named ports next to networks peers
            ports = [p for p in ports if "destinationNamedPort" not in p and "namedPort" not in p]
        if ports:
            r["protocols" if kind == "ClusterNetworkPolicy" else "ports"] = ports
        rules.append(r)
    return rules


@st.composite
def admin_policies(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    priorities = draw(st.lists(st.integers(0, 20), min_size=0, max_size=4, unique=True))
    for i, priority in enumerate(priorities):
        kind = draw(st.sampled_from(("ClusterNetworkPolicy", "AdminNetworkPolicy")))
        spec: dict[str, Any] = {"priority": priority}
        if kind == "ClusterNetworkPolicy":
            spec["tier"] = draw(st.sampled_from(("Admin", "Baseline")))
        if draw(st.booleans()):
            spec["subject"] = {"namespaces": draw(selectors)}
        else:
            spec["subject"] = {
                "pods": {"namespaceSelector": draw(selectors), "podSelector": draw(selectors)}
            }
        spec["ingress"] = draw(admin_rules(kind, False))
        spec["egress"] = draw(admin_rules(kind, True))
        api = (
            "policy.networking.k8s.io/v1alpha2"
            if kind == "ClusterNetworkPolicy"
            else "policy.networking.k8s.io/v1alpha1"
        )
        out.append({"apiVersion": api, "kind": kind, "metadata": {"name": f"pol{i}"}, "spec": spec})
    if draw(st.booleans()):
        kind = "BaselineAdminNetworkPolicy"
        out.append(
            {
                "apiVersion": "policy.networking.k8s.io/v1alpha1",
                "kind": kind,
                "metadata": {"name": "default"},
                "spec": {
                    "subject": {"namespaces": draw(selectors)},
                    "ingress": draw(admin_rules(kind, False)),
                    "egress": draw(admin_rules(kind, True)),
                },
            }
        )
    return out


@st.composite
def netpols(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for i in range(draw(st.integers(0, 3))):
        namespace = draw(st.sampled_from(NAMESPACES))
        types = draw(st.sampled_from((["Ingress"], ["Egress"], ["Ingress", "Egress"])))
        spec: dict[str, Any] = {"podSelector": draw(selectors), "policyTypes": types}
        for direction, key in (("ingress", "from"), ("egress", "to")):
            rules = []
            for _ in range(draw(st.integers(0, 2))):
                rule: dict[str, Any] = {}
                peers = []
                for _ in range(draw(st.integers(0, 2))):
                    shape = draw(st.sampled_from(("pod", "ns", "both", "ip")))
                    if shape == "ip":
                        peers.append({"ipBlock": {"cidr": draw(st.sampled_from(CIDRS))}})
                    elif shape == "pod":
                        peers.append({"podSelector": draw(selectors)})
                    elif shape == "ns":
                        peers.append({"namespaceSelector": draw(selectors)})
                    else:
                        peers.append(
                            {"namespaceSelector": draw(selectors), "podSelector": draw(selectors)}
                        )
                if peers:
                    rule[key] = peers
                if draw(st.booleans()):
                    rule["ports"] = [
                        {
                            "protocol": draw(st.sampled_from(("TCP", "UDP"))),
                            "port": draw(st.sampled_from(PORTS)),
                        }
                    ]
                rules.append(rule)
            spec[direction] = rules
        out.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": f"np{i}", "namespace": namespace},
                "spec": spec,
            }
        )
    return out


@st.composite
def tiered_clusters(draw: st.DrawFn) -> list[dict[str, Any]]:
    namespaces = [ns(n, draw(label_maps)) for n in NAMESPACES]
    return [*namespaces, *draw(pods()), *draw(netpols()), *draw(admin_policies())]


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
