"""The walk through the policy tiers (Admin → NetworkPolicy → Baseline → default) as Rich
tree nodes: each step with its outcome, the admin rules walked, and the nearest miss of the
tier. Every string is Text (never markup): names come from the cluster."""

from __future__ import annotations

from rich.text import Text
from rich.tree import Tree

from triage.policy.trace import AdminPolicyTrace, TierChain, TierStep

OK = "bold green"
BAD = "bold red"
DIM = "dim"
PASS = "bold yellow"

_OUTCOME_STYLE = {"Accept": OK, "Deny": BAD, "Pass": PASS, "None": DIM}


def _mark(ok: bool) -> Text:
    return Text("✔ ", style=OK) if ok else Text("✘ ", style=BAD)


def _policy_node(parent: Tree, pol: AdminPolicyTrace) -> None:
    priority = "no priority" if pol.priority is None else f"priority {pol.priority}"
    node = parent.add(
        Text.assemble(
            (f"{pol.kind} {pol.key}", "bold cyan"),
            (f"  {pol.tier} tier, {priority}, subject {pol.subject}", DIM),
        )
    )
    if not pol.rules:
        node.add(Text("no rules for this direction: it does not affect it", DIM))
    for rule in pol.rules:
        label = Text.assemble(
            _mark(rule.matched),
            (f"rule {rule.name} ", "bold"),
            (rule.action, _OUTCOME_STYLE.get(rule.action, "")),
            (" ← matches this flow" if rule.matched else "", OK),
        )
        rnode = node.add(label)
        if rule.fails_closed:
            rnode.add(Text("a peer with no known field: the rule fails closed", "red"))
        for peer in rule.peers:
            pnode = rnode.add(Text.assemble(_mark(peer.matched), f"peer: {peer.description}"))
            for reason in peer.reasons:
                pnode.add(Text(reason.text, style="yellow" if peer.undecidable else "red"))
        if not rule.ports:
            rnode.add(Text.assemble(_mark(True), ("any port (no protocols/ports)", DIM)))
        for port in rule.ports:
            qnode = rnode.add(Text.assemble(_mark(port.matched), f"port: {port.description}"))
            if port.reason is not None:
                qnode.add(Text(port.reason.text, style="red"))


def _step_node(parent: Tree, step: TierStep, final: bool) -> None:
    style = _OUTCOME_STYLE.get(step.outcome, "")
    node = parent.add(
        Text.assemble(
            (step.text, style if final or step.outcome == "Pass" else ""),
            ("  ← decides" if final else "", OK if step.outcome == "Accept" else BAD),
        )
    )
    if step.peer:
        node.add(Text(f"matched peer: {step.peer}", DIM))
    for pol in step.policies:
        _policy_node(node, pol)
    if step.nearest_miss is not None:
        node.add(
            Text.assemble(("nearest miss in this tier: ", "bold yellow"), step.nearest_miss.text)
        )


def add_tier_nodes(tree: Tree, chain: TierChain) -> None:
    """One node per tier step under `tree`; the deciding step marked."""
    tiers = tree.add(Text("Tiers (Admin → NetworkPolicy → Baseline → default)", "bold"))
    last = len(chain.steps) - 1
    for i, step in enumerate(chain.steps):
        final = i == last and step.outcome in ("Accept", "Deny")
        _step_node(tiers, step, final)
