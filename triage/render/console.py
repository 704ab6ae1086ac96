"""The one way the CLI writes to a terminal or a pipe (the output trust boundary).

Names, notes, probe output and warnings come from recordings, manifests and clusters: any of
them may carry terminal escapes (OSC 52 writes the clipboard, OSC 8 makes links, CSI clears
the screen) or Rich markup. Two mechanisms, installed by `triage.cli.main` around every
command but the TUI, keep every byte of it inert:

- `CleanStream` (`triage/render/streams.py`) wraps `sys.stdout` and `sys.stderr`: every
  plain `print`/`write` (JSON, CSV, DOT, Markdown, YAML, plain text) goes through
  `clean_lines` (control characters become U+FFFD; newline and tab stay).
- `cli_console()` is the Rich console every command prints with. It writes to the stream
  under the wrapper (so Rich's own colours survive), cleans the text of every segment before
  styling it (`SafeConsole`), reads no markup in strings unless asked, and, when the output
  is not a terminal, is wide enough that no table cuts a name (`triage exposure ... | grep`
  must find what it looks for).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.segment import Segment
from rich.text import Text

from triage.model.untrusted import clean_lines
from triage.render.streams import raw_stream

# Width of a console that is not a terminal: wide enough for any row of names (a Pod name
# is at most 253 characters), so tables never truncate; rows are not padded to it.
PIPE_WIDTH = 4096
_TRAILING_SPACES = re.compile(r" +$", re.MULTILINE)


class SafeConsole(Console):
    """A Rich console that cleans the text of every segment before styling it: data with
    escape sequences prints as `web�]52;…`, while Rich's own control codes (cursor moves
    of a progress display) and colours pass."""

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        cleaned = (
            segment if segment.control else Segment(clean_lines(segment.text), segment.style)
            for segment in buffer
        )
        rendered = super()._render_buffer(cleaned)
        if not self.is_terminal:  # a pipe: no padding out to PIPE_WIDTH
            rendered = _TRAILING_SPACES.sub("", rendered)
        return rendered


def cli_console(*, stderr: bool = False, markup: bool = False, **options: Any) -> SafeConsole:
    """The console a command prints with (stdout, or stderr with `stderr=True`)."""
    stream = raw_stream(sys.stderr if stderr else sys.stdout)
    options.setdefault("highlight", False)
    console = SafeConsole(file=stream, markup=markup, **options)
    if not console.is_terminal and "width" not in options:
        console.width = PIPE_WIDTH
    return console


def warning_text(text: str) -> Text:
    """`warning: TEXT`, the text as data (never markup)."""
    return Text.assemble(("warning:", "yellow"), " ", text)


__all__ = ["PIPE_WIDTH", "SafeConsole", "cli_console", "warning_text"]
