"""Runbooks are data: the bundled ones load, ship in the package, and a bad one names the file
and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.checklist_support import CANARY, ctx_for
from triage.checklist import PLACEHOLDERS, bundled_runbooks, load_runbook, render_kubectl
from triage.checklist.registry import CHECKS
from triage.sources.errors import SourceError

ROOT = Path(__file__).resolve().parent.parent


def test_bundled_runbooks() -> None:
    assert bundled_runbooks() == [
        "blocked-flow",
        "default-deny-rollout",
        "failed-rollout",
        "lateral-movement",
    ]
    assert load_runbook("blocked-flow").step_ids == (
        "flow",
        "dns",
        "labels",
        "namespaces",
        "tiers",
        "ports",
        "verdict",
        "probe",
        "changes",
    )
    assert load_runbook("failed-rollout").step_ids == ("changes", "regressions", "rollback")
    assert load_runbook("lateral-movement").step_ids == ("default-deny", "exposure", "containment")
    live = {s.id for s in load_runbook("blocked-flow").steps if s.live}
    assert live == {"dns", "probe"}


def test_every_check_is_used_by_a_bundled_runbook() -> None:
    used = {s.id for name in bundled_runbooks() for s in load_runbook(name).steps}
    assert used == set(CHECKS)


def test_repo_runbooks_are_symlinks_to_the_packaged_files() -> None:
    for name in bundled_runbooks():
        link = ROOT / "runbooks" / f"{name}.yaml"
        assert link.is_symlink(), link
        assert link.resolve() == (ROOT / "triage" / "data" / "runbooks" / f"{name}.yaml").resolve()
        assert load_runbook(str(link)) == load_runbook(name)


def test_unknown_runbook_name() -> None:
    with pytest.raises(SourceError, match="no bundled runbook of that name"):
        load_runbook("nope")


def _write(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_bad_runbook_names_file_and_field(tmp_path: Path) -> None:
    doc = {
        "name": "x",
        "title": "X",
        "description": "d",
        "steps": [
            {"id": "flow", "title": "Flow", "text": "t", "kubectl": "kubectl get pod {pod}"},
            {"id": "nope", "title": "N", "text": "t", "kubectl": "k", "live": "yes"},
            {"id": "flow", "title": "", "text": "t", "kubectl": "k", "extra": 1},
        ],
    }
    path = _write(tmp_path, doc)
    with pytest.raises(SourceError) as info:
        load_runbook(str(path))
    lines = str(info.value).splitlines()
    assert all(line.startswith(f"{path}: runbook: ") for line in lines)
    text = "\n".join(lines)
    assert "steps[0].kubectl: unknown placeholder {pod}" in text
    assert "steps[1].id: unknown step 'nope'" in text
    assert "steps[1].live: expected true or false" in text
    assert "steps[2].id: duplicate step 'flow'" in text
    assert "steps[2].title: missing or not a non-empty string" in text
    assert "steps[2].extra: unknown field" in text


def test_runbook_top_level_checks(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="steps: missing or not a non-empty list"):
        load_runbook(str(_write(tmp_path, {"name": "x", "title": "X", "description": "d"})))
    with pytest.raises(SourceError, match="expected a mapping at the top"):
        load_runbook(str(_write(tmp_path, ["a"])))
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [x\n", encoding="utf-8")
    with pytest.raises(SourceError, match="invalid YAML at line"):
        load_runbook(str(broken))


def test_render_kubectl_fills_every_placeholder(classic) -> None:
    ctx = ctx_for(classic, CANARY, "develop/svc/backend", "80")
    template = " ".join("{" + k + "}" for k in PLACEHOLDERS)
    rendered = render_kubectl(template, ctx)
    assert "<" not in rendered
    assert rendered.split() == [
        "develop",
        "frontend-canary-5f6d7-p9zz",
        CANARY,
        "develop",
        "backend",
        "svc",
        "backend-6c8f9-h4lm",
        "10.96.10.20",
        "backend.develop.svc.cluster.local",
        "80",
        "develop",
        "80",
        "8080",
        "TCP",
    ]


def test_runbooks_ship_in_the_wheel_package_data() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"data/**/*"' in pyproject


def test_a_command_repeated_for_one_namespace_is_rendered_once(classic) -> None:
    ctx = ctx_for(classic, CANARY, "develop/svc/backend", "80")
    template = "kubectl get netpol -n {src_ns} -o yaml && kubectl get netpol -n {dst_ns} -o yaml"
    assert render_kubectl(template, ctx) == "kubectl get netpol -n develop -o yaml"
    other = ctx_for(classic, CANARY, "production/svc/production-db", "5432")
    assert render_kubectl(template, other) == (
        "kubectl get netpol -n develop -o yaml && kubectl get netpol -n production -o yaml"
    )
