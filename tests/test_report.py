"""export_report: Markdown with the flow, each step's status/evidence/kubectl, the verdict
and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.test_checklist_classic import CANARY, CLASSIC
from triage.checklist import ChecklistContext, StepResult, export_report, run_all
from triage.model import Snapshot, parse_flow
from triage.probes import RecordedProber
from triage.sources.manifests import load_manifests
from triage.sources.recording import load_incident

INCIDENTS = Path(__file__).resolve().parent.parent / "triage" / "data" / "incidents"


@pytest.fixture(scope="module")
def classic() -> Snapshot:
    return load_manifests([CLASSIC])[0]


@pytest.fixture(scope="module")
def canary_report(classic: Snapshot) -> str:
    ctx = ChecklistContext(classic, parse_flow(CANARY, "develop/svc/backend", "80"))
    return export_report(ctx, run_all(ctx))


def test_header_and_summary_table(canary_report: str) -> None:
    lines = canary_report.splitlines()
    assert lines[0] == f"# Blocked flow: `{CANARY} → develop/svc/backend:80/TCP`"
    assert f"- Flow: `{CANARY} → develop/svc/backend:80/TCP`" in lines
    verdict_line = next(line for line in lines if line.startswith("- Verdict: "))
    assert verdict_line.startswith(
        f"- Verdict: **denied** by egress at `{CANARY}` and ingress at "
        "`develop/backend-6c8f9-h4lm`; nearest misses: develop/allow-dns-egress egress rule #0: "
        "wrong namespace"
    )
    assert verdict_line.endswith(
        "; and develop/allow-backend-ingress ingress "
        "rule #0: source label app=frontend-canary is not in \\[frontend, frontend-primary\\]"
    )
    assert "- Steps: 4 pass, 2 fail, 3 skip" in lines
    assert "| # | Step | Status | Summary |" in lines
    assert (
        "| 3 | Labels | **FAIL** | source label app=frontend-canary is not in \\[frontend, "
        "frontend-primary\\]; did you mean frontend? (develop/allow-backend-ingress ingress rule "
        "#0) |"
    ) in lines
    assert (
        "| 8 | Probe | skip | no prober: static analysis only (connect to a live cluster to "
        "probe) |" in lines
    )


def test_steps_with_evidence_and_kubectl(canary_report: str) -> None:
    assert "## 3. Labels — fail" in canary_report
    assert "- source develop/frontend-canary-5f6d7-p9zz: app=frontend-canary,tier=web" in (
        canary_report
    )
    assert "Check by hand:\n\n```sh\nkubectl get ns develop --show-labels\n```" in canary_report
    assert "Next: fix the label on the pod" in canary_report


def test_fix_section_is_valid_yaml(canary_report: str) -> None:
    assert "## Fix" in canary_report
    fix = canary_report.split("## Fix", 1)[1].split("```yaml\n", 1)[1].split("\n```", 1)[0]
    docs = [d for d in yaml.safe_load_all(fix) if d]
    assert [d["metadata"]["name"] for d in docs] == [
        "allow-frontend-canary-to-backend-8080-egress",
        "allow-frontend-canary-to-backend-8080-ingress",
    ]


def test_incident_report_has_metadata_and_diff() -> None:
    incident = load_incident(INCIDENTS / "failed-rollout.yaml")
    flow = incident.flows[0].flow
    ctx = ChecklistContext(incident.snapshot, flow, incident, RecordedProber(incident))
    report = export_report(ctx, run_all(ctx))
    assert f"- Incident: {incident.meta.title}" in report
    assert f"- Captured at: {incident.meta.captured_at}" in report
    assert "- Known-good set: argocd sync 2024-06-11 (netpol-config@8e41c2d)" in report
    assert "What changed:\n\n```diff\n--- known-good/networkpolicy/checkout/allow-api-from-web" in (
        report
    )
    assert "- probe (recorded): timeout" in report


def test_fences_survive_backticks_and_pipes(classic: Snapshot) -> None:
    ctx = ChecklistContext(classic, parse_flow(CANARY, "develop/svc/backend", "80"))
    odd = StepResult(
        "flow",
        "fail",
        "a | b",
        ("x",),
        "",
        "echo ```",
        {"diff": "```\n+x\n"},
    )
    report = export_report(ctx, [odd])
    assert "| 1 | Flow | **FAIL** | a \\| b |" in report
    assert "````sh\necho ```\n````" in report
    assert "````diff\n```\n+x\n````" in report
