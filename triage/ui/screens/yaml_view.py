"""`y`: the YAML of the selected object, k9s style (`esc`/`q` back, `c` copy)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import yaml
from rich.syntax import Syntax
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from triage.model.untrusted import clean, clean_lines


def to_yaml(manifest: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(manifest), sort_keys=False, default_flow_style=False)


class YamlScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,y", "dismiss", "Back", id="yaml.back"),
        Binding("c", "copy", "Copy", id="yaml.copy"),
    ]

    def __init__(self, title: str, manifest: Mapping[str, Any]) -> None:
        super().__init__()
        self.title_text = title
        self.text = to_yaml(manifest)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="yaml-box") as box:
            box.border_title = escape(clean(self.title_text))
            box.border_subtitle = "c copies · esc back"
            yield Static(
                Syntax(
                    clean_lines(self.text), "yaml", theme="ansi_dark", background_color="default"
                ),
                id="yaml-body",
            )
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#yaml-box").focus()

    def action_copy(self) -> None:
        from triage.ui.widgets.command_dialog import copy_or_show

        copy_or_show(self.app, f"YAML of {self.title_text}", self.text)
