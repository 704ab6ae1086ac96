"""The one verifier: evaluate the cluster with a `Fix` applied and report the exact
connectivity delta.

`verify(snapshot, fix, target)` applies the fix (labels changed, policies added or
replaced), asks the engine whether the target flow is allowed afterwards (`explain`), and
compares every pod-to-pod connection before and after on the ports that matter: the ports
each destination pod declares, plus every port the fix's rules name. The comparison runs on
the compiled pod classes (`classes.py`, which agree with `explain` pod by pod), so a delta
over a few hundred pods costs milliseconds.

A fix is *minimal* when it opens its target and closes nothing that is allowed today.
`verified_fix(snapshot, flow)` is what every "fix this denied flow" offer goes through:
build (`generate.allow_fix`), verify, and say plainly what it breaks when it is not minimal.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from triage.model import Flow, Pod, Protocol, Snapshot
from triage.policy.classes import ClusterModel, compile_snapshot
from triage.policy.dns import DNS_PORT, dns_target
from triage.policy.engine import explain
from triage.policy.generate import Fix, allow_fix
from triage.policy.portset import NO_PORTS, PortSet, declared_ports
from triage.policy.trace import Explanation, Verdict


@dataclass(frozen=True, slots=True, order=True)
class PodFlow:
    """One pod-to-pod connection on one destination port."""

    source: str  # NS/POD
    destination: str  # NS/POD
    port: int
    protocol: Protocol

    def __str__(self) -> str:
        return f"{self.source} → {self.destination}:{self.port}/{self.protocol}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "destination": self.destination,
            "port": self.port,
            "protocol": self.protocol,
        }


@dataclass(frozen=True)
class Delta:
    opens: tuple[PodFlow, ...]
    closes: tuple[PodFlow, ...]


@dataclass(frozen=True)
class Baseline:
    """A snapshot compiled once, to verify many fixes against (`baseline(snapshot)`).
    Identical changes (same policies, same labels) are evaluated once: `memo` keeps their
    applied snapshot and delta."""

    snapshot: Snapshot
    model: ClusterModel
    memo: dict[object, tuple[Snapshot, Delta]] = field(
        default_factory=dict, compare=False, repr=False
    )


def baseline(snapshot: Snapshot) -> Baseline:
    return Baseline(snapshot, compile_snapshot(snapshot))


@dataclass(frozen=True)
class Verification:
    """A fix with what it does. `opens` leaves out the target's own connections;
    `dns_closed` are the `closes` that are DNS (port 53 to a DNS pod)."""

    fix: Fix
    target: Flow | None
    target_allowed: bool | None  # None: the fix has no target flow
    opens: tuple[PodFlow, ...]
    closes: tuple[PodFlow, ...]
    dns_closed: tuple[PodFlow, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def minimal(self) -> bool:
        """Opens its target and closes nothing allowed today."""
        return self.target_allowed is True and not self.closes

    def summary(self) -> str:
        """One line: what the change does to the cluster's pod-to-pod connections."""
        parts = []
        if self.target is not None:
            parts.append("opens the flow" if self.target_allowed else "does NOT open the flow")
        n_closed, n_opened = len(self.closes), len(self.opens)
        parts.append(
            f"closes {n_closed} flow{'s' if n_closed != 1 else ''} allowed today"
            if n_closed
            else "closes nothing"
        )
        other = " other" if self.target is not None else ""
        parts.append(
            f"opens {n_opened}{other} flow{'s' if n_opened != 1 else ''}"
            if n_opened
            else f"opens nothing{' else' if other else ''}"
        )
        if self.dns_closed:
            parts.append(f"CUTS DNS for {len({f.source for f in self.dns_closed})} pod(s)")
        elif self.fix.kind in ("default-deny", "containment"):
            parts.append("keeps DNS")
        return "; ".join(parts)

    def delta_lines(self, limit: int = 20) -> list[str]:
        """The delta as lines for people (at most `limit` flows per kind)."""
        lines: list[str] = []
        if self.target is not None:
            lines.append(
                f"target {self.target}: {'opens' if self.target_allowed else 'STILL DENIED'}"
            )
        other = " other" if self.target is not None else ""
        for word, flows in (("opens", self.opens), ("closes", self.closes)):
            if not flows:
                lines.append(f"{word} nothing{' else' if other else ''}")
                continue
            lines.append(f"{word} {len(flows)}{other} flow{'s' if len(flows) != 1 else ''}:")
            lines += [f"  {f}" for f in flows[:limit]]
            if len(flows) > limit:
                lines.append(f"  … and {len(flows) - limit} more")
        if self.dns_closed:
            lines.append(f"cuts DNS for {len({f.source for f in self.dns_closed})} pod(s)")
        return lines


# ---------------------------------------------------------------- the delta


def _expand(ports: PortSet) -> Iterator[tuple[Protocol, int]]:
    for proto, ranges in ports.items():
        for lo, hi in ranges:
            for n in range(lo, hi + 1):
                yield proto, n


def connectivity_delta(before: Baseline, after: Snapshot, extra_ports: PortSet = NO_PORTS) -> Delta:
    """Every pod-to-pod connection (a pod to itself left out) that `after` allows and
    `before` does not (opens), or the reverse (closes), on the destination's declared ports
    and `extra_ports`. Pods are matched by key; both snapshots must hold the same pods."""
    mb = before.model
    ma = compile_snapshot(after)
    after_pods: Mapping[str, Pod] = after.pod_by_key
    groups: dict[tuple[int, int], list[Pod]] = {}
    for pod in before.snapshot.pods:
        if pod.key not in after_pods or pod.key not in mb.class_of:
            continue
        joint = (mb.class_of[pod.key], ma.class_of[pod.key])
        groups.setdefault(joint, []).append(pod)
    declared: dict[str, PortSet] = {}
    opens: list[PodFlow] = []
    closes: list[PodFlow] = []
    pair_b: dict[tuple[int, int], PortSet] = {}
    pair_a: dict[tuple[int, int], PortSet] = {}
    for (sb, sa), sources in groups.items():
        for (db, da), destinations in groups.items():
            b = pair_b.get((sb, db))
            if b is None:
                b = pair_b[(sb, db)] = mb.pair(sb, db)
            a = pair_a.get((sa, da))
            if a is None:
                a = pair_a[(sa, da)] = ma.pair(sa, da)
            if a == b:
                continue
            opened, closed = a - b, b - a
            for d in destinations:
                wanted = declared.get(d.key)
                if wanted is None:
                    wanted = declared[d.key] = declared_ports(d) | extra_ports
                new = list(_expand(opened & wanted)) if opened else []
                gone = list(_expand(closed & wanted)) if closed else []
                if not new and not gone:
                    continue
                for s in sources:
                    if s.key == d.key:
                        continue
                    opens += [PodFlow(s.key, d.key, n, p) for p, n in new]
                    closes += [PodFlow(s.key, d.key, n, p) for p, n in gone]
    return Delta(tuple(sorted(opens)), tuple(sorted(closes)))


def _target_flows(explanation: Explanation) -> set[PodFlow]:
    out: set[PodFlow] = set()
    for v in explanation.verdicts:
        if v.source.kind == "pod" and v.destination.kind == "pod" and v.port is not None:
            out.add(PodFlow(v.source.name, v.destination.name, v.port, v.protocol))
    return out


def verify(
    snapshot: Snapshot,
    fix: Fix,
    target: Flow | Explanation | None = None,
    *,
    base: Baseline | None = None,
) -> Verification:
    """Apply `fix` to `snapshot` and report what changes (see the module docstring)."""
    base = base if base is not None and base.snapshot is snapshot else baseline(snapshot)
    key = (fix.policies, fix.labels)
    found = base.memo.get(key)
    if found is None:
        after = fix.apply(snapshot)
        found = base.memo[key] = (after, connectivity_delta(base, after, fix.ports()))
    after, delta = found
    flow: Flow | None = None
    allowed: bool | None = None
    opens = delta.opens
    notes = list(fix.notes)
    if target is not None:
        before = target if isinstance(target, Explanation) else explain(snapshot, target)
        flow = before.flow
        allowed = explain(after, flow).allowed
        own = _target_flows(before)
        opens = tuple(f for f in opens if f not in own)
        if not allowed:
            notes.append(f"the fix does not open {flow}: check the notes above")
    dns = dns_target(snapshot).keys
    dns_closed = tuple(f for f in delta.closes if f.destination in dns and f.port == DNS_PORT)
    if delta.closes and fix.kind == "allow":
        notes.append(
            f"this fix closes {len(delta.closes)} flow(s) allowed today "
            f"(first: {delta.closes[0]}): it is not minimal"
        )
    if dns_closed:
        notes.append(
            f"this change cuts DNS for {len({f.source for f in dns_closed})} pod(s) "
            f"(first: {dns_closed[0]})"
        )
    return Verification(fix, flow, allowed, opens, delta.closes, dns_closed, tuple(notes))


def admin_denied(verdict: Verdict) -> bool:
    """A side of `verdict` is denied by the Admin tier (ClusterNetworkPolicy tier Admin or
    AdminNetworkPolicy): no NetworkPolicy can change that."""
    return any(
        side.tiers is not None and side.tiers.decided_by == "Admin" and not side.tiers.allowed
        for side in (verdict.egress, verdict.ingress)
    )


def verified_fix(
    snapshot: Snapshot, target: Flow | Explanation, *, base: Baseline | None = None
) -> Verification | None:
    """The least-privilege fix for a denied flow, verified: None when the flow is allowed or
    no NetworkPolicy can fix it (see `generate.allow_fix`), an Admin-tier Deny included: it
    decides before any NetworkPolicy, so a NetworkPolicy "fix" would be a lie."""
    explanation = target if isinstance(target, Explanation) else explain(snapshot, target)
    if explanation.allowed or any(admin_denied(v) for v in explanation.verdicts):
        return None
    fix = allow_fix(snapshot, explanation)
    if fix is None:
        return None
    return verify(snapshot, fix, explanation, base=base)


def verification_to_dict(v: Verification) -> dict[str, Any]:
    """The JSON contract of a fix (`triage explain --fix -o json` puts it under "fix")."""
    return {
        "title": v.fix.title,
        "kind": v.fix.kind,
        "policies": v.fix.manifests(),
        "labels": [
            {"namespace": c.namespace, "pod": c.pod, "key": c.key, "value": c.value}
            for c in v.fix.labels
        ],
        "opens": [f.to_dict() for f in v.opens],
        "closes": [f.to_dict() for f in v.closes],
        "minimal": v.minimal,
        "target_allowed": v.target_allowed,
        "notes": list(v.notes),
    }
