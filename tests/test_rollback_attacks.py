"""Adversarial rollback tests: try to lose a NetworkPolicy, or to change a cluster without a
confirmation that names its context. Every test checks the exact set of policies (names and
specs) on the Kubernetes API test server afterwards."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_rollback_helpers import (
    ALLOW_API,
    ALLOW_WEB_ANY,
    SHOP_LIVE,
    SHOP_OBJECTS,
    SHOP_TARGET,
    expected_set,
    netpol,
    ns,
    policies,
    server_policy_set,
)
from triage.cli import main
from triage.errors import UsageError
from triage.rollback.api import KubePolicyApi
from triage.rollback.apply import Applier, RollbackRefused, Run, resume_run, revert_run
from triage.rollback.plan import Operation, Plan, make_plan
from triage.rollback.policyset import PolicySet
from triage.rollback.store import Store
from triage.sources.live import LiveTarget, load_live

pytestmark = pytest.mark.live

CONTEXT = "triage-test"
WRITES = ("POST", "PUT", "PATCH", "DELETE")
ORIGINAL = expected_set(SHOP_LIVE)
TARGET = expected_set(SHOP_TARGET)

BILLING_POLICY = netpol("billing", "billing-deny", {"podSelector": {}, "policyTypes": ["Ingress"]})


def seed_shop(server: Any, extra_policies: list[dict[str, Any]] = ()) -> None:  # type: ignore[assignment]
    server.seed(
        namespaces=[o for o in SHOP_OBJECTS if o["kind"] == "Namespace"],
        pods=[o for o in SHOP_OBJECTS if o["kind"] == "Pod"],
        network_policies=[*SHOP_LIVE, *extra_policies],
    )


def real_writes(server: Any) -> list[Any]:
    return [r for r in server.requests if r.method in WRITES and not r.dry_run]


def any_writes(server: Any) -> list[Any]:
    return [r for r in server.requests if r.method in WRITES]


def run_cli(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write_folder(path: Path, docs: list[dict[str, Any]]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "policies.yaml").write_text(yaml.safe_dump_all(docs))
    return path


class Env:
    def __init__(self, server: Any, kubeconfig: Path, store: Store) -> None:
        self.server = server
        self.kubeconfig = kubeconfig
        self.store = store

    def api(self, timeout: float = 5.0) -> KubePolicyApi:
        return KubePolicyApi.connect(CONTEXT, self.kubeconfig, timeout)

    def live(self, namespaces: tuple[str, ...] = ()) -> Any:
        return load_live(
            LiveTarget(context=CONTEXT, kubeconfig=self.kubeconfig, namespaces=namespaces)
        )

    def plan(
        self,
        docs: list[dict[str, Any]] = SHOP_TARGET,
        scope: tuple[str, ...] | None = None,
        live_scope: tuple[str, ...] | None = None,
    ) -> Plan:
        target = PolicySet("target", policies(*docs), scope=scope)
        live = self.live(live_scope or ())
        return make_plan(
            live.snapshot, target, context=CONTEXT, live_scope=live_scope, server=live.server
        )

    def applier(self, **kwargs: Any) -> Applier:
        return Applier(self.api(), self.store, **kwargs)

    def resume(self, journal_id: int) -> Any:
        live = self.live()
        run = resume_run(self.store, journal_id, live.snapshot, context=CONTEXT, server=live.server)
        return self.applier().run(run, confirmed_context=CONTEXT)

    def revert(self, journal_id: int) -> Any:
        live = self.live()
        run = revert_run(self.store, journal_id, live.snapshot, context=CONTEXT, server=live.server)
        return self.applier().run(run, confirmed_context=CONTEXT)


@pytest.fixture
def env(kube_api: Any, kubeconfig: Path, tmp_path: Path) -> Any:
    seed_shop(kube_api)
    store = Store.open(tmp_path / "state")
    try:
        yield Env(kube_api, kubeconfig, store)
    finally:
        store.close()


# ---------------------------------------------------------------- contexts and kubeconfigs


def _two_context_kubeconfig(path: Path, current: Any, other: Any) -> Path:
    """current-context `triage-test` → `current`; context `other` → `other`."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "c1", "cluster": {"server": current.url}},
            {"name": "c2", "cluster": {"server": other.url}},
        ],
        "users": [{"name": "u", "user": {"token": current.state.token}}],
        "contexts": [
            {"name": CONTEXT, "context": {"cluster": "c1", "user": "u"}},
            {"name": "other", "context": {"cluster": "c2", "user": "u"}},
        ],
        "current-context": CONTEXT,
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def test_apply_to_a_context_that_is_not_the_current_one_touches_only_that_cluster(
    kube_api_factory: Any, tmp_path: Path, capsys: Any
) -> None:
    current, other = kube_api_factory(), kube_api_factory()
    seed_shop(current)
    seed_shop(other)
    config = _two_context_kubeconfig(tmp_path / "kubeconfig", current, other)
    folder = write_folder(tmp_path / "gitops", SHOP_TARGET)
    code, _, err = run_cli(
        capsys, "rollback", "apply", "--to-manifests", str(folder), "--context", "other",
        "--yes", "--kubeconfig", str(config), "--state-dir", str(tmp_path / "state"),
    )  # fmt: skip
    assert code == 0, err
    assert any_writes(current) == [] and current.requests == []
    assert server_policy_set(current) == ORIGINAL
    assert server_policy_set(other) == TARGET
    # the journal of `other` cannot be resumed against the current context
    code, _, err = run_cli(
        capsys, "rollback", "revert", "1", "--context", CONTEXT, "--yes",
        "--kubeconfig", str(config), "--state-dir", str(tmp_path / "state"),
    )  # fmt: skip
    assert code == 2 and "was applied to context 'other', not 'triage-test'" in err
    assert any_writes(current) == []
    assert server_policy_set(current) == ORIGINAL


@pytest.mark.parametrize("same_objects", [True, False])
def test_a_kubeconfig_rewritten_between_plan_and_apply_is_refused(
    kube_api_factory: Any, tmp_path: Path, capsys: Any, monkeypatch: Any, same_objects: bool
) -> None:
    """While the operator reads the plan, `triage-test` is re-pointed at another cluster
    (kind/minikube re-use context names). Even an identical cluster (same names, specs and
    resourceVersions) is not the one the plan was made against."""
    import triage.commands.rollback as cmd

    planned, swapped = kube_api_factory(), kube_api_factory()
    seed_shop(planned)
    if same_objects:
        seed_shop(swapped)
    else:
        swapped.seed(namespaces=[o for o in SHOP_OBJECTS if o["kind"] == "Namespace"])
    config = planned.write_kubeconfig(tmp_path / "kubeconfig", context=CONTEXT)
    real_confirm = cmd.confirm

    def confirm_then_swap(*args: Any, **kwargs: Any) -> str:
        swapped.write_kubeconfig(config, context=CONTEXT)
        return real_confirm(*args, **kwargs)

    monkeypatch.setattr(cmd, "confirm", confirm_then_swap)
    folder = write_folder(tmp_path / "gitops", SHOP_TARGET)
    code, _, err = run_cli(
        capsys, "rollback", "apply", "--to-manifests", str(folder), "--context", CONTEXT,
        "--yes", "--kubeconfig", str(config), "--state-dir", str(tmp_path / "state"),
    )  # fmt: skip
    assert code == 2, err
    assert "nothing applied" in err
    assert any_writes(planned) == [] and any_writes(swapped) == []
    assert server_policy_set(planned) == ORIGINAL
    assert server_policy_set(swapped) == (ORIGINAL if same_objects else {})


def test_a_journal_from_another_context_is_refused_by_resume_from_the_cli(
    env: Env, tmp_path: Path, capsys: Any
) -> None:
    plan = env.plan()
    foreign = Run(
        make_plan(plan.live_snapshot, plan.target, context="prod"),  # type: ignore[arg-type]
        "apply",
    )
    env.store.create_journal(
        context="prod",
        action="apply",
        target=foreign.plan.target,
        backup_snapshot_id=None,
        origin_backup_id=None,
    )
    for verb in ("resume", "revert"):
        code, _, err = run_cli(
            capsys, "rollback", verb, "1", "--context", CONTEXT, "--yes",
            "--kubeconfig", str(env.kubeconfig), "--state-dir", str(env.store.state_dir),
        )  # fmt: skip
        assert code == 2 and "was applied to context 'prod'" in err, err
    assert any_writes(env.server) == []
    assert server_policy_set(env.server) == ORIGINAL


# ---------------------------------------------------------------- a target with no policies


def test_an_empty_snapshot_target_needs_more_than_yes(env: Env, capsys: Any) -> None:
    """A known-good snapshot with no policy at all and scope 'all namespaces' deletes every
    policy in the cluster: `--yes` alone must not do that."""
    env.server.add(ns("billing"))
    env.server.add(BILLING_POLICY)
    everything = {**ORIGINAL, **expected_set([BILLING_POLICY])}
    env.store.save_snapshot(context=CONTEXT, source="empty", policies=(), scope=None, good=True)
    opts = ["--kubeconfig", str(env.kubeconfig), "--state-dir", str(env.store.state_dir)]
    code, out, err = run_cli(
        capsys, "rollback", "apply", "--to", "1", "--context", CONTEXT, "--yes", *opts
    )
    assert code == 2, err
    assert "deletes all 5 live policies" in out  # the plan says so
    assert "--delete-all" in err and "nothing applied" in err
    assert any_writes(env.server) == []
    assert server_policy_set(env.server) == everything
    # interactively, the prompt says it in capitals before asking for the context name
    from triage.commands.rollback import confirm

    plan = make_plan(env.live().snapshot, env.store.snapshot(1).policy_set(), context=CONTEXT)
    prompts: list[str] = []
    with pytest.raises(UsageError, match="does not match"):
        confirm(plan, CONTEXT, yes=False, ask=lambda p: prompts.append(p) or "y")
    assert "DELETES ALL 5" in prompts[0]
    # named explicitly, it is done (and the backup has every policy)
    code, out, err = run_cli(
        capsys, "rollback", "apply", "--to", "1", "--context", CONTEXT, "--yes",
        "--delete-all", *opts,
    )  # fmt: skip
    assert code == 0, err
    assert server_policy_set(env.server) == {}
    backup = next(s for s in env.store.snapshots() if s.kind == "backup")
    assert {p.key for p in backup.policies} == set(everything)
    # and the revert brings all of them back
    code, _, err = run_cli(capsys, "rollback", "revert", "1", "--context", CONTEXT, "--yes", *opts)
    assert code == 0, err
    assert server_policy_set(env.server) == everything


def test_a_recording_saved_as_a_snapshot_covers_only_its_namespaces(
    env: Env, tmp_path: Path, capsys: Any
) -> None:
    """`triage record -n shop` holds only shop; saved as a snapshot and applied, it must not
    delete the policies of every other namespace."""
    env.server.add(ns("billing"))
    env.server.add(BILLING_POLICY)
    recording = tmp_path / "shop.yaml"
    code, _, err = run_cli(
        capsys, "record", "--context", CONTEXT, "--kubeconfig", str(env.kubeconfig),
        "-n", "shop", "-o", str(recording), "--title", "shop only",
    )  # fmt: skip
    assert code == 0, err
    state = str(env.store.state_dir)
    code, out, err = run_cli(
        capsys, "snapshot", "save", "--recording", str(recording), "--state-dir", state
    )
    assert code == 0, err
    assert "scope=namespace shop" in out
    code, out, err = run_cli(
        capsys, "rollback", "apply", "--to", "1", "--context", CONTEXT, "--yes",
        "--kubeconfig", str(env.kubeconfig), "--state-dir", state,
    )  # fmt: skip
    assert code == 0, err
    assert "nothing to apply" in out
    assert any_writes(env.server) == []
    assert server_policy_set(env.server) == {**ORIGINAL, **expected_set([BILLING_POLICY])}


# ---------------------------------------------------------------- --to-manifests


def test_manifests_outside_the_live_read_are_left_alone(
    env: Env, tmp_path: Path, capsys: Any
) -> None:
    env.server.add(ns("billing"))
    env.server.add(BILLING_POLICY)
    other_billing = netpol("billing", "billing-open", {"podSelector": {}, "ingress": [{}]})
    folder = write_folder(tmp_path / "gitops", [*SHOP_TARGET, other_billing])
    code, out, err = run_cli(
        capsys, "rollback", "apply", "--to-manifests", str(folder), "--context", CONTEXT,
        "-n", "shop", "--yes", "--kubeconfig", str(env.kubeconfig),
        "--state-dir", str(env.store.state_dir),
    )  # fmt: skip
    assert code == 0, err
    assert "outside the scope (namespace shop) and left alone: billing/billing-open" in out
    assert {r.path.split("/")[5] for r in any_writes(env.server)} == {"shop"}
    assert server_policy_set(env.server) == {**TARGET, **expected_set([BILLING_POLICY])}


def test_a_manifests_target_with_a_policy_twice_is_refused(
    env: Env, tmp_path: Path, capsys: Any
) -> None:
    """Two different specs for shop/allow-api: which one is known-good? Not ours to guess."""
    other = netpol("shop", "allow-api", {"podSelector": {}, "ingress": [{}]})
    folder = tmp_path / "gitops"
    write_folder(folder, SHOP_TARGET)
    (folder / "later.yaml").write_text(yaml.safe_dump(other))
    code, _, err = run_cli(
        capsys, "rollback", "apply", "--to-manifests", str(folder), "--context", CONTEXT,
        "--yes", "--kubeconfig", str(env.kubeconfig), "--state-dir", str(env.store.state_dir),
    )  # fmt: skip
    assert code == 2
    assert "shop/allow-api appears 2 times with different specs" in err
    assert "nothing applied" in err
    assert env.server.requests == []  # refused before the cluster is even read
    assert server_policy_set(env.server) == ORIGINAL
    # the same policy twice, identical: harmless, accepted
    (folder / "later.yaml").write_text(yaml.safe_dump(ALLOW_API))
    code, _, err = run_cli(
        capsys, "rollback", "apply", "--to-manifests", str(folder), "--context", CONTEXT,
        "--yes", "--kubeconfig", str(env.kubeconfig), "--state-dir", str(env.store.state_dir),
    )  # fmt: skip
    assert code == 0, err
    assert server_policy_set(env.server) == TARGET


def test_a_target_namespace_that_no_longer_exists_applies_nothing(env: Env) -> None:
    gone = netpol("gone", "old-policy", {"podSelector": {}, "policyTypes": ["Ingress"]})
    plan = env.plan([*SHOP_TARGET, gone], scope=("gone", "shop"))
    assert "create gone/old-policy" in [op.describe() for op in plan.operations]
    result = env.applier().run(Run.apply(plan), confirmed_context=CONTEXT)
    assert result.status == "dry-run-failed" and result.nothing_applied
    assert "gone" in result.message and "404" in result.message
    assert real_writes(env.server) == []
    assert server_policy_set(env.server) == ORIGINAL


# ---------------------------------------------------------------- races with other writers


def _step(plan: Plan, describe: str) -> int:
    return next(i for i, op in enumerate(plan.operations, 1) if op.describe() == describe)


def test_a_policy_deleted_by_someone_else_mid_apply(env: Env) -> None:
    """Deleted after the dry-run: the replace of it fails (404) and stops the run; the
    delete of another that vanished counts as done. Nothing else is lost."""
    plan = env.plan()
    first = plan.operations[0]

    def after_step(position: int, _op: Operation) -> None:
        if position == 1:
            env.server.remove("networkpolicies", "allow-web", "shop")
            env.server.remove("networkpolicies", "allow-legacy", "shop")

    result = env.applier(after_step=after_step).run(Run.apply(plan), confirmed_context=CONTEXT)
    assert result.status == "failed"
    failed = next(s for s in result.steps if s.state == "failed")
    assert failed.operation.describe() == "replace shop/allow-web" and "404" in failed.message
    now = server_policy_set(env.server)
    assert "shop/allow-web" not in now  # their delete stands; we did not re-create it
    assert now["shop/default-deny"] == ORIGINAL["shop/default-deny"]
    assert first.key in now
    # resume reaches the target; revert brings back the backup, theirs included
    assert env.resume(result.journal_id).ok
    assert server_policy_set(env.server) == TARGET
    assert env.revert(result.journal_id).ok
    assert server_policy_set(env.server) == ORIGINAL


def test_a_delete_of_a_policy_already_gone_is_done_not_failed(env: Env) -> None:
    plan = env.plan()
    legacy = _step(plan, "delete shop/allow-legacy")

    def after_step(position: int, _op: Operation) -> None:
        if position == legacy - 1:
            env.server.remove("networkpolicies", "allow-legacy", "shop")

    result = env.applier(after_step=after_step).run(Run.apply(plan), confirmed_context=CONTEXT)
    assert result.ok, result.report()
    assert result.steps[legacy - 1].message == "already absent"
    assert server_policy_set(env.server) == TARGET


def test_a_policy_created_by_someone_else_with_a_planned_name(env: Env) -> None:
    plan = env.plan()
    theirs = netpol("shop", "allow-api", {"podSelector": {}, "ingress": [{}]})
    create = _step(plan, "create shop/allow-api")

    def after_step(position: int, _op: Operation) -> None:
        if position == create - 1:
            env.server.add(theirs)

    if create == 1:  # created before the run even started: the re-read refuses
        env.server.add(theirs)
        with pytest.raises(RollbackRefused, match="shop/allow-api was created"):
            env.applier().run(Run.apply(plan), confirmed_context=CONTEXT)
        assert real_writes(env.server) == []
        return
    result = env.applier(after_step=after_step).run(Run.apply(plan), confirmed_context=CONTEXT)
    assert result.status == "failed"
    failed = result.steps[create - 1]
    assert failed.state == "failed" and "409" in failed.message
    assert (
        server_policy_set(env.server)["shop/allow-api"] == expected_set([theirs])["shop/allow-api"]
    )
    # revert: back to the backup, which did not have shop/allow-api; theirs came later, and
    # the revert plan says it deletes it (it is not silently kept or silently dropped)
    live = env.live()
    run = revert_run(env.store, result.journal_id, live.snapshot, context=CONTEXT)
    assert "delete shop/allow-api" in [op.describe() for op in run.plan.operations]


# ---------------------------------------------------------------- chains: resume and revert


def test_resume_twice_and_revert_after_a_partial_resume(env: Env) -> None:
    def stop_at(k: int) -> Any:
        def after_step(position: int, _op: Operation) -> None:
            if position == k:
                raise KeyboardInterrupt

        return after_step

    with pytest.raises(KeyboardInterrupt):
        env.applier(after_step=stop_at(2)).run(Run.apply(env.plan()), confirmed_context=CONTEXT)
    first = env.store.journals()[-1]
    # a resume that itself stops after one more step
    live = env.live()
    run = resume_run(env.store, first.id, live.snapshot, context=CONTEXT, server=live.server)
    assert len(run.plan.operations) == 3
    with pytest.raises(KeyboardInterrupt):
        env.applier(after_step=stop_at(1)).run(run, confirmed_context=CONTEXT)
    second = env.store.journals()[-1]
    assert second.parent_id == first.id and second.status == "interrupted"
    now = server_policy_set(env.server)
    assert set(now) <= set(ORIGINAL) | set(TARGET)
    assert all(now[k] in (ORIGINAL.get(k), TARGET.get(k)) for k in now)
    # revert of the partial resume: back to the set before the very first apply
    assert env.revert(second.id).ok
    assert server_policy_set(env.server) == ORIGINAL
    live = env.live()
    assert revert_run(env.store, second.id, live.snapshot, context=CONTEXT).plan.empty
    # resume the first journal twice: the second is a no-op
    assert env.resume(first.id).ok
    assert server_policy_set(env.server) == TARGET
    live = env.live()
    assert resume_run(env.store, first.id, live.snapshot, context=CONTEXT).plan.empty
    assert resume_run(env.store, second.id, live.snapshot, context=CONTEXT).plan.empty
    # and a revert of the first journal still restores the original set
    assert env.revert(first.id).ok
    assert server_policy_set(env.server) == ORIGINAL


# ---------------------------------------------------------------- backups and the store


def test_a_backup_read_that_fails_midway_stops_before_any_write(env: Env) -> None:
    """A paginated re-read that dies on page 2: the backup would be incomplete, so nothing
    is saved and nothing written."""
    env.server.add(ns("bulk"))
    env.server.seed(
        network_policies=(
            netpol("bulk", f"p{i:03d}", {"podSelector": {"matchLabels": {"x": str(i)}}})
            for i in range(520)
        )
    )
    before = server_policy_set(env.server)
    plan = env.plan(scope=("bulk", "shop"), docs=[*SHOP_TARGET])
    assert len(plan.operations) == 5 + 520  # the target deletes the bulk policies
    env.server.clear_requests()
    env.server.inject("GET", r"/networkpolicies$", status=500, on_call=2)  # 2nd page of bulk
    with pytest.raises(Exception, match="500"):
        env.applier().run(Run.apply(plan), confirmed_context=CONTEXT)
    assert any_writes(env.server) == []
    assert env.store.snapshots() == [] and env.store.journals() == []
    assert server_policy_set(env.server) == before


def _lock(path: Path) -> sqlite3.Connection:
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    return other


def test_a_locked_store_refuses_before_touching_the_cluster(env: Env, capsys: Any) -> None:
    folder = write_folder(env.store.state_dir.parent / "gitops", SHOP_TARGET)
    other = _lock(env.store.path)
    try:
        code, _, err = run_cli(
            capsys, "rollback", "apply", "--to-manifests", str(folder), "--context", CONTEXT,
            "--yes", "--kubeconfig", str(env.kubeconfig), "--state-dir", str(env.store.state_dir),
        )  # fmt: skip
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert code == 2, err
    assert "locked" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert any_writes(env.server) == []
    assert server_policy_set(env.server) == ORIGINAL


def test_a_store_locked_after_planning_refuses_before_any_write(env: Env) -> None:
    plan = env.plan()
    other = _lock(env.store.path)
    try:
        with pytest.raises(UsageError, match=r"locked.*nothing applied"):
            env.applier().run(Run.apply(plan), confirmed_context=CONTEXT)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert any_writes(env.server) == []
    assert server_policy_set(env.server) == ORIGINAL


def test_a_read_only_store_refuses_before_touching_the_cluster(
    env: Env, capsys: Any, monkeypatch: Any
) -> None:
    """A read-only filesystem (simulated: root ignores file modes)."""
    import errno
    import os as os_module

    real_open = os_module.open

    def ro_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if str(path).startswith(str(env.store.state_dir)) and flags & (
            os_module.O_RDWR | os_module.O_WRONLY
        ):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr("triage.rollback.store.os.open", ro_open)
    folder = write_folder(env.store.state_dir.parent / "gitops", SHOP_TARGET)
    code, _, err = run_cli(
        capsys, "rollback", "apply", "--to-manifests", str(folder), "--context", CONTEXT,
        "--yes", "--kubeconfig", str(env.kubeconfig), "--state-dir", str(env.store.state_dir),
    )  # fmt: skip
    assert code == 2 and "Read-only file system" in err
    assert env.server.requests == []
    assert server_policy_set(env.server) == ORIGINAL


# ---------------------------------------------------------------- stopped after a write


@pytest.mark.parametrize("k", [1, 3, 5])
def test_interrupt_after_a_write_before_the_journal_says_done(env: Env, k: int) -> None:
    plan = env.plan()
    real_finish = env.store.finish_step

    def finish_step(journal_id: int, position: int, status: str, **kwargs: Any) -> None:
        if position == k and status == "done":
            raise KeyboardInterrupt
        real_finish(journal_id, position, status, **kwargs)  # type: ignore[arg-type]

    env.store.finish_step = finish_step  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        env.applier().run(Run.apply(plan), confirmed_context=CONTEXT)
    env.store.finish_step = real_finish  # type: ignore[method-assign]
    journal = env.store.journals()[-1]
    assert journal.status == "interrupted"
    assert journal.steps[k - 1].status == "pending"  # the write landed; the journal lags
    op = plan.operations[k - 1]
    assert server_policy_set(env.server).get(op.key) == TARGET.get(op.key)
    # resume re-plans from the live state: step k is not sent again
    live = env.live()
    run = resume_run(env.store, journal.id, live.snapshot, context=CONTEXT)
    assert op.key not in {o.key for o in run.plan.operations}
    env.server.clear_requests()
    assert env.applier().run(run, confirmed_context=CONTEXT).ok
    assert server_policy_set(env.server) == TARGET
    posts = [r for r in real_writes(env.server) if r.method == "POST"]
    assert len({r.body["metadata"]["name"] for r in posts}) == len(posts)  # no duplicates
    assert env.revert(journal.id).ok
    assert server_policy_set(env.server) == ORIGINAL


def test_recreated_policies_carry_no_server_fields(env: Env) -> None:
    """The backup keeps resourceVersions (and the server returns uids); a revert that
    re-creates a deleted policy must send neither (the apiserver answers 500)."""
    first = env.applier().run(Run.apply(env.plan()), confirmed_context=CONTEXT)
    assert first.ok
    env.server.clear_requests()
    assert env.revert(first.journal_id).ok
    posts = [r for r in real_writes(env.server) if r.method == "POST"]
    assert {r.body["metadata"]["name"] for r in posts} == {"allow-legacy", "lockdown-db-egress"}
    for r in posts:
        assert not {"resourceVersion", "uid", "creationTimestamp", "managedFields"} & set(
            r.body["metadata"]
        ), r.body
    assert server_policy_set(env.server) == ORIGINAL


# ---------------------------------------------------------------- confirmations


def test_yes_without_a_terminal_applies_and_no_yes_refuses(
    env: Env, tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    folder = write_folder(tmp_path / "gitops", SHOP_TARGET)
    opts = ["--kubeconfig", str(env.kubeconfig), "--state-dir", str(env.store.state_dir)]
    code, _, err = run_cli(
        capsys, "rollback", "apply", "--to-manifests", str(folder), "--context", CONTEXT, *opts
    )
    assert code == 2 and "no terminal to ask on" in err
    assert any_writes(env.server) == []
    assert server_policy_set(env.server) == ORIGINAL
    code, _, err = run_cli(
        capsys, "rollback", "apply", "--to-manifests", str(folder), "--yes", *opts
    )
    assert code == 2 and "--context NAME is required" in err
    assert any_writes(env.server) == []
    code, _, err = run_cli(
        capsys, "rollback", "apply", "--to-manifests", str(folder), "--context", CONTEXT,
        "--yes", *opts,
    )  # fmt: skip
    assert code == 0, err
    assert server_policy_set(env.server) == TARGET


def test_simulation_from_the_cli_sends_nothing(
    kube_api: Any, kubeconfig: Path, tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    """A replay plan with a kubeconfig at hand (and KUBECONFIG set) never calls the API."""
    from tests.test_rollback_helpers import FAILED_ROLLOUT

    seed_shop(kube_api)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    for fmt in ("text", "md", "json"):
        code, _, err = run_cli(
            capsys, "rollback", "plan", "--recording", str(FAILED_ROLLOUT), "-o", fmt,
            "--state-dir", str(tmp_path / "state"),
        )  # fmt: skip
        assert code == 0, err
    assert kube_api.requests == []
    assert server_policy_set(kube_api) == ORIGINAL
    # a simulation plan handed to the applier is refused before any request
    from triage.sources.recording import load_incident

    incident = load_incident(FAILED_ROLLOUT)
    from triage.rollback.targets import from_known_good

    sim = make_plan(
        incident.snapshot, from_known_good(incident, None), context=CONTEXT, simulation=True
    )
    with Store.open(tmp_path / "state") as store:
        api = KubePolicyApi.connect(CONTEXT, kubeconfig, 5.0)
        with pytest.raises(RollbackRefused, match="simulation"):
            Applier(api, store).run(Run.apply(sim), confirmed_context=CONTEXT)
        with pytest.raises(RollbackRefused, match="simulation"):
            Applier(api, store).dry_run(sim)
    assert kube_api.requests == []


def test_wrong_ws_lookalike_confirmations(env: Env) -> None:
    from triage.commands.rollback import confirm

    plan = env.plan()
    for typed in ("triage-test.", "TRIAGE-TEST", "triage-test2", "triage_test", "'triage-test'"):
        with pytest.raises(UsageError, match="does not match"):
            confirm(plan, CONTEXT, yes=False, ask=lambda _p, t=typed: t)
    assert any_writes(env.server) == []


_ = ALLOW_WEB_ANY


# ---------------------------------------------------------------- the TUI


def _live_app(target: LiveTarget, tmp_path: Path) -> Any:
    from triage.ui.app import make_app
    from triage.ui.session import LiveSource

    return make_app(
        LiveSource(target),
        report_dir=tmp_path,
        theme="textual-dark",
        animation_level="none",
        cursor_blink=False,
    )


async def _open_rollback(pilot: Any, state: Path) -> Any:
    from tests.test_ui_support import settle
    from triage.ui.screens.rollback import RollbackScreen

    await settle(pilot)
    screen = RollbackScreen(pilot.app.session, state_dir=state)
    pilot.app.push_screen(screen)
    await settle(pilot)
    await settle(pilot)
    return screen


async def test_tui_confirmation_with_spaces_or_another_case_applies_nothing(
    env: Env, tmp_path: Path
) -> None:
    from textual.widgets import Button

    from tests.test_ui_support import SIZE, settle
    from triage.ui.widgets.confirm import ConfirmContextModal

    env.store.save_snapshot(
        context=CONTEXT, source="t", policies=policies(*SHOP_TARGET), scope=None, good=True
    )
    app = _live_app(LiveTarget(context=CONTEXT, kubeconfig=env.kubeconfig), tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_rollback(pilot, env.store.state_dir)
        assert screen.plan is not None and len(screen.plan.operations) == 5
        for typed in (
            "triage-test ",
            " triage-test",
            "TRIAGE-TEST",
            "Triage-Test",
        ):
            await pilot.press("A")
            await settle(pilot)
            modal = app.screen
            assert isinstance(modal, ConfirmContextModal)
            await pilot.press(*typed.replace(" ", ""))
            if typed.startswith(" ") or typed.endswith(" "):
                await pilot.press("home" if typed.startswith(" ") else "end", "space")
            assert modal.query_one("#confirm-input").value == typed
            await pilot.press("enter")
            await settle(pilot)
            assert app.screen is modal, typed
            assert modal.query_one("#confirm", Button).disabled, typed
            await pilot.press("escape")
            await settle(pilot)
            assert app.screen is screen
    assert any_writes(env.server) == []
    assert server_policy_set(env.server) == ORIGINAL


async def test_tui_plans_and_applies_on_the_sessions_context_after_a_context_switch(
    kube_api_factory: Any, tmp_path: Path
) -> None:
    """The session was loaded on the current context; then `kubectl config use-context
    other` ran in another terminal. The plan, the backup and the writes stay on the session's
    cluster; the other is never even read."""
    from tests.test_ui_support import SIZE, settle

    current, other = kube_api_factory(), kube_api_factory()
    seed_shop(current)
    seed_shop(other)
    config = _two_context_kubeconfig(tmp_path / "kubeconfig", current, other)
    state = tmp_path / "state"
    with Store.open(state) as store:
        store.save_snapshot(
            context=CONTEXT, source="t", policies=policies(*SHOP_TARGET), scope=None, good=True
        )
    app = _live_app(LiveTarget(context=None, kubeconfig=config), tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.session.context == CONTEXT
        doc = yaml.safe_load(config.read_text())
        doc["current-context"] = "other"
        config.write_text(yaml.safe_dump(doc))
        screen = await _open_rollback(pilot, state)
        assert screen.plan is not None and screen.plan.context == CONTEXT
        assert len(screen.plan.operations) == 5
        await pilot.press("A")
        await settle(pilot)
        await pilot.press(*CONTEXT, "enter")
        await settle(pilot)
        assert screen.last_result is not None and screen.last_result.ok
    assert other.requests == []
    assert server_policy_set(other) == ORIGINAL
    assert server_policy_set(current) == TARGET


async def test_tui_says_loudly_when_a_plan_deletes_everything(env: Env, tmp_path: Path) -> None:
    from tests.test_ui_support import SIZE, settle
    from triage.ui.widgets.confirm import ConfirmContextModal

    env.store.save_snapshot(context=CONTEXT, source="t", policies=(), scope=("shop",), good=True)
    app = _live_app(LiveTarget(context=CONTEXT, kubeconfig=env.kubeconfig), tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_rollback(pilot, env.store.state_dir)
        assert screen.plan is not None and screen.plan.deletes_everything
        await pilot.press("A")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, ConfirmContextModal)
        assert "DELETE ALL 4 policies" in modal.title_text
        assert modal.lines[0].startswith("THIS DELETES ALL 4 NETWORKPOLICIES in namespace shop")
        assert any("deletes all 4 live policies" in line for line in modal.lines)
        await pilot.press("escape")
        await settle(pilot)
    assert any_writes(env.server) == []
    assert server_policy_set(env.server) == ORIGINAL


async def test_tui_replay_never_sends_a_request(
    kube_api: Any, kubeconfig: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    """A replay with a reachable cluster configured: every key of the rollback screen, and
    not one request (let alone a write)."""
    from tests.test_ui_support import SIZE, app_for, settle

    seed_shop(kube_api)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    app = app_for("failed-rollout", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_rollback(pilot, tmp_path / "state")
        assert screen.plan is not None and screen.plan.simulation
        for key in ("d", "A", "enter", "u", "v", "s", "g", "r", "A"):
            await pilot.press(key)
            await settle(pilot)
        await pilot.press(*"prod-use1-oncall", "enter")
        await settle(pilot)
    assert kube_api.requests == []
    assert server_policy_set(kube_api) == ORIGINAL
