"""Labels step advice agrees with the Verdict step's nearest miss; lint ranks a selector
that nearly matches a live workload as high."""

from __future__ import annotations

from triage.checklist import ChecklistContext, run_step
from triage.model import parse_flow
from triage.policy.describe import misses_clause
from triage.sources.recording import bundled_incident, load_incident

INGRESS = "ingress-nginx/ingress-nginx-controller-7d5f9c8b6-lx4tw"


def test_labels_step_does_not_advise_relabelling_into_another_workload() -> None:
    incident = load_incident(bundled_incident("demo"))
    ctx = ChecklistContext(
        incident.snapshot, parse_flow(INGRESS, "checkout/svc/checkout-api", "80"), incident=incident
    )
    labels = run_step(ctx, "labels")
    verdict = run_step(ctx, "verdict")
    nearest = ctx.explanation.primary.nearest_miss  # type: ignore[union-attr]
    assert nearest is not None and nearest.policy == "checkout/allow-api-from-web"
    assert labels.status == "pass"
    clause = misses_clause(ctx.explanation.primary)  # type: ignore[arg-type]
    assert labels.summary == (
        f"labels are not the nearest miss; the verdict names the {clause} (see the Verdict step)"
    )
    assert clause in verdict.summary
    assert "did you mean" not in " ".join(labels.evidence)
    assert (
        "· checkout/allow-web-from-ingress-nginx would allow this flow but does not select the "
        "destination: destination label app=checkout-api is not app=checkout-web"
    ) in labels.evidence


def test_labels_step_advises_when_a_label_is_the_nearest_miss() -> None:
    incident = load_incident(bundled_incident("frontend-canary-label-mismatch"))
    reported = incident.flows[0].flow
    ctx = ChecklistContext(incident.snapshot, reported, incident=incident)
    labels = run_step(ctx, "labels")
    nearest = ctx.explanation.primary.nearest_miss  # type: ignore[union-attr]
    assert nearest is not None
    assert labels.status == "fail"
    assert labels.summary == (
        "source label app=frontend-canary is not in [frontend, frontend-primary]; did you mean "
        "frontend? (develop/allow-backend-ingress ingress rule #0)"
    )
    assert f"({nearest.policy} {nearest.direction.lower()} rule #{nearest.rule})" in labels.summary


def test_lint_ranks_a_near_miss_selector_high() -> None:
    from tests.engine_builders import cluster, labels, netpol, ns, pod
    from triage.policy.lint import lint

    snap = cluster(
        ns("web"),
        ns("kube-system"),
        pod("kube-system", "coredns", {"k8s-app": "kube-dns"}, ip="10.0.0.2"),
        pod("web", "frontend-canary-1", {"app": "frontend-canary"}, ip="10.0.1.1"),
        pod("web", "backend-1", {"app": "backend"}, ip="10.0.1.2"),
        netpol(
            "web",
            "allow-backend",
            labels(app="backend"),
            ingress=[{"from": [{"podSelector": labels(app="frontend")}]}],
        ),
        netpol(
            "web",
            "allow-ghost",
            labels(app="backend"),
            ingress=[{"from": [{"podSelector": labels(app="zzzzqqq")}]}],
        ),
    )
    report = lint(snap)
    nothing = {f.policy: f for f in report.findings if f.code == "matches-nothing"}
    near = nothing["web/allow-backend"]
    assert near.severity == "high"
    assert near.title == "peer matches no pod but nearly matches a live workload"
    assert near.suggestion == "no pod has app=frontend; did you mean app=frontend-canary?"
    assert nothing["web/allow-ghost"].severity == "info"
    assert report.findings[0] is near  # ranked above "no default-deny in kube-system"
    assert near in report.at_least("high")


def test_candidates_include_a_near_miss_selector() -> None:
    from tests.engine_builders import cluster, labels, netpol, ns, pod
    from triage.checklist import candidate_flows

    snap = cluster(
        ns("web"),
        pod("web", "frontend-canary-1", {"app": "frontend-canary"}, ip="10.0.1.1"),
        pod("web", "backend-1", {"app": "backend"}, ip="10.0.1.2", ports=[("http", 8080, "TCP")]),
        netpol(
            "web",
            "allow-backend",
            labels(app="backend"),
            ingress=[
                {"from": [{"podSelector": labels(app="frontend")}], "ports": [{"port": 8080}]}
            ],
        ),
    )
    found = [c for c in candidate_flows(snap) if c.source == "near-miss"]
    assert [str(c.flow) for c in found] == ["web/frontend-canary-1 → web/backend-1:8080/TCP"]
    assert found[0].reason == (
        "web/allow-backend ingress rule #0 peer app=frontend matches no pod; "
        "web/frontend-canary-1 has app=frontend-canary"
    )
