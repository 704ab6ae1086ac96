"""The classic scenario (tests/data/classic.yaml) the checklist, engine and report tests
share: its pods, a scripted prober and context builders. The `classic` fixture (the loaded
snapshot) is in conftest.py."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from triage.checklist import ChecklistContext, StepResult, run_all
from triage.model import PodRef, Snapshot, parse_flow
from triage.probes.base import ProbeOutcome, ProbeResult

CLASSIC = Path(__file__).parent / "data" / "classic.yaml"
CANARY = "develop/frontend-canary-5f6d7-p9zz"
FRONTEND = "develop/frontend-7d4b9c-x2kq"
BACKEND = "develop/backend-6c8f9-h4lm"
TRAEFIK = "traefik/traefik-8b7c6-q1w2"


class FakeProber:
    """Answers from a table: ("dns", source, name) or ("connect", source, ip, port)."""

    live = True

    def __init__(self, answers: Mapping[tuple[object, ...], tuple[ProbeOutcome, str]]) -> None:
        self.answers = dict(answers)
        self.calls: list[tuple[object, ...]] = []

    def _answer(self, key: tuple[object, ...], kind: str, command: tuple[str, ...]) -> ProbeResult:
        self.calls.append(key)
        outcome, output = self.answers.get(key, ("error", "unscripted"))
        addresses = tuple(
            line.split(":", 1)[1].strip()
            for line in output.splitlines()
            if line.startswith("Address: ")
        )
        return ProbeResult(kind, outcome, output, 12, command, "exec", "", addresses)  # type: ignore[arg-type]

    def dns(self, source: PodRef, name: str, timeout: float) -> ProbeResult:
        return self._answer(("dns", str(source), name), "dns", ("nslookup", name))

    def connect(
        self, source: PodRef, ip: str, port: int, protocol: str, timeout: float
    ) -> ProbeResult:
        command = ("nc", "-v", "-z", "-w", "3", ip, str(port))
        return self._answer(("connect", str(source), ip, port), "connect", command)


def ctx_for(snapshot: Snapshot, src: str, dst: str, port: str, **kw: object) -> ChecklistContext:
    return ChecklistContext(snapshot, parse_flow(src, dst, port), **kw)  # type: ignore[arg-type]


def results(ctx: ChecklistContext) -> dict[str, StepResult]:
    return {r.step_id: r for r in run_all(ctx)}


def with_manifests(snapshot: Snapshot, manifests: list[dict[str, object]]) -> Snapshot:
    from triage.sources.parse import parse_network_policy

    extra = []
    for i, manifest in enumerate(manifests):
        policy, problems = parse_network_policy(manifest, "test", i)
        assert policy is not None and not problems, problems
        extra.append(policy)
    return snapshot.with_policies((*snapshot.policies, *extra))
