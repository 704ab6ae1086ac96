"""Text that came from outside: recordings, manifests, flow logs, a cluster's objects.

Every such string is untrusted. A name or note may carry terminal escape sequences (OSC 52
writes the clipboard, OSC 8 makes links, CSI clears the screen), bidirectional overrides that
make a line read differently from what it does, or shell metacharacters. Everything the tool
prints, writes to a file, puts on the clipboard or offers for pasting goes through one of
these functions first. docs/security.md says where each is applied.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable

# C0 controls but tab and newline, DEL, the C1 range, and the Unicode bidi controls
# (embedding/override/isolate marks) that can reorder what a terminal shows.
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_CONTROL_MULTILINE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}]")
_CONTROL_ONE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}]")

PREVIEW_LIMIT = 80


def clean(text: object) -> str:
    """One line, safe for any terminal: every control character becomes U+FFFD ("�").

    Replacing rather than deleting keeps the tampering visible: `web\\x1b]52;...` shows as
    `web�]52;...`, not as a plausible name.
    """
    return _CONTROL_ONE_LINE.sub("\ufffd", str(text))


def clean_lines(text: object) -> str:
    """Like `clean`, but keeps newlines and tabs (probe output, notes, YAML bodies)."""
    return _CONTROL_MULTILINE.sub("\ufffd", str(text).replace("\r\n", "\n"))


def preview(text: object, limit: int = PREVIEW_LIMIT) -> str:
    """A bounded, cleaned preview for error lines: never more than `limit` characters."""
    value = str(text)
    if len(value) > limit:
        value = f"{value[: max(limit - 1, 1)]}…"
    return clean(value)


def shell_join(argv: Iterable[object]) -> str:
    """A command line that is safe to paste: each argument cleaned, then quoted by shlex."""
    return shlex.join(clean(arg) for arg in argv)


def shell_quote(arg: object) -> str:
    """One argument of a command line offered for pasting, cleaned and quoted."""
    return shlex.quote(clean(arg))


# CommonMark lets a backslash escape any ASCII punctuation; these are the characters that
# start emphasis, code, links, HTML, entities and table cells.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|&~])")


def markdown_text(text: object) -> str:
    """Data inside a Markdown line: one line, control characters replaced, and every
    character that Markdown would read as emphasis, code, a link, HTML or a table cell
    escaped, so `[x](javascript:…)` or `<img src=…>` shows as written."""
    one_line = clean_lines(text).replace("\n", " ").replace("\t", " ")
    return _MARKDOWN_SPECIAL.sub(r"\\\1", one_line)


def markdown_code(text: object) -> str:
    """Data as an inline code span, whatever backticks it holds."""
    value = clean(text)
    fence = "`"
    while fence in value:
        fence += "`"
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def markdown_fence(text: object, lang: str = "") -> list[str]:
    """Data as a fenced code block (lines), the fence longer than any backtick run in it."""
    value = clean_lines(text).rstrip("\n")
    fence = "```"
    while fence in value:
        fence += "`"
    return [f"{fence}{lang}", value, fence]
