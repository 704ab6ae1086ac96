"""labelSelector / fieldSelector query strings, and LabelSelector → text for Table cells."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .objects import JsonDict, dig
from .status import bad_request

Predicate = Callable[[JsonDict], bool]

_SET_TERM = re.compile(r"^\s*(!?)\s*([^\s!=(),]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")
_EQ_TERM = re.compile(r"^\s*([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)\s*$")


def _split_terms(selector: str) -> list[str]:
    terms: list[str] = []
    current: list[str] = []
    depth = 0
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(char)
    terms.append("".join(current))
    return [t for t in terms if t.strip()]


def _label_term(term: str) -> Callable[[Mapping[str, str]], bool]:
    eq = _EQ_TERM.match(term)
    if eq:
        key, op, value = eq.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: key in labels and labels[key] == value
    match = _SET_TERM.match(term)
    if not match:
        raise bad_request(f"unable to parse requirement: {term.strip()!r}")
    negated, key, op, raw_values = match.groups()
    if op:
        if negated:
            raise bad_request(f"unable to parse requirement: {term.strip()!r}")
        values = {v.strip() for v in raw_values.split(",") if v.strip()}
        if op == "in":
            return lambda labels: key in labels and labels[key] in values
        return lambda labels: key not in labels or labels[key] not in values
    if negated:
        return lambda labels: key not in labels
    return lambda labels: key in labels


def label_predicate(selector: str) -> Predicate | None:
    terms = [_label_term(t) for t in _split_terms(selector)]
    if not terms:
        return None

    def matches(obj: JsonDict) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(term(labels) for term in terms)

    return matches


def field_predicate(selector: str) -> Predicate | None:
    """Equality field selectors on any dotted path (metadata.name, status.phase, ...).

    The apiserver accepts only a few fields per resource; being more lenient here keeps
    fixtures simple and never changes the answer for the supported ones.
    """
    terms: list[tuple[str, bool, str]] = []
    for term in _split_terms(selector):
        match = _EQ_TERM.match(term)
        if not match:
            raise bad_request(f"invalid selector: '{selector}'; can't understand '{term.strip()}'")
        path, op, value = match.groups()
        terms.append((path, op != "!=", value))
    if not terms:
        return None

    def matches(obj: JsonDict) -> bool:
        for path, equal, value in terms:
            actual = dig(obj, path)
            actual_text = "" if actual is None else str(actual)
            if (actual_text == value) != equal:
                return False
        return True

    return matches


def combine(*predicates: Predicate | None) -> Predicate | None:
    active = [p for p in predicates if p is not None]
    if not active:
        return None
    if len(active) == 1:
        return active[0]
    return lambda obj: all(p(obj) for p in active)


def format_label_selector(selector: Mapping[str, Any] | None) -> str:
    """metav1.FormatLabelSelector: what kubectl shows in POD-SELECTOR."""
    if not selector:
        return "<none>"
    parts: list[tuple[str, str]] = []
    for key, value in (selector.get("matchLabels") or {}).items():
        parts.append((key, f"{key}={value}"))
    for expr in selector.get("matchExpressions") or []:
        key, op = expr.get("key", ""), expr.get("operator", "")
        values = ",".join(sorted(expr.get("values") or []))
        text = {
            "In": f"{key} in ({values})",
            "NotIn": f"{key} notin ({values})",
            "Exists": key,
            "DoesNotExist": f"!{key}",
        }.get(op, f"{key} {op}")
        parts.append((key, text))
    parts.sort(key=lambda p: p[0])
    return ",".join(text for _, text in parts) or "<none>"
