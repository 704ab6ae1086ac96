"""Verdicts on a partial snapshot (`-n NS`: only some namespaces were loaded).

An end outside the loaded namespaces is not "not a pod of this cluster": it may be a pod
we were not allowed to list. Such a flow is never DENIED for lack of data. Its verdict is
"unknown: not loaded (-n)" (`Explanation.unknown`), unless the side that *was* loaded
denies it whatever the other end turns out to be: then DENIED stands, with a warning
that only that side was judged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from triage.model import Flow, IPRef, PodRef, ServiceRef, Snapshot
from triage.policy.trace import EngineWarning, Explanation, SideTrace

NOT_LOADED = "not loaded (-n)"
NOT_LOADED_CODE = "not-loaded"  # EngineWarning code of an unknown verdict


def _scope_text(snapshot: Snapshot) -> str:
    return ", ".join(snapshot.scope or ())


def _unloaded_namespace(snapshot: Snapshot, flow: Flow) -> tuple[str, str] | None:
    """(role, namespace) of a named end whose namespace was not loaded."""
    for role, ref in (("source", flow.source), ("destination", flow.destination)):
        if isinstance(ref, PodRef | ServiceRef) and not snapshot.in_scope(ref.namespace):
            return role, ref.namespace
    return None


def _could_match_unloaded_pod(side: SideTrace) -> bool:
    """Could a rule of this denying side allow the flow if the far end were a pod of an
    unloaded namespace? Yes when the port matched and a peer failed only because the far
    end is not a loaded pod (a pod or namespace selector we cannot evaluate)."""
    for pol in side.policies:
        for rule in pol.rules:
            if not rule.port_matched:
                continue
            for peer in rule.peers:
                if peer.reasons and all(r.code == "not-a-pod" for r in peer.reasons):
                    return True
    return False


def explain_partial(
    snapshot: Snapshot, flow: Flow, explain_loaded: Callable[[Snapshot, Flow], Explanation]
) -> Explanation:
    """`explain` on a snapshot with a scope; `explain_loaded` is the engine's verdict on
    what was loaded."""
    scope = _scope_text(snapshot)
    unloaded = _unloaded_namespace(snapshot, flow)
    if unloaded is not None:
        role, namespace = unloaded
        text = (
            f"unknown: {NOT_LOADED}: the {role} is in namespace {namespace}, outside the "
            f"loaded namespaces ({scope}); load it with -n {namespace} to judge this flow"
        )
        warning = EngineWarning(NOT_LOADED_CODE, text, namespace)
        return Explanation(flow, False, (), warnings=(warning,), unknown=text)
    explanation = explain_loaded(snapshot, flow)
    primary = explanation.primary
    if primary is None:
        return explanation
    source_unknown = isinstance(flow.source, IPRef) and primary.source.kind == "external"
    dest_unknown = (
        isinstance(flow.destination, IPRef)
        and explanation.service is None
        and primary.destination.kind == "external"
    )
    if not (source_unknown or dest_unknown):
        return explanation
    if source_unknown and dest_unknown:
        text = (
            f"unknown: {NOT_LOADED}: neither {flow.source} nor {flow.destination} is a pod of "
            f"the loaded namespaces ({scope})"
        )
        warning = EngineWarning(NOT_LOADED_CODE, text)
        return dataclasses.replace(
            explanation, unknown=text, warnings=(*explanation.warnings, warning)
        )
    if dest_unknown:
        judged, other, ip = primary.egress, "ingress at the destination", flow.destination
    else:
        judged, other, ip = primary.ingress, "egress at the source", flow.source
    where = (
        f"{ip} is not a pod of the loaded namespaces ({scope}); it may be a pod of a "
        "namespace that was not loaded (-n)"
    )
    if not judged.allowed and not _could_match_unloaded_pod(judged):
        # Denied whatever the far end is: the verdict stands, on one side's evidence.
        note = EngineWarning(
            "judged-one-side",
            f"judged on the {judged.direction.lower()} side only: {where}",
            str(ip),
        )
        return dataclasses.replace(explanation, warnings=(*explanation.warnings, note))
    side = "allows" if judged.allowed else "may allow"
    text = (
        f"unknown: {NOT_LOADED}: {where}; the {judged.direction.lower()} side ({judged.endpoint}) "
        f"{side} this flow, the {other} is not known"
    )
    warning = EngineWarning(NOT_LOADED_CODE, text, str(ip))
    return dataclasses.replace(explanation, unknown=text, warnings=(*explanation.warnings, warning))
