"""`triage flows FILE`: a CNI flow log (Hubble or Calico) reconciled with the policies.

Each distinct flow of the log (source, destination, port, protocol) is shown with what the
datapath did (FORWARDED, DROPPED, AUDIT or mixed, with the drop reasons and the policies the
CNI names) beside the engine's verdict on the loaded snapshot, and for a disagreement the
most likely cause. Text output is one block per flow, never a table, so names are never cut.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from triage.commands.common import add_source_options, load_source
from triage.errors import UsageError

if TYPE_CHECKING:
    from triage.model.datapath import Aggregation
    from triage.policy.reconcile import Reconciled

ONLY = ("all", "dropped", "disagree")


def add_flow_log_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--flow-format",
        choices=("auto", "hubble", "calico"),
        default="auto",
        help="the flow log's format (default: detected on each line)",
    )


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "flows",
        help="reconcile a Hubble or Calico flow log with the policies",
        description='Read a flow log (hubble observe -o json, bare or {"flow": ...} lines; '
        "Calico Goldmane JSON lines), group it into distinct flows and put each beside the "
        "engine's verdict on the loaded cluster: agree or disagree, and why.",
    )
    parser.add_argument(
        "file",
        nargs="?",
        type=Path,
        metavar="FILE",
        help="the flow log (default: the evidence stored in --recording by record --flows)",
    )
    add_source_options(parser)
    add_flow_log_options(parser)
    parser.add_argument(
        "--only",
        choices=ONLY,
        default="all",
        help="dropped: flows the datapath dropped (or would have: AUDIT); disagree: "
        "flows where the datapath and the policies disagree",
    )
    parser.add_argument("--output", "-o", choices=("text", "json", "md"), default="text")
    parser.set_defaults(run=run)


def selected(items: tuple[Reconciled, ...], only: str) -> list[Reconciled]:
    if only == "dropped":
        return [r for r in items if r.flow.dropped or r.flow.datapath == "AUDIT"]
    if only == "disagree":
        return [r for r in items if r.agree is False]
    return list(items)


def run(args: argparse.Namespace) -> int:
    from triage.policy.reconcile import reconcile
    from triage.sources.flowlogs import read_aggregation

    # The file first: a bad flow log is refused before any cluster is read.
    aggregation = None if args.file is None else read_aggregation(args.file, args.flow_format)
    loaded = load_source(args)
    if aggregation is None:
        if loaded.incident is None or loaded.incident.datapath is None:
            raise UsageError(
                "flows needs a flow log FILE, or a --recording made with record --flows"
            )
        aggregation = loaded.incident.datapath
    captured = loaded.incident.meta.captured_at if loaded.incident is not None else ""
    items = reconcile(loaded.snapshot, aggregation, captured_at=captured)
    shown = selected(items, args.only)
    for warning in aggregation.warnings:
        print(f"triage: warning: {warning}", file=sys.stderr)
    if aggregation.warnings_dropped:
        print(
            f"triage: warning: {aggregation.warnings_dropped} more unusable line(s)",
            file=sys.stderr,
        )
    if args.output == "json":
        json.dump(
            flows_document(aggregation, items, shown, loaded.description), sys.stdout, indent=2
        )
        sys.stdout.write("\n")
    elif args.output == "md":
        sys.stdout.write(markdown(aggregation, items, shown, loaded.description))
    else:
        sys.stdout.write(text(aggregation, items, shown, loaded.description))
    return 0


def summary(aggregation: Aggregation, items: tuple[Reconciled, ...] | list[Reconciled]) -> str:
    agree = sum(1 for r in items if r.agree is True)
    disagree = sum(1 for r in items if r.agree is False)
    other = len(items) - agree - disagree
    return (
        f"{len(items)} distinct flow(s) from {aggregation.records} record(s) "
        f"({aggregation.replies} replies left out): {agree} agree, {disagree} disagree, "
        f"{other} not evaluated"
    )


def flows_document(
    aggregation: Aggregation,
    items: tuple[Reconciled, ...],
    shown: list[Reconciled],
    source: str,
) -> dict[str, Any]:
    from collections import Counter

    from triage.model.untrusted import clean
    from triage.policy.reconcile import reconciled_to_dict

    causes = Counter(r.cause for r in items if r.agree is False)
    return {
        "source": clean(source),
        "records": aggregation.records,
        "replies": aggregation.replies,
        "agree": sum(1 for r in items if r.agree is True),
        "disagree": sum(1 for r in items if r.agree is False),
        "not_evaluated": sum(1 for r in items if r.agree is None),
        "causes": dict(sorted(causes.items())),
        "warnings": [str(w) for w in aggregation.warnings],
        "flows": [reconciled_to_dict(r) for r in shown],
    }


def _verdict_word(item: Reconciled) -> str:
    if item.agree is True:
        return "agree"
    if item.agree is False:
        return f"DISAGREE ({item.cause})"
    return f"not evaluated ({item.cause})"


def _engine_word(item: Reconciled) -> str:
    return {True: "allowed", False: "denied", None: "-"}[item.allowed]


def text(
    aggregation: Aggregation, items: tuple[Reconciled, ...], shown: list[Reconciled], source: str
) -> str:
    from triage.model.untrusted import clean

    lines = [clean(f"{summary(aggregation, items)} (policies: {source})")]
    for item in shown:
        flow = item.flow
        reasons = ", ".join(r for r, _ in flow.drop_reasons)
        lines.append("")
        lines.append(
            clean(
                f"{flow.datapath} ×{flow.count}  {flow.describe()}  engine: "
                f"{_engine_word(item)}  {_verdict_word(item)}"
            )
        )
        seen = ", ".join(f"{v} ×{n}" for v, n in flow.verdicts)
        lines.append(
            clean(f"    datapath: {flow.cni}: {seen}" + (f" ({reasons})" if reasons else ""))
        )
        if item.cause_text:
            lines.append(clean(f"    cause: {item.cause_text}"))
        for policy in item.datapath_policies:
            lines.append(clean(f"    CNI names: {policy}"))
        for rule in item.deciding:
            lines.append(clean(f"    engine: {rule}"))
        for note in item.notes:
            lines.append(clean(f"    note: {note}"))
    if not shown:
        lines.append("")
        lines.append("no flow to show")
    return "\n".join(lines) + "\n"


def _cell(value: object) -> str:
    from triage.model.untrusted import clean

    # A Markdown table cell: no pipe may end it, no HTML may render from a flow log's text.
    text = clean(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("`", "\\`")


def markdown(
    aggregation: Aggregation, items: tuple[Reconciled, ...], shown: list[Reconciled], source: str
) -> str:
    out = [
        f"# Flow log reconciled ({_cell(source)})",
        "",
        _cell(summary(aggregation, items)),
        "",
        "| flow | count | datapath | drop reasons | engine | verdict | cause | CNI names "
        "| engine rule |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for item in shown:
        flow = item.flow
        out.append(
            "| "
            + " | ".join(
                _cell(v)
                for v in (
                    flow.describe(),
                    flow.count,
                    flow.datapath,
                    ", ".join(r for r, _ in flow.drop_reasons),
                    _engine_word(item),
                    _verdict_word(item),
                    item.cause_text,
                    "; ".join(item.datapath_policies),
                    "; ".join(item.deciding),
                )
            )
            + " |"
        )
    return "\n".join(out) + "\n"
