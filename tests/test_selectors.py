"""Label selectors: matchLabels AND matchExpressions, the four operators, and the reasons
given when a selector does not match."""

from __future__ import annotations

import pytest

from triage.model import LabelSelector, Requirement
from triage.policy import selector_failures, selector_matches


def sel(
    match_labels: dict[str, str] | None = None, *exprs: tuple[str, str, tuple[str, ...]]
) -> LabelSelector:
    return LabelSelector(
        tuple(sorted((match_labels or {}).items())),
        tuple(Requirement(k, op, vals) for k, op, vals in exprs),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        # The empty selector selects everything, even an unlabelled object.
        (sel(), {}, True),
        (sel(), {"app": "web"}, True),
        (sel({"app": "web"}), {"app": "web", "tier": "x"}, True),
        (sel({"app": "web"}), {"app": "api"}, False),
        (sel({"app": "web"}), {}, False),
        # matchLabels AND matchExpressions.
        (sel({"app": "web"}, ("tier", "In", ("a",))), {"app": "web", "tier": "a"}, True),
        (sel({"app": "web"}, ("tier", "In", ("a",))), {"app": "web", "tier": "b"}, False),
        (sel({"app": "web"}, ("tier", "In", ("a",))), {"app": "api", "tier": "a"}, False),
        # In
        (sel(None, ("app", "In", ("a", "b"))), {"app": "b"}, True),
        (sel(None, ("app", "In", ("a", "b"))), {"app": "c"}, False),
        (sel(None, ("app", "In", ("a", "b"))), {}, False),
        # NotIn matches when the key is absent.
        (sel(None, ("app", "NotIn", ("a", "b"))), {"app": "c"}, True),
        (sel(None, ("app", "NotIn", ("a", "b"))), {}, True),
        (sel(None, ("app", "NotIn", ("a", "b"))), {"app": "a"}, False),
        # Exists / DoesNotExist (DoesNotExist matches when the key is absent).
        (sel(None, ("app", "Exists", ())), {"app": ""}, True),
        (sel(None, ("app", "Exists", ())), {}, False),
        (sel(None, ("app", "DoesNotExist", ())), {}, True),
        (sel(None, ("app", "DoesNotExist", ())), {"app": "x"}, False),
        # Several expressions are ANDed.
        (
            sel(None, ("app", "Exists", ()), ("debug", "DoesNotExist", ())),
            {"app": "x", "debug": "1"},
            False,
        ),
        (sel(None, ("app", "Exists", ()), ("debug", "DoesNotExist", ())), {"app": "x"}, True),
    ],
)
def test_selector_matches(selector: LabelSelector, labels: dict[str, str], expected: bool) -> None:
    assert selector_matches(selector, labels) is expected
    # The two functions agree: no failures exactly when the selector matches.
    assert (selector_failures(selector, labels, "source") == ()) is expected


def _one(selector: LabelSelector, labels: dict[str, str]) -> tuple[str, str, str | None]:
    (reason,) = selector_failures(selector, labels, "source")
    return reason.code, reason.text, reason.key


def test_reason_label_missing_from_match_labels() -> None:
    assert _one(sel({"app": "web"}), {}) == (
        "label-missing",
        "source has no label app (needs app=web)",
        "app",
    )


def test_reason_label_value_from_match_labels() -> None:
    assert _one(sel({"app": "web"}), {"app": "api"}) == (
        "label-value",
        "source label app=api is not app=web",
        "app",
    )


def test_reason_in_value_not_in_set() -> None:
    selector = sel(None, ("app", "In", ("frontend", "frontend-primary")))
    assert _one(selector, {"app": "frontend-canary"}) == (
        "value-not-in",
        "source label app=frontend-canary is not in [frontend, frontend-primary]",
        "app",
    )


def test_reason_in_key_missing() -> None:
    selector = sel(None, ("app", "In", ("a", "b")))
    assert _one(selector, {}) == (
        "label-missing",
        "source has no label app (needs one of [a, b])",
        "app",
    )


def test_reason_notin_value_excluded() -> None:
    selector = sel(None, ("env", "NotIn", ("prod",)))
    assert _one(selector, {"env": "prod"}) == (
        "value-in",
        "source label env=prod is excluded by NotIn [prod]",
        "env",
    )


def test_reason_exists_missing() -> None:
    assert _one(sel(None, ("team", "Exists", ())), {}) == (
        "label-missing",
        "source has no label team (selector requires it to exist)",
        "team",
    )


def test_reason_does_not_exist_present() -> None:
    assert _one(sel(None, ("debug", "DoesNotExist", ())), {"debug": "true"}) == (
        "label-present",
        "source has label debug=true (selector requires it to be absent)",
        "debug",
    )


def test_every_failed_term_is_reported() -> None:
    selector = sel({"app": "web", "tier": "front"}, ("env", "In", ("prod",)))
    reasons = selector_failures(selector, {"app": "api", "env": "dev"}, "destination")
    assert [r.code for r in reasons] == ["label-value", "label-missing", "value-not-in"]
    assert all(r.subject == "destination" for r in reasons)


def test_describe_is_kubectl_style() -> None:
    selector = sel(
        {"app": "web"},
        ("tier", "In", ("a", "b")),
        ("env", "NotIn", ("prod",)),
        ("team", "Exists", ()),
        ("debug", "DoesNotExist", ()),
    )
    assert selector.describe() == "app=web,tier in (a,b),env notin (prod),team,!debug"
    assert sel().describe() == "{} (all)"
