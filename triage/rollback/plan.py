"""A rollback plan: the per-policy diff between the live set and a target, in a safe order,
with the connectivity delta of the whole change and of each step.

The ordering rule (ORDERING_RULE, shown with every plan): each operation's effect is judged
alone against the live set with the engine, then

1. changes that only open flows (or change nothing measurable): creates and replaces that
   add allowances, then deletes of policies that only isolate (a default deny, an egress
   lockdown);
2. creates and replaces that close flows (add isolation or remove allowances), fewest
   closed flows first;
3. deletes of policies that allow traffic, last.

Allowing changes land before denying ones, so DNS and ingress guardrails are back before
anything is removed: while the plan runs the cluster errs towards open rather than broken.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from triage.model import NetworkPolicy, Pod, Snapshot
from triage.rollback.delta import Delta, connectivity_delta, representatives
from triage.rollback.policyset import (
    PolicySet,
    clean_manifest,
    intersect_scopes,
    policy_spec,
    scope_text,
    semantically_equal,
)

Action = Literal["create", "replace", "delete"]

PHASES: Mapping[int, str] = {
    1: "allow: only opens flows (allowances added, isolation removed)",
    2: "restrict: closes flows (isolation added or allowances removed)",
    3: "delete: removes a policy that allows traffic (last)",
}

PHASE_NAMES: Mapping[int, str] = {1: "allow", 2: "restrict", 3: "remove-allow"}

ORDERING_RULE = (
    "Each step's effect is judged alone against the live set, and the steps run in three "
    "phases: (1) changes that only open flows: creates and replaces that add allowances, "
    "then deletes of policies that only isolate (a default deny, an egress lockdown); "
    "(2) creates and replaces that close flows, fewest closed flows first; "
    "(3) deletes of policies that allow traffic, last. "
    "Allowing changes land before denying ones, so DNS and ingress guardrails are back "
    "before anything is removed: mid-way the cluster errs towards open, not broken."
)


@dataclass(frozen=True)
class Operation:
    action: Action
    namespace: str
    name: str
    live: NetworkPolicy | None  # the policy on the cluster now (replace, delete)
    target: NetworkPolicy | None  # the policy wanted (create, replace)
    phase: int
    effect: Delta  # this step alone, against the live set
    diff: tuple[str, ...] = ()  # unified diff of the spec YAML (replace)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def planned_rv(self) -> str | None:
        return self.live.resource_version if self.live is not None else None

    def manifest(self) -> dict[str, Any] | None:
        """The body to send: the target's clean manifest; a replace carries the planned
        resourceVersion so the server refuses it if anyone changed the policy since."""
        if self.target is None:
            return None
        return clean_manifest(self.target, self.planned_rv if self.action == "replace" else None)

    def describe(self) -> str:
        return f"{self.action} {self.key}"


@dataclass(frozen=True)
class Plan:
    target: PolicySet
    context: str | None
    scope: tuple[str, ...] | None
    operations: tuple[Operation, ...]
    unchanged: tuple[str, ...]
    delta: Delta
    live_versions: Mapping[str, str | None]  # every live policy in scope → resourceVersion
    live_source: str = ""
    warnings: tuple[str, ...] = ()
    simulation: bool = False  # a replay: computed against a recording, never applied
    server: str = ""  # the API server the live set was read from ("" unknown)
    reps: int = 0  # representative workloads the delta used
    final_policies: tuple[NetworkPolicy, ...] = field(default=(), repr=False)
    live_snapshot: Snapshot | None = field(default=None, repr=False, compare=False)

    def in_scope(self, namespace: str) -> bool:
        return self.scope is None or namespace in self.scope

    @property
    def empty(self) -> bool:
        return not self.operations

    @property
    def deletes_everything(self) -> bool:
        """True when the plan leaves no policy at all in its scope (the target has none
        there): every live policy of the scope is deleted. Confirmations say so loudly."""
        return (
            bool(self.operations)
            and not self.unchanged
            and all(op.action == "delete" for op in self.operations)
        )

    def deletes_everything_text(self) -> str:
        n = len(self.operations)
        return (
            f"THIS DELETES ALL {n} NETWORKPOLIC{'Y' if n == 1 else 'IES'} in "
            f"{scope_text(self.scope)} and creates none: the target has no policy there"
        )

    def counts(self) -> dict[str, int]:
        out = {"create": 0, "replace": 0, "delete": 0}
        for op in self.operations:
            out[op.action] += 1
        return out

    def summary(self) -> str:
        if self.empty:
            return (
                f"nothing to do: the live set already equals the target ({len(self.unchanged)} "
                f"polic{'y' if len(self.unchanged) == 1 else 'ies'} in {scope_text(self.scope)})"
            )
        c = self.counts()
        return (
            f"{len(self.operations)} step(s): {c['create']} create, {c['replace']} replace, "
            f"{c['delete']} delete; {len(self.unchanged)} unchanged; {self.delta.summary()}"
        )


def spec_yaml(policy: NetworkPolicy) -> str:
    return yaml.safe_dump(policy_spec(policy), sort_keys=True, default_flow_style=False)


def spec_diff(live: NetworkPolicy, target: NetworkPolicy) -> tuple[str, ...]:
    return tuple(
        line.rstrip("\n")
        for line in difflib.unified_diff(
            spec_yaml(live).splitlines(keepends=True),
            spec_yaml(target).splitlines(keepends=True),
            fromfile=f"live {live.key} spec",
            tofile=f"target {target.key} spec",
        )
    )


def _phase(action: Action, effect: Delta) -> int:
    if effect.opens_only:
        return 1
    return 3 if action == "delete" else 2


def _order(op: Operation) -> tuple[int, int, int, str]:
    return (op.phase, 1 if op.action == "delete" else 0, len(op.effect.closed), op.key)


def _label_warnings(live: Snapshot, target: PolicySet, scope: tuple[str, ...] | None) -> list[str]:
    """Labels that changed since the target was captured: a policy rollback alone will not
    bring back the connectivity of that moment for these."""
    out: list[str] = []
    for ns, labels in sorted(target.namespace_labels.items()):
        if scope is not None and ns not in scope:
            continue
        now = live.namespace_labels(ns)
        if now is None:
            out.append(f"namespace {ns} existed when the target was captured and is gone now")
        elif dict(now) != dict(labels):
            out.append(
                f"namespace {ns} labels changed since the target: {_label_change(labels, now)}"
            )
    pod_changes = []
    for key, labels in sorted(target.pod_labels.items()):
        ns, _, name = key.partition("/")
        if scope is not None and ns not in scope:
            continue
        pod = live.pod(ns, name)
        if pod is not None and dict(pod.labels) != dict(labels):
            pod_changes.append(f"{key}: {_label_change(labels, pod.labels)}")
    if pod_changes:
        shown = "; ".join(pod_changes[:5])
        more = f" (+{len(pod_changes) - 5} more)" if len(pod_changes) > 5 else ""
        out.append(f"pod labels changed since the target: {shown}{more}")
    return out


def _admin_warnings(live: Snapshot, target: PolicySet) -> list[str]:
    """Cluster-scoped admin policies (ClusterNetworkPolicy, ANP, BANP) that differ from the
    target's: the plan writes NetworkPolicies only, so it says which to restore by hand."""
    if target.admin_policies is None:
        return []
    then = {p.key: dataclasses.replace(p, resource_version=None) for p in target.admin_policies}
    now = {p.key: dataclasses.replace(p, resource_version=None) for p in live.admin_policies}
    differ = []
    for key in sorted(then.keys() | now.keys()):
        old, new = then.get(key), now.get(key)
        if old == new:
            continue
        ref = old or new
        assert ref is not None
        what = "added since" if old is None else "removed since" if new is None else "changed since"
        differ.append(f"{key} ({ref.tier} tier, priority {ref.priority}) {what} the target")
    if not differ:
        return []
    return [
        "cluster-scoped admin policies differ from the target and this plan does not write "
        "them (it restores NetworkPolicies only): " + "; ".join(differ)
    ]


def _label_change(old: Mapping[str, str], new: Mapping[str, str]) -> str:
    parts = [f"-{k}={old[k]}" for k in sorted(old) if k not in new or new[k] != old[k]]
    parts += [f"+{k}={new[k]}" for k in sorted(new) if k not in old or old[k] != new[k]]
    return " ".join(parts)


def make_plan(
    live: Snapshot,
    target: PolicySet,
    *,
    context: str | None,
    live_scope: tuple[str, ...] | None = None,
    live_source: str = "",
    simulation: bool = False,
    server: str = "",
) -> Plan:
    """The plan that turns `live.policies` (within the scope) into `target`.

    `live_scope` is what the live read could see (None: every namespace); the plan never
    touches a namespace outside both it and the target's scope. `server` is the API server
    URL the live set was read from: the applier refuses to run the plan against another
    (a context name re-pointed at another cluster between plan and apply).
    """
    scope = intersect_scopes(target.scope, live_scope)

    def in_scope(ns: str) -> bool:
        return scope is None or ns in scope

    live_by = {p.key: p for p in live.policies if in_scope(p.namespace)}
    target_by = {p.key: p for p in target.policies if in_scope(p.namespace)}
    warnings: list[str] = []
    outside = sorted(p.key for p in target.policies if not in_scope(p.namespace))
    if outside:
        warnings.append(
            f"{len(outside)} target polic{'y is' if len(outside) == 1 else 'ies are'} outside "
            f"the scope ({scope_text(scope)}) and left alone: {', '.join(outside[:5])}"
            + (" …" if len(outside) > 5 else "")
        )
    warnings.extend(_label_warnings(live, target, scope))
    warnings.extend(_admin_warnings(live, target))
    if not target_by and live_by:
        warnings.append(
            f"the target has no policy in {scope_text(scope)}: this plan deletes all "
            f"{len(live_by)} live policies there"
        )

    reps: list[Pod] = representatives(live)
    base = tuple(live.policies)
    ops: list[Operation] = []
    unchanged: list[str] = []
    for key in sorted(live_by.keys() | target_by.keys()):
        old, new = live_by.get(key), target_by.get(key)
        if old is not None and new is not None and semantically_equal(old, new):
            unchanged.append(key)
            continue
        after = tuple(p for p in base if p.key != key) + ((new,) if new is not None else ())
        effect = connectivity_delta(live, base, after, reps=reps)
        action: Action = "create" if old is None else "delete" if new is None else "replace"
        ref = new or old
        assert ref is not None
        ops.append(
            Operation(
                action=action,
                namespace=ref.namespace,
                name=ref.name,
                live=old,
                target=new,
                phase=_phase(action, effect),
                effect=effect,
                diff=spec_diff(old, new) if old is not None and new is not None else (),
            )
        )
    ops.sort(key=_order)
    final = tuple(p for p in base if not in_scope(p.namespace)) + tuple(
        target_by[k] for k in sorted(target_by)
    )
    delta = connectivity_delta(live, base, final, reps=reps)
    return Plan(
        target=target,
        context=context,
        scope=scope,
        operations=tuple(ops),
        unchanged=tuple(unchanged),
        delta=delta,
        live_versions={k: p.resource_version for k, p in sorted(live_by.items())},
        live_source=live_source,
        warnings=tuple(warnings),
        simulation=simulation,
        server=server,
        reps=len(reps),
        final_policies=final,
        live_snapshot=live,
    )
