"""The default-deny rollout: generation from observed flows, the engine's preview, the
bundled course incident, `triage rollout plan` in every output, and the runbook step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.engine_builders import Manifest, cluster, ns, pod
from triage.checklist import ChecklistContext, load_runbook, run_step
from triage.cli import main
from triage.model import Flow, IPRef, LabelSelector, PodRef, Requirement, ServiceRef, Snapshot
from triage.model.manifest import policy_manifest_from_model
from triage.policy import explain
from triage.rollout import Observed, generate, observed_from_incident, plan_rollout
from triage.rollout.allows import workload_selector
from triage.sources.recording import load_incident

INCIDENTS = Path(__file__).resolve().parent.parent / "triage" / "data" / "incidents"
COURSE = INCIDENTS / "default-deny-rollout.yaml"


def run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def allowed(snapshot: Snapshot, src: str, dst: str, port: int | str, proto: str = "TCP") -> bool:
    from triage.model import parse_flow

    return explain(snapshot, parse_flow(src, dst, port, proto)).allowed


@pytest.fixture(scope="module")
def course() -> Any:
    incident = load_incident(COURSE)
    rollout = plan_rollout(
        incident.snapshot,
        ("production", "develop"),
        observed_from_incident(incident),
        context="course-lab-admin",
        simulation=True,
    )
    after = incident.snapshot.with_policies(
        tuple(p for p in incident.snapshot.policies if p.namespace not in rollout.namespaces)
        + rollout.generation.candidates
    )
    return incident, rollout, after


# ---------------------------------------------------------------- the course's cluster


def test_course_plan_keeps_frontend_backend_traefik_and_dns(course: Any) -> None:
    incident, rollout, after = course
    before = incident.snapshot
    frontend = "production/frontend-7c9d8b6f5-m2x7p"
    backend = "production/backend-5d6f7c8b9-w8v4j"
    traefik = "traefik/traefik-5f7d8c9b6-q4wzt"
    coredns = "kube-system/coredns-6f6b679f8f-7xk2c"
    debug = "develop/debug"
    assert rollout.safe and not rollout.generation.breaks
    assert allowed(after, frontend, backend, 8080)
    assert allowed(
        after, "production/frontend-primary-6b8c7d5f4-k9r2n", "production/svc/backend", 8080
    )
    assert allowed(after, traefik, "production/svc/frontend", 80)
    assert allowed(
        after, "production/backend-primary-8f9a7b6c5-t3h6d", "production/svc/production-db", 5432
    )
    for src in (frontend, backend, debug, "production/production-db-0"):
        assert allowed(after, src, coredns, 53, "UDP")
        assert allowed(after, src, coredns, 53, "TCP")
    # the lateral movement: open today, closed by the rollout
    assert allowed(before, debug, "production/production-db-0", 5432)
    assert not allowed(after, debug, "production/production-db-0", 5432)
    assert not allowed(after, debug, "production/svc/production-db", 5432)
    closed = {(c.source.label, c.destination.label, c.port) for c in rollout.plan.delta.closed}
    assert ("develop/debug", "production/production-db", 5432) in closed
    # nothing unobserved stays open within the rollout namespaces
    kinds = {p.kind for p in rollout.open_paths}
    assert kinds == {"observed", "dns"}, [p for p in rollout.open_paths if p.kind == "other"]


def test_course_generated_policies(course: Any) -> None:
    _, rollout, _ = course
    by = {g.policy.key: g for g in rollout.generation.generated}
    assert set(by) == {
        "develop/rollout-allow-dns",
        "develop/rollout-default-deny",
        "production/rollout-allow-dns",
        "production/rollout-default-deny",
        "production/rollout-allow-frontend",
        "production/rollout-allow-frontend-primary",
        "production/rollout-allow-backend",
        "production/rollout-allow-backend-primary",
        "production/rollout-allow-production-db",
    }
    frontend = policy_manifest_from_model(by["production/rollout-allow-frontend"].policy)
    spec = frontend["spec"]
    # stable workload labels only; the traefik peer by namespace name; the port by its name
    assert spec["podSelector"] == {"matchLabels": {"app": "frontend"}}
    assert spec["ingress"] == [
        {
            "from": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "traefik"}
                    },
                    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "traefik"}},
                }
            ],
            "ports": [{"protocol": "TCP", "port": "http"}],
        }
    ]
    # DNS is the guardrail's, never a per-workload allow
    assert spec["egress"] == [
        {
            "to": [
                {"podSelector": {"matchLabels": {"app": "backend"}}},
                {"podSelector": {"matchLabels": {"app": "backend-primary"}}},
            ],
            "ports": [{"protocol": "TCP", "port": "http"}],
        }
    ]
    dns = policy_manifest_from_model(by["production/rollout-allow-dns"].policy)["spec"]
    assert dns["egress"][0]["ports"] == [
        {"protocol": "UDP", "port": 53},
        {"protocol": "TCP", "port": 53},
    ]
    assert dns["egress"][0]["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    db = by["production/rollout-allow-production-db"].policy
    assert db.pod_selector == LabelSelector((("app", "production-db"),))  # no revision hash
    deny = by["production/rollout-default-deny"].policy
    assert set(deny.policy_types) == {"Ingress", "Egress"} and not deny.ingress and not deny.egress
    # the course's own policy stays; the plan only creates
    assert rollout.plan.unchanged == ("production/backend-allow-frontend",)
    assert {op.action for op in rollout.plan.operations} == {"create"}


def test_generated_policies_are_what_the_server_will_hold(course: Any) -> None:
    """Each generated model equals its manifest parsed back (what a re-read returns)."""
    from triage.rollback.policyset import clean_manifest, parse_policy, semantic

    _, rollout, _ = course
    for g in rollout.generation.generated:
        assert semantic(parse_policy(clean_manifest(g.policy))) == semantic(g.policy), g.policy.key


def test_allows_apply_before_denies(course: Any) -> None:
    _, rollout, _ = course
    names = [op.name for op in rollout.plan.operations]
    assert names[-2:] == ["rollout-default-deny", "rollout-default-deny"]
    assert all(n != "rollout-default-deny" for n in names[:-2])


# ---------------------------------------------------------------- generation details


def _owned(doc: Manifest, replicaset: str) -> Manifest:
    doc["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": replicaset,
            "controller": True,
            "uid": "u-" + replicaset,
        }
    ]
    return doc


def _cluster() -> Snapshot:
    web = {"app": "web", "pod-template-hash": "5c7b9d8f4"}
    return cluster(
        ns("shop"),
        ns("ops"),
        ns("kube-system"),
        _owned(
            pod("shop", "web-1", web, ip="10.0.0.1", ports=[("http", 8080, "TCP")]), "web-5c7b9d8f4"
        ),
        _owned(
            pod("shop", "web-2", web, ip="10.0.0.2", ports=[("http", 8080, "TCP")]), "web-5c7b9d8f4"
        ),
        pod(
            "shop",
            "web-canary",
            {"app": "web", "track": "canary"},
            ip="10.0.0.3",
            ports=[("http", 8080, "TCP")],
        ),
        pod("shop", "db", {"app": "db"}, ip="10.0.0.4", ports=[("pg", 5432, "TCP")]),
        pod("ops", "probe", {"app": "probe"}, ip="10.0.1.1"),
        pod("kube-system", "coredns", {"k8s-app": "kube-dns"}, ip="10.0.2.1"),
    )


def test_selector_excludes_lookalikes_by_a_label_only_they_carry() -> None:
    snapshot = _cluster()
    web = [p for p in snapshot.pods if p.name.startswith("web-") and p.name != "web-canary"]
    selector, notes = workload_selector(snapshot, web)
    assert selector == LabelSelector((("app", "web"),), (Requirement("track", "DoesNotExist"),))
    assert notes == ()


def test_external_peers_collapse_to_the_narrowest_cidrs() -> None:
    snapshot = _cluster()
    web = PodRef("shop", "web-1")
    ips = ("192.0.2.4", "192.0.2.5", "192.0.2.6", "192.0.2.7", "198.51.100.9")
    flows = tuple(Flow(web, IPRef(ip), 443) for ip in ips)
    gen = generate(snapshot, ("shop",), Observed(flows))
    allow = next(g.policy for g in gen.generated if g.role == "allow")
    cidrs = [p.ip_block.cidr for p in allow.egress[0].peers if p.ip_block is not None]
    assert cidrs == ["192.0.2.4/30", "198.51.100.9/32"]
    assert not gen.breaks and len(gen.kept) == 5
    after = snapshot.with_policies(gen.candidates)
    assert allowed(after, "shop/web-2", "192.0.2.6", 443)
    assert not allowed(after, "shop/web-2", "192.0.2.8", 443)  # just outside the /30
    assert not allowed(after, "shop/web-1", "192.0.2.5", 80)


def test_excluded_flows_close_and_are_not_reported_as_breaking() -> None:
    snapshot = _cluster()
    keep = Flow(PodRef("shop", "web-1"), PodRef("shop", "db"), 5432)
    drop = Flow(PodRef("ops", "probe"), PodRef("shop", "db"), "pg")
    gen = generate(snapshot, ("shop",), Observed((keep, drop), (drop,)))
    assert not gen.breaks
    after = snapshot.with_policies(gen.candidates)
    assert allowed(after, "shop/web-1", "shop/db", 5432)
    assert not allowed(after, "ops/probe", "shop/db", 5432)


def test_unresolvable_flows_are_named_and_generate_nothing() -> None:
    snapshot = _cluster()
    flows = (
        Flow(PodRef("shop", "web-1"), ServiceRef("shop", "missing"), 80),
        Flow(PodRef("shop", "web-1"), PodRef("shop", "db"), "nope"),
    )
    gen = generate(snapshot, ("shop",), Observed(flows))
    whys = [u.why for u in gen.unresolved]
    assert whys == [
        "Service shop/svc/missing is not in the snapshot",
        "pod shop/db has no TCP port named 'nope'",
    ]
    assert [g.role for g in gen.generated] == ["dns", "default-deny"]


def test_without_observed_traffic_only_deny_and_dns() -> None:
    gen = generate(_cluster(), ("shop",), Observed())
    assert [g.policy.name for g in gen.generated] == ["rollout-allow-dns", "rollout-default-deny"]
    assert any("no observed traffic" in n for n in gen.notes)


def test_generated_names_never_overwrite_someone_elses_policy() -> None:
    snapshot = _cluster()
    theirs = generate(snapshot, ("shop",), Observed()).generated[-1].policy
    import dataclasses

    foreign = dataclasses.replace(theirs, manifest={"metadata": {"name": theirs.name}})
    gen = generate(snapshot.with_policies((foreign,)), ("shop",), Observed())
    names = [g.policy.name for g in gen.generated]
    assert names == ["rollout-allow-dns", "rollout-default-deny-2"]


# ---------------------------------------------------------------- the CLI


def test_cli_plan_yaml_is_a_list_of_the_generated_policies(capsys: Any) -> None:
    code, out, err = run(
        capsys, "rollout", "plan", "--recording", str(COURSE), "-n", "production", "-o", "yaml"
    )
    assert code == 0, err
    doc = yaml.safe_load(out)
    assert doc["kind"] == "List"
    names = [i["metadata"]["name"] for i in doc["items"]]
    assert names[0] == "rollout-allow-dns" and names[-1] == "rollout-default-deny"
    assert all(i["kind"] == "NetworkPolicy" for i in doc["items"])
    assert all(i["metadata"]["namespace"] == "production" for i in doc["items"])


def test_cli_plan_json_carries_policies_and_preview(capsys: Any) -> None:
    code, out, err = run(
        capsys,
        "rollout",
        "plan",
        "--recording",
        str(COURSE),
        "-n",
        "production",
        "-n",
        "develop",
        "-o",
        "json",
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["preview"]["safe"] is True and doc["preview"]["breaks"] == []
    assert len(doc["policies"]) == 9
    closed = {(c["source"], c["destination"], c["port"]) for c in doc["preview"]["delta"]["closed"]}
    assert ("develop/debug", "production/production-db", 5432) in closed
    assert doc["plan"]["simulation"] is True


def test_cli_plan_text_with_an_observed_file(capsys: Any, tmp_path: Path) -> None:
    observed = tmp_path / "flows.yaml"
    observed.write_text("- {from: develop/debug, to: production/svc/production-db, port: 5432}\n")
    code, out, err = run(
        capsys,
        "rollout",
        "plan",
        "--recording",
        str(COURSE),
        "-n",
        "develop",
        "--observed",
        str(observed),
    )
    assert code == 0, err
    assert "develop/debug → production/production-db-0:5432/TCP" in out
    assert "would break (must be none): 0" in out


def test_cli_plan_needs_namespaces_and_reads_bad_files_in_one_line(
    capsys: Any, tmp_path: Path
) -> None:
    code, _, err = run(capsys, "rollout", "plan", "--recording", str(COURSE))
    assert code == 2 and "--namespace NS" in err
    code, out, err = run(capsys, "rollout", "plan", "--recording", str(COURSE), "-n", "prod")
    assert (code, out) == (2, "")
    assert err == (
        f"triage: error: --namespace prod: no such namespace in recording {COURSE} "
        "(namespaces: develop, kube-system, production, traefik)\n"
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {from: develop/debug, to: production/db}\n")
    code, _, err = run(
        capsys,
        "rollout",
        "plan",
        "--recording",
        str(COURSE),
        "-n",
        "develop",
        "--observed",
        str(bad),
    )
    assert code == 2 and err.strip() == f"triage: error: {bad}: [0].port: missing"


# ---------------------------------------------------------------- the runbook


def test_runbook_rollout_step_on_the_course_incident() -> None:
    incident = load_incident(COURSE)
    assert incident.meta.runbook == "default-deny-rollout"
    runbook = load_runbook("default-deny-rollout")
    assert runbook.step_ids == ("default-deny", "rollout", "verdict", "probe")
    flow = Flow(PodRef("develop", "debug"), ServiceRef("production", "production-db"), 5432)
    ctx = ChecklistContext(incident.snapshot, flow, incident=incident, runbook=runbook)
    result = run_step(ctx, "rollout")
    assert result.status == "pass", result
    assert result.summary.startswith("a default-deny rollout of production keeps 9 observed")
    assert any(
        e.startswith("closes develop/debug → production/production-db:5432")
        for e in result.evidence
    )
    assert "rollout-default-deny" in result.details["fix_yaml"]
    assert run_step(ctx, "default-deny").status == "fail"


def test_a_recordings_observed_traffic_is_its_flows_and_successful_connect_probes() -> None:
    import dataclasses

    from triage.model.incident import ProbeRecord

    incident = load_incident(COURSE)
    frontend = "production/frontend-7c9d8b6f5-m2x7p"
    probes = (
        ProbeRecord(
            "connect", frontend, "backend.production.svc.cluster.local", 8080, "TCP", "success"
        ),
        ProbeRecord("connect", frontend, "production/svc/production-db", 5432, "TCP", "success"),
        ProbeRecord("connect", frontend, "10.42.2.40", 5432, "TCP", "timeout"),  # not seen working
        ProbeRecord("dns", frontend, "backend.production.svc.cluster.local", 53, "UDP", "success"),
        ProbeRecord("connect", frontend, "10.42.2.40", 5432, "UDP", "success"),
    )
    observed = observed_from_incident(dataclasses.replace(incident, probes=probes), "rec")
    src = PodRef("production", "frontend-7c9d8b6f5-m2x7p")
    reported = [rf.flow for rf in incident.flows]
    assert list(observed.flows) == [
        *reported,
        Flow(src, ServiceRef("production", "production-db"), 5432),
        Flow(src, IPRef("10.42.2.40"), 5432, "UDP"),
    ]  # the backend probe repeats a reported flow: kept once
    assert observed.sources == ("rec",)


def test_a_flow_log_feeds_the_rollout_with_what_the_datapath_forwarded(capsys: Any) -> None:
    """Hubble lines: the forwarded flows are kept; the recording's reported flow that its
    policies denied (gateway → ledger:9443) is a complaint, never opened by the rollout."""
    recording = INCIDENTS / "cilium-payments-rollout.yaml"
    hubble = INCIDENTS.parent / "flowlogs" / "cilium-payments-rollout.hubble.json"
    code, out, err = run(
        capsys,
        "rollout",
        "plan",
        "--recording",
        str(recording),
        "-n",
        "payments",
        "--flows",
        str(hubble),
        "-o",
        "json",
    )
    assert code == 0, err
    doc = json.loads(out)
    kept = {
        (
            k["source"].split("/")[1].rsplit("-", 2)[0],
            k["destination"].split("/")[1].rsplit("-", 2)[0],
            k["port"],
        )
        for k in doc["preview"]["kept"]
    }
    assert kept == {
        ("ingress-nginx-controller", "payments-gateway", 8080),
        ("payments-gateway", "risk-engine", 7070),
        ("payments-gateway", "coredns", 53),
    }
    assert doc["preview"]["delta"]["opened"] == []
    assert any("1 reported flow(s) denied at the time left out" in n for n in doc["notes"])
    assert f"flow log {hubble}" in doc["observed"]["sources"]
