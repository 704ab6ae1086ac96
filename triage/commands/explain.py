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
from triage.policy import UnknownEndpoint

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
        help="YAML list of {from, to, port, protocol}; answers are a JSON list, in order "
        "(or, with -o text, one explanation after the other)",
    )
    parser.add_argument(
        "--output",
        "-o",
        choices=("text", "json"),
        default=None,
        help="text (default for one flow) or json (default for --flows)",
    )
    parser.add_argument(
        "--exit-code",
        action="store_true",
        help="exit 1 when a flow is denied, like `git diff --exit-code` (default: 0 whatever "
        "the verdict; an unknown verdict under -n is not a denial); 2 on bad input",
    )
    parser.add_argument(
        "--fix",
        action="store_true",
        help="for a denied flow, print the least-privilege fix verified by the engine: the "
        "policies (YAML), the labels to add first, and every other flow it opens or closes",
    )
    parser.set_defaults(run=run)


def _entry_name(path: Path, index: int, entry: Any) -> str:
    """`flows.yaml: [2] (web → api:80)`: the file and the entry a problem is about."""
    if isinstance(entry, dict) and all(k in entry for k in ("from", "to", "port")):
        return f"{path}: [{index}] ({entry['from']} → {entry['to']}:{entry['port']})"
    return f"{path}: [{index}]"


def read_flows_entries(path: Path) -> list[tuple[Flow, str]]:
    """Each flow of a --flows file with the name of its entry (for errors)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(data, list):
        raise UsageError(f"{path}: expected a YAML list of {{from, to, port, protocol}}")
    flows: list[tuple[Flow, str]] = []
    for i, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise UsageError(f"{path}: [{i}]: expected a mapping with from, to, port")
        missing = [k for k in ("from", "to", "port") if k not in entry]
        if missing:
            raise UsageError(f"{path}: [{i}].{missing[0]}: missing")
        try:
            flow = parse_flow(
                str(entry["from"]),
                str(entry["to"]),
                entry["port"],
                str(entry.get("protocol") or "TCP"),
            )
        except FlowSyntaxError as exc:
            raise UsageError(f"{_entry_name(path, i, entry)}: {exc}") from None
        flows.append((flow, _entry_name(path, i, entry)))
    return flows


def check_port_name(snapshot: Any, port: int | str | None, protocol: str, where: str) -> None:
    """A port *name* that no container of any pod declares (`--port htp`) is a typo: a
    usage error, not a DENIED verdict. Names a pod declares are left to the engine, which
    says when the destination itself lacks it."""
    import difflib

    if not isinstance(port, str):
        return
    names = {
        cp.name
        for pod in snapshot.pods
        for container in pod.containers
        for cp in container.ports
        if cp.name and cp.protocol == protocol
    }
    if port in names:
        return
    close = difflib.get_close_matches(port, sorted(names), n=3, cutoff=0.5)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise UsageError(
        f"{where} {port}/{protocol}: no pod declares a container port of that "
        f"name{hint}; give a number or a declared name"
    )


def run(args: argparse.Namespace) -> int:
    from triage.policy import explain, explanation_to_dict

    if args.flows is not None:
        require(
            not (args.source or args.destination or args.port or args.protocol),
            "give either --flows FILE or --from/--to/--port, not both",
        )
        entries = read_flows_entries(args.flows)
    else:
        require(
            bool(args.source and args.destination and args.port),
            "explain needs --from, --to and --port (or --flows FILE)",
        )
        if args.protocol and "/" in str(args.port):
            raise UsageError("give the protocol once: either --port P/PROTO or --protocol")
        flow = parse_flow(args.source, args.destination, args.port, args.protocol or "TCP")
        entries = [(flow, "")]
    loaded = load_source(args)
    explanations = []
    for flow, where in entries:
        try:
            check_port_name(
                loaded.snapshot, flow.port, flow.protocol, f"{where}: port" if where else "--port"
            )
            explanations.append(explain(loaded.snapshot, flow))
        except UnknownEndpoint as exc:
            if not where:
                raise
            raise UsageError(f"{where}: {exc}") from None
    status = 1 if args.exit_code and any(e.state == "denied" for e in explanations) else 0
    fixes: list[Verification | None] = []
    if args.fix:
        from triage.policy.verify import baseline, verified_fix

        base = baseline(loaded.snapshot)
        # An unknown verdict (outside the loaded -n scope) has nothing proven to fix.
        fixes = [
            verified_fix(loaded.snapshot, e, base=base) if e.state == "denied" else None
            for e in explanations
        ]
    output = args.output or ("json" if args.flows is not None else "text")
    if output == "json":
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
        return status
    from triage.render.console import cli_console, warning_text
    from triage.render.trace import explanation_renderable

    console = cli_console()
    for warning in loaded.warnings:
        console.print(warning_text(warning))
    for i, explanation in enumerate(explanations):
        if i:
            console.print()
        console.print(explanation_renderable(explanation=explanation))
        if args.fix:
            console.print(fix_renderable(fix_state(explanation), fixes[i]))
    return status


def fix_state(explanation: Any) -> str:
    """What `--fix` has to say when there is no fix: allowed, unknown, admin, or denied."""
    from triage.policy.verify import admin_denied

    if explanation.state == "denied" and any(admin_denied(v) for v in explanation.verdicts):
        return "admin"
    return str(explanation.state)


def fix_renderable(state: str, verification: Verification | None) -> Any:
    """The verified fix as text: YAML, the labels to add (safe argv lines), the delta."""
    from rich.console import Group
    from rich.text import Text

    from triage.checklist.fix import delta_summary, label_commands
    from triage.model.manifest import dump_yaml
    from triage.model.untrusted import clean, clean_lines

    if verification is None:
        why = {
            "allowed": "the flow is allowed: nothing to fix",
            "unknown": "the verdict is unknown (outside the loaded namespaces): nothing proven",
            "admin": "an Admin-tier Deny decides before any NetworkPolicy, so no NetworkPolicy "
            "can open this flow: change or roll back the admin policy named above",
        }.get(state, "no NetworkPolicy can fix this flow (see the reasons above)")
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
