"""The bundled Cilium incident: its Hubble capture reconciled with its recording."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from triage.cli import main
from triage.model.datapath import aggregate
from triage.policy.reconcile import reconcile
from triage.sources.flowlogs import read_flow_log
from triage.sources.recording import bundled_incident, load_incident

DATA = Path(__file__).resolve().parent.parent / "triage" / "data"
CAPTURE = DATA / "flowlogs" / "cilium-payments-rollout.hubble.json"
INCIDENT = bundled_incident("cilium-payments-rollout")
GW = "payments/payments-gateway-5b7c9d8f6-2xkqp"

# (from, to, port, datapath, count, agree, cause)
EXPECTED = [
    (GW, "payments/ledger-6c8d7b9f5-h4r2k", 9443, "DROPPED", 6, True, None),
    (GW, "payments/risk-engine-7d4f8c6b9-q8zn5", 7070, "DROPPED", 5, False, "explicit-deny"),
    (
        "payments/payments-gateway-5b7c9d8f6-9mwzt",
        "payments/ledger-6c8d7b9f5-h4r2k",
        9443,
        "DROPPED",
        4,
        True,
        None,
    ),
    (
        "ingress-nginx/ingress-nginx-controller-5f8d9c7b6-t2v4x",
        GW,
        8080,
        "FORWARDED",
        4,
        True,
        None,
    ),
    (GW, "kube-system/coredns-6d4b9c8f7-p5x9r", 53, "FORWARDED", 3, True, None),
    (
        "payments/payments-gateway-6f9d8c7b5-kq7ls",
        "payments/ledger-6c8d7b9f5-h4r2k",
        8080,
        "FORWARDED",
        3,
        None,
        "unknown-endpoint",
    ),
]


def rows(flows: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [
        (f["from"], f["to"], f["port"], f["datapath"], f["count"], f["agree"], f["cause"])
        for f in flows
    ]


@pytest.mark.parametrize("stored", [False, True], ids=["capture", "recorded-evidence"])
def test_triage_flows_on_the_bundled_capture(
    capsys: pytest.CaptureFixture[str], stored: bool
) -> None:
    args = ["flows", "--recording", str(INCIDENT), "-o", "json"]
    assert main(args if stored else [args[0], str(CAPTURE), *args[1:]]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["records"], doc["replies"]) == (25, 10)
    assert (doc["agree"], doc["disagree"], doc["not_evaluated"]) == (4, 1, 1)
    assert doc["causes"] == {"explicit-deny": 1}
    assert rows(doc["flows"]) == EXPECTED
    deny = doc["flows"][1]
    assert deny["datapath_policies"] == ["CiliumNetworkPolicy payments/pci-segmentation deny"]
    assert deny["deciding"] == ["ingress: payments/allow-risk-from-gateway rule #0"]
    assert deny["drop_reasons"] == ["POLICY_DENY"]
    old = doc["flows"][5]
    assert old["cause_text"] == (
        "the snapshot has no source payments/payments-gateway-6f9d8c7b5-kq7ls: a pod of "
        "payments/payments-gateway replaced since the capture (a rollout?); its pods now: "
        "payments-gateway-5b7c9d8f6-2xkqp, payments-gateway-5b7c9d8f6-9mwzt"
    )


def test_the_text_explains_the_cilium_deny(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flows", str(CAPTURE), "--recording", str(INCIDENT), "--only", "disagree"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        "6 distinct flow(s) from 25 record(s) (10 replies left out): 4 agree, 1 disagree, "
        "1 not evaluated"
    )
    assert (
        "cause: an explicit deny outside NetworkPolicy dropped it (CiliumNetworkPolicy "
        "payments/pci-segmentation deny); NetworkPolicy has no deny rules, and the engine "
        "allows it"
    ) in out


def test_the_recorded_evidence_is_the_capture_aggregated() -> None:
    incident = load_incident(INCIDENT)
    assert incident.datapath is not None
    fresh = aggregate(read_flow_log(CAPTURE))
    assert [f.key for f in incident.datapath.flows] == [f.key for f in fresh.flows]
    assert [f.verdicts for f in incident.datapath.flows] == [f.verdicts for f in fresh.flows]
    ours = reconcile(incident.snapshot, incident.datapath, captured_at=incident.meta.captured_at)
    theirs = reconcile(incident.snapshot, fresh, captured_at=incident.meta.captured_at)
    assert [(r.agree, r.cause) for r in ours] == [(r.agree, r.cause) for r in theirs]
