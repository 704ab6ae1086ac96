"""The trace in English: the sentences the text view, the TUI, the checklist and the JSON
contract show. The engine returns structure (triage.policy.trace); only this module turns
it into prose, so wording changes here and nowhere else."""

from __future__ import annotations

from triage.model import Direction
from triage.policy.trace import NearMiss, PolicyTrace, SideTrace


def isolating_phrase(pol: PolicyTrace, direction: Direction) -> str:
    if pol.selects_all:
        # The trap of allow-dns-egress: an empty podSelector isolates every pod.
        return (
            f"{pol.name} (podSelector {{}} selects every pod of {pol.namespace} for "
            f"{direction}, so it isolates them all)"
        )
    return f"{pol.name} (podSelector {pol.pod_selector})"


def side_summary(side: SideTrace) -> str:
    """One sentence: is the pod isolated for this direction, by what, and which rule admits
    the flow (or that none does)."""
    verb = side.direction.lower()
    if not side.governed:
        return f"{side.endpoint} is not a pod of this cluster: no NetworkPolicy governs its {verb}"
    if not side.isolated:
        return (
            f"no policy selects {side.endpoint} for {side.direction}: it is not isolated for "
            f"{verb}, so all {verb} is allowed"
        )
    names = ", ".join(isolating_phrase(p, side.direction) for p in side.policies)
    n_rules = sum(len(p.rules) for p in side.policies)
    toward = "to" if side.direction == "Egress" else "from"
    shown_port = side.port if side.port is not None else "?"
    what = f"{side.protocol} {shown_port} {toward} {side.other}"
    if side.decision is not None:
        return (
            f"{side.endpoint} is isolated for {verb} by {names}; {side.decision.policy} "
            f"{verb} rule #{side.decision.rule} allows {what}"
        )
    if n_rules == 0:
        return (
            f"{side.endpoint} is isolated for {verb} by {names}, which allow no {verb} at all "
            "(default deny)"
        )
    return (
        f"{side.endpoint} is isolated for {verb} by {names}; none of their {n_rules} "
        f"{verb} rule(s) allows {what}"
    )


def near_miss_text(miss: NearMiss) -> str:
    """`POLICY egress rule #N: what it lacks; ...` (and why relabeling cannot help, when the
    peer's selectors can never match)."""
    lacks = "; ".join(r.text for r in miss.missing) or "nothing"
    text = f"{miss.policy} {miss.side} rule #{miss.rule}: {lacks}"
    if miss.never is not None:
        text += f" (no relabeling helps: {miss.never})"
    return text


def misses_clause(misses: tuple[NearMiss, ...]) -> str:
    """`nearest miss: ...` for one denying side, `nearest misses: ...; and ...` for two
    (then fixing one side alone does not open the flow); "" for none."""
    if not misses:
        return ""
    if len(misses) == 1:
        return f"nearest miss: {near_miss_text(misses[0])}"
    return "nearest misses: " + "; and ".join(near_miss_text(m) for m in misses)
