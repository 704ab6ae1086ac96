"""The reachability matrix: concrete matrices, the port-set algebra, the lateral-movement
scenario, and agreement with `engine.explain` on seeded random clusters."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from triage.cli import main
from triage.model import (
    NAMESPACE_NAME_LABEL,
    Container,
    ContainerPort,
    Flow,
    IPBlock,
    LabelSelector,
    Namespace,
    NetworkPolicy,
    Owner,
    Peer,
    Pod,
    PodRef,
    PolicyPort,
    Requirement,
    Rule,
    Snapshot,
)
from triage.policy import explain
from triage.policy.classes import compile_snapshot
from triage.policy.matrix import (
    PortQuery,
    class_matrix,
    compute_matrix,
    group_workloads,
    matrix_to_csv,
    matrix_to_dict,
    matrix_to_dot,
)
from triage.policy.portset import ALL_PORTS, NO_PORTS, PortSet
from triage.sources.manifests import load_manifests

DATA = Path(__file__).parent / "data"
CLASSIC = DATA / "classic.yaml"
LATERAL = DATA / "matrix" / "lateral.yaml"


def load(*paths: Path) -> Snapshot:
    snapshot, _ = load_manifests(list(paths))
    return snapshot


# ---------------------------------------------------------------- port sets


def test_portset_algebra() -> None:
    a = PortSet.parse("TCP 80, 8000-8080; UDP 53")
    b = PortSet.parse("TCP 8080-9000")
    assert (a & b).describe() == "TCP 8080"
    assert (a | b).describe() == "TCP 80, 8000-9000; UDP 53"
    assert (a - b).describe() == "TCP 80, 8000-8079; UDP 53"
    assert ("TCP", 8050) in a and ("UDP", 80) not in a
    assert (ALL_PORTS & a) == a and (NO_PORTS | a) == a
    assert ALL_PORTS.describe() == "all ports" and NO_PORTS.describe() == "no ports"
    assert PortSet.whole("UDP").describe() == "UDP all"
    assert PortSet.from_dict(a.to_dict()) == a
    assert PortSet.parse(a.describe()) == a
    assert a <= a | b and not a <= b
    # adjacent ranges merge
    assert PortSet.parse("TCP 1-10, 11-20").describe() == "TCP 1-20"


# ---------------------------------------------------------------- concrete matrices


def cells_by_key(snapshot: Snapshot, **kw: object) -> dict[tuple[str, str], str]:
    m = compute_matrix(snapshot, **kw)  # type: ignore[arg-type]
    return {
        (m.workloads[c.source].key, m.workloads[c.destination].key): c.ports.describe()
        for c in m.cells.values()
    }


def test_classic_matrix() -> None:
    cells = cells_by_key(load(CLASSIC))
    assert cells[("traefik/traefik", "develop/backend")] == "TCP 8080"
    # allow-dns-egress isolates every develop pod for egress: only DNS leaves develop
    for w in ("backend", "debug", "frontend", "frontend-canary"):
        assert cells[(f"develop/{w}", "kube-system/coredns")] == "TCP 53; UDP 53"
        assert (f"develop/{w}", "production/production-db") not in cells
    # frontend → backend is denied: allow-dns-egress isolates frontend's egress
    assert ("develop/frontend", "develop/backend") not in cells
    assert cells[("kube-system/coredns", "production/production-db")] == "all ports"
    assert len(cells) == 14


def test_lateral_movement_before_and_after_default_deny() -> None:
    base = load(LATERAL)
    cells = cells_by_key(base)
    assert cells[("develop/debug", "production/production-db")] == "all ports"
    m = compute_matrix(base, port=PortQuery("TCP", 5432))
    i, j = m.index("develop/debug"), m.index("production/production-db")
    assert m.cell(i, j) is not None

    deny_ingress = NetworkPolicy(
        "production", "default-deny-ingress", LabelSelector(), ("Ingress",)
    )
    deny_egress = NetworkPolicy("develop", "default-deny-egress", LabelSelector(), ("Egress",))
    for extra in (deny_ingress, deny_egress):
        after = base.with_policies((*base.policies, extra))
        m = compute_matrix(after, port=PortQuery("TCP", 5432))
        assert m.cell(m.index("develop/debug"), m.index("production/production-db")) is None
        assert not explain(
            after, Flow(PodRef("develop", "debug"), PodRef("production", "production-db-0"), 5432)
        ).allowed


def test_named_port_query_resolves_per_destination_pod() -> None:
    snap = load(CLASSIC)
    m = compute_matrix(snap, port=PortQuery("TCP", "web"))
    src = m.index("kube-system/coredns")
    # only traefik declares a port named web (8000)
    dests = {m.workloads[j].key: c.ports.describe() for (i, j), c in m.cells.items() if i == src}
    assert dests == {"traefik/traefik": "TCP 8000"}


def test_namespace_filter_and_renderings() -> None:
    snap = load(CLASSIC)
    m = compute_matrix(snap, namespaces=["develop", "traefik"])
    assert {w.namespace for w in m.workloads} == {"develop", "traefik"}
    data = matrix_to_dict(m)
    json.dumps(data)
    assert {"from": "traefik/traefik", "to": "develop/backend"}.items() <= next(
        c for c in data["connections"] if c["to"] == "develop/backend"
    ).items()
    csv_text = matrix_to_csv(m)
    assert "traefik/traefik,develop/backend,TCP 8080,yes" in csv_text
    dot = matrix_to_dot(m)
    assert '"traefik/traefik" -> "develop/backend" [label="TCP 8080"' in dot


def test_workloads_group_by_owner_then_identical_labels() -> None:
    pods = [
        Pod("a", "web-1", {"app": "web"}, owner=Owner("ReplicaSet", "web-5f6d7")),
        Pod("a", "web-2", {"app": "web"}, owner=Owner("ReplicaSet", "web-5f6d7")),
        Pod("a", "x", {"run": "x"}),
        Pod("a", "y", {"run": "x"}),
        Pod("a", "z", {"run": "z"}),
        Pod("a", "bare"),
        Pod("a", "bare2"),
    ]
    ws = {w.key: (w.kind, [p.name for p in w.pods]) for w in group_workloads(pods)}
    assert ws == {
        "a/web": ("Deployment", ["web-1", "web-2"]),
        "a/[run=x]": ("Pods", ["x", "y"]),
        "a/z": ("Pod", ["z"]),
        "a/bare": ("Pod", ["bare"]),
        "a/bare2": ("Pod", ["bare2"]),
    }


def test_non_uniform_cell_when_pods_of_a_workload_differ() -> None:
    ns = Namespace("a", {NAMESPACE_NAME_LABEL: "a"})
    pods = (
        Pod("a", "web-1", {"app": "web"}, ("10.0.0.1",), owner=Owner("StatefulSet", "web")),
        Pod("a", "web-2", {"app": "web"}, ("10.0.9.2",), owner=Owner("StatefulSet", "web")),
        Pod("a", "db-0", {"app": "db"}, ("10.0.1.1",), owner=Owner("StatefulSet", "db")),
    )
    pol = NetworkPolicy(
        "a",
        "db",
        LabelSelector((("app", "db"),)),
        ("Ingress",),
        ingress=(Rule((Peer(ip_block=IPBlock("10.0.0.0/24")),), (PolicyPort("TCP", 5432),)),),
    )
    m = compute_matrix(Snapshot((ns,), pods, (), (pol,)))
    cell = m.cell(m.index("a/web"), m.index("a/db"))
    assert cell is not None and not cell.uniform
    assert cell.ports.describe() == "TCP 5432" and not cell.common
    assert m.cell(m.index("a/web"), m.index("a/web")) is not None
    # a single pod to itself is flagged as self traffic
    self_cell = m.cell(m.index("a/db"), m.index("a/db"))
    assert self_cell is None  # db ingress only from 10.0.0.0/24


def test_matrix_cli_outputs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["matrix", "--manifests", str(CLASSIC), "-o", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["connections"]) == 14
    assert main(["matrix", "--manifests", str(CLASSIC), "--port", "8080/TCP", "-o", "csv"]) == 0
    out = capsys.readouterr().out
    assert "traefik/traefik,develop/backend,TCP 8080,yes" in out
    assert main(["matrix", "--manifests", str(CLASSIC), "-n", "develop"]) == 0
    assert "develop/backend" in capsys.readouterr().out
    assert main(["matrix", "--manifests", str(CLASSIC), "--port", "70000"]) == 2
    assert main(["matrix", "--manifests", str(CLASSIC), "-n", "nope"]) == 2


# ---------------------------------------------------------------- agreement with the engine

LABEL_KEYS = ("app", "tier", "team", "id")
LABEL_VALUES = ("a", "b", "c")
ID_VALUES = ("pod-1", "pod-3", "x")  # `id` is unique per pod: most values go unmentioned
PORT_NAMES = ("http", "dns", "metrics")


def _selector(rng: random.Random, keys: tuple[str, ...] = LABEL_KEYS) -> LabelSelector:
    if rng.random() < 0.25:
        return LabelSelector()
    chosen = rng.sample(keys, rng.randint(0, min(2, len(keys))))
    labels = tuple(sorted({(k, rng.choice(_values(k))) for k in chosen}))
    exprs = []
    for _ in range(rng.choice((0, 0, 1, 2))):
        op = rng.choice(("In", "NotIn", "Exists", "DoesNotExist"))
        key = rng.choice(keys)
        values = tuple(rng.sample(_values(key), rng.randint(1, 2))) if op in ("In", "NotIn") else ()
        exprs.append(Requirement(key, op, values))  # type: ignore[arg-type]
    return LabelSelector(labels, tuple(exprs))


def _values(key: str) -> tuple[str, ...]:
    return ID_VALUES if key == "id" else LABEL_VALUES


def _ip_block(rng: random.Random) -> IPBlock:
    if rng.random() < 0.15:
        return IPBlock("fd00::/8", ("fd00::/64",) if rng.random() < 0.5 else ())
    base = rng.choice(("10.0.0.0/8", "10.0.0.0/16", "10.0.1.0/24", "10.0.2.0/24", "0.0.0.0/0"))
    excepts: tuple[str, ...] = ()
    if rng.random() < 0.5:
        cands = [e for e in ("10.0.1.0/25", "10.0.2.128/25", "10.0.1.7/32") if _inside(e, base)]
        if cands:
            excepts = (rng.choice(cands),)
    return IPBlock(base, excepts)


def _inside(small: str, big: str) -> bool:
    import ipaddress

    a, b = ipaddress.ip_network(small), ipaddress.ip_network(big)
    return a.version == b.version and a.subnet_of(b)  # type: ignore[arg-type]


def _peer(rng: random.Random) -> Peer:
    r = rng.random()
    if r < 0.2:
        return Peer(ip_block=_ip_block(rng))
    if r < 0.45:
        return Peer(pod_selector=_selector(rng))
    if r < 0.7:
        return Peer(namespace_selector=_selector(rng, ("env", NAMESPACE_NAME_LABEL)))
    return Peer(pod_selector=_selector(rng), namespace_selector=_selector(rng, ("env",)))


def _port(rng: random.Random) -> PolicyPort:
    proto = rng.choice(("TCP", "TCP", "UDP", "SCTP"))
    r = rng.random()
    if r < 0.15:
        return PolicyPort(proto)
    if r < 0.4:
        return PolicyPort(proto, rng.choice(PORT_NAMES))
    port = rng.choice((53, 80, 443, 5432, 8080, 9090))
    if r < 0.6:
        return PolicyPort(proto, port, port + rng.choice((0, 10, 1000)))
    return PolicyPort(proto, port)


def _rule(rng: random.Random) -> Rule:
    peers = tuple(_peer(rng) for _ in range(rng.choice((0, 1, 1, 2))))
    ports = tuple(_port(rng) for _ in range(rng.choice((0, 1, 1, 2))))
    return Rule(peers, ports)


def random_snapshot(seed: int, pods: int = 14, policies: int = 8) -> Snapshot:
    rng = random.Random(seed)
    namespaces = []
    for name in ("ns-a", "ns-b", "ns-c"):
        labels = {"env": rng.choice(LABEL_VALUES)}
        if rng.random() < 0.8:
            labels[NAMESPACE_NAME_LABEL] = name
        namespaces.append(Namespace(name, labels))
    pod_list = []
    for i in range(pods):
        labels = {k: rng.choice(LABEL_VALUES) for k in LABEL_KEYS[:3] if rng.random() < 0.6}
        if rng.random() < 0.7:
            labels["id"] = f"pod-{i}"
        ips: tuple[str, ...]
        r = rng.random()
        if r < 0.08:
            ips = ()
        elif r < 0.2:
            ips = (f"10.0.{rng.randint(1, 2)}.{i + 1}", f"fd00::{i + 1:x}")
            if rng.random() < 0.5:  # IPv6 primary: connections to it are IPv6
                ips = ips[::-1]
        elif r < 0.25:
            ips = (f"fd00::{rng.choice((1, 2, 3)):x}:{i + 1:x}",)
        else:
            ips = (f"10.0.{rng.randint(1, 3)}.{rng.choice((i + 1, 130 + i, 7))}",)
        ports = tuple(
            ContainerPort(
                rng.choice((53, 80, 443, 5432, 8080, 9090, 9095)),
                rng.choice(("TCP", "TCP", "UDP", "SCTP")),  # type: ignore[arg-type]
                rng.choice((*PORT_NAMES, None)),
            )
            for _ in range(rng.randint(0, 3))
        )
        pod_list.append(
            Pod(
                rng.choice(namespaces).name,
                f"pod-{i}",
                labels,
                ips,
                (Container("c", "img", ports),),
                host_network=rng.random() < 0.05,
            )
        )
    pols = []
    for i in range(policies):
        types = rng.choice((("Ingress",), ("Egress",), ("Egress", "Ingress")))
        pols.append(
            NetworkPolicy(
                rng.choice(namespaces).name,
                f"pol-{i}",
                _selector(rng),
                types,  # type: ignore[arg-type]
                ingress=tuple(_rule(rng) for _ in range(rng.randint(0, 2)))
                if "Ingress" in types
                else (),
                egress=tuple(_rule(rng) for _ in range(rng.randint(0, 2)))
                if "Egress" in types
                else (),
            )
        )
    return Snapshot(tuple(namespaces), tuple(pod_list), (), tuple(pols))


PROBES = (
    [("TCP", p) for p in (1, 52, 53, 80, 443, 5432, 8080, 8090, 9090, 9095, 9100, 65535)]
    + [("UDP", p) for p in (53, 80, 9090, 9095)]
    + [("SCTP", p) for p in (53, 443, 9095)]
)


@pytest.mark.parametrize("seed", range(40))
def test_matrix_agrees_with_engine_on_random_clusters(seed: int) -> None:
    snap = random_snapshot(seed)
    model = compile_snapshot(snap)
    cm = class_matrix(model)
    for src in snap.pods:
        for dst in snap.pods:
            allowed = cm.pod_ports(src, dst)
            for proto, port in PROBES:
                flow = Flow(
                    PodRef(src.namespace, src.name), PodRef(dst.namespace, dst.name), port, proto
                )  # type: ignore[arg-type]
                want = explain(snap, flow).allowed
                assert ((proto, port) in allowed) == want, (seed, str(flow), allowed)
            # the direct pair evaluator (used by exposure) agrees with the block algorithm
            assert model.pair(model.class_of[src.key], model.class_of[dst.key]) == allowed


def test_label_values_no_selector_names_do_not_split_classes() -> None:
    ns = Namespace("a", {NAMESPACE_NAME_LABEL: "a"})
    pods = tuple(
        Pod("a", f"web-{i}", {"app": "web", "pod-name": f"web-{i}"}, (f"10.0.0.{i + 1}",))
        for i in range(5)
    )
    exists = NetworkPolicy(
        "a",
        "p",
        LabelSelector((), (Requirement("pod-name", "Exists"),)),
        ("Ingress",),
        ingress=(Rule((Peer(pod_selector=LabelSelector((("pod-name", "web-3"),))),)),),
    )
    model = compile_snapshot(Snapshot((ns,), pods, (), (exists,)))
    # web-3 is named by a selector; the other four only differ in values nobody names
    assert sorted(len(c.pods) for c in model.classes) == [1, 4]
    cm = class_matrix(model)
    assert not cm.pod_ports(pods[0], pods[1])  # isolated, and only web-3 is admitted
    assert cm.pod_ports(pods[3], pods[1]).is_all


@pytest.mark.parametrize("seed", range(10))
def test_classes_never_merge_distinguishable_pods(seed: int) -> None:
    snap = random_snapshot(seed, pods=20, policies=10)
    model = compile_snapshot(snap)
    assert sum(len(c.pods) for c in model.classes) == len(snap.pods)
    assert len(model.classes) <= len(snap.pods)


@pytest.mark.parametrize("seed", range(12))
def test_workload_cells_are_union_and_intersection_of_pod_pairs(seed: int) -> None:
    rng = random.Random(seed)
    snap = random_snapshot(seed, pods=12, policies=6)
    # give some pods common owners so workloads have several pods
    pods = tuple(
        Pod(
            p.namespace,
            p.name,
            p.labels,
            p.ips,
            p.containers,
            p.host_network,
            Owner("StatefulSet", f"w{rng.randint(0, 3)}") if rng.random() < 0.6 else None,
        )
        for p in snap.pods
    )
    snap = Snapshot(snap.namespaces, pods, (), snap.policies)
    model = compile_snapshot(snap)
    cm = class_matrix(model)
    m = compute_matrix(snap, model=model)
    for i, wi in enumerate(m.workloads):
        for j, wj in enumerate(m.workloads):
            sets = [cm.pod_ports(s, d) for s in wi.pods for d in wj.pods if s is not d]
            if not sets:
                sets = [cm.pod_ports(wi.pods[0], wi.pods[0])]
            union = NO_PORTS
            common = sets[0]
            for ps in sets:
                union |= ps
                common &= ps
            cell = m.cell(i, j)
            if not union:
                assert cell is None
            else:
                assert cell is not None and cell.ports == union and cell.common == common
