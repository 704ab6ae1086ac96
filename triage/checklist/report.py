"""The Markdown report of a checklist run: for the ticket, the postmortem, the handover."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from triage.checklist.model import ChecklistContext, StepResult
from triage.checklist.runbook import runbook_for
from triage.model.untrusted import markdown_code, markdown_fence, markdown_text
from triage.policy import UnknownEndpoint
from triage.policy.describe import misses_clause

STATUS_MARK = {
    "pass": "pass",
    "fail": "**FAIL**",
    "warn": "**warn**",
    "skip": "skip",
    "error": "**ERROR**",
    "pending": "pending",
    "running": "running",
}


# Every piece of data is escaped (names, titles, notes, evidence come from recordings and
# clusters): a report pasted into a ticket must not turn a note into a link or HTML.
_fence = markdown_fence
_md = markdown_text


def _verdict_line(ctx: ChecklistContext) -> str:
    try:
        exp = ctx.explanation
    except UnknownEndpoint as exc:
        return f"**unknown** — {_md(exc)}"
    if exp.problem is not None:
        return f"**denied** before any policy — {_md(exp.problem.text)}"
    primary = exp.primary
    if exp.unknown is not None:
        return f"**unknown** — {_md(exp.unknown)}"
    if exp.allowed:
        return "**allowed**"
    text = "**denied**"
    if primary is not None:
        sides = [s for s in (primary.egress, primary.ingress) if not s.allowed]
        text += " by " + " and ".join(
            f"{s.direction.lower()} at {markdown_code(s.endpoint)}" for s in sides
        )
        clause = misses_clause(primary)
        if clause:
            text += f"; {_md(clause)}"
    return text


@dataclass(frozen=True)
class ReportOrigin:
    """Where the evidence came from and who looked: the report's footing for a handover."""

    mode: str  # "live" or "replay"
    context: str = ""
    server: str = ""
    captured_at: str = ""  # when the data was read (live) or recorded (replay)
    operator: str = ""


def _origin_lines(origin: ReportOrigin) -> list[str]:
    lines = [f"- Source: {'live cluster' if origin.mode == 'live' else 'recorded incident'}"]
    if (origin.context or origin.server) and origin.mode == "live":
        server = f" (server {_md(origin.server)})" if origin.server else ""
        lines.append(f"- Context: {_md(origin.context) or '-'}{server}")
    if origin.captured_at:
        read = "Read at" if origin.mode == "live" else "Captured at"
        lines.append(f"- {read}: {_md(origin.captured_at)}")
    if origin.operator:
        lines.append(f"- Operator: {_md(origin.operator)}")
    return lines


def export_report(
    ctx: ChecklistContext, results: Iterable[StepResult], origin: ReportOrigin | None = None
) -> str:
    """Markdown: the flow, each step with status/evidence/kubectl, the verdict, the fix.
    `origin`: context, server, capture time and operator, for the header."""
    results = list(results)
    runbook = runbook_for(ctx)
    titles = {s.id: s.title for s in runbook.steps}
    flow = markdown_code(ctx.flow)
    lines = [f"# {_md(runbook.title)}: {flow}", ""]
    if ctx.incident is not None:
        meta = ctx.incident.meta
        lines.append(f"- Incident: {_md(meta.title)}")
        if meta.cluster or meta.context:
            cluster, context = _md(meta.cluster or "-"), _md(meta.context or "-")
            lines.append(f"- Cluster: {cluster} (context {context})")
        if meta.captured_at and (origin is None or origin.mode != "replay"):
            lines.append(f"- Captured at: {_md(meta.captured_at)}")
    if origin is not None:
        lines += _origin_lines(origin)
    lines.append(f"- Flow: {flow}")
    lines.append(f"- Verdict: {_verdict_line(ctx)}")
    known_good = ctx.effective_known_good
    if known_good is not None:
        name, when = _md(known_good.name), _md(known_good.captured_at or "undated")
        lines.append(f"- Known-good set: {name} ({when})")
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    lines.append("- Steps: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    lines += ["", "| # | Step | Status | Summary |", "|---|---|---|---|"]
    for i, r in enumerate(results, 1):
        summary = _md(r.summary)
        title = _md(titles.get(r.step_id, r.step_id))
        lines.append(f"| {i} | {title} | {STATUS_MARK.get(r.status, r.status)} | {summary} |")
    lines.append("")
    for i, r in enumerate(results, 1):
        title = _md(titles.get(r.step_id, r.step_id))
        lines += [f"## {i}. {title} — {r.status}", "", _md(r.summary), ""]
        if r.evidence:
            lines.append("Evidence:")
            lines.append("")
            lines += [f"- {_md(e.strip())}" for e in r.evidence]
            lines.append("")
        if r.hint:
            lines += [f"Next: {_md(r.hint)}", ""]
        if r.kubectl:
            lines += ["Check by hand:", "", *_fence(r.kubectl, "sh"), ""]
        if r.details.get("diff"):
            lines += ["What changed:", "", *_fence(r.details["diff"], "diff"), ""]
    fixes = [r for r in results if r.details.get("fix_yaml")]
    if fixes:
        lines += ["## Fix", ""]
        for r in fixes:
            lines += [
                f"From step {_md(titles.get(r.step_id, r.step_id))}; review before applying "
                "(`kubectl apply --dry-run=server -f fix.yaml` first):",
                "",
                *_fence(r.details["fix_yaml"], "yaml"),
                "",
            ]
            if r.details.get("fix_delta"):
                lines += [
                    "What it changes (verified):",
                    "",
                    *_fence(r.details["fix_delta"], ""),
                    "",
                ]
    return "\n".join(lines).rstrip("\n") + "\n"
