"""Runbooks are data: YAML files of ordered steps (DESIGN.md "Checklist and probes").

The canonical files ship in the wheel under `triage/data/runbooks/`; the repository's
`runbooks/*.yaml` are symlinks to them. A runbook is schema-checked on load: a bad one raises
SourceError naming the file and the field (`steps[2].kubectl: unknown placeholder {pod}`).
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from triage.checklist.model import ChecklistContext, Runbook, StepSpec
from triage.model.untrusted import shell_quote
from triage.sources.errors import Problem, SourceError

# The placeholders a step's kubectl template may use; `render_kubectl` fills them.
PLACEHOLDERS: Mapping[str, str] = {
    "src_ns": "namespace of the source pod",
    "src_pod": "name of the source pod",
    "src": "the source as written: NS/POD or an IP",
    "dst_ns": "namespace of the destination (pod or Service)",
    "dst": "name of the destination pod or Service, or its IP",
    "dst_kind": "pod, svc or ip",
    "dst_pod": "name of the (first) destination pod, after Service resolution",
    "dst_ip": "IP of the destination: the Service ClusterIP, else the pod IP",
    "dst_fqdn": "DNS name of the destination Service (svc.cluster.local)",
    "dst_port": "the port to connect to at {dst_ip}: the Service port, else the pod port",
    "namespaces": "the source's and the destination's namespaces, each once",
    "port": "the flow's port (number or name)",
    "target_port": "the port the destination pod sees (after Service targetPort)",
    "protocol": "TCP, UDP or SCTP",
}

_STEP_FIELDS = {"id", "title", "text", "kubectl", "help", "live"}
_TOP_FIELDS = {"name", "title", "description", "steps"}


def _bundled_dir() -> Path:
    return Path(str(resources.files("triage") / "data" / "runbooks"))


def bundled_runbooks() -> list[str]:
    """Names of the runbooks shipped with the package."""
    return sorted(p.stem for p in _bundled_dir().glob("*.yaml"))


def _template_problems(template: str) -> list[str]:
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        return [f"bad template: {exc}"]
    out = []
    for name in fields:
        if name not in PLACEHOLDERS:
            known = ", ".join("{" + k + "}" for k in PLACEHOLDERS)
            out.append(f"unknown placeholder {{{name}}} (known: {known})")
    return out


def parse_runbook(data: Any, file: str) -> Runbook:
    """Check a runbook document and build it; every problem is reported, one line each."""
    from triage.checklist.steps import CHECKS

    problems: list[Problem] = []

    def bad(field: str, message: str) -> None:
        problems.append(Problem(file, "runbook", field, message))

    if not isinstance(data, Mapping):
        raise SourceError([Problem(file, "runbook", "", "expected a mapping at the top")])
    for key in sorted(set(data) - _TOP_FIELDS):
        bad(str(key), "unknown field")
    texts: dict[str, str] = {}
    for key in ("name", "title", "description"):
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            bad(key, "missing or not a non-empty string")
            value = ""
        texts[key] = value.strip()
    raw_steps = data.get("steps")
    steps: list[StepSpec] = []
    if not isinstance(raw_steps, list) or not raw_steps:
        bad("steps", "missing or not a non-empty list")
        raw_steps = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_steps):
        where = f"steps[{i}]"
        if not isinstance(raw, Mapping):
            bad(where, "expected a mapping")
            continue
        for key in sorted(set(raw) - _STEP_FIELDS):
            bad(f"{where}.{key}", "unknown field")
        values: dict[str, str] = {}
        for key in ("id", "title", "text", "kubectl"):
            value = raw.get(key)
            if not isinstance(value, str) or not value.strip():
                bad(f"{where}.{key}", "missing or not a non-empty string")
                value = ""
            values[key] = value.strip()
        help_text = raw.get("help", "")
        if not isinstance(help_text, str):
            bad(f"{where}.help", "expected a string")
            help_text = ""
        live = raw.get("live", False)
        if not isinstance(live, bool):
            bad(f"{where}.live", "expected true or false")
            live = False
        step_id = values["id"]
        if step_id and step_id not in CHECKS:
            bad(f"{where}.id", f"unknown step {step_id!r} (known: {', '.join(sorted(CHECKS))})")
        if step_id in seen:
            bad(f"{where}.id", f"duplicate step {step_id!r}")
        seen.add(step_id)
        for message in _template_problems(values["kubectl"]):
            bad(f"{where}.kubectl", message)
        steps.append(
            StepSpec(
                step_id,
                values["title"],
                values["text"],
                values["kubectl"],
                help_text.strip(),
                live,
            )
        )
    if problems:
        raise SourceError(problems)
    return Runbook(texts["name"], texts["title"], texts["description"], tuple(steps), file)


def _load_path(path: Path) -> Runbook:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SourceError.single(file, f"cannot read: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise SourceError.single(file, f"invalid YAML{where}") from None
    return parse_runbook(data, file)


def load_runbook(name_or_path: str | Path) -> Runbook:
    """A bundled runbook by name (`blocked-flow`), or a YAML file by path."""
    text = str(name_or_path)
    if isinstance(name_or_path, str) and "/" not in text and not text.endswith((".yaml", ".yml")):
        return _load_bundled(text)
    return _load_path(Path(text))


@lru_cache(maxsize=16)
def _load_bundled(name: str) -> Runbook:
    """Bundled runbooks are read once per process (every checklist context asks)."""
    path = _bundled_dir() / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(bundled_runbooks())
        raise SourceError.single(name, f"no bundled runbook of that name (bundled: {known})")
    return _load_path(path)


def placeholder_values(ctx: ChecklistContext) -> dict[str, str]:
    """The values of PLACEHOLDERS for a context's flow; unknown parts read `<...>`."""
    from triage.model import IPRef, PodRef, ServiceRef
    from triage.policy import UnknownEndpoint

    flow = ctx.flow
    snapshot = ctx.snapshot
    values = {k: f"<{k}>" for k in PLACEHOLDERS}
    values["src"] = str(flow.source)
    values["port"] = str(flow.port)
    values["target_port"] = str(flow.port)
    values["dst_port"] = str(flow.port)
    values["protocol"] = flow.protocol
    if isinstance(flow.source, PodRef):
        values["src_ns"] = flow.source.namespace
        values["src_pod"] = flow.source.name
    dst = flow.destination
    if isinstance(dst, PodRef):
        values.update(dst_ns=dst.namespace, dst=dst.name, dst_kind="pod", dst_pod=dst.name)
        pod = snapshot.pod(dst.namespace, dst.name)
        if pod is not None and pod.ips:
            values["dst_ip"] = pod.ips[0]
    elif isinstance(dst, ServiceRef):
        values.update(dst_ns=dst.namespace, dst=dst.name, dst_kind="svc")
        values["dst_fqdn"] = f"{dst.name}.{dst.namespace}.svc.cluster.local"
        service = snapshot.service(dst.namespace, dst.name)
        if service is not None and service.cluster_ip and service.cluster_ip != "None":
            values["dst_ip"] = service.cluster_ip
    elif isinstance(dst, IPRef):
        values.update(dst=dst.ip, dst_kind="ip", dst_ip=dst.ip)
        pod = snapshot.pods_by_ip.get(dst.ip)
        if pod is not None:
            values.update(dst_ns=pod.namespace, dst_pod=pod.name)
    spaces = [values["src_ns"], values["dst_ns"]]
    values["namespaces"] = " ".join(dict.fromkeys(n for n in spaces if not n.startswith("<")))
    try:
        explanation = ctx.explanation
    except UnknownEndpoint:
        return values
    primary = explanation.primary
    if primary is not None:
        if primary.destination.namespace and primary.destination.kind == "pod":
            values["dst_pod"] = primary.destination.name.split("/", 1)[1]
        if primary.port is not None:
            values["target_port"] = str(primary.port)
        if values["dst_ip"].startswith("<") and primary.destination.ip:
            values["dst_ip"] = primary.destination.ip
            if primary.port is not None:
                values["dst_port"] = str(primary.port)
    service_ip = explanation.service is not None and not isinstance(dst, IPRef)
    if service_ip and explanation.service and not values["dst_ip"].startswith("<"):
        values["dst_port"] = str(explanation.service.port)
    return values


def render_kubectl(template: str, ctx: ChecklistContext) -> str:
    """Fill a step's kubectl template for the context's flow. When source and destination
    share a namespace, `A && A` collapses to `A`: the operator should not run it twice."""
    # Every value is cleaned and shell-quoted (a pod may be named `web$(touch x)` on a live
    # cluster or in a hand-made recording): the command is offered for pasting.
    values = {
        key: " ".join(map(shell_quote, value.split(" ")))
        if key == "namespaces"
        else shell_quote(value)
        for key, value in placeholder_values(ctx).items()
    }
    rendered = template.format_map(values)
    commands = rendered.split(" && ")
    return " && ".join(c for i, c in enumerate(commands) if c not in commands[:i])
