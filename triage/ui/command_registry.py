"""The `:` commands (k9s command mode) and the command-palette provider built on them.

One registry serves the `:` prompt, the palette and `?` help. Adding a screen is one line in
`COMMANDS`: `screen_command(name, help, "module:Class")`; the class is imported when the
command runs and constructed as `Class(app.session)` (a `triage.ui.session.Session`; its
`read_only` says whether the screen may offer cluster-touching actions).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from textual.screen import Screen

    from triage.model.datapath import Aggregation
    from triage.ui.session import Session


class CommandHost(Protocol):
    """What a `:` command may ask of the app; `triage.ui.app.TriageApp` provides it. A
    protocol rather than an import: the app imports this registry, so the registry cannot
    import the app without an import cycle (the contracts in pyproject.toml forbid one)."""

    @property
    def session(self) -> Session | None: ...

    @property
    def runbook(self) -> str: ...

    def open_cluster(
        self, *, view: str = ..., namespace: str | None = ..., filter_text: str = ...
    ) -> None: ...

    def open_flow_picker(self, arg: str = ...) -> None: ...

    @property
    def datapath(self) -> Aggregation | None: ...

    def load_flow_log(self, path: str) -> object: ...

    def open_last_checklist(self) -> None: ...

    def use_runbook(self, name: str) -> None: ...

    def open_exposure(self, pod: str | None) -> None: ...

    def open_matrix(self, namespaces: list[str]) -> None: ...

    def action_help(self) -> None: ...

    def notify(self, message: str) -> None: ...

    def push_screen(self, screen: Screen[Any]) -> object: ...

    def exit(self) -> None: ...


Runner = Callable[[CommandHost, str], object]


@dataclass(frozen=True)
class Command:
    name: str
    help: str  # "area: verb" first, as the palette shows it
    run: Runner
    aliases: tuple[str, ...] = ()
    usage: str = ""  # ":ns NAME"
    touches_cluster: bool = False  # hidden in a replay (read-only)

    @property
    def title(self) -> str:
        return self.help.split(" — ", 1)[0]

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


def screen_command(
    name: str,
    help: str,
    target: str,
    *,
    aliases: tuple[str, ...] = (),
    touches_cluster: bool = False,
) -> Command:
    """A command that pushes the Screen class named `module:Class`, built from the session."""

    def run(app: CommandHost, arg: str) -> None:
        module, _, cls_name = target.partition(":")
        screen_cls = getattr(importlib.import_module(module), cls_name)
        app.push_screen(screen_cls(app.session))

    return Command(name, help, run, aliases, f":{name}", touches_cluster)


def _cluster(view: str) -> Runner:
    def run(app: CommandHost, arg: str) -> None:
        app.open_cluster(view=view, filter_text=arg)

    return run


def _namespace(app: CommandHost, arg: str) -> None:
    app.open_cluster(view="pods", namespace=arg or None)


def _flow(app: CommandHost, arg: str) -> None:
    app.open_flow_picker(arg)


def _flows(app: CommandHost, arg: str) -> None:
    if arg:
        app.load_flow_log(arg)
    elif app.datapath is None:
        app.notify("usage: :flows FILE (a Hubble or Calico flow log)")
    else:
        app.open_flow_picker()


def _checklist(app: CommandHost, arg: str) -> None:
    app.open_last_checklist()


def _runbook(app: CommandHost, arg: str) -> None:
    if arg:
        app.use_runbook(arg)
    else:
        from triage.checklist import bundled_runbooks

        app.notify(f"runbook {app.runbook}; bundled: {', '.join(bundled_runbooks())}")


def _exposure(app: CommandHost, arg: str) -> None:
    app.open_exposure(arg or None)


def _matrix(app: CommandHost, arg: str) -> None:
    app.open_matrix(arg.split())


def _help(app: CommandHost, arg: str) -> None:
    app.action_help()


def _quit(app: CommandHost, arg: str) -> None:
    app.exit()


COMMANDS: tuple[Command, ...] = (
    Command(
        "flow",
        "flow: pick a flow to triage — :flow SRC DST PORT starts it",
        _flow,
        usage=":flow [SRC DST PORT[/PROTO]]",
    ),
    Command(
        "flows",
        "flow: read a Hubble or Calico flow log — its drops become candidates",
        _flows,
        ("flowlog",),
        ":flows FILE",
    ),
    Command("checklist", "checklist: back to the last checklist", _checklist, ("cl",)),
    Command(
        "runbook",
        "checklist: follow another runbook — :runbook NAME",
        _runbook,
        ("rb",),
        ":runbook [NAME]",
    ),
    Command(
        "pods",
        "cluster: pods with labels, IPs, ports, owner",
        _cluster("pods"),
        ("po", "pod", "cluster"),
        ":pods [FILTER]",
    ),
    Command(
        "ns",
        "cluster: namespaces, or the pods of one — :ns NAME",
        _namespace,
        ("namespace", "namespaces"),
        ":ns [NAME]",
    ),
    Command(
        "netpol",
        "cluster: network policies and the pods they select",
        _cluster("policies"),
        ("np", "policies", "networkpolicies"),
        ":netpol [FILTER]",
    ),
    Command(
        "svc",
        "cluster: services and their backends",
        _cluster("services"),
        ("service", "services"),
        ":svc [FILTER]",
    ),
    screen_command(
        "rollback",
        "rollback: plan a rollback to a known-good policy set (a simulation in a replay)",
        "triage.ui.screens.rollback:RollbackScreen",
    ),
    screen_command(
        "rollout",
        "rollout: default-deny with allows from observed traffic (a simulation in a replay)",
        "triage.ui.screens.rollout:RolloutScreen",
    ),
    Command(
        "exposure",
        "exposure: what a pod reaches and what reaches it — :exposure NS/POD",
        _exposure,
        ("blast",),
        ":exposure [NS/POD]",
    ),
    Command(
        "matrix",
        "matrix: reachability between workloads — :matrix [NS...]",
        _matrix,
        (),
        ":matrix [NS...]",
    ),
    Command("help", "help: the keys of this screen", _help, ("h",)),
    Command("q", "quit: leave netpol-triage", _quit, ("quit", "q!")),
)


def available(app: CommandHost) -> list[Command]:
    read_only = app.session is None or app.session.read_only
    return [c for c in COMMANDS if not (c.touches_cluster and read_only)]


def find(app: CommandHost, name: str) -> Command | None:
    for command in available(app):
        if name in command.names:
            return command
    return None


def completions(app: CommandHost) -> list[str]:
    """What the `:` prompt completes: every command name, and `ns NAME` per namespace."""
    words = [name for c in available(app) for name in c.names]
    if app.session is not None:
        words += [f"ns {ns.name}" for ns in app.session.snapshot.namespaces]
    from triage.checklist import bundled_runbooks

    words += [f"runbook {name}" for name in bundled_runbooks()]
    return sorted(set(words))


class TriageCommands(Provider):
    """The `:` commands in the command palette, titled "area: verb"."""

    def _entries(self) -> Iterable[tuple[str, str, Callable[[], object]]]:
        app = cast(CommandHost, self.app)
        if app.session is None:
            return
        for command in available(app):
            yield command.title, command.usage or f":{command.name}", partial(command.run, app, "")

    async def discover(self) -> Hits:
        for title, help_text, callback in self._entries():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        app = cast(CommandHost, self.app)
        entries = list(self._entries())
        if app.session is not None:
            entries += [
                (f"namespace: {ns.name}", f":ns {ns.name}", partial(_namespace, app, ns.name))
                for ns in app.session.snapshot.namespaces
            ]
        for title, help_text, callback in entries:
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
