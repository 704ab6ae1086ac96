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


def test_safe_console_cleans_data_and_keeps_its_own_colours() -> None:
    import io

    from rich.text import Text

    from triage.render.console import SafeConsole

    out = io.StringIO()
    console = SafeConsole(file=out, force_terminal=True, color_system="standard", width=80)
    console.print(Text(f"web{OSC52}", style="red"))
    text = out.getvalue()
    assert "\x1b[31m" in text  # Rich's own SGR survives
    assert "\x1b]" not in text and "\x07" not in text
    assert "web\ufffd]52;c;dG91Y2ggeA==\ufffd\\" in text


def test_clean_stream_cleans_every_write() -> None:
    import io

    from triage.render.streams import CleanStream

    raw = io.StringIO()
    CleanStream(raw).write(f"a{OSC52}\tb\n")
    assert raw.getvalue() == "a\ufffd]52;c;dG91Y2ggeA==\ufffd\\\tb\n"
