"""Known-good from the tool's own snapshot store (or `--known-good ID|PATH`) feeds "what
changed" and the regressed candidates, live and in replays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_rollback_helpers import (
    ALLOW_API,
    SHOP_LIVE,
    SHOP_OBJECTS,
    SHOP_TARGET,
    policies,
)
from tests.test_ui_support import SIZE, settle
from triage.checklist import ChecklistContext, candidate_flows, run_step
from triage.cli import main
from triage.errors import UsageError
from triage.model import parse_flow
from triage.rollback.knowngood import from_path, from_spec, last_known_good
from triage.rollback.store import Store
from triage.sources.live import LiveTarget
from triage.ui.app import make_app
from triage.ui.screens.checklist import ChecklistScreen
from triage.ui.session import LiveSource

CONTEXT = "triage-test"
REGRESSED = parse_flow("shop/web-1", "shop/api-1", "8080")


def _seed(kube_api: Any) -> None:
    kube_api.seed(
        namespaces=[o for o in SHOP_OBJECTS if o["kind"] == "Namespace"],
        pods=[o for o in SHOP_OBJECTS if o["kind"] == "Pod"],
        network_policies=SHOP_LIVE,
    )


def _live_app(kubeconfig: Path, state: Path, **kw: Any) -> Any:
    target = LiveTarget(context=CONTEXT, kubeconfig=kubeconfig, timeout=5.0)
    return make_app(
        LiveSource(target), animation_level="none", cursor_blink=False, state_dir=state, **kw
    )


def test_no_store_no_known_good_and_nothing_created(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert last_known_good(CONTEXT, None, state) is None
    assert not state.exists()
    with pytest.raises(UsageError, match="no snapshot store in"):
        from_spec("3", state)
    assert not state.exists()


def test_store_last_known_good_of_the_context(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        good = store.save_snapshot(
            context=CONTEXT, source="t", policies=policies(*SHOP_TARGET), scope=None, good=True
        )
        store.save_snapshot(
            context="other", source="t", policies=policies(ALLOW_API), scope=None, good=True
        )
        store.save_snapshot(
            context=CONTEXT, source="t", policies=policies(ALLOW_API), scope=None, good=False
        )
    found = last_known_good(CONTEXT, None, tmp_path)
    assert found is not None
    assert found.name == f"snapshot #{good.id} ({CONTEXT})"
    assert sorted(p.key for p in found.policies) == [
        "shop/allow-api",
        "shop/allow-web",
        "shop/api-egress",
        "shop/default-deny",
    ]
    assert from_spec(str(good.id), tmp_path).policies == found.policies


def test_known_good_from_a_git_checkout(tmp_path: Path) -> None:
    """Other kinds and hidden folders (.git, .github) are not read; scope is the policies'
    namespaces."""
    checkout = tmp_path / "gitops"
    (checkout / "shop").mkdir(parents=True)
    (checkout / ".github" / "workflows").mkdir(parents=True)
    (checkout / ".github" / "workflows" / "ci.yaml").write_text("on: [push]\njobs: {}\n")
    (checkout / ".git").mkdir()
    (checkout / ".git" / "junk.yaml").write_text("this: [is: not\n")
    (checkout / "shop" / "policies.yaml").write_text(yaml.safe_dump_all(SHOP_TARGET))
    (checkout / "shop" / "deploy.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n"
    )
    found = from_path(checkout)
    assert found.scope == ("shop",)
    assert len(found.policies) == 4
    with pytest.raises(UsageError, match="no NetworkPolicy found"):
        from_path(checkout / "shop" / "deploy.yaml")


def test_replay_known_good_option_is_checked_before_the_ui(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--known-good", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err == (
        f"triage: error: --known-good {tmp_path / 'nope'}: no such file, folder or snapshot id\n"
    )


async def test_live_what_changed_uses_the_stores_known_good(
    kube_api: Any, kubeconfig: Path, tmp_path: Path
) -> None:
    _seed(kube_api)
    state = tmp_path / "state"
    app = _live_app(kubeconfig, state)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.known_good is None  # no store yet: and none was created
        assert not state.exists()
        # `s` then `g` in the rollback screen: the store has a known-good set now.
        with Store.open(state) as store:
            saved = store.save_snapshot(
                context=CONTEXT, source="t", policies=policies(*SHOP_TARGET), scope=None
            )
            store.mark_good(saved.id)
        app.refresh_known_good()
        await settle(pilot)
        assert app.known_good is not None
        assert app.known_good.name == f"snapshot #{saved.id} ({CONTEXT})"
        app.open_checklist(REGRESSED)
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ChecklistScreen)
        result = run_step(screen.context, "changes")
        assert result.status == "fail"
        assert result.evidence[0] == (
            f"allowed with known-good snapshot #{saved.id} ({CONTEXT}) ({saved.created_at}), "
            "denied now"
        )


def test_regressed_candidates_follow_the_given_known_good(tmp_path: Path) -> None:
    from tests.test_rollback_helpers import SHOP_OBJECTS as objects
    from triage.sources.assemble import assemble

    snapshot, _ = assemble(("t.yaml", i, d) for i, d in enumerate([*objects, *SHOP_LIVE]))
    with Store.open(tmp_path) as store:
        store.save_snapshot(
            context=CONTEXT, source="t", policies=policies(*SHOP_TARGET), scope=None, good=True
        )
    known_good = last_known_good(CONTEXT, None, tmp_path)
    assert known_good is not None
    found = candidate_flows(snapshot, None, known_good=known_good)
    regressed = [c for c in found if c.source == "regressed"]
    assert any(
        str(c.flow.source).startswith("shop/web")
        and str(c.flow.destination).startswith("shop/api")
        and c.flow.port == 8080
        for c in regressed
    ), [str(c.flow) for c in regressed]
    assert not [c for c in candidate_flows(snapshot, None) if c.source == "regressed"]
    ctx = ChecklistContext(snapshot, REGRESSED, known_good=known_good)
    assert run_step(ctx, "changes").status == "fail"
