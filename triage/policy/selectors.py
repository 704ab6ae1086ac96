"""Label selectors: a fast yes/no, and the reasons when the answer is no."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from triage.model import LabelSelector, Requirement
from triage.model.objects import shown_value
from triage.policy.trace import Reason, Term


def requirement_matches(req: Requirement, labels: Mapping[str, str]) -> bool:
    value = labels.get(req.key)
    if req.operator == "In":
        return value is not None and value in req.values
    if req.operator == "NotIn":
        return value is None or value not in req.values
    if req.operator == "Exists":
        return value is not None
    return value is None  # DoesNotExist


def selector_matches(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    for key, value in selector.match_labels:
        if labels.get(key) != value:
            return False
    return all(requirement_matches(req, labels) for req in selector.match_expressions)


def _fmt_set(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(shown_value(v) for v in values) + "]"


@lru_cache(maxsize=4096)
def requirement_text(req: Requirement) -> str:
    """One matchExpressions entry, kubectl-style: `tier in (a,b)`, `!debug`."""
    return LabelSelector((), (req,)).describe()


def unsatisfiable(selector: LabelSelector) -> str | None:
    """Why no label set can ever match `selector` (its terms contradict each other, or an
    In has no values), or None when some label set matches it."""
    # Per key: the values allowed (None: any value), whether it must exist / be absent.
    allowed: dict[str, set[str] | None] = {}
    must_exist: dict[str, str] = {}
    must_be_absent: dict[str, str] = {}
    excluded: dict[str, set[str]] = {}

    def narrow(key: str, values: set[str]) -> None:
        current = allowed.get(key)
        allowed[key] = set(values) if current is None else current & values

    for key, value in selector.match_labels:
        narrow(key, {value})
        must_exist[key] = f"{key}={value}"
    for req in selector.match_expressions:
        text = requirement_text(req)
        if req.operator == "In":
            if not req.values:
                return f"{text} has no values: it matches nothing"
            narrow(req.key, set(req.values))
            must_exist.setdefault(req.key, text)
        elif req.operator == "NotIn":
            excluded.setdefault(req.key, set()).update(req.values)
        elif req.operator == "Exists":
            must_exist.setdefault(req.key, text)
        else:
            must_be_absent[req.key] = text
    for key, why in must_be_absent.items():
        if key in must_exist:
            return f"{must_exist[key]} and {why} contradict each other"
    for key, values in allowed.items():
        if values is not None and not values - excluded.get(key, set()):
            terms = [f"{k}={v}" for k, v in selector.match_labels if k == key]
            terms += [requirement_text(r) for r in selector.match_expressions if r.key == key]
            return f"{' and '.join(terms)} leave no value of {key} possible"
    return None


def selector_failures(
    selector: LabelSelector,
    labels: Mapping[str, str],
    subject: str,
    term: Term | None = None,
) -> tuple[Reason, ...]:
    """Every term of `selector` that `labels` fail, as reasons naming `subject`.

    `subject` reads as the owner of the labels: "source", "destination", "namespace develop";
    `term` says which selector of a peer this is (pod or namespace).
    """
    reasons: list[Reason] = []
    for key, want in selector.match_labels:
        have = labels.get(key)
        if have is None:
            reasons.append(
                Reason(
                    "label-missing",
                    f"{subject} has no label {key} (needs {key}={want})",
                    subject,
                    key,
                    None,
                    (want,),
                    term,
                    f"{key}={want}",
                )
            )
        elif have != want:
            reasons.append(
                Reason(
                    "label-value",
                    f"{subject} label {key}={have} is not {key}={want}",
                    subject,
                    key,
                    have,
                    (want,),
                    term,
                    f"{key}={want}",
                )
            )
    for req in selector.match_expressions:
        if requirement_matches(req, labels):
            continue
        have = labels.get(req.key)
        need = requirement_text(req)
        if req.operator == "In" and have is None:
            text = f"{subject} has no label {req.key} (needs one of {_fmt_set(req.values)})"
            reasons.append(
                Reason("label-missing", text, subject, req.key, None, req.values, term, need)
            )
        elif req.operator == "In":
            text = f"{subject} label {req.key}={have} is not in {_fmt_set(req.values)}"
            reasons.append(
                Reason("value-not-in", text, subject, req.key, have, req.values, term, need)
            )
        elif req.operator == "NotIn":
            text = f"{subject} label {req.key}={have} is excluded by NotIn {_fmt_set(req.values)}"
            reasons.append(Reason("value-in", text, subject, req.key, have, req.values, term, need))
        elif req.operator == "Exists":
            text = f"{subject} has no label {req.key} (selector requires it to exist)"
            reasons.append(Reason("label-missing", text, subject, req.key, None, (), term, need))
        else:
            text = f"{subject} has label {req.key}={have} (selector requires it to be absent)"
            reasons.append(Reason("label-present", text, subject, req.key, have, (), term, need))
    return tuple(reasons)


# ---------------------------------------------------------------- kubectl's `-l` syntax


class SelectorSyntaxError(ValueError):
    """A `-l` selector that does not read; the message names the term."""


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


def _parse_term(text: str) -> tuple[str, str] | Requirement:
    """One term: `k=v` (or kubectl's `k==v`) is a matchLabels pair; `k!=v` is NotIn (v) (it
    matches when the label is absent too, as kubectl's does); `k` Exists; `!k`
    DoesNotExist; `k in (a,b)`; `k notin (a,b)`."""
    lowered = text.lower()
    for word, op in ((" notin ", "NotIn"), (" in ", "In")):
        if word in lowered:
            at = lowered.index(word)
            key, rest = text[:at].strip(), text[at + len(word) :].strip()
            if not (rest.startswith("(") and rest.endswith(")")) or not key:
                raise SelectorSyntaxError(f"{text!r}: expected KEY {op.lower()} (V1,V2)")
            values = tuple(v.strip() for v in rest[1:-1].split(",") if v.strip())
            return Requirement(key, "In" if op == "In" else "NotIn", values)
    if "!=" in text:
        key, value = text.split("!=", 1)
        if not key.strip():
            raise SelectorSyntaxError(f"{text!r}: a label key is missing")
        return Requirement(key.strip(), "NotIn", (value.strip(),))
    if "=" in text:
        key, value = text.split("=", 1)
        key, value = key.rstrip("="), value.lstrip("=")
        if not key.strip():
            raise SelectorSyntaxError(f"{text!r}: a label key is missing")
        return (key.strip(), value.strip())
    if text.startswith("!"):
        return Requirement(text[1:].strip(), "DoesNotExist")
    return Requirement(text.strip(), "Exists")


def parse_label_selector(text: str) -> LabelSelector:
    """kubectl's `-l` syntax (`app=web,tier!=db,env in (a,b),!debug`) as a LabelSelector,
    matched by `selector_matches` like any policy's. The inverse of `LabelSelector.describe`
    for selectors whose values are not empty."""
    match_labels: list[tuple[str, str]] = []
    expressions: list[Requirement] = []
    for term in _split_terms(text):
        parsed = _parse_term(term)
        if isinstance(parsed, Requirement):
            expressions.append(parsed)
        else:
            match_labels.append(parsed)
    return LabelSelector(tuple(match_labels), tuple(expressions))
