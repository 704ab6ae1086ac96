"""The trace in English: the sentences the text view, the TUI, the checklist and the JSON
contract show. The engine returns structure (triage.policy.trace); only this module turns
it into prose, so wording changes here and nowhere else."""

from __future__ import annotations

from triage.model import Direction
from triage.policy.trace import NearMiss, PolicyTrace, SideTrace, Verdict


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
    the flow (or that none does). With admin tiers: the walk through them first."""
    if side.tiers is not None:
        chain = side.tiers.text
        if side.tiers.decided_by != "NetworkPolicy":
            return chain
        return f"{chain}; {_networkpolicy_summary(side)}"
    return _networkpolicy_summary(side)


def _networkpolicy_summary(side: SideTrace) -> str:
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


def no_rule_text(side: SideTrace) -> str:
    """A denying side without any rule to come near: only a new rule opens it."""
    names = ", ".join(p.key for p in side.policies)
    return (
        f"{side.direction.lower()} at {side.endpoint}: no rule to change, {names} allow no "
        f"{side.direction.lower()} at all (default deny); it needs a rule of its own"
    )


def misses_clause(verdict: Verdict) -> str:
    """`nearest miss: ...` for one denying side, `nearest misses: ...; and ...` when both
    sides deny (then fixing one side alone does not open the flow; a side with no rule at
    all says so); "" when the policies allow it."""
    parts = [near_miss_text(m) for m in verdict.nearest_misses]
    missed = {m.direction for m in verdict.nearest_misses}
    for side in (verdict.egress, verdict.ingress):
        if not side.allowed and side.isolated and side.direction not in missed:
            parts.append(no_rule_text(side))
    if not parts:
        return ""
    if len(parts) == 1 and verdict.nearest_misses:
        return f"nearest miss: {parts[0]}"
    return ("nearest misses: " if len(parts) > 1 else "") + "; and ".join(parts)
