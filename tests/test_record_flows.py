"""`triage record --flows FILE`: datapath evidence stored in the incident, bounded and
redacted, and shown again offline (`triage flows --recording`)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tests.flowlog_builders import hubble, policy, write
from tests.live_cluster import Cluster, cluster
from triage.cli import main
from triage.model.datapath import aggregate
from triage.sources.datapath_doc import MAX_RECORDED_FLOWS, datapath_to_document
from triage.sources.errors import SourceError
from triage.sources.flowlogs import read_flow_log
from triage.sources.recording import (
    bundled_incident,
    incident_to_document,
    load_incident,
    write_incident,
)

__all__ = ["cluster"]  # a fixture, imported for pytest

WEB = ("checkout", "checkout-web-7c9d8f6b5-8hx2p", "10.20.4.31")
API = ("checkout", "checkout-api-6b8f7d9c4-kz4vn", "10.20.5.44")
HOSTILE = "k8s:app=web\x1b]52;c;ZWNobw==\x07"


def capture(tmp_path: Path) -> Path:
    return write(
        tmp_path,
        hubble(WEB, API, 8080, verdict="DROPPED", drop="POLICY_DENIED", src_labels=[HOSTILE]),
        hubble(WEB, API, 8080, verdict="DROPPED", drop="POLICY_DENIED"),
        hubble(
            WEB,
            API,
            8443,
            verdict="DROPPED",
            drop="POLICY_DENY",
            ingress_denied_by=[policy("deny-tls", "checkout")],
        ),
        # A policy name with an escape sequence: refused (a warning), never stored.
        hubble(WEB, API, 9090, verdict="DROPPED", ingress_denied_by=[policy("x\x1b[2J")]),
        "{broken",
    )


@pytest.mark.live
def test_record_flows_stores_the_evidence(cluster: Cluster, tmp_path: Path) -> None:
    out = tmp_path / "rec.yaml"
    code = main(["record", "-o", str(out), *cluster.cli_args(), "--flows", str(capture(tmp_path))])
    assert code == 0
    text = out.read_text(encoding="utf-8")
    assert "\x1b" not in text and "k8s:app=web" not in text  # no labels, nothing hostile
    recorded = load_incident(out)
    assert recorded.datapath is not None
    assert recorded.datapath.meta == {"source": "flows.json"}
    assert recorded.datapath.records == 3
    first, second = recorded.datapath.flows
    assert (first.describe(), first.count, first.datapath) == (
        f"{WEB[0]}/{WEB[1]} → {API[0]}/{API[1]}:8080/TCP",
        2,
        "DROPPED",
    )
    assert first.source.labels == () and first.source.ip == WEB[2]
    assert second.policies[0].name == "deny-tls"


@pytest.mark.live
def test_a_bad_flow_log_is_refused_before_any_call(
    cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "never.yaml"
    code = main(["record", "-o", str(out), *cluster.cli_args(), "--flows", str(tmp_path / "no")])
    assert code == 2
    assert capsys.readouterr().err.strip().endswith("no: cannot read: No such file or directory")
    assert not out.exists()
    if not cluster.real:
        assert cluster.server.requests == []


def test_replay_shows_the_stored_evidence_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = load_incident(bundled_incident("failed-rollout"))
    evidence = aggregate(read_flow_log(capture(tmp_path)))
    rec = tmp_path / "rec.yaml"
    write_incident(dataclasses.replace(seed, datapath=evidence), rec)
    assert main(["flows", "--recording", str(rec), "-o", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(f["port"], f["count"], f["datapath"]) for f in doc["flows"]] == [
        (8080, 2, "DROPPED"),
        (8443, 1, "DROPPED"),
    ]
    assert main(["flows", "--recording", str(bundled_incident("failed-rollout"))]) == 2
    assert "record --flows" in capsys.readouterr().err


def test_the_stored_evidence_is_bounded(tmp_path: Path) -> None:
    lines = [
        hubble(WEB, API, port, verdict="DROPPED", drop="POLICY_DENIED")
        for port in range(1000, 1000 + MAX_RECORDED_FLOWS + 20)
    ]
    evidence = aggregate(read_flow_log(write(tmp_path, *lines)))
    assert len(datapath_to_document(evidence)["flows"]) == MAX_RECORDED_FLOWS
    seed = load_incident(bundled_incident("failed-rollout"))
    document = incident_to_document(seed)
    document["datapath"] = datapath_to_document(evidence)
    document["datapath"]["flows"] += document["datapath"]["flows"][:1]
    rec = tmp_path / "big.yaml"
    rec.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(SourceError, match=r"datapath\.flows: more than 500 flows"):
        load_incident(rec)


def test_a_control_character_in_the_stored_evidence_is_refused(tmp_path: Path) -> None:
    seed = load_incident(bundled_incident("failed-rollout"))
    document = incident_to_document(seed)
    evidence = aggregate(read_flow_log(capture(tmp_path)))
    document["datapath"] = datapath_to_document(evidence)
    document["datapath"]["flows"][0]["from"]["pod"] = "web\x1b[2J"
    rec = tmp_path / "hostile.yaml"
    rec.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(SourceError, match=r"datapath\.flows\[0\]\.from\.pod"):
        load_incident(rec)
