"""The `/` filter of the tables, k9s style: plain text, or `-l` with a label selector.

Pure and Textual-free so the 10k-row path can be measured and tested without an app.
Rows carry a pre-lowered search string and their labels; a keystroke is one pass over them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


class FilterSyntaxError(ValueError):
    """The filter could not be read; the message says which part."""


@dataclass(frozen=True, slots=True)
class Term:
    """One term of a `-l` selector: `k=v`, `k!=v`, `k` (exists), `!k` (absent),
    `k in (a,b)`, `k notin (a,b)`."""

    key: str
    op: str  # "=", "!=", "exists", "!exists", "in", "notin"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        have = labels.get(self.key)
        if self.op == "=":
            return have == self.values[0]
        if self.op == "!=":
            return have != self.values[0]
        if self.op == "exists":
            return have is not None
        if self.op == "!exists":
            return have is None
        if self.op == "in":
            return have is not None and have in self.values
        return have is None or have not in self.values  # notin


@dataclass(frozen=True, slots=True)
class Query:
    text: str = ""  # lower-cased substring
    inverse: bool = False  # `!text`: rows that do NOT contain it
    labels: tuple[Term, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.text and not self.labels

    def matches(self, search: str, labels: Mapping[str, str]) -> bool:
        if self.text and ((self.text in search) == self.inverse):
            return False
        return all(term.matches(labels) for term in self.labels)


def _split_terms(text: str) -> list[str]:
    """Split on commas outside parentheses: `app in (a,b),tier=web`."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(text[start:i])
            start = i + 1
    out.append(text[start:])
    return [t.strip() for t in out if t.strip()]


def parse_term(text: str) -> Term:
    lowered = text.lower()
    for word, op in ((" notin ", "notin"), (" in ", "in")):
        if word in lowered:
            at = lowered.index(word)
            key, rest = text[:at].strip(), text[at + len(word) :].strip()
            if not (rest.startswith("(") and rest.endswith(")")) or not key:
                raise FilterSyntaxError(f"{text!r}: expected KEY {op} (V1,V2)")
            values = tuple(v.strip() for v in rest[1:-1].split(",") if v.strip())
            return Term(key, op, values)
    if "!=" in text:
        key, value = text.split("!=", 1)
        op = "!="
    elif "=" in text:
        key, value = text.split("=", 1)
        key, value = key.rstrip("="), value.lstrip("=")  # `k==v` as kubectl allows
        op = "="
    elif text.startswith("!"):
        return Term(text[1:].strip(), "!exists")
    else:
        return Term(text.strip(), "exists")
    if not key.strip():
        raise FilterSyntaxError(f"{text!r}: a label key is missing")
    return Term(key.strip(), op, (value.strip(),))


def parse_query(text: str) -> Query:
    """`web` (substring), `!web` (inverse), `-l app=web,tier!=db` (labels), or both:
    `-l app=web back` is not supported: a `-l` filter takes the whole line, as in k9s."""
    text = text.strip()
    if text.startswith("-l"):
        selector = text[2:].strip()
        if not selector:
            return Query()
        return Query(labels=tuple(parse_term(t) for t in _split_terms(selector)))
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
