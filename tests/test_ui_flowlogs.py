"""Flow logs in the TUI: datapath candidates in the flow picker (snapshot), `:flows FILE`,
`--flows FILE`, and the datapath line in the Verdict and Probe steps."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.message import Message
from textual.pilot import Pilot

from tests.flowlog_builders import hubble, policy, write
from tests.test_ui_pilot import finished
from tests.test_ui_support import SIZE, app_for, settle
from triage.cli import main
from triage.model import PodRef
from triage.sources.recording import bundled_incident, load_incident
from triage.ui.screens.checklist import ChecklistScreen
from triage.ui.screens.flow_picker import FlowPickerScreen
from triage.ui.widgets.steps import StepList

CILIUM = "cilium-payments-rollout"
GW = PodRef("payments", "payments-gateway-5b7c9d8f6-2xkqp")


def test_flow_picker_datapath_candidates(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The recording's Hubble evidence: reported flows first, then the datapath's drops,
    most first, each with the drop reason and whether the policies agree."""
    assert snap_compare(app_for(CILIUM, tmp_path), terminal_size=SIZE, run_before=settle)


def test_verdict_step_with_the_datapath_line(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The risk check: the policies allow it, Hubble dropped it (a CiliumNetworkPolicy
    deny): the Verdict step warns and shows both."""
    risk = load_incident(bundled_incident(CILIUM)).flows[1].flow

    async def verdict_step(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        pilot.app.screen.query_one(StepList).select("verdict")
        await settle(pilot)

    app = app_for(CILIUM, tmp_path, initial_flow=risk)
    assert snap_compare(app, terminal_size=SIZE, run_before=verdict_step)


async def test_candidates_put_datapath_drops_after_the_reported_flows(tmp_path: Path) -> None:
    app = app_for(CILIUM, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, FlowPickerScreen)
        got = [(c.source, str(c.flow.destination), c.flow.port) for c in app.screen.candidates]
        assert got[:5] == [
            ("reported", "payments/svc/ledger", 9443),
            ("reported", "payments/svc/risk-engine", 7070),
            ("datapath", "payments/ledger-6c8d7b9f5-h4r2k", 9443),
            ("datapath", "payments/risk-engine-7d4f8c6b9-q8zn5", 7070),
            ("datapath", "payments/ledger-6c8d7b9f5-h4r2k", 9443),
        ]
        deny = app.screen.candidates[3]
        assert deny.flow.source == GW
        assert deny.reason.startswith("DROPPED ×5 (POLICY_DENY); an explicit deny outside")


async def test_verdict_and_probe_steps_show_the_datapath(tmp_path: Path) -> None:
    """The reported risk check, through its Service: the checklist matches the backend pod
    the Hubble lines name."""
    risk = load_incident(bundled_incident(CILIUM)).flows[1].flow
    app = app_for(CILIUM, tmp_path, initial_flow=risk)
    messages: list[Message] = []
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ChecklistScreen)
        await pilot.press("a")
        await settle(pilot)
    results = finished(messages)
    verdict, probe = results["verdict"], results["probe"]
    assert verdict.status == "warn"
    assert "— but the datapath dropped it: an explicit deny outside NetworkPolicy" in (
        verdict.summary
    )
    line = (
        "datapath (hubble): DROPPED ×5 (POLICY_DENY); engine: allowed — disagree: an explicit "
        "deny outside NetworkPolicy dropped it (CiliumNetworkPolicy payments/pci-segmentation "
        "deny)"
    )
    assert any(e.startswith(line) for e in verdict.evidence)
    assert any(e.startswith(line) for e in probe.evidence)


async def test_colon_flows_reads_a_log_into_the_candidates(tmp_path: Path) -> None:
    web = ("checkout", "checkout-web-7c9d8f6b5-8hx2p", "10.20.4.31")
    db = ("checkout", "checkout-db-0", "10.20.8.5")
    log = write(
        tmp_path,
        hubble(
            web,
            db,
            5432,
            verdict="DROPPED",
            drop="POLICY_DENY",
            egress_denied_by=[policy("no-db", "checkout")],
        ),
    )
    app = app_for("demo", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("colon", *f"flows {log}", "enter")
        await settle(pilot)
        assert isinstance(app.screen, FlowPickerScreen)
        datapath = [c for c in app.screen.candidates if c.source == "datapath"]
        assert [str(c.flow) for c in datapath] == [
            "checkout/checkout-web-7c9d8f6b5-8hx2p → checkout/checkout-db-0:5432/TCP"
        ]
        await pilot.press("colon", *f"flows {tmp_path / 'missing.json'}", "enter")
        await settle(pilot)
        assert app.flow_log is not None and len(app.flow_log.flows) == 1  # kept


def test_flows_option_with_a_bad_file_exits_2_before_the_ui(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["replay", str(bundled_incident("demo")), "--flows", str(tmp_path / "nope")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith("nope: cannot read: No such file or directory")


def test_next_step_names_the_cni_policy_shell_quoted(tmp_path: Path) -> None:
    from tests.flowlog_builders import calico, hit
    from triage.checklist.datapath import next_step
    from triage.model.datapath import aggregate
    from triage.policy.reconcile import reconcile
    from triage.sources.flowlogs import read_flow_log

    incident = load_incident(bundled_incident(CILIUM))
    assert incident.datapath is not None
    (deny,) = [r for r in reconcile(incident.snapshot, incident.datapath) if r.agree is False]
    assert next_step(deny) == (
        "read the policy the CNI names: kubectl get ciliumnetworkpolicies.cilium.io "
        "-n payments pci-segmentation -o yaml"
    )
    log = write(
        tmp_path,
        calico(
            ("payments", "payments-gateway-5b7c9d8f6-2xkqp"),
            ("payments", "ledger-6c8d7b9f5-h4r2k"),
            9443,
            enforced=[hit("security.open-ledger", kind=2, tier="security")],
        ),
    )
    (opened,) = reconcile(incident.snapshot, aggregate(read_flow_log(log)))
    assert opened.cause == "cni-policy"
    assert next_step(opened).endswith(
        "kubectl get globalnetworkpolicies.projectcalico.org security.open-ledger -o yaml"
    )
