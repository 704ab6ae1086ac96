"""`triage record -o FILE`: capture the live cluster as an incident recording.

    triage record -o incident.yaml --context prod -n shop -n payments \\
        --flow shop/web-0 payments/svc/api 8443 --title "checkout 502s" --note "after deploy 41" \\
        --runbook failed-rollout

Reads namespaces, pods, services and NetworkPolicies (sources.live), passing every object
through the recording allow-list (sources.redact) as it arrives and parsing the allow-listed
copies once (the recording is built from that snapshot: recording.incident_from_snapshot),
checks the reported flows against what was read, and writes the file atomically
(recording.write_incident): an interrupted or failed record leaves no file behind.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from triage.commands.common import add_live_options
from triage.errors import UsageError
from triage.model import Flow, FlowSyntaxError, PodRef, ServiceRef, Snapshot, parse_flow

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from triage.model.incident import Incident, KnownGood, ProbeKind, ProbeOutcome, ProbeRecord
    from triage.probes.live import LiveProber
    from triage.sources.live import LiveLoad, LiveTarget

# Seconds each `--probe` lookup or connect may take inside the pod.
PROBE_TIMEOUT = 5.0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "record",
        help="record the live cluster as an incident file",
        description="Record the live cluster's namespaces, pods, services and NetworkPolicies "
        "as an incident recording (allow-listed: no Secrets, env, args, command, volumes or "
        "annotations), with the flows the operator reports and optional notes.",
    )
    parser.add_argument(
        "-o", "--output", type=Path, required=True, metavar="FILE", help="the recording to write"
    )
    add_live_options(parser)
    parser.add_argument(
        "--flow",
        dest="flows",
        nargs=3,
        action="append",
        default=[],
        metavar=("SRC", "DST", "PORT[/PROTO]"),
        help="a reported flow, e.g. shop/web-0 payments/svc/api 8443 (repeatable)",
    )
    parser.add_argument(
        "--flows",
        dest="flow_log",
        type=Path,
        metavar="FILE",
        help="a Hubble or Calico flow log: its distinct flows (dropped first, at most 500, "
        "no labels) are stored so replays show what the datapath saw",
    )
    parser.add_argument("--title", help="the incident's title (default: context and time)")
    parser.add_argument("--summary", default="", help="one paragraph on what is going on")
    parser.add_argument(
        "--runbook",
        default="",
        metavar="NAME",
        help="the bundled runbook replays of this recording open (blocked-flow, "
        "failed-rollout, lateral-movement; default: none, so replays use blocked-flow)",
    )
    parser.add_argument(
        "--note",
        dest="notes",
        action="append",
        default=[],
        metavar="TEXT",
        help="an operator note, stamped with the time (repeatable)",
    )
    parser.add_argument(
        "--known-good",
        metavar="NAME",
        help="also store the current policies and labels as the known-good set NAME",
    )
    parser.add_argument(
        "--probe",
        action="store_true",
        help="probe each --flow from its source pod (DNS lookup and connect, by exec) and "
        "record the results for replays; a pod whose image lacks the tools is recorded as an "
        "error, unless --allow-debug-container",
    )
    parser.add_argument(
        "--allow-debug-container",
        action="store_true",
        help="with --probe: add an ephemeral debug container (nicolaka/netshoot) to a source "
        "pod whose image has no nslookup/nc. This changes the pod for good (it stays until the "
        "pod is deleted), so it needs --context NAME, naming the context explicitly",
    )
    parser.set_defaults(run=run)


def utc_now() -> str:
    """RFC 3339, seconds, UTC: `2026-11-28T21:30:00Z`."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_flow_args(raw: list[list[str]]) -> list[Flow]:
    flows = []
    for src, dst, port in raw:
        try:
            flows.append(parse_flow(src, dst, port))
        except FlowSyntaxError as exc:
            raise UsageError(f"--flow {src} {dst} {port}: {exc}") from None
    return flows


def check_runbook(name: str) -> None:
    """`--runbook` names a bundled runbook (a recording travels; a path would not)."""
    from triage.sources.recording import bundled_runbook_names

    known = bundled_runbook_names()
    if name and name not in known:
        raise UsageError(
            f"--runbook {name}: not a bundled runbook (bundled: {', '.join(known)}); "
            "nothing was done"
        )


def check_flows(snapshot: Snapshot, flows: list[Flow], target: LiveTarget) -> None:
    """Every pod and Service a flow names must be in what was read."""
    scope = f"namespaces {', '.join(target.namespaces)}" if target.namespaces else "the cluster"
    for flow in flows:
        for role, endpoint in (("source", flow.source), ("destination", flow.destination)):
            if isinstance(endpoint, PodRef) and snapshot.pod(endpoint.namespace, endpoint.name):
                continue
            if isinstance(endpoint, ServiceRef) and snapshot.service(
                endpoint.namespace, endpoint.name
            ):
                continue
            if isinstance(endpoint, PodRef | ServiceRef):
                what = "pod" if isinstance(endpoint, PodRef) else "service"
                name = f"{endpoint.namespace}/{endpoint.name}"
                hint = ""
                if target.namespaces and endpoint.namespace not in target.namespaces:
                    hint = f" (add -n {endpoint.namespace})"
                given = f"{flow.source} {flow.destination} {flow.port}/{flow.protocol}"
                raise UsageError(
                    f"--flow {given}: {role} {what} {name} is not in {scope}{hint}; "
                    "nothing was written"
                )


def known_good_from(name: str, snapshot: Snapshot, captured_at: str) -> KnownGood:
    from triage.model.incident import KnownGood

    return KnownGood(
        name=name,
        captured_at=captured_at,
        policies=snapshot.policies,
        namespace_labels={
            ns.name: dict(ns.labels) for ns in snapshot.namespaces if not ns.synthesized
        },
        pod_labels={pod.key: dict(pod.labels) for pod in snapshot.pods},
        admin_policies=snapshot.admin_policies,
    )


def build_incident(
    load: LiveLoad,
    *,
    captured_at: str,
    title: str | None = None,
    summary: str = "",
    flows: list[Flow] | None = None,
    notes: list[str] | None = None,
    known_good: str | None = None,
    probes: tuple[ProbeRecord, ...] = (),
    runbook: str = "",
) -> Incident:
    """The Incident for what `load_live` read: redacted objects, metadata, flows, notes.
    A load made with `redact=True` is used as it is; any other is redacted and parsed here."""
    from triage.model.incident import IncidentMeta, Note, ReportedFlow
    from triage.sources.recording import incident_from_manifests, incident_from_snapshot

    cluster = load.cluster or urlparse(load.server).hostname or load.server
    meta = IncidentMeta(
        title=title or f"{load.context} at {captured_at}",
        cluster=cluster,
        context=load.context,
        captured_at=captured_at,
        summary=summary,
        runbook=runbook,
    )
    reported = [ReportedFlow(f) for f in flows or []]
    operator_notes = [Note(captured_at, text) for text in notes or []]
    if load.redacted:
        incident = incident_from_snapshot(
            meta, load.snapshot, load.origins, flows=reported, probes=probes, notes=operator_notes
        )
    else:
        incident = incident_from_manifests(
            meta,
            load.documents,
            flows=reported,
            probes=probes,
            notes=operator_notes,
            source=f"context {load.context}",
        )
    if known_good:
        good = known_good_from(known_good, incident.snapshot, captured_at)
        incident = dataclasses.replace(incident, known_good=(good,))
    return incident


def probe_plan(snapshot: Snapshot, flow: Flow) -> tuple[str, tuple[str, str, int] | str]:
    """What `--probe` runs for a flow, the way the checklist's DNS and probe steps ask:
    the DNS name (the Service's, else kubernetes.default), and the connect target as
    (recorded target, IP, port), or the reason there is none."""
    from triage.policy import explain

    dst = flow.destination
    if isinstance(dst, ServiceRef):
        name = f"{dst.name}.{dst.namespace}.svc.cluster.local"
    else:
        name = "kubernetes.default.svc.cluster.local"
    if flow.protocol == "SCTP":
        return name, "probes test TCP and UDP only"
    explanation = explain(snapshot, flow)
    if isinstance(dst, ServiceRef) and explanation.service is not None:
        service = snapshot.service(dst.namespace, dst.name)
        if service is not None and service.cluster_ip:
            return name, (str(dst), service.cluster_ip, explanation.service.port)
    primary = explanation.primary
    if primary is None:
        return name, "no destination to probe"
    if primary.destination.ip is None:
        return name, f"{primary.destination.name} has no IP address"
    if primary.port is None:
        return name, f"port {flow.port} does not resolve to a number on {primary.destination.name}"
    return name, (primary.destination.name, primary.destination.ip, primary.port)


def debug_container_context(args: argparse.Namespace, target: LiveTarget) -> str | None:
    """The context `--allow-debug-container` may change, checked before anything touches
    the cluster: it must be named with `--context` and be the context the kubeconfig
    resolves to. None without the flag (then no debug container is ever added)."""
    if not args.allow_debug_container:
        return None
    if not args.probe:
        raise UsageError("--allow-debug-container is for --probe; nothing was done")
    if not args.context:
        raise UsageError(
            "--allow-debug-container changes pods: name the context it may change with "
            "--context NAME (the current context is never assumed); nothing was done"
        )
    from triage.sources.live import api_clients

    api, exec_api, used = api_clients(target)  # reads the kubeconfig; no request is made
    api.close()
    exec_api.close()
    if used != args.context:
        raise UsageError(
            f"--allow-debug-container --context {args.context}: the kubeconfig resolves to "
            f"context {used}; nothing was done"
        )
    return used


def _probe_flows(
    load: LiveLoad,
    snapshot: Snapshot,
    target: LiveTarget,
    flows: list[Flow],
    err: Console,
    debug_context: str | None = None,
) -> tuple[ProbeRecord, ...]:
    """Run the live probes of every flow from its source pod (triage.probes.live) and keep
    them as ProbeRecords, so a replay answers with what really happened. A debug container
    is added only to pods of `debug_context` (`--allow-debug-container --context NAME`)."""
    from rich.markup import escape

    from triage.probes.live import (
        ConfirmEphemeral,
        EphemeralRequest,
        LiveProber,
        consent_for_context,
    )
    from triage.sources.live import api_clients

    api, exec_api, context = api_clients(target)
    confirm: ConfirmEphemeral | None = None
    if debug_context is not None:
        approve = consent_for_context(debug_context)

        def confirm(request: EphemeralRequest) -> bool:
            if not approve(request):
                return False
            err.print(
                f"probe: adding an ephemeral debug container ({escape(request.image)}) to pod "
                f"{escape(request.pod_key)} in context {escape(request.context)} "
                "(--allow-debug-container); it stays until the pod is deleted"
            )
            return True

    prober = LiveProber(
        api, exec_api, timeout=target.timeout, context=context, confirm_ephemeral=confirm
    )
    records: list[ProbeRecord] = []
    try:
        for flow in flows:
            source = flow.source
            if not isinstance(source, PodRef):
                err.print(f"probe: skipped {escape(str(flow))}: the source is not a pod")
                continue
            name, plan = probe_plan(snapshot, flow)
            records.append(_probe_one(prober, err, source, "dns", name, name, None, "UDP"))
            if isinstance(plan, str):
                err.print(f"probe: no connect for {escape(str(flow))}: {escape(plan)}")
                continue
            shown, ip, port = plan
            records.append(
                _probe_one(prober, err, source, "connect", shown, ip, port, flow.protocol)
            )
    finally:
        api.close()
        exec_api.close()
    return tuple(records)


def _probe_one(
    prober: LiveProber,
    err: Console,
    source: PodRef,
    kind: ProbeKind,
    shown: str,
    address: str,
    port: int | None,
    protocol: str,
) -> ProbeRecord:
    """One probe, run now and kept as a record (target as the operator wrote it)."""
    from rich.markup import escape

    from triage.model.incident import ProbeRecord

    at = utc_now()
    if kind == "dns":
        result = prober.dns(source, address, PROBE_TIMEOUT)
    else:
        assert port is not None
        result = prober.connect(source, address, port, protocol, PROBE_TIMEOUT)
    outcome: ProbeOutcome = "error" if result.outcome == "not-recorded" else result.outcome
    where = f"{shown}:{port}/{protocol}" if port is not None else shown
    why = ""
    if outcome == "error":
        why = next((f": {line.strip()}" for line in result.output.splitlines() if line.strip()), "")
    err.print(
        f"probe {kind} from {escape(str(source))} to {escape(where)}: {outcome} "
        f"({result.duration_ms} ms){escape(why)}"
    )
    return ProbeRecord(
        kind=kind,
        source=str(source),
        target=shown,
        port=port,
        protocol=protocol,
        outcome=outcome,
        output=result.output,
        duration_ms=result.duration_ms,
        at=at,
    )


class LoadProgress:
    """`progress(resource, count)` for load_live, shown with rich on stderr: one line per
    resource type, a spinner while it loads, a tick and the count when done."""

    def __init__(self, console: Console) -> None:
        from rich.progress import Progress, SpinnerColumn, TextColumn

        self.progress: Progress = Progress(
            SpinnerColumn(finished_text="[green]✓[/]"),
            TextColumn("{task.description:<16}"),
            TextColumn("{task.completed:>8,.0f}"),
            console=console,
            transient=False,
        )
        self.tasks: dict[str, TaskID] = {}
        self.current: str | None = None

    def __enter__(self) -> LoadProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self._finish_current()
        self.progress.stop()

    def _finish_current(self) -> None:
        if self.current is not None:
            task = self.tasks[self.current]
            done = self.progress.tasks[task].completed
            self.progress.update(task, total=done, completed=done)

    def __call__(self, what: str, count: int) -> None:
        if what != self.current:
            self._finish_current()
            self.current = what
            if what not in self.tasks:
                self.tasks[what] = self.progress.add_task(what, total=None)
        self.progress.update(self.tasks[what], completed=count)


def run(args: argparse.Namespace) -> int:
    from rich.markup import escape

    from triage.sources.live import LiveTarget, load_live
    from triage.sources.recording import write_incident

    flows = parse_flow_args(args.flows)
    check_runbook(args.runbook)
    if args.probe and not flows:
        raise UsageError("--probe needs at least one --flow to probe")
    output: Path = args.output
    if output.is_dir():
        raise UsageError(f"-o {output}: is a directory; give a file name")
    if not output.parent.is_dir():
        raise UsageError(f"-o {output}: directory {output.parent} does not exist")
    datapath = None
    if args.flow_log is not None:  # read before the cluster: a bad file writes nothing
        from triage.sources.flowlogs import read_aggregation

        datapath = read_aggregation(args.flow_log)
    target = LiveTarget(
        context=args.context,
        kubeconfig=args.kubeconfig,
        namespaces=tuple(args.namespaces),
        timeout=float(args.request_timeout),
    )
    debug_context = debug_container_context(args, target)
    from triage.render.console import cli_console
    from triage.sources.kubeclient import check_kubeconfig

    # A bad kubeconfig is one line, before the progress display starts.
    check_kubeconfig(target.context, target.kubeconfig)
    # Markup is read here (progress, status), with every piece of data escaped; SafeConsole
    # cleans control characters from all of it.
    err = cli_console(stderr=True, markup=True, soft_wrap=True)
    captured_at = utc_now()
    with LoadProgress(err) as progress:
        load = load_live(target, progress, redact=True)
    with err.status(f"checking {len(load.documents):,} objects"):
        incident = build_incident(
            load,
            captured_at=captured_at,
            title=args.title,
            summary=args.summary,
            flows=flows,
            notes=args.notes,
            known_good=args.known_good,
            runbook=args.runbook,
        )
        check_flows(incident.snapshot, flows, target)
    if datapath is not None:
        datapath = dataclasses.replace(datapath, meta={"source": args.flow_log.name})
        incident = dataclasses.replace(incident, datapath=datapath)
    if args.probe:
        if debug_context is not None and load.context != debug_context:
            raise UsageError(
                f"--allow-debug-container --context {debug_context}: the cluster was read "
                f"through context {load.context}; nothing was written"
            )
        probes = _probe_flows(load, incident.snapshot, target, flows, err, debug_context)
        incident = dataclasses.replace(incident, probes=probes)
    with err.status(f"writing {escape(str(output))}"):
        write_incident(incident, output)
    snap = incident.snapshot
    for warning in load.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}")
    for note in load.notes:
        err.print(f"note: {escape(note)}")
    admin = (
        f" (+ {len(snap.admin_policies)} cluster-scoped admin policies)"
        if snap.admin_policies
        else ""
    )
    err.print(
        f"recorded {len(snap.namespaces)} namespaces, {len(snap.pods)} pods, "
        f"{len(snap.services)} services and {len(snap.policies)} network policies{admin} "
        f"from context {escape(load.context)} ({escape(load.server)}) to {escape(str(output))}"
    )
    sys.stderr.flush()
    return 0
