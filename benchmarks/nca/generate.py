"""Seeded generator of realistic clusters for the matrix benchmark (stand-in for
benchmarks/generator.py, which did not exist when the benchmark was written).

`generate_cluster(pods, policies, seed)` returns Kubernetes manifests (plain dicts):
namespaces, Deployment-owned pods with container ports, Services and NetworkPolicies that
use every feature both tools model — default-denies, pod/namespace selectors (alone and
combined), matchExpressions, numeric, named and ranged ports, UDP, ipBlocks with excepts
(some covering pod IPs) — so the allowed sets can be compared pair by pair.

    python benchmarks/nca/generate.py --pods 500 --policies 50 --seed 1 OUT_DIR
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

import yaml

TIERS = {
    "web": [("http", 8080, "TCP")],
    "api": [("http", 8080, "TCP"), ("metrics", 9090, "TCP")],
    "db": [("postgres", 5432, "TCP")],
    "cache": [("redis", 6379, "TCP")],
    "worker": [("metrics", 9090, "TCP"), ("gossip", 7946, "UDP")],
}
ENVS = ("dev", "staging", "prod")
TEAMS = tuple(f"team-{i}" for i in range(8))
DNS_LABELS = {"k8s-app": "kube-dns"}


def _ns(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name, **labels}},
    }


def _pod(
    ns: str, name: str, labels: dict[str, str], owner: str, ip: str, ports: list[Any]
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": owner,
                    "controller": True,
                    "uid": f"uid-{ns}-{owner}",
                }
            ],
        },
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "registry.example/app:1.0",
                    "ports": [
                        {"name": n, "containerPort": p, "protocol": proto} for n, p, proto in ports
                    ],
                }
            ]
        },
        "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]},
    }


def _policy(ns: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def generate_cluster(pods: int, policies: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    docs: list[dict[str, Any]] = []
    n_ns = max(3, pods // 100)
    namespaces = [f"ns-{i:03d}" for i in range(n_ns)]
    ns_env = {ns: rng.choice(ENVS) for ns in namespaces}
    for ns in namespaces:
        docs.append(_ns(ns, {"env": ns_env[ns], "team": rng.choice(TEAMS)}))
    docs.append(_ns("kube-system", {}))

    ip_counter = [0]

    def next_ip() -> str:
        i = ip_counter[0]
        ip_counter[0] += 1
        return f"10.{1 + i // 62500}.{(i // 250) % 250}.{1 + i % 250}"

    # DNS: two coredns pods.
    for r in range(2):
        docs.append(
            _pod(
                "kube-system",
                f"coredns-5d78c-{r}",
                {**DNS_LABELS, "pod-template-hash": "5d78c"},
                "coredns-5d78c",
                next_ip(),
                [("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")],
            )
        )
    docs.append(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system"},
            "spec": {
                "selector": DNS_LABELS,
                "ports": [
                    {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                ],
            },
        }
    )

    # Workloads: deployments of 1-8 replicas until the pod budget is spent.
    workloads: list[tuple[str, str, str, dict[str, str]]] = []  # ns, app, tier, labels
    made = 2
    w = 0
    while made < pods:
        ns = rng.choice(namespaces)
        tier = rng.choice(tuple(TIERS))
        app = f"{tier}-{w}"
        w += 1
        replicas = min(rng.randint(1, 8), pods - made)
        labels = {"app": app, "tier": tier, "team": rng.choice(TEAMS)}
        if rng.random() < 0.3:
            labels["version"] = rng.choice(("v1", "v2"))
        hash_ = f"{rng.randrange(16**6):06x}"
        workloads.append((ns, app, tier, labels))
        for r in range(replicas):
            docs.append(
                _pod(
                    ns,
                    f"{app}-{hash_}-{r}",
                    {**labels, "pod-template-hash": hash_},
                    f"{app}-{hash_}",
                    next_ip(),
                    TIERS[tier],
                )
            )
        made += replicas
        name, number, proto = TIERS[tier][0]
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": app, "namespace": ns},
                "spec": {
                    "selector": {"app": app},
                    "ports": [
                        {"name": name, "port": number, "protocol": proto, "targetPort": name}
                    ],
                },
            }
        )

    by_ns: dict[str, list[tuple[str, str, str, dict[str, str]]]] = {}
    for wl in workloads:
        by_ns.setdefault(wl[0], []).append(wl)

    made_pols = 0
    n = 0

    def add(ns: str, spec: dict[str, Any]) -> None:
        nonlocal made_pols, n
        docs.append(_policy(ns, f"pol-{n:04d}", spec))
        n += 1
        made_pols += 1

    # Baselines: default-deny ingress in most namespaces, egress lock-down in some.
    for ns in namespaces:
        if made_pols >= policies:
            break
        if rng.random() < 0.7:
            add(ns, {"podSelector": {}, "policyTypes": ["Ingress"]})
        if made_pols < policies and rng.random() < 0.3:
            add(
                ns,
                {
                    "podSelector": {},
                    "policyTypes": ["Egress"],
                    "egress": [
                        {
                            "to": [
                                {
                                    "namespaceSelector": {
                                        "matchLabels": {
                                            "kubernetes.io/metadata.name": "kube-system"
                                        }
                                    },
                                    "podSelector": {"matchLabels": DNS_LABELS},
                                }
                            ],
                            "ports": [
                                {"protocol": "UDP", "port": 53},
                                {"protocol": "TCP", "port": 53},
                            ],
                        }
                    ],
                },
            )

    def pick_peer(ns: str) -> dict[str, Any]:
        r = rng.random()
        other = rng.choice(workloads)
        if r < 0.35:
            local = by_ns.get(ns) or [other]
            return {"podSelector": {"matchLabels": {"app": rng.choice(local)[1]}}}
        if r < 0.55:
            return {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": other[0]}},
                "podSelector": {"matchLabels": {"app": other[1]}},
            }
        if r < 0.65:
            return {"namespaceSelector": {"matchLabels": {"env": rng.choice(ENVS)}}}
        if r < 0.75:
            return {
                "podSelector": {
                    "matchExpressions": [
                        {
                            "key": "tier",
                            "operator": rng.choice(("In", "NotIn")),
                            "values": rng.sample(tuple(TIERS), 2),
                        }
                    ]
                }
            }
        if r < 0.8:
            return {
                "namespaceSelector": {"matchLabels": {"team": rng.choice(TEAMS)}},
                "podSelector": {"matchExpressions": [{"key": "version", "operator": "Exists"}]},
            }
        if r < 0.9:
            # a pod subnet: ipBlocks match pod IPs too
            third = rng.randrange(max(1, min(250, ip_counter[0] // 250 + 1)))
            block: dict[str, Any] = {"cidr": f"10.1.{third}.0/24"}
            if rng.random() < 0.5:
                block["except"] = [f"10.1.{third}.{rng.choice((0, 64, 128, 192))}/26"]
            return {"ipBlock": block}
        return {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}

    def pick_ports(tier: str) -> list[dict[str, Any]]:
        r = rng.random()
        declared = TIERS[tier]
        if r < 0.1:
            return []
        if r < 0.45:
            name, _, proto = rng.choice(declared)
            return [{"protocol": proto, "port": name}]
        if r < 0.8:
            _, number, proto = rng.choice(declared)
            return [{"protocol": proto, "port": number}]
        if r < 0.9:
            start = rng.choice((8000, 9000, 5000))
            return [{"protocol": "TCP", "port": start, "endPort": start + rng.choice((99, 999))}]
        return [{"protocol": "UDP", "port": rng.choice((53, 7946))}, {"port": 443}]

    while made_pols < policies and workloads:
        ns, app, tier, labels = rng.choice(workloads)
        r = rng.random()
        if r < 0.6:
            rules = [
                {
                    "from": [pick_peer(ns) for _ in range(rng.choice((1, 1, 2)))],
                    "ports": pick_ports(tier),
                }
                for _ in range(rng.choice((1, 1, 2)))
            ]
            add(
                ns,
                {
                    "podSelector": {"matchLabels": {"app": app}},
                    "policyTypes": ["Ingress"],
                    "ingress": rules,
                },
            )
        elif r < 0.85:
            target = rng.choice(workloads)
            rules = [
                {
                    "to": [pick_peer(ns) for _ in range(rng.choice((1, 2)))],
                    "ports": pick_ports(target[2]),
                }
            ]
            selector: dict[str, Any] = (
                {"matchLabels": {"app": app}}
                if rng.random() < 0.7
                else {"matchLabels": {"tier": tier}}
            )
            add(ns, {"podSelector": selector, "policyTypes": ["Egress"], "egress": rules})
        else:
            add(
                ns,
                {
                    "podSelector": {"matchLabels": {"tier": tier}},
                    "policyTypes": ["Ingress", "Egress"],
                    "ingress": [{"from": [pick_peer(ns)]}],
                    "egress": [{"to": [pick_peer(ns)], "ports": pick_ports(tier)}],
                },
            )
    return docs


def write_cluster(docs: list[dict[str, Any]], out: Path, fmt: str = "json") -> Path:
    """One `kind: List` file per object kind, as `kubectl get -o json|yaml` writes them
    (NCA and triage both read a folder)."""
    out.mkdir(parents=True, exist_ok=True)
    for kind in ("Namespace", "Pod", "Service", "NetworkPolicy"):
        data = {"apiVersion": "v1", "kind": "List", "items": [d for d in docs if d["kind"] == kind]}
        if fmt == "json":
            text = json.dumps(data, indent=1)
        else:
            text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=200)
        (out / f"{kind.lower()}s.{fmt}").write_text(text, encoding="utf-8")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=100)
    parser.add_argument("--policies", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--format", choices=("json", "yaml"), default="json")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    write_cluster(generate_cluster(args.pods, args.policies, args.seed), args.out, args.format)


if __name__ == "__main__":
    main()
