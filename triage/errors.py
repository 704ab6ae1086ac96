"""The errors that mean "bad input" (exit 2, one line each, no traceback)."""

from __future__ import annotations

from triage.model import FlowSyntaxError
from triage.policy import UnknownEndpoint
from triage.sources.errors import SourceError


class UsageError(Exception):
    """Anything else the user got wrong: a missing option, a refused confirmation."""


class ClusterError(Exception):
    """The cluster could not be reached or refused a call; the message says which."""


USAGE_ERRORS: tuple[type[BaseException], ...] = (
    SourceError,
    UnknownEndpoint,
    FlowSyntaxError,
    UsageError,
    ClusterError,
)


def error_line(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, KeyError | LookupError) and text.startswith("'") and text.endswith("'"):
        text = text[1:-1]
    return text
