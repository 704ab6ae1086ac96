"""Label selectors: a fast yes/no, and the reasons when the answer is no."""

from __future__ import annotations

from collections.abc import Mapping

from triage.model import LabelSelector, Requirement
from triage.model.objects import shown_value
from triage.policy.trace import Reason


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


def selector_failures(
    selector: LabelSelector, labels: Mapping[str, str], subject: str
) -> tuple[Reason, ...]:
    """Every term of `selector` that `labels` fail, as reasons naming `subject`.

    `subject` reads as the owner of the labels: "source", "destination", "namespace develop".
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
                )
            )
    for req in selector.match_expressions:
        if requirement_matches(req, labels):
            continue
        have = labels.get(req.key)
        if req.operator == "In" and have is None:
            text = f"{subject} has no label {req.key} (needs one of {_fmt_set(req.values)})"
            reasons.append(Reason("label-missing", text, subject, req.key, None, req.values))
        elif req.operator == "In":
            text = f"{subject} label {req.key}={have} is not in {_fmt_set(req.values)}"
            reasons.append(Reason("value-not-in", text, subject, req.key, have, req.values))
        elif req.operator == "NotIn":
            text = f"{subject} label {req.key}={have} is excluded by NotIn {_fmt_set(req.values)}"
            reasons.append(Reason("value-in", text, subject, req.key, have, req.values))
        elif req.operator == "Exists":
            text = f"{subject} has no label {req.key} (selector requires it to exist)"
            reasons.append(Reason("label-missing", text, subject, req.key))
        else:
            text = f"{subject} has label {req.key}={have} (selector requires it to be absent)"
            reasons.append(Reason("label-present", text, subject, req.key, have))
    return tuple(reasons)
