"""The known-good store: SQLite in the user's state directory.

Snapshots of policy sets (manual saves and the backup every apply takes first), and the
journals of applies: one row per run and one per step, each step written *before* the call
(`pending`) and again after it (`done`/`failed`), so a run killed at any point leaves a
record that `resume` and `revert` can work from.

The directory is created 0700 and the database 0600: policies are not secrets, but the
store maps a company's clusters and their weak spots.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from triage.errors import UsageError
from triage.model import NetworkPolicy
from triage.model.admin import AdminPolicy
from triage.rollback.policyset import (
    PolicySet,
    admin_from_json,
    admin_to_json,
    policies_from_json,
    policies_to_json,
    scope_text,
)

APP_DIR = "netpol-triage"
DB_NAME = "rollback.sqlite3"
SCHEMA_VERSION = 1

SnapshotKind = Literal["backup", "manual"]
StepStatus = Literal["pending", "done", "failed", "skipped"]
JournalStatus = Literal[
    "planned",  # created, nothing sent yet
    "refused",  # the live set changed since the plan; nothing applied
    "dry-run-failed",  # a server-side dry-run failed; nothing applied
    "applying",  # steps are being applied (a killed run stays here)
    "failed",  # a step failed; the run stopped
    "interrupted",  # the process was stopped between or during steps
    "verify-failed",  # every step applied, but the live set differs from the target
    "verified",  # every step applied and the live set equals the target
]
JournalAction = Literal["apply", "resume", "revert"]

Clock = Callable[[], datetime]


class StoreError(UsageError):
    """The store could not be read or written (locked, read-only, corrupt): one line."""


def default_state_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_STATE_HOME") or ""
    if base and os.path.isabs(base):
        return Path(base) / APP_DIR
    return Path(env.get("HOME") or str(Path.home())) / ".local" / "state" / APP_DIR


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(clock: Clock) -> str:
    return clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    context TEXT NOT NULL,
    source TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    good INTEGER NOT NULL DEFAULT 0,
    kind TEXT NOT NULL CHECK (kind IN ('backup', 'manual')),
    scope TEXT,                        -- JSON list of namespaces; NULL: every namespace
    policies TEXT NOT NULL,            -- JSON list of clean manifests (with resourceVersion)
    namespace_labels TEXT NOT NULL,    -- JSON {namespace: {label: value}}
    pod_labels TEXT NOT NULL,          -- JSON {ns/pod: {label: value}}
    admin_policies TEXT                -- JSON list of admin manifests; NULL: not captured
);
CREATE TABLE IF NOT EXISTS journals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    finished_at TEXT,
    context TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('apply', 'resume', 'revert')),
    target TEXT NOT NULL,              -- what the run aims at, for people
    target_snapshot_id INTEGER REFERENCES snapshots(id),
    target_policies TEXT NOT NULL,     -- the target set itself: resume aims at the same one
    target_admin TEXT,                 -- its admin policies (JSON); NULL: left alone
    scope TEXT,
    backup_snapshot_id INTEGER REFERENCES snapshots(id),   -- the live set before this run
    origin_backup_id INTEGER REFERENCES snapshots(id),     -- before the first run of a chain
    parent_id INTEGER REFERENCES journals(id),
    status TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS journal_steps (
    journal_id INTEGER NOT NULL REFERENCES journals(id),
    position INTEGER NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('create', 'replace', 'delete')),
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    planned_rv TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'failed', 'skipped')),
    before TEXT,                       -- the live object before the step (JSON), if any
    after TEXT,                        -- what the server returned / what was sent (JSON)
    error TEXT NOT NULL DEFAULT '',
    started_at TEXT,
    finished_at TEXT,
    PRIMARY KEY (journal_id, position)
);
"""


@dataclass(frozen=True)
class SavedSnapshot:
    id: int
    created_at: str
    context: str
    source: str
    note: str
    good: bool
    kind: SnapshotKind
    scope: tuple[str, ...] | None
    policies: tuple[NetworkPolicy, ...]
    namespace_labels: Mapping[str, Mapping[str, str]]
    pod_labels: Mapping[str, Mapping[str, str]]
    admin_policies: tuple[AdminPolicy, ...] | None = None

    @property
    def label(self) -> str:
        flags = "good" if self.good else self.kind
        return f"#{self.id} {self.created_at} {self.context} ({flags})"

    def policy_set(self) -> PolicySet:
        what = "known-good snapshot" if self.good else f"{self.kind} snapshot"
        return PolicySet(
            description=f"{what} #{self.id} ({self.created_at}, {self.context})",
            policies=self.policies,
            scope=self.scope,
            namespace_labels=self.namespace_labels,
            pod_labels=self.pod_labels,
            snapshot_id=self.id,
            context=self.context,
            admin_policies=self.admin_policies,
        )


@dataclass(frozen=True)
class JournalStep:
    journal_id: int
    position: int
    action: str
    namespace: str
    name: str
    planned_rv: str | None
    status: StepStatus
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    error: str
    started_at: str | None
    finished_at: str | None

    @property
    def key(self) -> str:
        """`ns/name`; a cluster-scoped admin step has no namespace and its name is the
        admin key (`cnp/NAME`, `anp/NAME`, `banp/default`)."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


@dataclass(frozen=True)
class Journal:
    id: int
    created_at: str
    finished_at: str | None
    context: str
    action: JournalAction
    target: str
    target_snapshot_id: int | None
    target_policies: tuple[NetworkPolicy, ...]
    scope: tuple[str, ...] | None
    backup_snapshot_id: int | None
    origin_backup_id: int | None
    parent_id: int | None
    status: str
    message: str
    steps: tuple[JournalStep, ...] = ()
    target_admin: tuple[AdminPolicy, ...] | None = None

    def target_set(self) -> PolicySet:
        return PolicySet(
            description=self.target,
            policies=self.target_policies,
            scope=self.scope,
            snapshot_id=self.target_snapshot_id,
            context=self.context,
            admin_policies=self.target_admin,
        )


def _scope_json(scope: tuple[str, ...] | None) -> str | None:
    return None if scope is None else json.dumps(sorted(scope))


def _scope_from(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(json.loads(text))


def _labels_json(labels: Mapping[str, Mapping[str, str]]) -> str:
    return json.dumps({k: dict(v) for k, v in labels.items()}, sort_keys=True)


def ensure_private_dir(path: Path) -> None:
    """Create `path` (and parents) and make it 0700. Refuse a directory owned by someone else."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise UsageError(f"state directory {path} belongs to another user; refusing to use it")
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(path, 0o700)


def _ensure_private_file(path: Path) -> None:
    # O_NOFOLLOW: a symbolic link planted at the database's path is refused, not followed.
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    os.close(fd)
    if stat.S_IMODE(path.stat().st_mode) != 0o600:
        os.chmod(path, 0o600)


class Store:
    """One SQLite database. Safe to share between threads (one lock, autocommit)."""

    def __init__(self, state_dir: Path, *, clock: Clock = _now) -> None:
        self.state_dir = state_dir
        self.path = state_dir / DB_NAME
        self.clock = clock
        try:
            ensure_private_dir(state_dir)
            _ensure_private_file(self.path)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except OSError as exc:
            raise UsageError(f"state directory {state_dir}: {exc.strerror or exc}") from None
        except sqlite3.Error as exc:
            raise UsageError(f"store {self.path}: {exc}") from None
        self._lock = threading.RLock()
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.executescript(_SCHEMA)
            self._add_admin_columns()
            self._db.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema', ?)",
                (str(SCHEMA_VERSION),),
            )
        except sqlite3.DatabaseError as exc:
            raise UsageError(f"store {self.path}: {exc}") from None

    @classmethod
    def open(cls, state_dir: Path | None = None, *, clock: Clock = _now) -> Store:
        return cls(state_dir or default_state_dir(), clock=clock)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def now(self) -> str:
        return _stamp(self.clock)

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        """The connection, under the lock; an SQLite failure (locked, read-only, full disk,
        corrupt) becomes one `StoreError` line naming the store."""
        with self._lock:
            try:
                yield self._db
            except sqlite3.Error as exc:
                raise StoreError(f"store {self.path}: {exc}") from exc

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._locked() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise

    def _add_admin_columns(self) -> None:
        """Stores made before admin policies were captured lack their columns: add them
        (NULL: those snapshots and journals say nothing about admin policies)."""
        for table, column in (("snapshots", "admin_policies"), ("journals", "target_admin")):
            have = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} TEXT")

    # ------------------------------------------------------------ snapshots

    def save_snapshot(
        self,
        *,
        context: str,
        source: str,
        policies: tuple[NetworkPolicy, ...],
        scope: tuple[str, ...] | None,
        kind: SnapshotKind = "manual",
        good: bool = False,
        note: str = "",
        namespace_labels: Mapping[str, Mapping[str, str]] | None = None,
        pod_labels: Mapping[str, Mapping[str, str]] | None = None,
        admin_policies: tuple[AdminPolicy, ...] | None = None,
    ) -> SavedSnapshot:
        """`admin_policies` None: the snapshot says nothing about cluster-scoped admin
        policies (a rollback to it leaves them alone); a tuple (maybe empty) is the set."""
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO snapshots (created_at, context, source, note, good, kind, scope,"
                " policies, namespace_labels, pod_labels, admin_policies)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    self.now(),
                    context,
                    source,
                    note,
                    int(good),
                    kind,
                    _scope_json(scope),
                    policies_to_json(policies),
                    _labels_json(namespace_labels or {}),
                    _labels_json(pod_labels or {}),
                    admin_to_json(admin_policies),
                ),
            )
            new_id = int(cur.lastrowid or 0)
        return self.snapshot(new_id)

    def _snapshot_from(self, row: sqlite3.Row) -> SavedSnapshot:
        return SavedSnapshot(
            id=int(row["id"]),
            created_at=row["created_at"],
            context=row["context"],
            source=row["source"],
            note=row["note"],
            good=bool(row["good"]),
            kind=row["kind"],
            scope=_scope_from(row["scope"]),
            policies=policies_from_json(row["policies"], f"snapshot #{row['id']}"),
            namespace_labels=json.loads(row["namespace_labels"]),
            pod_labels=json.loads(row["pod_labels"]),
            admin_policies=admin_from_json(row["admin_policies"], f"snapshot #{row['id']}"),
        )

    def snapshot(self, snapshot_id: int) -> SavedSnapshot:
        with self._locked() as db:
            row = db.execute("SELECT * FROM snapshots WHERE id = ?", (snapshot_id,)).fetchone()
        if row is None:
            raise UsageError(
                f"no snapshot #{snapshot_id} in {self.path} (see: triage snapshot list)"
            )
        return self._snapshot_from(row)

    def snapshots(self, *, context: str | None = None) -> list[SavedSnapshot]:
        query = "SELECT * FROM snapshots"
        params: tuple[Any, ...] = ()
        if context is not None:
            query += " WHERE context = ?"
            params = (context,)
        with self._locked() as db:
            rows = db.execute(query + " ORDER BY id", params).fetchall()
        return [self._snapshot_from(r) for r in rows]

    def latest_good(self, context: str | None) -> SavedSnapshot | None:
        query = "SELECT * FROM snapshots WHERE good = 1"
        params: tuple[Any, ...] = ()
        if context is not None:
            query += " AND context = ?"
            params = (context,)
        with self._locked() as db:
            row = db.execute(query + " ORDER BY id DESC LIMIT 1", params).fetchone()
        return None if row is None else self._snapshot_from(row)

    def mark_good(self, snapshot_id: int, good: bool = True) -> SavedSnapshot:
        self.snapshot(snapshot_id)  # raises for an unknown id
        with self._tx() as db:
            db.execute("UPDATE snapshots SET good = ? WHERE id = ?", (int(good), snapshot_id))
        return self.snapshot(snapshot_id)

    # ------------------------------------------------------------ journals

    def create_journal(
        self,
        *,
        context: str,
        action: JournalAction,
        target: PolicySet,
        backup_snapshot_id: int | None,
        origin_backup_id: int | None,
        parent_id: int | None = None,
        steps: Sequence[tuple[str, str, str, str | None, dict[str, Any] | None]] = (),
    ) -> Journal:
        """A journal with every planned step `pending`: (action, namespace, name, planned_rv,
        before)."""
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO journals (created_at, context, action, target, target_snapshot_id,"
                " target_policies, target_admin, scope, backup_snapshot_id, origin_backup_id,"
                " parent_id, status, message) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    self.now(),
                    context,
                    action,
                    target.description,
                    target.snapshot_id,
                    policies_to_json(target.policies),
                    admin_to_json(target.admin_policies),
                    _scope_json(target.scope),
                    backup_snapshot_id,
                    origin_backup_id,
                    parent_id,
                    "planned",
                    "",
                ),
            )
            journal_id = int(cur.lastrowid or 0)
            for position, (step_action, namespace, name, planned_rv, before) in enumerate(
                steps, start=1
            ):
                db.execute(
                    "INSERT INTO journal_steps (journal_id, position, action, namespace, name,"
                    " planned_rv, status, before) VALUES (?,?,?,?,?,?,?,?)",
                    (
                        journal_id,
                        position,
                        step_action,
                        namespace,
                        name,
                        planned_rv,
                        "pending",
                        None if before is None else json.dumps(before, sort_keys=True),
                    ),
                )
        return self.journal(journal_id)

    def set_journal_status(self, journal_id: int, status: JournalStatus, message: str = "") -> None:
        finished = status not in ("planned", "applying")
        with self._tx() as db:
            db.execute(
                "UPDATE journals SET status = ?, message = ?, finished_at = ? WHERE id = ?",
                (status, message, self.now() if finished else None, journal_id),
            )

    def start_step(self, journal_id: int, position: int) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE journal_steps SET started_at = ? WHERE journal_id = ? AND position = ?",
                (self.now(), journal_id, position),
            )

    def finish_step(
        self,
        journal_id: int,
        position: int,
        status: StepStatus,
        *,
        after: dict[str, Any] | None = None,
        error: str = "",
    ) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE journal_steps SET status = ?, after = ?, error = ?, finished_at = ?"
                " WHERE journal_id = ? AND position = ?",
                (
                    status,
                    None if after is None else json.dumps(after, sort_keys=True),
                    error,
                    self.now(),
                    journal_id,
                    position,
                ),
            )

    def _journal_from(self, row: sqlite3.Row, steps: list[sqlite3.Row]) -> Journal:
        return Journal(
            id=int(row["id"]),
            created_at=row["created_at"],
            finished_at=row["finished_at"],
            context=row["context"],
            action=row["action"],
            target=row["target"],
            target_snapshot_id=row["target_snapshot_id"],
            target_policies=policies_from_json(row["target_policies"], f"journal #{row['id']}"),
            target_admin=admin_from_json(row["target_admin"], f"journal #{row['id']}"),
            scope=_scope_from(row["scope"]),
            backup_snapshot_id=row["backup_snapshot_id"],
            origin_backup_id=row["origin_backup_id"],
            parent_id=row["parent_id"],
            status=row["status"],
            message=row["message"],
            steps=tuple(
                JournalStep(
                    journal_id=int(s["journal_id"]),
                    position=int(s["position"]),
                    action=s["action"],
                    namespace=s["namespace"],
                    name=s["name"],
                    planned_rv=s["planned_rv"],
                    status=s["status"],
                    before=None if s["before"] is None else json.loads(s["before"]),
                    after=None if s["after"] is None else json.loads(s["after"]),
                    error=s["error"],
                    started_at=s["started_at"],
                    finished_at=s["finished_at"],
                )
                for s in steps
            ),
        )

    def journal(self, journal_id: int) -> Journal:
        with self._locked() as db:
            row = db.execute("SELECT * FROM journals WHERE id = ?", (journal_id,)).fetchone()
            if row is None:
                raise UsageError(
                    f"no journal #{journal_id} in {self.path} (see: triage rollback journal)"
                )
            steps = db.execute(
                "SELECT * FROM journal_steps WHERE journal_id = ? ORDER BY position", (journal_id,)
            ).fetchall()
        return self._journal_from(row, steps)

    def journals(self) -> list[Journal]:
        with self._locked() as db:
            ids = [int(r[0]) for r in db.execute("SELECT id FROM journals ORDER BY id")]
        return [self.journal(i) for i in ids]


def describe_snapshot(snap: SavedSnapshot) -> str:
    good = "yes" if snap.good else "no"
    return (
        f"#{snap.id}  {snap.created_at}  context={snap.context}  kind={snap.kind}  good={good}  "
        f"policies={len(snap.policies)}  scope={scope_text(snap.scope)}  source={snap.source}"
        + (f"  admin={len(snap.admin_policies)}" if snap.admin_policies is not None else "")
        + (f"  note={snap.note}" if snap.note else "")
    )
