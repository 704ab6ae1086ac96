"""`triage exposure NS/POD`: the blast radius of a pod, and the policy that would contain it."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from triage.commands.common import add_source_options, load_source


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "exposure",
        help="what a pod can reach, what can reach it, and how to contain it",
        description="Every pod, Service and port POD can open a connection to (egress at POD "
        "and ingress at the far end), everything that can reach POD, grouped by namespace, "
        "workload and port with the deciding policy and rule on each side; then a "
        "containment policy that keeps DNS, and what would remain open.",
    )
    parser.add_argument("pod", metavar="NS/POD", help="the pod (or NS/WORKLOAD: its first pod)")
    add_source_options(parser)
    parser.add_argument(
        "--contain",
        choices=("pod", "namespace", "none"),
        default="pod",
        help="containment to propose: quarantine the pod (default), a default-deny egress "
        "for its namespace, or none",
    )
    parser.add_argument("--output", "-o", choices=("text", "json", "yaml"), default="text")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from triage.policy.classes import compile_snapshot
    from triage.policy.exposure import (
        compute_exposure,
        contain,
        containment_to_dict,
        exposure_to_dict,
        find_pod,
    )

    loaded = load_source(args)
    snapshot = loaded.snapshot
    pod, notes = find_pod(snapshot, args.pod)
    exposure = compute_exposure(snapshot, pod, compile_snapshot(snapshot))
    containment = None if args.contain == "none" else contain(snapshot, pod, args.contain)
    if args.output == "yaml":
        import yaml

        if containment is None:
            return 0
        sys.stdout.write(yaml.safe_dump(containment.manifest, sort_keys=False))
        return 0
    if args.output == "json":
        data = exposure_to_dict(exposure)
        data["source"] = loaded.description
        data["warnings"] = [*loaded.warnings, *notes, *data["warnings"]]
        data["containment"] = containment_to_dict(containment) if containment else None
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    from triage.render.console import cli_console, warning_text

    console = cli_console()
    for warning in (*loaded.warnings, *notes):
        console.print(warning_text(warning))
    console.print(exposure_renderable(exposure, containment))
    return 0


def _reach_table(title: str, reaches: Any, far: str) -> Any:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left", title_style="bold", show_lines=False)
    # Names fold onto more lines, never cut: `triage exposure ... | grep NAME` must find it.
    table.add_column("namespace", overflow="fold")
    table.add_column(far, overflow="fold")
    table.add_column("pods", justify="right")
    table.add_column("ports (destination)")
    table.add_column("egress allowed by")
    table.add_column("ingress allowed by")
    for r in reaches:
        if r.all_ports:
            ports = Text("all ports", style="bold red")
            declared = ", ".join(g.describe() for g in r.ports)
            if declared:
                ports.append(f" (declared: {declared})", style="")
        else:
            ports = Text(", ".join(g.describe() for g in r.ports) or "", style="yellow")
            if r.undeclared:
                ports.append(
                    ("; " if r.ports else "") + f"not declared: {r.undeclared.describe()}",
                    style="dim",
                )
        services = sorted({s for g in r.ports for s in g.services})
        if services:
            ports.append(f"\nvia {', '.join(services)}", style="cyan")
        table.add_row(
            r.namespace,
            Text.assemble(r.workload, (f" ({r.kind})", "dim")),
            str(len(r.pods)),
            ports,
            _side_text(r.egress),
            _side_text(r.ingress),
        )
    return table


def _side_text(side: Any) -> Any:
    from rich.text import Text

    if not side.isolated:
        return Text("not isolated (all ports)", style="red")
    return Text(
        "\n".join(f"{ref.policy} #{ref.rule}: {ports.describe()}" for ref, ports in side.rules)
    )


def exposure_renderable(exposure: Any, containment: Any = None) -> Any:
    from rich.console import Group
    from rich.syntax import Syntax
    from rich.text import Text

    parts: list[Any] = []
    pod = exposure.pod
    parts.append(Text(f"Exposure of {pod.key} (workload {exposure.workload})", style="bold"))
    for direction in ("Egress", "Ingress"):
        pols = exposure.policies[direction]
        deny = exposure.default_deny[direction]
        iso = (
            Text(f"  {direction}: isolated by {', '.join(pols)}", style="green")
            if pols
            else Text(
                f"  {direction}: NOT isolated — every {direction.lower()} is allowed", style="red"
            )
        )
        parts.append(iso)
        parts.append(
            Text(
                f"    namespace {pod.namespace} default-deny {direction.lower()}: "
                + (", ".join(deny) if deny else "none"),
                style="" if deny else "yellow",
            )
        )
    parts.append(
        Text(
            f"Reaches {exposure.reachable_pods} pod(s) in "
            f"{len({r.key for r in exposure.outbound})} workload(s); reached by "
            f"{exposure.reached_by_pods} pod(s)."
        )
    )
    if exposure.outbound:
        parts.append(
            _reach_table(f"{pod.key} can open connections to", exposure.outbound, "workload")
        )
    if exposure.services:
        lines = [
            f"  {s.service}:{s.port}/{s.protocol} → targetPort {s.target} "
            f"({len(s.reachable)}/{s.backends} backends)"
            for s in exposure.services
        ]
        parts.append(Text("Services it reaches:\n" + "\n".join(lines)))
    if exposure.inbound:
        parts.append(
            _reach_table(f"Can open connections to {pod.key}", exposure.inbound, "workload")
        )
    if exposure.external:
        lines = [
            f"  {e.direction.lower()}: {e.peer}, {e.ports.describe()}"
            + (f" ({e.rule})" if e.rule else " (not isolated)")
            for e in exposure.external
        ]
        parts.append(Text("Outside the cluster's pods:\n" + "\n".join(lines)))
    for warning in exposure.warnings:
        parts.append(Text(f"warning: {warning}", style="yellow"))
    if containment is not None:
        import yaml

        parts.append(Text(""))
        title = (
            "Containment: quarantine the pod"
            if containment.scope == "pod"
            else f"Containment: default-deny egress for namespace {pod.namespace}"
        )
        parts.append(Text(title + " (keeps DNS)", style="bold"))
        for i, cmd in enumerate(containment.commands, 1):
            parts.append(Text(f"  {i}. {cmd}"))
        if containment.verification is not None:
            parts.append(Text(f"  verified: {containment.verification.summary()}"))
        parts.append(Syntax(yaml.safe_dump(containment.manifest, sort_keys=False), "yaml"))
        if containment.residual or containment.residual_inbound:
            parts.append(
                Text(
                    "Still open afterwards (policies are additive: edit "
                    + ", ".join(containment.kept_open_by)
                    + " to close these):",
                    style="red",
                )
            )
            for r in containment.residual:
                parts.append(Text(f"  → {r.key}: {r.allowed.describe()}"))
            for r in containment.residual_inbound:
                parts.append(Text(f"  ← {r.key}: {r.allowed.describe()}"))
        else:
            parts.append(Text("Afterwards it reaches only DNS.", style="green"))
        for note in containment.notes:
            parts.append(Text(f"note: {note}", style="dim"))
    return Group(*parts)
