"""Options and loading shared by every command that reads a cluster: `--manifests`,
`--recording`, or the live cluster (`--context`, `--kubeconfig`, `-n`)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from triage.errors import UsageError

if TYPE_CHECKING:  # only annotations: building the parser must not import the model
    from triage.model import Snapshot
    from triage.model.incident import Incident


@dataclass(frozen=True)
class LoadedSource:
    snapshot: Snapshot
    description: str  # "manifests a.yaml", "recording x.yaml", "context kind-dev"
    incident: Incident | None = None
    context: str | None = None  # set only for the live cluster
    warnings: tuple[str, ...] = ()


def add_live_options(parser: argparse.ArgumentParser) -> None:
    live = parser.add_argument_group("live cluster")
    live.add_argument("--context", help="kubeconfig context (default: the current context)")
    live.add_argument("--kubeconfig", type=Path, help="kubeconfig file (default: $KUBECONFIG)")
    live.add_argument(
        "-n",
        "--namespace",
        dest="namespaces",
        action="append",
        default=[],
        metavar="NS",
        help="only these namespaces (repeatable), for users who may not list cluster-wide",
    )
    live.add_argument(
        "--request-timeout",
        type=float,
        default=20.0,
        metavar="SECONDS",
        help="timeout of each API call (default 20)",
    )


def add_source_options(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group()
    src.add_argument(
        "--manifests",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="kubectl get ns,pods,svc,netpol -A -o yaml|json output, YAML files or folders",
    )
    src.add_argument("--recording", type=Path, metavar="FILE", help="a recorded Incident")
    add_live_options(parser)


def load_source(args: argparse.Namespace) -> LoadedSource:
    if getattr(args, "manifests", None):
        from triage.sources.manifests import RecordingNotManifests, load_manifests

        try:
            snapshot, report = load_manifests(args.manifests)
        except RecordingNotManifests as found:
            # `triage lint incident.json`, `--manifests incident.json`: a recording given
            # where manifests are accepted is read as the recording it is.
            if len(args.manifests) != 1 or Path(args.manifests[0]) != found.path:
                raise
            return _load_recording(found.path)
        names = ", ".join(str(p) for p in args.manifests)
        warnings = list(report.warnings)
        if report.skipped_kinds:
            skipped = ", ".join(f"{n} {k}" for k, n in report.skipped_kinds.items())
            warnings.append(f"skipped objects of other kinds: {skipped}")
        return LoadedSource(snapshot, f"manifests {names}", warnings=tuple(warnings))
    if getattr(args, "recording", None):
        return _load_recording(args.recording)
    return load_live_source(args)


def _load_recording(path: Path) -> LoadedSource:
    from triage.sources.recording import load_incident

    incident = load_incident(path)
    return LoadedSource(
        incident.snapshot,
        f"recording {path}",
        incident=incident,
        warnings=incident.snapshot.warnings,
    )


def load_live_source(args: argparse.Namespace) -> LoadedSource:
    from triage.sources.live import LiveTarget, load_live

    target = LiveTarget(
        context=getattr(args, "context", None),
        kubeconfig=getattr(args, "kubeconfig", None),
        namespaces=tuple(getattr(args, "namespaces", ()) or ()),
        timeout=float(getattr(args, "request_timeout", 20.0)),
    )
    result = load_live(target)
    return LoadedSource(
        result.snapshot,
        f"context {result.context}",
        context=result.context,
        warnings=tuple(result.warnings),
    )


def require(condition: bool, message: str) -> None:
    if not condition:
        raise UsageError(message)
