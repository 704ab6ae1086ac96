"""Errors a source reports: one line each, naming the file, the object and the field."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    obj: str  # `Kind namespace/name`, or `document N` when the object has no name yet
    field: str
    message: str

    def __str__(self) -> str:
        parts = [self.file, self.obj, self.field, self.message]
        return ": ".join(p for p in parts if p)


class SourceError(Exception):
    """Input that cannot be used. Carries every problem found, one line each."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def single(cls, file: str, message: str, obj: str = "", field: str = "") -> SourceError:
        return cls([Problem(file, obj, field, message)])
