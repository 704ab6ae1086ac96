"""Errors a source reports: one line each, naming the file, the object and the field."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from triage.model.untrusted import preview


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    obj: str  # `Kind namespace/name`, or `document N` when the object has no name yet
    field: str
    message: str
    # True for a value the apiserver would refuse that still leaves the object readable
    # (a name or label out of syntax): an error from files, a warning from a live cluster.
    object_usable: bool = dataclasses.field(default=False, compare=False)

    def __str__(self) -> str:
        """One bounded line, control characters replaced: parts come from the input."""
        parts = [
            preview(self.file, 200),
            preview(self.obj, 160),
            preview(self.field, 160),
            preview(self.message, 300),
        ]
        return ": ".join(p for p in parts if p)


class SourceError(Exception):
    """Input that cannot be used. Carries every problem found, one line each."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def single(cls, file: str, message: str, obj: str = "", field: str = "") -> SourceError:
        return cls([Problem(file, obj, field, message)])
