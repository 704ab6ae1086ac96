"""`triage` / `triage tui`: the TUI on the live cluster (current context or `--context`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from triage.commands.common import add_live_options


def add_ui_options(parser: argparse.ArgumentParser) -> None:
    ui = parser.add_argument_group("user interface")
    ui.add_argument(
        "--report-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="where `e` writes incident reports (default: the state directory's reports/, "
        "$XDG_STATE_HOME/netpol-triage/reports or ~/.local/state/netpol-triage/reports; "
        "never the current directory)",
    )
    ui.add_argument(
        "--runbook",
        default=None,
        metavar="NAME",
        help="the checklist's runbook: blocked-flow, failed-rollout, lateral-movement, or a "
        "YAML file (default: the recording's metadata.runbook, else blocked-flow)",
    )
    ui.add_argument(
        "--flows",
        dest="flow_log",
        type=Path,
        metavar="FILE",
        help="a Hubble or Calico flow log: its drops become candidate flows and the "
        "checklist shows the datapath beside the verdict (:flows FILE in the UI)",
    )
    ui.add_argument(
        "--known-good",
        default=None,
        metavar="ID|PATH",
        help="what 'what changed' and the regressed candidates compare with: a snapshot id "
        "of the store, or a manifests file or folder (a git checkout); default: the "
        "recording's knownGood set, else the store's last known-good snapshot of the context",
    )
    ui.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="the snapshot store of rollback and known-good sets (default: "
        "$XDG_STATE_HOME/netpol-triage or ~/.local/state/netpol-triage)",
    )
    ui.add_argument(
        "--flow",
        nargs=3,
        metavar=("SRC", "DST", "PORT"),
        help="open the checklist of this flow at once (PORT may carry /PROTO)",
    )


def initial_flow(args: argparse.Namespace) -> Any:
    if not getattr(args, "flow", None):
        return None
    from triage.model import parse_flow

    source, destination, port = args.flow
    return parse_flow(source, destination, port)


def check_startup(source: Any, args: argparse.Namespace) -> Any:
    """Every start-up option, checked before the screen opens: a bad one is one line and
    exit 2 (raised as a usage error), never a traceback from inside the UI. Returns the
    source, with a recording already read. A live `--flow` is checked against the cluster
    once it is loaded (the app exits 2 with the same one line)."""
    import dataclasses

    from triage.ui.session import LiveSource, ReplaySource

    if args.runbook is not None:
        from triage.checklist import load_runbook

        load_runbook(args.runbook)  # SourceError: unknown name, bad file
    flow = initial_flow(args)  # FlowSyntaxError
    if isinstance(source, ReplaySource) and source.incident is None and source.path is not None:
        # A recording is read before the screen opens: a bad file is one line and exit 2,
        # like every other command (0.4 s even at 10k pods).
        from triage.sources.recording import load_incident

        source = dataclasses.replace(source, incident=load_incident(source.path))
    if isinstance(source, ReplaySource) and source.incident is not None and flow is not None:
        from triage.policy import explain

        explain(source.incident.snapshot, flow)  # UnknownEndpoint: names the endpoint
    if isinstance(source, LiveSource):
        from triage.sources.kubeclient import check_kubeconfig

        check_kubeconfig(source.target.context, source.target.kubeconfig)
    return source


def requested_known_good(args: argparse.Namespace) -> Any:
    """`--known-good ID|PATH`, read before the screen opens (a bad one: one line, exit 2)."""
    spec = getattr(args, "known_good", None)
    if spec is None:
        return None
    from triage.rollback.knowngood import from_spec

    return from_spec(spec, getattr(args, "state_dir", None))


def run_app(source: Any, args: argparse.Namespace) -> int:
    from triage.ui.app import make_app

    source = check_startup(source, args)
    flow_log = None
    if getattr(args, "flow_log", None) is not None:  # a bad file: one line, exit 2
        from triage.sources.flowlogs import read_aggregation

        flow_log = read_aggregation(args.flow_log)
    app = make_app(
        source,
        report_dir=args.report_dir,
        initial_flow=initial_flow(args),
        runbook=args.runbook,
        flow_log=flow_log,
        state_dir=args.state_dir,
        known_good=requested_known_good(args),
    )
    app.run()
    return int(app.return_code or 0)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "tui",
        help="the interactive triage UI on the live cluster (the default command)",
        description="Open the triage UI on the live cluster of the current kubeconfig context "
        "(or --context). Probes run in the cluster only when you run a probe step.",
    )
    add_live_options(parser)
    parser.add_argument(
        "--allow-debug-container",
        action="store_true",
        help="pre-approve, for this session's context, the ephemeral debug container a probe "
        "step adds when the source pod's image has no nslookup/nc (it changes the pod until "
        "the pod is deleted); without it you are asked, per pod, in a confirmation that names "
        "the context",
    )
    add_ui_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from triage.sources.live import LiveTarget
    from triage.ui.session import LiveSource

    target = LiveTarget(
        context=args.context,
        kubeconfig=args.kubeconfig,
        namespaces=tuple(args.namespaces or ()),
        timeout=float(args.request_timeout),
    )
    return run_app(LiveSource(target, args.allow_debug_container), args)
