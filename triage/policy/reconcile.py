"""Reconcile what the datapath saw (a CNI flow log) with what the policies say (the engine).

`reconcile(snapshot, flows, captured_at="")` takes the distinct flows of `aggregate` and
explains each one on the snapshot: `allowed` (ours), `agree` (does the datapath's verdict
match), and for a disagreement the most likely `cause` (a stable code) with a sentence. The
causes are checked in this order, the first that fits wins:

- `host-network`: an end is the node itself (Cilium `reserved:host` / `remote-node`, a
  Calico host endpoint, a hostNetwork pod's address): NetworkPolicy does not govern it.
- `ip-reused`: the log names a pod whose address the snapshot gives to another pod (or the
  named pod no longer has it): the snapshot and the capture disagree on who the IP was.
- `explicit-deny`: the datapath dropped it with an explicit deny rule (Hubble `POLICY_DENY`,
  a Calico deny hit) of a policy that is not a Kubernetes NetworkPolicy; NetworkPolicy has no
  deny rules, so the engine cannot see it.
- `cni-policy`: the CNI names a policy of another kind (CiliumNetworkPolicy, Calico
  GlobalNetworkPolicy, ...) that allowed or isolated the flow.
- `stale-snapshot`: the flow is older than the last change of a policy in either end's
  namespace (its creationTimestamp or managedFields time), or the CNI names a NetworkPolicy
  the snapshot lacks.
- `service-dnat`: the log shows a Service (its ClusterIP, before DNAT); policies act on the
  backend it was translated to, which the log does not name.
- `not-policy`: the datapath dropped it for a reason other than policy (a drop reason such as
  `CT_MAP_INSERTION_FAILED`, or a Hubble `ERROR` verdict).
- `stale-capture`: no policy times are known, and the flow was seen before the snapshot was
  captured: the policies may have changed in between.
- `unexplained`: none of these; the snapshot or the engine may be wrong.

A flow the engine cannot evaluate (an end the snapshot lacks, ICMP, no port) has `allowed`
None, `agree` None and a cause saying why (`unknown-endpoint`, `unsupported-protocol`).
A `mixed` flow (the datapath changed its verdict during the capture) is compared on its most
recent verdict. An `AUDIT` verdict means "policy would have dropped it": it agrees with a
denial.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from triage.model import Flow, IPRef, Pod, PodRef, ServiceRef, Snapshot
from triage.model.datapath import (
    POLICY_DROP_REASONS,
    AggregatedFlow,
    Aggregation,
    FlowEnd,
    FlowPolicy,
    aggregate,
    datapath_class,
    iso_time,
    parse_time,
)
from triage.policy.engine import UnknownEndpoint, explain
from triage.policy.trace import Explanation, SideTrace

__all__ = [
    "CAUSES",
    "Aggregation",
    "Reconciled",
    "aggregate",
    "connections_of",
    "matching",
    "policy_change_times",
    "reconcile",
    "reconcile_flow",
    "reconciled_to_dict",
]

CAUSES = {
    "host-network": "node or hostNetwork traffic",
    "ip-reused": "a pod IP reused",
    "explicit-deny": "an explicit deny outside NetworkPolicy",
    "cni-policy": "a CNI policy the engine cannot see",
    "stale-snapshot": "the snapshot is newer than the flow",
    "service-dnat": "a Service seen before DNAT",
    "not-policy": "a drop that is not policy",
    "stale-capture": "the flow predates the snapshot",
    "unexplained": "no known cause",
    "unknown-endpoint": "an end the snapshot lacks",
    "unsupported-protocol": "not a TCP/UDP/SCTP port",
}


@dataclass(frozen=True)
class Reconciled:
    flow: AggregatedFlow
    engine_flow: Flow | None  # what was asked of the engine
    allowed: bool | None  # the engine's verdict; None: not evaluated
    agree: bool | None
    cause: str  # a CAUSES code; "" when the two agree
    cause_text: str
    deciding: tuple[str, ...]  # ours: the policy rule(s) that decided, per side
    datapath_policies: tuple[str, ...]  # theirs, as the CNI names them
    attribution: str  # same | different | none (the CNI named no policy) | n/a
    notes: tuple[str, ...] = ()
    # (source, destination, port, protocol) of each connection the engine checked: how a
    # flow asked about (maybe via a Service) finds the datapath's lines (`matching`).
    connections: tuple[tuple[str, str, int | None, str], ...] = ()

    @property
    def datapath(self) -> str:
        return self.flow.datapath

    def line(self) -> str:
        """One line for the checklist and the TUI: the datapath beside the engine."""
        ours = {True: "allowed", False: "denied", None: "not evaluated"}[self.allowed]
        verdicts = ", ".join(f"{v} ×{n}" for v, n in self.flow.verdicts)
        reasons = ", ".join(r for r, _ in self.flow.drop_reasons)
        seen = f"datapath ({self.flow.cni}): {verdicts}" + (f" ({reasons})" if reasons else "")
        if self.agree:
            return f"{seen}; engine: {ours} — agree"
        if self.agree is None:
            return f"{seen}; engine: {ours} — {self.cause_text}"
        return f"{seen}; engine: {ours} — disagree: {self.cause_text}"


# ------------------------------------------------------------------ policy times


def policy_change_times(snapshot: Snapshot) -> dict[str, tuple[float, str]]:
    """namespace → (the latest change of one of its policies, that policy's key), from
    `metadata.creationTimestamp` and `metadata.managedFields[].time` where the snapshot kept
    them; a namespace whose policies carry no time is absent."""
    out: dict[str, tuple[float, str]] = {}
    for pol in snapshot.policies:
        meta = pol.manifest.get("metadata") if isinstance(pol.manifest, Mapping) else None
        if not isinstance(meta, Mapping):
            continue
        times = [parse_time(meta.get("creationTimestamp"))]
        fields = meta.get("managedFields")
        if isinstance(fields, list):
            times.extend(parse_time(f.get("time")) for f in fields if isinstance(f, Mapping))
        known = [t for t in times if t is not None]
        if known and (pol.namespace not in out or max(known) > out[pol.namespace][0]):
            out[pol.namespace] = (max(known), pol.key)
    return out


# ------------------------------------------------------------------ ends


@dataclass(frozen=True)
class _End:
    ref: PodRef | IPRef | ServiceRef | None
    pod: Pod | None
    host: bool
    reused: str  # "" or the sentence saying whose IP it is in the snapshot
    service: str  # NS/NAME when the log shows a Service address for this end
    note: str = ""


def _host_ips(snapshot: Snapshot) -> frozenset[str]:
    return frozenset(ip for p in snapshot.pods if p.host_network for ip in p.ips)


def _service_by_ip(snapshot: Snapshot) -> dict[str, str]:
    return {ip: s.key for s in snapshot.services for ip in s.all_cluster_ips}


class _Lookup:
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.host_ips = _host_ips(snapshot)
        self.services = _service_by_ip(snapshot)

    def end(self, end: FlowEnd, role: str) -> _End:
        snap = self.snapshot
        if end.is_host or (end.ip and end.ip in self.host_ips and not end.pod):
            ref = IPRef(end.ip) if end.ip else None
            return _End(ref, None, True, "", "")
        pod: Pod | None = None
        note = ""
        if end.pod and end.namespace:
            if "*" in end.pod:  # Calico: one name for the pods of a generateName
                pods = sorted(
                    (
                        p
                        for p in snap.pods_by_namespace.get(end.namespace, ())
                        if fnmatch.fnmatchcase(p.name, end.pod)
                    ),
                    key=lambda p: p.name,
                )
                pod = pods[0] if pods else None
                if pod is not None and len(pods) > 1:
                    note = f"{role} {end.key} stands for {len(pods)} pods; {pod.key} was checked"
            else:
                pod = snap.pod(end.namespace, end.pod)
        if pod is not None and pod.host_network:
            return _End(PodRef(pod.namespace, pod.name), pod, True, "", "", note)
        owner = snap.pods_by_ip.get(end.ip) if end.ip else None
        if pod is not None:
            reused = ""
            if end.ip and "*" not in end.pod:
                if owner is not None and owner.key != pod.key:
                    reused = f"{end.ip} belongs to {owner.key} in the snapshot, not {pod.key}"
                elif end.ip not in pod.ips and pod.ips:
                    reused = f"{pod.key} has {', '.join(pod.ips)} in the snapshot, not {end.ip}"
            return _End(PodRef(pod.namespace, pod.name), pod, False, reused, "", note)
        if end.pod and owner is not None and not owner.host_network:
            # The named pod is gone; its address now belongs to another pod.
            reused = f"{end.ip} belongs to {owner.key} in the snapshot, not {end.key}"
            return _End(IPRef(end.ip), owner, False, reused, "")
        if end.pod:
            return _End(None, None, False, "", "")  # a pod the snapshot does not have
        if end.ip:
            service = self.services.get(end.ip, "")
            return _End(IPRef(end.ip), owner, False, "", service)
        if end.service and not end.pod:
            ns, name = end.service.split("/", 1)
            return _End(ServiceRef(ns, name), None, False, "", end.service)
        return _End(None, None, False, "", "")


def _missing(snapshot: Snapshot, end: FlowEnd, role: str) -> str:
    """Why an end is not in the snapshot; a pod whose Deployment has other pods now was
    most likely replaced by a rollout (`web-5d8f7c-abcde`: Deployment `web`)."""
    text = f"the snapshot has no {role} {end.key}"
    parts = end.pod.split("-")
    if end.namespace and len(parts) >= 3 and "*" not in end.pod:
        deployment = "-".join(parts[:-2])
        now = [
            p.name
            for p in snapshot.pods_by_namespace.get(end.namespace, ())
            if p.workload == deployment
        ]
        if now:
            shown = ", ".join(sorted(now)[:3]) + (" …" if len(now) > 3 else "")
            return (
                f"{text}: a pod of {end.namespace}/{deployment} replaced since the capture "
                f"(a rollout?); its pods now: {shown}"
            )
    return f"{text}: captured at another time, or outside the namespaces loaded"


# ------------------------------------------------------------------ the engine's side


def _deciding(explanation: Explanation) -> tuple[str, ...]:
    primary = explanation.primary
    if primary is None:
        return ()
    out: list[str] = []
    for side in (primary.egress, primary.ingress):
        text = _side_deciding(side)
        if text:
            out.append(text)
    return tuple(out)


def _side_deciding(side: SideTrace) -> str:
    verb = side.direction.lower()
    if not side.isolated:
        return ""
    if side.decision is not None:
        return f"{verb}: {side.decision.policy} rule #{side.decision.rule}"
    names = ", ".join(p.key for p in side.policies)
    return f"{verb}: denied (isolated by {names}; no rule admits it)"


def _policy_keys(explanation: Explanation) -> set[str]:
    primary = explanation.primary
    if primary is None:
        return set()
    return {p.key for side in (primary.egress, primary.ingress) for p in side.policies}


def _attribution(policies: Sequence[FlowPolicy], ours: set[str]) -> str:
    named = [p for p in policies if p.is_network_policy and not p.pending]
    if not policies:
        return "none"
    if not named:
        return "different"
    return "same" if all(p.key in ours for p in named) else "different"


# ------------------------------------------------------------------ reconcile


def reconcile(
    snapshot: Snapshot, flows: Iterable[AggregatedFlow] | Aggregation, *, captured_at: str = ""
) -> tuple[Reconciled, ...]:
    """Each flow beside the engine's verdict on `snapshot`, in the order given."""
    items = flows.flows if isinstance(flows, Aggregation) else flows
    lookup = _Lookup(snapshot)
    times = policy_change_times(snapshot)
    captured = parse_time(captured_at)
    return tuple(reconcile_flow(snapshot, f, lookup, times, captured) for f in items)


def reconcile_flow(
    snapshot: Snapshot,
    flow: AggregatedFlow,
    lookup: _Lookup | None = None,
    times: Mapping[str, tuple[float, str]] | None = None,
    captured: float | None = None,
) -> Reconciled:
    lookup = lookup or _Lookup(snapshot)
    times = policy_change_times(snapshot) if times is None else times
    theirs = tuple(p.describe() for p in flow.policies)
    datapath = datapath_class(flow.last_verdict) if flow.last_verdict else flow.datapath

    def unevaluated(cause: str, text: str, notes: tuple[str, ...] = ()) -> Reconciled:
        return Reconciled(flow, None, None, None, cause, text, (), theirs, "n/a", notes)

    if flow.protocol not in ("TCP", "UDP", "SCTP") or flow.port is None:
        what = flow.protocol or "no protocol"
        return unevaluated(
            "unsupported-protocol",
            f"{what} without a port: NetworkPolicy rules name TCP, UDP or SCTP ports only",
        )
    src = lookup.end(flow.source, "source")
    dst = lookup.end(flow.destination, "destination")
    notes = tuple(n for n in (src.note, dst.note) if n)
    for end, role, raw in ((src, "source", flow.source), (dst, "destination", flow.destination)):
        if end.ref is None and end.host:
            return unevaluated(
                "host-network",
                f"the {role} {raw.key} is the node (no address in the log): NetworkPolicy "
                "does not govern node traffic; the CNI applies its own host rules",
                notes,
            )
        if end.ref is None:
            return unevaluated("unknown-endpoint", _missing(snapshot, raw, role), notes)
    assert src.ref is not None and dst.ref is not None
    if isinstance(src.ref, ServiceRef):
        return unevaluated("unknown-endpoint", "a Service cannot be a source", notes)
    engine_flow = Flow(src.ref, dst.ref, flow.port, flow.protocol)  # type: ignore[arg-type]
    try:
        explanation = explain(snapshot, engine_flow)
    except UnknownEndpoint as exc:
        return unevaluated("unknown-endpoint", str(exc), notes)
    allowed = explanation.allowed
    deciding = _deciding(explanation)
    attribution = _attribution(flow.policies, _policy_keys(explanation))
    if datapath == "AUDIT":
        agree: bool | None = not allowed
    elif datapath == "FORWARDED":
        agree = allowed
    elif datapath == "DROPPED":
        policy_drop = not flow.drop_reasons or any(
            r in POLICY_DROP_REASONS for r, _ in flow.drop_reasons
        )
        agree = (not allowed) if policy_drop else False
    else:  # ERROR, UNKNOWN
        agree = False if datapath == "ERROR" else None
    if flow.datapath == "mixed":
        notes = (
            *notes,
            "the datapath changed its verdict during the capture "
            f"({', '.join(v for v, _ in flow.verdicts)}); compared on the last one, "
            f"{flow.last_verdict}",
        )
    if agree is None:
        return Reconciled(
            flow,
            engine_flow,
            allowed,
            None,
            "unexplained",
            f"the datapath gave no verdict ({flow.last_verdict or 'none'})",
            deciding,
            theirs,
            attribution,
            notes,
            connections_of(explanation),
        )
    connections = connections_of(explanation)
    cause, text = (
        ("", "")
        if agree
        else _cause(flow, src, dst, allowed, times, captured, snapshot.policy_by_key)
    )
    if agree and attribution == "different" and flow.policies:
        notes = (
            *notes,
            "the CNI attributes it to "
            + "; ".join(theirs)
            + ", the engine to "
            + ("; ".join(deciding) or "no isolating policy"),
        )
    return Reconciled(
        flow,
        engine_flow,
        allowed,
        agree,
        cause,
        text,
        deciding,
        theirs,
        attribution,
        notes,
        connections,
    )


def connections_of(explanation: Explanation) -> tuple[tuple[str, str, int | None, str], ...]:
    return tuple(
        (v.source.name, v.destination.name, v.port, v.protocol) for v in explanation.verdicts
    )


def matching(explanation: Explanation, items: Iterable[Reconciled]) -> list[Reconciled]:
    """The datapath's flows for one flow asked about: those that checked one of the same
    connections (a Service flow matches the backend pods the log shows)."""
    wanted = set(connections_of(explanation))
    return [r for r in items if wanted.intersection(r.connections)]


def _cause(
    flow: AggregatedFlow,
    src: _End,
    dst: _End,
    allowed: bool,
    times: Mapping[str, tuple[float, str]],
    captured: float | None,
    known: Mapping[str, object],
) -> tuple[str, str]:
    ours = "allows" if allowed else "denies"
    if src.host or dst.host:
        which = "source" if src.host else "destination"
        end = flow.source if src.host else flow.destination
        return (
            "host-network",
            f"the {which} {end.key} is the node or a hostNetwork pod: NetworkPolicy does not "
            "select it, and the CNI applies its own host rules",
        )
    for side in (src, dst):
        if side.reused:
            return ("ip-reused", f"a pod IP reused: {side.reused}")
    other = [p for p in flow.policies if not p.is_network_policy and not p.pending]
    deny = [p for p in other if p.action == "deny" and p.kind != "EndOfTier"]
    reasons = {r for r, _ in flow.drop_reasons}
    dropped = flow.last_verdict == "DROPPED"
    if dropped and ("POLICY_DENY" in reasons or deny):
        named = "; ".join(p.describe() for p in deny) or "a deny rule the CNI did not name"
        return (
            "explicit-deny",
            f"an explicit deny outside NetworkPolicy dropped it ({named}); NetworkPolicy has "
            f"no deny rules, and the engine {ours} it",
        )
    if other and any(p.kind != "EndOfTier" for p in other):
        named = "; ".join(p.describe() for p in other if p.kind != "EndOfTier")
        return (
            "cni-policy",
            f"the CNI applied {named}, which is not a Kubernetes NetworkPolicy; the engine "
            f"sees only NetworkPolicy and {ours} it",
        )
    namespaces = {e.namespace for e in (flow.source, flow.destination) if e.namespace}
    changes = [times[ns] for ns in sorted(namespaces) if ns in times]
    if changes and flow.last_seen is not None:
        when, key = max(changes)
        if flow.last_seen < when:
            return (
                "stale-snapshot",
                f"the flow was last seen at {iso_time(flow.last_seen)}, before {key} changed at "
                f"{iso_time(when)}: the snapshot's policies are newer than the flow",
            )
    missing = [
        p for p in flow.policies if p.is_network_policy and not p.pending and p.key not in known
    ]
    if missing:
        keys = ", ".join(p.key for p in missing)
        return (
            "stale-snapshot",
            f"the CNI names NetworkPolicy {keys}, which the snapshot does not have: changed "
            "or deleted since the capture",
        )
    service = dst.service or flow.destination.service
    if service and not (dst.pod and flow.destination.pod):
        return (
            "service-dnat",
            f"the log shows Service {service} before DNAT: policies act on the backend pod "
            "and targetPort it was translated to, which the log does not name",
        )
    non_policy = sorted(r for r in reasons if r not in POLICY_DROP_REASONS)
    if flow.last_verdict == "ERROR" or (dropped and non_policy):
        why = ", ".join(non_policy) or "a datapath ERROR"
        return (
            "not-policy",
            f"the datapath dropped it for a reason other than policy ({why})",
        )
    last = flow.last_seen
    if not changes and captured is not None and last is not None and last < captured:
        return (
            "stale-capture",
            f"the flow was last seen at {iso_time(last)}, before the snapshot was captured at "
            f"{iso_time(captured)}, and the snapshot has no policy change times: the policies "
            "may have changed in between",
        )
    return (
        "unexplained",
        f"no known cause: the engine {ours} it; check the snapshot is of this cluster",
    )


# ------------------------------------------------------------------ output


def reconciled_to_dict(item: Reconciled) -> dict[str, Any]:
    """The `triage flows -o json` contract, one object per flow."""
    flow = item.flow
    return {
        "from": flow.source.key,
        "to": flow.destination.key,
        "port": flow.port,
        "protocol": flow.protocol,
        "count": flow.count,
        "datapath": flow.datapath,
        "verdicts": dict(flow.verdicts),
        "drop_reasons": [r for r, _ in flow.drop_reasons],
        "directions": list(flow.directions),
        "first_seen": iso_time(flow.first_seen) if flow.first_seen is not None else None,
        "last_seen": iso_time(flow.last_seen) if flow.last_seen is not None else None,
        "cni": flow.cni,
        "allowed": item.allowed,
        "agree": item.agree,
        "cause": item.cause or None,
        "cause_text": item.cause_text or None,
        "deciding": list(item.deciding),
        "datapath_policies": list(item.datapath_policies),
        "attribution": item.attribution,
        "checked": (
            {
                "from": str(item.engine_flow.source),
                "to": str(item.engine_flow.destination),
            }
            if item.engine_flow is not None
            else None
        ),
        "notes": list(item.notes),
    }
