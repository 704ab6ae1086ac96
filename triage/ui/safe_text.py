"""Outside data as Textual shows it: always text, never markup, control characters replaced.

A pod, a note or a probe output may hold `[link=file:///etc/passwd]x` (markup that styles,
or a `[/]` that crashes the markup parser) or an escape sequence (OSC 52 writes the
clipboard). Widgets get data through these helpers, `TriageApp` cleans notifications, the
header and the clipboard, and `ResourceTable` cleans its cells (docs/security.md).
"""

from __future__ import annotations

from rich.text import Text

from triage.model.untrusted import clean, clean_lines


def data_text(value: object, style: str = "") -> Text:
    """One line of data as Text (never markup)."""
    return Text(clean(value), style=style)


def data_block(value: object, style: str = "") -> Text:
    """Data over several lines (probe output, notes, YAML) as Text."""
    return Text(clean_lines(value), style=style)


__all__ = ["data_block", "data_text"]
