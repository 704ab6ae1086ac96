"""Builders shared by the rollback tests (no tests here): manifests as plain dicts, a small
shop cluster, and helpers to read the policy set of the Kubernetes API test server."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from triage.model import Snapshot
from triage.rollback.policyset import parse_policy, semantic
from triage.sources.assemble import assemble

Manifest = dict[str, Any]

REPO = Path(__file__).resolve().parent.parent
FAILED_ROLLOUT = REPO / "triage" / "data" / "incidents" / "failed-rollout.yaml"


def ns(name: str, **labels: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name, **labels}},
    }


def pod(
    namespace: str,
    name: str,
    labels: dict[str, str],
    ip: str,
    ports: list[tuple[int, str]] = (),  # type: ignore[assignment]
    owner: str | None = None,
) -> Manifest:
    meta: Manifest = {"name": name, "namespace": namespace, "labels": dict(labels)}
    if owner is not None:
        meta["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner, "controller": True}
        ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "img",
                    "ports": [{"containerPort": p, "protocol": proto} for p, proto in ports],
                }
            ]
        },
        "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]},
    }


def netpol(namespace: str, name: str, spec: Manifest, **labels: str) -> Manifest:
    meta: Manifest = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = dict(labels)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta,
        "spec": spec,
    }


def snapshot_of(*docs: Manifest) -> Snapshot:
    snap, _ = assemble(("test", i, d) for i, d in enumerate(docs))
    return snap


def with_rv(doc: Manifest, rv: str) -> Manifest:
    out = copy.deepcopy(doc)
    out["metadata"]["resourceVersion"] = rv
    return out


# ---------------------------------------------------------------- the shop cluster

SHOP_OBJECTS: list[Manifest] = [
    ns("shop", team="shop"),
    ns("ingress", team="edge"),
    ns("kube-system"),
    pod("shop", "web-1", {"app": "web"}, "10.1.0.10", [(8080, "TCP")], owner="web-5d"),
    pod("shop", "web-2", {"app": "web"}, "10.1.0.11", [(8080, "TCP")], owner="web-5d"),
    pod(
        "shop", "api-1", {"app": "api"}, "10.1.0.20", [(8080, "TCP"), (9000, "TCP")], owner="api-7f"
    ),
    pod("shop", "db-0", {"app": "db"}, "10.1.0.30", [(5432, "TCP")]),
    pod("ingress", "nginx-1", {"app": "nginx"}, "10.2.0.10", [(80, "TCP")], owner="nginx-6c"),
    pod(
        "kube-system",
        "coredns-1",
        {"k8s-app": "kube-dns"},
        "10.3.0.10",
        [(53, "UDP"), (53, "TCP")],
        owner="coredns-9b",
    ),
]

DEFAULT_DENY = netpol("shop", "default-deny", {"podSelector": {}, "policyTypes": ["Ingress"]})
LOCKDOWN_DB_EGRESS = netpol(
    "shop",
    "lockdown-db-egress",
    {"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Egress"]},
)
ALLOW_LEGACY = netpol(
    "shop",
    "allow-legacy",
    {
        "podSelector": {"matchLabels": {"app": "api"}},
        "ingress": [
            {"from": [{"podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"port": 9000}]}
        ],
    },
)
ALLOW_WEB_ANY = netpol(
    "shop",
    "allow-web",
    {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"ports": [{"port": 8080}]}]},
)
ALLOW_WEB_FROM_INGRESS = netpol(
    "shop",
    "allow-web",
    {
        "podSelector": {"matchLabels": {"app": "web"}},
        "ingress": [
            {
                "from": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "ingress"}
                        }
                    }
                ],
                "ports": [{"port": 8080}],
            }
        ],
    },
)
ALLOW_API = netpol(
    "shop",
    "allow-api",
    {
        "podSelector": {"matchLabels": {"app": "api"}},
        "ingress": [
            {"from": [{"podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"port": 8080}]}
        ],
    },
)
API_EGRESS = netpol(
    "shop",
    "api-egress",
    {
        "podSelector": {"matchLabels": {"app": "api"}},
        "policyTypes": ["Egress"],
        "egress": [
            {
                "to": [{"podSelector": {"matchLabels": {"app": "db"}}}],
                "ports": [{"port": 5432}],
            },
            {
                "to": [
                    {
                        "namespaceSelector": {},
                        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                    }
                ],
                "ports": [{"port": 53, "protocol": "UDP"}],
            },
        ],
    },
)

SHOP_LIVE = [DEFAULT_DENY, LOCKDOWN_DB_EGRESS, ALLOW_LEGACY, ALLOW_WEB_ANY]
SHOP_TARGET = [DEFAULT_DENY, ALLOW_WEB_FROM_INGRESS, ALLOW_API, API_EGRESS]


def policies(*docs: Manifest):  # type: ignore[no-untyped-def]
    return tuple(parse_policy(d) for d in docs)


def server_policy_set(server: Any) -> dict[str, Any]:
    """`ns/name` → the policy (model, resourceVersion dropped) of every NetworkPolicy the
    test server holds: what "the same set" means for a rollback."""
    return {
        f"{o['metadata']['namespace']}/{o['metadata']['name']}": semantic(parse_policy(o))
        for o in server.objects("networkpolicies")
    }


def expected_set(docs: list[Manifest]) -> dict[str, Any]:
    return {
        f"{d['metadata']['namespace']}/{d['metadata']['name']}": semantic(parse_policy(d))
        for d in docs
    }


# ---------------------------------------------------------------- the shop on the API test server

CONTEXT = "triage-test"
WRITES = ("POST", "PUT", "PATCH", "DELETE")
ORIGINAL = expected_set(SHOP_LIVE)
TARGET = expected_set(SHOP_TARGET)


def seed_shop(server: Any, extra_policies: list[dict[str, Any]] = ()) -> None:  # type: ignore[assignment]
    server.seed(
        namespaces=[o for o in SHOP_OBJECTS if o["kind"] == "Namespace"],
        pods=[o for o in SHOP_OBJECTS if o["kind"] == "Pod"],
        network_policies=[*SHOP_LIVE, *extra_policies],
    )


def real_writes(server: Any) -> list[Any]:
    return [r for r in server.requests if r.method in WRITES and not r.dry_run]


def any_writes(server: Any) -> list[Any]:
    return [r for r in server.requests if r.method in WRITES]
