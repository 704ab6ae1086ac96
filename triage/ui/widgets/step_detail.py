"""The selected step: what it checks, what it found, the evidence, the hint, the kubectl
command that shows the same evidence, and its details (fix YAML, diff, probe output)."""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.markup import escape
from textual.widgets import Static

from triage.checklist import Status, StepResult, StepSpec
from triage.model.untrusted import clean
from triage.ui.safe_text import data_block
from triage.ui.widgets.steps import GLYPHS, WORDS

DETAIL_TITLES = {
    "fix_yaml": "Least-privilege fix (a NetworkPolicy that allows exactly this flow)",
    "diff": "What changed since the known-good set",
    "probe_output": "Probe output",
    "residual": "Residual exposure",
    "fix_delta": "What the fix changes (verified by the engine on every pod pair)",
}
# A fix that is not an allow rule: the lateral-movement runbook's policies close paths.
STEP_DETAIL_TITLES = {
    ("default-deny", "fix_yaml"): "Default-deny to add (it selects every pod in the namespace)",
    ("containment", "fix_yaml"): "Quarantine policy (apply it before labelling the pod)",
}
DETAIL_LEXERS = {"fix_yaml": "yaml", "diff": "diff"}


def _syntax(text: str, lexer: str) -> Syntax:
    return Syntax(
        text.rstrip("\n"), lexer, theme="ansi_dark", background_color="default", word_wrap=True
    )


def details_renderable(details: Mapping[str, str], step_id: str = "") -> RenderableType | None:
    parts: list[RenderableType] = []
    for key in sorted(details, key=lambda k: (k not in DETAIL_TITLES, k)):
        text = details[key]
        if not text.strip():
            continue
        title = STEP_DETAIL_TITLES.get((step_id, key)) or DETAIL_TITLES.get(key)
        parts.append(Text(title or key.replace("_", " "), style="bold"))
        lexer = DETAIL_LEXERS.get(key)
        parts.append(_syntax(text, lexer) if lexer else Text(text.rstrip("\n")))
        parts.append(Text(""))
    return Group(*parts) if parts else None


class StepDetail(VerticalScroll):
    """Sections are Statics with classes so triage.tcss can style and hide them."""

    def compose(self) -> ComposeResult:
        yield Static(id="detail-status")
        yield Static(id="detail-summary")
        yield Static(id="detail-evidence", classes="section")
        yield Static(id="detail-hint", classes="section")
        yield Static(id="detail-kubectl", classes="section")
        yield Static(id="detail-explanation", classes="section")
        yield Static(id="detail-extra", classes="section")
        yield Static(id="detail-text", classes="section")

    def _set(self, id: str, content: RenderableType | None, title: str = "") -> None:
        widget = self.query_one(f"#{id}", Static)
        widget.display = content is not None
        widget.border_title = escape(title) if title else None
        widget.update(content if content is not None else "")

    def show(
        self,
        number: int,
        spec: StepSpec,
        status: Status,
        result: StepResult | None,
        kubectl: str,
        explanation: RenderableType | None,
    ) -> None:
        self.border_title = escape(clean(f"{number}. {spec.title}"))
        for name in WORDS:
            self.set_class(name == status, f"-{name}")
        word = WORDS[status] or "not run yet"
        self._set("detail-status", Text(f"{GLYPHS[status]} {word}", style="bold"))
        if result is None:
            prompt = "running…" if status == "running" else "press enter to run this step"
            self._set("detail-summary", Text(prompt, style="italic"))
            self._set("detail-evidence", None)
            self._set("detail-hint", None)
            self._set("detail-explanation", None)
            self._set("detail-extra", None)
        else:
            self._set("detail-summary", data_block(result.summary, style="bold"))
            evidence = Text("\n").join(data_block(f"• {line}") for line in result.evidence)
            self._set("detail-evidence", evidence if result.evidence else None, "Evidence")
            self._set("detail-hint", data_block(result.hint) if result.hint else None, "Next")
            self._set("detail-explanation", explanation, "Explanation")
            self._set("detail-extra", details_renderable(result.details, spec.id), "Details")
        self._set(
            "detail-kubectl",
            data_block(kubectl, style="bold") if kubectl else None,
            "kubectl (c copies)",
        )
        self._set("detail-text", Text(spec.text, style="italic"), "What this step checks")
        self.scroll_home(animate=False)
