"""`:exposure NS/POD`: a pod's blast radius and its containment (the lateral-movement
runbook's screen).

Three tabs: what the pod reaches, what reaches it, and the containment policy with what
would remain open. The computation runs in a thread worker and arrives as one message.
"""

from __future__ import annotations

from typing import ClassVar

import yaml
from rich.syntax import Syntax
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from triage.errors import error_line
from triage.model import Snapshot
from triage.policy.exposure import Containment, Exposure, Reach, Scope, SideGrant
from triage.ui.safe_text import data_text
from triage.ui.widgets.source_bar import SourceBar


def _ports_cell(reach: Reach) -> Text:
    declared = ", ".join(g.describe() for g in reach.ports)
    if reach.all_ports:
        text = Text("all ports", style="bold red")
        if declared:
            text.append(f" ({declared})", style="")
        return text
    text = Text(declared, style="yellow")
    if reach.undeclared:
        text.append(("; " if declared else "") + reach.undeclared.describe(), style="dim")
    return text


def _side_cell(side: SideGrant) -> Text:
    if not side.isolated:
        return Text("not isolated", style="red")
    return Text(", ".join(f"{ref.policy} #{ref.rule}" for ref, _ in side.rules))


class ExposureScreen(Screen[None]):
    HELP = """\
The blast radius of one pod. "Reaches": every workload and declared port it can open a
connection to (egress at the pod AND ingress at the far end allow it), with the deciding
policy and rule on each side. "Reached by": who can open connections to it. "Containment":
a policy that cuts it off but keeps DNS, and what would stay open because policies are
additive (another policy selecting the pod keeps its allowances). `c` switches the
containment between quarantining the pod and a default-deny egress for its namespace."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back", id="exposure.back"),
        Binding("1", "tab('reaches')", "Reaches", id="exposure.reaches"),
        Binding("2", "tab('reached-by')", "Reached by", id="exposure.reached_by"),
        Binding("3", "tab('containment')", "Containment", id="exposure.containment"),
        Binding("c", "toggle_scope", "Pod/namespace", id="exposure.scope"),
    ]

    DEFAULT_CSS = """
    ExposureScreen {
        #exposure-header { height: auto; padding: 0 1; background: $panel; }
        #exposure-tabs { height: 1fr; }
        DataTable { height: 1fr; }
        #containment-box { height: 1fr; padding: 0 1; }
        #containment-box > Static { height: auto; }
        #containment-status.-open { color: $text-error; }
        #containment-status.-closed { color: $text-success; }
    }
    """

    class Computed(Message, bubble=False):
        """The exposure (and containment) of the screen's pod is ready."""

        def __init__(self, exposure: Exposure, containment: Containment) -> None:
            super().__init__()
            self.exposure = exposure
            self.containment = containment

    def __init__(self, snapshot: Snapshot, pod: str, *, scope: Scope = "pod") -> None:
        super().__init__()
        self.snapshot = snapshot
        self.pod_key = pod
        self.scope: Scope = scope
        self.exposure: Exposure | None = None
        self.containment: Containment | None = None

    def compose(self) -> ComposeResult:
        yield SourceBar(id="source-bar")
        yield Static(Text(f"Exposure of {self.pod_key}: computing…"), id="exposure-header")
        with TabbedContent(id="exposure-tabs", initial="reaches"):
            with TabPane("Reaches", id="reaches"):
                yield DataTable(id="reaches-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Reached by", id="reached-by"):
                yield DataTable(id="reached-by-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Containment", id="containment"), VerticalScroll(id="containment-box"):
                yield Static(id="containment-commands")
                yield Static(id="containment-yaml")
                yield Static(id="containment-status")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        for table_id in ("#reaches-table", "#reached-by-table"):
            table = self.query_one(table_id, DataTable)
            table.add_columns("NAMESPACE", "WORKLOAD", "PODS", "PORTS", "EGRESS BY", "INGRESS BY")
        self.compute()

    # ------------------------------------------------------------------ work

    @work(
        thread=True,
        exclusive=True,
        group="exposure",
        exit_on_error=False,
        description="Computing the exposure",
    )
    def compute(self) -> None:
        from triage.policy.classes import compile_snapshot
        from triage.policy.exposure import compute_exposure, contain, find_pod

        pod, _ = find_pod(self.snapshot, self.pod_key)
        exposure = compute_exposure(self.snapshot, pod, compile_snapshot(self.snapshot))
        containment = contain(self.snapshot, pod, self.scope)
        self.post_message(self.Computed(exposure, containment))

    @on(Worker.StateChanged)
    def worker_failed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "exposure" and event.state == WorkerState.ERROR:
            error = event.worker.error
            text = error_line(error) if error is not None else "unknown error"
            self.query_one("#exposure-header", Static).update(Text(text, style="bold red"))

    @on(Computed)
    def show(self, message: Computed) -> None:
        self.exposure = message.exposure
        self.containment = message.containment
        self.query_one("#exposure-header", Static).update(self.header_text(message.exposure))
        self.fill(self.query_one("#reaches-table", DataTable), message.exposure.outbound)
        self.fill(self.query_one("#reached-by-table", DataTable), message.exposure.inbound)
        tabs = self.query_one(TabbedContent)
        tabs.get_tab("reaches").label = f"Reaches ({len(message.exposure.outbound)})"
        tabs.get_tab("reached-by").label = f"Reached by ({len(message.exposure.inbound)})"
        self.show_containment(message.containment)

    def header_text(self, exposure: Exposure) -> Text:
        pod = exposure.pod
        text = Text.assemble((f"{pod.key}", "bold"), f" (workload {exposure.workload})")
        for direction in ("Egress", "Ingress"):
            pols = exposure.policies[direction]
            deny = exposure.default_deny[direction]
            text.append(f"\n{direction}: ")
            if pols:
                text.append(f"isolated by {', '.join(pols)}", style="green")
            else:
                text.append("NOT isolated", style="bold red")
            text.append(f" · namespace default-deny: {', '.join(deny) if deny else 'none'}")
        outside = [e for e in exposure.external if e.direction == "Egress"]
        text.append(
            f"\nreaches {exposure.reachable_pods} pod(s), reached by "
            f"{exposure.reached_by_pods}; outside the cluster: "
            + (", ".join(f"{e.peer} {e.ports.describe()}" for e in outside) or "nothing")
        )
        return text

    def fill(self, table: DataTable[object], reaches: tuple[Reach, ...]) -> None:
        table.clear()
        for r in reaches:
            table.add_row(
                data_text(r.namespace),
                data_text(r.workload),
                str(len(r.pods)),
                _ports_cell(r),
                _side_cell(r.egress),
                _side_cell(r.ingress),
                key=f"{r.key}:{','.join(r.pods)}",
            )

    def show_containment(self, c: Containment) -> None:
        title = (
            "Quarantine the pod (keeps DNS)"
            if c.scope == "pod"
            else "Default-deny egress for the namespace (keeps DNS)"
        )
        commands = Text(title, style="bold")
        for i, command in enumerate(c.commands, 1):
            commands.append(f"\n{i}. {command}")
        if c.verification is not None:
            commands.append(f"\nverified: {c.verification.summary()}", style="dim")
        self.query_one("#containment-commands", Static).update(commands)
        text = yaml.safe_dump(c.manifest, sort_keys=False)
        self.query_one("#containment-yaml", Static).update(
            Syntax(text, "yaml", theme="ansi_dark", background_color="default")
        )
        status = self.query_one("#containment-status", Static)
        if c.residual or c.residual_inbound:
            lines = Text(
                "Still open afterwards: edit " + ", ".join(c.kept_open_by) + " to close it"
            )
            for r in c.residual:
                lines.append(f"\n→ {r.key}: {r.allowed.describe()}")
            for r in c.residual_inbound:
                lines.append(f"\n← {r.key}: {r.allowed.describe()}")
            status.set_classes("-open")
        else:
            lines = Text("Afterwards the pod reaches only DNS.")
            status.set_classes("-closed")
        for note in c.notes:
            lines.append(f"\nnote: {note}", style="dim")
        status.update(lines)

    # ------------------------------------------------------------------ actions

    @on(DataTable.RowSelected, "#reaches-table, #reached-by-table")
    def open_flow(self, event: DataTable.RowSelected) -> None:
        """`enter` on a row: the checklist of that flow (this pod → a pod of the row, or a
        pod of the row → this pod), on the row's first declared port."""
        from triage.ui.flows import flow_between

        exposure = self.exposure
        if exposure is None:
            return
        outbound = event.data_table.id == "reaches-table"
        rows = exposure.outbound if outbound else exposure.inbound
        if not 0 <= event.cursor_row < len(rows):
            return
        reach = rows[event.cursor_row]
        other = self.snapshot.pod(reach.namespace, reach.pods[0]) if reach.pods else None
        if other is None:
            return
        src, dst = (exposure.pod, other) if outbound else (other, exposure.pod)
        grant = reach.ports[0] if reach.ports else None
        flow = flow_between(
            src, dst, grant.port if grant else None, grant.protocol if grant else "TCP"
        )
        open_checklist = getattr(self.app, "open_checklist", None)
        if flow is None:
            self.notify("no declared port to check: type the flow with :flow")
        elif open_checklist is not None:
            open_checklist(flow)

    def action_back(self) -> None:
        self.dismiss()

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_toggle_scope(self) -> None:
        self.scope = "namespace" if self.scope == "pod" else "pod"
        self.query_one(TabbedContent).active = "containment"
        self.compute()
