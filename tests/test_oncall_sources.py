"""Recordings are told from manifests by parsing them, for every command taking a SOURCE."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from triage.cli import main
from triage.sources.recording import bundled_incident, load_incident, write_incident


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    """What `triage record` writes: indented JSON (no `kind: Incident` line)."""
    path = tmp_path / "incident.yaml"
    write_incident(load_incident(bundled_incident("frontend-canary-label-mismatch")), path)
    assert "kind: Incident" not in path.read_text(encoding="utf-8")
    return path


def test_lint_lints_a_recorded_json_incident(
    recorded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["lint", str(recorded), "-o", "json", "--fail-on", "high"])
    data = json.loads(capsys.readouterr().out)
    assert data["source"] == f"recording {recorded}"
    assert not any("skipped objects" in w for w in data["warnings"])
    assert data["policies"] > 0 and data["findings"]
    assert code == (1 if data["failed"] else 0)


def test_manifests_option_reads_a_recording_as_one(
    recorded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = load_incident(recorded).flows[0].flow
    code = main(
        [
            "explain",
            "--manifests",
            str(recorded),
            "--from",
            str(flow.source),
            "--to",
            str(flow.destination),
            "--port",
            f"{flow.port}/{flow.protocol}",
            "-o",
            "json",
        ]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["allowed"] is False


def test_a_recording_among_manifests_is_refused_in_one_line(
    recorded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    classic = Path(__file__).parent / "data" / "classic.yaml"
    assert main(["lint", "--manifests", str(recorded), str(classic)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"triage: error: {recorded}: a recorded incident, not manifests; give it alone or "
        "with --recording\n"
    )


def test_an_unsupported_recording_version_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "old.json"
    path.write_text('{"apiVersion": "triage/v9", "kind": "Incident"}', encoding="utf-8")
    assert main(["lint", str(path)]) == 2
    assert "triage/v9" in capsys.readouterr().err
