"""App-level messages: facts that cross screens, named in the past tense
(docs/architecture.md "The TUI").

Widget-local messages live nested in their widget (`ResourceTable.RowSelected`).
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from triage.checklist import StepResult
from triage.model.incident import KnownGood
from triage.ui.session import Session


@dataclass
class LoadProgressed(Message):
    """A loader reported progress ("pods: 500"); only the latest one matters."""

    text: str

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LoadProgressed)


@dataclass
class SessionLoaded(Message):
    session: Session
    known_good: KnownGood | None = None  # what "what changed" compares with


@dataclass
class StepFinished(Message, bubble=False):
    """A checklist step's worker is done; `result` carries its status and evidence."""

    step_id: str
    result: StepResult
