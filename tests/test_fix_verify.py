"""Generated fixes are proven by the engine before they are offered: the builder
(triage.policy.generate) and the verifier (triage.policy.verify).

Every expectation is checked with `explain` on the cluster with the fix applied, not only
with the verifier's own delta."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.engine_builders import Manifest, cluster, netpol, ns, pod
from tests.test_properties import SETTINGS, build, clusters
from triage.model import Flow, LabelSelector, PodRef, Requirement, Snapshot, parse_flow
from triage.policy import explain, is_allowed
from triage.policy.dns import dns_target
from triage.policy.generate import SELECT_LABEL, allow_fix, default_deny, select_pods
from triage.policy.verify import PodFlow, verified_fix, verify
from triage.sources.parse import parse_network_policy

HTTP = [("http", 8080, "TCP")]
DNS_PODS = [
    ns("kube-system"),
    pod(
        "kube-system",
        "coredns-1",
        {"k8s-app": "kube-dns"},
        ip="10.0.9.1",
        ports=[("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")],
    ),
]


def owned(manifest: Manifest, kind: str, name: str) -> Manifest:
    manifest["metadata"]["ownerReferences"] = [
        {"apiVersion": "apps/v1", "kind": kind, "name": name, "controller": True, "uid": name}
    ]
    return manifest


def applied(snapshot: Snapshot, manifests: list[dict[str, Any]], labels: list[Any]) -> Snapshot:
    """The fix applied from its *manifests* (through the real parser) and label list, as an
    operator would apply it: independent of the builder's model objects."""
    import dataclasses

    policies = []
    for i, doc in enumerate(manifests):
        policy, problems = parse_network_policy(doc, "fix.yaml", i)
        assert policy is not None and not problems, problems
        policies.append(policy)
    pods = []
    for p in snapshot.pods:
        changes = [c for c in labels if (c["namespace"], c["pod"]) == (p.namespace, p.name)]
        if changes:
            new = dict(p.labels)
            for c in changes:
                if c["value"] is None:
                    new.pop(c["key"], None)
                else:
                    new[c["key"]] = c["value"]
            p = dataclasses.replace(p, labels=new)
        pods.append(p)
    keys = {p.key for p in policies}
    kept = tuple(p for p in snapshot.policies if p.key not in keys)
    return dataclasses.replace(snapshot, pods=tuple(pods), policies=(*kept, *policies))


def pod_flows(snapshot: Snapshot, ports: tuple[tuple[int, str], ...]) -> list[Flow]:
    return [
        Flow(PodRef(s.namespace, s.name), PodRef(d.namespace, d.name), n, proto)  # type: ignore[arg-type]
        for s in snapshot.pods
        for d in snapshot.pods
        if s.key != d.key
        for n, proto in ports
    ]


# ---------------------------------------------------------------- the third pod


def third_pod_docs() -> list[Manifest]:
    """web-1 and web-2 are replicas of one workload; only web-1 is isolated for ingress
    (a policy on version=v1). A fix selecting app=web would isolate web-2 as well and cut
    cli → web-2 (and every other ingress of web-2)."""
    return [
        ns("app"),
        *DNS_PODS,
        owned(
            pod("app", "web-1", {"app": "web", "version": "v1"}, ip="10.0.0.1", ports=HTTP),
            "ReplicaSet",
            "web-5f6d7",
        ),
        owned(
            pod("app", "web-2", {"app": "web", "version": "v2"}, ip="10.0.0.2", ports=HTTP),
            "ReplicaSet",
            "web-5f6d7",
        ),
        pod("app", "cli", {"app": "cli"}, ip="10.0.0.3", ports=HTTP),
        pod("app", "mon", {"app": "mon"}, ip="10.0.0.4"),
        netpol(
            "app",
            "v1-from-mon",
            {"matchLabels": {"version": "v1"}},
            ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "mon"}}}]}],
        ),
    ]


@pytest.fixture(scope="module")
def third_pod() -> Snapshot:
    return cluster(*third_pod_docs())


def test_a_naive_selector_would_close_the_third_pods_flows(third_pod: Snapshot) -> None:
    # The case is real: the broad selector closes cli → web-2, which is allowed today.
    naive = netpol(
        "app",
        "naive",
        {"matchLabels": {"app": "web"}},
        ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "cli"}}}]}],
    )
    after = applied(third_pod, [naive], [])
    assert is_allowed(third_pod, parse_flow("app/mon", "app/web-2", "8080"))
    assert not is_allowed(after, parse_flow("app/mon", "app/web-2", "8080"))


def test_the_fix_keeps_the_third_pods_flows(third_pod: Snapshot) -> None:
    flow = parse_flow("app/cli", "app/web-1", "8080")
    before = explain(third_pod, flow)
    assert not before.allowed
    verification = verified_fix(third_pod, flow)
    assert verification is not None
    assert verification.minimal
    assert verification.target_allowed is True
    assert verification.closes == ()
    assert verification.opens == ()
    (policy,) = verification.fix.policies
    assert policy.policy_types == ("Ingress",)
    # app=web alone would select web-2: version tells the isolated replica apart.
    assert policy.pod_selector == LabelSelector((("app", "web"), ("version", "v1")))
    after = applied(third_pod, verification.fix.manifests(), [])
    assert is_allowed(after, flow)
    for other in pod_flows(third_pod, ((8080, "TCP"), (53, "UDP"))):
        if is_allowed(third_pod, other):
            assert is_allowed(after, other), other


# ---------------------------------------------------------------- labels that are subsets


@pytest.fixture(scope="module")
def subset() -> Snapshot:
    """web-a's labels are a subset of web-b's (another workload); both isolated for
    ingress by a default-deny."""
    return cluster(
        ns("shop"),
        *DNS_PODS,
        owned(
            pod("shop", "web-a-1", {"app": "web"}, ip="10.0.1.1", ports=HTTP),
            "ReplicaSet",
            "web-a-1f2e3",
        ),
        owned(
            pod("shop", "web-b-1", {"app": "web", "tier": "canary"}, ip="10.0.1.2", ports=HTTP),
            "ReplicaSet",
            "web-b-9a8b7",
        ),
        pod("shop", "cli", {"app": "cli"}, ip="10.0.1.3"),
        netpol("shop", "deny-ingress", {}, policy_types=["Ingress"]),
    )


def test_a_subset_of_labels_is_told_apart_with_does_not_exist(subset: Snapshot) -> None:
    verification = verified_fix(subset, parse_flow("shop/cli", "shop/web-a-1", "8080"))
    assert verification is not None and verification.minimal
    (policy,) = verification.fix.policies
    assert policy.pod_selector == LabelSelector(
        (("app", "web"),), (Requirement("tier", "DoesNotExist"),)
    )
    assert verification.opens == ()  # web-b-1 (another workload) is not opened
    after = applied(subset, verification.fix.manifests(), [])
    assert is_allowed(after, parse_flow("shop/cli", "shop/web-a-1", "8080"))
    assert not is_allowed(after, parse_flow("shop/cli", "shop/web-b-1", "8080"))


def test_the_superset_side_needs_no_expression(subset: Snapshot) -> None:
    verification = verified_fix(subset, parse_flow("shop/cli", "shop/web-b-1", "8080"))
    assert verification is not None and verification.minimal
    (policy,) = verification.fix.policies
    assert policy.pod_selector == LabelSelector((("app", "web"), ("tier", "canary")))
    assert verification.opens == ()


def twins_docs() -> list[Manifest]:
    """Two workloads whose pods carry the same labels: nothing stable tells them apart."""
    return [
        ns("shop"),
        owned(
            pod("shop", "web-a-1", {"app": "web"}, ip="10.0.1.1", ports=HTTP),
            "ReplicaSet",
            "web-a-1f2e3",
        ),
        owned(
            pod("shop", "web-b-1", {"app": "web"}, ip="10.0.1.2", ports=HTTP),
            "ReplicaSet",
            "web-b-9a8b7",
        ),
        pod("shop", "cli", {"app": "cli"}, ip="10.0.1.3"),
        netpol("shop", "deny-ingress", {}, policy_types=["Ingress"]),
    ]


def test_identical_labels_in_two_workloads_propose_a_label() -> None:
    twins = cluster(*twins_docs())
    flow = parse_flow("shop/cli", "shop/web-a-1", "8080")
    verification = verified_fix(twins, flow)
    assert verification is not None and verification.minimal
    assert [(c.pod_key, c.key, c.value) for c in verification.fix.labels] == [
        ("shop/web-a-1", SELECT_LABEL, "web-a")
    ]
    assert verification.fix.policies[0].pod_selector == LabelSelector(((SELECT_LABEL, "web-a"),))
    assert verification.opens == ()
    labels = [
        {"namespace": c.namespace, "pod": c.pod, "key": c.key, "value": c.value}
        for c in verification.fix.labels
    ]
    # Policies alone do not open it (nothing carries the label yet); with the label they do.
    assert not is_allowed(applied(twins, verification.fix.manifests(), []), flow)
    assert is_allowed(applied(twins, verification.fix.manifests(), labels), flow)


def test_select_pods_never_selects_a_pod_that_is_not_isolated(third_pod: Snapshot) -> None:
    web1, web2 = third_pod.pod_by_key["app/web-1"], third_pod.pod_by_key["app/web-2"]
    plain = select_pods(third_pod, [web1])
    assert plain.selector == LabelSelector((("app", "web"),))  # replicas may share a peer
    strict = select_pods(third_pod, [web1], may_select=lambda p: p.key != web2.key)
    assert strict.selector == LabelSelector((("app", "web"), ("version", "v1")))


# ---------------------------------------------------------------- default deny keeps DNS


def test_generated_default_deny_keeps_dns(third_pod: Snapshot) -> None:
    fix = default_deny(third_pod, "app")
    verification = verify(third_pod, fix)
    assert verification.dns_closed == ()
    assert verification.closes  # it does close the app's flows...
    assert PodFlow("app/cli", "app/web-2", 8080, "TCP") in verification.closes
    after = applied(third_pod, fix.manifests(), [])
    for name in ("cli", "web-1", "web-2", "mon"):
        for proto in ("UDP", "TCP"):
            assert is_allowed(
                after, parse_flow(f"app/{name}", "kube-system/coredns-1", "53", proto)
            )


def test_default_deny_where_the_dns_pods_live_keeps_their_ingress(third_pod: Snapshot) -> None:
    fix = default_deny(third_pod, "kube-system")
    assert [p.name for p in fix.policies] == ["default-deny-ingress-egress", "allow-dns-ingress"]
    verification = verify(third_pod, fix)
    assert verification.dns_closed == ()
    after = applied(third_pod, fix.manifests(), [])
    assert is_allowed(after, parse_flow("app/cli", "kube-system/coredns-1", "53", "UDP"))


def test_dns_target_follows_the_service_backends() -> None:
    snapshot = cluster(
        ns("kube-system"),
        pod("kube-system", "dns-a", {"k8s-app": "kube-dns", "x": "1"}, ip="10.0.9.1"),
        pod("kube-system", "dns-b", {"k8s-app": "kube-dns"}, ip="10.0.9.2", phase="Succeeded"),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system"},
            "spec": {
                "selector": {"k8s-app": "kube-dns"},
                "ports": [{"port": 53, "protocol": "UDP"}],
            },
        },
    )
    target = dns_target(snapshot)
    assert (target.namespace, dict(target.labels)) == ("kube-system", {"k8s-app": "kube-dns"})
    assert [p.name for p in target.pods] == ["dns-a"]  # a finished pod is no backend


# ---------------------------------------------------------------- the CLI contract


def test_explain_fix_json(tmp_path: Any, capsys: Any) -> None:
    import yaml

    from triage.cli import main

    docs = third_pod_docs()
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    argv = ["explain", "--manifests", str(path), "--from", "app/cli", "--to", "app/web-1"]
    assert main([*argv, "--port", "8080", "--fix", "-o", "json"]) == 0
    fix = json.loads(capsys.readouterr().out)["fix"]
    assert fix["minimal"] is True
    assert fix["closes"] == [] and fix["opens"] == [] and fix["labels"] == []
    assert [p["spec"]["podSelector"] for p in fix["policies"]] == [
        {"matchLabels": {"app": "web", "version": "v1"}}
    ]
    # Allowed flow: no fix.
    assert (
        main(
            [
                "explain",
                "--manifests",
                str(path),
                "--from",
                "app/mon",
                "--to",
                "app/web-1",
                "--port",
                "8080",
                "--fix",
                "-o",
                "json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["fix"] is None
    # Text: the YAML and the delta.
    assert main([*argv, "--port", "8080", "--fix"]) == 0
    out = capsys.readouterr().out
    assert "verified: opens the flow and closes nothing; opens no other flow" in out
    assert "kind: NetworkPolicy" in out


# ---------------------------------------------------------------- the property


@SETTINGS
@given(docs=clusters(), data=st.data())
def test_verified_fix_opens_the_flow_and_closes_nothing(
    docs: list[dict[str, Any]], data: Any
) -> None:
    snapshot = build(docs)
    combos = ((80, "TCP"), (8080, "TCP"), (53, "UDP"), (9090, "TCP"))
    flows = pod_flows(snapshot, combos)
    denied = [f for f in flows if not is_allowed(snapshot, f)]
    if not denied:
        return
    flow = data.draw(st.sampled_from(denied))
    explanation = explain(snapshot, flow)
    fix = allow_fix(snapshot, explanation)
    if fix is None:
        # Only a flow no policy can open has no fix: the port does not exist on the pod.
        assert all(v.blocked_by is not None for v in explanation.verdicts if not v.allowed)
        return
    verification = verified_fix(snapshot, explanation)
    assert verification is not None
    assert verification.target_allowed is True
    assert verification.closes == ()
    assert verification.minimal
    # Independently of the verifier: through the manifests, the parser and the engine.
    labels = [
        {"namespace": c.namespace, "pod": c.pod, "key": c.key, "value": c.value} for c in fix.labels
    ]
    after = applied(snapshot, fix.manifests(), labels)
    assert is_allowed(after, flow)
    for other in flows:
        if is_allowed(snapshot, other):
            assert is_allowed(after, other), other


def test_rollout_recipe_default_deny_plus_observed_allows(third_pod: Snapshot) -> None:
    """What the rollout reuses: default-deny + DNS, an allow per observed flow, merged and
    verified: the observed flows and DNS stay open, everything the deny closes is listed."""
    from triage.policy.generate import merge_fixes

    deny = default_deny(third_pod, "app")
    denied = deny.apply(third_pod)
    observed = [
        parse_flow("app/cli", "app/web-1", "8080"),
        parse_flow("app/cli", "app/web-2", "8080"),
        parse_flow("app/mon", "app/web-1", "8080"),
    ]
    allows = [allow_fix(denied, explain(denied, f)) for f in observed]
    merged = merge_fixes([deny, *(a for a in allows if a is not None)], "default-deny", "rollout")
    names = [p.name for p in merged.policies]
    assert len(names) == len(set(names))
    verification = verify(third_pod, merged)
    assert verification.dns_closed == ()
    after = applied(third_pod, merged.manifests(), [])
    for flow in observed:
        assert is_allowed(after, flow), flow
    closed = {(f.source, f.destination, f.port) for f in verification.closes}
    assert ("app/mon", "app/cli", 8080) in closed
    assert not any((str(f.source), str(f.destination), f.port) in closed for f in observed)


def test_explain_fix_text_gives_the_label_as_a_safe_command(tmp_path: Any, capsys: Any) -> None:
    import yaml

    from triage.cli import main

    path = tmp_path / "twins.yaml"
    path.write_text(yaml.safe_dump_all(twins_docs()))
    argv = ["explain", "--manifests", str(path), "--from", "shop/cli", "--to", "shop/web-a-1"]
    assert main([*argv, "--port", "8080", "--fix"]) == 0
    out = capsys.readouterr().out
    assert f"  kubectl label pod -n shop web-a-1 {SELECT_LABEL}=web-a --overwrite" in out
    assert main([*argv, "--port", "8080", "--fix", "-o", "json"]) == 0
    fix = json.loads(capsys.readouterr().out)["fix"]
    assert fix["labels"] == [
        {"namespace": "shop", "pod": "web-a-1", "key": SELECT_LABEL, "value": "web-a"}
    ]
    assert fix["minimal"] is True and fix["closes"] == []
