"""After the apply: probes for a sample of the observed flows (they must still connect) and
of the flows meant to close (they must not). Any prober works (`triage.probes.Prober`): the
live one execs in the source pod through the API server.

An observed flow that no longer connects is a *failed* verification: the rollout broke
something, and the caller offers (TUI) or performs (`--auto-revert`) the revert. A flow
meant to close that still connects is reported (the CNI may not enforce policies) but does
not trigger a revert: going back would not close it either.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from triage.model import PodRef, Protocol, Snapshot
from triage.probes.base import Prober, ProbeResult
from triage.rollout.plan import Rollout

Expect = Literal["open", "closed"]
Verdict = Literal["ok", "failed", "inconclusive"]
DEFAULT_SAMPLE = 8


@dataclass(frozen=True)
class ProbeTarget:
    expect: Expect
    source: PodRef
    destination: str  # NS/POD or the address, for people
    ip: str
    port: int
    protocol: Protocol

    def text(self) -> str:
        return f"{self.source} → {self.destination} ({self.ip}):{self.port}/{self.protocol}"


@dataclass(frozen=True)
class ProbeCheck:
    target: ProbeTarget
    result: ProbeResult

    @property
    def verdict(self) -> Verdict:
        outcome = self.result.outcome
        if outcome in ("error", "not-recorded"):
            return "inconclusive"
        if self.target.expect == "open":
            return "ok" if outcome == "success" else "failed"
        return "failed" if outcome == "success" else "ok"


@dataclass(frozen=True)
class Verification:
    checks: tuple[ProbeCheck, ...]

    @property
    def broken(self) -> tuple[ProbeCheck, ...]:
        """Observed flows that no longer connect: the reason to revert."""
        return tuple(c for c in self.checks if c.target.expect == "open" and c.verdict == "failed")

    @property
    def still_open(self) -> tuple[ProbeCheck, ...]:
        return tuple(
            c for c in self.checks if c.target.expect == "closed" and c.verdict == "failed"
        )

    @property
    def inconclusive(self) -> tuple[ProbeCheck, ...]:
        return tuple(c for c in self.checks if c.verdict == "inconclusive")

    @property
    def ok(self) -> bool:
        return not self.broken and not self.still_open and not self.inconclusive

    def lines(self) -> list[str]:
        out = []
        for c in self.checks:
            mark = {"ok": "ok", "failed": "FAILED", "inconclusive": "?"}[c.verdict]
            out.append(
                f"  expect {c.target.expect:<6} {c.target.text()}: {c.result.outcome} [{mark}]"
            )
        return out


def _spread(items: Sequence[ProbeTarget], limit: int) -> list[ProbeTarget]:
    """`limit` items spread over the list (deterministic), all when there are fewer."""
    if len(items) <= limit:
        return list(items)
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


def _pod_ip(snapshot: Snapshot | None, key: str) -> str | None:
    if snapshot is None:
        return None
    pod = snapshot.pod_by_key.get(key)
    return pod.ips[0] if pod is not None and pod.ips else None


def verification_targets(rollout: Rollout, sample: int = DEFAULT_SAMPLE) -> list[ProbeTarget]:
    """Up to `sample` observed flows (one per source and destination workload) and up to
    `sample` flows meant to close, each from a pod a probe can exec in."""
    opened: dict[tuple[str, str, int, str], ProbeTarget] = {}
    for check in rollout.generation.kept:
        c = check.connection
        if c.source is None or c.source.host_network:
            continue
        if c.destination is not None:
            ip = c.destination.ips[0] if c.destination.ips else None
            where = f"{c.destination.namespace}/{c.destination.workload}"
        else:
            ip = c.destination_ip
            where = str(ip)
        if ip is None:
            continue
        key = (f"{c.source.namespace}/{c.source.workload}", where, c.port, c.protocol)
        opened.setdefault(
            key,
            ProbeTarget(
                "open",
                PodRef(c.source.namespace, c.source.name),
                c.destination_label,
                ip,
                c.port,
                c.protocol,
            ),
        )
    closed: list[ProbeTarget] = []
    snapshot = rollout.plan.live_snapshot
    for change in rollout.plan.delta.closed:
        if not change.source.namespace:
            continue  # an outside address: nothing to exec in
        ip = (
            _pod_ip(snapshot, change.destination.member)
            if change.destination.namespace
            else change.destination.member
        )
        if ip is None:
            continue
        ns, _, name = change.source.member.partition("/")
        closed.append(
            ProbeTarget(
                "closed",
                PodRef(ns, name),
                change.destination.member,
                ip,
                change.port,
                change.protocol,
            )
        )
    return _spread(sorted(opened.values(), key=lambda t: t.text()), sample) + _spread(
        closed, sample
    )


def run_verification(
    prober: Prober,
    targets: Sequence[ProbeTarget],
    *,
    timeout: float = 3.0,
    progress: Callable[[ProbeCheck], None] | None = None,
) -> Verification:
    checks = []
    for target in targets:
        result = prober.connect(target.source, target.ip, target.port, target.protocol, timeout)
        check = ProbeCheck(target, result)
        checks.append(check)
        if progress is not None:
            progress(check)
    return Verification(tuple(checks))
