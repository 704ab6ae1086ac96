"""The `triage` command: parses arguments and hands them to one command module.

Each command lives in `triage/commands/<name>.py` with `register(subparsers)` and
`run(args) -> int`; heavy imports (Textual, the kubernetes client) stay inside `run` so that
`triage explain` starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from triage.errors import USAGE_ERRORS, error_line

# Order is the order of `triage --help`.
COMMANDS = (
    "tui",
    "replay",
    "demo",
    "explain",
    "record",
    "snapshot",
    "rollback",
    "rollout",
    "lint",
    "exposure",
    "matrix",
)


def _available_commands() -> list[object]:
    modules = []
    for name in COMMANDS:
        try:
            modules.append(importlib.import_module(f"triage.commands.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"triage.commands.{name}":
                raise
    return modules


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="triage",
        description="Why is my traffic blocked? NetworkPolicy triage, explanation and rollback.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _available_commands():
        module.register(subparsers)  # type: ignore[attr-defined]
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # `triage` alone, or with only live options, opens the TUI on the current context.
    if not args_list or (args_list[0].startswith("-") and args_list[0] not in ("-h", "--help")):
        args_list = ["tui", *args_list]
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.run(args))
    except USAGE_ERRORS as exc:
        for line in error_line(exc).splitlines():
            print(f"triage: error: {line}", file=sys.stderr)
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
