"""The untrusted-text helpers every output path goes through."""

import shlex

from triage.model.untrusted import clean, clean_lines, preview, shell_join

OSC52 = "\x1b]52;c;dG91Y2ggeA==\x1b\\"


def test_clean_replaces_escape_sequences_and_newlines() -> None:
    assert clean(f"prod{OSC52}\nx") == "prod\ufffd]52;c;dG91Y2ggeA==\ufffd\\\ufffdx"
    assert "\x1b" not in clean("\x9b2J")
    assert clean("\u202eevil") == "\ufffdevil"


def test_clean_lines_keeps_newlines_and_tabs_only() -> None:
    assert clean_lines("a\tb\r\nc\x07") == "a\tb\nc\ufffd"


def test_preview_is_bounded() -> None:
    assert len(preview("x" * 10_000)) == 80
    assert preview("short") == "short"


def test_shell_join_round_trips_hostile_names() -> None:
    argv = ["kubectl", "get", "pod", "web$(touch${IFS}x);y", "-n", "a b"]
    assert shlex.split(shell_join(argv)) == argv
