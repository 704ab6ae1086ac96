"""`triage rollback`: plan, apply, resume and revert a rollback of NetworkPolicies.

    triage rollback plan --to 3 -o md > plan.md            # the live cluster vs snapshot #3
    triage rollback plan --recording incident.yaml          # a SIMULATION vs its known-good set
    triage rollback apply --to 3 --context prod-eu          # asks you to type prod-eu
    triage rollback apply --to-manifests gitops/checkout --context prod-eu --yes
    triage rollback resume 7 --context prod-eu              # finish an interrupted run
    triage rollback revert 7 --context prod-eu              # back to the run's backup
    triage rollback journal [7]

Nothing is written to a cluster without `--context NAME` naming the kubeconfig context in
use AND either `--yes` or the context name typed at the prompt. A plan that deletes every
policy of its scope (an empty target) also needs `--delete-all` with `--yes`; at the prompt
it is spelled out first.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from triage.commands.common import add_live_options, add_source_options, require
from triage.commands.snapshot import add_state_dir_option, open_store
from triage.errors import ClusterError, UsageError

if TYPE_CHECKING:
    from triage.rollback.apply import ApplyResult, Progress, Run
    from triage.rollback.plan import Plan
    from triage.rollback.policyset import PolicySet
    from triage.rollback.session import FollowUp, RollbackSession
    from triage.rollback.store import Store


def _add_target_options(parser: argparse.ArgumentParser, *, known_good: bool) -> None:
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--to", dest="to_id", type=int, metavar="ID", help="a stored snapshot")
    target.add_argument(
        "--to-manifests",
        dest="to_manifests",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="NetworkPolicy manifests (files or folders, e.g. a GitOps checkout); only their "
        "namespaces are in scope",
    )
    if known_good:
        target.add_argument(
            "--to-known-good",
            dest="to_known_good",
            metavar="NAME",
            help="with --recording: the recording's knownGood set NAME (default: the first)",
        )


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "rollback",
        help="plan, apply, resume or revert a rollback to a known-good policy set",
        description="Guided rollback of NetworkPolicies: per-policy diff, connectivity delta, "
        "server-side dry-run, ordered apply with optimistic concurrency, journal, verify.",
    )
    sub = parser.add_subparsers(dest="rollback_command", metavar="ACTION", required=True)

    plan = sub.add_parser(
        "plan",
        help="show what a rollback would change (never writes)",
        description="The per-policy diff between the live set (or a recording) and the "
        "target, the order it would be applied in and why, and the flows that will open "
        "and close. Default target: the latest known-good snapshot of the context, or the "
        "recording's first knownGood set.",
    )
    add_source_options(plan)
    add_state_dir_option(plan)
    _add_target_options(plan, known_good=True)
    plan.add_argument(
        "--output",
        "-o",
        choices=("text", "md", "json"),
        default="text",
        help="text (default), md (a runbook with kubectl commands and probes) or json",
    )
    plan.set_defaults(run=run_plan)

    apply = sub.add_parser(
        "apply",
        help="apply a rollback to the live cluster (backup, dry-run, apply, verify)",
        description="Re-read, back up, dry-run every operation server-side, apply in plan "
        "order with resourceVersion preconditions, journal each step, verify.",
    )
    add_live_options(apply)
    add_state_dir_option(apply)
    _add_target_options(apply, known_good=False)
    _add_confirm(apply)
    apply.set_defaults(run=run_apply)

    for name, helptext in (
        ("resume", "re-plan from the live state toward the same target as journal ID"),
        ("revert", "restore the backup taken before journal ID's run"),
    ):
        p = sub.add_parser(name, help=helptext, description=helptext + ".")
        p.add_argument("journal", type=int, metavar="JOURNAL")
        add_live_options(p)
        add_state_dir_option(p)
        _add_confirm(p)
        p.set_defaults(run=run_resume if name == "resume" else run_revert)

    journal = sub.add_parser("journal", help="list journals, or show one")
    journal.add_argument("journal", type=int, nargs="?", metavar="JOURNAL")
    add_state_dir_option(journal)
    journal.add_argument("--output", "-o", choices=("text", "json"), default="text")
    journal.set_defaults(run=run_journal)


def _add_confirm(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--yes",
        action="store_true",
        help="do not ask; --context must still name the context (required without a terminal)",
    )
    parser.add_argument(
        "--delete-all",
        dest="delete_all",
        action="store_true",
        help="with --yes: allow a plan that deletes every policy in its scope and creates "
        "none (refused otherwise; at the prompt it is spelled out before you type the context)",
    )


# ---------------------------------------------------------------- plan


def run_plan(args: argparse.Namespace) -> int:
    from triage.commands.common import load_source
    from triage.rollback.plan import make_plan
    from triage.rollback.render import plan_to_dict, plan_to_markdown, plan_to_text
    from triage.rollback.targets import from_known_good

    if getattr(args, "to_known_good", None) is not None:
        require(args.recording is not None, "--to-known-good NAME needs --recording FILE")
    loaded = load_source(args)
    flows: list[Any] = []
    if loaded.context is None:  # a recording or manifests: a simulation, never applied
        incident = loaded.incident
        explicit = args.to_id is not None or bool(args.to_manifests)
        if args.to_manifests:
            from triage.rollback.targets import from_manifests

            target = from_manifests(args.to_manifests)  # no store needed, none created
        elif explicit:
            with open_store(args, read_only=True) as store:
                target = _explicit_target(args, store)
        elif incident is not None:
            target = from_known_good(incident, args.to_known_good, str(args.recording))
        else:
            raise UsageError("with --manifests, name a target: --to ID or --to-manifests PATH")
        context = incident.meta.context or None if incident is not None else None
        plan = make_plan(
            loaded.snapshot,
            target,
            context=context,
            live_source=loaded.description,
            simulation=True,
        )
        if incident is not None:
            flows = [(rf.flow, rf.note) for rf in incident.flows]
    else:
        context = loaded.context
        if args.to_manifests:
            from triage.rollback.targets import from_manifests

            target = from_manifests(args.to_manifests)  # no store needed, none created
        else:
            with open_store(args, read_only=True) as store:
                target = _target_for_live(args, store, context)
        plan = make_plan(
            loaded.snapshot,
            target,
            context=context,
            live_scope=_live_scope(args),
            live_source=loaded.description,
        )
    if args.output == "json":
        json.dump(plan_to_dict(plan), sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif args.output == "md":
        sys.stdout.write(plan_to_markdown(plan, flows=flows))
    else:
        for warning in loaded.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        sys.stdout.write(plan_to_text(plan))
    return 0


def _live_scope(args: argparse.Namespace) -> tuple[str, ...] | None:
    namespaces = tuple(getattr(args, "namespaces", ()) or ())
    return tuple(sorted(set(namespaces))) if namespaces else None


def _explicit_target(args: argparse.Namespace, store: Store) -> PolicySet:
    from triage.rollback.targets import from_manifests, from_snapshot

    if args.to_id is not None:
        return from_snapshot(store, args.to_id)
    return from_manifests(args.to_manifests)


def _target_for_live(args: argparse.Namespace, store: Store, context: str) -> PolicySet:
    from triage.rollback.targets import latest_good

    if args.to_id is None and not args.to_manifests:
        return latest_good(store, context)
    return _explicit_target(args, store)


# ---------------------------------------------------------------- apply, resume, revert


def _session(args: argparse.Namespace) -> RollbackSession:
    """The cluster `--context` names (required: never "the current context") and the store."""
    from triage.rollback.session import RollbackSession
    from triage.sources.live import LiveTarget

    target = LiveTarget(
        context=getattr(args, "context", None),
        kubeconfig=getattr(args, "kubeconfig", None),
        namespaces=tuple(getattr(args, "namespaces", ()) or ()),
        timeout=float(getattr(args, "request_timeout", 20.0)),
    )
    return RollbackSession(target, getattr(args, "state_dir", None))


def confirm(
    plan: Plan,
    context: str,
    *,
    yes: bool,
    ask: Callable[[str], str] | None = None,
    delete_all: bool = False,
) -> str:
    """The context name the operator confirmed with: `--yes` stands for it; otherwise it
    must be typed at a terminal. Refuses (UsageError) in every other case.

    A plan that deletes every policy of its scope (an empty target) needs `--delete-all`
    on top of `--yes`; at the prompt it is spelled out before the context is asked for."""
    everything = plan.deletes_everything
    if yes:
        if everything and not delete_all:
            raise UsageError(
                f"refusing: {plan.deletes_everything_text()}; if that is really what you "
                f"want, pass --delete-all with --yes --context {context} (nothing applied)"
            )
        return context
    interactive = ask is not None or (sys.stdin.isatty() and sys.stdout.isatty())
    if not interactive:
        raise UsageError(
            "refusing to change the cluster without confirmation: no terminal to ask on; "
            f"pass --yes --context {context} to apply non-interactively (nothing applied)"
        )
    prompt = (
        (f"{plan.deletes_everything_text()}.\n" if everything else "")
        + f"Apply these {len(plan.operations)} step(s) to context {context!r}? "
        "Type the context name to confirm (anything else cancels): "
    )
    reader = ask or input
    try:
        typed = reader(prompt).strip()
    except EOFError:
        typed = ""
    if typed != context:
        raise UsageError(
            f"confirmation {typed!r} does not match the context {context!r}; nothing applied"
        )
    return typed


def _print_progress(event: Progress) -> None:
    if event.stage == "done":
        return
    where = f" {event.position}/{event.total}" if event.position is not None else ""
    mark = {"start": "…", "ok": "ok", "failed": "FAILED", "info": "-"}[event.status]
    if event.status == "start" and event.stage in ("dry-run", "apply"):
        return  # one line per operation: the outcome
    print(f"  {event.stage}{where}: {event.text} [{mark}]", flush=True)


def _execute(args: argparse.Namespace, session: RollbackSession, store: Store, run: Run) -> int:
    from triage.rollback.render import plan_to_text

    plan = run.plan
    sys.stdout.write(plan_to_text(plan))
    sys.stdout.flush()
    if plan.empty:
        print("nothing to apply.")
        return 0
    confirmed = confirm(
        plan, session.context, yes=args.yes, delete_all=bool(getattr(args, "delete_all", False))
    )
    return _finish(execute_journalled(session, store, run, confirmed))


def execute_journalled(
    session: RollbackSession, store: Store, run: Run, confirmed: str
) -> ApplyResult:
    """`session.execute` with progress on stdout; an interruption (or a store failing
    mid-run) names the journal that records what was applied and how to resume or revert
    it. `confirmed`: the context name the operator confirmed with."""
    before = {j.id for j in store.journals()}
    try:
        return session.execute(store, run, confirmed_context=confirmed, progress=_print_progress)
    except BaseException as exc:
        # Interrupted, or the store failed mid-run: steps may have been applied. The
        # journal (if it could be opened) says which; resume and revert re-read the cluster.
        try:
            new = [j for j in store.journals() if j.id not in before]
        except UsageError:
            new = []
        if new:
            jid, context = new[-1].id, session.context
            what = "interrupted" if isinstance(exc, KeyboardInterrupt) else "stopped"
            print(
                f"triage: {what}; journal #{jid} records what was applied — "
                f"`triage rollback resume {jid} --context {context}` or "
                f"`triage rollback revert {jid} --context {context}`",
                file=sys.stderr,
            )
        raise


def _finish(result: ApplyResult) -> int:
    if result.status == "dry-run-failed":
        raise ClusterError(f"{result.message} (journal #{result.journal_id})")
    if result.ok:
        print(f"verified: {result.message} (journal #{result.journal_id})")
        return 0
    for line in result.report():
        print(line, file=sys.stderr)
    return 1


def run_apply(args: argparse.Namespace) -> int:
    from triage.rollback.apply import RollbackRefused

    session = _session(args)
    context = session.context
    require(
        args.to_id is not None or bool(args.to_manifests),
        "rollback apply needs a target: --to ID (see `triage snapshot list`) or "
        "--to-manifests PATH",
    )
    with open_store(args) as store:
        target = _explicit_target(args, store)
        if target.context is not None and target.context != context:
            raise RollbackRefused(
                f"snapshot #{target.snapshot_id} was saved from context {target.context!r}, "
                f"not {context!r}; refusing to apply one cluster's policies to another "
                "(nothing applied)"
            )
        return _execute(args, session, store, session.plan(target))


def run_resume(args: argparse.Namespace) -> int:
    return _rerun(args, "resume")


def run_revert(args: argparse.Namespace) -> int:
    return _rerun(args, "revert")


def _rerun(args: argparse.Namespace, action: FollowUp) -> int:
    """Resume or revert journal `args.journal`: re-plan from the live state, then apply
    with the same safety as `apply`."""
    session = _session(args)
    with open_store(args) as store:
        return _execute(args, session, store, session.follow_up(store, action, args.journal))


# ---------------------------------------------------------------- journal


def run_journal(args: argparse.Namespace) -> int:
    from triage.rollback.policyset import scope_text

    with open_store(args, read_only=True) as store:
        journals = [store.journal(args.journal)] if args.journal else store.journals()
        if args.output == "json":
            json.dump(
                [
                    {
                        "id": j.id,
                        "created_at": j.created_at,
                        "finished_at": j.finished_at,
                        "context": j.context,
                        "action": j.action,
                        "target": j.target,
                        "status": j.status,
                        "message": j.message,
                        "backup_snapshot_id": j.backup_snapshot_id,
                        "origin_backup_id": j.origin_backup_id,
                        "parent_id": j.parent_id,
                        "steps": [
                            {
                                "position": s.position,
                                "action": s.action,
                                "namespace": s.namespace,
                                "name": s.name,
                                "planned_resource_version": s.planned_rv,
                                "status": s.status,
                                "error": s.error,
                                "before": s.before,
                                "after": s.after,
                            }
                            for s in j.steps
                        ],
                    }
                    for j in journals
                ],
                sys.stdout,
                indent=2,
            )
            sys.stdout.write("\n")
            return 0
        if not journals:
            print(f"no journals in {store.path}")
            return 0
        for j in journals:
            parent = f" (after #{j.parent_id})" if j.parent_id else ""
            print(
                f"#{j.id} {j.created_at} {j.action}{parent} context={j.context} "
                f"status={j.status} backup=#{j.backup_snapshot_id} scope={scope_text(j.scope)}"
            )
            print(f"    target: {j.target}")
            if j.message:
                print(f"    {j.message}")
            if args.journal:
                for s in j.steps:
                    err = f" — {s.error}" if s.error else ""
                    print(f"    {s.position}. {s.action} {s.key}: {s.status}{err}")
    return 0
