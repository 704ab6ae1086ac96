"""`triage record` end to end: the CLI against the Kubernetes API test server (or a real
cluster with TRIAGE_TEST_KUBECONFIG, read-only tests only), read back with load_incident."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from tests.kubeapi.builders import pod
from tests.live_cluster import Cluster, cluster, fake_cluster, real_cluster, without_versions
from triage.cli import main
from triage.model.incident import Incident
from triage.sources.live import load_live
from triage.sources.recording import bundled_incident, bundled_incidents, load_incident

__all__ = ["cluster"]  # a fixture, imported for pytest

pytestmark = pytest.mark.live


def _flow_args(incident: Incident) -> list[str]:
    args: list[str] = []
    for reported in incident.flows:
        flow = reported.flow
        args += ["--flow", str(flow.source), str(flow.destination), f"{flow.port}/{flow.protocol}"]
    return args


def _record(cluster: Cluster, out: Path, *extra: str) -> int:
    return main(["record", "-o", str(out), *cluster.cli_args(), *extra])


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name != "kubeconfig")


@pytest.mark.parametrize("name", [p.stem for p in bundled_incidents()])
def test_round_trip_of_every_bundled_incident(name: str, tmp_path: Path) -> None:
    if real_cluster() is not None:
        pytest.skip("seeds the API test server; TRIAGE_TEST_KUBECONFIG points at a real cluster")
    seed = load_incident(bundled_incident(name))
    for cluster_ in fake_cluster(tmp_path, incident=name):
        out = tmp_path / "recorded.yaml"
        before = datetime.now(UTC).replace(microsecond=0)
        code = _record(
            cluster_,
            out,
            *_flow_args(seed),
            "--title",
            seed.meta.title,
            "--summary",
            seed.meta.summary,
            "--note",
            "first note",
            "--note",
            "second note",
            *(["--runbook", seed.meta.runbook] if seed.meta.runbook else []),
        )
        assert code == 0
        recorded = load_incident(out)
    assert without_versions(recorded.snapshot) == without_versions(seed.snapshot)
    assert [r.flow for r in recorded.flows] == [r.flow for r in seed.flows]
    assert recorded.meta.title == seed.meta.title
    assert recorded.meta.summary == seed.meta.summary
    assert recorded.meta.runbook == seed.meta.runbook
    assert recorded.meta.context == "triage-test"
    assert recorded.meta.cluster == "triage-test-cluster"
    captured = datetime.strptime(recorded.meta.captured_at, "%Y-%m-%dT%H:%M:%SZ")
    assert before <= captured.replace(tzinfo=UTC) <= datetime.now(UTC) + timedelta(seconds=1)
    assert [n.text for n in recorded.notes] == ["first note", "second note"]
    assert {n.at for n in recorded.notes} == {recorded.meta.captured_at}
    assert recorded.probes == () and recorded.known_good == ()


def test_recording_reads_back_as_what_was_loaded(cluster: Cluster, tmp_path: Path) -> None:
    out = tmp_path / "now.yaml"
    assert _record(cluster, out) == 0
    recorded = load_incident(out)
    live = load_live(cluster.target())
    assert without_versions(recorded.snapshot) == without_versions(live.snapshot)
    assert recorded.meta.context == live.context
    assert recorded.meta.title.startswith(f"{live.context} at ")


def test_progress_shows_each_resource_with_its_count(
    cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "now.yaml"
    assert _record(cluster, out) == 0
    err = capsys.readouterr().err
    live = load_live(cluster.target())
    for what, count in live.counts.items():
        assert re.search(rf"{what}\s+{count:,}\b", err), (what, count, err)
    assert re.search(
        r"^recorded \d+ namespaces, \d+ pods, \d+ services and \d+ network "
        rf"policies from context \S+ \(\S+\) to {re.escape(str(out))}$",
        err,
        re.M,
    )
    assert capsys.readouterr().out == ""


def test_known_good_keeps_policies_and_labels(cluster: Cluster, tmp_path: Path) -> None:
    out = tmp_path / "good.yaml"
    assert _record(cluster, out, "--known-good", "before-deploy") == 0
    recorded = load_incident(out)
    (good,) = recorded.known_good
    assert good.name == "before-deploy"
    assert good.captured_at == recorded.meta.captured_at
    assert good.policies == recorded.snapshot.policies
    assert dict(good.pod_labels) == {p.key: dict(p.labels) for p in recorded.snapshot.pods}
    assert set(good.namespace_labels) == {n.name for n in recorded.snapshot.namespaces}


def test_an_unknown_pod_in_a_flow_writes_nothing(
    cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "never.yaml"
    code = _record(cluster, out, "--flow", "nowhere-ns/ghost-pod", "nowhere-ns/svc/api", "80")
    assert code == 2
    err = capsys.readouterr().err
    assert (
        "triage: error: --flow nowhere-ns/ghost-pod nowhere-ns/svc/api 80/TCP: source pod "
        "nowhere-ns/ghost-pod is not in the cluster; nothing was written"
    ) in err
    assert not out.exists() and _leftovers(tmp_path) == []


def test_a_flow_outside_the_listed_namespaces_says_which_to_add(
    cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster.server  # noqa: B018 - skips on a real cluster: the names are the seed's
    out = tmp_path / "never.yaml"
    code = _record(
        cluster,
        out,
        "-n",
        "checkout",
        "--flow",
        "checkout/checkout-web-7c9d8f6b5-8hx2p",
        "monitoring/prometheus-k8s-0",
        "9090",
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "destination pod monitoring/prometheus-k8s-0 is not in namespaces checkout " in err
    assert "(add -n monitoring)" in err
    assert not out.exists()


def test_a_flow_syntax_error_is_refused_before_any_call(
    cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _record(cluster, tmp_path / "x.yaml", "--flow", "a/b", "c/d", "99999")
    assert code == 2
    assert "--flow a/b c/d 99999: port 99999" in capsys.readouterr().err
    if not cluster.real:
        assert cluster.server.requests == []


def test_runbook_is_recorded(cluster: Cluster, tmp_path: Path) -> None:
    out = tmp_path / "lateral.yaml"
    assert _record(cluster, out, "--runbook", "lateral-movement") == 0
    assert '"runbook": "lateral-movement"' in out.read_text(encoding="utf-8")
    assert load_incident(out).meta.runbook == "lateral-movement"
    plain = tmp_path / "plain.yaml"
    assert _record(cluster, plain) == 0
    assert load_incident(plain).meta.runbook == ""


@pytest.mark.parametrize("name", ["contain", "runbooks/lateral-movement.yaml"])
def test_an_unknown_runbook_is_refused_before_any_call(
    cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    out = tmp_path / "never.yaml"
    assert _record(cluster, out, "--runbook", name) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        f"triage: error: --runbook {name}: not a bundled runbook (bundled: blocked-flow, "
        "default-deny-rollout, failed-rollout, lateral-movement); nothing was done"
    ]
    if not cluster.real:
        assert cluster.server.requests == []
    assert not out.exists()


def test_namespace_restricted_record(cluster: Cluster, tmp_path: Path) -> None:
    ns = "kube-system" if cluster.real else "checkout"
    out = tmp_path / "ns.yaml"
    assert _record(cluster, out, "-n", ns) == 0
    recorded = load_incident(out)
    assert [n.name for n in recorded.snapshot.namespaces] == [ns]
    assert {p.namespace for p in recorded.snapshot.pods} == {ns}


def test_a_failure_on_the_last_list_leaves_no_file(
    cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = cluster.server
    server.inject("GET", r"/networkpolicies$", status=500, message="etcd is down")
    out = tmp_path / "broken.yaml"
    assert _record(cluster, out) == 2
    err = capsys.readouterr().err
    assert (
        "triage: error: the cluster failed to list networkpolicies at cluster scope "
        "(500 InternalError): etcd is down"
    ) in err
    assert _leftovers(tmp_path) == []


def test_a_failed_record_keeps_the_previous_file(cluster: Cluster, tmp_path: Path) -> None:
    server = cluster.server
    out = tmp_path / "incident.yaml"
    assert _record(cluster, out) == 0
    before = out.read_bytes()
    server.inject("GET", r"/networkpolicies$", status=500)
    assert _record(cluster, out, "--title", "second try") == 2
    assert out.read_bytes() == before
    assert _leftovers(tmp_path) == ["incident.yaml"]


def test_a_refused_list_is_one_line_on_stderr(
    cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = cluster.server
    server.forbid("list", "pods")
    assert _record(cluster, tmp_path / "x.yaml") == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(lines) == 1
    assert lines[0].startswith(
        "triage: error: the cluster refused to list pods at cluster scope (403 Forbidden): "
    )
    assert lines[0].endswith(" — try -n NAMESPACE")


def test_secrets_never_reach_the_file(cluster: Cluster, tmp_path: Path) -> None:
    server = cluster.server
    leaky = pod("leaky", "checkout", labels={"app": "leaky"}, ip="10.244.9.9")
    leaky["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": '{"env": "SECRET-IN-ANNOTATION"}',
        "kubernetes.io/description": "kept",
    }
    leaky["spec"]["containers"][0]["env"] = [{"name": "PASSWORD", "value": "SECRET-IN-ENV"}]
    leaky["spec"]["containers"][0]["args"] = ["--token=SECRET-IN-ARGS"]
    leaky["spec"]["volumes"] = [{"name": "creds", "secret": {"secretName": "SECRET-VOLUME"}}]
    server.add(leaky)
    out = tmp_path / "clean.yaml"
    assert _record(cluster, out) == 0
    text = out.read_text()
    assert "SECRET" not in text
    assert "managedFields" not in text
    document = yaml.safe_load(text)
    (stored,) = [p for p in document["pods"] if p["metadata"]["name"] == "leaky"]
    assert stored["metadata"]["annotations"] == {"kubernetes.io/description": "kept"}
    assert load_incident(out).snapshot.pod("checkout", "leaky") is not None


def test_policy_engine_warning_is_printed(
    cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = cluster.server
    server.add_crd("ciliumnetworkpolicies.cilium.io")
    assert _record(cluster, tmp_path / "x.yaml") == 0
    err = capsys.readouterr().err
    assert "warning: other policy engines are installed: Cilium" in err


def test_probe_records_what_the_pod_saw(
    cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = cluster.server
    web = "checkout-web-7c9d8f6b5-8hx2p"
    api_ip = server.get("Service", "checkout-api", "checkout")["spec"]["clusterIP"]
    server.script_exec(
        "checkout",
        web,
        ["nslookup"],
        stdout=f"Server: 10.96.0.10\nName: checkout-api.checkout.svc.cluster.local\n"
        f"Address: {api_ip}\n",
    )
    server.script_exec(
        "checkout", web, ["nc"], stderr=f"nc: {api_ip} (80): Connection refused\n", exit_code=1
    )
    out = tmp_path / "probed.yaml"
    flow = ["--flow", f"checkout/{web}", "checkout/svc/checkout-api", "80"]
    assert _record(cluster, out, "--probe", *flow) == 0
    recorded = load_incident(out)
    dns, connect = recorded.probes
    assert (dns.kind, dns.source, dns.target, dns.outcome) == (
        "dns",
        f"checkout/{web}",
        "checkout-api.checkout.svc.cluster.local",
        "success",
    )
    assert (connect.kind, connect.target, connect.port, connect.protocol, connect.outcome) == (
        "connect",
        "checkout/svc/checkout-api",
        80,
        "TCP",
        "refused",
    )
    assert connect.at and "Connection refused" in connect.output
    argvs = [call.argv for call in server.exec_log]
    assert argvs[0] == ["nslookup", "checkout-api.checkout.svc.cluster.local"]
    assert argvs[1][0] == "nc" and argvs[1][-2:] == [api_ip, "80"]
    err = capsys.readouterr().err
    assert "probe connect from checkout/" in err and ": refused (" in err

    # A replay answers from the recording with what the pod saw.
    from triage.model import PodRef
    from triage.probes.recorded import RecordedProber

    replay = RecordedProber(recorded)
    answer = replay.connect(PodRef("checkout", web), api_ip, 80, "TCP", 5)
    assert answer.outcome == "refused" and answer.via == "recorded"


def test_probe_needs_a_flow(cluster: Cluster, tmp_path: Path) -> None:
    assert _record(cluster, tmp_path / "x.yaml", "--probe") == 2


WEB = "checkout-web-7c9d8f6b5-8hx2p"
WEB_FLOW = ["--flow", f"checkout/{WEB}", "checkout/svc/checkout-api", "80"]
EPHEMERAL_PATCH = r"/pods/[^/]+/ephemeralcontainers$"


def test_probe_without_the_tools_records_an_error_and_changes_no_pod(
    cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing is scripted: the pod's image has no nslookup/nc. Without
    --allow-debug-container the probes are recorded as errors saying so; no PATCH."""
    server = cluster.server
    out = tmp_path / "probed.yaml"
    assert _record(cluster, out, "--probe", *WEB_FLOW) == 0
    dns, connect = load_incident(out).probes
    assert (dns.outcome, connect.outcome) == ("error", "error")
    assert dns.output.startswith(
        f"the image of checkout/{WEB} has none of: nslookup, getent, dig; "
        "no debug container was added: "
    )
    assert connect.output.startswith(f"the image of checkout/{WEB} has none of: nc, ncat; ")
    assert "--allow-debug-container" in connect.output
    assert server.requests_matching("PATCH") == []
    assert {c.container for c in server.exec_log} == {"web"}
    err = capsys.readouterr().err
    assert f"probe dns from checkout/{WEB} to " in err
    assert "): the image of checkout/" in err  # the reason, on the probe's line


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--probe", *WEB_FLOW],
            "triage: error: --allow-debug-container changes pods: name the context it may "
            "change with --context NAME (the current context is never assumed); nothing was done",
        ),
        (
            ["--context", "prod", "--probe", *WEB_FLOW],
            "triage: error: context 'prod' is not in kubeconfig ",
        ),
        (
            ["--context", "triage-test", *WEB_FLOW],
            "triage: error: --allow-debug-container is for --probe; nothing was done",
        ),
    ],
    ids=["no-context", "another-context", "no-probe"],
)
def test_allow_debug_container_is_refused_before_any_request(
    cluster: Cluster,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    server = cluster.server
    out = tmp_path / "never.yaml"
    kubeconfig = ["--kubeconfig", str(cluster.kubeconfig)]
    code = main(["record", "-o", str(out), *kubeconfig, "--allow-debug-container", *extra])
    assert code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), lines
    assert server.requests == []
    assert not out.exists()


def test_allow_debug_container_with_the_context_named(
    cluster: Cluster,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = cluster.server
    debug = "triage-debug-abc123"
    monkeypatch.setattr("triage.probes.live.debug_container_name", lambda: debug)
    api_ip = server.get("Service", "checkout-api", "checkout")["spec"]["clusterIP"]
    answer = f"Name: checkout-api.checkout.svc.cluster.local\nAddress: {api_ip}\n"
    server.script_exec("checkout", WEB, ["nslookup"], answer, container=debug)
    server.script_exec(
        "checkout",
        WEB,
        ["nc"],
        stderr=f"nc: {api_ip} (80): Connection refused\n",
        exit_code=1,
        container=debug,
    )
    out = tmp_path / "probed.yaml"
    kubeconfig = ["--kubeconfig", str(cluster.kubeconfig), "--context", "triage-test"]
    code = main(
        ["record", "-o", str(out), *kubeconfig, "--allow-debug-container", "--probe", *WEB_FLOW]
    )
    assert code == 0
    dns, connect = load_incident(out).probes
    assert (dns.outcome, connect.outcome) == ("success", "refused")
    patches = server.requests_matching("PATCH", EPHEMERAL_PATCH)
    assert [r.path for r in patches] == [
        f"/api/v1/namespaces/checkout/pods/{WEB}/ephemeralcontainers"
    ]
    pod = server.get("Pod", WEB, "checkout")
    assert [c["name"] for c in pod["spec"]["ephemeralContainers"]] == [debug]
    err = capsys.readouterr().err
    assert (
        f"probe: adding an ephemeral debug container (nicolaka/netshoot:v0.13) to pod "
        f"checkout/{WEB} in context triage-test (--allow-debug-container); it stays until the "
        "pod is deleted"
    ) in err


def test_output_in_a_missing_directory(
    cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _record(cluster, tmp_path / "no" / "such" / "x.yaml") == 2
    assert "does not exist" in capsys.readouterr().err


def test_admin_policies_are_recorded_and_kept_as_known_good(
    cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = cluster.server
    server.add_crd("clusternetworkpolicies.policy.networking.k8s.io")
    server.seed(
        objects=[
            {
                "apiVersion": "policy.networking.k8s.io/v1alpha2",
                "kind": "ClusterNetworkPolicy",
                "metadata": {
                    "name": "guard",
                    "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
                },
                "spec": {
                    "tier": "Admin",
                    "priority": 10,
                    "subject": {"namespaces": {}},
                    "ingress": [{"action": "Deny", "from": [{"namespaces": {}}]}],
                },
            }
        ]
    )
    out = tmp_path / "now.yaml"
    assert _record(cluster, out, "--known-good", "before") == 0
    assert "(+ 1 cluster-scoped admin policies)" in capsys.readouterr().err
    recorded = load_incident(out)
    assert [p.key for p in recorded.snapshot.admin_policies] == ["cnp/guard"]
    assert recorded.known_good[0].admin_policies == recorded.snapshot.admin_policies
    text = out.read_text(encoding="utf-8")
    assert '"adminPolicies"' in text
    assert "last-applied-configuration" not in text  # the allow-list holds for them too
