"""`triage explain` through the CLI entry point: outputs, exit codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.engine_builders import CLASSIC, netpol, ns, pod
from triage.cli import main

FRONTEND = "develop/frontend-7d4b9c-x2kq"
CANARY = "develop/frontend-canary-5f6d7-p9zz"
BACKEND = "develop/backend-6c8f9-h4lm"


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    # Rich wraps at the terminal width; a wide one keeps each sentence on one line.
    monkeypatch.setenv("COLUMNS", "400")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["explain", *args])
    out, err = capsys.readouterr()
    return code, out, err


def explain_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code, out, err = run(capsys, "--manifests", str(CLASSIC), "-o", "json", *args)
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert isinstance(doc, dict)
    return doc


def write(path: Path, *docs: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    return path


# ------------------------------------------------------------------ answers


def test_text_output_names_the_trap(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "--manifests", str(CLASSIC), "--from", FRONTEND, "--to", BACKEND, "--port", "8080"
    )
    assert code == 0 and err == ""
    assert f"Flow {FRONTEND} → {BACKEND}:8080/TCP  →  DENIED" in out
    assert "✘ Egress at the source (develop/frontend-7d4b9c-x2kq): DENIED" in out
    assert (
        "allow-dns-egress (podSelector {} selects every pod of develop for Egress, so it "
        "isolates them all)"
    ) in out
    assert "✔ Ingress at the destination (develop/backend-6c8f9-h4lm): allowed" in out
    assert "rule #0 ← allows this flow" in out  # the deciding ingress rule
    assert "Nearest miss: develop/allow-dns-egress egress rule #0:" in out


def test_text_output_for_an_allowed_flow(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "--manifests",
        str(CLASSIC),
        "--from",
        FRONTEND,
        "--to",
        "kube-system/svc/kube-dns",
        "--port",
        "53/UDP",
    )
    assert code == 0
    assert "→  ALLOWED" in out
    assert "Service kube-system/kube-dns port 53/UDP → targetPort 53" in out
    assert "Nearest miss" not in out


def test_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    doc = explain_json(capsys, "--from", CANARY, "--to", "develop/svc/backend", "--port", "80")
    assert {"allowed", "flow", "egress", "ingress", "warnings"} <= set(doc)
    assert doc["allowed"] is False
    assert doc["flow"] == {
        "from": CANARY,
        "to": "develop/svc/backend",
        "port": 80,
        "protocol": "TCP",
    }
    assert doc["egress"]["allowed"] is False and doc["ingress"]["allowed"] is False
    assert doc["port"] == 8080
    assert doc["nearest_miss"]["policy"] == "develop/allow-backend-ingress"
    assert doc["nearest_miss"]["text"] == (
        "develop/allow-backend-ingress ingress rule #0: source label app=frontend-canary is "
        "not in [frontend, frontend-primary]"
    )
    assert doc["warnings"] == []


def test_protocol_option_and_ip_endpoints(capsys: pytest.CaptureFixture[str]) -> None:
    doc = explain_json(
        capsys, "--from", "10.0.1.10", "--to", "10.0.0.10", "--port", "53", "--protocol", "udp"
    )
    assert doc["allowed"] is True
    assert doc["source"]["name"] == FRONTEND  # a pod's IP is that pod
    assert doc["flow"]["protocol"] == "UDP"
    doc = explain_json(capsys, "--from", "203.0.113.9", "--to", BACKEND, "--port", "8080")
    assert doc["allowed"] is False
    assert doc["source"]["kind"] == "external"
    assert doc["egress"]["governed"] is False


def test_service_cluster_ip_destination(capsys: pytest.CaptureFixture[str]) -> None:
    doc = explain_json(
        capsys, "--from", "traefik/traefik-8b7c6-q1w2", "--to", "10.96.10.20", "--port", "80"
    )
    assert doc["allowed"] is True
    assert doc["service"]["service"] == "develop/backend"
    assert doc["warnings"][0].startswith("10.96.10.20 is the ClusterIP of Service develop/backend")


def test_flows_file_gives_a_json_list_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flows = tmp_path / "flows.yaml"
    flows.write_text(
        yaml.safe_dump(
            [
                {"from": "develop/debug", "to": "production/svc/production-db", "port": 5432},
                {"from": FRONTEND, "to": "kube-system/svc/kube-dns", "port": 53, "protocol": "UDP"},
                {"from": "traefik/traefik-8b7c6-q1w2", "to": BACKEND, "port": "http"},
            ]
        ),
        encoding="utf-8",
    )
    code, out, err = run(capsys, "--manifests", str(CLASSIC), "--flows", str(flows))
    assert (code, err) == (0, "")
    docs = json.loads(out)
    assert [d["allowed"] for d in docs] == [False, True, True]
    assert [d["flow"]["to"] for d in docs] == [
        "production/svc/production-db",
        "kube-system/svc/kube-dns",
        BACKEND,
    ]
    assert docs[2]["port"] == 8080


def test_load_warnings_are_shown_in_text_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifests = write(
        tmp_path / "m.yaml",
        pod("web", "a", {"app": "a"}, ip="10.0.0.1"),
        pod("web", "b", {"app": "b"}, ip="10.0.0.2"),
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}},
    )
    args = ("--manifests", str(manifests), "--from", "web/a", "--to", "web/b", "--port", "80")
    code, out, _ = run(capsys, *args)
    assert code == 0
    assert "warning: namespace web is used but not in the input" in out
    assert "warning: skipped objects of other kinds: 1 Deployment" in out
    code, out, _ = run(capsys, *args, "-o", "json")
    doc = json.loads(out)
    assert doc["allowed"] is True
    assert doc["warnings"][0].startswith("namespace web is used but not in the input")
    assert doc["warnings"][1] == "skipped objects of other kinds: 1 Deployment"


# ------------------------------------------------------------------ bad input: exit 2


def test_invalid_manifests_exit_2_with_one_line_per_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad_policy = netpol(
        "web",
        "bad",
        {"matchExpressions": [{"key": "app", "operator": "Has"}]},
        ingress=[
            {
                "from": [{"ipBlock": {"cidr": "10.0.0.0/24", "except": ["10.0.1.0/28"]}}],
                "ports": [{"port": 99999}, {"port": 80, "endPort": 79}, {"protocol": "ICMP"}],
            }
        ],
    )
    manifests = write(tmp_path / "m.yaml", ns("web"), pod("web", "a", ip="10.0.0.1"), bad_policy)
    code, out, err = run(
        capsys, "--manifests", str(manifests), "--from", "web/a", "--to", "web/a", "--port", "80"
    )
    assert code == 2
    assert out == ""  # nothing evaluated
    where = f"triage: error: {manifests}: NetworkPolicy web/bad:"
    assert err.splitlines() == [
        f"{where} spec.podSelector.matchExpressions[0].operator: unknown operator 'Has'; "
        "expected one of In, NotIn, Exists, DoesNotExist",
        f"{where} spec.ingress[0].from[0].ipBlock.except[0]: 10.0.1.0/28 is not strictly inside "
        "cidr 10.0.0.0/24",
        f"{where} spec.ingress[0].ports[0].port: port 99999 is out of range 1-65535",
        f"{where} spec.ingress[0].ports[1].endPort: endPort 79 is below port 80",
        f"{where} spec.ingress[0].ports[2].protocol: unknown protocol 'ICMP'; expected TCP, UDP "
        "or SCTP",
    ]
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("peer_or_port", "message"),
    [
        (
            {"from": [{"podSelector": {"matchExpressions": [{"key": "a", "operator": "NotIn"}]}}]},
            "spec.ingress[0].from[0].podSelector.matchExpressions[0].values: operator NotIn needs "
            "at least one value",
        ),
        (
            {"from": [{"ipBlock": {"cidr": "300.0.0.0/8"}}]},
            "spec.ingress[0].from[0].ipBlock.cidr: invalid CIDR '300.0.0.0/8' (expected an "
            "address/prefix length)",
        ),
        (
            {"ports": [{"port": "web", "endPort": 90}]},
            "spec.ingress[0].ports[0].endPort: endPort needs a numeric port",
        ),
        ({"ports": [{"port": "80x!"}]}, "spec.ingress[0].ports[0].port: invalid port name '80x!'"),
        ({"ports": "80"}, "spec.ingress[0].ports: expected a list, got str"),
    ],
)
def test_each_validation_error_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], peer_or_port: dict[str, Any], message: str
) -> None:
    manifests = write(tmp_path / "m.yaml", netpol("web", "bad", {}, ingress=[peer_or_port]))
    code, out, err = run(
        capsys, "--manifests", str(manifests), "--from", "1.1.1.1", "--to", "2.2.2.2", "--port", "1"
    )
    assert (code, out) == (2, "")
    (line,) = err.splitlines()
    assert line.startswith(f"triage: error: {manifests}: NetworkPolicy web/bad: {message}")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--from", "develop/frontend", "--to", BACKEND, "--port", "80"],
            "triage: error: source develop/frontend: no such pod (pods of workload frontend: "
            "frontend-7d4b9c-x2kq)",
        ),
        (
            ["--from", "develp/debug", "--to", BACKEND, "--port", "80"],
            "triage: error: source develp/debug: no namespace develp (did you mean develop?)",
        ),
        (
            ["--from", FRONTEND, "--to", "develop/svc/backnd", "--port", "80"],
            "triage: error: destination develop/svc/backnd: no such Service (did you mean "
            "backend?)",
        ),
        (
            ["--from", "develop/svc/backend", "--to", BACKEND, "--port", "80"],
            "triage: error: source develop/svc/backend: a Service cannot be a source; name a pod",
        ),
        (
            ["--from", "Develop/X", "--to", BACKEND, "--port", "80"],
            "triage: error: source 'Develop/X': expected NAMESPACE/POD, NAMESPACE/svc/SERVICE or "
            "an IP address",
        ),
        (
            ["--from", FRONTEND, "--to", BACKEND, "--port", "70000"],
            "triage: error: port 70000: must be between 1 and 65535",
        ),
        (
            ["--from", FRONTEND, "--to", BACKEND, "--port", "53", "--protocol", "icmp"],
            "triage: error: protocol 'icmp': expected one of TCP, UDP, SCTP",
        ),
        (
            ["--from", FRONTEND, "--to", BACKEND, "--port", "53/UDP", "--protocol", "UDP"],
            "triage: error: give the protocol once: either --port P/PROTO or --protocol",
        ),
        (
            ["--from", FRONTEND, "--to", BACKEND],
            "triage: error: explain needs --from, --to and --port (or --flows FILE)",
        ),
    ],
)
def test_bad_flows_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = run(capsys, "--manifests", str(CLASSIC), *args)
    assert (code, out) == (2, "")
    assert err.splitlines() == [message]


def test_bad_flows_files_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = {
        "not-a-list.yaml": ({"from": "a/b"}, "expected a YAML list of {from, to, port, protocol}"),
        "missing.yaml": ([{"from": FRONTEND, "to": BACKEND}], "[0].port: missing"),
        "unknown.yaml": (
            [
                {"from": FRONTEND, "to": BACKEND, "port": 80},
                {"from": "x/y", "to": BACKEND, "port": 1},
            ],
            None,
        ),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        path.write_text(yaml.safe_dump(content), encoding="utf-8")
        code, out, err = run(capsys, "--manifests", str(CLASSIC), "--flows", str(path))
        assert (code, out) == (2, ""), name
        (line,) = err.splitlines()
        if message is None:
            # the file and the entry, then what is wrong with it
            assert line == (
                f"triage: error: {path}: [1] (x/y → {BACKEND}:1): source x/y: no namespace x"
            )
        else:
            assert line == f"triage: error: {path}: {message}"
    code, _, err = run(
        capsys, "--manifests", str(CLASSIC), "--flows", str(path), "--from", FRONTEND
    )
    assert code == 2
    assert err == "triage: error: give either --flows FILE or --from/--to/--port, not both\n"


def test_missing_manifests_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    code, out, err = run(
        capsys, "--manifests", str(missing), "--from", "1.1.1.1", "--to", "2.2.2.2", "--port", "1"
    )
    assert (code, out) == (2, "")
    assert err == f"triage: error: {missing}: no such file or directory\n"


def test_recording_source(capsys: pytest.CaptureFixture[str]) -> None:
    """`--recording`: the first flow the incident itself reports, answered from it."""
    incidents = Path(__file__).parent.parent / "runbooks" / "incidents"
    path = incidents / "frontend-canary-label-mismatch.yaml"
    if not path.exists():
        pytest.skip("the bundled incident is not in this checkout")
    flow = yaml.safe_load(path.read_text(encoding="utf-8"))["flows"][0]
    code, out, err = run(
        capsys,
        "--recording",
        str(path),
        "--from",
        flow["from"],
        "--to",
        flow["to"],
        "--port",
        str(flow["port"]),
        "-o",
        "json",
    )
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert {"allowed", "flow", "egress", "ingress", "warnings"} <= set(doc)
    assert doc["flow"]["from"] == flow["from"]
