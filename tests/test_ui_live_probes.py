"""The TUI's live path against the Kubernetes API test server: the checklist's DNS and probe
steps exec `nslookup` and `nc` in the source pod over the websocket, and a pod whose image
lacks them gets an ephemeral debug container only after the operator agreed in a modal that
names the context (or with --allow-debug-container, which the header then says).

The server is seeded from the bundled canary incident: the canary pod's connections to the
backend Service are dropped by the backend's ingress policy (app=frontend-canary is not in
[frontend, frontend-primary]).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.message import Message
from textual.notifications import Notify
from textual.pilot import Pilot
from textual.widgets import Button, Static

from tests.kubeapi import KubeApiServer
from tests.kubeapi.podexec import PROTOCOLS
from tests.test_ui_pilot import text_of
from tests.test_ui_support import SIZE, settle
from triage.probes.live import EphemeralRequest
from triage.sources.live import LiveTarget
from triage.sources.recording import bundled_incident
from triage.ui.app import TriageApp, make_app
from triage.ui.screens.checklist import ChecklistScreen
from triage.ui.screens.flow_picker import FlowPickerScreen
from triage.ui.session import LiveSource
from triage.ui.widgets.confirm import ConfirmModal
from triage.ui.widgets.steps import StepList

pytestmark = [pytest.mark.live, pytest.mark.timeout(60)]

INCIDENT = "frontend-canary-label-mismatch"
CONTEXT = "staging-oncall"
NS = "develop"
CANARY = "frontend-canary-5f6d7c9b4-p9zzt"
BACKEND_IP = "10.12.7.201"  # the backend Service's ClusterIP
NAME = "backend.develop.svc.cluster.local"
DEBUG = "triage-debug-abc123"
PATCH_PATH = f"/api/v1/namespaces/{NS}/pods/{CANARY}/ephemeralcontainers"
NSLOOKUP = (
    f"Server:\t\t10.12.0.10\nAddress:\t10.12.0.10#53\n\nName:\t{NAME}\nAddress: {BACKEND_IP}\n"
)
NC_TIMEOUT = f"nc: connect to {BACKEND_IP} port 80 (tcp) timed out: Operation now in progress\n"


def live_app(
    server: KubeApiServer, tmp_path: Path, *, allow_debug_container: bool = False
) -> TriageApp:
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig", context=CONTEXT)
    return make_app(
        LiveSource(LiveTarget(kubeconfig=kubeconfig), allow_debug_container),
        report_dir=tmp_path,
        theme="textual-dark",
        animation_level="none",
        cursor_blink=False,
    )


def script_tools(server: KubeApiServer, container: str | None = None) -> None:
    """nslookup answers the Service's ClusterIP; nc times out (the policy drops it)."""
    server.script_exec(NS, CANARY, ["nslookup", NAME], NSLOOKUP, container=container)
    server.script_exec(
        NS, CANARY, ["nc", "-v", "-z"], stderr=NC_TIMEOUT, exit_code=1, container=container
    )


async def wait_until(pilot: Pilot[None], condition: Callable[[], bool], what: str) -> None:
    """Let the app run until `condition` holds (a worker may be blocked on a modal, so the
    settle helper, which waits for every worker, cannot be used then)."""
    deadline = time.monotonic() + 15
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


async def pick_canary_flow(pilot: Pilot[None]) -> ChecklistScreen:
    """Type the flow in the flow picker: canary pod → develop/svc/backend port 80."""
    app = pilot.app
    await settle(pilot)
    assert isinstance(app.screen, FlowPickerScreen)
    await pilot.click("#source")
    await pilot.press(*"canary", "enter")  # the only matching pod: taken, next field
    await pilot.press(*"develop/svc/backend", "enter")
    await pilot.press("enter")  # port: takes 80 (TCP) and starts the checklist
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, ChecklistScreen)
    assert str(screen.flow) == f"{NS}/{CANARY} → {NS}/svc/backend:80/TCP"
    return screen


async def step_text(pilot: Pilot[None], screen: ChecklistScreen, step_id: str) -> str:
    """The detail pane of a step as the operator reads it: status, summary, evidence."""
    screen.query_one(StepList).select(step_id)
    await pilot.pause()
    return "\n".join(
        text_of(screen.query_one(f"#{part}", Static))
        for part in ("detail-status", "detail-summary", "detail-evidence")
    )


def ephemeral_patches(server: KubeApiServer) -> list[str]:
    return [r.path for r in server.requests_matching("PATCH", r"/ephemeralcontainers$")]


async def test_live_probes_exec_in_the_source_pod(kube_api_factory, tmp_path: Path) -> None:
    server = kube_api_factory(incident=bundled_incident(INCIDENT))
    script_tools(server)
    app = live_app(server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await pick_canary_flow(pilot)
        await pilot.press("a")  # run all
        await settle(pilot)

        dns = await step_text(pilot, screen, "dns")
        assert f"{NAME} resolves to {BACKEND_IP} (the Service's ClusterIP)" in dns
        assert "probe (exec): success" in dns
        assert f"ran: nslookup {NAME}" in dns
        assert screen.status("dns") == "pass"

        probe = await step_text(pilot, screen, "probe")
        assert (
            f"connection to {BACKEND_IP}:80 timed out, as predicted: a NetworkPolicy drop" in probe
        )
        assert "prediction: denied" in probe  # prediction vs observation
        assert "probe (exec): timeout" in probe
        assert f"ran: nc -v -z -w 5 {BACKEND_IP} 80" in probe
        assert screen.status("probe") == "pass"  # timed out, as predicted
        # `c` copies the command that ran, in the container it ran in
        assert screen.results["probe"].kubectl == (
            f"kubectl exec -n {NS} {CANARY} -c web -- nc -v -z -w 5 {BACKEND_IP} 80"
        )

    calls = server.exec_log
    assert [(c.container, c.argv[0]) for c in calls] == [("web", "nslookup"), ("web", "nc")]
    assert {c.protocol for c in calls} <= set(PROTOCOLS)  # a websocket channel protocol
    assert all(c.pod == CANARY and c.namespace == NS for c in calls)
    assert ephemeral_patches(server) == []


async def test_missing_tools_ask_then_add_a_debug_container(
    kube_api_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing answers in the app container (unscripted exec = missing binary): the modal
    names the context and pod; `y` adds the debug container and the probes run in it."""
    monkeypatch.setattr("triage.probes.live.debug_container_name", lambda: DEBUG)
    server = kube_api_factory(incident=bundled_incident(INCIDENT))
    script_tools(server, container=DEBUG)
    app = live_app(server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await pick_canary_flow(pilot)
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the modal")
        modal = app.screen
        assert isinstance(modal, ConfirmModal)
        shown = "\n".join(text_of(s) for s in modal.query(Static))
        assert f"Add a debug container to pod {NS}/{CANARY}?" in shown
        assert f"context {CONTEXT}" in shown
        assert f"pod    {NS}/{CANARY} (it joins container web)" in shown
        assert "image  nicolaka/netshoot:v0.13" in shown
        assert (
            "why    the dns probe needs one of nslookup, getent, dig; the image of container "
            "web has none of them"
        ) in shown
        assert "it stays in the pod until the pod is deleted" in " ".join(shown.split())
        assert app.focused is not None and app.focused.id == "no"  # a stray enter declines
        assert ephemeral_patches(server) == []  # nothing yet: the worker waits

        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, ChecklistScreen)

        dns = await step_text(pilot, screen, "dns")
        assert f"{NAME} resolves to {BACKEND_IP} (the Service's ClusterIP)" in dns
        assert "probe (ephemeral): success" in dns
        assert f"note: ran in ephemeral debug container {DEBUG}" in dns
        probe = await step_text(pilot, screen, "probe")
        assert f"connection to {BACKEND_IP}:80 timed out, as predicted" in probe
        assert "probe (ephemeral): timeout" in probe

    assert ephemeral_patches(server) == [PATCH_PATH]  # one container for both probes
    pod = server.get("Pod", CANARY, NS)
    assert pod is not None
    (debug,) = pod["spec"]["ephemeralContainers"]
    assert (debug["name"], debug["targetContainerName"]) == (DEBUG, "web")
    in_debug = [c.argv[0] for c in server.exec_log if c.container == DEBUG]
    assert in_debug == ["nslookup", "nc"]


async def test_declining_the_debug_container_changes_nothing(
    kube_api_factory, tmp_path: Path
) -> None:
    """`enter` on the modal (focus is on No) declines: no PATCH, both live steps end in an
    error that says how to allow a debug container, and the pod is asked about once."""
    server = kube_api_factory(incident=bundled_incident(INCIDENT))
    app = live_app(server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await pick_canary_flow(pilot)
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the modal")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ChecklistScreen)  # asked once: no second modal

        dns = await step_text(pilot, screen, "dns")
        assert screen.status("dns") == "error"
        assert (
            f"the DNS probe failed: the image of {NS}/{CANARY} has none of: nslookup, getent, "
            f"dig; no debug container was added: you declined a debug container in "
            f"{NS}/{CANARY} (context {CONTEXT}); reload (ctrl+r) to be asked again, or start "
            "triage with --allow-debug-container"
        ) in " ".join(dns.split())
        probe = await step_text(pilot, screen, "probe")
        assert screen.status("probe") == "error"
        assert "none of: nc, ncat; no debug container was added" in probe
        assert "--allow-debug-container" in probe

    assert server.requests_matching("PATCH") == []
    assert {c.container for c in server.exec_log} == {"web"}


async def test_quitting_while_asked_adds_nothing_and_does_not_hang(
    kube_api_factory, tmp_path: Path
) -> None:
    """ctrl+q with the question open: the step's worker stops waiting (no answer, no PATCH)
    and the app exits; the thread is not left blocked on the event."""
    server = kube_api_factory(incident=bundled_incident(INCIDENT))
    app = live_app(server, tmp_path)
    started = time.monotonic()
    async with app.run_test(size=SIZE) as pilot:
        await pick_canary_flow(pilot)
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the modal")
        await pilot.press("ctrl+q")
    assert time.monotonic() - started < 30
    assert server.requests_matching("PATCH") == []


async def test_pre_approved_debug_container_says_which_context(
    kube_api_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--allow-debug-container: no modal; the header and a notification name the context."""
    monkeypatch.setattr("triage.probes.live.debug_container_name", lambda: DEBUG)
    server = kube_api_factory(incident=bundled_incident(INCIDENT))
    script_tools(server, container=DEBUG)
    app = live_app(server, tmp_path, allow_debug_container=True)
    seen: list[Message] = []
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        screen = await pick_canary_flow(pilot)
        bar = text_of(screen.query_one("#source-bar", Static))
        assert f"debug containers allowed in context {CONTEXT}" in bar
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, ChecklistScreen)
        notes = {id(m): m.notification for m in seen if isinstance(m, Notify)}
        assert [(n.title, n.message, n.severity) for n in notes.values()] == [
            (
                f"changing context {CONTEXT}",
                f"adding an ephemeral debug container (nicolaka/netshoot:v0.13) to pod "
                f"{NS}/{CANARY} in context {CONTEXT}: it stays until the pod is deleted "
                "(--allow-debug-container)",
                "warning",
            )
        ]
        dns = await step_text(pilot, screen, "dns")
        assert "probe (ephemeral): success" in dns
    assert ephemeral_patches(server) == [PATCH_PATH]


async def test_a_replay_never_asks(tmp_path: Path) -> None:
    from tests.test_ui_support import app_for

    app = app_for(INCIDENT, tmp_path)
    request = EphemeralRequest(CONTEXT, NS, CANARY, "web", "img", ("nc",), "connect")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.session is not None and app.session.debug_containers == "never"
        assert await asyncio.to_thread(app.confirm_debug_container, request) is False
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmModal)


async def test_the_modal_answers(tmp_path: Path) -> None:
    """The modal alone: `n`, `esc` and the No button decline; `y` and Yes agree."""
    from textual.app import App

    results: list[bool | None] = []

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(ConfirmModal("Add?", ["line"], CONTEXT), results.append)

    for keys, expected in (("n", False), ("escape", False), ("enter", False), ("y", True)):
        async with Host().run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert isinstance(pilot.app.focused, Button) and pilot.app.focused.id == "no"
            await pilot.press(keys)
            await pilot.pause()
        assert results[-1] is expected, keys
    async with Host().run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.click("#yes")
        await pilot.pause()
    assert results[-1] is True
