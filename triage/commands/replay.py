"""`triage replay FILE`: the TUI on a recorded incident, read-only."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from triage.commands.tui import add_ui_options, run_app
from triage.errors import UsageError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="the triage UI on a recorded incident (read-only, offline)",
        description="Open a recorded incident in the triage UI. Nothing touches a cluster: "
        "probes are answered from the recording.",
    )
    parser.add_argument("file", type=Path, metavar="FILE", help="an incident recording (YAML)")
    add_ui_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from triage.ui.session import ReplaySource

    if not args.file.is_file():
        raise UsageError(f"{args.file}: no such file")
    return run_app(ReplaySource(args.file), args)
