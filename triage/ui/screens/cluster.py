"""The cluster: namespaces, pods, policies and services, with `/` filters that stay fast at
10k pods, the policies that select a pod, and the YAML of anything (`y`)."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer, Input, Static

from triage.model import Namespace, NetworkPolicy, Pod, Service
from triage.model.untrusted import clean
from triage.policy import policies_selecting
from triage.ui.cluster_index import ClusterIndex, describe_ports
from triage.ui.filtering import FilterSyntaxError, Query, apply, format_labels, parse_query
from triage.ui.safe_text import data_block
from triage.ui.widgets.inputs import TriageInput
from triage.ui.widgets.resource_table import Column, ResourceTable
from triage.ui.widgets.source_bar import SourceBar

VIEWS = ("pods", "policies", "services")
TITLES = {"pods": "Pods", "policies": "Network policies", "services": "Services"}
DETAIL_LIMIT = 12  # names listed in a detail before "and N more"


def _names(items: list[str]) -> str:
    if not items:
        return "none"
    shown = ", ".join(items[:DETAIL_LIMIT])
    more = len(items) - DETAIL_LIMIT
    return shown + (f" … and {more} more" if more > 0 else "")


class _Grid:
    """Two columns, name and value; values are plain text (labels may hold `[`), cleaned of
    control characters (an owner's name or a node's is free text in a recording)."""

    def __init__(self) -> None:
        self.table = Table.grid(padding=(0, 2))
        self.table.add_column(style="bold", no_wrap=True)
        self.table.add_column()

    def add_row(self, name: str, value: str | Text) -> None:
        self.table.add_row(Text(name), value if isinstance(value, Text) else data_block(value))


class ClusterScreen(Screen[None]):
    HELP = """\
The cluster as loaded: namespaces on the left, then pods, network policies or services.
`/` filters the list: plain text matches any column, `!text` inverts, `-l app=web,tier!=db`
filters by labels (`k`, `!k`, `k in (a,b)` too). `esc` clears the filter, then goes back.
`s`/`t` take the selected pod as the flow's source/destination in the flow picker; `x`
shows a pod's exposure (what it reaches, what reaches it); `m` the reachability matrix of
the selected namespace (all namespaces: `0` first)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="cluster.back"),
        Binding("slash", "filter", "Filter", key_display="/", id="cluster.filter"),
        Binding("1", "view('pods')", "Pods", id="cluster.pods"),
        Binding("2", "view('policies')", "Policies", id="cluster.policies"),
        Binding("3", "view('services')", "Services", id="cluster.services"),
        Binding("0", "all_namespaces", "All namespaces", show=False, id="cluster.all"),
        Binding("y", "yaml", "YAML", id="cluster.yaml"),
        Binding("x", "exposure", "Exposure", id="cluster.exposure"),
        Binding("m", "matrix", "Matrix", id="cluster.matrix"),
        Binding("s", "use_as('source')", "Flow source", show=False, id="cluster.source"),
        Binding(
            "t", "use_as('destination')", "Flow destination", show=False, id="cluster.destination"
        ),
    ]

    def __init__(
        self, *, view: str = "pods", namespace: str | None = None, filter_text: str = ""
    ) -> None:
        super().__init__()
        self.view = view if view in VIEWS else "pods"
        self.namespace = namespace
        self.filter_text = filter_text
        self.query_error = ""

    @property
    def index(self) -> ClusterIndex:
        return self.app.cluster_index  # type: ignore[attr-defined, no-any-return]

    def compose(self) -> ComposeResult:
        yield SourceBar(id="source-bar")
        with Horizontal(id="cluster-main"):
            with Vertical(id="ns-pane"):
                yield ResourceTable(
                    [Column("NAMESPACE", 18), Column("PODS", 5)],
                    id="namespaces",
                )
            with Vertical(id="list-pane"):
                yield Static(id="list-title")
                with ContentSwitcher(initial=self.view, id="views"):
                    yield ResourceTable(
                        [
                            Column("NAMESPACE", 14),
                            Column("NAME", 30),
                            Column("IP", 15),
                            Column("PORTS", 16),
                            Column("LABELS", 60, dim=True),
                            Column("OWNER", 40, dim=True),
                        ],
                        id="pods",
                        empty_text="no pods match",
                    )
                    yield ResourceTable(
                        [
                            Column("NAMESPACE", 16),
                            Column("NAME", 36),
                            Column("POD SELECTOR", 40),
                            Column("TYPES", 14),
                            Column("PODS", 6),
                        ],
                        id="policies",
                        empty_text="no policies match",
                    )
                    yield ResourceTable(
                        [
                            Column("NAMESPACE", 16),
                            Column("NAME", 30),
                            Column("CLUSTER-IP", 16),
                            Column("PORTS", 30),
                            Column("SELECTOR", 60, dim=True),
                        ],
                        id="services",
                        empty_text="no services match",
                    )
        with VerticalScroll(id="details"):
            yield Static(id="details-body")
        yield TriageInput(placeholder="filter: text, !text, or -l key=value", id="filter")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        namespaces = self.query_one("#namespaces", ResourceTable)
        namespaces.fit_columns(self.index.namespace_rows)
        namespaces.show(self.index.namespace_rows, keep=self.namespace or "*")
        for view in VIEWS:
            self.query_one(f"#{view}", ResourceTable).fit_columns(self.index.rows(view, None))
        filter_input = self.query_one("#filter", Input)
        filter_input.display = bool(self.filter_text)
        with self.prevent(Input.Changed):
            filter_input.value = self.filter_text
        self.refresh_list()
        self.current_table.focus()

    # ------------------------------------------------------------------ state

    @property
    def current_table(self) -> ResourceTable:
        return self.query_one(f"#{self.view}", ResourceTable)

    def configure(self, *, view: str, namespace: str | None, filter_text: str) -> None:
        """`:pods`, `:ns NAME`, `:netpol` while this screen is already shown."""
        self.view = view if view in VIEWS else self.view
        if namespace is not None:
            self.namespace = namespace
            self.query_one("#namespaces", ResourceTable).show(
                self.index.namespace_rows, keep=namespace
            )
        self.filter_text = filter_text
        filter_input = self.query_one("#filter", Input)
        with self.prevent(Input.Changed):
            filter_input.value = filter_text
        filter_input.display = bool(filter_text)
        self.query_one("#views", ContentSwitcher).current = self.view
        self.refresh_list()
        self.current_table.focus()

    def parsed_query(self) -> Query:
        try:
            query = parse_query(self.filter_text)
        except FilterSyntaxError as exc:
            self.query_error = str(exc)
            return Query()
        self.query_error = ""
        return query

    def refresh_list(self) -> None:
        """Re-filter the current view: one pass over pre-built rows, then a redraw."""
        base = self.index.rows(self.view, self.namespace)
        query = self.parsed_query()
        rows = apply(base, query)
        table = self.current_table
        keep = table.current.key if table.current is not None else None
        table.show(rows, keep=keep)
        where = self.namespace or "all namespaces"
        title = Text.assemble((TITLES[self.view], "bold"), f" · {where} · ")
        title.append(f"{len(rows)} of {len(base)}")
        if self.filter_text:
            title.append(f"  filter: {self.filter_text}", "italic")
        if self.query_error:
            title.append(f"  ({self.query_error})", "bold red")
        self.query_one("#list-title", Static).update(title)

    # ------------------------------------------------------------------ events

    @on(ResourceTable.RowHighlighted, "#namespaces")
    def namespace_highlighted(self, event: ResourceTable.RowHighlighted) -> None:
        item = event.row.item if event.row is not None else None
        name = item.name if isinstance(item, Namespace) else None
        if name != self.namespace:
            self.namespace = name
            self.refresh_list()
        if self.query_one("#namespaces").has_focus:
            self.show_details(item)

    @on(ResourceTable.RowSelected, "#namespaces")
    def namespace_selected(self) -> None:
        self.current_table.focus()

    @on(ResourceTable.RowHighlighted, "#pods, #policies, #services")
    def item_highlighted(self, event: ResourceTable.RowHighlighted) -> None:
        if event.table is self.current_table:
            self.show_details(event.row.item if event.row is not None else None)

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self.refresh_list()

    @on(Input.Submitted, "#filter")
    def filter_submitted(self) -> None:
        self.current_table.focus()

    # ------------------------------------------------------------------ actions

    def action_filter(self) -> None:
        filter_input = self.query_one("#filter", Input)
        filter_input.display = True
        filter_input.focus()

    def action_back(self) -> None:
        filter_input = self.query_one("#filter", Input)
        if self.filter_text or filter_input.has_focus:
            filter_input.value = ""  # Changed → refresh_list
            filter_input.display = False
            self.filter_text = ""
            self.refresh_list()
            self.current_table.focus()
            return
        self.dismiss()

    def action_view(self, view: str) -> None:
        self.view = view
        self.query_one("#views", ContentSwitcher).current = view
        self.refresh_list()
        self.current_table.focus()

    def action_all_namespaces(self) -> None:
        self.query_one("#namespaces", ResourceTable).show(self.index.namespace_rows, keep="*")

    def selected_object(self) -> Any:
        focused = self.focused
        if isinstance(focused, ResourceTable) and focused.current is not None:
            return focused.current.item
        row = self.current_table.current
        return row.item if row is not None else None

    def action_yaml(self) -> None:
        from triage.ui.screens.yaml_view import YamlScreen

        obj = self.selected_object()
        if obj is None:
            self.notify("nothing selected", severity="warning")
            return
        name = obj.name if isinstance(obj, Namespace) else obj.key
        title = f"{type(obj).__name__} {name}"
        self.app.push_screen(YamlScreen(title, self.index.manifest(obj)))

    def action_exposure(self) -> None:
        obj = self.selected_object()
        if not isinstance(obj, Pod):
            self.notify("select a pod: x shows what it reaches and what reaches it")
            return
        self.app.open_exposure(obj.key)  # type: ignore[attr-defined]

    def action_matrix(self) -> None:
        """The matrix of the selected namespace, or of the whole cluster."""
        self.app.open_matrix([self.namespace] if self.namespace else [])  # type: ignore[attr-defined]

    def action_use_as(self, role: str) -> None:
        obj = self.selected_object()
        if isinstance(obj, Pod):
            text = obj.key
        elif isinstance(obj, Service):
            text = f"{obj.namespace}/svc/{obj.name}"
        else:
            self.notify("select a pod or a service", severity="warning")
            return
        self.app.set_flow_endpoint(role, text)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ details

    _shown: Any = None

    def show_details(self, item: Any) -> None:
        if item is not None and item is self._shown:
            return  # a filter keystroke that kept the same row: no re-render, no relayout
        self._shown = item
        body = self.query_one("#details-body", Static)
        details = self.query_one("#details", VerticalScroll)
        if isinstance(item, Pod):
            details.border_title = escape(f"Pod {clean(item.key)}")
            body.update(self.pod_details(item))
        elif isinstance(item, NetworkPolicy):
            details.border_title = escape(f"NetworkPolicy {clean(item.key)}")
            body.update(self.policy_details(item))
        elif isinstance(item, Service):
            details.border_title = escape(f"Service {clean(item.key)}")
            body.update(self.service_details(item))
        elif isinstance(item, Namespace):
            details.border_title = escape(f"Namespace {clean(item.name)}")
            body.update(self.namespace_details(item))
        else:
            details.border_title = "Details"
            body.update(Text("select a row", style="italic"))

    def pod_details(self, pod: Pod) -> RenderableType:
        grid = _Grid()
        grid.add_row("labels", format_labels(pod.labels) or "none")
        grid.add_row("IPs", ", ".join(pod.ips) or "none")
        grid.add_row("ports", describe_ports(pod) or "none declared")
        grid.add_row("owner", f"{pod.owner} (workload {pod.workload})" if pod.owner else "none")
        grid.add_row("node · phase", f"{pod.node or '?'} · {pod.phase or '?'}")
        selecting = policies_selecting(self.index.snapshot, pod)
        for direction in ("Ingress", "Egress"):
            pols = [p.key for p in selecting.get(direction, [])]
            if pols:
                grid.add_row(f"{direction.lower()} policies", _names(pols))
            else:
                grid.add_row(
                    f"{direction.lower()} policies",
                    Text(f"none: not isolated for {direction.lower()}", style="italic"),
                )
        parts: list[RenderableType] = [grid.table]
        if pod.host_network:
            parts.append(
                Text("hostNetwork: most CNIs do not enforce policies on it", style="bold yellow")
            )
        return Group(*parts)

    def policy_details(self, pol: NetworkPolicy) -> RenderableType:
        grid = _Grid()
        grid.add_row("pod selector", pol.pod_selector.describe())
        grid.add_row("types", ", ".join(pol.policy_types))
        grid.add_row("rules", f"{len(pol.ingress)} ingress, {len(pol.egress)} egress")
        selected = [p.name for p in self.index.selected_pods(pol)]
        grid.add_row(f"selects {len(selected)} pods", _names(selected))
        return grid.table

    def service_details(self, svc: Service) -> RenderableType:
        grid = _Grid()
        grid.add_row("selector", format_labels(svc.selector) if svc.selector else "none")
        grid.add_row("type · IP", f"{svc.type} · {svc.cluster_ip or 'none'}")
        ports = ", ".join(
            f"{p.port}/{p.protocol} → {p.target_port}" + (f" ({p.name})" if p.name else "")
            for p in svc.ports
        )
        grid.add_row("ports", ports or "none")
        grid.add_row("backends", _names([p.name for p in self.index.backends(svc)]))
        return grid.table

    def namespace_details(self, ns: Namespace) -> RenderableType:
        grid = _Grid()
        grid.add_row("labels", format_labels(ns.labels) or "none")
        pods = self.index.snapshot.pods_by_namespace.get(ns.name, ())
        grid.add_row("pods", str(len(pods)))
        pols = [p.name for p in self.index.snapshot.policies_by_namespace.get(ns.name, ())]
        grid.add_row("policies", _names(pols))
        if ns.synthesized:
            grid.add_row("note", Text("not in the source: made up from its pods", "yellow"))
        return grid.table
