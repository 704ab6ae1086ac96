"""`triage lint`: least-privilege findings, each with a tighter rule to use instead.

Exit status: 1 when a finding at or above `--fail-on` exists (for CI), 0 otherwise, 2 on
bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from triage.commands.common import add_source_options, load_source
from triage.errors import UsageError

SEVERITY_STYLES = {"high": "bold red", "medium": "yellow", "low": "cyan", "info": "dim"}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "lint",
        help="least-privilege findings: broad rules and what to write instead",
        description="Find rules broader than they need to be (any peer, every namespace, "
        "0.0.0.0/0, no ports, broad DNS), policies that select nothing, namespaces without a "
        "default-deny and rules shadowed by broader ones; each finding proposes a tighter "
        "rule. SOURCE is a manifests file or folder, or a recorded incident.",
    )
    parser.add_argument(
        "source",
        nargs="?",
        type=Path,
        metavar="SOURCE",
        help="shorthand for --manifests/--recording",
    )
    add_source_options(parser)
    parser.add_argument(
        "--fail-on",
        choices=("info", "low", "medium", "high", "never"),
        default="never",
        help="exit 1 when a finding of this severity or above exists (default: never)",
    )
    parser.add_argument(
        "--min-severity",
        choices=("info", "low", "medium", "high"),
        default="info",
        help="show only findings of this severity or above",
    )
    parser.add_argument("--output", "-o", choices=("text", "json"), default="text")
    parser.set_defaults(run=run)


def resolve_positional_source(args: argparse.Namespace) -> None:
    path = getattr(args, "source", None)
    if path is None:
        return
    if args.manifests or args.recording:
        raise UsageError("give the source once: SOURCE or --manifests/--recording")
    if not path.exists():
        raise UsageError(f"{path}: no such file or directory")
    # A recording is told from manifests by parsing it (see load_source).
    args.manifests = [path]


def run(args: argparse.Namespace) -> int:
    from triage.commands.matrix import namespaces_arg
    from triage.policy.lint import lint, report_to_dict, severity_rank

    resolve_positional_source(args)
    loaded = load_source(args)
    report = lint(loaded.snapshot, namespaces_arg(args))
    report.warnings = list(loaded.warnings)
    shown = report.at_least(args.min_severity)
    failing = [] if args.fail_on == "never" else report.at_least(args.fail_on)
    if args.output == "json":
        data = report_to_dict(report)
        data["source"] = loaded.description
        data["findings"] = [
            f
            for f in data["findings"]
            if severity_rank(f["severity"]) >= severity_rank(args.min_severity)
        ]
        data["fail_on"] = args.fail_on
        data["failed"] = bool(failing)
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        from rich.text import Text

        from triage.render.console import cli_console, warning_text

        console = cli_console()
        for warning in loaded.warnings:
            console.print(warning_text(warning))
        console.print(report_renderable(report, shown))
        if failing:
            line = f"{len(failing)} finding(s) at or above {args.fail_on}"
            console.print(Text(line, style="bold red"))
    return 1 if failing else 0


def report_renderable(report: Any, findings: list[Any]) -> Any:
    import yaml
    from rich.console import Group
    from rich.padding import Padding
    from rich.text import Text

    parts: list[Any] = []
    counts = report.counts()
    summary = ", ".join(f"{counts[s]} {s}" for s in ("high", "medium", "low", "info"))
    parts.append(
        Text(
            f"{len(report.findings)} finding(s) in {report.policies} policies and "
            f"{report.namespaces} namespaces: {summary}",
            style="bold",
        )
    )
    for f in findings:
        parts.append(Text(""))
        parts.append(
            Text.assemble(
                (f"{f.severity.upper():<6} ", SEVERITY_STYLES[f.severity]),
                (f"{f.where}", "bold"),
                (f"  [{f.code}] ", "dim"),
                f.title,
            )
        )
        parts.append(Padding(Text(f"why: {f.why}"), (0, 0, 0, 7)))
        parts.append(Padding(Text(f"instead: {f.suggestion}", style="green"), (0, 0, 0, 7)))
        if f.fix is not None:
            text = yaml.safe_dump(f.fix, sort_keys=False, default_flow_style=False).rstrip()
            parts.append(Padding(Text(text, style="dim green"), (0, 0, 0, 9)))
        if f.verification is not None:
            summary = f"verified: {f.verification.summary()}"
            parts.append(Padding(Text(summary, style="dim"), (0, 0, 0, 9)))
    if not findings:
        parts.append(Text("nothing to report", style="green"))
    return Group(*parts)
