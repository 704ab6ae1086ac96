"""`RolloutScreen`: the guided default-deny rollout (`:rollout`).

Namespaces on the left (space toggles, `p` plans), the generated policies as YAML and the
preview on the right: the observed flows that stay allowed (and any that would break), what
closes, what stays open. Live, `A` applies after the typed confirmation (the rollback's
ConfirmContextModal): the rollback applier runs (re-read, backup of the live set — kept as
known-good —, dry-run, journalled writes, allows before denies) and probes verify a
sample of observed flows and of the flows meant to close; `v` reverts to the saved set, with
the same confirmation. A replay shows the same plan as a SIMULATION and offers nothing that
would touch a cluster.

    app.push_screen(RolloutScreen(app.session))                  # what `:rollout` does
    RolloutScreen(session, state_dir=..., api_factory=...)       # tests
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Footer, SelectionList, Static
from textual.worker import Worker, WorkerState

from triage.errors import error_line
from triage.model.untrusted import clean
from triage.rollback.apply import ApplyResult, Progress
from triage.ui.live_access import ClusterWriteScreen, export_in_thread
from triage.ui.session import Session
from triage.ui.widgets.confirm import ConfirmContextModal
from triage.ui.widgets.source_bar import SourceBar

if TYPE_CHECKING:
    from triage.rollback.api import PolicyApi
    from triage.rollout.plan import Rollout
    from triage.rollout.verify import Verification
    from triage.sources.live import LiveTarget

GROUP_PLAN = "rollout-plan"
GROUP_RUN = "rollout-run"


@dataclass
class RolloutPlanned(Message, bubble=False):
    rollout: Rollout


@dataclass
class RolloutProgressed(Message, bubble=False):
    text: str
    style: str = ""


@dataclass
class RolloutApplied(Message, bubble=False):
    result: ApplyResult
    verification: Verification | None
    reverted: bool = False


def default_namespaces(session: Session) -> list[str]:
    """The namespaces the observed traffic goes to (never the DNS pods' own)."""
    from triage.policy.dns import dns_target
    from triage.rollout.observed import resolve_all

    dns_ns = dns_target(session.snapshot).namespace
    incident = session.incident
    if incident is None:
        return []
    connections, _ = resolve_all(session.snapshot, (rf.flow for rf in incident.flows))
    found = {c.destination.namespace for c in connections if c.destination is not None}
    return sorted(found - {dns_ns})


class RolloutScreen(ClusterWriteScreen):
    CSS_PATH = "../rollout.tcss"
    BANNER_ID = "rollout-banner"
    LOG_ID = "rollout-log"
    LOG_TEXT_ID = "rollout-log-text"
    RUN_GROUP = GROUP_RUN
    # the DNS pods and the peers of the rollout namespaces live elsewhere
    ALL_NAMESPACES = True

    HELP = """\
Default-deny rollout. Toggle namespaces on the left with space, `p` plans: the namespaces'
current policies stay, and a default-deny (Ingress and Egress), the DNS guardrail (UDP and
TCP 53 to the cluster DNS pods) and one least-privilege allow per workload, built from the
observed traffic (the recording's flows and successful probes), are added. The preview is
the engine's verdict: every observed flow must stay allowed; what closes is allowed today
and was never observed.

Live: `A` applies after you type the context name: the live set is re-read (a change since
the plan refuses), saved as a known-good backup, dry-run, applied allows first with a journal,
re-read, then probes check observed flows and flows meant to close. When an observed flow
no longer connects, `v` reverts to the saved set (the same confirmation)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="rollout.back"),
        Binding("p", "plan", "Plan", id="rollout.plan"),
        Binding("A", "apply", "Apply…", key_display="A", id="rollout.apply"),
        Binding("v", "revert", "Revert…", id="rollout.revert"),
        Binding("e", "export", "Export", id="rollout.export"),
    ]

    def __init__(
        self,
        session: Session | None = None,
        *,
        state_dir: Path | None = None,
        live_target: LiveTarget | None = None,
        api_factory: Callable[[], PolicyApi] | None = None,
        sample: int = 4,
    ) -> None:
        super().__init__(
            session, state_dir=state_dir, live_target=live_target, api_factory=api_factory
        )
        self.sample = sample
        self.rollout: Rollout | None = None
        self.last_result: ApplyResult | None = None
        self.verification: Verification | None = None

    def selected(self) -> tuple[str, ...]:
        return tuple(sorted(self.query_one("#rollout-namespaces", SelectionList).selected))

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield SourceBar(id="source-bar")
        yield Static(id="rollout-banner")
        with Horizontal(id="rollout-main"):
            with Vertical(id="rollout-side"):
                chosen = set(default_namespaces(self.session))
                names = sorted(ns.name for ns in self.session.snapshot.namespaces)
                namespaces: SelectionList[str] = SelectionList(
                    *((Text(clean(n)), n, n in chosen) for n in names),
                    id="rollout-namespaces",
                )
                namespaces.border_title = "namespaces"
                namespaces.border_subtitle = "space toggles · p plans"
                yield namespaces
                log = VerticalScroll(id="rollout-log")
                log.border_title = "simulation" if self.simulation else "apply · verify"
                with log:
                    yield Static(id="rollout-log-text")
            with Vertical(id="rollout-right"):
                yield Static(id="rollout-summary")
                with Horizontal(id="rollout-panes"):
                    policies = VerticalScroll(id="rollout-policies")
                    policies.border_title = "generated policies"
                    with policies:
                        yield Static(id="rollout-policies-text")
                    preview = VerticalScroll(id="rollout-preview")
                    preview.border_title = "preview"
                    with preview:
                        yield Static(id="rollout-preview-text")
        yield Footer()

    def on_mount(self) -> None:
        self.show_banner(
            " replay of a recording: the rollout its observed traffic calls for; "
            "nothing can be applied from here",
            f" context {clean(self.context)}: applying needs the context name typed",
        )
        self.query_one("#rollout-namespaces", SelectionList).focus()
        if self.selected():
            self.action_plan()
        else:
            self.query_one("#rollout-summary", Static).update(
                Text("choose namespaces (space), then p", "italic")
            )

    # ------------------------------------------------------------------ planning

    def _observed(self) -> Any:
        from triage.rollout.observed import Observed, observed_from_incident

        incident = self.session.incident
        if incident is None:
            return Observed()
        return observed_from_incident(incident, f"recording: {incident.meta.title}")

    def action_plan(self) -> None:
        namespaces = self.selected()
        if not namespaces:
            self.notify("choose at least one namespace (space)", severity="warning")
            return
        self.query_one("#rollout-summary", Static).update(Text("planning…", "italic"))
        observed = self._observed()

        def work() -> None:
            from triage.rollout.plan import plan_rollout

            session = self.session
            if self.simulation:
                rollout = plan_rollout(
                    session.snapshot,
                    namespaces,
                    observed,
                    context=self.context or None,
                    live_source=f"recording: {session.label}",
                    simulation=True,
                )
            else:
                cluster = self.rollback_session()
                loaded = cluster.read_live()
                rollout = plan_rollout(
                    loaded.snapshot,
                    namespaces,
                    observed,
                    context=cluster.context,
                    live_source=cluster.live_source,
                    server=loaded.server,
                )
            self.post_message(RolloutPlanned(rollout))

        self.run_worker(
            work,
            thread=True,
            group=GROUP_PLAN,
            exclusive=True,
            exit_on_error=False,
            description="Planning the rollout",
        )

    def on_rollout_planned(self, message: RolloutPlanned) -> None:
        from triage.rollout.render import manifests_yaml, preview_lines

        rollout = message.rollout
        self.rollout = rollout
        gen, plan = rollout.generation, rollout.plan
        summary = Text(no_wrap=False)
        summary.append("default-deny rollout ", "bold")
        summary.append(", ".join(gen.namespaces))
        summary.append(
            f"\n{len(gen.generated)} generated · {plan.summary()}\n"
            f"observed: {len(gen.observed.flows)} flow(s), {len(gen.kept)} kept, "
        )
        summary.append(f"{len(gen.breaks)} would break", "bold red" if gen.breaks else "green")
        for note in gen.notes[:2]:
            summary.append(f"\nnote: {clean(note)}", "yellow")
        self.query_one("#rollout-summary", Static).update(summary)
        self.query_one("#rollout-policies-text", Static).update(
            Text(manifests_yaml(rollout), no_wrap=True, overflow="ellipsis")
        )
        self.query_one("#rollout-preview-text", Static).update(
            Text("\n".join(preview_lines(rollout)), no_wrap=True, overflow="ellipsis")
        )
        self.query_one(
            "#rollout-policies", VerticalScroll
        ).border_subtitle = f"{len(gen.generated)} policies"
        self.refresh_bindings()

    # ------------------------------------------------------------------ the log

    def on_rollout_progressed(self, message: RolloutProgressed) -> None:
        self.add_log(message.text, message.style)

    # ------------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("apply", "revert") and self.simulation:
            return False  # a replay never offers what would touch a cluster
        if action == "apply":
            rollout = self.rollout
            ready = rollout is not None and not rollout.plan.empty and rollout.safe
            return True if ready and not self.busy else None  # shown, greyed out until then
        if action == "revert":
            return True if self.last_result is not None and not self.busy else None
        return True

    def action_back(self) -> None:
        self.dismiss()

    def _progress(self, event: Progress) -> None:
        """Thread: the applier's events become log lines."""
        if event.status == "start" and event.stage in ("dry-run", "apply"):
            return
        where = f" {event.position}/{event.total}" if event.position is not None else ""
        style = {"ok": "green", "failed": "bold red"}.get(event.status, "")
        self.post_message(RolloutProgressed(f"{event.stage}{where}: {event.text}", style))

    def _confirm(
        self, title: str, lines: list[str], verb: str, then: Callable[[str], None]
    ) -> None:
        modal = ConfirmContextModal(title, lines, self.context, verb=verb)

        def answered(typed: str | None) -> None:
            if not typed:
                self.add_log("cancelled: nothing applied", "dim")
                return
            then(typed)

        self.app.push_screen(modal, answered)

    def action_apply(self) -> None:
        rollout = self.rollout
        if (
            rollout is None
            or self.simulation
            or self.busy
            or self.check_action("apply", ()) is not True
        ):
            return
        plan = rollout.plan
        blind = (
            ["NO OBSERVED TRAFFIC: every flow of these namespaces but DNS closes.", ""]
            if rollout.generation.observed.empty
            else []
        )
        lines = [
            *blind,
            plan.summary(),
            f"namespaces: {', '.join(rollout.namespaces)}",
            "",
            *(f"{i}. {op.action} {op.key}" for i, op in enumerate(plan.operations, start=1)),
            "",
            "The live set is re-read (any change since this plan refuses), saved as a",
            "known-good backup, dry-run, applied in this order with a journal, then probes",
            "verify.",
        ]
        title = f"Apply the rollout ({len(plan.operations)} step(s)) to context {self.context}?"
        self._confirm(title, lines, "Apply", lambda typed: self._apply(rollout, typed))

    def _apply(self, rollout: Rollout, typed: str) -> None:
        self.add_log(f"apply: {len(rollout.plan.operations)} step(s) on {typed}", "bold")
        prober = self.session.prober

        def job() -> None:
            from triage.rollback.apply import Run
            from triage.rollout.apply import keep_as_known_good
            from triage.rollout.verify import run_verification, verification_targets

            cluster = self.rollback_session()  # execute refuses a name that is not its context
            with cluster.open_store() as store:
                result = cluster.execute(
                    store, Run.apply(rollout.plan), confirmed_context=typed, progress=self._progress
                )
                saved = keep_as_known_good(store, result)
            self.post_message(
                RolloutProgressed(f"the live set before the rollout: known-good #{saved.id}")
            )
            verification = None
            if result.ok:
                targets = verification_targets(rollout, self.sample)

                def each(check: Any) -> None:
                    mark = {"ok": "ok", "failed": "FAILED", "inconclusive": "?"}[check.verdict]
                    self.post_message(
                        RolloutProgressed(
                            f"probe: expect {check.target.expect} {check.target.text()}: "
                            f"{check.result.outcome} [{mark}]",
                            "bold red" if check.verdict == "failed" else "",
                        )
                    )

                verification = run_verification(prober, targets, progress=each)
            self.post_message(RolloutApplied(result, verification))

        self._start_job("apply", job)

    def on_rollout_applied(self, message: RolloutApplied) -> None:
        self.busy = ""
        result = message.result
        self.last_result = None if message.reverted else result
        self.verification = message.verification
        what = "revert" if message.reverted else "rollout"
        if not result.ok:
            for line in result.report():
                self.add_log(line, "red" if "FAILED" in line else "")
            self.notify(result.message, title=f"{what} {result.status}", severity="error")
        elif message.reverted:
            self.add_log(f"REVERTED: {result.message} (journal #{result.journal_id})", "bold green")
            self.notify(result.message, title="reverted to the saved set")
        else:
            self.add_log(f"applied: {result.message} (journal #{result.journal_id})", "green")
            verification = message.verification
            if verification is not None and verification.broken:
                self.add_log(
                    f"VERIFY FAILED: {len(verification.broken)} observed flow(s) no longer "
                    "connect · v reverts to the saved set",
                    "bold red",
                )
                self.notify(
                    "observed flows no longer connect: v reverts",
                    title="verification failed",
                    severity="error",
                )
            else:
                self.add_log("VERIFIED: the observed flows connect", "bold green")
                self.notify(result.message, title="rollout verified")
        self.refresh_bindings()

    def action_revert(self) -> None:
        result = self.last_result
        rollout = self.rollout
        if result is None or rollout is None or self.simulation or self.busy:
            return
        lines = [
            f"journal #{result.journal_id}: back to the set saved before it",
            f"namespaces: {', '.join(rollout.namespaces)}",
            "",
            "The live set is re-read, the revert planned against it, backed up, dry-run and",
            "applied with a journal, like any rollback.",
        ]
        title = f"Revert the rollout on context {self.context}?"
        self._confirm(title, lines, "Revert", lambda typed: self._revert(rollout, result, typed))

    def _revert(self, rollout: Rollout, result: ApplyResult, typed: str) -> None:
        self.add_log(f"revert of journal #{result.journal_id} on {typed}", "bold")

        def job() -> None:
            cluster = self.rollback_session()
            with cluster.open_store() as store:
                run = cluster.follow_up(store, "revert", result.journal_id)
                reverted = cluster.execute(
                    store, run, confirmed_context=typed, progress=self._progress
                )
            self.post_message(RolloutApplied(reverted, None, reverted=True))

        self._start_job("revert", job)

    def action_export(self) -> None:
        rollout = self.rollout
        if rollout is None:
            self.notify("plan first: p", severity="warning")
            return
        from triage.rollout.render import rollout_to_markdown

        text = rollout_to_markdown(rollout)
        name = "rollout-plan-" + "-".join(rollout.namespaces)[:80] + ".md"
        export_in_thread(self, name, text, "rollout plan written", "rollout-export")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR or event.worker.group not in (GROUP_PLAN, GROUP_RUN):
            return
        error = event.worker.error
        text = error_line(error) if error is not None else "unknown error"
        self.busy = ""
        if event.worker.group == GROUP_PLAN:
            self.query_one("#rollout-summary", Static).update(
                Text(f"cannot plan: {text}", "bold red")
            )
        self.add_log(f"{event.worker.name or event.worker.group}: {text}", "bold red")
        self.notify(text, severity="error")
        self.refresh_bindings()
