"""`triage explain`: the verdict for one flow (or a batch) with its full explanation."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from triage.commands.common import add_source_options, load_source, require
from triage.errors import UsageError
from triage.model import Flow, FlowSyntaxError, parse_flow

if TYPE_CHECKING:
    from triage.policy.verify import Verification


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="explain why a flow is allowed or denied",
        description="Explain the verdict for a flow, down to the policy, rule, selector term "
        "and label that decided it.",
    )
    add_source_options(parser)
    parser.add_argument("--from", dest="source", metavar="SRC", help="NS/POD or an IP address")
    parser.add_argument(
        "--to", dest="destination", metavar="DST", help="NS/POD, NS/svc/NAME or an IP address"
    )
    parser.add_argument("--port", help="port number or name (may carry /PROTO, e.g. 53/UDP)")
    parser.add_argument("--protocol", default=None, help="TCP (default), UDP or SCTP")
    parser.add_argument(
        "--flows",
        type=Path,
        metavar="FILE",
        help="YAML list of {from, to, port, protocol}; answers are a JSON list, in order",
    )
    parser.add_argument(
        "--fix",
        action="store_true",
        help="for a denied flow, print the least-privilege fix verified by the engine: the "
        "policies (YAML), the labels to add first, and every other flow it opens or closes",
    )
    parser.add_argument("--output", "-o", choices=("text", "json"), default="text")
    parser.set_defaults(run=run)


def read_flows_file(path: Path) -> list[Flow]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(data, list):
        raise UsageError(f"{path}: expected a YAML list of {{from, to, port, protocol}}")
    flows = []
    for i, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise UsageError(f"{path}: [{i}]: expected a mapping with from, to, port")
        missing = [k for k in ("from", "to", "port") if k not in entry]
        if missing:
            raise UsageError(f"{path}: [{i}].{missing[0]}: missing")
        try:
            flows.append(
                parse_flow(
                    str(entry["from"]),
                    str(entry["to"]),
                    entry["port"],
                    str(entry.get("protocol") or "TCP"),
                )
            )
        except FlowSyntaxError as exc:
            raise UsageError(f"{path}: [{i}]: {exc}") from None
    return flows


def run(args: argparse.Namespace) -> int:
    from triage.policy import explain, explanation_to_dict

    if args.flows is not None:
        require(
            not (args.source or args.destination or args.port or args.protocol),
            "give either --flows FILE or --from/--to/--port, not both",
        )
        flows = read_flows_file(args.flows)
    else:
        require(
            bool(args.source and args.destination and args.port),
            "explain needs --from, --to and --port (or --flows FILE)",
        )
        if args.protocol and "/" in str(args.port):
            raise UsageError("give the protocol once: either --port P/PROTO or --protocol")
        flows = [parse_flow(args.source, args.destination, args.port, args.protocol or "TCP")]
    loaded = load_source(args)
    explanations = [explain(loaded.snapshot, flow) for flow in flows]
    fixes: list[Verification | None] = []
    if args.fix:
        from triage.policy.verify import baseline, verified_fix

        base = baseline(loaded.snapshot)
        fixes = [verified_fix(loaded.snapshot, e, base=base) for e in explanations]
    if args.flows is not None or args.output == "json":
        from triage.policy.verify import verification_to_dict

        documents = []
        for i, explanation in enumerate(explanations):
            document = explanation_to_dict(explanation)
            # What the source said about itself (a namespace made up, kinds skipped) is
            # part of the answer's footing: keep it next to the verdict.
            document["warnings"] = [*loaded.warnings, *document["warnings"]]
            if args.fix:
                found = fixes[i]
                document["fix"] = verification_to_dict(found) if found is not None else None
            documents.append(document)
        json.dump(documents if args.flows is not None else documents[0], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    from rich.console import Console
    from rich.text import Text

    from triage.render.trace import explanation_renderable

    console = Console(highlight=False)
    for warning in loaded.warnings:
        # Text, not markup: a warning may hold brackets ("[frontend, frontend-primary]").
        console.print(Text.assemble(("warning: ", "yellow"), warning))
    console.print(explanation_renderable(explanation=explanations[0]))
    if args.fix:
        console.print(fix_renderable(explanations[0].allowed, fixes[0]))
    return 0


def fix_renderable(allowed: bool, verification: Verification | None) -> Any:
    """The verified fix as text: YAML, the labels to add (safe argv lines), the delta."""
    from rich.console import Group
    from rich.text import Text

    from triage.checklist.fix import delta_summary, label_commands
    from triage.model.manifest import dump_yaml
    from triage.model.untrusted import clean, clean_lines

    if verification is None:
        why = (
            "the flow is allowed: nothing to fix"
            if allowed
            else "no NetworkPolicy can fix this flow (see the reasons above)"
        )
        return Text(f"\nFix: {why}")
    parts: list[Any] = [Text(f"\nFix: {clean(verification.fix.title)}", style="bold")]
    parts += [Text(f"note: {clean(n)}", style="yellow") for n in verification.notes]
    commands = label_commands(verification)
    if commands:
        parts.append(Text("First label the pods (the policies select them by these labels):"))
        parts += [Text(f"  {c}") for c in commands]
    parts.append(Text("Policies to apply:"))
    yaml_text = "---\n".join(dump_yaml(m) for m in verification.fix.manifests())
    parts.append(Text(clean_lines(yaml_text).rstrip("\n")))
    parts += [Text(clean(line)) for line in delta_summary(verification)]
    parts += [Text(clean(line)) for line in verification.delta_lines()]
    return Group(*parts)
