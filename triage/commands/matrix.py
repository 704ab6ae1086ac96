"""`triage matrix`: which workload may open which protocols and ports to which other."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from triage.commands.common import add_source_options, load_source
from triage.errors import UsageError

GRID_LIMIT = 40  # workloads; above this the text output lists connections only


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "matrix",
        help="the reachability matrix between workloads",
        description="For every pair of workloads (pods grouped by owner, or by identical "
        "labels), the protocols and ports the policies allow: egress at the source "
        "intersected with ingress at the destination, named ports resolved per pod. "
        "-n NS (repeatable) keeps the workloads of those namespaces.",
    )
    add_source_options(parser)
    parser.add_argument(
        "--port",
        metavar="P[/PROTO]",
        help="only this port (number or name, e.g. 5432/TCP, 53/UDP, http); default: all",
    )
    parser.add_argument("--output", "-o", choices=("text", "csv", "json", "dot"), default="text")
    parser.set_defaults(run=run)


def parse_port_query(text: str) -> Any:
    from triage.model import FlowSyntaxError, parse_port, parse_protocol
    from triage.policy.matrix import PortQuery

    port_text, _, proto_text = text.partition("/")
    try:
        return PortQuery(parse_protocol(proto_text or "TCP"), parse_port(port_text))
    except FlowSyntaxError as exc:
        raise UsageError(f"--port: {exc}") from None


def namespaces_arg(args: argparse.Namespace) -> list[str]:
    out: list[str] = []
    for item in getattr(args, "namespaces", None) or ():
        out.extend(n.strip() for n in item.split(",") if n.strip())
    return out


def run(args: argparse.Namespace) -> int:
    from triage.policy.matrix import (
        compute_matrix,
        matrix_to_csv,
        matrix_to_dict,
        matrix_to_dot,
    )

    port = parse_port_query(args.port) if args.port else None
    loaded = load_source(args)
    namespaces = namespaces_arg(args)
    known = {ns.name for ns in loaded.snapshot.namespaces} | {
        p.namespace for p in loaded.snapshot.pods
    }
    for ns in namespaces:
        if ns not in known:
            raise UsageError(f"-n {ns}: no such namespace in {loaded.description}")
    if port is not None:
        from triage.commands.explain import check_port_name

        check_port_name(loaded.snapshot, port.port, port.protocol, "--port")
    matrix = compute_matrix(loaded.snapshot, namespaces, port)
    if args.output == "json":
        data = matrix_to_dict(matrix)
        data["source"] = loaded.description
        data["warnings"] = [*loaded.warnings, *data["warnings"]]
        # json's C encoder only runs without indent: big matrices are written compact.
        indent = 2 if matrix.count <= 20000 else None
        sys.stdout.write(json.dumps(data, indent=indent))
        sys.stdout.write("\n")
        return 0
    if args.output == "csv":
        sys.stdout.write(matrix_to_csv(matrix))
        return 0
    if args.output == "dot":
        sys.stdout.write(matrix_to_dot(matrix))
        return 0
    from triage.render.console import cli_console, warning_text

    console = cli_console()
    for warning in (*loaded.warnings, *matrix.warnings):
        console.print(warning_text(warning))
    console.print(matrix_renderable(matrix, grid_limit=GRID_LIMIT))
    return 0


STYLES = {"all": "bold green", "some": "yellow", "varies": "magenta", "none": "dim"}
GLYPHS = {"all": "●", "some": "◐", "varies": "◌", "none": "·"}


def matrix_renderable(matrix: Any, grid_limit: int = GRID_LIMIT) -> Any:
    """The grid (for up to `grid_limit` workloads) and the list of connections."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from triage.policy.matrix import cell_kind, cell_text, sorted_cells

    parts: list[Any] = []
    what = (
        "all protocols and ports"
        if matrix.port is None
        else f"{matrix.port.protocol} {matrix.port.port}"
    )
    parts.append(
        Text(
            f"Reachability of {len(matrix.workloads)} workloads ({matrix.pods} pods, "
            f"{matrix.classes} equivalence classes), {what}: {matrix.count} allowed pairs",
            style="bold",
        )
    )
    n = len(matrix.workloads)
    if 0 < n <= grid_limit:
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        table.add_column("from \\ to", overflow="fold")  # names fold, never cut
        for j in range(n):
            table.add_column(str(j + 1), justify="center", no_wrap=True)
        for i, w in enumerate(matrix.workloads):
            row: list[Any] = [Text(f"{i + 1:>2} {w.key}")]
            for j in range(n):
                kind = cell_kind(matrix.cell(i, j))
                row.append(Text(GLYPHS[kind], style=STYLES[kind]))
            table.add_row(*row)
        parts.append(table)
        parts.append(
            Text.assemble(
                *(
                    (f"{GLYPHS[k]} {label}   ", STYLES[k])
                    for k, label in (
                        ("all", "all ports"),
                        ("some", "some ports"),
                        ("varies", "differs between pods"),
                        ("none", "nothing"),
                    )
                )
            )
        )
    listing = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    listing.add_column("from", overflow="fold")
    listing.add_column("to", overflow="fold")
    listing.add_column("allowed")
    for cell in sorted_cells(matrix):
        kind = cell_kind(cell)
        text = cell_text(cell) + (" (the pod to itself)" if cell.self_only else "")
        listing.add_row(
            matrix.workloads[cell.source].key,
            matrix.workloads[cell.destination].key,
            Text(text, style=STYLES[kind]),
        )
    parts.append(listing)
    return Group(*parts)
