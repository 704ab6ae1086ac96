"""The pure parts of the UI: the `/` filter and the flow picker's fuzzy completion."""

from __future__ import annotations

import pytest

from triage.model import LabelSelector, Requirement
from triage.ui.filtering import FilterSyntaxError, apply, make_row, parse_query
from triage.ui.fuzzy import Completion, rank

ROWS = [
    make_row("a", "a", ["develop", "frontend-7d4b9c-x2kq"], {"app": "frontend", "tier": "web"}),
    make_row("b", "b", ["develop", "backend-6c8f9-h4lm"], {"app": "backend", "tier": "api"}),
    make_row("c", "c", ["production", "production-db-0"], {"app": "production-db"}),
]


def keys(query: str) -> list[str]:
    return [r.key for r in apply(ROWS, parse_query(query))]


def test_text_filter_is_a_case_insensitive_substring_of_any_column() -> None:
    assert keys("") == ["a", "b", "c"]
    assert keys("END") == ["a", "b"]
    assert keys("production") == ["c"]
    assert keys("!develop") == ["c"]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("-l app=backend", ["b"]),
        ("-l tier!=web", ["b", "c"]),
        ("-l tier", ["a", "b"]),
        ("-l !tier", ["c"]),
        ("-l app in (frontend,backend),tier=web", ["a"]),
        ("-l app notin (frontend)", ["b", "c"]),
        ("-l app==frontend", ["a"]),
        ("-l", ["a", "b", "c"]),
    ],
)
def test_label_filter(selector: str, expected: list[str]) -> None:
    assert keys(selector) == expected


def test_label_terms_parse_like_kubectl() -> None:
    assert parse_query("-l app in (a, b)").labels == LabelSelector(
        match_expressions=(Requirement("app", "In", ("a", "b")),)
    )
    assert parse_query("-l app=web,tier!=db,!debug,env").labels == LabelSelector(
        (("app", "web"),),
        (
            Requirement("tier", "NotIn", ("db",)),
            Requirement("debug", "DoesNotExist"),
            Requirement("env", "Exists"),
        ),
    )
    with pytest.raises(FilterSyntaxError):
        parse_query("-l app in a,b")
    with pytest.raises(FilterSyntaxError):
        parse_query("-l =x")


@pytest.mark.parametrize(
    "text",
    ["app=web", "app=web,tier in (a,b)", "env notin (prod),!debug,team", "a=1,b=2,c in (x)"],
)
def test_a_selector_reads_back_from_its_own_rendering(text: str) -> None:
    """The `-l` parser is the inverse of `LabelSelector.describe` (what screens show)."""
    selector = parse_query(f"-l {text}").labels
    assert selector.describe() == text
    assert parse_query(f"-l {selector.describe()}").labels == selector


def test_namespace_labels_are_searchable_without_a_column() -> None:
    row = make_row("ns", "ns", ["develop", "4"], {"env": "dev"}, also="env=dev")
    assert apply([row], parse_query("env=dev")) == [row]


PODS = [
    Completion(v, v)
    for v in (
        "checkout/checkout-api-6b8f7d9c4-kz4vn",
        "checkout/checkout-web-7c9d8f6b5-8hx2p",
        "kube-system/coredns-5c9d8b7f4-h2k8m",
        "monitoring/prometheus-k8s-0",
    )
]


def test_rank_prefers_prefix_then_substring_then_subsequence() -> None:
    assert rank("kube", PODS)[0].value == "kube-system/coredns-5c9d8b7f4-h2k8m"
    assert [c.value for c in rank("web", PODS)] == ["checkout/checkout-web-7c9d8f6b5-8hx2p"]
    # not a substring anywhere: in-order letters, fewest gaps first
    assert [c.value for c in rank("cwe8h", PODS)] == ["checkout/checkout-web-7c9d8f6b5-8hx2p"]
    assert rank("zzz", PODS) == []
    assert len(rank("", PODS, limit=2)) == 2
