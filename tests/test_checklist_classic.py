"""Every checklist step on the classic scenario (tests/data/classic.yaml): concrete statuses
and summaries, static and with a scripted prober."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import pytest

from triage.checklist import (
    FINAL_STATUSES,
    ChecklistContext,
    StepResult,
    load_runbook,
    run_all,
    run_step,
)
from triage.model import Flow, PodRef, Snapshot, parse_flow
from triage.probes.base import ProbeOutcome, ProbeResult
from triage.sources.manifests import load_manifests

CLASSIC = Path(__file__).parent / "data" / "classic.yaml"
CANARY = "develop/frontend-canary-5f6d7-p9zz"
FRONTEND = "develop/frontend-7d4b9c-x2kq"
BACKEND = "develop/backend-6c8f9-h4lm"
TRAEFIK = "traefik/traefik-8b7c6-q1w2"


class FakeProber:
    """Answers from a table: ("dns", source, name) or ("connect", source, ip, port)."""

    live = True

    def __init__(self, answers: Mapping[tuple[object, ...], tuple[ProbeOutcome, str]]) -> None:
        self.answers = dict(answers)
        self.calls: list[tuple[object, ...]] = []

    def _answer(self, key: tuple[object, ...], kind: str, command: tuple[str, ...]) -> ProbeResult:
        self.calls.append(key)
        outcome, output = self.answers.get(key, ("error", "unscripted"))
        addresses = tuple(
            line.split(":", 1)[1].strip()
            for line in output.splitlines()
            if line.startswith("Address: ")
        )
        return ProbeResult(kind, outcome, output, 12, command, "exec", "", addresses)  # type: ignore[arg-type]

    def dns(self, source: PodRef, name: str, timeout: float) -> ProbeResult:
        return self._answer(("dns", str(source), name), "dns", ("nslookup", name))

    def connect(
        self, source: PodRef, ip: str, port: int, protocol: str, timeout: float
    ) -> ProbeResult:
        command = ("nc", "-v", "-z", "-w", "3", ip, str(port))
        return self._answer(("connect", str(source), ip, port), "connect", command)


@pytest.fixture(scope="module")
def classic() -> Snapshot:
    snapshot, _ = load_manifests([CLASSIC])
    return snapshot


def ctx_for(snapshot: Snapshot, src: str, dst: str, port: str, **kw: object) -> ChecklistContext:
    return ChecklistContext(snapshot, parse_flow(src, dst, port), **kw)  # type: ignore[arg-type]


def results(ctx: ChecklistContext) -> dict[str, StepResult]:
    return {r.step_id: r for r in run_all(ctx)}


# ---------------------------------------------------------------- the canary flow


@pytest.fixture(scope="module")
def canary(classic: Snapshot) -> dict[str, StepResult]:
    return results(ctx_for(classic, CANARY, "develop/svc/backend", "80"))


def test_run_all_follows_the_runbook_order(canary: dict[str, StepResult]) -> None:
    assert list(canary) == list(load_runbook("blocked-flow").step_ids)
    assert all(r.status in FINAL_STATUSES for r in canary.values())
    assert {k: r.status for k, r in canary.items()} == {
        "flow": "pass",
        "dns": "pass",
        "labels": "fail",
        "namespaces": "pass",
        "tiers": "skip",
        "ports": "pass",
        "verdict": "fail",
        "probe": "skip",
        "changes": "skip",
    }


def test_flow_step_resolves_the_service(canary: dict[str, StepResult]) -> None:
    flow = canary["flow"]
    assert flow.summary == (
        f"{CANARY} → Service develop/backend port 80/TCP → 1 backend on 8080/TCP"
    )
    assert (
        "destination: Service develop/backend (ClusterIP 10.96.10.20), port 80/TCP → "
        "targetPort http" in flow.evidence
    )
    assert f"backend {BACKEND} (IP 10.0.1.20): port http = 8080/TCP" in flow.evidence
    assert flow.kubectl.startswith(f"kubectl get pod -n develop {CANARY.split('/')[1]} -o wide")


def test_dns_step_static_checks_udp_and_tcp(canary: dict[str, StepResult]) -> None:
    dns = canary["dns"]
    assert dns.summary == (
        f"policies allow UDP and TCP 53 from {CANARY} to kube-system/coredns-5d78c-abcd"
    )
    assert "✓ UDP 53 to kube-system/coredns-5d78c-abcd" in dns.evidence
    assert "✓ TCP 53 to kube-system/coredns-5d78c-abcd" in dns.evidence
    assert "probe: none (static analysis only)" in dns.evidence
    assert dns.kubectl == (
        f"kubectl exec -n develop {CANARY.split('/')[1]} -- nslookup "
        "backend.develop.svc.cluster.local"
    )


def test_labels_step_names_the_near_miss(canary: dict[str, StepResult]) -> None:
    labels = canary["labels"]
    assert labels.summary == (
        "source label app=frontend-canary is not in [frontend, frontend-primary]; did you "
        "mean frontend? (develop/allow-backend-ingress ingress rule #0)"
    )
    assert f"source {CANARY}: app=frontend-canary,tier=web" in labels.evidence
    assert any(
        e.startswith("✗ develop/allow-backend-ingress ingress rule #0 peer #0")
        for e in labels.evidence
    )


def test_namespaces_step_is_not_the_cause(canary: dict[str, StepResult]) -> None:
    ns = canary["namespaces"]
    assert ns.summary == "namespaces are not what blocks this flow"
    assert "namespace develop: env=dev,kubernetes.io/metadata.name=develop" in ns.evidence
    # the traefik peer is listed, but it is meant for another namespace: no finding
    assert any("peer #1 namespaceSelector" in e for e in ns.evidence)


def test_ports_step_follows_the_named_target_port(canary: dict[str, StepResult]) -> None:
    ports = canary["ports"]
    assert ports.summary == (
        "port 80/TCP reaches the pod as 8080/TCP (http); no rule that admits the peer "
        "refuses the port"
    )
    assert "Service develop/backend: port 80/TCP → targetPort http" in ports.evidence


def test_verdict_step_denies_with_fix(canary: dict[str, StepResult], classic: Snapshot) -> None:
    verdict = canary["verdict"]
    # Both sides deny: one nearest miss each, or fixing one would not open the flow.
    assert verdict.summary.startswith(
        f"denied by egress at {CANARY} and ingress at {BACKEND}; nearest misses: "
        "develop/allow-dns-egress egress rule #0: wrong namespace: destination is in namespace "
        "develop, the rule admits namespace kube-system only"
    )
    assert verdict.summary.endswith(
        "; and develop/allow-backend-ingress ingress rule #0: source label app=frontend-canary "
        "is not in [frontend, frontend-primary]"
    )
    fix = verdict.details["fix_yaml"]
    assert "name: allow-frontend-canary-to-backend-8080-egress" in fix
    assert "name: allow-frontend-canary-to-backend-8080-ingress" in fix


def test_probe_and_changes_skip_without_prober_or_known_good(
    canary: dict[str, StepResult],
) -> None:
    assert canary["probe"].summary == (
        "no prober: static analysis only (connect to a live cluster to probe)"
    )
    assert canary["changes"].summary == "no known-good policy set to compare with"


# ---------------------------------------------------------------- other classic flows


def test_allowed_flow_passes_every_static_step(classic: Snapshot) -> None:
    got = results(ctx_for(classic, TRAEFIK, "develop/svc/backend", "80"))
    assert [got[k].status for k in ("flow", "dns", "labels", "namespaces", "ports", "verdict")] == [
        "pass"
    ] * 6
    assert got["verdict"].summary == (
        "allowed: egress: not isolated; ingress by develop/allow-backend-ingress rule #0"
    )
    assert "fix_yaml" not in got["verdict"].details


def test_wrong_port_fails_the_ports_step(classic: Snapshot) -> None:
    ctx = ctx_for(classic, FRONTEND, BACKEND, "9090")
    ports = run_step(ctx, "ports")
    assert ports.status == "fail"
    assert ports.summary == (
        "develop/allow-backend-ingress ingress rule #0 admits the source but not the port: "
        "port 9090 is not 8080"
    )
    assert run_step(ctx, "labels").status == "pass"


def test_service_port_that_does_not_exist(classic: Snapshot) -> None:
    ctx = ctx_for(classic, FRONTEND, "develop/svc/backend", "8080")
    flow = run_step(ctx, "flow")
    assert flow.status == "fail"
    assert flow.summary == "Service develop/backend has no port 8080/TCP (it exposes: http 80/TCP)"
    assert run_step(ctx, "ports").status == "fail"
    verdict = run_step(ctx, "verdict")
    assert verdict.status == "fail"
    assert verdict.summary.startswith(
        "denied before any policy: Service develop/backend has no port"
    )


def test_unknown_pod_fails_flow_and_skips_the_rest(classic: Snapshot) -> None:
    ctx = ctx_for(classic, "develop/frontend-nope", "develop/svc/backend", "80")
    got = results(ctx)
    assert got["flow"].status == "fail"
    assert got["flow"].summary.startswith("source develop/frontend-nope: no such pod")
    assert {got[k].status for k in got if k != "flow"} <= {"skip"}


def test_cross_namespace_pod_selector_is_a_namespace_finding(classic: Snapshot) -> None:
    # production-db admits app=backend, but with a podSelector alone: only its own namespace.
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "db-from-backend", "namespace": "production"},
        "spec": {
            "podSelector": {"matchLabels": {"app": "production-db"}},
            "ingress": [
                {
                    "from": [{"podSelector": {"matchLabels": {"app": "backend"}}}],
                    "ports": [{"port": 5432}],
                }
            ],
        },
    }
    snapshot = with_manifests(classic, [policy])
    ctx = ctx_for(snapshot, BACKEND, "production/svc/production-db", "5432")
    ns = run_step(ctx, "namespaces")
    assert ns.status == "fail"
    assert ns.summary == (
        "source is in namespace develop; a podSelector without namespaceSelector only selects "
        "pods of namespace production (production/db-from-backend ingress rule #0)"
    )
    assert "SAME peer entry" in ns.hint
    assert run_step(ctx, "labels").status == "pass"


def test_policy_that_misses_the_destination_by_a_label(classic: Snapshot) -> None:
    # Relabel the backend to app=Backend: allow-backend-ingress no longer selects it.
    pods = tuple(
        dataclasses.replace(p, labels={**p.labels, "app": "Backend"}) if p.key == BACKEND else p
        for p in classic.pods
    )
    snapshot = dataclasses.replace(classic, pods=pods)
    labels = run_step(ctx_for(snapshot, TRAEFIK, BACKEND, "8080"), "labels")
    assert labels.status == "fail"
    assert labels.summary == (
        "develop/allow-backend-ingress would allow this flow but does not select the "
        "destination: destination label app=Backend is not in [backend, backend-primary]; "
        "values are case-sensitive: Backend vs backend"
    )


def test_dns_denied_when_egress_forgets_dns(classic: Snapshot) -> None:
    policies = tuple(p for p in classic.policies if p.name != "allow-dns-egress")
    deny_all_egress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "deny-egress", "namespace": "develop"},
        "spec": {"podSelector": {}, "policyTypes": ["Egress"]},
    }
    snapshot = with_manifests(classic.with_policies(policies), [deny_all_egress])
    dns = run_step(ctx_for(snapshot, FRONTEND, "develop/svc/backend", "80"), "dns")
    assert dns.status == "fail"
    assert dns.summary == (
        f"policies deny UDP and TCP 53 from {FRONTEND} to kube-system/coredns-5d78c-abcd: "
        "name lookups time out"
    )


def test_dns_udp_only_is_a_warning(classic: Snapshot) -> None:
    pol = next(p for p in classic.policies if p.name == "allow-dns-egress")
    rule = pol.egress[0]
    udp_only = dataclasses.replace(
        pol, egress=(dataclasses.replace(rule, ports=rule.ports[:1]),), manifest={}
    )
    snapshot = classic.with_policies(tuple(udp_only if p is pol else p for p in classic.policies))
    dns = run_step(ctx_for(snapshot, FRONTEND, "develop/svc/backend", "80"), "dns")
    assert dns.status == "warn"
    assert "allow UDP 53 but not TCP 53" in dns.summary


# ---------------------------------------------------------------- with a prober


NSLOOKUP_BACKEND = "Name:\tbackend.develop.svc.cluster.local\nAddress: 10.96.10.20\n"


def test_dns_probe_matches_cluster_ip(classic: Snapshot) -> None:
    prober = FakeProber(
        {("dns", CANARY, "backend.develop.svc.cluster.local"): ("success", NSLOOKUP_BACKEND)}
    )
    ctx = ctx_for(classic, CANARY, "develop/svc/backend", "80", prober=prober)
    dns = run_step(ctx, "dns")
    assert dns.status == "pass"
    assert dns.summary == (
        "backend.develop.svc.cluster.local resolves to 10.96.10.20 (the Service's ClusterIP)"
    )
    assert "ran: nslookup backend.develop.svc.cluster.local" in dns.evidence


def test_dns_probe_with_another_address_warns(classic: Snapshot) -> None:
    other = "Name:\tbackend.develop.svc.cluster.local\nAddress: 10.96.99.99\n"
    prober = FakeProber({("dns", CANARY, "backend.develop.svc.cluster.local"): ("success", other)})
    dns = run_step(ctx_for(classic, CANARY, "develop/svc/backend", "80", prober=prober), "dns")
    assert dns.status == "warn"
    assert dns.summary == (
        "backend.develop.svc.cluster.local resolves to 10.96.99.99, but the Service's "
        "ClusterIP is 10.96.10.20"
    )


def test_dns_probe_timeout_and_nxdomain(classic: Snapshot) -> None:
    name = "backend.develop.svc.cluster.local"
    timeout = FakeProber({("dns", CANARY, name): ("timeout", ";; connection timed out")})
    dns = run_step(ctx_for(classic, CANARY, "develop/svc/backend", "80", prober=timeout), "dns")
    assert (dns.status, dns.summary) == ("fail", f"DNS lookup of {name} timed out")
    assert "policies allow DNS" in dns.hint
    nx = FakeProber({("dns", CANARY, name): ("nxdomain", "NXDOMAIN")})
    dns = run_step(ctx_for(classic, CANARY, "develop/svc/backend", "80", prober=nx), "dns")
    assert dns.status == "fail"
    assert dns.summary.startswith(f"{name} does not exist (NXDOMAIN)")


def test_dns_probe_error_is_an_error_result(classic: Snapshot) -> None:
    prober = FakeProber({})  # unscripted: error
    dns = run_step(ctx_for(classic, CANARY, "develop/svc/backend", "80", prober=prober), "dns")
    assert dns.status == "error"
    assert dns.summary.startswith("the DNS probe failed: unscripted; static check: policies allow")


def test_probe_confirms_the_prediction(classic: Snapshot) -> None:
    prober = FakeProber({("connect", CANARY, "10.96.10.20", 80): ("timeout", "timed out")})
    ctx = ctx_for(classic, CANARY, "develop/svc/backend", "80", prober=prober)
    probe = run_step(ctx, "probe")
    assert probe.status == "pass"  # the probe confirmed the prediction
    assert probe.summary == (
        "connection to 10.96.10.20:80 timed out, as predicted: a NetworkPolicy drop"
    )
    assert "prediction: denied" in probe.evidence
    # the kubectl shown is the command that ran, not the runbook's approximation of it
    assert probe.kubectl == (
        "kubectl exec -n develop frontend-canary-5f6d7-p9zz -- nc -v -z -w 3 10.96.10.20 80"
    )


def test_probe_mismatch_explained(classic: Snapshot) -> None:
    prober = FakeProber({("connect", CANARY, "10.96.10.20", 80): ("success", "succeeded!")})
    ctx = ctx_for(classic, CANARY, "develop/svc/backend", "80", prober=prober)
    probe = run_step(ctx, "probe")
    assert probe.status == "warn"
    assert probe.summary == (
        "connected to 10.96.10.20:80, but the policies deny it: prediction and observation disagree"
    )
    assert "CNI does not enforce NetworkPolicy" in probe.hint
    allowed = FakeProber({("connect", TRAEFIK, "10.96.10.20", 80): ("timeout", "")})
    ctx = ctx_for(classic, TRAEFIK, "develop/svc/backend", "80", prober=allowed)
    probe = run_step(ctx, "probe")
    assert probe.status == "fail"
    assert "although the policies allow it" in probe.summary
    assert "another policy engine" in probe.hint


def test_probe_mismatch_names_policy_engine_crds(classic: Snapshot) -> None:
    snapshot = dataclasses.replace(
        classic, policy_engines=("Cilium (ciliumnetworkpolicies.cilium.io)",)
    )
    prober = FakeProber({("connect", TRAEFIK, "10.96.10.20", 80): ("timeout", "")})
    probe = run_step(
        ctx_for(snapshot, TRAEFIK, "develop/svc/backend", "80", prober=prober), "probe"
    )
    assert (
        "possible cause: another policy engine: Cilium (ciliumnetworkpolicies.cilium.io)"
        in probe.evidence
    )


def test_probe_refused_and_pod_destination(classic: Snapshot) -> None:
    prober = FakeProber({("connect", TRAEFIK, "10.0.1.20", 8080): ("refused", "refused")})
    probe = run_step(ctx_for(classic, TRAEFIK, BACKEND, "8080", prober=prober), "probe")
    assert probe.status == "fail"
    assert probe.summary.startswith("connection to 10.0.1.20:8080 refused: policy allows it")


def test_probe_skips_for_an_ip_source(classic: Snapshot) -> None:
    ctx = ChecklistContext(
        classic, parse_flow("203.0.113.9", BACKEND, "8080"), prober=FakeProber({})
    )
    assert run_step(ctx, "probe").summary == (
        "source 203.0.113.9 is not a pod: there is nowhere to probe from"
    )


def test_unknown_step_is_an_error_result(classic: Snapshot) -> None:
    result = run_step(ctx_for(classic, CANARY, "develop/svc/backend", "80"), "nope")
    assert result.status == "error"
    assert "has no step 'nope'" in result.summary


def test_a_crashing_check_becomes_an_error(classic: Snapshot) -> None:
    class Broken:
        live = True

        def dns(self, *a: object) -> ProbeResult:
            raise RuntimeError("boom")

        connect = dns

    ctx = ctx_for(classic, CANARY, "develop/svc/backend", "80", prober=Broken())
    result = run_step(ctx, "dns")
    assert result.status == "error"
    assert result.summary == "internal error in step dns: RuntimeError: boom"
    assert result.kubectl  # still tells the operator how to look by hand


# ---------------------------------------------------------------- helpers


def with_manifests(snapshot: Snapshot, manifests: list[dict[str, object]]) -> Snapshot:
    from triage.sources.parse import parse_network_policy

    extra = []
    for i, manifest in enumerate(manifests):
        policy, problems = parse_network_policy(manifest, "test", i)
        assert policy is not None and not problems, problems
        extra.append(policy)
    return snapshot.with_policies((*snapshot.policies, *extra))


def flow(src: str, dst: str, port: str) -> Flow:
    return parse_flow(src, dst, port)
