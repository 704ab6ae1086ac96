"""`triage rollout`: put namespaces under default-deny without losing what must talk.

    triage rollout plan --namespace develop --observed flows.yaml          # live cluster
    triage rollout plan --recording incident.yaml -n develop -o yaml | kubectl apply -f -
    triage rollout apply --context prod-eu -n develop --observed flows.yaml --yes

`--namespace` (`-n`) names the namespaces to roll out; the cluster itself is always read in
full (the DNS pods and the peers live elsewhere). Observed traffic: `--observed FILE` (a YAML
list of {from, to, port, protocol}, as `triage explain --flows` reads), `--flows FILE` (a
Hubble or Calico Goldmane flow log: the forwarded flows), the flows the recording's policies
allowed and the successful probes of `--recording` or `--observed-recording FILE`.
`--exclude FILE` lists observed flows the operator lets close.

`apply` goes through the rollback applier (context check, re-read, backup — kept as a
known-good snapshot —, server-side dry-run, journal, ordered writes, verify), then probes a
sample of the observed flows and of the flows meant to close. When an observed flow no
longer connects, `--auto-revert` restores the saved set (otherwise the revert command is
printed). Nothing is written without `--context NAME` and `--yes` or the typed context.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from triage.commands.common import LoadedSource, add_live_options, add_source_options, require
from triage.commands.snapshot import add_state_dir_option
from triage.errors import ClusterError, UsageError

if TYPE_CHECKING:
    from triage.model import Snapshot
    from triage.rollback.apply import ApplyResult
    from triage.rollback.session import RollbackSession
    from triage.rollback.store import Store
    from triage.rollout.observed import Observed
    from triage.rollout.plan import Rollout
    from triage.rollout.verify import ProbeCheck


def _add_observed_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("observed traffic")
    for flag, dest, helptext in (
        ("--observed", "observed", "YAML list of {from, to, port, protocol} seen working"),
        (
            "--flows",
            "flow_logs",
            "a Hubble or Calico Goldmane flow log: the forwarded flows count as observed",
        ),
        (
            "--observed-recording",
            "observed_recordings",
            "a recording whose flows and successful probes count as observed",
        ),
        (
            "--exclude",
            "exclude",
            "YAML list of observed flows to let close (not allowed, not reported as breaking)",
        ),
    ):
        group.add_argument(
            flag,
            dest=dest,
            action="append",
            type=Path,
            default=[],
            metavar="FILE",
            help=helptext + " (repeatable)",
        )


def _namespaces_are_the_rollout(parser: argparse.ArgumentParser) -> None:
    """`-n NS` names the namespaces to roll out here, not a read scope."""
    for action in parser._actions:
        if action.dest == "namespaces":
            action.help = (
                "a namespace to roll out (repeatable, required); the cluster is read in full"
            )


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "rollout",
        help="plan or apply a default-deny rollout that keeps the observed traffic",
        description="Default-deny for namespaces, with the DNS guardrail and least-privilege "
        "allows generated from observed traffic; previewed by the engine, applied through "
        "the rollback machinery, verified with probes.",
    )
    sub = parser.add_subparsers(dest="rollout_command", metavar="ACTION", required=True)

    plan = sub.add_parser(
        "plan",
        help="generate the policies and preview the change (never writes)",
        description="The generated policies, the observed flows that stay allowed (and any "
        "that would break), the flows that close, and what stays open.",
    )
    add_source_options(plan)
    _namespaces_are_the_rollout(plan)
    _add_observed_options(plan)
    plan.add_argument(
        "--output",
        "-o",
        choices=("text", "md", "json", "yaml"),
        default="text",
        help="text (default), md, json (policies and preview) or yaml (the generated "
        "NetworkPolicies alone, a List for `kubectl apply -f -`)",
    )
    plan.set_defaults(run=run_plan)

    apply = sub.add_parser(
        "apply",
        help="apply the rollout: known-good save, dry-run, journalled writes, probes",
        description="Re-read and back up the live set (kept as known-good), dry-run, apply "
        "allows before denies with a journal, re-read, then probe observed flows and flows "
        "meant to close.",
    )
    add_live_options(apply)
    _namespaces_are_the_rollout(apply)
    add_state_dir_option(apply)
    _add_observed_options(apply)
    apply.add_argument(
        "--yes",
        action="store_true",
        help="do not ask; --context must still name the context (required without a terminal)",
    )
    apply.add_argument(
        "--auto-revert",
        dest="auto_revert",
        action="store_true",
        help="when a probe of an observed flow fails after the apply, revert to the saved set",
    )
    apply.add_argument(
        "--sample",
        type=int,
        default=8,
        metavar="N",
        help="probe up to N observed flows and N flows meant to close (default 8; 0: none)",
    )
    apply.add_argument(
        "--probe-timeout",
        type=float,
        default=3.0,
        metavar="SECONDS",
        help="timeout of each verification probe (default 3)",
    )
    apply.set_defaults(run=run_apply)


# ---------------------------------------------------------------- inputs


def _namespaces(args: argparse.Namespace) -> tuple[str, ...]:
    namespaces = tuple(sorted(set(getattr(args, "namespaces", ()) or ())))
    require(bool(namespaces), "name the namespaces to roll out: --namespace NS (repeatable)")
    return namespaces


def _known(namespaces: tuple[str, ...], snapshot: Any, where: str) -> None:
    """A namespace the cluster lacks is a typo, not an empty rollout: one line, exit 2."""
    from triage.model.untrusted import clean

    missing = [ns for ns in namespaces if snapshot.namespace_labels(ns) is None]
    if missing:
        known = ", ".join(sorted(ns.name for ns in snapshot.namespaces)[:12])
        raise UsageError(
            f"--namespace {clean(missing[0])}: no such namespace in {clean(where)} "
            f"(namespaces: {clean(known)})"
        )


def _flows(paths: list[Path]) -> list[Any]:
    from triage.commands.explain import read_flows_entries

    return [flow for path in paths for flow, _ in read_flows_entries(path)]


def _flow_log(path: Path, snapshot: Snapshot) -> Observed:
    """A Hubble or Calico Goldmane flow log: the flows the datapath forwarded, as the engine
    names them (the reconciler's translation of each end)."""
    from triage.policy.reconcile import reconcile
    from triage.rollout.observed import Observed
    from triage.sources.flowlogs import read_aggregation

    forwarded = [
        item.engine_flow
        for item in reconcile(snapshot, read_aggregation(path))
        if item.engine_flow is not None and item.flow.datapath == "FORWARDED"
    ]
    return Observed(tuple(forwarded), (), (f"flow log {path}",))


def observed_from_args(
    args: argparse.Namespace, loaded: LoadedSource | None, snapshot: Snapshot
) -> Observed:
    from triage.rollout.observed import Observed, combine, observed_from_incident
    from triage.sources.recording import load_incident

    parts = [Observed(tuple(_flows([path])), (), (str(path),)) for path in args.observed]
    parts += [_flow_log(path, snapshot) for path in args.flow_logs]
    if loaded is not None and loaded.incident is not None:
        parts.append(observed_from_incident(loaded.incident, loaded.description))
    for path in args.observed_recordings:
        parts.append(observed_from_incident(load_incident(path), f"recording {path}"))
    parts.append(Observed((), tuple(_flows(args.exclude)), ()))
    return combine(*parts)


def _load(args: argparse.Namespace) -> LoadedSource:
    """The source, read in full: the rollout namespaces are not a read scope."""
    from triage.commands.common import load_source

    return load_source(argparse.Namespace(**{**vars(args), "namespaces": []}))


# ---------------------------------------------------------------- plan


def run_plan(args: argparse.Namespace) -> int:
    from triage.rollout.plan import plan_rollout
    from triage.rollout.render import (
        manifests_yaml,
        rollout_to_dict,
        rollout_to_markdown,
        rollout_to_text,
    )

    namespaces = _namespaces(args)
    loaded = _load(args)
    _known(namespaces, loaded.snapshot, loaded.description)
    observed = observed_from_args(args, loaded, loaded.snapshot)
    rollout = plan_rollout(
        loaded.snapshot,
        namespaces,
        observed,
        context=loaded.context
        or (loaded.incident.meta.context or None if loaded.incident is not None else None),
        live_source=loaded.description,
        simulation=loaded.context is None,
    )
    files = [str(p) for p in args.observed]
    if args.output == "yaml":
        sys.stdout.write(manifests_yaml(rollout))
    elif args.output == "json":
        json.dump(rollout_to_dict(rollout), sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif args.output == "md":
        sys.stdout.write(rollout_to_markdown(rollout, files))
    else:
        from triage.model.untrusted import clean

        for warning in loaded.warnings:
            print(f"warning: {clean(warning)}", file=sys.stderr)
        sys.stdout.write(rollout_to_text(rollout, files))
    return 0


# ---------------------------------------------------------------- apply


def _session(args: argparse.Namespace) -> RollbackSession:
    """The cluster `--context` names (required), read in full: the rollout namespaces are
    the plan's scope, not a read scope (the DNS pods and the peers live elsewhere)."""
    from triage.rollback.session import RollbackSession
    from triage.sources.live import LiveTarget

    target = LiveTarget(
        context=getattr(args, "context", None),
        kubeconfig=getattr(args, "kubeconfig", None),
        namespaces=(),
        timeout=float(args.request_timeout),
    )
    return RollbackSession(target, getattr(args, "state_dir", None))


def _print_check(check: ProbeCheck) -> None:
    mark = {"ok": "ok", "failed": "FAILED", "inconclusive": "?"}[check.verdict]
    print(
        f"  probe: expect {check.target.expect} {check.target.text()}: "
        f"{check.result.outcome} [{mark}]",
        flush=True,
    )


def run_apply(args: argparse.Namespace) -> int:
    from triage.commands.rollback import _finish, confirm, execute_journalled
    from triage.rollback.apply import Run
    from triage.rollout.apply import keep_as_known_good
    from triage.rollout.plan import plan_rollout
    from triage.rollout.render import rollout_to_text

    session = _session(args)
    namespaces = _namespaces(args)
    require(args.sample >= 0, "--sample must be 0 or more")
    context = session.context
    with session.open_store() as store:
        live = session.read_live()
        _known(namespaces, live.snapshot, session.live_source)
        observed = observed_from_args(args, None, live.snapshot)
        rollout = plan_rollout(
            live.snapshot,
            namespaces,
            observed,
            context=context,
            live_source=session.live_source,
            server=live.server,
        )
        plan = rollout.plan
        sys.stdout.write(rollout_to_text(rollout, [str(p) for p in args.observed]))
        sys.stdout.flush()
        if not rollout.safe:
            raise UsageError(
                f"{len(rollout.generation.breaks)} observed flow(s) would break under the "
                "generated set (listed above); nothing applied — fix their resolution or let "
                "them close with --exclude FILE"
            )
        if plan.empty:
            print("nothing to apply: the live set already is the rollout.")
            return 0
        confirmed = confirm(plan, context, yes=args.yes)
        result = execute_journalled(session, store, Run.apply(plan), confirmed)
        saved = keep_as_known_good(store, result)
        print(f"  the live set before the rollout is known-good snapshot #{saved.id}")
        if not result.ok:
            return _finish(result)
        print(f"applied: {result.message} (journal #{result.journal_id})")
        return _verify_and_maybe_revert(args, session, store, rollout, confirmed, result)


def _verify_and_maybe_revert(
    args: argparse.Namespace,
    session: RollbackSession,
    store: Store,
    rollout: Rollout,
    confirmed: str,
    result: ApplyResult,
) -> int:
    from triage.commands.rollback import execute_journalled
    from triage.model.untrusted import preview
    from triage.probes.live import LiveProber
    from triage.rollback.render import plan_to_text
    from triage.rollout.verify import run_verification, verification_targets

    context = session.context
    targets = verification_targets(rollout, args.sample)
    if not targets:
        print("verify: no probe to run (no observed flow from a pod, nothing meant to close)")
        return 0
    print(f"verify: {len(targets)} probe(s) from inside the source pods")
    prober = LiveProber(session.target, context=context)
    verification = run_verification(
        prober, targets, timeout=args.probe_timeout, progress=_print_check
    )
    for check in verification.inconclusive:
        last = (check.result.output.strip().splitlines() or ["error"])[-1]
        print(
            f"warning: probe {check.target.text()} was inconclusive: {preview(last, 160)}",
            file=sys.stderr,
        )
    if verification.still_open:
        print(
            f"warning: {len(verification.still_open)} flow(s) meant to close still connect: "
            "does the CNI enforce NetworkPolicies?",
            file=sys.stderr,
        )
    if not verification.broken:
        print(f"verified: the observed flows connect (journal #{result.journal_id})")
        return 1 if verification.still_open else 0
    broken = ", ".join(c.target.text() for c in verification.broken)
    print(f"verify FAILED: observed flow(s) no longer connect: {broken}", file=sys.stderr)
    revert = f"triage rollback revert {result.journal_id} --context {context}"
    if not args.auto_revert:
        print(f"revert to the saved set with: {revert} --yes", file=sys.stderr)
        return 1
    print("auto-revert: restoring the live set saved before the rollout")
    run = session.follow_up(store, "revert", result.journal_id)
    sys.stdout.write(plan_to_text(run.plan, diffs=False))
    reverted = execute_journalled(session, store, run, confirmed)
    if reverted.status == "dry-run-failed":
        raise ClusterError(f"auto-revert: {reverted.message} (journal #{reverted.journal_id})")
    if reverted.ok:
        print(f"reverted: {reverted.message} (journal #{reverted.journal_id})")
    else:
        for line in reverted.report():
            print(line, file=sys.stderr)
    return 1
