"""`triage snapshot` and `triage rollback` as an operator runs them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.rollback_helpers import (
    FAILED_ROLLOUT,
    SHOP_LIVE,
    SHOP_OBJECTS,
    SHOP_TARGET,
    expected_set,
    server_policy_set,
)
from triage.cli import main
from triage.commands.rollback import confirm
from triage.errors import UsageError

CONTEXT = "triage-test"
WRITES = ("POST", "PUT", "PATCH", "DELETE")


def run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------- replay: the failed rollout


def test_markdown_plan_of_the_failed_rollout(capsys: Any) -> None:
    code, out, err = run(capsys, "rollback", "plan", "--recording", str(FAILED_ROLLOUT), "-o", "md")
    assert code == 0, err
    assert out.startswith("# Rollback plan: known-good set 'argocd sync 2024-06-11")
    assert "SIMULATION" in out
    assert "- Context: `prod-use1-oncall`" in out
    assert "- Scope: namespace checkout" in out
    # the steps, in the safe order, each with its kubectl equivalent
    steps = re.findall(r"^### (\d+)\. (\w+) `([^`]+)`$", out, re.M)
    assert steps == [
        ("1", "create", "checkout/allow-metrics-scrape"),
        ("2", "delete", "checkout/allow-api-to-db"),
        ("3", "replace", "checkout/allow-api-from-web"),
    ]
    assert "kubectl --context prod-use1-oncall create -f - <<'EOF'" in out
    assert (
        "kubectl --context prod-use1-oncall delete networkpolicy allow-api-to-db -n checkout" in out
    )
    assert "kubectl --context prod-use1-oncall replace -f - <<'EOF'" in out
    assert "  resourceVersion: '49120577'" in out  # the replace is conditional
    assert "-  - port: 8443\n+  - port: 8080" in out
    assert "## Order" in out and "DNS and ingress guardrails are back" in out
    # the delta: what opens, what closes
    assert "### Flows that will open (15)" in out
    assert "| checkout/checkout-api | 8080/TCP | checkout/checkout-web |" in out
    assert "| kube-system/coredns | 53/UDP | checkout/checkout-api |" in out
    assert "| checkout/checkout-api | 9090/TCP | monitoring/prometheus-k8s |" in out
    assert "### Flows that will close (1)" in out
    assert "| checkout/checkout-api | 8443/TCP | checkout/checkout-web |" in out
    # verification: the reported flows come back, and probes to prove it
    assert (
        "| checkout/checkout-web-7c9d8f6b5-8hx2p → checkout/svc/checkout-api:80/TCP "
        "| denied | allowed |" in out
    )
    assert "nslookup -timeout=3 kubernetes.default.svc.cluster.local 10.20.0.10" in out
    assert "triage explain --context prod-use1-oncall" in out


def test_text_and_json_plans_of_the_failed_rollout(capsys: Any) -> None:
    code, out, _ = run(capsys, "rollback", "plan", "--recording", str(FAILED_ROLLOUT))
    assert code == 0
    assert out.startswith("SIMULATION")
    assert (
        "3 step(s): 1 create, 1 replace, 1 delete; 3 unchanged; opens 15 flow(s), closes 1" in out
    )
    code, out, _ = run(capsys, "rollback", "plan", "--recording", str(FAILED_ROLLOUT), "-o", "json")
    doc = json.loads(out)
    assert doc["simulation"] is True and doc["scope"] == ["checkout"]
    assert [(s["action"], s["name"], s["phase"]) for s in doc["steps"]] == [
        ("create", "allow-metrics-scrape", 1),
        ("delete", "allow-api-to-db", 1),
        ("replace", "allow-api-from-web", 2),
    ]
    assert doc["steps"][2]["manifest"]["metadata"]["resourceVersion"] == "49120577"
    assert len(doc["delta"]["opened"]) == 15 and len(doc["delta"]["closed"]) == 1


def test_unknown_known_good_name_is_one_line(capsys: Any) -> None:
    code, _, err = run(
        capsys, "rollback", "plan", "--recording", str(FAILED_ROLLOUT), "--to-known-good", "nope"
    )
    assert code == 2
    assert err.strip().startswith("triage: error: no knownGood set named 'nope'")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_snapshot_of_a_recordings_known_good_set(capsys: Any, tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    code, out, err = run(
        capsys, "snapshot", "save", "--recording", str(FAILED_ROLLOUT), "--known-good",
        "argocd sync 2024-06-11 (netpol-config@8e41c2d)", "--good", "--note", "INC-2291",
        "--state-dir", state,
    )  # fmt: skip
    assert code == 0, err
    assert "saved #1" in out and "context=prod-use1-oncall" in out and "good=yes" in out
    code, out, _ = run(capsys, "snapshot", "list", "--state-dir", state, "-o", "json")
    (snap,) = json.loads(out)
    assert snap["scope"] == ["checkout"] and len(snap["policies"]) == 5
    assert snap["note"] == "INC-2291"
    # the recording planned toward the stored snapshot is the same plan
    code, out, _ = run(
        capsys, "rollback", "plan", "--recording", str(FAILED_ROLLOUT), "--to", "1",
        "--state-dir", state,
    )  # fmt: skip
    assert "3 step(s): 1 create, 1 replace, 1 delete" in out
    code, out, _ = run(capsys, "snapshot", "show", "1", "--state-dir", state)
    assert "name: allow-metrics-scrape" in out


# ---------------------------------------------------------------- against the API test server


@pytest.fixture
def shop_api(kube_api: Any) -> Any:
    kube_api.seed(
        namespaces=[o for o in SHOP_OBJECTS if o["kind"] == "Namespace"],
        pods=[o for o in SHOP_OBJECTS if o["kind"] == "Pod"],
        network_policies=SHOP_LIVE,
    )
    return kube_api


def _writes(server: Any) -> list[Any]:
    return [r for r in server.requests if r.method in WRITES]


def test_snapshot_save_list_mark_good_from_the_live_cluster(
    shop_api: Any, kubeconfig: Path, tmp_path: Path, capsys: Any
) -> None:
    opts = ["--kubeconfig", str(kubeconfig), "--state-dir", str(tmp_path / "state")]
    code, out, err = run(
        capsys, "snapshot", "save", "--context", CONTEXT, "--note", "before", *opts
    )
    assert code == 0, err
    assert "saved #1" in out and "good=no" in out and "policies=4" in out
    code, out, _ = run(capsys, "snapshot", "mark-good", "1", "--state-dir", str(tmp_path / "state"))
    assert "good=yes" in out
    code, out, _ = run(capsys, "snapshot", "list", "--state-dir", str(tmp_path / "state"))
    assert re.search(
        r"^\s+1\s+\S+\s+triage-test\s+manual\s+yes\s+4\s+all namespaces\s+— before$", out, re.M
    ), out
    # with the live set equal to the known-good one, the default plan is empty
    code, out, _ = run(capsys, "rollback", "plan", "--context", CONTEXT, *opts)
    assert code == 0 and "nothing to do" in out
    assert _writes(shop_api) == []


def test_apply_needs_context_and_confirmation(
    shop_api: Any, kubeconfig: Path, tmp_path: Path, capsys: Any
) -> None:
    import yaml

    folder = tmp_path / "gitops"
    folder.mkdir()
    (folder / "shop.yaml").write_text(yaml.safe_dump_all(SHOP_TARGET))
    opts = ["--kubeconfig", str(kubeconfig), "--state-dir", str(tmp_path / "state")]
    # no --context: refused before anything is read
    code, _, err = run(capsys, "rollback", "apply", "--to-manifests", str(folder), "--yes", *opts)
    assert code == 2 and "--context NAME is required" in err
    # no --yes and no terminal: refused, nothing written
    code, out, err = run(
        capsys, "rollback", "apply", "--to-manifests", str(folder), "--context", CONTEXT, *opts
    )
    assert code == 2, err
    assert "refusing to change the cluster without confirmation" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "replace shop/allow-web" in out  # the plan was shown
    assert _writes(shop_api) == []
    # a context that is not in the kubeconfig
    code, _, err = run(
        capsys,
        "rollback",
        "apply",
        "--to-manifests",
        str(folder),
        "--context",
        "prod",
        "--yes",
        *opts,
    )
    assert code == 2 and "context 'prod' is not in kubeconfig" in err
    assert _writes(shop_api) == []
    # --yes --context: applied and verified
    code, out, err = run(
        capsys,
        "rollback",
        "apply",
        "--to-manifests",
        str(folder),
        "--context",
        CONTEXT,
        "--yes",
        *opts,
    )
    assert code == 0, err
    assert "verified: 5 steps applied; the live set equals the target" in out
    assert server_policy_set(shop_api) == expected_set(SHOP_TARGET)
    code, out, _ = run(capsys, "rollback", "journal", "--state-dir", str(tmp_path / "state"))
    assert "#1" in out and "status=verified" in out


def test_apply_refuses_a_snapshot_of_another_context(
    shop_api: Any, kubeconfig: Path, tmp_path: Path, capsys: Any
) -> None:
    state = str(tmp_path / "state")
    run(
        capsys, "snapshot", "save", "--recording", str(FAILED_ROLLOUT), "--known-good",
        "argocd sync 2024-06-11 (netpol-config@8e41c2d)", "--state-dir", state,
    )  # fmt: skip
    code, _, err = run(
        capsys, "rollback", "apply", "--to", "1", "--context", CONTEXT, "--yes",
        "--kubeconfig", str(kubeconfig), "--state-dir", state,
    )  # fmt: skip
    assert code == 2
    assert "was saved from context 'prod-use1-oncall', not 'triage-test'" in err
    assert _writes(shop_api) == []


def test_failed_apply_then_resume_and_revert_from_the_cli(
    shop_api: Any, kubeconfig: Path, tmp_path: Path, capsys: Any
) -> None:
    import yaml

    folder = tmp_path / "gitops"
    folder.mkdir()
    (folder / "shop.yaml").write_text(yaml.safe_dump_all(SHOP_TARGET))
    opts = ["--kubeconfig", str(kubeconfig), "--state-dir", str(tmp_path / "state")]
    shop_api.inject("PUT", r"/networkpolicies/allow-web$", status=500, on_call=2)  # after dry-run
    code, out, err = run(
        capsys,
        "rollback",
        "apply",
        "--to-manifests",
        str(folder),
        "--context",
        CONTEXT,
        "--yes",
        *opts,
    )
    assert code == 1
    assert "journal #1 (apply): failed" in err
    assert "replace shop/allow-web: FAILED: " in err and "500" in err
    assert "not applied" in err
    assert "`triage rollback resume 1 --context triage-test`" in err
    assert "`triage rollback revert 1 --context triage-test`" in err
    code, out, err = run(capsys, "rollback", "resume", "1", "--context", CONTEXT, "--yes", *opts)
    assert code == 0, err
    assert server_policy_set(shop_api) == expected_set(SHOP_TARGET)
    code, out, err = run(capsys, "rollback", "revert", "1", "--context", CONTEXT, "--yes", *opts)
    assert code == 0, err
    assert server_policy_set(shop_api) == expected_set(SHOP_LIVE)
    code, out, _ = run(capsys, "rollback", "journal", "3", "--state-dir", str(tmp_path / "state"))
    assert "revert (after #1)" in out and "status=verified" in out


def test_dry_run_failure_from_the_cli_is_one_line_and_writes_nothing(
    shop_api: Any, kubeconfig: Path, tmp_path: Path, capsys: Any
) -> None:
    import yaml

    folder = tmp_path / "gitops"
    folder.mkdir()
    (folder / "shop.yaml").write_text(yaml.safe_dump_all(SHOP_TARGET))
    shop_api.inject(
        "PUT", r"/networkpolicies/allow-web$", status=422, message="spec: Invalid value"
    )
    code, _, err = run(
        capsys, "rollback", "apply", "--to-manifests", str(folder), "--context", CONTEXT, "--yes",
        "--kubeconfig", str(kubeconfig), "--state-dir", str(tmp_path / "state"),
    )  # fmt: skip
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("triage: error: server-side dry-run failed")
    assert "replace shop/allow-web" in lines[0] and "422" in lines[0]
    assert [r for r in _writes(shop_api) if not r.dry_run] == []


def test_typed_confirmation_at_the_prompt() -> None:
    from types import SimpleNamespace

    plan: Any = SimpleNamespace(operations=(1, 2), deletes_everything=False)
    assert confirm(plan, "prod-eu", yes=False, ask=lambda _p: "prod-eu") == "prod-eu"
    assert confirm(plan, "prod-eu", yes=False, ask=lambda _p: "  prod-eu \n") == "prod-eu"
    for typed in ("", "y", "yes", "prod", "PROD-EU"):
        with pytest.raises(UsageError, match="does not match the context"):
            confirm(plan, "prod-eu", yes=False, ask=lambda _p, t=typed: t)

    def eof(_prompt: str) -> str:
        raise EOFError

    with pytest.raises(UsageError, match="nothing applied"):
        confirm(plan, "prod-eu", yes=False, ask=eof)
