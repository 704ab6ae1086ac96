"""The `/` filter of the tables, k9s style: plain text, or `-l` with a label selector (read
and matched by `triage.policy.selectors`, the same code that matches policies' selectors).

Pure and Textual-free so the 10k-row path can be measured and tested without an app.
Rows carry a pre-lowered search string and their labels; a keystroke is one pass over them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from triage.model import LabelSelector
from triage.policy.selectors import SelectorSyntaxError, parse_label_selector, selector_matches

T = TypeVar("T")


class FilterSyntaxError(ValueError):
    """The filter could not be read; the message says which part."""


@dataclass(frozen=True, slots=True)
class Query:
    text: str = ""  # lower-cased substring
    inverse: bool = False  # `!text`: rows that do NOT contain it
    labels: LabelSelector = field(default_factory=LabelSelector)  # `-l`, as policies match

    @property
    def is_empty(self) -> bool:
        return not self.text and self.labels.is_empty

    def matches(self, search: str, labels: Mapping[str, str]) -> bool:
        if self.text and ((self.text in search) == self.inverse):
            return False
        return selector_matches(self.labels, labels)


def parse_query(text: str) -> Query:
    """`web` (substring), `!web` (inverse), `-l app=web,tier!=db` (labels), or both:
    `-l app=web back` is not supported: a `-l` filter takes the whole line, as in k9s."""
    text = text.strip()
    if text.startswith("-l"):
        selector = text[2:].strip()
        if not selector:
            return Query()
        try:
            return Query(labels=parse_label_selector(selector))
        except SelectorSyntaxError as exc:
            raise FilterSyntaxError(str(exc)) from None
    if text.startswith("!") and len(text) > 1:
        return Query(text=text[1:].lower(), inverse=True)
    return Query(text=text.lower())


@dataclass(frozen=True, slots=True)
class Row(Generic[T]):
    """A table row: the object, its cells, what `/` searches and the labels `-l` tests."""

    key: str
    item: T
    cells: tuple[str, ...]
    search: str
    labels: Mapping[str, str]


def make_row(
    key: str,
    item: T,
    cells: Sequence[str],
    labels: Mapping[str, str] | None = None,
    also: str = "",
) -> Row[T]:
    """`also`: text that `/` finds though no column shows it (a namespace's labels)."""
    search = " ".join([*cells, also]).lower() if also else " ".join(cells).lower()
    return Row(key, item, tuple(cells), search, labels or {})


def apply(rows: Sequence[Row[T]], query: Query) -> Sequence[Row[T]]:
    if query.is_empty:
        return rows
    match: Callable[[str, Mapping[str, str]], bool] = query.matches
    return [row for row in rows if match(row.search, row.labels)]


def format_labels(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
