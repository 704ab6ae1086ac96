"""Asking the operator before a live probe adds an ephemeral debug container to a pod.

The prober calls its consent hook from the step's thread worker. The hook pushes a
`ConfirmModal` on the event loop (`app.call_from_thread(app.push_screen, modal, callback)`)
and blocks that worker thread, never the loop, on a `threading.Event` until the operator
answers. A cancelled worker (the app quits) stops waiting: that is no answer, and the prober
asks again next time.
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Any

from textual.worker import NoActiveWorker, get_current_worker

from triage.ui.widgets.confirm import ConfirmModal

if TYPE_CHECKING:
    from textual.app import App

    from triage.probes.live import EphemeralRequest

POLL = 0.05  # seconds between checks for cancellation while waiting for the answer


class NoAnswer(Exception):
    """The question went away unanswered (the step was cancelled, the app quit)."""


def debug_container_modal(request: EphemeralRequest) -> ConfirmModal:
    """The question: context, pod, image, why, and that the container cannot be removed."""
    return ConfirmModal(
        f"Add a debug container to pod {request.pod_key}?",
        [
            f"pod    {request.pod_key} (it joins container {request.target_container})",
            f"image  {request.image}",
            f"why    {request.reason}",
            "",
            "This patches pods/ephemeralcontainers: the probe then runs in the debug container, "
            "which shares the pod's network. An ephemeral container cannot be removed: it stays "
            "in the pod until the pod is deleted.",
            "Your answer holds for this pod until you reload (ctrl+r).",
        ],
        request.context,
        yes="Add it",
        no="No",
    )


def ask_from_thread(app: App[Any], modal: ConfirmModal) -> bool:
    """Show `modal` and wait for its answer. Call it from a thread worker, never the loop."""
    answered = threading.Event()
    answers: list[bool] = []

    def done(result: bool | None) -> None:
        answers.append(bool(result))
        answered.set()

    try:
        worker: Any = get_current_worker()
    except NoActiveWorker:
        worker = None
    app.call_from_thread(app.push_screen, modal, done)
    while not answered.wait(POLL):
        if worker is not None and worker.is_cancelled:
            with contextlib.suppress(Exception):  # the app may be gone already
                app.call_from_thread(_withdraw, modal)
            raise NoAnswer("the step was cancelled before the question was answered")
    return answers[0]


def _withdraw(modal: ConfirmModal) -> None:
    if modal.is_attached and modal.is_active:
        modal.dismiss(False)
