"""The known-good store: where it lives, who may read it, what it keeps."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from triage.errors import UsageError
from triage.rollback.policyset import parse_policy, semantically_equal
from triage.rollback.store import DB_NAME, Store, default_state_dir


def _policy(name: str, ns: str = "team-a", port: int = 8080, rv: str | None = "7"):
    meta = {"name": name, "namespace": ns, "labels": {"owner": "sre"}}
    if rv is not None:
        meta["resourceVersion"] = rv
        meta["uid"] = "u-1"
        meta["annotations"] = {
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
            "team": "a",
        }
    return parse_policy(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": meta,
            "spec": {
                "podSelector": {"matchLabels": {"app": "web"}},
                "ingress": [{"ports": [{"port": port}]}],
            },
        }
    )


def _clock() -> datetime:
    return datetime(2024, 6, 12, 10, 0, 0, tzinfo=UTC)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_default_state_dir_follows_xdg_and_home() -> None:
    assert default_state_dir({"XDG_STATE_HOME": "/x/state", "HOME": "/h"}) == Path(
        "/x/state/netpol-triage"
    )
    # A relative XDG_STATE_HOME is invalid per the spec and ignored.
    assert default_state_dir({"XDG_STATE_HOME": "rel", "HOME": "/h"}) == Path(
        "/h/.local/state/netpol-triage"
    )
    assert default_state_dir({"HOME": "/h"}) == Path("/h/.local/state/netpol-triage")


def test_store_is_private_0700_dir_0600_file(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a permissive umask must not leak into the store
    try:
        state = tmp_path / "deep" / "state"
        with Store.open(state, clock=_clock) as store:
            store.save_snapshot(context="c", source="s", policies=(_policy("a"),), scope=None)
    finally:
        os.umask(old)
    assert _mode(state) == 0o700
    assert _mode(state / DB_NAME) == 0o600
    # every file SQLite left behind is private too
    for entry in state.iterdir():
        assert _mode(entry) & 0o077 == 0, entry


def test_store_tightens_an_existing_loose_directory(tmp_path: Path) -> None:
    state = tmp_path / "loose"
    state.mkdir(mode=0o755)
    os.chmod(state, 0o755)
    Store.open(state).close()
    assert _mode(state) == 0o700


def test_snapshot_round_trip_keeps_policies_labels_and_scope(tmp_path: Path) -> None:
    with Store.open(tmp_path, clock=_clock) as store:
        saved = store.save_snapshot(
            context="prod",
            source="context prod",
            policies=(_policy("b"), _policy("a", port=9090)),
            scope=("team-a",),
            good=True,
            note="after the sync",
            namespace_labels={"team-a": {"team": "a"}},
            pod_labels={"team-a/web-0": {"app": "web"}},
        )
    with Store.open(tmp_path) as store:
        again = store.snapshot(saved.id)
    assert again.created_at == "2024-06-12T10:00:00Z"
    assert (again.context, again.source, again.note, again.good, again.kind) == (
        "prod",
        "context prod",
        "after the sync",
        True,
        "manual",
    )
    assert again.scope == ("team-a",)
    assert [p.key for p in again.policies] == ["team-a/a", "team-a/b"]
    assert semantically_equal(again.policies[0], _policy("a", port=9090))
    assert again.policies[0].resource_version == "7"  # kept for the record
    manifest = again.policies[0].manifest
    assert "uid" not in manifest["metadata"]
    assert manifest["metadata"]["annotations"] == {"team": "a"}  # last-applied dropped
    assert again.namespace_labels == {"team-a": {"team": "a"}}
    assert again.pod_labels == {"team-a/web-0": {"app": "web"}}


def test_latest_good_and_mark_good(tmp_path: Path) -> None:
    with Store.open(tmp_path, clock=_clock) as store:
        first = store.save_snapshot(context="prod", source="s", policies=(), scope=None, good=True)
        second = store.save_snapshot(context="prod", source="s", policies=(), scope=None)
        other = store.save_snapshot(context="dev", source="s", policies=(), scope=None, good=True)
        assert store.latest_good("prod").id == first.id
        store.mark_good(second.id)
        assert store.latest_good("prod").id == second.id
        assert store.latest_good("dev").id == other.id
        store.mark_good(second.id, good=False)
        assert store.latest_good("prod").id == first.id
        assert [s.id for s in store.snapshots(context="prod")] == [first.id, second.id]
        with pytest.raises(UsageError, match="no snapshot #99"):
            store.mark_good(99)


def test_journal_steps_are_recorded_before_and_after(tmp_path: Path) -> None:
    from triage.rollback.policyset import PolicySet

    with Store.open(tmp_path, clock=_clock) as store:
        backup = store.save_snapshot(
            context="prod", source="b", policies=(_policy("a"),), scope=None, kind="backup"
        )
        journal = store.create_journal(
            context="prod",
            action="apply",
            target=PolicySet("t", (_policy("a", port=1),), scope=("team-a",)),
            backup_snapshot_id=backup.id,
            origin_backup_id=backup.id,
            steps=[("replace", "team-a", "a", "7", {"metadata": {"name": "a"}})],
        )
        assert journal.status == "planned"
        assert [(s.action, s.key, s.status, s.planned_rv) for s in journal.steps] == [
            ("replace", "team-a/a", "pending", "7")
        ]
        store.set_journal_status(journal.id, "applying")
        store.start_step(journal.id, 1)
        assert store.journal(journal.id).steps[0].started_at is not None
        store.finish_step(journal.id, 1, "done", after={"metadata": {"resourceVersion": "8"}})
        store.set_journal_status(journal.id, "verified", "ok")
        again = store.journal(journal.id)
    assert again.status == "verified" and again.finished_at is not None
    assert again.steps[0].status == "done"
    assert again.steps[0].before == {"metadata": {"name": "a"}}
    assert again.steps[0].after == {"metadata": {"resourceVersion": "8"}}
    assert again.target_set().scope == ("team-a",)
    assert again.target_policies[0].ingress[0].ports[0].port == 1


def test_a_store_owned_by_nobody_else_is_required(tmp_path: Path, monkeypatch) -> None:
    state = tmp_path / "s"
    state.mkdir()
    monkeypatch.setattr(os, "getuid", lambda: os.stat(state).st_uid + 1)
    with pytest.raises(UsageError, match="belongs to another user"):
        Store.open(state)
