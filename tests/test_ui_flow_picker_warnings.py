"""Load warnings stay on the flow picker (a toast would vanish before a 3 a.m. reader sees it).

They were never shown: `Text.rstrip()` trims in place and returns None, so the message was
always None. mypy --strict found it (func-returns-value)."""

from __future__ import annotations

import dataclasses

from textual.widgets import Static

from tests.test_ui_support import SIZE
from triage.sources.recording import bundled_incident, load_incident
from triage.ui.app import TriageApp, make_app
from triage.ui.screens.flow_picker import FlowPickerScreen
from triage.ui.session import ReplaySource


def _app_with_warnings(*warnings: str) -> TriageApp:
    incident = load_incident(bundled_incident("demo"))
    snapshot = dataclasses.replace(incident.snapshot, warnings=warnings)
    return make_app(
        ReplaySource(incident=dataclasses.replace(incident, snapshot=snapshot)),
        theme="textual-dark",
        animation_level="none",
        cursor_blink=False,
    )


async def _message(*warnings: str) -> tuple[bool, str]:
    app = _app_with_warnings(*warnings)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, FlowPickerScreen)
        message = app.screen.query_one("#flow-message", Static)
        content = message.content
        return bool(message.display), str(content)


async def test_load_warnings_are_shown_on_the_flow_picker() -> None:
    shown, text = await _message("incident.yaml: flows[0]: prod/web is not in the recording")
    assert shown
    assert text == "warning: incident.yaml: flows[0]: prod/web is not in the recording"


async def test_more_than_three_warnings_are_counted() -> None:
    shown, text = await _message("one", "two", "three", "four", "five")
    assert shown
    assert text.splitlines() == [
        "warning: one",
        "warning: two",
        "warning: three",
        "… and 2 more warnings",
    ]


async def test_no_warnings_no_message() -> None:
    shown, _ = await _message()
    assert not shown


async def test_warnings_are_shown_without_control_characters() -> None:
    shown, text = await _message("kind Ingress skipped\x1b[31m (not a policy)")
    assert shown
    assert text == "warning: kind Ingress skipped\ufffd[31m (not a policy)"
