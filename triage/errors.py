"""The errors that mean "bad input" (exit 2, one line each, no traceback).

A leaf: every layer may raise these, so this module imports nothing of triage. The full list
the CLI turns into exit 2 (these plus the input errors each layer owns: `SourceError`,
`UnknownEndpoint`, `FlowSyntaxError`) is `triage.cli.usage_errors()`.
"""

from __future__ import annotations


class UsageError(Exception):
    """Anything else the user got wrong: a missing option, a refused confirmation."""


class ClusterError(Exception):
    """The cluster could not be reached or refused a call; the message says which."""


def error_line(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, KeyError | LookupError) and text.startswith("'") and text.endswith("'"):
        text = text[1:-1]
    return text
