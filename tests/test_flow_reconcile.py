"""Reconciliation of flow logs with the engine: agreement, and each disagreement cause."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.engine_builders import cluster, labels, netpol, ns, pod, svc
from tests.flowlog_builders import calico, hit, hubble, policy, write
from triage.model import Snapshot
from triage.policy.reconcile import (
    Reconciled,
    aggregate,
    policy_change_times,
    reconcile,
    reconciled_to_dict,
)
from triage.sources.flowlogs import read_flow_log

WEB = ("shop", "web", "10.0.1.5")
API = ("shop", "api", "10.0.2.7")
CRON = ("shop", "cron", "10.0.3.3")
HOST = ("", "", "172.18.0.3")
T_FLOW = "2026-12-04T03:00:00Z"


def api_ingress(**metadata: Any) -> dict[str, Any]:
    doc = netpol(
        "shop",
        "api-ingress",
        labels(app="api"),
        ingress=[{"from": [{"podSelector": labels(app="web")}], "ports": [{"port": 8080}]}],
    )
    doc["metadata"].update(metadata)
    return doc


def shop(policy_doc: dict[str, Any] | None = None) -> Snapshot:
    return cluster(
        ns("shop"),
        pod("shop", "web", {"app": "web"}, ip=WEB[2]),
        pod("shop", "api", {"app": "api"}, ip=API[2], ports=[("http", 8080, "TCP")]),
        pod("shop", "cron", {"app": "cron"}, ip=CRON[2]),
        pod("shop", "node-agent", {"app": "agent"}, ip=HOST[2], host_network=True),
        svc("shop", "api", {"app": "api"}, [{"port": 80, "targetPort": 8080}], "10.96.0.20"),
        policy_doc or api_ingress(),
    )


def run(
    tmp_path: Path, *lines: str, snapshot: Snapshot | None = None, captured_at: str = ""
) -> list[Reconciled]:
    agg = aggregate(read_flow_log(write(tmp_path, *lines)))
    return list(reconcile(snapshot or shop(), agg, captured_at=captured_at))


def single(tmp_path: Path, *lines: str, **kw: Any) -> Reconciled:
    (item,) = run(tmp_path, *lines, **kw)
    return item


# ------------------------------------------------------------------ agreement


def test_forwarded_and_allowed_agree_with_the_same_attribution(tmp_path: Path) -> None:
    r = single(
        tmp_path,
        hubble(
            WEB,
            API,
            8080,
            direction="INGRESS",
            ingress_allowed_by=[policy("api-ingress", "shop", "NetworkPolicy")],
        ),
    )
    assert (r.allowed, r.agree, r.cause, r.datapath) == (True, True, "", "FORWARDED")
    assert r.deciding == ("ingress: shop/api-ingress rule #0",)
    assert r.attribution == "same"
    assert "agree" in r.line() and "FORWARDED ×1" in r.line()


@pytest.mark.parametrize("verdict", ["DROPPED", "AUDIT"])
def test_policy_drop_and_audit_agree_with_a_denial(tmp_path: Path, verdict: str) -> None:
    r = single(tmp_path, hubble(CRON, API, 8080, verdict=verdict, drop="POLICY_DENIED"))
    assert (r.allowed, r.agree, r.cause) == (False, True, "")
    assert r.deciding == ("ingress: denied (isolated by shop/api-ingress; no rule admits it)",)
    assert r.attribution == "none"


def test_agreement_with_another_attribution_is_noted(tmp_path: Path) -> None:
    r = single(
        tmp_path,
        hubble(
            CRON,
            API,
            8080,
            verdict="DROPPED",
            drop="POLICY_DENIED",
            ingress_denied_by=[policy("api-lockdown", "shop")],
        ),
    )
    assert r.agree is True and r.attribution == "different"
    assert any("CiliumNetworkPolicy shop/api-lockdown" in n for n in r.notes)


def test_calico_aggregated_names_are_matched_to_pods(tmp_path: Path) -> None:
    snapshot = cluster(
        ns("shop"),
        pod("shop", "web-5d8f-bbbbb", {"app": "web"}, ip="10.0.1.6"),
        pod("shop", "web-5d8f-aaaaa", {"app": "web"}, ip=WEB[2]),
        pod("shop", "api", {"app": "api"}, ip=API[2], ports=[("http", 8080, "TCP")]),
        api_ingress(),
    )
    r = single(
        tmp_path,
        calico(
            ("shop", "web-5d8f-*"),
            ("shop", "api"),
            8080,
            reporter="dst",
            enforced=[hit("api-ingress", "shop", kind=6)],
        ),
        snapshot=snapshot,
    )
    assert r.engine_flow is not None and str(r.engine_flow.source) == "shop/web-5d8f-aaaaa"
    assert r.notes == ("source shop/web-5d8f-* stands for 2 pods; shop/web-5d8f-aaaaa was checked",)
    assert (r.agree, r.attribution) == (True, "same")


def test_mixed_flow_is_compared_on_its_last_verdict(tmp_path: Path) -> None:
    r = single(
        tmp_path,
        hubble(
            WEB, API, 8080, verdict="DROPPED", drop="POLICY_DENIED", time="2026-12-04T02:00:00Z"
        ),
        hubble(WEB, API, 8080, time="2026-12-04T02:05:00Z"),
    )
    assert (r.datapath, r.agree) == ("mixed", True)
    assert any("changed its verdict" in n and "last one, FORWARDED" in n for n in r.notes)


# ------------------------------------------------------------------ each cause


# web → api:8080 is allowed by api-ingress; a CiliumNetworkPolicy deny rule drops it.
CILIUM_DENY = hubble(
    WEB,
    API,
    8080,
    verdict="DROPPED",
    drop="POLICY_DENY",
    direction="INGRESS",
    ingress_denied_by=[policy("deny-web", "shop")],
)


def test_cause_explicit_deny_names_the_cilium_policy(tmp_path: Path) -> None:
    r = single(tmp_path, CILIUM_DENY)
    assert (r.allowed, r.agree, r.cause) == (True, False, "explicit-deny")
    assert "CiliumNetworkPolicy shop/deny-web deny" in r.cause_text
    assert r.datapath_policies == ("CiliumNetworkPolicy shop/deny-web deny",)


def test_cause_explicit_deny_from_a_calico_deny_rule(tmp_path: Path) -> None:
    r = single(
        tmp_path,
        calico(
            ("shop", "web"),
            ("shop", "api"),
            8080,
            action="Deny",
            enforced=[hit("quarantine", kind=2, tier="security", action="Deny", rule_index=0)],
        ),
    )
    assert (r.agree, r.cause) == (False, "explicit-deny")
    assert "GlobalNetworkPolicy quarantine tier security rule 0 deny" in r.cause_text


def test_cause_cni_policy_allowing_what_networkpolicy_denies(tmp_path: Path) -> None:
    r = single(
        tmp_path,
        hubble(CRON, API, 8080, ingress_allowed_by=[policy("cron-to-api", "shop")]),
    )
    assert (r.allowed, r.agree, r.cause) == (False, False, "cni-policy")
    assert "CiliumNetworkPolicy shop/cron-to-api" in r.cause_text


def test_cause_stale_snapshot_from_policy_times(tmp_path: Path) -> None:
    snapshot = shop(
        api_ingress(
            creationTimestamp="2026-12-01T00:00:00Z",
            managedFields=[{"manager": "kubectl", "time": "2026-12-04T03:30:00Z"}],
        )
    )
    assert policy_change_times(snapshot)["shop"][1] == "shop/api-ingress"
    r = single(tmp_path, hubble(CRON, API, 8080, time=T_FLOW), snapshot=snapshot)
    assert (r.allowed, r.agree, r.cause) == (False, False, "stale-snapshot")
    assert "before shop/api-ingress changed at 2026-12-04T03:30:00Z" in r.cause_text


def test_a_policy_older_than_the_flow_is_not_a_stale_snapshot(tmp_path: Path) -> None:
    snapshot = shop(api_ingress(creationTimestamp="2026-12-01T00:00:00Z"))
    r = single(tmp_path, hubble(CRON, API, 8080, time=T_FLOW), snapshot=snapshot)
    assert r.cause == "unexplained"


def test_cause_stale_snapshot_when_the_cni_names_a_networkpolicy_the_snapshot_lacks(
    tmp_path: Path,
) -> None:
    r = single(
        tmp_path,
        hubble(CRON, API, 8080, ingress_allowed_by=[policy("allow-cron", "shop", "NetworkPolicy")]),
    )
    assert (r.agree, r.cause) == (False, "stale-snapshot")
    assert "NetworkPolicy shop/allow-cron, which the snapshot does not have" in r.cause_text


@pytest.mark.parametrize(
    "line",
    [
        hubble(HOST, API, 8080, src_labels=["reserved:host"]),
        hubble(("", "", "172.18.0.9"), API, 8080, src_labels=["reserved:remote-node"]),
        hubble(HOST, API, 8080, src_labels=["reserved:world"]),  # a hostNetwork pod's IP
    ],
)
def test_cause_host_network(tmp_path: Path, line: str) -> None:
    r = single(tmp_path, line)
    assert (r.allowed, r.agree, r.cause) == (False, False, "host-network")


def test_host_endpoint_without_an_address_is_host_network_not_evaluated(tmp_path: Path) -> None:
    r = single(tmp_path, calico(("", "node-1"), ("shop", "api"), 8080, src_type="hep"))
    assert (r.engine_flow, r.allowed, r.agree, r.cause) == (None, None, None, "host-network")


def test_cause_service_dnat(tmp_path: Path) -> None:
    r = single(
        tmp_path,
        hubble(WEB, ("", "", "10.96.0.20"), 80, verdict="DROPPED", drop="POLICY_DENIED"),
    )
    assert (r.allowed, r.agree, r.cause) == (True, False, "service-dnat")
    assert "Service shop/api before DNAT" in r.cause_text


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (("shop", "web", CRON[2]), "10.0.3.3 belongs to shop/cron in the snapshot, not shop/web"),
        (
            ("shop", "web-old", WEB[2]),
            "10.0.1.5 belongs to shop/web in the snapshot, not shop/web-old",
        ),
    ],
)
def test_cause_ip_reused(tmp_path: Path, source: tuple[str, str, str], expected: str) -> None:
    r = single(tmp_path, hubble(source, API, 8080, verdict="DROPPED", drop="POLICY_DENIED"))
    assert (r.allowed, r.agree, r.cause) == (True, False, "ip-reused")
    assert expected in r.cause_text


@pytest.mark.parametrize(
    ("verdict", "drop", "why"),
    [
        ("DROPPED", "CT_MAP_INSERTION_FAILED", "CT_MAP_INSERTION_FAILED"),
        ("DROPPED", "STALE_OR_UNROUTABLE_IP", "STALE_OR_UNROUTABLE_IP"),
        ("ERROR", None, "a datapath ERROR"),
    ],
)
def test_cause_not_policy(tmp_path: Path, verdict: str, drop: str | None, why: str) -> None:
    r = single(tmp_path, hubble(WEB, API, 8080, verdict=verdict, drop=drop))
    assert (r.allowed, r.agree, r.cause) == (True, False, "not-policy")
    assert why in r.cause_text


def test_cause_stale_capture_only_without_policy_times(tmp_path: Path) -> None:
    line = hubble(CRON, API, 8080, time=T_FLOW)
    r = single(tmp_path, line, captured_at="2026-12-04T04:00:00Z")
    assert (r.agree, r.cause) == (False, "stale-capture")
    assert "captured at 2026-12-04T04:00:00Z" in r.cause_text
    later = single(tmp_path, line, captured_at="2026-12-04T02:00:00Z")
    assert later.cause == "unexplained"


def test_unknown_endpoint_and_icmp_are_not_evaluated(tmp_path: Path) -> None:
    items = run(
        tmp_path,
        hubble(("shop", "ghost", "10.9.9.9"), API, 8080),
        hubble(WEB, API, None, protocol="ICMPv4"),
    )
    by = {r.cause: r for r in items}
    assert by["unknown-endpoint"].allowed is None and by["unknown-endpoint"].agree is None
    assert "no source shop/ghost" in by["unknown-endpoint"].cause_text
    assert by["unsupported-protocol"].agree is None


def test_json_contract(tmp_path: Path) -> None:
    r = single(tmp_path, CILIUM_DENY)
    doc = reconciled_to_dict(r)
    assert {k: doc[k] for k in ("from", "to", "port", "protocol", "count", "datapath")} == {
        "from": "shop/web",
        "to": "shop/api",
        "port": 8080,
        "protocol": "TCP",
        "count": 1,
        "datapath": "DROPPED",
    }
    assert doc["drop_reasons"] == ["POLICY_DENY"]
    assert (doc["allowed"], doc["agree"], doc["cause"]) == (True, False, "explicit-deny")
    assert doc["deciding"] == ["ingress: shop/api-ingress rule #0"]
    assert doc["datapath_policies"] == ["CiliumNetworkPolicy shop/deny-web deny"]
    assert doc["first_seen"] == "2026-12-04T03:00:00Z"


@pytest.mark.parametrize(
    ("verdict", "allowed_flow", "agree"),
    [
        ("FORWARDED", True, True),
        ("REDIRECTED", True, True),
        ("TRACED", True, True),
        ("TRANSLATED", True, True),
        ("FORWARDED", False, False),
        ("AUDIT", False, True),
        ("AUDIT", True, False),
        ("DROPPED", False, True),
        ("ERROR", True, False),
        ("VERDICT_UNKNOWN", True, None),
    ],
)
def test_every_verdict_against_the_engine(
    tmp_path: Path, verdict: str, allowed_flow: bool, agree: bool | None
) -> None:
    source = WEB if allowed_flow else CRON
    drop = "POLICY_DENIED" if verdict == "DROPPED" else None
    r = single(tmp_path, hubble(source, API, 8080, verdict=verdict, drop=drop))
    assert (r.allowed, r.agree) == (allowed_flow, agree)
