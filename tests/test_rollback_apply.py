"""The applier against the Kubernetes API test server: the worst bug this project can have is
losing a policy, so every failure mode is provoked at every step, and every time the set of
policies on the server is checked, then `resume` must reach the target and `revert` must
restore the original set exactly."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.rollback_helpers import (
    ALLOW_WEB_ANY,
    SHOP_LIVE,
    SHOP_OBJECTS,
    SHOP_TARGET,
    expected_set,
    policies,
    server_policy_set,
)
from triage.rollback.api import KubePolicyApi
from triage.rollback.apply import Applier, RollbackRefused, Run, resume_run, revert_run
from triage.rollback.plan import Operation, Plan, make_plan
from triage.rollback.policyset import PolicySet
from triage.rollback.store import Store
from triage.sources.live import LiveTarget, load_live

pytestmark = pytest.mark.live

CONTEXT = "triage-test"
BASE = "/apis/networking.k8s.io/v1/namespaces"
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


@dataclass
class Env:
    server: Any
    kubeconfig: Path
    store: Store

    def api(self, timeout: float = 5.0) -> KubePolicyApi:
        return KubePolicyApi.connect(CONTEXT, self.kubeconfig, timeout)

    def live(self) -> Any:
        return load_live(LiveTarget(context=CONTEXT, kubeconfig=self.kubeconfig, timeout=5.0))

    def plan(self, docs: list[dict[str, Any]] = SHOP_TARGET, scope: Any = None) -> Plan:
        target = PolicySet("shop target", policies(*docs), scope=scope)
        return make_plan(self.live().snapshot, target, context=CONTEXT, live_source="test")

    def writes(self) -> list[Any]:
        return [r for r in self.server.requests if r.method in WRITE_METHODS and not r.dry_run]


@pytest.fixture
def env(kube_api: Any, kubeconfig: Path, tmp_path: Path) -> Any:
    kube_api.seed(
        namespaces=[o for o in SHOP_OBJECTS if o["kind"] == "Namespace"],
        pods=[o for o in SHOP_OBJECTS if o["kind"] == "Pod"],
        network_policies=SHOP_LIVE,
    )
    store = Store.open(tmp_path / "state")
    try:
        yield Env(kube_api, kubeconfig, store)
    finally:
        store.close()


ORIGINAL = expected_set(SHOP_LIVE)
TARGET = expected_set(SHOP_TARGET)


def assert_nothing_lost(env: Env) -> None:
    """Mid-way, every policy is the original or the target version of itself, nothing else
    exists, and every policy both sets share is still there."""
    now = server_policy_set(env.server)
    assert set(now) <= set(ORIGINAL) | set(TARGET), set(now)
    for key in set(ORIGINAL) & set(TARGET):
        assert key in now, f"{key} was lost"
    for key, policy in now.items():
        assert policy in (ORIGINAL.get(key), TARGET.get(key)), key


def _path(op: Operation) -> tuple[str, str]:
    if op.action == "create":
        return "POST", rf"{BASE}/{op.namespace}/networkpolicies$"
    method = "PUT" if op.action == "replace" else "DELETE"
    return method, rf"{BASE}/{op.namespace}/networkpolicies/{op.name}$"


def call_number(plan: Plan, k: int, *, dry_run: bool) -> int:
    """Which request to (method, path) the k-th step's call is: every step is dry-run first,
    in order, then applied in order."""
    target = _path(plan.operations[k - 1])
    calls = [_path(op) for op in plan.operations]  # dry-runs
    if dry_run:
        return calls[:k].count(target)
    return calls.count(target) + calls[:k].count(target)


def inject_at(env: Env, plan: Plan, k: int, *, dry_run: bool = False, **fault: Any) -> None:
    method, path = _path(plan.operations[k - 1])
    env.server.inject(method, path, on_call=call_number(plan, k, dry_run=dry_run), **fault)


# ---------------------------------------------------------------- the happy path


def test_apply_reaches_the_target_and_journals_every_step(env: Env) -> None:
    plan = env.plan()
    assert len(plan.operations) == 5
    result = Applier(env.api(), env.store).run(Run.apply(plan), confirmed_context=CONTEXT)
    assert result.ok, result.report()
    assert server_policy_set(env.server) == TARGET
    # dry-run of everything first, then the writes in plan order
    writes = [
        (r.method, r.path.rsplit("/", 1)[-1], r.dry_run)
        for r in env.server.requests
        if r.method in WRITE_METHODS
    ]
    n = len(plan.operations)
    assert [w[2] for w in writes] == [True] * n + [False] * n
    journal = env.store.journal(result.journal_id)
    assert journal.status == "verified"
    assert [s.status for s in journal.steps] == ["done"] * n
    assert [(s.action, s.key) for s in journal.steps] == [
        (op.action, op.key) for op in plan.operations
    ]
    replace = next(s for s in journal.steps if s.action == "replace")
    assert replace.before["spec"] == ALLOW_WEB_ANY["spec"]
    assert replace.after["metadata"]["resourceVersion"] != replace.planned_rv
    # the backup holds the original set
    backup = env.store.snapshot(result.backup_snapshot_id)
    assert backup.kind == "backup"
    assert {p.key for p in backup.policies} == set(ORIGINAL)
    # the replace carried the planned resourceVersion, the deletes their preconditions
    real = [r for r in env.writes()]
    put = next(r for r in real if r.method == "PUT")
    assert put.body["metadata"]["resourceVersion"] == replace.planned_rv
    for delete in (r for r in real if r.method == "DELETE"):
        assert delete.body["preconditions"]["resourceVersion"]


def test_applying_again_is_a_no_op(env: Env) -> None:
    Applier(env.api(), env.store).run(Run.apply(env.plan()), confirmed_context=CONTEXT)
    again = env.plan()
    assert again.empty and again.delta.empty


def test_scope_limits_what_apply_touches(env: Env) -> None:
    env.server.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "billing"}})
    other = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "keep-me", "namespace": "billing"},
        "spec": {"podSelector": {}},
    }
    env.server.add(other)
    result = Applier(env.api(), env.store).run(
        Run.apply(env.plan(scope=("shop",))), confirmed_context=CONTEXT
    )
    assert result.ok, result.report()
    assert "billing/keep-me" in server_policy_set(env.server)


# ---------------------------------------------------------------- refusals: nothing written


def test_wrong_confirmation_or_context_writes_nothing(env: Env) -> None:
    plan = env.plan()
    applier = Applier(env.api(), env.store)
    with pytest.raises(RollbackRefused, match="does not name the context"):
        applier.run(Run.apply(plan), confirmed_context="prod")
    other = make_plan(plan.live_snapshot, plan.target, context="prod")
    with pytest.raises(RollbackRefused, match="plan is for context 'prod'"):
        applier.run(Run.apply(other), confirmed_context=CONTEXT)
    sim = make_plan(plan.live_snapshot, plan.target, context=CONTEXT, simulation=True)
    with pytest.raises(RollbackRefused, match="simulation"):
        applier.run(Run.apply(sim), confirmed_context=CONTEXT)
    assert [r for r in env.server.requests if r.method in WRITE_METHODS] == []
    assert server_policy_set(env.server) == ORIGINAL


def test_a_policy_changed_after_planning_makes_apply_refuse(env: Env) -> None:
    plan = env.plan()
    edited = {**ALLOW_WEB_ANY, "spec": {**ALLOW_WEB_ANY["spec"], "ingress": []}}
    env.server.add(edited)  # someone else, between plan and apply
    env.server.clear_requests()
    with pytest.raises(RollbackRefused, match=r"shop/allow-web changed .*re-plan"):
        Applier(env.api(), env.store).run(Run.apply(plan), confirmed_context=CONTEXT)
    assert [r for r in env.server.requests if r.method in WRITE_METHODS] == []
    assert env.store.journals() == []


def test_a_policy_created_after_planning_makes_apply_refuse(env: Env) -> None:
    plan = env.plan()
    env.server.add({**SHOP_TARGET[2], "metadata": {"name": "sneaky", "namespace": "shop"}})
    with pytest.raises(RollbackRefused, match="shop/sneaky was created"):
        Applier(env.api(), env.store).run(Run.apply(plan), confirmed_context=CONTEXT)
    assert env.writes() == []


@pytest.mark.parametrize("k", [1, 3, 5])
def test_a_dry_run_failure_applies_nothing(env: Env, k: int) -> None:
    plan = env.plan()
    inject_at(env, plan, k, dry_run=True, status=422, message="spec.podSelector: Invalid value")
    result = Applier(env.api(), env.store).run(Run.apply(plan), confirmed_context=CONTEXT)
    assert result.status == "dry-run-failed"
    assert result.nothing_applied
    op = plan.operations[k - 1]
    assert f"step {k} {op.describe()}" in result.message and "422" in result.message
    assert env.writes() == []  # every write request was a dry run
    assert server_policy_set(env.server) == ORIGINAL
    journal = env.store.journal(result.journal_id)
    assert journal.status == "dry-run-failed"
    assert {s.status for s in journal.steps} == {"skipped"}


def test_rbac_refusing_deletes_is_caught_by_the_dry_run(env: Env) -> None:
    env.server.forbid("delete", "networkpolicies")
    result = Applier(env.api(), env.store).run(Run.apply(env.plan()), confirmed_context=CONTEXT)
    assert result.status == "dry-run-failed" and "403" in result.message
    assert env.writes() == []
    assert server_policy_set(env.server) == ORIGINAL


# ---------------------------------------------------------------- failures at every step

FAULTS = ["409", "500", "403", "timeout", "drop", "stop-exit", "stop-interrupt"]


def _wait_for_answers(env: Env, timeout: float = 10.0) -> None:
    """A delayed write is still being served after the client gave up: let it land."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(
            r.status is not None
            for r in env.server.requests
            if r.method in WRITE_METHODS and not r.dry_run
        ):
            return
        time.sleep(0.05)


def _fail_at(env: Env, plan: Plan, k: int, fault: str) -> tuple[int, str]:
    """Run the plan with `fault` at step k; returns (journal id, status). Checks what the
    operator is told about the failed step."""
    timeout = 5.0
    after_step = None
    if fault in ("409", "500", "403"):
        inject_at(env, plan, k, status=int(fault))
    elif fault == "timeout":
        # generous enough for a loaded CI machine; only the injected call outlasts it
        timeout = 1.5
        inject_at(env, plan, k, delay=3.0)
    elif fault == "drop":
        inject_at(env, plan, k, drop=True)
    else:
        exc: type[BaseException] = SystemExit if fault == "stop-exit" else KeyboardInterrupt

        def after_step(position: int, _op: Operation) -> None:
            if position == k:
                raise exc(f"stopped after step {k}")

    applier = Applier(env.api(timeout), env.store, after_step=after_step)
    if fault.startswith("stop"):
        with pytest.raises((SystemExit, KeyboardInterrupt)):
            applier.run(Run.apply(plan), confirmed_context=CONTEXT)
        journal = env.store.journals()[-1]
        return journal.id, journal.status
    result = applier.run(Run.apply(plan), confirmed_context=CONTEXT)
    failed = result.steps[k - 1]
    if fault in ("timeout", "drop"):
        # no answer: the write may or may not have happened, and the operator is told so
        assert failed.state == "unknown" and "may have been applied" in failed.message
    else:
        assert failed.state == "failed" and fault in failed.message
    assert [s.state for s in result.steps[: k - 1]] == ["done"] * (k - 1)
    assert {s.state for s in result.steps[k:]} <= {"not-run"}
    report = "\n".join(result.report())
    assert f"rollback resume {result.journal_id}" in report
    assert f"rollback revert {result.journal_id}" in report
    if fault == "timeout":
        _wait_for_answers(env)
    return result.journal_id, result.status


def _resume(env: Env, journal_id: int) -> Any:
    live = env.live()
    run = resume_run(env.store, journal_id, live.snapshot, context=CONTEXT)
    return Applier(env.api(), env.store).run(run, confirmed_context=CONTEXT)


def _revert(env: Env, journal_id: int) -> Any:
    live = env.live()
    run = revert_run(env.store, journal_id, live.snapshot, context=CONTEXT)
    return Applier(env.api(), env.store).run(run, confirmed_context=CONTEXT)


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_failure_at_step_k_then_resume_then_revert(env: Env, k: int, fault: str) -> None:
    plan = env.plan()
    journal_id, status = _fail_at(env, plan, k, fault)
    assert status == ("interrupted" if fault.startswith("stop") else "failed")
    assert_nothing_lost(env)

    journal = env.store.journal(journal_id)
    steps = journal.steps
    assert all(s.status == "done" for s in steps[: k - 1])
    if fault.startswith("stop"):
        assert steps[k - 1].status == "done"
        assert all(s.status == "pending" for s in steps[k:])
    else:
        assert steps[k - 1].status == "failed" and steps[k - 1].error
        assert all(s.status == "pending" for s in steps[k:])
        op = plan.operations[k - 1]
        now = server_policy_set(env.server)
        if fault in ("409", "500", "403", "drop"):
            # refused or never processed: the step's policy is untouched
            assert now.get(op.key) == ORIGINAL.get(op.key)
        else:
            # the timed-out write landed after the client gave up: "unknown" was right
            assert now.get(op.key) == TARGET.get(op.key)

    resumed = _resume(env, journal_id)
    assert resumed.ok, resumed.report()
    assert server_policy_set(env.server) == TARGET
    assert env.store.journal(resumed.journal_id).parent_id == journal_id

    reverted = _revert(env, journal_id)
    assert reverted.ok, reverted.report()
    assert server_policy_set(env.server) == ORIGINAL


@pytest.mark.parametrize("fault", ["409", "timeout", "stop-exit"])
@pytest.mark.parametrize("k", [2, 4])
def test_failure_at_step_k_then_revert_directly(env: Env, k: int, fault: str) -> None:
    plan = env.plan()
    journal_id, _ = _fail_at(env, plan, k, fault)
    assert_nothing_lost(env)
    reverted = _revert(env, journal_id)
    assert reverted.ok, reverted.report()
    assert server_policy_set(env.server) == ORIGINAL
    # resuming is still possible afterwards, toward the same target
    assert _resume(env, journal_id).ok
    assert server_policy_set(env.server) == TARGET


def test_someone_elses_edit_mid_apply_is_a_conflict_not_an_overwrite(env: Env) -> None:
    plan = env.plan()
    positions = {op.key: i for i, op in enumerate(plan.operations, start=1)}
    replace_at = positions["shop/allow-web"]
    delete_at = positions["shop/allow-legacy"]
    assert replace_at > 1 and delete_at > 1
    theirs = {
        **ALLOW_WEB_ANY,
        "spec": {**ALLOW_WEB_ANY["spec"], "ingress": [{"ports": [{"port": 8081}]}]},
    }

    def after_step(position: int, _op: Operation) -> None:
        if position == 1:
            env.server.add(theirs)  # an edit lands while the rollback runs

    result = Applier(env.api(), env.store, after_step=after_step).run(
        Run.apply(plan), confirmed_context=CONTEXT
    )
    assert result.status == "failed"
    failed = next(s for s in result.steps if s.state == "failed")
    assert failed.operation.key == "shop/allow-web" and "409" in failed.message
    now = server_policy_set(env.server)
    assert now["shop/allow-web"] == expected_set([theirs])["shop/allow-web"]  # theirs survived
    assert any("resume" in line and "revert" in line for line in result.report())


def test_a_delete_precondition_protects_a_changed_policy(env: Env) -> None:
    plan = env.plan()
    legacy = next(d for d in SHOP_LIVE if d["metadata"]["name"] == "allow-legacy")
    theirs = {**legacy, "spec": {**legacy["spec"], "ingress": []}}

    def after_step(position: int, _op: Operation) -> None:
        if position == 1:
            env.server.add(theirs)

    result = Applier(env.api(), env.store, after_step=after_step).run(
        Run.apply(plan), confirmed_context=CONTEXT
    )
    assert result.status == "failed"
    assert "shop/allow-legacy" in server_policy_set(env.server)
    failed = next(s for s in result.steps if s.state == "failed")
    assert failed.operation.describe() == "delete shop/allow-legacy"


def test_verification_notices_a_live_set_that_differs(env: Env) -> None:
    plan = env.plan()
    last = len(plan.operations)
    stray = {**SHOP_TARGET[0], "metadata": {"name": "stray", "namespace": "shop"}}

    def after_step(position: int, _op: Operation) -> None:
        if position == last:
            env.server.add(stray)

    result = Applier(env.api(), env.store, after_step=after_step).run(
        Run.apply(plan), confirmed_context=CONTEXT
    )
    assert result.status == "verify-failed"
    assert result.differences == ("shop/stray: on the cluster but not in the target",)
    # resume converges: it deletes the stray policy, which is not in the target
    assert _resume(env, result.journal_id).ok
    assert server_policy_set(env.server) == TARGET


def test_resume_and_revert_refuse_another_context(env: Env) -> None:
    plan = env.plan()
    journal_id, _ = _fail_at(env, plan, 2, "500")
    live = env.live()
    with pytest.raises(RollbackRefused, match="context 'triage-test', not 'prod'"):
        resume_run(env.store, journal_id, live.snapshot, context="prod")
    with pytest.raises(RollbackRefused):
        revert_run(env.store, journal_id, live.snapshot, context="prod")


def test_a_killed_process_leaves_a_journal_that_resume_finishes(env: Env) -> None:
    """A real process, killed between two operations (SIGKILL: no cleanup at all)."""
    import os
    import signal
    import subprocess
    import sys
    import textwrap

    plan = env.plan()
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})
        from pathlib import Path
        from tests.rollback_helpers import SHOP_TARGET, policies
        from triage.rollback.api import KubePolicyApi
        from triage.rollback.apply import Applier, Run
        from triage.rollback.plan import make_plan
        from triage.rollback.policyset import PolicySet
        from triage.rollback.store import Store
        from triage.sources.live import LiveTarget, load_live

        kubeconfig = Path({str(env.kubeconfig)!r})
        live = load_live(LiveTarget(context="{CONTEXT}", kubeconfig=kubeconfig))
        plan = make_plan(live.snapshot, PolicySet("t", policies(*SHOP_TARGET)), context="{CONTEXT}")
        store = Store.open(Path({str(env.store.state_dir)!r}))

        def kill(position, op):
            if position == 3:
                os.kill(os.getpid(), signal.SIGKILL)

        api = KubePolicyApi.connect("{CONTEXT}", kubeconfig)
        Applier(api, store, after_step=kill).run(Run.apply(plan), confirmed_context="{CONTEXT}")
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    assert_nothing_lost(env)
    journal = env.store.journals()[-1]
    assert journal.status == "applying"  # nobody got to write "interrupted"
    assert [s.status for s in journal.steps] == ["done"] * 3 + ["pending"] * (
        len(plan.operations) - 3
    )
    assert os.path.exists(env.store.path)
    assert _resume(env, journal.id).ok
    assert server_policy_set(env.server) == TARGET
    assert _revert(env, journal.id).ok
    assert server_policy_set(env.server) == ORIGINAL
