"""LiveProber against the Kubernetes API test server: websocket exec with scripted outputs,
a missing binary falling back to an ephemeral debug container (only with the operator's
consent, asked once per pod), timeouts and refusals."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from kubernetes import client, config

from tests.kubeapi import builders
from tests.kubeapi.server import KubeApiServer
from triage.model import PodRef
from triage.probes.live import (
    EphemeralRequest,
    LiveProber,
    consent_for_context,
    parse_exec_status,
)

pytestmark = [pytest.mark.live, pytest.mark.timeout(60)]

SRC = PodRef("develop", "frontend")
INCIDENTS = Path(__file__).resolve().parent.parent / "triage" / "data" / "incidents"
NSLOOKUP_OK = (
    "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10#53\n\n"
    "Name:\tbackend.develop.svc.cluster.local\nAddress: 10.96.10.20\n"
)
NSLOOKUP_NX = (
    "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10#53\n\n"
    "** server can't find nope.develop.svc.cluster.local: NXDOMAIN\n"
)


@pytest.fixture
def server(kube_api: KubeApiServer) -> KubeApiServer:
    kube_api.seed(
        namespaces=[builders.namespace("develop")],
        pods=[
            builders.pod("frontend", "develop", labels={"app": "frontend"}, ip="10.0.1.10"),
            builders.pod("pending", "develop", phase="Pending", ip=None),
        ],
    )
    return kube_api


CONTEXT = "triage-test"
EPHEMERAL_PATCH = r"/pods/[^/]+/ephemeralcontainers$"


class Consent:
    """A confirm_ephemeral hook that answers `answer` and keeps every question it got."""

    def __init__(self, answer: bool = True, delay: float = 0.0) -> None:
        self.answer = answer
        self.delay = delay
        self.asked: list[EphemeralRequest] = []
        self._lock = threading.Lock()

    def __call__(self, request: EphemeralRequest) -> bool:
        with self._lock:
            self.asked.append(request)
        time.sleep(self.delay)  # an operator reading the question: others must wait
        return self.answer


def _prober(server: KubeApiServer, tmp_path: Path, **options: object) -> LiveProber:
    path = server.write_kubeconfig(tmp_path / "kubeconfig", context=CONTEXT)
    api = config.new_client_from_config(config_file=str(path))
    exec_api = config.new_client_from_config(config_file=str(path))
    options.setdefault("poll_interval", 0.05)
    options.setdefault("ephemeral_timeout", 5.0)
    options.setdefault("context", CONTEXT)
    return LiveProber(api, exec_api, **options)  # type: ignore[arg-type]


def _ephemeral_patches(server: KubeApiServer) -> list[str]:
    return [r.path for r in server.requests_matching("PATCH", EPHEMERAL_PATCH)]


def test_dns_success_parses_the_answer(server: KubeApiServer, tmp_path: Path) -> None:
    server.script_exec(
        "develop", "frontend", ["nslookup", "backend.develop.svc.cluster.local"], NSLOOKUP_OK
    )
    result = _prober(server, tmp_path).dns(SRC, "backend.develop.svc.cluster.local", 3)
    assert result.outcome == "success"
    assert result.addresses == ("10.96.10.20",)
    assert result.via == "exec"
    assert result.command == ("nslookup", "backend.develop.svc.cluster.local")
    call = server.exec_log[-1]
    assert call.argv == ["nslookup", "backend.develop.svc.cluster.local"]
    assert call.container == "app"


def test_dns_nxdomain_from_exit_code_and_output(server: KubeApiServer, tmp_path: Path) -> None:
    server.script_exec("develop", "frontend", ["nslookup"], NSLOOKUP_NX, exit_code=1)
    result = _prober(server, tmp_path).dns(SRC, "nope.develop.svc.cluster.local", 3)
    assert result.outcome == "nxdomain"
    assert "NXDOMAIN" in result.output


def test_dns_timeout(server: KubeApiServer, tmp_path: Path) -> None:
    server.script_exec(
        "develop",
        "frontend",
        ["nslookup"],
        ";; connection timed out; no servers could be reached\n",
        exit_code=1,
    )
    result = _prober(server, tmp_path).dns(SRC, "backend.develop.svc.cluster.local", 3)
    assert result.outcome == "timeout"


def test_connect_success_and_refused(server: KubeApiServer, tmp_path: Path) -> None:
    prober = _prober(server, tmp_path)
    server.script_exec(
        "develop",
        "frontend",
        ["nc", "-v", "-z", "-w", "3", "10.96.10.20", "80"],
        stderr="Connection to 10.96.10.20 80 port [tcp/http] succeeded!\n",
        exact=True,
    )
    ok = prober.connect(SRC, "10.96.10.20", 80, "TCP", 3)
    assert (ok.outcome, ok.via) == ("success", "exec")
    assert ok.command == ("nc", "-v", "-z", "-w", "3", "10.96.10.20", "80")
    server.script_exec(
        "develop",
        "frontend",
        ["nc", "-v", "-z", "-w", "3", "10.96.10.20", "81"],
        stderr="nc: connect to 10.96.10.20 port 81 (tcp) failed: Connection refused\n",
        exit_code=1,
        exact=True,
    )
    refused = prober.connect(SRC, "10.96.10.20", 81, "TCP", 3)
    assert refused.outcome == "refused"


def test_connect_timeout_reported_by_nc(server: KubeApiServer, tmp_path: Path) -> None:
    server.script_exec(
        "develop",
        "frontend",
        ["nc"],
        stderr="nc: connect to 10.0.1.20 port 8080 (tcp) timed out: Operation now in progress\n",
        exit_code=1,
    )
    result = _prober(server, tmp_path).connect(SRC, "10.0.1.20", 8080, "TCP", 1)
    assert result.outcome == "timeout"


def test_udp_uses_nc_zu(server: KubeApiServer, tmp_path: Path) -> None:
    server.script_exec("develop", "frontend", ["nc", "-v", "-zu"], "", exit_code=0)
    result = _prober(server, tmp_path).connect(SRC, "10.96.0.10", 53, "UDP", 2)
    assert result.outcome == "success"
    assert result.command[:3] == ("nc", "-v", "-zu")


def test_exec_that_never_finishes_times_out(server: KubeApiServer, tmp_path: Path) -> None:
    async def hang(session: object) -> None:
        await asyncio.sleep(30)

    server.script_exec("develop", "frontend", ["nc"], handler=hang)
    started = time.monotonic()
    prober = _prober(server, tmp_path, exec_grace=0.5)
    result = prober.connect(SRC, "10.0.1.20", 8080, "TCP", 1)
    assert result.outcome == "timeout"
    assert "did not finish within 2s" in result.output
    assert time.monotonic() - started < 6


def test_missing_binary_falls_back_to_an_ephemeral_container(
    server: KubeApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Unscripted commands fail like a binary missing from the image (OCI runtime error), so
    # the app container has no tool; only the debug container answers.
    monkeypatch.setattr("triage.probes.live.debug_container_name", lambda: "triage-debug-abc123")
    debug_name = "triage-debug-abc123"
    server.script_exec("develop", "frontend", ["nslookup"], NSLOOKUP_OK, container=debug_name)
    consent = Consent(True)
    prober = _prober(server, tmp_path, confirm_ephemeral=consent)
    result = prober.dns(SRC, "backend.develop.svc.cluster.local", 3)
    assert result.outcome == "success", result
    assert consent.asked == [
        EphemeralRequest(
            context=CONTEXT,
            namespace="develop",
            pod="frontend",
            target_container="app",
            image="nicolaka/netshoot:v0.13",
            missing=("nslookup", "getent", "dig"),
            kind="dns",
        )
    ]
    assert consent.asked[0].pod_key == "develop/frontend"
    assert "needs one of nslookup, getent, dig" in consent.asked[0].reason
    assert result.via == "ephemeral"
    assert result.addresses == ("10.96.10.20",)
    assert "has none of: nslookup, getent, dig" in result.note
    tried = [(c.container, c.argv[0]) for c in server.exec_log]
    assert tried == [
        ("app", "nslookup"),
        ("app", "getent"),
        ("app", "dig"),
        (debug_name, "nslookup"),
    ]
    pod = server.get("Pod", "frontend", "develop")
    assert pod is not None
    debug = pod["spec"]["ephemeralContainers"]
    assert [d["name"] for d in debug] == [debug_name]
    assert debug[0]["image"] == "nicolaka/netshoot:v0.13"
    assert debug[0]["targetContainerName"] == "app"
    # A second probe reuses the running debug container instead of adding another.
    again = prober.dns(SRC, "backend.develop.svc.cluster.local", 3)
    assert again.via == "ephemeral"
    pod = server.get("Pod", "frontend", "develop")
    assert pod is not None and len(pod["spec"]["ephemeralContainers"]) == 1
    assert len(consent.asked) == 1  # the container is there: nothing to ask
    assert len(_ephemeral_patches(server)) == 1


def test_shell_style_missing_binary_exit_127(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("triage.probes.live.debug_container_name", lambda: "triage-debug-abc123")
    server = KubeApiServer(unscripted_exec="shell").start()
    try:
        server.seed(
            namespaces=[builders.namespace("develop")],
            pods=[builders.pod("frontend", "develop", ip="10.0.1.10")],
        )
        server.script_exec(
            "develop",
            "frontend",
            ["nc"],
            stderr="Connection to 10.0.1.20 8080 port [tcp/*] succeeded!\n",
            container="triage-debug-abc123",
        )
        prober = _prober(server, tmp_path, confirm_ephemeral=Consent(True))
        result = prober.connect(SRC, "10.0.1.20", 8080, "TCP", 1)
        assert (result.outcome, result.via) == ("success", "ephemeral")
    finally:
        server.stop()


def test_ephemeral_container_that_never_starts(tmp_path: Path) -> None:
    server = KubeApiServer(ephemeral_start_delay=None, ephemeral_waiting_reason="PodInitializing")
    server.start()
    try:
        server.seed(
            namespaces=[builders.namespace("develop")],
            pods=[builders.pod("frontend", "develop", ip="10.0.1.10")],
        )
        prober = _prober(server, tmp_path, ephemeral_timeout=0.5, confirm_ephemeral=Consent(True))
        started = time.monotonic()
        result = prober.connect(SRC, "10.0.1.20", 8080, "TCP", 1)
        assert result.outcome == "error"
        assert result.via == "ephemeral"
        assert "did not start within" in result.output
        assert time.monotonic() - started < 10
    finally:
        server.stop()


def test_image_pull_error_is_reported(tmp_path: Path) -> None:
    server = KubeApiServer(ephemeral_start_delay=None, ephemeral_waiting_reason="ErrImagePull")
    server.start()
    try:
        server.seed(
            namespaces=[builders.namespace("develop")],
            pods=[builders.pod("frontend", "develop", ip="10.0.1.10")],
        )
        prober = _prober(server, tmp_path, confirm_ephemeral=Consent(True))
        result = prober.dns(SRC, "backend.develop.svc.cluster.local", 2)
        assert result.outcome == "error"
        assert "ErrImagePull" in result.output
    finally:
        server.stop()


def test_no_debug_container_by_default(server: KubeApiServer, tmp_path: Path) -> None:
    """No hook: the pod is never patched, and the error says what is missing and how to
    allow a debug container."""
    result = _prober(server, tmp_path).dns(SRC, "backend.develop.svc.cluster.local", 2)
    assert result.outcome == "error"
    assert result.output.startswith(
        "the image of develop/frontend has none of: nslookup, getent, dig; "
        "no debug container was added: "
    )
    assert "stays in the pod until the pod is deleted" in result.output
    assert "--allow-debug-container" in result.output
    assert result.command == ("nslookup", "backend.develop.svc.cluster.local")
    assert _ephemeral_patches(server) == []
    pod = server.get("Pod", "frontend", "develop")
    assert pod is not None and not pod["spec"].get("ephemeralContainers")


def test_a_refused_debug_container_patches_nothing(server: KubeApiServer, tmp_path: Path) -> None:
    consent = Consent(False)
    prober = _prober(server, tmp_path, confirm_ephemeral=consent, consent_hint="reload to ask")
    result = prober.connect(SRC, "10.0.1.20", 8080, "TCP", 1)
    assert result.outcome == "error"
    assert result.via == "exec"
    assert result.output == (
        "the image of develop/frontend has none of: nc, ncat; no debug container was added: "
        "you declined a debug container in develop/frontend (context triage-test); reload to ask"
    )
    # The answer holds for the pod: a DNS probe later is refused without a second question.
    later = prober.dns(SRC, "backend.develop.svc.cluster.local", 2)
    assert later.outcome == "error" and "nslookup, getent, dig" in later.output
    assert [(r.kind, r.missing) for r in consent.asked] == [("connect", ("nc", "ncat"))]
    assert _ephemeral_patches(server) == []
    assert server.requests_matching("PATCH") == []
    assert {c.container for c in server.exec_log} == {"app"}


def test_a_hook_that_fails_is_no_consent_and_is_asked_again(
    server: KubeApiServer, tmp_path: Path
) -> None:
    calls: list[EphemeralRequest] = []

    def broken(request: EphemeralRequest) -> bool:
        calls.append(request)
        raise RuntimeError("App is not running")

    prober = _prober(server, tmp_path, confirm_ephemeral=broken)
    first = prober.connect(SRC, "10.0.1.20", 8080, "TCP", 1)
    assert first.outcome == "error"
    assert "the question was not answered (RuntimeError: App is not running)" in first.output
    prober.connect(SRC, "10.0.1.20", 8080, "TCP", 1)
    assert len(calls) == 2  # a failed question is not an answer
    assert _ephemeral_patches(server) == []


def test_consent_for_context_approves_that_context_only(
    server: KubeApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("triage.probes.live.debug_container_name", lambda: "triage-debug-abc123")
    server.script_exec(
        "develop", "frontend", ["nc"], stderr="succeeded!\n", container="triage-debug-abc123"
    )
    other = _prober(server, tmp_path, confirm_ephemeral=consent_for_context("prod"))
    refused = other.connect(SRC, "10.0.1.20", 80, "TCP", 1)
    assert refused.outcome == "error" and "you declined" in refused.output
    assert _ephemeral_patches(server) == []
    same = _prober(server, tmp_path, confirm_ephemeral=consent_for_context(CONTEXT))
    allowed = same.connect(SRC, "10.0.1.20", 80, "TCP", 1)
    assert (allowed.outcome, allowed.via) == ("success", "ephemeral")
    assert len(_ephemeral_patches(server)) == 1


def test_a_running_debug_container_is_reused_without_asking(
    server: KubeApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exec in a debug container that is already there changes nothing: no question."""
    monkeypatch.setattr("triage.probes.live.debug_container_name", lambda: "triage-debug-abc123")
    server.script_exec(
        "develop", "frontend", ["nc"], stderr="succeeded!\n", container="triage-debug-abc123"
    )
    first = _prober(server, tmp_path, confirm_ephemeral=Consent(True))
    assert first.connect(SRC, "10.0.1.20", 80, "TCP", 1).via == "ephemeral"
    consent = Consent(False)
    later = _prober(server, tmp_path, confirm_ephemeral=consent)  # a new session
    result = later.connect(SRC, "10.0.1.20", 80, "TCP", 1)
    assert (result.outcome, result.via) == ("success", "ephemeral")
    assert consent.asked == []
    assert len(_ephemeral_patches(server)) == 1


def test_missing_pod_and_not_running_pod(server: KubeApiServer, tmp_path: Path) -> None:
    prober = _prober(server, tmp_path)
    missing = prober.connect(PodRef("develop", "nope"), "10.0.1.20", 80, "TCP", 1)
    assert missing.outcome == "error"
    assert "pod develop/nope not found" in missing.output
    pending = prober.connect(PodRef("develop", "pending"), "10.0.1.20", 80, "TCP", 1)
    assert pending.outcome == "error"
    assert "Pending, not Running" in pending.output
    assert server.exec_log == []


def test_internal_error_is_an_error_not_a_crash(server: KubeApiServer, tmp_path: Path) -> None:
    async def internal(session: object) -> None:
        await session.internal_error("error executing command in container: boom")  # type: ignore[attr-defined]

    server.script_exec("develop", "frontend", ["nc"], handler=internal)
    result = _prober(server, tmp_path).connect(SRC, "10.0.1.20", 80, "TCP", 1)
    assert result.outcome == "error"
    assert "boom" in result.output


def test_rbac_refusal_of_exec_is_an_error(server: KubeApiServer, tmp_path: Path) -> None:
    server.forbid("create", "pods/exec", "develop")
    server.forbid("get", "pods/exec", "develop")
    result = _prober(server, tmp_path).connect(SRC, "10.0.1.20", 80, "TCP", 1)
    assert result.outcome == "error"
    assert "403" in result.output


def test_parse_exec_status_shapes() -> None:
    assert parse_exec_status('{"metadata":{},"status":"Success"}') == (0, "")
    code, _ = parse_exec_status(
        '{"status":"Failure","reason":"NonZeroExitCode",'
        '"details":{"causes":[{"reason":"ExitCode","message":"3"}]}}'
    )
    assert code == 3
    code, message = parse_exec_status(
        '{"status":"Failure","code":500,"reason":"InternalError","message":"Internal error",'
        '"details":{"causes":[{"message":"error executing command"}]}}'
    )
    assert code is None and message == "Internal error"
    assert parse_exec_status("") == (None, "the exec ended without a status")
    assert parse_exec_status("plain text error")[0] is None


def test_rest_client_is_never_used_for_exec(server: KubeApiServer, tmp_path: Path) -> None:
    server.script_exec("develop", "frontend", ["nc"], stderr="succeeded!\n")
    prober = _prober(server, tmp_path)
    assert prober.connect(SRC, "10.0.1.20", 80, "TCP", 1).outcome == "success"
    api, exec_api = prober._clients()
    assert api is not exec_api
    # The REST client still works after an exec (stream() patched only the exec client).
    assert client.CoreV1Api(api).read_namespaced_pod("frontend", "develop").metadata.name


def test_parallel_probes_add_one_debug_container(
    server: KubeApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = iter(["triage-debug-aaa111", "triage-debug-bbb222", "triage-debug-ccc333"])
    monkeypatch.setattr("triage.probes.live.debug_container_name", lambda: next(names))
    for suffix in ("aaa111", "bbb222"):
        server.script_exec(
            "develop", "frontend", ["nc"], stderr="succeeded!\n", container=f"triage-debug-{suffix}"
        )
    consent = Consent(True, delay=0.3)  # the others queue behind the pod lock meanwhile
    prober = _prober(server, tmp_path, confirm_ephemeral=consent)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: prober.connect(SRC, "10.0.1.20", 80, "TCP", 1), range(4)))
    assert {(r.outcome, r.via) for r in results} == {("success", "ephemeral")}
    pod = server.get("Pod", "frontend", "develop")
    assert pod is not None
    assert [c["name"] for c in pod["spec"]["ephemeralContainers"]] == ["triage-debug-aaa111"]
    assert len(consent.asked) == 1
    assert len(_ephemeral_patches(server)) == 1


def test_parallel_probes_refused_ask_once(server: KubeApiServer, tmp_path: Path) -> None:
    consent = Consent(False, delay=0.3)
    prober = _prober(server, tmp_path, confirm_ephemeral=consent)

    def probe(i: int) -> object:
        if i % 2:
            return prober.dns(SRC, "backend.develop.svc.cluster.local", 1)
        return prober.connect(SRC, "10.0.1.20", 80, "TCP", 1)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(probe, range(4)))
    assert {r.outcome for r in results} == {"error"}  # type: ignore[attr-defined]
    assert len(consent.asked) == 1
    assert _ephemeral_patches(server) == []


def test_prober_from_a_live_target(server: KubeApiServer, tmp_path: Path) -> None:
    from triage.sources.live import LiveTarget

    path = server.write_kubeconfig(tmp_path / "kubeconfig", context="triage-test")
    server.script_exec("develop", "frontend", ["nslookup"], NSLOOKUP_OK)
    prober = LiveProber(LiveTarget(context="triage-test", kubeconfig=path, timeout=7.0))
    assert prober.timeout == 7.0
    result = prober.dns(SRC, "backend.develop.svc.cluster.local", 2)
    assert (result.outcome, result.addresses) == ("success", ("10.96.10.20",))
    assert prober.context == "triage-test"  # what an EphemeralRequest would name


def test_checklist_with_a_live_prober(kube_api: KubeApiServer, tmp_path: Path) -> None:
    """The canary incident served by the test server: the checklist's live steps run
    nslookup and nc in the canary pod over websocket exec."""
    from triage.checklist import ChecklistContext, run_step
    from triage.sources.recording import load_incident

    incident_path = INCIDENTS / "frontend-canary-label-mismatch.yaml"
    kube_api.seed_incident(incident_path)
    incident = load_incident(incident_path)
    canary = incident.flows[0].flow.source
    kube_api.script_exec(
        canary.namespace,  # type: ignore[union-attr]
        canary.name,  # type: ignore[union-attr]
        ["nslookup", "backend.develop.svc.cluster.local"],
        "Name:\tbackend.develop.svc.cluster.local\nAddress: 10.12.7.201\n",
    )
    kube_api.script_exec(
        canary.namespace,  # type: ignore[union-attr]
        canary.name,  # type: ignore[union-attr]
        ["nc", "-v", "-z", "-w", "2", "10.12.7.201", "80"],
        stderr="nc: connect to 10.12.7.201 port 80 (tcp) timed out: Operation now in progress\n",
        exit_code=1,
    )
    ctx = ChecklistContext(
        incident.snapshot,
        incident.flows[0].flow,
        prober=_prober(kube_api, tmp_path),
        probe_timeout=2.0,
    )
    dns = run_step(ctx, "dns")
    assert (dns.status, dns.summary) == (
        "pass",
        "backend.develop.svc.cluster.local resolves to 10.12.7.201 (the Service's ClusterIP)",
    )
    probe = run_step(ctx, "probe")
    assert (probe.status, probe.summary) == (
        "pass",  # the probe confirmed the prediction
        "connection to 10.12.7.201:80 timed out, as predicted: a NetworkPolicy drop",
    )
    assert "ran: nc -v -z -w 2 10.12.7.201 80" in probe.evidence
