"""`triage lint`: concrete findings for a fixture with one of each, the cover relations
behind shadowing, and the CLI's exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from triage.cli import main
from triage.model import IPBlock, LabelSelector, Peer, PolicyPort, Requirement, Rule
from triage.policy.lint import (
    block_covers,
    lint,
    peer_covers,
    port_covers,
    rule_covers,
    selector_covers,
)
from triage.sources.manifests import load_manifests

DATA = Path(__file__).parent / "data"
FIXTURE = DATA / "matrix" / "lint.yaml"
CLASSIC = DATA / "classic.yaml"


def findings(path: Path) -> set[tuple[str, str, str]]:
    snapshot, _ = load_manifests([path])
    return {(f.code, f.severity, f.where) for f in lint(snapshot).findings}


def test_every_finding_of_the_fixture() -> None:
    assert findings(FIXTURE) == {
        ("allow-all", "high", "shop/web-egress-all egress rule #0"),
        ("any-peer", "high", "shop/web-ingress ingress rule #0"),
        ("any-namespace", "high", "shop/api-ingress ingress rule #2 peer #0"),
        ("any-namespace", "low", "shop/api-metrics ingress rule #0 peer #0"),
        ("any-pod", "low", "shop/api-ingress ingress rule #0 peer #0"),
        ("no-ports", "medium", "shop/api-ingress ingress rule #2"),
        ("all-ips", "medium", "shop/api-egress egress rule #0 peer #0"),
        ("ipblock-pods", "low", "shop/api-egress egress rule #1 peer #0"),
        ("broad-dns", "medium", "shop/dns-anywhere egress rule #0"),
        ("selects-nothing", "low", "shop/web-typo"),
        ("shadowed-rule", "low", "shop/api-ingress ingress rule #0"),
        ("shadowed-rule", "low", "shop/api-ingress ingress rule #1"),
        ("shadowed-rule", "low", "shop/api-metrics ingress rule #0"),
        ("no-default-deny", "medium", "namespace payments"),
        ("no-default-deny", "medium", "namespace monitoring"),
        ("no-default-deny", "low", "namespace payments"),
        ("no-default-deny", "low", "namespace monitoring"),
        ("no-default-deny", "info", "namespace kube-system"),
    }


def test_findings_carry_the_reason_and_a_tighter_rule() -> None:
    snapshot, _ = load_manifests([FIXTURE])
    by = {(f.code, f.where): f for f in lint(snapshot).findings}
    typo = by[("selects-nothing", "shop/web-typo")]
    assert "did you mean app=web" in typo.suggestion
    no_ports = by[("no-ports", "shop/api-ingress ingress rule #2")]
    # the tighter rule lists the ports api declares
    assert no_ports.fix is not None
    assert no_ports.fix["ports"] == [
        {"protocol": "TCP", "port": 8080},
        {"protocol": "TCP", "port": 9090},
    ]
    any_ns = by[("any-namespace", "shop/api-metrics ingress rule #0 peer #0")]
    assert any_ns.fix == {
        "namespaceSelector": {
            "matchExpressions": [
                {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["monitoring"]}
            ]
        },
        "podSelector": {"matchLabels": {"app": "prometheus"}},
    }
    all_ips = by[("all-ips", "shop/api-egress egress rule #0 peer #0")]
    assert all_ips.fix == {
        "ipBlock": {
            "cidr": "0.0.0.0/0",
            "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"],
        }
    }
    dns = by[("broad-dns", "shop/dns-anywhere egress rule #0")]
    assert "any destination" in dns.why
    assert dns.fix is not None and dns.fix["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]
    deny = by[("no-default-deny", "namespace payments")]
    assert deny.fix is not None and deny.fix["spec"]["podSelector"] == {}
    assert "1 of 1 pods" in deny.why
    shadow = by[("shadowed-rule", "shop/api-metrics ingress rule #0")]
    assert "shop/api-ingress" in shadow.title


def test_tighter_rules_and_default_denies_are_verified() -> None:
    """The tighter rule and the default-deny come from the one builder and carry the
    verifier's delta: listing the declared ports closes no connection on a declared port;
    a default-deny says what it closes, and never DNS."""
    snapshot, _ = load_manifests([FIXTURE])
    by = {(f.code, f.where, f.severity): f for f in lint(snapshot).findings}
    no_ports = by[("no-ports", "shop/api-ingress ingress rule #2", "medium")]
    assert no_ports.verification is not None
    assert no_ports.verification.closes == () and no_ports.verification.opens == ()
    assert no_ports.verification.summary() == "closes nothing; opens nothing"
    allow_all = by[("allow-all", "shop/web-egress-all egress rule #0", "high")]
    assert allow_all.verification is None  # placeholders for the peers: nothing to verify
    egress = by[("no-default-deny", "namespace payments", "low")]
    assert egress.verification is not None
    assert egress.verification.dns_closed == ()
    assert egress.fix is not None and egress.fix["spec"]["egress"][0]["ports"] == [
        {"protocol": "UDP", "port": 53},
        {"protocol": "TCP", "port": 53},
    ]
    assert egress.verification.summary().endswith("; keeps DNS")


def test_classic_scenario_only_reports_missing_default_denies_and_the_dead_peer() -> None:
    assert findings(CLASSIC) == {
        ("no-default-deny", "medium", "namespace production"),
        ("no-default-deny", "medium", "namespace traefik"),
        ("no-default-deny", "low", "namespace production"),
        ("no-default-deny", "low", "namespace traefik"),
        ("no-default-deny", "info", "namespace kube-system"),
        ("matches-nothing", "info", "develop/allow-dns-egress egress rule #0 peer #1"),
    }


def sel(*labels: tuple[str, str], exprs: tuple[Requirement, ...] = ()) -> LabelSelector:
    return LabelSelector(tuple(labels), exprs)


def test_selector_cover() -> None:
    assert selector_covers(sel(), sel(("app", "a")))
    assert selector_covers(sel(("app", "a")), sel(("app", "a"), ("tier", "b")))
    assert not selector_covers(sel(("app", "a"), ("tier", "b")), sel(("app", "a")))
    big_in = sel(exprs=(Requirement("app", "In", ("a", "b")),))
    assert selector_covers(big_in, sel(("app", "a")))
    assert not selector_covers(sel(("app", "a")), big_in)
    not_in = sel(exprs=(Requirement("app", "NotIn", ("x",)),))
    assert selector_covers(not_in, sel(("app", "a")))
    assert selector_covers(not_in, sel(exprs=(Requirement("app", "DoesNotExist"),)))
    assert selector_covers(sel(exprs=(Requirement("app", "Exists"),)), sel(("app", "z")))


def test_peer_port_block_and_rule_cover() -> None:
    assert block_covers(IPBlock("10.0.0.0/8"), IPBlock("10.1.0.0/16"))
    assert not block_covers(IPBlock("10.0.0.0/8", ("10.1.0.0/16",)), IPBlock("10.1.2.0/24"))
    assert block_covers(
        IPBlock("10.0.0.0/8", ("10.1.0.0/16",)), IPBlock("10.0.0.0/9", ("10.1.0.0/16",))
    )
    assert not block_covers(IPBlock("::/0"), IPBlock("10.0.0.0/8"))
    own = Peer(pod_selector=sel(("app", "a")))
    anyns = Peer(namespace_selector=sel(), pod_selector=sel())
    assert peer_covers(anyns, own, {})
    assert not peer_covers(own, anyns, {})
    assert port_covers(PolicyPort("TCP", 8000, 9000), PolicyPort("TCP", 8080))
    assert not port_covers(PolicyPort("TCP", 8080), PolicyPort("UDP", 8080))
    assert port_covers(PolicyPort("TCP"), PolicyPort("TCP", "http"))
    assert not port_covers(PolicyPort("TCP", 80), PolicyPort("TCP", "http"))
    assert rule_covers(Rule(), Rule((own,), (PolicyPort("TCP", 80),)), {})
    assert not rule_covers(Rule((own,)), Rule(), {})


def test_cli_exit_codes_and_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["lint", str(FIXTURE)]) == 0  # --fail-on never by default
    capsys.readouterr()
    assert main(["lint", str(FIXTURE), "--fail-on", "high"]) == 1
    capsys.readouterr()
    assert main(["lint", "--manifests", str(CLASSIC), "--fail-on", "high"]) == 0
    capsys.readouterr()
    assert main(["lint", "--manifests", str(CLASSIC), "--fail-on", "medium", "-o", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["failed"] is True and data["counts"]["medium"] == 2
    assert main(["lint", str(FIXTURE), "--min-severity", "high", "-o", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {f["severity"] for f in data["findings"]} == {"high"}
    assert main(["lint", str(FIXTURE), "-n", "payments", "-o", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {f["namespace"] for f in data["findings"]} == {"payments"}
    assert main(["lint", str(tmp_path / "missing.yaml")]) == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: NetworkPolicy\nmetadata: {name: x}\nspec: {podSelector: 3}\n")
    assert main(["lint", str(bad)]) == 2


def test_lint_reads_a_recording(capsys: pytest.CaptureFixture[str]) -> None:
    recording = (
        Path(__file__).parent.parent / "runbooks" / "incidents" / "lateral-movement-debug-pod.yaml"
    )
    if not recording.exists():
        pytest.skip("incident not bundled")
    assert main(["lint", str(recording), "-o", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    where = {(f["code"], f["where"]) for f in data["findings"]}
    assert ("no-default-deny", "namespace production") in where
