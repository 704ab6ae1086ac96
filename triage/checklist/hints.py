"""Near-miss hints for labels: the value (or key) a selector probably meant.

`app=frontend-canary is not in [frontend, frontend-primary]; did you mean frontend?`
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from triage.policy import Reason

LABEL_CODES = frozenset(
    {"label-missing", "label-value", "value-not-in", "value-in", "label-present"}
)


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def closest(actual: str, options: Iterable[str]) -> tuple[str, str] | None:
    """The option `actual` most probably meant, and why: "case" (same but for case),
    "variant" (`frontend-canary` is a variant of `frontend`), "typo" (a small edit distance).
    None when nothing is close."""
    options = [o for o in options if o != actual]
    for option in options:
        if option.lower() == actual.lower():
            return option, "case"
    scored: list[tuple[int, int, str, str]] = []
    for option in options:
        distance = edit_distance(actual, option)
        if actual.startswith(option + "-") or option.startswith(actual + "-"):
            scored.append((0, distance, option, "variant"))
        elif distance <= max(2, min(len(actual), len(option)) // 4):
            scored.append((1, distance, option, "typo"))
    if not scored:
        return None
    _, _, option, why = min(scored)
    return option, why


def near_miss_hint(reason: Reason, labels: Mapping[str, str]) -> str:
    """A hint for one failed selector term, given the labels it was checked against; ""
    when no likely intent can be told."""
    if reason.code in ("label-value", "value-not-in") and reason.actual is not None:
        found = closest(reason.actual, reason.expected)
        if found is None:
            return ""
        option, why = found
        if why == "case":
            return f"values are case-sensitive: {reason.actual} vs {option}"
        return f"did you mean {option}?"
    if reason.code == "label-missing" and reason.key:
        found = closest(reason.key, labels)
        if found is not None:
            key, why = found
            value = labels[key]
            if why == "case":
                return f"it has {key}={value}: label keys are case-sensitive"
            return f"it has {key}={value}; did you mean key {reason.key}?"
        for key, value in labels.items():
            if value in reason.expected:
                return f"it has {key}={value}: the same value under another key"
    return ""


def with_hint(reason: Reason, labels: Mapping[str, str]) -> str:
    hint = near_miss_hint(reason, labels)
    return f"{reason.text}; {hint}" if hint else reason.text


def format_labels(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "(no labels)"
