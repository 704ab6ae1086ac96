"""The one builder of generated NetworkPolicies: every policy triage proposes comes from here.

- `allow_fix(snapshot, explanation)`: the least-privilege allow for a denied flow (an egress
  policy at the source and/or an ingress policy at the destination, only for the sides that
  deny);
- `default_deny(snapshot, namespace, directions)`: a namespace default-deny that always keeps
  DNS egress to the cluster's DNS pods (and DNS ingress to them when they live there);
- `dns_egress_rule(snapshot)`: the DNS guardrail rule (UDP and TCP 53 to the DNS pods only);
- `containment(snapshot, pod, scope)`: the quarantine of one pod (or a namespace-wide
  default-deny egress), DNS kept;
- `tighter_rule(snapshot, policy, direction, index, declared)`: lint's narrower rule.

Each returns a `Fix` (model `NetworkPolicy` objects, label changes, notes); `Fix.manifests()`
writes them out through `triage.model.manifest`. `triage.policy.verify` evaluates the cluster
with a `Fix` applied and reports the exact connectivity delta.

How pods are selected (`select_pods`): by stable workload labels only (never
pod-template-hash, controller-revision-hash, statefulset.kubernetes.io/pod-name and the like,
which change on every rollout), the fewest that select the wanted pods and no pod outside
their workloads; labels the wanted pods share with a pod of another workload are told apart
with `DoesNotExist`/`NotIn` terms; when nothing stable tells them apart, a label to add
(`netpol-triage/select=<workload>`) is proposed. A policy's own podSelector never selects a
pod that is not already isolated for its direction: selecting one would isolate it and cut
every connection it has (the "fix that closes flows" this builder exists to prevent).
Peers are a namespaceSelector on `kubernetes.io/metadata.name` AND a podSelector, or an
ipBlock /32 (/128) for an address outside the cluster's pods.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from triage.model import (
    NAMESPACE_NAME_LABEL,
    Direction,
    IPBlock,
    LabelSelector,
    NetworkPolicy,
    Peer,
    Pod,
    PolicyPort,
    Protocol,
    Requirement,
    Rule,
    Snapshot,
)
from triage.model.manifest import Manifest, policy_manifest_from_model, rule_manifest
from triage.policy.dns import DNS_PORT, DnsTarget, dns_target
from triage.policy.engine import selecting_policies
from triage.policy.portset import PortSet
from triage.policy.trace import Explanation, Verdict

FixKind = Literal["allow", "default-deny", "containment", "tighter-rule", "dns"]

# Labels that identify one pod or one revision, not a workload: a selector on them breaks on
# the next rollout.
VOLATILE_LABELS = frozenset(
    {
        "pod-template-hash",
        "controller-revision-hash",
        "pod-template-generation",
        "statefulset.kubernetes.io/pod-name",
        "apps.kubernetes.io/pod-index",
        "controller-uid",
        "batch.kubernetes.io/controller-uid",
        "job-name",
        "batch.kubernetes.io/job-name",
    }
)
# Keys that usually name a workload: tried first, in this order.
PREFERRED_LABELS = (
    "app.kubernetes.io/name",
    "app",
    "k8s-app",
    "name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "component",
    "tier",
    "role",
)
SELECT_LABEL = "netpol-triage/select"  # proposed when no stable label tells the pods apart
QUARANTINE_LABEL = ("quarantine", "true")
MANAGED_BY = {"app.kubernetes.io/managed-by": "netpol-triage"}


@dataclass(frozen=True, slots=True)
class LabelChange:
    """Set (`value` a string) or remove (`value` None) one label of one pod."""

    namespace: str
    pod: str
    key: str
    value: str | None

    @property
    def pod_key(self) -> str:
        return f"{self.namespace}/{self.pod}"

    def argv(self) -> list[str]:
        """The kubectl command, as argv (quote it with `shell_join` before showing it)."""
        change = f"{self.key}={self.value}" if self.value is not None else f"{self.key}-"
        return ["kubectl", "label", "pod", "-n", self.namespace, self.pod, change, "--overwrite"]


@dataclass(frozen=True)
class Fix:
    """A proposed change: policies to create (one with the name of an existing policy
    replaces it) and pod labels to change, with the notes the operator must read."""

    kind: FixKind
    title: str
    policies: tuple[NetworkPolicy, ...] = ()
    labels: tuple[LabelChange, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.policies and not self.labels

    def manifests(self) -> list[Manifest]:
        out = []
        for pol in self.policies:
            manifest = policy_manifest_from_model(pol)
            labels = (pol.manifest.get("metadata") or {}).get("labels") if pol.manifest else None
            if labels:
                manifest["metadata"]["labels"] = dict(labels)
            out.append(manifest)
        return out

    def ports(self) -> PortSet:
        """Every single port the fix's rules name (numbers only): the ports a verifier
        must look at besides the ones the pods declare."""
        by: dict[Protocol, list[tuple[int, int]]] = {}
        for pol in self.policies:
            for rule in (*pol.ingress, *pol.egress):
                for pp in rule.ports:
                    if isinstance(pp.port, int) and pp.end_port is None:
                        by.setdefault(pp.protocol, []).append((pp.port, pp.port))
        return PortSet(by)

    def apply(self, snapshot: Snapshot) -> Snapshot:
        """The snapshot with this fix applied (labels changed, policies added/replaced)."""
        pods = snapshot.pods
        if self.labels:
            changes: dict[str, list[LabelChange]] = {}
            for change in self.labels:
                changes.setdefault(change.pod_key, []).append(change)
            new_pods = []
            for pod in pods:
                todo = changes.get(pod.key)
                if todo:
                    labels = dict(pod.labels)
                    for c in todo:
                        if c.value is None:
                            labels.pop(c.key, None)
                        else:
                            labels[c.key] = c.value
                    pod = dataclasses.replace(pod, labels=labels)
                new_pods.append(pod)
            pods = tuple(new_pods)
        replaced = {p.key for p in self.policies}
        policies = (*(p for p in snapshot.policies if p.key not in replaced), *self.policies)
        return dataclasses.replace(snapshot, pods=pods, policies=policies)


def merge_fixes(fixes: Iterable[Fix], kind: FixKind, title: str) -> Fix:
    """Several fixes as one change (a rollout's allows): policies with the same namespace and
    name and the same podSelector and types become one with the rules of both (duplicates
    dropped); a same-named policy with another selector gets a numbered name; labels and
    notes are deduplicated in order."""
    merged: dict[str, NetworkPolicy] = {}
    labels: dict[tuple[str, str], LabelChange] = {}
    notes: list[str] = []
    for fix in fixes:
        notes.extend(fix.notes)
        for change in fix.labels:
            labels[(change.pod_key, change.key)] = change
        for pol in fix.policies:
            have = merged.get(pol.key)
            if have is None:
                merged[pol.key] = pol
            elif (have.pod_selector, have.policy_types) == (pol.pod_selector, pol.policy_types):
                merged[pol.key] = dataclasses.replace(
                    have,
                    ingress=tuple(dict.fromkeys((*have.ingress, *pol.ingress))),
                    egress=tuple(dict.fromkeys((*have.egress, *pol.egress))),
                )
            else:
                n = 2
                while f"{pol.key}-{n}" in merged:
                    n += 1
                renamed = dataclasses.replace(pol, name=f"{pol.name[:60]}-{n}")
                merged[renamed.key] = renamed
    return Fix(
        kind, title, tuple(merged.values()), tuple(labels.values()), tuple(dict.fromkeys(notes))
    )


# ---------------------------------------------------------------- selecting pods


@dataclass(frozen=True)
class Selection:
    """A podSelector for some pods of one namespace, and the labels it needs added first."""

    selector: LabelSelector
    labels: tuple[LabelChange, ...] = ()
    notes: tuple[str, ...] = ()


def dns_label(text: str, limit: int = 63) -> str:
    """`text` made a DNS-1123 label (a generated policy's name part), at most `limit` long."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    name = re.sub(r"-{2,}", "-", name)
    return name[:limit].rstrip("-") or "fix"


def select_pods(
    snapshot: Snapshot,
    pods: Sequence[Pod],
    *,
    may_select: Callable[[Pod], bool] | None = None,
) -> Selection:
    """The podSelector for `pods` (one namespace): it selects all of them, may select other
    pods of their workloads for which `may_select` is true (default: all), and no other pod
    of the namespace. See the module docstring for the order things are tried."""
    wanted = {p.key for p in pods}
    namespace = pods[0].namespace
    neighbours = snapshot.pods_by_namespace.get(namespace, ())
    workloads = {p.workload for p in pods}

    def acceptable(p: Pod) -> bool:
        if p.key in wanted:
            return True
        return p.workload in workloads and (may_select is None or may_select(p))

    common = {k: v for k, v in pods[0].labels.items() if k not in VOLATILE_LABELS}
    for pod in pods[1:]:
        common = {k: v for k, v in common.items() if pod.labels.get(k) == v}
    rank = {k: i for i, k in enumerate(PREFERRED_LABELS)}
    keys = sorted(common, key=lambda k: (rank.get(k, len(rank)), k))
    chosen: list[tuple[str, str]] = []
    candidates = [p for p in neighbours if not acceptable(p)]
    for key in keys:
        chosen.append((key, common[key]))
        candidates = [p for p in candidates if p.labels.get(key) == common[key]]
        if not candidates:
            break
    if chosen and not candidates:
        return Selection(LabelSelector(tuple(sorted(chosen))))
    # Pods outside the workloads carrying every shared label: tell them apart by a label
    # they have and the wanted pods lack (DoesNotExist), or a value none of those has (NotIn).
    expressions: list[Requirement] = []
    remaining = candidates
    while chosen and remaining:
        options: dict[Requirement, set[str]] = {}
        for other in remaining:
            for key, value in other.labels.items():
                if key in VOLATILE_LABELS or key in common:
                    continue
                held = {p.labels[key] for p in pods if key in p.labels}
                if not held:
                    req = Requirement(key, "DoesNotExist")
                elif value not in held:
                    req = Requirement(key, "NotIn", (value,))
                else:
                    continue
                options.setdefault(req, set()).add(other.key)
        if not options:
            break
        best = max(options, key=lambda r: (len(options[r]), r.operator == "DoesNotExist", r.key))
        expressions.append(best)
        remaining = [p for p in remaining if p.key not in options[best]]
    if chosen and not remaining:
        merged: dict[tuple[str, str], list[str]] = {}
        out: list[Requirement] = []
        for req in expressions:
            if req.operator == "NotIn":
                merged.setdefault((req.key, req.operator), []).extend(req.values)
            else:
                out.append(req)
        out += [Requirement(k, "NotIn", tuple(sorted(set(v)))) for (k, _), v in merged.items()]
        selector = LabelSelector(tuple(sorted(chosen)), tuple(sorted(out, key=lambda r: r.key)))
        return Selection(selector)
    return _label_selection(snapshot, pods, common)


def _label_selection(
    snapshot: Snapshot, pods: Sequence[Pod], common: Mapping[str, str]
) -> Selection:
    """No stable label tells `pods` apart: propose a label to add to each of them."""
    namespace = pods[0].namespace
    taken = {
        p.labels.get(SELECT_LABEL)
        for p in snapshot.pods_by_namespace.get(namespace, ())
        if p.key not in {q.key for q in pods}
    }
    base = dns_label(pods[0].workload)
    value, n = base, 1
    while value in taken:
        n += 1
        value = f"{base[: 63 - len(str(n)) - 1]}-{n}"
    changes = tuple(
        LabelChange(p.namespace, p.name, SELECT_LABEL, value)
        for p in sorted(pods, key=lambda p: p.key)
        if p.labels.get(SELECT_LABEL) != value
    )
    names = ", ".join(p.key for p in pods)
    why = "has no stable label" if not common else "shares all its stable labels with other pods"
    note = (
        f"{names} {why} to select it by: label it {SELECT_LABEL}={value} first (and add the "
        "label to its pod template, or the next rollout drops it)"
    )
    return Selection(LabelSelector(((SELECT_LABEL, value),)), changes, (note,))


# ---------------------------------------------------------------- shared pieces


def namespace_peer_selector(namespace: str) -> LabelSelector:
    return LabelSelector(((NAMESPACE_NAME_LABEL, namespace),))


def _namespace_notes(snapshot: Snapshot, namespace: str) -> list[str]:
    labels = snapshot.namespace_labels(namespace)
    if labels is not None and labels.get(NAMESPACE_NAME_LABEL) != namespace:
        return [
            f"namespace {namespace} has no {NAMESPACE_NAME_LABEL}={namespace} label in this "
            "snapshot (set automatically from Kubernetes 1.21 on): add it, or this selector "
            "never matches"
        ]
    return []


def _unique_name(snapshot: Snapshot, namespace: str, name: str, taken: Iterable[str] = ()) -> str:
    used = set(taken)
    candidate, n = name, 1
    while f"{namespace}/{candidate}" in snapshot.policy_by_key or candidate in used:
        n += 1
        suffix = f"-{n}"
        candidate = name[: 63 - len(suffix)].rstrip("-") + suffix
    return candidate


def dns_egress_rule(snapshot: Snapshot, target: DnsTarget | None = None) -> Rule:
    """The DNS guardrail: egress on UDP and TCP 53 to the DNS pods only."""
    target = target or dns_target(snapshot)
    peer = Peer(
        pod_selector=LabelSelector(tuple(sorted(target.labels.items()))),
        namespace_selector=namespace_peer_selector(target.namespace),
    )
    return Rule((peer,), (PolicyPort("UDP", DNS_PORT), PolicyPort("TCP", DNS_PORT)))


def dns_rule_manifest(snapshot: Snapshot) -> Manifest:
    return rule_manifest(dns_egress_rule(snapshot), "Egress")


def dns_notes(snapshot: Snapshot, target: DnsTarget | None = None) -> list[str]:
    target = target or dns_target(snapshot)
    notes = list(target.notes)
    labels = snapshot.namespace_labels(target.namespace)
    if labels is not None and NAMESPACE_NAME_LABEL not in labels:
        notes.append(
            f"namespace {target.namespace} has no {NAMESPACE_NAME_LABEL} label in this "
            "snapshot (a cluster older than 1.21, or a hand-made recording): the DNS rule "
            "will not match until it has"
        )
    return notes


def _with_managed_by(policy: NetworkPolicy) -> NetworkPolicy:
    """Generated policies say who made them (`Fix.manifests` writes the label out)."""
    return dataclasses.replace(policy, manifest={"metadata": {"labels": dict(MANAGED_BY)}})


# ---------------------------------------------------------------- default deny


def default_deny(
    snapshot: Snapshot,
    namespace: str,
    directions: Sequence[Direction] = ("Ingress", "Egress"),
    *,
    name: str | None = None,
) -> Fix:
    """A default-deny for `directions` in `namespace` (podSelector {}, no allow rule but
    DNS): egress always keeps UDP/TCP 53 to the DNS pods; when the DNS pods live in this
    namespace and ingress is denied, a second policy keeps their DNS ingress open."""
    both: tuple[Direction, ...] = ("Ingress", "Egress")
    types = tuple(d for d in both if d in directions)
    target = dns_target(snapshot)
    notes = dns_notes(snapshot, target) if "Egress" in types else []
    default_name = "default-deny-" + "-".join(t.lower() for t in types)
    name = _unique_name(snapshot, namespace, name or default_name)
    egress = (dns_egress_rule(snapshot, target),) if "Egress" in types else ()
    policies = [NetworkPolicy(namespace, name, LabelSelector(), types, egress=egress)]
    if "Ingress" in types and target.namespace == namespace and target.pods:
        guard = NetworkPolicy(
            namespace,
            _unique_name(snapshot, namespace, "allow-dns-ingress", (name,)),
            LabelSelector(tuple(sorted(target.labels.items()))),
            ("Ingress",),
            ingress=(
                Rule(
                    (Peer(namespace_selector=LabelSelector()),),
                    (PolicyPort("UDP", DNS_PORT), PolicyPort("TCP", DNS_PORT)),
                ),
            ),
        )
        policies.append(guard)
        notes.append(
            f"the DNS pods live in {namespace}: allow-dns-ingress keeps every pod's DNS "
            "queries reaching them"
        )
    title = f"default-deny {' and '.join(t.lower() for t in types)} for namespace {namespace}"
    return Fix(
        "default-deny",
        title,
        tuple(_with_managed_by(p) for p in policies),
        (),
        tuple(dict.fromkeys(notes)),
    )


# ---------------------------------------------------------------- containment


def containment(snapshot: Snapshot, pod: Pod, scope: Literal["pod", "namespace"] = "pod") -> Fix:
    """Cut `pod` off, keeping DNS.

    scope "pod": label the pod quarantine=true and drop its other labels (which takes it
    out of its Services and of every selector that needs them), plus a policy selecting
    quarantine=true that allows only DNS egress and no ingress.
    scope "namespace": a default-deny egress for the whole namespace that keeps DNS.
    """
    notes = dns_notes(snapshot)
    rule = dns_egress_rule(snapshot)
    if scope == "namespace":
        name = "default-deny-egress"
        if f"{pod.namespace}/{name}" in snapshot.policy_by_key:
            name = "contain-default-deny-egress"
        name = _unique_name(snapshot, pod.namespace, name)
        policy = NetworkPolicy(pod.namespace, name, LabelSelector(), ("Egress",), egress=(rule,))
        return Fix(
            "containment",
            f"contain namespace {pod.namespace} (egress)",
            (_with_managed_by(policy),),
            (),
            tuple(notes),
        )
    key, value = QUARANTINE_LABEL
    policy = NetworkPolicy(
        pod.namespace,
        "quarantine",
        LabelSelector(((key, value),)),
        ("Ingress", "Egress"),
        egress=(rule,),
    )
    labels = [LabelChange(pod.namespace, pod.name, key, value)]
    labels += [
        LabelChange(pod.namespace, pod.name, k, None) for k in sorted(pod.labels) if k != key
    ]
    if pod.owner is not None:
        notes.append(
            f"removing its labels detaches {pod.name} from its Services and its "
            f"{pod.owner.kind}, which starts a clean replacement; the quarantined pod "
            "stays for forensics"
        )
    return Fix(
        "containment",
        f"quarantine {pod.key}",
        (_with_managed_by(policy),),
        tuple(labels),
        tuple(notes),
    )


def containment_label_argv(fix: Fix) -> list[str]:
    """The one `kubectl label` command of a pod quarantine (set and removals together)."""
    first = fix.labels[0]
    argv = ["kubectl", "label", "pod", "-n", first.namespace, first.pod]
    argv.append(f"{first.key}={first.value}")
    argv.append("--overwrite")
    argv += [f"{c.key}-" for c in fix.labels[1:] if c.value is None]
    return argv


# ---------------------------------------------------------------- allow one flow


def _pods(snapshot: Snapshot, names: Iterable[str]) -> list[Pod]:
    found = (snapshot.pod_by_key.get(n) for n in dict.fromkeys(names))
    return [p for p in found if p is not None]


def _isolated_for(snapshot: Snapshot, direction: Direction) -> Callable[[Pod], bool]:
    return lambda pod: bool(selecting_policies(snapshot, pod, direction))


def _port_rules(verdicts: Sequence[Verdict], protocol: Protocol) -> tuple[PolicyPort, ...]:
    numbers = sorted({v.port for v in verdicts if v.port is not None})
    return tuple(PolicyPort(protocol, n) for n in numbers)


def _port_tag(verdicts: Sequence[Verdict], protocol: Protocol) -> str:
    numbers = sorted({v.port for v in verdicts if v.port is not None})
    tag = "-".join(str(n) for n in numbers) or "port"
    return tag if protocol == "TCP" else f"{tag}-{protocol.lower()}"


@dataclass
class _Builder:
    snapshot: Snapshot
    notes: list[str] = field(default_factory=list)
    labels: dict[tuple[str, str], LabelChange] = field(default_factory=dict)

    def take(self, selection: Selection) -> LabelSelector:
        self.notes.extend(selection.notes)
        for change in selection.labels:
            self.labels[(change.pod_key, change.key)] = change
        return selection.selector

    def peer(self, pods: Sequence[Pod], ip: str | None) -> Peer:
        if not pods:
            bits = 128 if ip and ":" in ip else 32
            return Peer(ip_block=IPBlock(f"{ip}/{bits}"))
        namespace = pods[0].namespace
        self.notes.extend(_namespace_notes(self.snapshot, namespace))
        return Peer(
            pod_selector=self.take(select_pods(self.snapshot, pods)),
            namespace_selector=namespace_peer_selector(namespace),
        )


def allow_fix(snapshot: Snapshot, target: Explanation | Sequence[Verdict]) -> Fix | None:
    """The least-privilege allow for a denied flow: one policy per side that denies. None
    when the flow is allowed, or when no policy can fix it (no backend, a Service port or a
    named port that does not exist, neither end a pod)."""
    if isinstance(target, Explanation):
        verdicts: Sequence[Verdict] = target.verdicts
        title = f"allow {target.flow}"
    else:
        verdicts = target
        title = ""
    denied = [v for v in verdicts if not v.allowed and v.blocked_by is None]
    if not denied:
        return None
    first = denied[0]
    if not title:
        title = (
            f"allow {first.source.name} → {first.destination.name}:{first.port}/{first.protocol}"
        )
    protocol = first.protocol
    build = _Builder(snapshot)
    source_pods = _pods(snapshot, [first.source.name] if first.source.kind == "pod" else [])
    egress_denied = [v for v in denied if not v.egress.allowed]
    ingress_denied = [v for v in denied if not v.ingress.allowed]
    dest_pods = _pods(snapshot, [v.destination.name for v in denied if v.destination.kind == "pod"])
    src_label = source_pods[0].workload if source_pods else first.source.name
    dst_label = dest_pods[0].workload if dest_pods else first.destination.name
    base = f"allow-{src_label}-to-{dst_label}"
    same_namespace = bool(source_pods and dest_pods) and (
        source_pods[0].namespace == dest_pods[0].namespace
    )
    policies: list[NetworkPolicy] = []

    def side(
        direction: Direction,
        subjects: list[Pod],
        peers: list[Pod],
        peer_ip: str | None,
        verdicts: list[Verdict],
        both: bool,
    ) -> None:
        """One policy at `subjects` for `direction`, admitting `peers` (or `peer_ip`)."""
        rule = Rule((build.peer(peers, peer_ip),), _port_rules(verdicts, protocol))
        suffix = f"-{direction.lower()}" if same_namespace and both else ""
        name = dns_label(f"{base}-{_port_tag(verdicts, protocol)}", 63 - len(suffix))
        namespace = subjects[0].namespace
        selector = build.take(
            select_pods(snapshot, subjects, may_select=_isolated_for(snapshot, direction))
        )
        taken = [p.name for p in policies]
        policies.append(
            NetworkPolicy(
                namespace,
                _unique_name(snapshot, namespace, name + suffix, taken),
                selector,
                (direction,),
                ingress=(rule,) if direction == "Ingress" else (),
                egress=(rule,) if direction == "Egress" else (),
            )
        )

    if egress_denied and source_pods:
        targets = [v.destination.name for v in egress_denied if v.destination.kind == "pod"]
        side(
            "Egress",
            source_pods,
            _pods(snapshot, targets),
            first.destination.ip,
            egress_denied,
            bool(ingress_denied),
        )
    destinations = _pods(snapshot, [v.destination.name for v in ingress_denied])
    if ingress_denied and destinations:
        side(
            "Ingress",
            destinations,
            source_pods,
            first.source.ip,
            ingress_denied,
            bool(egress_denied),
        )
    if not policies:
        return None
    return Fix(
        "allow",
        title,
        tuple(policies),
        tuple(build.labels.values()),
        tuple(dict.fromkeys(build.notes)),
    )


# ---------------------------------------------------------------- lint's tighter rule


def _labels_of(policy: NetworkPolicy) -> Mapping[str, str]:
    meta = policy.manifest.get("metadata") if policy.manifest else None
    labels = meta.get("labels") if isinstance(meta, Mapping) else None
    return labels if isinstance(labels, Mapping) else {}


@dataclass(frozen=True)
class TighterRule:
    """A narrower rule: `manifest` (may hold `<placeholders>` where the snapshot cannot say
    who the peers should be) and, when it has none, `fix`: the policy with the rule replaced."""

    manifest: Manifest
    fix: Fix | None


def port_rules(ports: PortSet) -> tuple[PolicyPort, ...]:
    out: list[PolicyPort] = []
    for proto, ranges in ports.items():
        for lo, hi in ranges:
            out.append(PolicyPort(proto, lo, hi if hi != lo else None))
    return tuple(out)


def tighter_rule(
    snapshot: Snapshot, policy: NetworkPolicy, direction: Direction, index: int, declared: PortSet
) -> TighterRule:
    """Rule `index` of `policy` with `ports` set to `declared` (the ports its destinations
    declare) when it has none; a rule without peers gets placeholder peers to fill in."""
    rule = policy.rules(direction)[index]
    side = "from" if direction == "Ingress" else "to"
    new_rule = (
        rule
        if rule.ports or not declared
        else dataclasses.replace(rule, ports=port_rules(declared))
    )
    manifest = rule_manifest(new_rule, direction)
    if not rule.ports and not declared:
        manifest["ports"] = [{"protocol": "TCP", "port": "<port>"}]
    if not rule.peers:
        manifest[side] = [
            {
                "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: "<namespace>"}},
                "podSelector": {"matchLabels": {"app": "<peer-app>"}},
            }
        ]
        return TighterRule(manifest, None)
    if new_rule == rule:
        return TighterRule(manifest, None)
    rules = list(policy.rules(direction))
    rules[index] = new_rule
    replaced = dataclasses.replace(
        policy,
        ingress=tuple(rules) if direction == "Ingress" else policy.ingress,
        egress=tuple(rules) if direction == "Egress" else policy.egress,
        manifest={"metadata": {"labels": dict(labels)}} if (labels := _labels_of(policy)) else {},
        resource_version=None,
    )
    title = f"{policy.key} {direction.lower()} rule #{index}: only the declared ports"
    return TighterRule(manifest, Fix("tighter-rule", title, (replaced,)))
