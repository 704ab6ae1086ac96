"""`triage snapshot`: save, list, show and mark known-good policy sets in the local store.

triage snapshot save --good --note "after the 2024-06-11 sync"   # the live cluster
triage snapshot save --recording incident.yaml --known-good NAME # an incident's set
triage snapshot list
triage snapshot mark-good 3
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from triage.commands.common import add_source_options, load_source, require


def add_state_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="where the store lives (default: $XDG_STATE_HOME/netpol-triage or "
        "~/.local/state/netpol-triage)",
    )


def open_store(args: argparse.Namespace, *, read_only: bool = False) -> Any:
    """The store of `--state-dir` (or the default). `read_only`: for commands that only
    read it, which never create the directory or the database: a `--state-dir` that does
    not exist, or a store never written, is one line and exit 2."""
    from triage.errors import UsageError
    from triage.rollback.store import Store, default_state_dir

    state_dir = getattr(args, "state_dir", None)
    if not read_only:
        return Store.open(state_dir)
    from triage.rollback.knowngood import existing_store

    if state_dir is not None and not state_dir.is_dir():
        raise UsageError(f"--state-dir {state_dir}: no such directory")
    store = existing_store(state_dir)
    if store is None:
        where = state_dir or default_state_dir()
        raise UsageError(
            f"no snapshot store in {where} yet: save one with `triage snapshot save --good`"
        )
    return store


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "snapshot",
        help="save and list known-good policy sets",
        description="Known-good NetworkPolicy sets in the local store (SQLite in the state "
        "directory), the targets of `triage rollback`.",
    )
    sub = parser.add_subparsers(dest="snapshot_command", metavar="ACTION", required=True)

    save = sub.add_parser("save", help="save the current policy set (live, or a recording)")
    add_source_options(save)
    add_state_dir_option(save)
    save.add_argument("--good", action="store_true", help="mark it known-good right away")
    save.add_argument("--note", default="", help="a note for people (what, why, ticket)")
    save.add_argument(
        "--known-good",
        dest="known_good",
        metavar="NAME",
        help="with --recording: save the recording's knownGood set NAME instead of its live set",
    )
    save.set_defaults(run=run_save)

    lst = sub.add_parser("list", help="list saved snapshots")
    add_state_dir_option(lst)
    lst.add_argument("--context", help="only this context's snapshots")
    lst.add_argument("--output", "-o", choices=("text", "json"), default="text")
    lst.set_defaults(run=run_list)

    show = sub.add_parser("show", help="print a snapshot's policies as YAML")
    add_state_dir_option(show)
    show.add_argument("id", type=int, metavar="ID")
    show.set_defaults(run=run_show)

    good = sub.add_parser("mark-good", help="mark a snapshot as known-good (or --unset)")
    add_state_dir_option(good)
    good.add_argument("id", type=int, metavar="ID")
    good.add_argument("--unset", action="store_true", help="remove the known-good mark")
    good.set_defaults(run=run_mark_good)


def run_save(args: argparse.Namespace) -> int:
    from triage.rollback.store import describe_snapshot
    from triage.rollback.targets import find_known_good

    require(
        args.known_good is None or args.recording is not None,
        "--known-good NAME needs --recording FILE",
    )
    loaded = load_source(args)
    snapshot = loaded.snapshot
    namespaces = tuple(getattr(args, "namespaces", ()) or ())
    if loaded.incident is not None:
        context = loaded.incident.meta.context or loaded.incident.meta.cluster or "recording"
        # A recording may have been made with -n: it covers the namespaces it holds, never
        # "every namespace" (a rollback to it would delete every other namespace's policies).
        scope: tuple[str, ...] | None = tuple(
            sorted(
                {ns.name for ns in snapshot.namespaces} | {p.namespace for p in snapshot.policies}
            )
        )
        policies = snapshot.policies
        # Admin policies are kept only when some were captured: an empty capture says
        # nothing (a rollback to it must not delete every cluster-scoped admin policy).
        admin = snapshot.admin_policies or None
        ns_labels = {ns.name: dict(ns.labels) for ns in snapshot.namespaces}
        pod_labels = {p.key: dict(p.labels) for p in snapshot.pods}
        source = loaded.description
        if args.known_good is not None:
            kg = find_known_good(loaded.incident, args.known_good)
            policies = kg.policies
            admin = kg.admin_policies or None
            scope = tuple(sorted({p.namespace for p in policies}))
            ns_labels = {k: dict(v) for k, v in kg.namespace_labels.items()}
            pod_labels = {k: dict(v) for k, v in kg.pod_labels.items()}
            source = f"{loaded.description}, knownGood {kg.name!r}"
    else:
        context = loaded.context or getattr(args, "context", None) or "manifests"
        if loaded.context is None:  # manifests: only the namespaces they describe
            scope = tuple(sorted({ns.name for ns in snapshot.namespaces}))
        else:
            scope = namespaces or None
        policies = snapshot.policies
        admin = snapshot.admin_policies or None
        ns_labels = {ns.name: dict(ns.labels) for ns in snapshot.namespaces}
        pod_labels = {p.key: dict(p.labels) for p in snapshot.pods}
        source = loaded.description
    with open_store(args) as store:
        saved = store.save_snapshot(
            context=context,
            source=source,
            policies=tuple(policies),
            scope=scope,
            kind="manual",
            good=args.good,
            note=args.note,
            namespace_labels=ns_labels,
            pod_labels=pod_labels,
            admin_policies=admin,
        )
        print(f"saved {describe_snapshot(saved)}")
        print(f"store: {store.path}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from triage.rollback.knowngood import existing_store
    from triage.rollback.policyset import scope_text
    from triage.rollback.store import default_state_dir

    state_dir = getattr(args, "state_dir", None)
    if state_dir is not None and not state_dir.is_dir():
        open_store(args, read_only=True)  # raises: --state-dir DIR: no such directory
    found = existing_store(state_dir)
    if found is None:
        # Nothing saved yet: say so, and create nothing.
        if args.output == "json":
            print("[]")
        else:
            where = state_dir or default_state_dir()
            print(f"no snapshots in {where}; save one with `triage snapshot save --good`")
        return 0
    with found as store:
        snaps = store.snapshots(context=args.context)
        if args.output == "json":
            json.dump(
                [
                    {
                        "id": s.id,
                        "created_at": s.created_at,
                        "context": s.context,
                        "source": s.source,
                        "note": s.note,
                        "good": s.good,
                        "kind": s.kind,
                        "scope": None if s.scope is None else list(s.scope),
                        "policies": [p.key for p in s.policies],
                    }
                    for s in snaps
                ],
                sys.stdout,
                indent=2,
            )
            sys.stdout.write("\n")
            return 0
        if not snaps:
            print(f"no snapshots in {store.path}; save one with `triage snapshot save --good`")
            return 0
        print(f"{'ID':>4}  {'CREATED':<20}  {'CONTEXT':<20}  {'KIND':<6}  GOOD  POLICIES  SCOPE")
        for s in snaps:
            print(
                f"{s.id:>4}  {s.created_at:<20}  {s.context:<20}  {s.kind:<6}  "
                f"{'yes ' if s.good else 'no  '}  {len(s.policies):>8}  {scope_text(s.scope)}"
                + (f"  — {s.note}" if s.note else "")
            )
    return 0


def run_show(args: argparse.Namespace) -> int:
    import yaml

    from triage.rollback.policyset import stored_manifest
    from triage.rollback.store import describe_snapshot

    with open_store(args, read_only=True) as store:
        snap = store.snapshot(args.id)
        print(f"# {describe_snapshot(snap)}")
        docs = [stored_manifest(p) for p in snap.policies]
        sys.stdout.write(yaml.safe_dump_all(docs, sort_keys=False) if docs else "# (no policies)\n")
    return 0


def run_mark_good(args: argparse.Namespace) -> int:
    from triage.rollback.store import describe_snapshot

    with open_store(args) as store:
        snap = store.mark_good(args.id, not args.unset)
        print(describe_snapshot(snap))
    return 0
