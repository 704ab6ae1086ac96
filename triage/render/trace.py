"""The explanation trace as a Rich tree: the deciding policy and rule highlighted, every
failed term named."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text
from rich.tree import Tree

from triage.policy.describe import near_miss_text, no_rule_text, side_summary
from triage.policy.trace import Explanation, PolicyTrace, RuleTrace, SideTrace, Verdict
from triage.render.tiers import add_tier_nodes

OK = "bold green"
BAD = "bold red"
DIM = "dim"
DECIDING = "bold green reverse"


def _mark(ok: bool) -> Text:
    return Text("✔ ", style=OK) if ok else Text("✘ ", style=BAD)


def _rule_node(parent: Tree, side: SideTrace, pol: PolicyTrace, rule: RuleTrace) -> None:
    deciding = side.decision is not None and (
        side.decision.policy == pol.key and side.decision.rule == rule.index
    )
    label = Text.assemble(
        _mark(rule.allowed),
        (f"rule #{rule.index}", DECIDING if deciding else "bold"),
        (" ← allows this flow" if deciding else "", OK),
    )
    node = parent.add(label)
    if not rule.peers:
        node.add(Text.assemble(_mark(True), ("any peer (no from/to)", DIM)))
    for peer in rule.peers:
        peer_node = node.add(Text.assemble(_mark(peer.matched), f"peer: {peer.description}"))
        for reason in peer.reasons:
            peer_node.add(Text(reason.text, style="red"))
    if not rule.ports:
        node.add(Text.assemble(_mark(True), ("any port (no ports)", DIM)))
    for port in rule.ports:
        port_node = node.add(Text.assemble(_mark(port.matched), f"port: {port.description}"))
        if port.reason is not None:
            port_node.add(Text(port.reason.text, style="red"))


def side_tree(side: SideTrace) -> Tree:
    title = "Egress at the source" if side.direction == "Egress" else "Ingress at the destination"
    verdict = "allowed" if side.allowed else "DENIED"
    tree = Tree(
        Text.assemble(
            _mark(side.allowed),
            (f"{title} ({side.endpoint}): ", "bold"),
            (verdict, OK if side.allowed else BAD),
        )
    )
    tree.add(Text(side_summary(side), style=DIM if side.allowed else ""))
    if side.tiers is not None:
        add_tier_nodes(tree, side.tiers)
    for pol in side.policies:
        deciding = side.decision is not None and side.decision.policy == pol.key
        pol_node = tree.add(
            Text.assemble(
                _mark(pol.allowed),
                (f"policy {pol.key}", DECIDING if deciding else "bold cyan"),
                (f"  podSelector {pol.pod_selector}  types {','.join(pol.policy_types)}", DIM),
            )
        )
        if not pol.rules:
            # Policies are a union: a policy without rules only isolates; another policy
            # may still allow the flow.
            pol_node.add(
                Text(
                    f"no {side.direction.lower()} rules: it allows nothing itself (isolation only)",
                    "red",
                )
            )
        for rule in pol.rules:
            _rule_node(pol_node, side, pol, rule)
    return tree


def verdict_renderable(verdict: Verdict) -> RenderableType:
    parts: list[RenderableType] = []
    port = f"{verdict.port}" if verdict.port is not None else "?"
    if verdict.port_name:
        port += f" ({verdict.port_name})"
    parts.append(
        Text.assemble(
            ("ALLOWED " if verdict.allowed else "DENIED ", OK if verdict.allowed else BAD),
            f"{verdict.source.name} → {verdict.destination.name}:{port}/{verdict.protocol}",
        )
    )
    if verdict.blocked_by is not None:
        parts.append(Text(f"Blocked before policy: {verdict.blocked_by.text}", style=BAD))
    parts.append(side_tree(verdict.egress))
    parts.append(side_tree(verdict.ingress))
    # One nearest miss per denying side: when both sides deny, fixing one is not enough.
    for miss in verdict.nearest_misses:
        label = (
            f"Nearest miss ({miss.side}): " if len(verdict.nearest_misses) > 1 else "Nearest miss: "
        )
        parts.append(Text.assemble((label, "bold yellow"), near_miss_text(miss)))
    if verdict.nearest_misses:
        # The other side denies too, with no rule to come near: fixing the miss is not enough.
        missed = {m.direction for m in verdict.nearest_misses}
        for side in (verdict.egress, verdict.ingress):
            if not side.allowed and side.isolated and side.direction not in missed:
                parts.append(
                    Text.assemble(("No rule to miss: ", "bold yellow"), no_rule_text(side))
                )
    for warning in verdict.warnings:
        parts.append(Text.assemble(("warning: ", "bold yellow"), warning.text))
    return Group(*parts)


def _state_text(explanation: Explanation) -> Text:
    if explanation.unknown is not None:
        return Text("UNKNOWN", style="bold yellow")
    return Text("ALLOWED", style=OK) if explanation.allowed else Text("DENIED", style=BAD)


def explanation_renderable(explanation: Explanation) -> RenderableType:
    parts: list[RenderableType] = [
        Text.assemble(
            ("Flow ", "bold"),
            str(explanation.flow),
            ("  →  ", DIM),
            _state_text(explanation),
        )
    ]
    if explanation.service is not None:
        svc = explanation.service
        backends = ", ".join(svc.backends) or "none"
        parts.append(
            Text(
                f"Service {svc.service} port {svc.port}/{svc.protocol} → targetPort "
                f"{svc.target_port} on backends: {backends}",
                style=DIM,
            )
        )
    if explanation.problem is not None:
        parts.append(Text(explanation.problem.text, style=BAD))
    for verdict in explanation.verdicts:
        parts.append(Text(""))
        parts.append(verdict_renderable(verdict))
    for warning in explanation.warnings:
        parts.append(Text.assemble(("warning: ", "bold yellow"), warning.text))
    return Group(*parts)
