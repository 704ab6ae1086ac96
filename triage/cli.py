"""The `triage` command: parses arguments and hands them to one command module.

Each command lives in `triage/commands/<name>.py` with `register(subparsers)` and
`run(args) -> int`. A command line that names a command imports that command's module only
(`triage matrix` never imports the TUI's, the recorder's or the rollback's); `triage --help`
imports them all to list them. Heavy imports (Textual, the kubernetes client, Rich) stay
inside `run`, so that short commands start fast (benchmarks/bench_startup.py measures it).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from contextlib import nullcontext
from types import ModuleType
from typing import Any

from triage.errors import ClusterError, UsageError, error_line
from triage.model.untrusted import preview
from triage.render.streams import clean_streams

# Commands that run the Textual UI (which owns the terminal).
TUI_COMMANDS = frozenset({"tui", "replay", "demo"})
# The most error lines printed for one failure (a file with 10k bad objects).
MAX_ERROR_LINES = 50

# Order is the order of `triage --help`.
COMMANDS = (
    "tui",
    "replay",
    "demo",
    "explain",
    "flows",
    "record",
    "snapshot",
    "rollback",
    "rollout",
    "lint",
    "exposure",
    "matrix",
)


def _available_commands(names: Sequence[str] = COMMANDS) -> list[ModuleType]:
    modules: list[ModuleType] = []
    for name in names:
        try:
            modules.append(importlib.import_module(f"triage.commands.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"triage.commands.{name}":
                raise
    return modules


def usage_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean bad input: one line each, exit 2, no traceback. Each layer
    owns its own (a file that does not parse, a pod the snapshot lacks, a flow that does not
    read); they are imported only when a command fails, so start-up does not pay for them."""
    from triage.model import FlowSyntaxError
    from triage.policy import UnknownEndpoint
    from triage.sources.errors import SourceError

    return (SourceError, UnknownEndpoint, FlowSyntaxError, UsageError, ClusterError)


def _default_command_options(subparsers: argparse._SubParsersAction[Any]) -> str:
    """The options of `triage tui` as its own help prints them: `triage` alone (or with
    only options) runs it, so `triage --help` shows what it accepts."""
    tui = subparsers.choices.get("tui")
    if tui is None:
        return ""
    formatter = tui._get_formatter()
    for group in tui._action_groups:
        actions = [a for a in group._group_actions if a.dest != "help"]
        if not actions:
            continue
        formatter.start_section(group.title)
        formatter.add_arguments(actions)
        formatter.end_section()
    options: str = formatter.format_help()
    return (
        "without a COMMAND, `triage [OPTIONS]` opens the TUI on the live cluster "
        "(`triage tui`):\n\n" + options
    )


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of the command `only` alone (what a command line
    that names it needs; the top-level help then lists that command only)."""
    from triage import __version__

    parser = argparse.ArgumentParser(
        prog="triage",
        description="Why is my traffic blocked? NetworkPolicy triage, explanation and rollback.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"triage {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _available_commands(COMMANDS if only is None else (only,)):
        module.register(subparsers)
    if only is None:
        parser.epilog = _default_command_options(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # `triage` alone, or with only live options, opens the TUI on the current context.
    if not args_list or (
        args_list[0].startswith("-") and args_list[0] not in ("-h", "--help", "--version")
    ):
        args_list = ["tui", *args_list]
    parser = build_parser(args_list[0] if args_list[0] in COMMANDS else None)
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help()
        return 2
    # Every byte a command prints passes the output boundary (triage/render/streams.py and
    # triage/render/console.py); the TUI renders through Textual, which shows data as text.
    guard = nullcontext() if args.command in TUI_COMMANDS else clean_streams()
    try:
        with guard:
            return int(args.run(args))
    except usage_errors() as exc:
        lines = error_line(exc).splitlines()
        for line in lines[:MAX_ERROR_LINES]:
            print(f"triage: error: {preview(line, 600)}", file=sys.stderr)
        if len(lines) > MAX_ERROR_LINES:
            more = len(lines) - MAX_ERROR_LINES
            print(f"triage: error: … and {more} more problems", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `triage explain -o json | head`: the reader left; not an error of ours.
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("triage: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
