"""RollbackSession: the Textual-free rollback the CLI and the TUI share (and a rollout can
reuse): plan from the live set, refuse any confirmation but the session's context, apply
with progress by callback, resume and revert, all against the Kubernetes API test server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.test_rollback_attacks import CONTEXT, ORIGINAL, TARGET, any_writes, seed_shop
from tests.test_rollback_helpers import SHOP_TARGET, policies, server_policy_set
from triage.errors import UsageError
from triage.rollback.apply import Progress, RollbackRefused
from triage.rollback.policyset import PolicySet
from triage.rollback.session import RollbackSession
from triage.sources.live import LiveTarget

pytestmark = pytest.mark.live


@pytest.fixture
def session(kube_api: Any, kubeconfig: Path, tmp_path: Path) -> RollbackSession:
    seed_shop(kube_api)
    return RollbackSession(LiveTarget(context=CONTEXT, kubeconfig=kubeconfig), tmp_path / "state")


def _target() -> PolicySet:
    return PolicySet("the gitops folder", policies(*SHOP_TARGET))


def test_a_session_needs_a_context(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--context NAME is required"):
        RollbackSession(LiveTarget(context=None), tmp_path)


def test_plan_apply_verify_with_progress_by_callback(
    session: RollbackSession, kube_api: Any
) -> None:
    run = session.plan(_target())
    assert run.action == "apply" and run.plan.context == CONTEXT
    assert len(run.plan.operations) == 5
    assert any_writes(kube_api) == []  # planning only reads
    events: list[Progress] = []
    with session.open_store() as store:
        result = session.execute(store, run, confirmed_context=CONTEXT, progress=events.append)
    assert result.ok, result.report()
    assert result.status == "verified" and result.context == CONTEXT
    assert server_policy_set(kube_api) == TARGET
    applied = [e.position for e in events if e.stage == "apply" and e.status == "ok"]
    assert applied == [1, 2, 3, 4, 5]
    assert events[-1].stage == "done"


@pytest.mark.parametrize("typed", ["", "triage-test ", "TRIAGE-TEST", "prod"])
def test_any_other_confirmation_is_refused_before_connecting(
    session: RollbackSession, kube_api: Any, typed: str
) -> None:
    run = session.plan(_target())
    requests = len(kube_api.requests)
    with session.open_store() as store, pytest.raises(UsageError, match="nothing applied"):
        session.execute(store, run, confirmed_context=typed)
    assert len(kube_api.requests) == requests  # not even a connection
    assert server_policy_set(kube_api) == ORIGINAL


class _OtherContextApi:
    context = "prod"
    closed = False

    def close(self) -> None:
        self.closed = True


def test_an_api_client_of_another_context_is_refused_and_closed(
    session: RollbackSession, kube_api: Any
) -> None:
    fake = _OtherContextApi()
    wrong = RollbackSession(session.target, session.state_dir, api_factory=lambda: fake)  # type: ignore[arg-type, return-value]
    run = wrong.plan(_target())
    with wrong.open_store() as store, pytest.raises(UsageError, match="'prod', not 'triage-test'"):
        wrong.execute(store, run, confirmed_context=CONTEXT)
    assert fake.closed
    assert any_writes(kube_api) == []


def test_revert_then_resume_follow_the_journal(session: RollbackSession, kube_api: Any) -> None:
    with session.open_store() as store:
        first = session.execute(store, session.plan(_target()), confirmed_context=CONTEXT)
        assert first.ok and server_policy_set(kube_api) == TARGET
        revert = session.follow_up(store, "revert", first.journal_id)
        assert revert.action == "revert" and revert.parent_id == first.journal_id
        assert session.execute(store, revert, confirmed_context=CONTEXT).ok
        assert server_policy_set(kube_api) == ORIGINAL
        resume = session.follow_up(store, "resume", first.journal_id)
        assert resume.action == "resume"
        assert session.execute(store, resume, confirmed_context=CONTEXT).ok
        assert server_policy_set(kube_api) == TARGET


def test_unknown_and_foreign_journals_are_refused(session: RollbackSession, kube_api: Any) -> None:
    with session.open_store() as store:
        requests = len(kube_api.requests)
        with pytest.raises(UsageError, match="#7"):
            session.follow_up(store, "resume", 7)
        assert len(kube_api.requests) == requests  # refused before the cluster is read
        foreign = store.create_journal(
            context="prod",
            action="apply",
            target=_target(),
            backup_snapshot_id=None,
            origin_backup_id=None,
        )
        for action in ("resume", "revert"):
            with pytest.raises(RollbackRefused, match="applied to context 'prod', not 'triage-"):
                session.follow_up(store, action, foreign.id)  # type: ignore[arg-type]
    assert any_writes(kube_api) == []
    assert server_policy_set(kube_api) == ORIGINAL
