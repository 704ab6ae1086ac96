"""A rollback plan: the per-policy diff between the live set and a target, in a safe order,
with the connectivity delta of the whole change and of each step.

The ordering rule (ORDERING_RULE, shown with every plan): each operation's effect is judged
alone against the live set with the engine, then

1. changes that only open flows (or change nothing measurable): creates and replaces that
   add allowances, then deletes of policies that only isolate (a default deny, an egress
   lockdown);
2. creates and replaces that close flows (add isolation or remove allowances), fewest
   closed flows first;
3. deletes of policies that allow traffic;
4. deletes of cluster-scoped admin policies that hold a Deny rule, last of all.

Allowing changes land before denying ones, so DNS and ingress guardrails are back before
anything is removed: while the plan runs the cluster errs towards open rather than broken.
Phase 4 is the one exception to "opening first": an admin Deny is not removed before the
admin policies that replace it (creates and replaces, phases 1-2) have landed, so a flow
that both the old and the new admin policy deny is never briefly open.

Cluster-scoped admin policies (ClusterNetworkPolicy, AdminNetworkPolicy,
BaselineAdminNetworkPolicy) are part of the plan only when the target carries an admin set
(`PolicySet.admin_policies` not None); they are compared, judged and ordered like
NetworkPolicies, whatever the namespace scope.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from triage.model import NetworkPolicy, Pod, Snapshot
from triage.model.admin import AdminKind, AdminPolicy
from triage.rollback.delta import Delta, connectivity_delta, representatives
from triage.rollback.policyset import (
    PolicySet,
    admin_clean_manifest,
    admin_equal,
    admin_spec,
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
    3: "delete: removes a policy that allows traffic",
    4: "delete: removes an admin policy that denies (after its replacement landed)",
}

PHASE_NAMES: Mapping[int, str] = {
    1: "allow",
    2: "restrict",
    3: "remove-allow",
    4: "remove-admin-deny",
}

ORDERING_RULE = (
    "Each step's effect is judged alone against the live set, and the steps run in four "
    "phases: (1) changes that only open flows: creates and replaces that add allowances, "
    "then deletes of policies that only isolate (a default deny, an egress lockdown); "
    "(2) creates and replaces that close flows, fewest closed flows first; "
    "(3) deletes of policies that allow traffic; "
    "(4) deletes of cluster-scoped admin policies that hold a Deny rule, last of all. "
    "Allowing changes land before denying ones, so DNS and ingress guardrails are back "
    "before anything is removed: mid-way the cluster errs towards open, not broken; and an "
    "admin Deny is never removed before the admin policies replacing it have landed, so no "
    "flow is briefly opened. Admin policies are written only when the target holds an "
    "admin set."
)

NP_KIND = "NetworkPolicy"
OpKind = Literal[
    "NetworkPolicy", "ClusterNetworkPolicy", "AdminNetworkPolicy", "BaselineAdminNetworkPolicy"
]
AnyPolicy = NetworkPolicy | AdminPolicy


@dataclass(frozen=True)
class Operation:
    """One write. A NetworkPolicy step has a namespace; a cluster-scoped admin step has
    `namespace` "" and `kind` naming its resource (live/target are then AdminPolicy)."""

    action: Action
    namespace: str
    name: str
    live: AnyPolicy | None  # the policy on the cluster now (replace, delete)
    target: AnyPolicy | None  # the policy wanted (create, replace)
    phase: int
    effect: Delta  # this step alone, against the live set
    diff: tuple[str, ...] = ()  # unified diff of the spec YAML (replace)
    kind: OpKind = "NetworkPolicy"

    @property
    def admin(self) -> bool:
        return self.kind != NP_KIND

    @property
    def admin_policy(self) -> AdminPolicy | None:
        """The target (else live) admin policy of an admin step; None for a NetworkPolicy."""
        ref = self.target or self.live
        return ref if isinstance(ref, AdminPolicy) else None

    @property
    def key(self) -> str:
        ref = self.admin_policy
        if ref is not None:
            return ref.key
        return f"{self.namespace}/{self.name}"

    @property
    def tier_text(self) -> str:
        """`Admin tier, priority 10` for an admin step; "" for a NetworkPolicy."""
        ref = self.admin_policy
        if ref is None:
            return ""
        priority = "none (after every priority)" if ref.priority is None else str(ref.priority)
        return f"{ref.tier} tier, priority {priority}"

    @property
    def planned_rv(self) -> str | None:
        return self.live.resource_version if self.live is not None else None

    def manifest(self) -> dict[str, Any] | None:
        """The body to send: the target's clean manifest; a replace carries the planned
        resourceVersion so the server refuses it if anyone changed the policy since."""
        if self.target is None:
            return None
        rv = self.planned_rv if self.action == "replace" else None
        if isinstance(self.target, AdminPolicy):
            return admin_clean_manifest(self.target, rv)
        return clean_manifest(self.target, rv)

    def describe(self) -> str:
        if self.admin:
            return f"{self.action} {self.kind} {self.key} ({self.tier_text})"
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
    # Admin policies: every live one → resourceVersion, and the set after the plan; both
    # None when the target carries no admin set (the plan leaves admin policies alone).
    admin_versions: Mapping[str, str | None] | None = None
    admin_unchanged: tuple[str, ...] = ()
    final_admin: tuple[AdminPolicy, ...] | None = field(default=None, repr=False)

    def in_scope(self, namespace: str) -> bool:
        return self.scope is None or namespace in self.scope

    @property
    def empty(self) -> bool:
        return not self.operations

    @property
    def deletes_everything(self) -> bool:
        """True when the plan leaves no policy at all in its scope (the target has none
        there): every live policy of the scope is deleted. Confirmations say so loudly."""
        ops = [op for op in self.operations if not op.admin]
        return bool(ops) and not self.unchanged and all(op.action == "delete" for op in ops)

    def deletes_everything_text(self) -> str:
        n = sum(1 for op in self.operations if not op.admin)
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
            f"{c['delete']} delete; {len(self.unchanged) + len(self.admin_unchanged)} unchanged; "
            f"{self.delta.summary()}"
        )


def spec_yaml(policy: AnyPolicy) -> str:
    spec = admin_spec(policy) if isinstance(policy, AdminPolicy) else policy_spec(policy)
    return yaml.safe_dump(spec, sort_keys=True, default_flow_style=False)


def spec_diff(live: AnyPolicy, target: AnyPolicy) -> tuple[str, ...]:
    return tuple(
        line.rstrip("\n")
        for line in difflib.unified_diff(
            spec_yaml(live).splitlines(keepends=True),
            spec_yaml(target).splitlines(keepends=True),
            fromfile=f"live {live.key} spec",
            tofile=f"target {target.key} spec",
        )
    )


def _phase(action: Action, effect: Delta, live: AnyPolicy | None = None) -> int:
    if action == "delete" and isinstance(live, AdminPolicy) and _denies(live):
        return 4
    if effect.opens_only:
        return 1
    return 3 if action == "delete" else 2


def _denies(policy: AdminPolicy) -> bool:
    return any(rule.action == "Deny" for rule in (*policy.ingress, *policy.egress))


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
    if not target_by and live_by:
        warnings.append(
            f"the target has no policy in {scope_text(scope)}: this plan deletes all "
            f"{len(live_by)} live policies there"
        )

    reps: list[Pod] = representatives(live)
    base = tuple(live.policies)
    admin_ops, admin_unchanged, final_admin = _admin_operations(live, target, reps)
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
    ops.extend(admin_ops)
    ops.sort(key=_order)
    final = tuple(p for p in base if not in_scope(p.namespace)) + tuple(
        target_by[k] for k in sorted(target_by)
    )
    delta = connectivity_delta(live, base, final, reps=reps, admin_after=final_admin)
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
        admin_versions=None
        if target.admin_policies is None
        else {p.key: p.resource_version for p in sorted(live.admin_policies, key=lambda p: p.key)},
        admin_unchanged=admin_unchanged,
        final_admin=final_admin,
    )


def _admin_operations(
    live: Snapshot, target: PolicySet, reps: list[Pod]
) -> tuple[list[Operation], tuple[str, ...], tuple[AdminPolicy, ...] | None]:
    """The creates, replaces and deletes that turn the live admin set into the target's,
    each judged alone against the live cluster; the unchanged keys; the final set. Nothing
    when the target carries no admin set."""
    if target.admin_policies is None:
        return [], (), None
    base = tuple(live.policies)
    live_adm = {p.key: p for p in live.admin_policies}
    target_adm = {p.key: p for p in target.admin_policies}
    ops: list[Operation] = []
    unchanged: list[str] = []
    for key in sorted(live_adm.keys() | target_adm.keys()):
        old, new = live_adm.get(key), target_adm.get(key)
        if old is not None and new is not None and admin_equal(old, new):
            unchanged.append(key)
            continue
        after = tuple(p for p in live.admin_policies if p.key != key) + (
            (new,) if new is not None else ()
        )
        effect = connectivity_delta(live, base, base, reps=reps, admin_after=after)
        action: Action = "create" if old is None else "delete" if new is None else "replace"
        ref = new or old
        assert ref is not None
        kind: AdminKind = ref.kind
        ops.append(
            Operation(
                action=action,
                namespace="",
                name=ref.name,
                live=old,
                target=new,
                phase=_phase(action, effect, old),
                effect=effect,
                diff=spec_diff(old, new) if old is not None and new is not None else (),
                kind=kind,
            )
        )
    final = tuple(target_adm[k] for k in sorted(target_adm))
    return ops, tuple(unchanged), final
