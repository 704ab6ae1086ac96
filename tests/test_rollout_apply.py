"""`triage rollout apply` against the Kubernetes API test server, seeded with the course's
cluster: the live set after the apply equals the plan, the writes go allows first, every
write is journalled, the verification probes run over exec, and a failed probe of an
observed flow reverts (with --auto-revert) to exactly the saved set. Nothing is written
without the context named and confirmed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.kubeapi.server import KubeApiServer
from tests.rollback_helpers import server_policy_set
from tests.rollout_support import CONTEXT, COURSE, script_probes
from triage.cli import main
from triage.rollback.policyset import semantic
from triage.rollback.store import Store
from triage.rollout import observed_from_incident, plan_rollout
from triage.rollout.verify import verification_targets
from triage.sources.recording import load_incident

pytestmark = [pytest.mark.live, pytest.mark.timeout(120)]

WRITES = ("POST", "PUT", "PATCH", "DELETE")
NAMESPACES = ("develop", "production")


def run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def server(kube_api: KubeApiServer) -> KubeApiServer:
    kube_api.seed_incident(COURSE)
    return kube_api


@pytest.fixture(scope="module")
def expected() -> Any:
    """The plan computed from the recording (the same objects the server holds)."""
    incident = load_incident(COURSE)
    rollout = plan_rollout(
        incident.snapshot, NAMESPACES, observed_from_incident(incident), context=CONTEXT
    )
    original = {p.key: semantic(p) for p in incident.snapshot.policies}
    target = dict(original)
    target.update({p.key: semantic(p) for p in rollout.generation.candidates})
    return rollout, original, target


def base_args(kubeconfig: Path, tmp_path: Path) -> list[str]:
    return [
        "rollout",
        "apply",
        "--context",
        CONTEXT,
        "--kubeconfig",
        str(kubeconfig),
        "--state-dir",
        str(tmp_path / "state"),
        "-n",
        "production",
        "-n",
        "develop",
        "--observed-recording",
        str(COURSE),
        "--probe-timeout",
        "1",
    ]


def real_writes(server: KubeApiServer) -> list[Any]:
    return [r for r in server.requests if r.method in WRITES and not r.dry_run]


def test_plan_against_the_live_cluster_writes_nothing(
    server: KubeApiServer, kubeconfig: Path, capsys: Any, expected: Any
) -> None:
    code, out, err = run(
        capsys,
        "rollout",
        "plan",
        "--context",
        CONTEXT,
        "--kubeconfig",
        str(kubeconfig),
        "-n",
        "production",
        "-n",
        "develop",
        "--observed-recording",
        str(COURSE),
    )
    assert code == 0, err
    assert "SIMULATION" not in out
    assert "would break (must be none): 0" in out
    assert "Apply: triage rollout apply --context triage-test --namespace develop " in out
    assert [r for r in server.requests if r.method in WRITES] == []


def test_apply_reaches_the_plan_allows_first_and_verifies(
    server: KubeApiServer, kubeconfig: Path, tmp_path: Path, capsys: Any, expected: Any
) -> None:
    rollout, original, target = expected
    targets = verification_targets(rollout, 3)
    assert [t.expect for t in targets].count("open") == 3
    assert [t.expect for t in targets].count("closed") == 3
    script_probes(server, targets, failing=set())
    code, out, err = run(capsys, *base_args(kubeconfig, tmp_path), "--sample", "3", "--yes")
    assert code == 0, out + err
    assert server_policy_set(server) == target
    # every step dry-run first, then the creates with the default-denies last
    writes = real_writes(server)
    created = [r.body["metadata"]["name"] for r in writes]
    assert all(r.method == "POST" for r in writes)
    assert created[-2:] == ["rollout-default-deny", "rollout-default-deny"]
    assert len(created) == len(rollout.plan.operations) == 9
    dry = [r for r in server.requests if r.method in WRITES and r.dry_run]
    assert len(dry) == 9 and server.requests.index(dry[-1]) < server.requests.index(writes[0])
    # the known-good save, the journal, the probes
    with Store.open(tmp_path / "state") as store:
        snaps = store.snapshots(context=CONTEXT)
        good = [s for s in snaps if s.good]
        assert len(good) == 1 and {p.key for p in good[0].policies} == set(original)
        (journal,) = store.journals()
        assert journal.status == "verified"
        assert good[0].id == journal.backup_snapshot_id  # saved before the first write
        assert [s.status for s in journal.steps] == ["done"] * 9
    probes = [c for c in server.exec_log if c.argv[:1] == ["nc"]]
    assert len(probes) == 6
    assert "verified: the observed flows connect" in out
    # the same rollout again: the live set already is the plan, nothing is written
    before = len(real_writes(server))
    code, out, err = run(capsys, *base_args(kubeconfig, tmp_path), "--sample", "0", "--yes")
    assert code == 0, out + err
    assert "nothing to apply: the live set already is the rollout." in out
    assert len(real_writes(server)) == before


def test_failed_probe_of_an_observed_flow_auto_reverts_to_the_saved_set(
    server: KubeApiServer, kubeconfig: Path, tmp_path: Path, capsys: Any, expected: Any
) -> None:
    rollout, original, _ = expected
    targets = verification_targets(rollout, 3)
    broken = next(t for t in targets if t.expect == "open")
    script_probes(server, targets, failing={broken.text()})
    code, out, err = run(
        capsys, *base_args(kubeconfig, tmp_path), "--sample", "3", "--yes", "--auto-revert"
    )
    assert code == 1, out + err
    assert f"observed flow(s) no longer connect: {broken.text()}" in err
    assert "reverted:" in out
    assert server_policy_set(server) == original
    with Store.open(tmp_path / "state") as store:
        journals = store.journals()
        assert [(j.action, j.status) for j in sorted(journals, key=lambda j: j.id)] == [
            ("apply", "verified"),
            ("revert", "verified"),
        ]


def test_failed_probe_without_auto_revert_names_the_revert(
    server: KubeApiServer, kubeconfig: Path, tmp_path: Path, capsys: Any, expected: Any
) -> None:
    rollout, _, target = expected
    targets = verification_targets(rollout, 2)
    broken = next(t for t in targets if t.expect == "open")
    script_probes(server, targets, failing={broken.text()})
    code, _, err = run(capsys, *base_args(kubeconfig, tmp_path), "--sample", "2", "--yes")
    assert code == 1
    assert "triage rollback revert 1 --context triage-test --yes" in err
    assert server_policy_set(server) == target  # left applied; the operator decides


def test_nothing_is_written_without_confirmation(
    server: KubeApiServer, kubeconfig: Path, tmp_path: Path, capsys: Any, expected: Any
) -> None:
    _, original, _ = expected
    # no --yes and no terminal to type the context on
    code, _, err = run(capsys, *base_args(kubeconfig, tmp_path))
    assert code == 2 and "refusing to change the cluster without confirmation" in err
    # no --context at all
    args = base_args(kubeconfig, tmp_path)
    i = args.index("--context")
    code, _, err = run(capsys, *(args[:i] + args[i + 2 :]), "--yes")
    assert code == 2 and "--context NAME is required" in err
    # a context that is not the kubeconfig's
    args[i + 1] = "prod-eu"
    code, _, err = run(capsys, *args, "--yes")
    assert code == 2 and "triage: error:" in err
    assert real_writes(server) == []
    assert server_policy_set(server) == original
    with Store.open(tmp_path / "state") as store:
        assert store.snapshots() == [] and store.journals() == []
