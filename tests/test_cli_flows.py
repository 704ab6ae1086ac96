"""`triage flows FILE`: the reconciled flow log on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.engine_builders import labels, netpol, ns, pod
from tests.flowlog_builders import hubble, policy, write
from triage.cli import main

WEB = ("shop", "web", "10.0.1.5")
API = ("shop", "api", "10.0.2.7")
CRON = ("shop", "cron", "10.0.3.3")
WEB2 = ("shop", "web2", "10.0.1.6")


def manifests(tmp_path: Path) -> Path:
    docs = [
        ns("shop"),
        pod("shop", "web", {"app": "web"}, ip=WEB[2]),
        pod("shop", "api", {"app": "api"}, ip=API[2]),
        pod("shop", "cron", {"app": "cron"}, ip=CRON[2]),
        pod("shop", "web2", {"app": "web"}, ip=WEB2[2]),
        netpol(
            "shop",
            "api-ingress",
            labels(app="api"),
            ingress=[{"from": [{"podSelector": labels(app="web")}], "ports": [{"port": 8080}]}],
        ),
    ]
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    return path


def capture(tmp_path: Path) -> Path:
    long_name = "a-very-long-pod-name-that-a-table-would-cut-" + "x" * 40
    return write(
        tmp_path,
        hubble(WEB, API, 8080),
        hubble(CRON, API, 8080, verdict="DROPPED", drop="POLICY_DENIED"),
        hubble(CRON, API, 8080, verdict="DROPPED", drop="POLICY_DENIED", wrapped=True),
        hubble(
            WEB2,
            API,
            8080,
            verdict="DROPPED",
            drop="POLICY_DENY",
            ingress_denied_by=[policy("deny-metrics", "shop")],
        ),
        hubble(("shop", long_name, "10.0.9.9"), API, 8080),
        "{broken",
    )


def test_json_per_flow(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["flows", str(capture(tmp_path)), "--manifests", str(manifests(tmp_path)), "-o", "json"]
    )
    out, err = capsys.readouterr()
    assert code == 0
    assert "flows.json:6: not JSON" in err
    doc = json.loads(out)
    assert (doc["records"], doc["agree"], doc["disagree"], doc["not_evaluated"]) == (5, 2, 1, 1)
    assert doc["causes"] == {"explicit-deny": 1}
    first = doc["flows"][0]
    assert {k: first[k] for k in ("from", "to", "port", "count", "datapath", "agree")} == {
        "from": "shop/cron",
        "to": "shop/api",
        "port": 8080,
        "count": 2,
        "datapath": "DROPPED",
        "agree": True,
    }
    by = {(f["from"], f["port"]): f for f in doc["flows"]}
    deny = by[("shop/web2", 8080)]
    assert (deny["allowed"], deny["agree"], deny["cause"]) == (True, False, "explicit-deny")
    assert deny["datapath_policies"] == ["CiliumNetworkPolicy shop/deny-metrics deny"]
    assert deny["deciding"] == ["ingress: shop/api-ingress rule #0"]


def test_only_dropped_and_disagree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["flows", str(capture(tmp_path)), "--manifests", str(manifests(tmp_path)), "-o", "json"]
    assert main([*base, "--only", "dropped"]) == 0
    dropped = json.loads(capsys.readouterr().out)["flows"]
    assert [f["datapath"] for f in dropped] == ["DROPPED", "DROPPED"]
    assert main([*base, "--only", "disagree"]) == 0
    disagree = json.loads(capsys.readouterr().out)["flows"]
    assert [(f["from"], f["cause"]) for f in disagree] == [("shop/web2", "explicit-deny")]


def test_text_keeps_long_names_whole(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flows", str(capture(tmp_path)), "--manifests", str(manifests(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert out.startswith("4 distinct flow(s) from 5 record(s) (0 replies left out): 2 agree")
    assert "a-very-long-pod-name-that-a-table-would-cut-" + "x" * 40 in out
    assert (
        "DROPPED ×1  shop/web2 → shop/api:8080/TCP  engine: allowed  DISAGREE (explicit-deny)"
        in out
    )
    assert "    CNI names: CiliumNetworkPolicy shop/deny-metrics deny" in out


def test_markdown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["flows", str(capture(tmp_path)), "--manifests", str(manifests(tmp_path)), "-o", "md"])
        == 0
    )
    out = capsys.readouterr().out
    assert (
        "| shop/web2 → shop/api:8080/TCP | 1 | DROPPED | POLICY_DENY | allowed "
        "| DISAGREE (explicit-deny) |" in out
    )


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (None, "missing.json: cannot read"),
        (["{", "[]"], "no flow read (2 unusable line(s); "),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lines: list[str] | None, message: str
) -> None:
    path = tmp_path / "missing.json" if lines is None else write(tmp_path, *lines)
    assert main(["flows", str(path), "--manifests", str(manifests(tmp_path))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("triage: error: ") and message in err[0]
