"""A deterministic synthetic cluster for benchmarks: `generate_cluster(pods, policies, seed)`.

Shaped like a real multi-team cluster so the engine meets what it meets in production:

- namespaces `team-NNN` labelled `kubernetes.io/metadata.name`, `team`, `env`; plus
  `kube-system` with CoreDNS pods (`k8s-app: kube-dns`, UDP and TCP 53);
- Deployments' pods (owner: a ReplicaSet `<deployment>-<hash>`) with `app`, `tier`,
  `version` labels and named container ports (`http`, `metrics`, `grpc`, `postgres`...),
  one Service per deployment (named `targetPort` for most);
- per-namespace policies, in this order until the namespace's share of the budget is used:
  default-deny (ingress + egress), DNS egress, frontend→backend egress on the named port,
  backend ingress from the frontend on the numbered port, cross-namespace monitoring via
  namespaceSelector (+ podSelector), db ingress with matchExpressions (In / NotIn /
  Exists / DoesNotExist), egress to the internet by ipBlock with excepts, an endPort
  range; then further "allow-N" variants mixing those features.

Sizes are exact: `pods` pods (kube-system's DNS pods included) and `policies` policies.
Same arguments, same output, byte for byte.

    python -m benchmarks.generator --pods 10000 --policies 2000 --seed 0 -o cluster.yaml
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from triage.model import Flow, IPRef, Pod, PodRef, Protocol, ServiceRef, Snapshot

Manifest = dict[str, Any]

# Deployment kinds: (app, tier, container ports (name, number, protocol), Service port).
WORKLOADS: tuple[tuple[str, str, tuple[tuple[str, int, str], ...], int], ...] = (
    ("frontend", "web", (("http", 8080, "TCP"), ("metrics", 9102, "TCP")), 80),
    (
        "backend",
        "api",
        (("http", 8080, "TCP"), ("grpc", 9000, "TCP"), ("metrics", 9090, "TCP")),
        80,
    ),
    ("db", "db", (("postgres", 5432, "TCP"),), 5432),
    ("cache", "cache", (("redis", 6379, "TCP"),), 6379),
    ("worker", "worker", (("metrics", 9090, "TCP"), ("gossip", 7946, "UDP")), 9090),
)
ENVS = ("dev", "staging", "prod")
VERSIONS = ("v1", "v2", "v3")
PODS_PER_NAMESPACE = 50
DNS_PODS = 2
_ALNUM = "bcdfghjklmnpqrstvwxz2456789"


def _name(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(_ALNUM) for _ in range(n))


def _pod_ip(i: int) -> str:
    # 10.1.0.0/16 upwards: up to 16M pods, never the 10.96/12 Service range.
    n = (1 << 16) + i
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def _service_ip(i: int) -> str:
    return f"10.96.{(i >> 8) & 255}.{i & 255}"


def namespace(name: str, labels: dict[str, str]) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name, **labels}},
    }


def _pod(
    ns: str,
    deployment: str,
    rs_hash: str,
    suffix: str,
    labels: dict[str, str],
    ports: tuple[tuple[str, int, str], ...],
    ip: str,
    node: str,
) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{deployment}-{rs_hash}-{suffix}",
            "namespace": ns,
            "labels": {**labels, "pod-template-hash": rs_hash},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": f"{deployment}-{rs_hash}",
                    "controller": True,
                    "uid": f"{ns}-{deployment}-{rs_hash}",
                }
            ],
        },
        "spec": {
            "nodeName": node,
            "containers": [
                {
                    "name": deployment.split("-")[0],
                    "image": f"registry.example/{deployment}:1.0",
                    "ports": [
                        {"name": pn, "containerPort": number, "protocol": proto}
                        for pn, number, proto in ports
                    ],
                }
            ],
        },
        "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]},
    }


def _service(
    ns: str, name: str, selector: dict[str, str], port: int, target: int | str, ip: str
) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "selector": selector,
            "clusterIP": ip,
            "ports": [{"name": "main", "port": port, "targetPort": target, "protocol": "TCP"}],
        },
    }


def _policy(ns: str, name: str, pod_selector: dict[str, Any], **spec: Any) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"podSelector": pod_selector, **spec},
    }


def _app(app: str) -> dict[str, Any]:
    return {"matchLabels": {"app": app}}


def _ns_is(name: str) -> dict[str, Any]:
    return {"matchLabels": {"kubernetes.io/metadata.name": name}}


def _dns_peer() -> dict[str, Any]:
    # Fresh dicts each time: a shared one would make YAML dumpers write anchors and
    # aliases, which kubectl never prints.
    return {
        "namespaceSelector": _ns_is("kube-system"),
        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
    }


def _dns_ports() -> list[dict[str, Any]]:
    return [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]


def _namespace_policies(ns: str, n: int, rng: random.Random, teams: list[str]) -> list[Manifest]:
    """The first `n` policies of a namespace: the standard set, then variants."""
    monitoring = rng.choice(teams)
    standard: list[Manifest] = [
        _policy(ns, "default-deny", {}, policyTypes=["Ingress", "Egress"]),
        _policy(
            ns,
            "allow-dns-egress",
            {},
            policyTypes=["Egress"],
            egress=[{"to": [_dns_peer()], "ports": _dns_ports()}],
        ),
        _policy(
            ns,
            "frontend-to-backend-egress",
            _app("frontend"),
            policyTypes=["Egress"],
            egress=[{"to": [{"podSelector": _app("backend")}], "ports": [{"port": "http"}]}],
        ),
        _policy(
            ns,
            "backend-from-frontend",
            _app("backend"),
            policyTypes=["Ingress"],
            ingress=[
                {
                    "from": [{"podSelector": _app("frontend")}],
                    "ports": [{"protocol": "TCP", "port": 8080}],
                }
            ],
        ),
        _policy(
            ns,
            "allow-monitoring",
            {
                "matchExpressions": [
                    {"key": "app", "operator": "In", "values": ["backend", "worker"]}
                ]
            },
            policyTypes=["Ingress"],
            ingress=[
                {
                    "from": [
                        {"namespaceSelector": {"matchLabels": {"team": monitoring}}},
                        {
                            "namespaceSelector": {"matchLabels": {"env": "prod"}},
                            "podSelector": {"matchLabels": {"app": "worker"}},
                        },
                    ],
                    "ports": [{"port": "metrics"}],
                }
            ],
        ),
        _policy(
            ns,
            "db-ingress",
            _app("db"),
            policyTypes=["Ingress"],
            ingress=[
                {
                    "from": [
                        {
                            "podSelector": {
                                "matchExpressions": [
                                    {
                                        "key": "app",
                                        "operator": "In",
                                        "values": ["backend", "worker"],
                                    },
                                    {"key": "version", "operator": "NotIn", "values": ["v0"]},
                                    {"key": "tier", "operator": "Exists"},
                                    {"key": "debug", "operator": "DoesNotExist"},
                                ]
                            }
                        }
                    ],
                    "ports": [{"port": 5432}],
                }
            ],
        ),
        _policy(
            ns,
            "backend-internet-egress",
            _app("backend"),
            policyTypes=["Egress"],
            egress=[
                {
                    "to": [
                        {
                            "ipBlock": {
                                "cidr": "0.0.0.0/0",
                                "except": ["10.0.0.0/8", "172.16.0.0/12", "169.254.169.254/32"],
                            }
                        }
                    ],
                    "ports": [{"port": 443}],
                }
            ],
        ),
        _policy(
            ns,
            "worker-nodeports",
            _app("worker"),
            policyTypes=["Egress"],
            egress=[
                {
                    "to": [{"namespaceSelector": {"matchLabels": {"env": rng.choice(ENVS)}}}],
                    "ports": [{"protocol": "TCP", "port": 30000, "endPort": 32767}],
                }
            ],
        ),
    ]
    out = standard[:n]
    for i in range(len(out), n):
        out.append(_variant(ns, i, rng, teams))
    return out


def _variant(ns: str, i: int, rng: random.Random, teams: list[str]) -> Manifest:
    app, tier, ports, _ = rng.choice(WORKLOADS)
    peer_app = rng.choice(WORKLOADS)[0]
    shape = i % 4
    peer: dict[str, Any]
    if shape == 0:
        peer = {"podSelector": {"matchLabels": {"app": peer_app, "version": rng.choice(VERSIONS)}}}
    elif shape == 1:
        peer = {
            "namespaceSelector": {"matchLabels": {"team": rng.choice(teams)}},
            "podSelector": {
                "matchExpressions": [{"key": "tier", "operator": "In", "values": [tier, "web"]}]
            },
        }
    elif shape == 2:
        peer = {
            "namespaceSelector": {
                "matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["dev"]}]
            }
        }
    else:
        base = rng.randrange(0, 256)
        peer = {
            "ipBlock": {
                "cidr": f"10.{base}.0.0/16",
                "except": [f"10.{base}.{rng.randrange(256)}.0/24"],
            }
        }
    port_name, number, proto = rng.choice(ports)
    port: dict[str, Any] = (
        {"protocol": proto, "port": port_name}
        if rng.random() < 0.5
        else {"protocol": proto, "port": number}
    )
    if rng.random() < 0.1 and proto == "TCP":
        port = {"protocol": "TCP", "port": number, "endPort": number + rng.choice((1, 10, 100))}
    selector: dict[str, Any] = {"matchLabels": {"app": app}}
    if rng.random() < 0.3:
        selector["matchLabels"]["version"] = rng.choice(VERSIONS)
    if rng.random() < 0.5:
        return _policy(
            ns,
            f"allow-{i}",
            selector,
            policyTypes=["Ingress"],
            ingress=[{"from": [peer], "ports": [port]}],
        )
    return _policy(
        ns, f"allow-{i}", selector, policyTypes=["Egress"], egress=[{"to": [peer], "ports": [port]}]
    )


def _cluster_policies(n: int, rng: random.Random, teams: list[str]) -> list[Manifest]:
    """`n` ClusterNetworkPolicies (v1alpha2) as a platform team writes them: Admin-tier
    guard rails by team (deny from other envs, accept monitoring, pass same-team traffic),
    an egress deny of the metadata address, and Baseline-tier namespace isolation. Unique
    priorities (equal ones are undefined by the API)."""
    out: list[Manifest] = []
    for i in range(n):
        team = teams[i % len(teams)] if teams else "t0"
        kind = i % 5
        tier = "Baseline" if kind == 4 else "Admin"
        subject: dict[str, Any] = {"namespaces": {"matchLabels": {"team": team}}}
        ingress: list[dict[str, Any]] = []
        egress: list[dict[str, Any]] = []
        if kind == 0:
            ingress = [
                {
                    "name": "monitoring",
                    "action": "Accept",
                    "from": [
                        {
                            "pods": {
                                "namespaceSelector": {},
                                "podSelector": {"matchLabels": {"app": "worker"}},
                            }
                        }
                    ],
                    "protocols": [{"destinationNamedPort": "metrics"}],
                },
                {
                    "name": "same-team",
                    "action": "Pass",
                    "from": [{"namespaces": {"matchLabels": {"team": team}}}],
                },
            ]
        elif kind == 1:
            env = rng.choice(ENVS)
            ingress = [
                {
                    "name": f"no-{env}",
                    "action": "Deny",
                    "from": [{"namespaces": {"matchLabels": {"env": env}}}],
                    "protocols": [
                        {"tcp": {"destinationPort": {"range": {"start": 5000, "end": 6500}}}}
                    ],
                }
            ]
        elif kind == 2:
            subject = {
                "pods": {
                    "namespaceSelector": {"matchLabels": {"team": team}},
                    "podSelector": {"matchLabels": {"tier": rng.choice(("db", "cache"))}},
                }
            }
            egress = [
                {
                    "name": "no-metadata",
                    "action": "Deny",
                    "to": [{"networks": ["169.254.169.254/32"]}],
                },
                {
                    "name": "dns",
                    "action": "Accept",
                    "to": [
                        {
                            "namespaces": {
                                "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                            }
                        }
                    ],
                    "protocols": [
                        {"udp": {"destinationPort": {"number": 53}}},
                        {"tcp": {"destinationPort": {"number": 53}}},
                    ],
                },
            ]
        elif kind == 3:
            ingress = [
                {
                    "name": "frontend",
                    "action": "Pass",
                    "from": [
                        {
                            "pods": {
                                "namespaceSelector": {},
                                "podSelector": {"matchLabels": {"app": "frontend"}},
                            }
                        }
                    ],
                    "protocols": [{"tcp": {"destinationPort": {"number": 8080}}}],
                }
            ]
        else:
            ingress = [
                {
                    "name": "same-team",
                    "action": "Accept",
                    "from": [{"namespaces": {"matchLabels": {"team": team}}}],
                },
                {"name": "rest", "action": "Deny", "from": [{"namespaces": {}}]},
            ]
        spec: dict[str, Any] = {"tier": tier, "priority": 10 + i, "subject": subject}
        if ingress:
            spec["ingress"] = ingress
        if egress:
            spec["egress"] = egress
        out.append(
            {
                "apiVersion": "policy.networking.k8s.io/v1alpha2",
                "kind": "ClusterNetworkPolicy",
                "metadata": {"name": f"platform-{i:03d}"},
                "spec": spec,
            }
        )
    return out


def generate_cluster(
    pods: int, policies: int, seed: int = 0, cluster_policies: int = 0
) -> dict[str, Any]:
    """A `kind: List` of Namespaces, Pods, Services and NetworkPolicies: exactly `pods`
    pods and `policies` policies, the same for the same arguments; with
    `cluster_policies`, that many ClusterNetworkPolicies too (appended: the rest of the
    cluster is the same as without them)."""
    if pods < DNS_PODS:
        raise ValueError(f"pods must be at least {DNS_PODS} (the DNS pods)")
    if policies < 0:
        raise ValueError("policies must be >= 0")
    rng = random.Random(seed)
    app_pods = pods - DNS_PODS
    n_ns = max(1, -(-app_pods // PODS_PER_NAMESPACE))
    names = [f"team-{i:03d}" for i in range(n_ns)]
    teams = [f"t{i % 16}" for i in range(n_ns)]
    items: list[Manifest] = [namespace("kube-system", {})]
    for name, team in zip(names, teams, strict=True):
        items.append(namespace(name, {"team": team, "env": rng.choice(ENVS)}))

    pod_index = 0
    service_index = 10
    nodes = [f"node-{i:03d}" for i in range(max(1, pods // 100))]
    dns_hash = _name(rng, 10)
    for _ in range(DNS_PODS):
        items.append(
            _pod(
                "kube-system",
                "coredns",
                dns_hash,
                _name(rng, 5),
                {"k8s-app": "kube-dns"},
                (("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP")),
                _pod_ip(pod_index),
                rng.choice(nodes),
            )
        )
        pod_index += 1
    items.append(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system"},
            "spec": {
                "selector": {"k8s-app": "kube-dns"},
                "clusterIP": "10.96.0.10",
                "ports": [
                    {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": "dns"},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": "dns-tcp"},
                ],
            },
        }
    )

    # Pods: the namespaces share app_pods evenly; each namespace's share is spread over
    # the workloads (frontend and backend first, so small namespaces still have them).
    per_ns = [app_pods // n_ns + (1 if i < app_pods % n_ns else 0) for i in range(n_ns)]
    for ns, count in zip(names, per_ns, strict=True):
        replicas = [0] * len(WORKLOADS)
        for k in range(count):
            replicas[k % len(WORKLOADS)] += 1
        for (app, tier, ports, svc_port), n in zip(WORKLOADS, replicas, strict=True):
            if n == 0:
                continue
            version = rng.choice(VERSIONS)
            rs_hash = _name(rng, 10)
            labels = {"app": app, "tier": tier, "version": version}
            for _ in range(n):
                items.append(
                    _pod(
                        ns,
                        app,
                        rs_hash,
                        _name(rng, 5),
                        labels,
                        ports,
                        _pod_ip(pod_index),
                        rng.choice(nodes),
                    )
                )
                pod_index += 1
            target: int | str = ports[0][0] if rng.random() < 0.8 else ports[0][1]
            items.append(
                _service(ns, app, {"app": app}, svc_port, target, _service_ip(service_index))
            )
            service_index += 1

    per_ns_policies = [policies // n_ns + (1 if i < policies % n_ns else 0) for i in range(n_ns)]
    for ns, count in zip(names, per_ns_policies, strict=True):
        items.extend(_namespace_policies(ns, count, rng, teams))
    if cluster_policies:
        items.extend(
            _cluster_policies(cluster_policies, random.Random(seed + 1), sorted(set(teams)))
        )
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items}


def write_cluster(cluster: dict[str, Any], path: Path) -> Path:
    """Write as JSON (`.json`) or YAML (anything else), the way kubectl prints them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        if path.suffix == ".json":
            json.dump(cluster, out, indent=2)
        else:
            dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
            yaml.dump(cluster, out, Dumper=dumper, sort_keys=False, default_flow_style=False)
    return path


def sample_flows(snapshot: Snapshot, n: int, seed: int = 0) -> list[Flow]:
    """`n` questions an operator would ask: the flows the policies mean to allow
    (frontend→backend, DNS, backend→internet) and arbitrary ones — pod→pod in and across
    namespaces, pod→Service, pod→external IP — on declared ports and some undeclared."""
    rng = random.Random(seed)
    pods = [p for p in snapshot.pods if p.ips]
    services = [s for s in snapshot.services if s.ports]
    by_ns = snapshot.pods_by_namespace
    by_app: dict[tuple[str, str], list[Pod]] = {}
    for p in pods:
        by_app.setdefault((p.namespace, p.labels.get("app", "")), []).append(p)
    flows: list[Flow] = []

    def ref(pod: Pod) -> PodRef:
        return PodRef(pod.namespace, pod.name)

    while len(flows) < n:
        src = rng.choice(pods)
        kind = rng.random()
        if kind < 0.15:  # intended: frontend → backend of its namespace
            backends = by_app.get((src.namespace, "backend"))
            frontends = by_app.get((src.namespace, "frontend"))
            if backends and frontends:
                flows.append(Flow(ref(rng.choice(frontends)), ref(rng.choice(backends)), 8080))
            continue
        if kind < 0.25:  # intended: DNS
            flows.append(Flow(ref(src), ServiceRef("kube-system", "kube-dns"), 53, "UDP"))
            continue
        if kind < 0.35:  # to the outside
            ip = rng.choice(("93.184.216.34", "169.254.169.254", "10.200.1.1", "172.20.0.5"))
            flows.append(Flow(ref(src), IPRef(ip), rng.choice((443, 80, 5432))))
            continue
        if kind < 0.5:
            svc = rng.choice(services)
            sp = rng.choice(svc.ports)
            flows.append(Flow(ref(src), ServiceRef(svc.namespace, svc.name), sp.port, sp.protocol))
            continue
        dst = rng.choice(by_ns[src.namespace]) if kind < 0.8 else rng.choice(pods)
        declared = dst.ports
        port: int
        proto: Protocol
        if declared and rng.random() < 0.85:
            cp = rng.choice(declared)
            port, proto = cp.port, cp.protocol
        else:
            port, proto = rng.choice(((8080, "TCP"), (22, "TCP"), (31000, "TCP"), (53, "UDP")))
        flows.append(Flow(ref(src), ref(dst), port, proto))
    return flows


def iter_items(cluster: dict[str, Any]) -> Iterator[Manifest]:
    yield from cluster["items"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--policies", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--cluster-policies", type=int, default=0, help="ClusterNetworkPolicies (v1alpha2) to add"
    )
    parser.add_argument(
        "-o", "--output", type=Path, help=".yaml or .json (default: YAML on stdout)"
    )
    args = parser.parse_args(argv)
    cluster = generate_cluster(args.pods, args.policies, args.seed, args.cluster_policies)
    if args.output is None:
        yaml.dump(
            cluster,
            sys.stdout,
            Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper),
            sort_keys=False,
        )
    else:
        write_cluster(cluster, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
