"""The CLI's standard streams with every control character of what is written replaced
(the output trust boundary for plain `print`/`write`: JSON, CSV, DOT, Markdown, YAML, text).

No Rich here: `triage.cli` wraps the streams of every command but the TUI, and short
commands must not pay for importing Rich. `triage/render/console.py` is the Rich side.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import IO

from triage.model.untrusted import clean_lines


class CleanStream(io.TextIOBase):
    """A text stream that writes `clean_lines(text)` to the stream it wraps."""

    def __init__(self, raw: IO[str]) -> None:
        self.raw = raw

    def write(self, text: str) -> int:
        self.raw.write(clean_lines(text))
        return len(text)

    def flush(self) -> None:
        self.raw.flush()

    def isatty(self) -> bool:
        return self.raw.isatty()

    def fileno(self) -> int:
        return self.raw.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.raw, "encoding", "utf-8")

    def writable(self) -> bool:
        return True


@contextmanager
def clean_streams() -> Iterator[None]:
    """sys.stdout and sys.stderr wrapped in CleanStream inside, as they were after."""
    saved = sys.stdout, sys.stderr
    if not isinstance(sys.stdout, CleanStream):
        sys.stdout = CleanStream(sys.stdout)
    if not isinstance(sys.stderr, CleanStream):
        sys.stderr = CleanStream(sys.stderr)
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            with suppress(Exception):
                stream.flush()
        sys.stdout, sys.stderr = saved


def raw_stream(stream: IO[str]) -> IO[str]:
    """The stream under a CleanStream (Rich writes there, after SafeConsole cleaned it)."""
    return stream.raw if isinstance(stream, CleanStream) else stream


__all__ = ["CleanStream", "clean_streams", "raw_stream"]
