"""Pick the flow to triage: the candidate blocked flows (reported ones first), or a flow
typed with fuzzy completion of pods, Services, ports and protocols."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from triage.checklist import CandidateFlow, candidate_flows
from triage.model import (
    PROTOCOLS,
    Flow,
    FlowSyntaxError,
    IPRef,
    PodRef,
    ServiceRef,
    parse_endpoint,
    parse_flow,
)
from triage.model.untrusted import clean
from triage.ui.filtering import make_row
from triage.ui.fuzzy import Completion, rank
from triage.ui.safe_text import data_text
from triage.ui.session import Session
from triage.ui.widgets.inputs import TriageInput
from triage.ui.widgets.resource_table import Column, ResourceTable
from triage.ui.widgets.source_bar import SourceBar

FIELDS = ("source", "destination", "port", "protocol")
COMPLETIONS_SHOWN = 8


def endpoint_completions(session: Session, *, services: bool) -> list[Completion]:
    snapshot = session.snapshot
    out = [
        Completion(p.key, f"{p.key}  pod {','.join(p.ips)}")
        for p in sorted(snapshot.pods, key=lambda p: p.key)
    ]
    if services:
        out += [
            Completion(
                f"{s.namespace}/svc/{s.name}",
                f"{s.namespace}/svc/{s.name}  service {s.cluster_ip or ''}",
            )
            for s in sorted(snapshot.services, key=lambda s: s.key)
        ]
    return out


def port_completions(session: Session, destination: str) -> list[Completion]:
    """The destination's ports: a Service's ports, or the container ports of a pod (found by
    name or IP). Named ports are offered by name too; 53/UDP and 53/TCP are two entries."""
    snapshot = session.snapshot
    try:
        ref = parse_endpoint(destination, role="destination")
    except FlowSyntaxError:
        return []
    out: list[Completion] = []
    if isinstance(ref, ServiceRef):
        svc = snapshot.service(ref.namespace, ref.name)
        for sp in svc.ports if svc else ():
            hint = f"{sp.port}/{sp.protocol} → targetPort {sp.target_port}"
            search = f"{sp.port} {sp.name or ''}".strip()
            out.append(Completion(str(sp.port), f"{sp.port}  {hint}", search, sp.protocol))
            if sp.name:
                out.append(Completion(sp.name, f"{sp.name}  {hint}", search, sp.protocol))
        return out
    pod = (
        snapshot.pod(ref.namespace, ref.name)
        if isinstance(ref, PodRef)
        else snapshot.pods_by_ip.get(ref.ip)
    )
    for container in pod.containers if pod else ():
        for cp in container.ports:
            hint = f"{cp.port}/{cp.protocol} container {container.name}"
            search = f"{cp.port} {cp.name or ''}".strip()
            out.append(Completion(str(cp.port), f"{cp.port}  {hint}", search, cp.protocol))
            if cp.name:
                out.append(Completion(cp.name, f"{cp.name}  {hint}", search, cp.protocol))
    return out


class FlowPickerScreen(Screen[None]):
    HELP = """\
Pick a flow. `enter` on a candidate starts its checklist. Or type one: the source (a pod,
NS/POD, or an IP), the destination (a pod, NS/svc/SERVICE, or an IP), the port (completed
from the destination's container and Service ports, names too) and the protocol.
In a field, `↑`/`↓` move in the completions and `enter`/`tab` take one; `enter` on a
complete flow starts the checklist."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f2", "cluster", "Cluster", id="flow.cluster"),
        Binding("f3", "focus_candidates", "Candidates", id="flow.candidates"),
        Binding("escape", "clear", "Clear", id="flow.clear"),
        Binding("down", "completion(1)", "Next", show=False),
        Binding("up", "completion(-1)", "Previous", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.candidates: list[CandidateFlow] = []
        self._completions: dict[str, list[Completion]] = {}
        self._shown: list[Completion] = []  # the completions in the list, in order

    @property
    def session(self) -> Session:
        session = self.app.session  # type: ignore[attr-defined]
        assert session is not None
        return session  # type: ignore[no-any-return]

    def compose(self) -> ComposeResult:
        yield SourceBar(id="source-bar")
        with Vertical(id="flow-form") as form:
            form.border_title = "Flow"
            with Grid(id="flow-fields"):
                yield Label("Source", classes="field-label")
                yield TriageInput(placeholder="NS/POD or IP", id="source", classes="field")
                yield Label("Destination", classes="field-label")
                yield TriageInput(
                    placeholder="NS/POD, NS/svc/SERVICE or IP", id="destination", classes="field"
                )
                yield Label("Port", classes="field-label")
                yield TriageInput(placeholder="number or name", id="port", classes="field")
                yield Label("Protocol", classes="field-label")
                yield TriageInput(placeholder="TCP", id="protocol", classes="field")
            yield OptionList(id="completions")
            yield Static(id="flow-message")
        with Vertical(id="candidates-pane") as pane:
            pane.border_title = "Candidate blocked flows"
            pane.border_subtitle = "enter starts the checklist"
            yield ResourceTable(
                [
                    Column("WHY", 20),
                    Column("SOURCE", 26, elide="middle"),
                    Column("DESTINATION", 26, elide="middle"),
                    Column("PORT", 12),
                    Column("REASON", 200, dim=True),
                ],
                id="candidates",
                empty_text="finding candidate flows…",
            )
            # The highlighted candidate in full: a cut cell is never the only way to read it.
            yield Static(id="candidate-detail", markup=False)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#completions", OptionList).display = False
        self.show_message(self.load_warnings())
        self.query_one("#candidates", ResourceTable).focus()
        # After the first paint: on 10k pods the search holds the GIL for seconds.
        self.call_after_refresh(self.find_candidates)

    def load_warnings(self) -> Text | None:
        """What loading had to say, kept on screen (a toast would vanish before a
        3 a.m. reader sees it)."""
        warnings = self.session.warnings
        if not warnings:
            return None
        text = Text()
        for warning in warnings[:3]:
            text.append("warning: ", "bold yellow").append(f"{clean(warning)}\n")
        if len(warnings) > 3:
            text.append(f"… and {len(warnings) - 3} more warnings", "italic")
        text.rstrip()  # in place: Text.rstrip() returns None, so never `return text.rstrip()`
        return text

    def show_message(self, content: Text | None) -> None:
        message = self.query_one("#flow-message", Static)
        message.display = content is not None
        message.update(content or "")

    # ------------------------------------------------------------------ candidates

    @work(
        thread=True,
        exclusive=True,
        group="candidates",
        exit_on_error=False,
        description="Finding candidate flows",
    )
    def find_candidates(self) -> None:
        session = self.session
        known_good = getattr(self.app, "known_good", None)
        found = candidate_flows(session.snapshot, session.incident, known_good=known_good)
        datapath = self.app.datapath  # type: ignore[attr-defined]
        if datapath is not None:
            from triage.checklist.datapath import datapath_candidates

            captured = session.incident.meta.captured_at if session.incident else ""
            seen = datapath_candidates(session.snapshot, datapath, captured)
            flows = {c.flow for c in seen}
            found = [*seen, *(c for c in found if c.flow not in flows)]
        # Stable: reported first, then what the datapath dropped (most drops first).
        found.sort(key=lambda c: {"reported": 0, "datapath": 1}.get(c.source, 2))
        self.app.call_from_thread(self.show_candidates, found)

    def show_candidates(self, found: list[CandidateFlow]) -> None:
        self.candidates = found
        table = self.query_one("#candidates", ResourceTable)
        table.empty_text = "no candidate flows: type one above"
        rows = [
            make_row(
                str(i),
                cand,
                [
                    cand.source,
                    str(cand.flow.source),
                    str(cand.flow.destination),
                    f"{cand.flow.port}/{cand.flow.protocol}",
                    cand.reason,
                ],
            )
            for i, cand in enumerate(found)
        ]
        table.fit_columns(rows)
        table.show(rows)
        if not rows and table.has_focus:
            self.query_one("#source", Input).focus()

    @on(Worker.StateChanged)
    def candidates_failed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "candidates" and event.state == WorkerState.ERROR:
            error = event.worker.error
            table = self.query_one("#candidates", ResourceTable)
            table.empty_text = f"could not look for candidate flows: {error!r}; type a flow above"
            table.show([])

    @on(ResourceTable.RowHighlighted, "#candidates")
    def candidate_highlighted(self, event: ResourceTable.RowHighlighted) -> None:
        detail = self.query_one("#candidate-detail", Static)
        if event.row is None:
            detail.update("")
            return
        cand: CandidateFlow = event.row.item
        detail.update(Text.assemble((str(cand.flow), "bold"), "  ", (clean(cand.reason), "italic")))

    @on(ResourceTable.RowSelected, "#candidates")
    def candidate_selected(self, event: ResourceTable.RowSelected) -> None:
        self.app.open_checklist(event.row.item.flow)  # type: ignore[attr-defined]

    def action_focus_candidates(self) -> None:
        self.query_one("#candidates", ResourceTable).focus()

    def action_cluster(self) -> None:
        self.app.open_cluster()  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ completion

    def completions_for(self, field: str) -> list[Completion]:
        if field == "source":
            if "source" not in self._completions:
                self._completions["source"] = endpoint_completions(self.session, services=False)
            return self._completions["source"]
        if field == "destination":
            if "destination" not in self._completions:
                self._completions["destination"] = endpoint_completions(self.session, services=True)
            return self._completions["destination"]
        if field == "port":
            return port_completions(self.session, self.value("destination"))
        return [Completion(p, p) for p in PROTOCOLS]

    def value(self, field: str) -> str:
        return self.query_one(f"#{field}", Input).value.strip()

    def update_completions(self, field: str) -> None:
        option_list = self.query_one("#completions", OptionList)
        matches = rank(self.value(field), self.completions_for(field), COMPLETIONS_SHOWN)
        if len(matches) == 1 and matches[0].value == self.value(field):
            matches = []  # nothing left to complete
        self._shown = matches
        option_list.clear_options()
        # No option ids: 53/UDP and 53/TCP both complete to "53".
        option_list.add_options(Option(data_text(m.display)) for m in matches)
        option_list.display = bool(matches)
        # Highlight the first match once something is typed, or for ports and protocols
        # (few, and all relevant): enter then takes it.
        if matches and (self.value(field) or field in ("port", "protocol")):
            option_list.highlighted = 0

    def focused_field(self) -> str | None:
        focused = self.focused
        if isinstance(focused, Input) and focused.id in FIELDS:
            return focused.id
        return None

    @on(Input.Changed, ".field")
    def field_changed(self, event: Input.Changed) -> None:
        self.show_message(None)
        if event.input.has_focus and event.input.id is not None:
            self.update_completions(event.input.id)

    def on_descendant_focus(self) -> None:
        field = self.focused_field()
        if field is None:
            self.query_one("#completions", OptionList).display = False
        else:
            self.update_completions(field)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "completion":
            return self.focused_field() is not None
        return True

    def action_completion(self, delta: int) -> None:
        option_list = self.query_one("#completions", OptionList)
        if not option_list.display or option_list.option_count == 0:
            return
        current = option_list.highlighted
        nxt = 0 if current is None else (current + delta) % option_list.option_count
        option_list.highlighted = nxt

    def accept_completion(self, field: str) -> bool:
        option_list = self.query_one("#completions", OptionList)
        index = option_list.highlighted
        if not option_list.display or index is None:
            return False
        chosen = self._shown[index]
        value = chosen.value
        field_input = self.query_one(f"#{field}", Input)
        with self.prevent(Input.Changed):
            field_input.value = value
        field_input.cursor_position = len(value)
        option_list.display = False
        if chosen.protocol:
            self.query_one("#protocol", Input).value = chosen.protocol
        return True

    @on(OptionList.OptionSelected, "#completions")
    def completion_clicked(self, event: OptionList.OptionSelected) -> None:
        field = self._last_field
        if field is not None:
            self.query_one("#completions", OptionList).highlighted = event.option_index
            self.accept_completion(field)
            self.query_one(f"#{field}", Input).focus()

    _last_field: str | None = None

    def on_descendant_blur(self) -> None:
        self._last_field = self.focused_field() or self._last_field

    @on(Input.Submitted, ".field")
    def field_submitted(self, event: Input.Submitted) -> None:
        field = event.input.id or ""
        self.accept_completion(field)
        flow = self.flow_from_fields(quiet=True)
        if flow is not None:
            self.app.open_checklist(flow)  # type: ignore[attr-defined]
            return
        for name in FIELDS:
            if not self.value(name) and name != "protocol":
                self.query_one(f"#{name}", Input).focus()
                return
        self.flow_from_fields(quiet=False)  # says what is wrong

    def flow_from_fields(self, *, quiet: bool) -> Flow | None:
        values = {f: self.value(f) for f in FIELDS}
        if not (values["source"] and values["destination"] and values["port"]):
            return None
        return self.check_flow(
            values["source"],
            values["destination"],
            values["port"],
            values["protocol"] or "TCP",
            quiet=quiet,
        )

    def check_flow(
        self, source: str, destination: str, port: str, protocol: str, *, quiet: bool
    ) -> Flow | None:
        try:
            flow = parse_flow(source, destination, port, protocol)
        except FlowSyntaxError as exc:
            if not quiet:
                self.show_message(Text(str(exc), style="bold red"))
            return None
        missing = [str(ep) for ep in (flow.source, flow.destination) if not self.exists(ep)]
        if missing:
            if not quiet:
                self.show_message(Text(f"not in this cluster: {', '.join(missing)}", "bold red"))
            return None
        return flow

    def exists(self, endpoint: PodRef | ServiceRef | IPRef) -> bool:
        snapshot = self.session.snapshot
        if isinstance(endpoint, PodRef):
            return snapshot.pod(endpoint.namespace, endpoint.name) is not None
        if isinstance(endpoint, ServiceRef):
            return snapshot.service(endpoint.namespace, endpoint.name) is not None
        return True

    # ------------------------------------------------------------------ API for others

    def set_endpoint(self, role: str, text: str) -> None:
        """The cluster screen's `s`/`t`: fill a field, focus the next empty one."""
        self.query_one(f"#{role}", Input).value = text
        for name in FIELDS[:3]:
            if not self.value(name):
                self.query_one(f"#{name}", Input).focus()
                return
        self.query_one(f"#{role}", Input).focus()

    def start_from_text(self, text: str) -> None:
        """`:flow SRC DST PORT[/PROTO]` — straight to the checklist when it parses."""
        parts = text.split()
        if len(parts) not in (3, 4):
            self.show_message(Text("usage: :flow SRC DST PORT[/PROTO] [PROTO]", style="bold red"))
            return
        for name, value in zip(FIELDS, parts, strict=False):
            with self.prevent(Input.Changed):
                self.query_one(f"#{name}", Input).value = value
        protocol = parts[3] if len(parts) == 4 else "TCP"
        flow = self.check_flow(parts[0], parts[1], parts[2], protocol, quiet=False)
        if flow is not None:
            self.app.open_checklist(flow)  # type: ignore[attr-defined]

    def action_clear(self) -> None:
        option_list = self.query_one("#completions", OptionList)
        if option_list.display:
            option_list.display = False
            return
        # "esc Clear": the typed flow, wherever the focus is (the candidates included).
        if self.focused_field() is not None or any(self.value(name) for name in FIELDS):
            for name in FIELDS:
                self.query_one(f"#{name}", Input).value = ""
            self.show_message(None)
            self.query_one("#candidates", ResourceTable).focus()
