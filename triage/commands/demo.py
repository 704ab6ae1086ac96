"""`triage demo`: the bundled demo incident in the TUI (works from any install)."""

from __future__ import annotations

import argparse
from typing import Any

from triage.commands.tui import add_ui_options, run_app


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="replay the bundled demo incident in the triage UI",
        description="Open a bundled incident (default: the demo) in the triage UI, "
        "read-only. `--list` names them.",
    )
    parser.add_argument("name", nargs="?", default="demo", help="bundled incident name")
    parser.add_argument("--list", action="store_true", help="list the bundled incidents")
    add_ui_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from triage.sources.recording import bundled_incident, bundled_incidents
    from triage.ui.session import ReplaySource

    if args.list:
        from triage.model.untrusted import clean
        from triage.sources.recording import DEMO_INCIDENT, load_incident

        paths = bundled_incidents()
        width = max(len(p.stem) for p in paths)
        for path in paths:
            title = clean(load_incident(path).meta.title)
            demo = "  (the demo)" if path.stem == DEMO_INCIDENT else ""
            print(f"{path.stem:<{width}}  {title}{demo}")
        return 0
    return run_app(ReplaySource(bundled_incident(args.name)), args)
