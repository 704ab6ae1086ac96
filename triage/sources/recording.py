"""Recorded incidents: one versioned YAML file per incident (docs/architecture.md "Sources").

```
apiVersion: triage/v1
kind: Incident
metadata: {title, cluster, context, capturedAt, runbook, summary}
namespaces / pods / services / networkPolicies: [manifests]
flows: [{from, to, port, protocol, note}]
probes: [{kind, source, target, port, protocol, outcome, output, durationMs, at}]
knownGood: [{name, capturedAt, networkPolicies, namespaceLabels, podLabels}]
notes: [{at, text}]
datapath: {source, records, replies, flows: [...]}   (optional; triage/sources/datapath_doc.py)
```

Loading validates the file against `triage/data/incident.schema.json` (errors name the field:
`incident.yaml: probes[2].outcome: 'maybe' is not one of [...]`), then runs the objects
through the manifest parser, so a broken policy names its field as it would from
`--manifests`. `metadata.runbook`, when set, must name a bundled runbook
(`triage/data/runbooks`): a recording travels, a path on the recorder's disk would not.
Writing serializes every object through the allow-list of `triage.sources.redact` and
replaces the file atomically. `load_incident(write_incident(x))` equals `x`.

Machine-written recordings are indented JSON after a `#` comment header. Every JSON
document is a YAML document, so the file is YAML as before, but JSON reads and writes
tens of times faster than PyYAML (a 10k-pod recording: ~0.2 s each way instead of 7-13 s).
Reading takes the JSON path whenever the file is JSON that YAML reads the same way, and
YAML otherwise: hand-written block YAML (the bundled incidents) reads as it always did,
with the same errors and line numbers. A document with a value JSON cannot carry
faithfully (a non-string key, an infinite float, a `str` subclass) is written as block
YAML, the old way. A valid file is checked against the schema by a compiled check
(`schemacheck`); jsonschema runs only to name the fields of an invalid one.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar, cast

import yaml

from triage.files import write_private_stream
from triage.model import (
    Endpoint,
    FlowSyntaxError,
    NetworkPolicy,
    PodRef,
    ServiceRef,
    Snapshot,
    parse_flow,
)
from triage.model.admin import AdminPolicy
from triage.model.incident import (
    Incident,
    IncidentMeta,
    KnownGood,
    Note,
    ProbeKind,
    ProbeOutcome,
    ProbeRecord,
    ReportedFlow,
)
from triage.model.manifest import (
    namespace_manifest,
    pod_manifest,
    policy_manifest_from_model,
    service_manifest,
)
from triage.model.untrusted import clean, clean_lines, preview
from triage.sources.apinames import label_key, label_value
from triage.sources.assemble import Document, Origins, assemble, flatten, gc_paused
from triage.sources.datapath_doc import datapath_from_document, datapath_to_document
from triage.sources.errors import Problem, SourceError
from triage.sources.parse import (
    describe_object,
    parse_namespace,
    parse_network_policy,
    parse_pod,
    parse_service,
)
from triage.sources.parse_admin import admin_policy_manifest, parse_admin_policy
from triage.sources.reader import InputError, load_yaml, no_duplicate_keys, read_text
from triage.sources.redact import RECORDABLE_KINDS, redact_manifest
from triage.sources.schemacheck import Check, compile_check

if TYPE_CHECKING:
    import jsonschema

API_VERSION = "triage/v1"
KIND = "Incident"
SUPPORTED_VERSIONS: tuple[str, ...] = (API_VERSION,)

# The bundled incident `triage demo` opens: a failed rollout has a blocked flow to walk
# through, a "what changed" against known-good, and a rollback to stage.
DEMO_INCIDENT = "failed-rollout"

# `Incident.extra[MANIFESTS]`: the source manifest of each object, keyed (kind, key), so a
# rewrite keeps what the model does not (uids, owner apiVersions, container statuses).
MANIFESTS = "manifests"

# `Incident.extra[PARSED]`: (kind, key) → (object, manifest) for the objects parsed from an
# allow-listed manifest (what the recorder builds). Writing such an object, if the snapshot
# still holds that very object, writes that manifest as it is: no second redaction, no
# re-parse to check that it still describes the object.
PARSED = "parsed"

# The most schema errors reported for one file; the rest are counted.
MAX_SCHEMA_ERRORS = 30

_SECTIONS: tuple[tuple[str, str], ...] = (
    ("namespaces", "Namespace"),
    ("pods", "Pod"),
    ("services", "Service"),
    ("networkPolicies", "NetworkPolicy"),
    ("adminPolicies", "ClusterNetworkPolicy"),  # and AdminNetworkPolicy, BaselineAdmin...
)

T = TypeVar("T")
ManifestKey = tuple[str, str]

# ---------------------------------------------------------------- YAML

try:  # libyaml is ~8x faster on a large recording
    _BaseDumper: Any = yaml.CSafeDumper
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _BaseDumper = yaml.SafeDumper


class _Dumper(_BaseDumper):  # type: ignore[misc]
    """Safe dumping without anchors (shared label dicts must not become `&id001`), and
    multi-line strings (probe output, summaries) as `|` blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: Any, data: str) -> Any:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _represent_str)

_HEADER = (
    "# netpol-triage recorded incident (format triage/v1, see triage/data/incident.schema.json)."
    "\n# Every object is allow-listed by triage/sources/redact.py before it is written.\n"
)


def _dump_yaml(document: Mapping[str, Any], stream: IO[str]) -> None:
    stream.write(_HEADER)
    yaml.dump(
        document,
        stream,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )


# ---------------------------------------------------------------- JSON, which is YAML


class _NotPlain(Exception):
    """A value the JSON writer does not carry as YAML would read it back: anything but
    exactly dict (string keys), list, str, int, bool, None and finite floats."""


_encode_str: Callable[[str], str] = json.encoder.encode_basestring  # C; keeps non-ASCII

# Raw characters YAML refuses in a file (C1 controls, surrogates, U+FFFE/U+FFFF) or reads
# as line breaks inside a quoted string (U+0085, U+2028, U+2029); the writer escapes them
# (U+FEFF too, which some tools take for a byte-order mark).
_YAML_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")


def _escape_unsafe(match: re.Match[str]) -> str:
    char = match.group()
    if "\ud800" <= char <= "\udfff":  # no UTF-8 for it, and YAML refuses it escaped
        raise _NotPlain("a lone surrogate")
    return f"\\u{ord(char):04x}"


def _float_text(value: float) -> str:
    if not math.isfinite(value):
        raise _NotPlain("a float that is not finite")
    text = float.__repr__(value)
    if "e" in text and "." not in text:  # 1e+16: YAML 1.1 reads a float only with a dot
        mantissa, _, exponent = text.partition("e")
        text = f"{mantissa}.0e{exponent}"
    return text


# YAML ends an implicit key within 1024 characters (JSON has no limit); longer keys are
# written the block-YAML way, which marks them explicitly. The reader does not look for them:
# in a JSON file, it accepts what a YAML parser would refuse.
_MAX_KEY = 1000

# Lines of the JSON text stay within this width where they can: a mapping or list goes on
# one line (`"labels": {"app": "web", "tier": "api"}`) when it fits, else one item a line.
_WIDTH = 100


def _scalar_text(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return _encode_str(value)
    if kind is int:
        return int.__repr__(value)
    if kind is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    if kind is float:
        return _float_text(value)
    raise _NotPlain(f"a {kind.__name__}")


def _json_text(value: Any, indent: str = "", room: int = _WIDTH) -> str:
    """`value` as indented JSON, starting at column len(indent) with `room` columns left on
    that line; strict about types (see _NotPlain). Several times faster than
    `json.dumps(indent=2)`: strings and ints inline, no generators."""
    kind = type(value)
    if kind is dict:
        if not value:
            return "{}"
        inner = indent + "  "
        parts = []
        one_line = True
        for key, item in value.items():
            if type(key) is not str:
                raise _NotPlain(f"a {type(key).__name__} key")
            name = _encode_str(key)
            if len(name) > _MAX_KEY:
                raise _NotPlain("a key too long for YAML")
            item_kind = type(item)
            if item_kind is str:
                parts.append(f"{name}: {_encode_str(item)}")
            elif item_kind is dict or item_kind is list:
                text = _json_text(item, inner, _WIDTH - len(inner) - len(name) - 2)
                one_line = one_line and "\n" not in text
                parts.append(f"{name}: {text}")
            else:
                parts.append(f"{name}: {_scalar_text(item)}")
        if one_line:
            line = "{" + ", ".join(parts) + "}"
            if len(line) <= room:
                return line
        return "{\n" + inner + (",\n" + inner).join(parts) + "\n" + indent + "}"
    if kind is list:
        if not value:
            return "[]"
        inner = indent + "  "
        parts = []
        one_line = True
        for item in value:
            item_kind = type(item)
            if item_kind is str:
                parts.append(_encode_str(item))
            elif item_kind is dict or item_kind is list:
                text = _json_text(item, inner, _WIDTH - len(inner))
                one_line = one_line and "\n" not in text
                parts.append(text)
            else:
                parts.append(_scalar_text(item))
        if one_line:
            line = "[" + ", ".join(parts) + "]"
            if len(line) <= room:
                return line
        return "[\n" + inner + (",\n" + inner).join(parts) + "\n" + indent + "]"
    return _scalar_text(value)


def _render_json(document: Mapping[str, Any]) -> str:
    """The document as indented JSON that YAML reads back the same. Raises _NotPlain."""
    text = _json_text(document)
    if not text.isascii() or "\x7f" in text:
        text = _YAML_UNSAFE.sub(_escape_unsafe, text)
    return text


def _dump(document: Mapping[str, Any], stream: IO[str]) -> None:
    """The header, then the document as JSON (as block YAML if JSON cannot carry it)."""
    try:
        text = _render_json(document)
    except _NotPlain:
        _dump_yaml(document, stream)
        return
    stream.write(_HEADER)
    stream.write(text)
    stream.write("\n")


def dump_incident(incident: Incident) -> str:
    """The text `write_incident` writes."""
    buffer = io.StringIO()
    _dump(incident_to_document(incident), buffer)
    return buffer.getvalue()


# YAML 1.1 reads a JSON number with a fraction or exponent as a float only when it has a
# dot and a signed exponent (`1.5`, `1.0e+16`); `1e5` is the string "1e5". Same here.
_YAML_FLOAT = next(
    rx
    for tag, rx in yaml.resolver.Resolver.yaml_implicit_resolvers["1"]
    if tag == "tag:yaml.org,2002:float"
)


def _yaml_float(text: str) -> float | str:
    return float(text) if _YAML_FLOAT.match(text) else text


# `NaN` and `Infinity` are plain strings to YAML, and so to this reader.
# A key given twice raises InputError (a ValueError): the file then goes to the YAML reader,
# which names the line.
_JSON = json.JSONDecoder(
    parse_float=_yaml_float, parse_constant=str, object_pairs_hook=no_duplicate_keys
)
_PREAMBLE = re.compile(r"(?:[ \r\n]*#[^\r\n]*)*[ \r\n]*")  # comment lines and blank lines
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abAB]")  # libyaml refuses these; json pairs them


def _read_json(text: str) -> Any:
    """The document, when `text` is (after `#` comment lines) one JSON object that YAML
    reads the same way; else None, and the caller reads it as YAML. Raw characters YAML
    refuses or folds and escaped surrogates (which libyaml refuses) go to YAML, so it can
    say what is wrong; so does JSON with anything after it but whitespace."""
    start = _PREAMBLE.match(text).end()  # type: ignore[union-attr]
    if not text.startswith("{", start):
        return None
    if "\x7f" in text or (not text.isascii() and _YAML_UNSAFE.search(text)):
        return None
    if "\\u" in text and _SURROGATE_ESCAPE.search(text):
        return None
    try:
        document, end = _JSON.raw_decode(text, start)
    except (ValueError, RecursionError):
        return None
    if text[end:].strip(" \r\n"):
        return None
    return document


# ---------------------------------------------------------------- schema


@cache
def incident_schema() -> Mapping[str, Any]:
    """The JSON Schema (draft 2020-12) of the recording format."""
    text = resources.files("triage").joinpath("data/incident.schema.json").read_text("utf-8")
    return cast(Mapping[str, Any], json.loads(text))


@cache
def _validator() -> jsonschema.Draft202012Validator:
    import jsonschema  # only when a file is invalid: the import alone takes ~0.15 s

    return jsonschema.Draft202012Validator(incident_schema())


@cache
def _fast_check() -> Check:
    return compile_check(incident_schema())


# The arrays of manifests and the definition their items follow. On a file the fast check
# refuses, jsonschema reads the rest of the document and only the items the fast check
# refuses, not 10k valid pods (the manifest parser checks every object after the schema).
_OBJECT_ARRAYS: tuple[tuple[str, str], ...] = (
    ("namespaces", "namespace"),
    ("pods", "pod"),
    ("services", "service"),
    ("networkPolicies", "networkPolicy"),
)


@cache
def _item_check(definition: str) -> Check:
    return compile_check(incident_schema(), f"#/$defs/{definition}")


@cache
def _item_validator(definition: str) -> jsonschema.Draft202012Validator:
    import jsonschema

    schema = incident_schema()
    return jsonschema.Draft202012Validator(
        {"$defs": schema["$defs"], "$ref": f"#/$defs/{definition}"}
    )


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def field_path(parts: Iterable[str | int]) -> str:
    """`probes[2].outcome`, `knownGood[0].podLabels["develop/web-1"]`."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


SchemaError = tuple[list[str | int], "jsonschema.ValidationError"]


def _schema_errors(document: Mapping[str, Any]) -> list[SchemaError]:
    """Every schema error with its path from the document's root: jsonschema on the
    document without its manifests, and on each manifest the fast check refuses."""
    skeleton = dict(document)
    items: list[tuple[list[str | int], str, Any]] = []
    for section, definition in _OBJECT_ARRAYS:
        objects = document.get(section)
        if type(objects) is list:
            skeleton[section] = []
            items.extend(([section, i], definition, obj) for i, obj in enumerate(objects))
    known_good = document.get("knownGood")
    if type(known_good) is list:
        entries = []
        for k, entry in enumerate(known_good):
            policies = entry.get("networkPolicies") if type(entry) is dict else None
            if type(policies) is list:
                entry = {**entry, "networkPolicies": []}
                where: list[str | int] = ["knownGood", k, "networkPolicies"]
                items.extend(([*where, i], "networkPolicy", p) for i, p in enumerate(policies))
            entries.append(entry)
        skeleton["knownGood"] = entries
    errors: list[SchemaError] = [
        (list(e.absolute_path), e) for e in _validator().iter_errors(skeleton)
    ]
    for path, definition, obj in items:
        if not _item_check(definition)(obj):
            errors.extend(
                ([*path, *e.absolute_path], e) for e in _item_validator(definition).iter_errors(obj)
            )
    return errors


def _schema_problems(
    error: jsonschema.ValidationError, base: list[str | int], file: str
) -> list[Problem]:
    """One validation error (at `base`, its path from the root) as one line per field."""
    instance = error.instance
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    if error.validator == "required" and isinstance(instance, Mapping):
        missing = [p for p in cast(list[str], error.validator_value) if p not in instance]
        return [Problem(file, field_path([*base, p]), "", "missing") for p in missing]
    if error.validator == "additionalProperties" and isinstance(instance, Mapping):
        known = sorted(cast(Mapping[str, Any], schema.get("properties", {})))
        extra = [k for k in instance if k not in known]
        expected = f"; expected one of {', '.join(known)}" if known else ""
        return [
            Problem(file, field_path([*base, str(k)]), "", f"unknown field{expected}")
            for k in extra
        ]
    where = field_path(base) or "incident"
    if error.validator == "const":
        message = f"expected {error.validator_value!r}, got {instance!r}"
    elif error.validator in ("pattern", "anyOf", "oneOf") and schema.get("description"):
        message = f"{instance!r} is not {schema['description']}"
    else:
        message = error.message
    return [Problem(file, where, "", message)]


def bundled_runbook_names() -> list[str]:
    """The runbooks shipped in `triage/data/runbooks`, the names `metadata.runbook` may
    take (the same list as `triage.checklist.bundled_runbooks`, without importing the
    checklist into the loader)."""
    folder = resources.files("triage").joinpath("data/runbooks")
    return sorted(
        entry.name.removesuffix(".yaml")
        for entry in folder.iterdir()
        if entry.name.endswith(".yaml") and entry.is_file()
    )


def _runbook_problems(document: Mapping[str, Any], file: str) -> list[Problem]:
    """`metadata.runbook`, when it is a string (the schema says the rest), must name a
    bundled runbook."""
    meta = document.get("metadata")
    name = meta.get("runbook") if type(meta) is dict else None
    if type(name) is not str or not name:
        return []
    known = bundled_runbook_names()
    if name in known:
        return []
    message = (
        f"{name!r} is not a bundled runbook (bundled: {', '.join(known)}); "
        "a runbook file of your own goes on `triage replay --runbook FILE`"
    )
    return [Problem(file, "metadata.runbook", "", message)]


def validate_document(document: Any, file: str) -> None:
    """Check one parsed file against the schema; SourceError lists every offending field.

    An `apiVersion` this build does not read is refused first, naming the versions it reads.
    A valid document costs one compiled check (schemacheck); jsonschema runs only to name
    what is wrong. `metadata.runbook` must name a bundled runbook.
    """
    if not isinstance(document, Mapping):
        raise SourceError.single(file, f"expected an {KIND} mapping, got {type(document).__name__}")
    version = document.get("apiVersion")
    if version not in SUPPORTED_VERSIONS:
        reads = ", ".join(SUPPORTED_VERSIONS)
        got = "missing" if version is None else f"{version!r} is not supported"
        raise SourceError([Problem(file, "apiVersion", "", f"{got}; this build reads {reads}")])
    problems: list[Problem] = []
    if not _fast_check()(document):
        errors = sorted(_schema_errors(document), key=lambda pe: [str(p) for p in pe[0]])
        for path, error in errors:
            for problem in _schema_problems(error, path, file):
                if problem not in problems:
                    problems.append(problem)
    problems.extend(_runbook_problems(document, file))
    if not problems:
        return
    if len(problems) > MAX_SCHEMA_ERRORS:
        more = len(problems) - MAX_SCHEMA_ERRORS
        problems = [
            *problems[:MAX_SCHEMA_ERRORS],
            Problem(file, f"and {more} more", "", "not shown"),
        ]
    raise SourceError(problems)


# ---------------------------------------------------------------- loading


def read_incident_document(path: Path) -> Any:
    """The one document of a recording, timestamps kept as strings: JSON (what triage
    writes) by the fast path, anything else by YAML. Both bounded (`sources.reader`)."""
    try:
        text = read_text(path)
        with gc_paused():
            document = _read_json(text)
        if document is not None:
            return document
        documents = load_yaml(text, timestamps=False)
    except OSError as exc:
        raise SourceError.single(str(path), f"cannot read: {exc.strerror or exc}") from None
    except InputError as exc:
        raise SourceError.single(str(path), str(exc)) from None
    if not documents:
        raise SourceError.single(str(path), f"empty; expected an {API_VERSION} {KIND}")
    if len(documents) > 1:
        raise SourceError.single(
            str(path), f"{len(documents)} YAML documents; a recording is exactly one {KIND}"
        )
    return documents[0]


def load_incident(path: Path | str) -> Incident:
    """Read, validate and parse one recording. Raises SourceError, one line per problem."""
    path = Path(path)
    try:
        with gc_paused():
            return incident_from_document(read_incident_document(path), str(path))
    except RecursionError:  # a structure the reader let through, too deep for a walk
        raise SourceError.single(str(path), "nested too deeply") from None


def _labels(
    value: Any, where: str, owner: str, file: str, problems: list[Problem]
) -> dict[str, str]:
    """A known-good label set (strings, the schema says), its syntax checked as the
    apiserver checks labels: a selector judged against it must see what a cluster could."""
    labels = {str(k): str(v) for k, v in (value or {}).items()}
    for key, text in labels.items():
        for why in (label_key(key), label_value(text)):
            if why is not None:
                field = f"{where}[{json.dumps(owner)}][{json.dumps(key)}]"
                problems.append(Problem(file, preview(field, 160), "", f"invalid label: {why}"))
    return labels


def incident_from_document(document: Any, file: str) -> Incident:
    """A parsed recording (a dict) → Incident; `file` names it in errors."""
    validate_document(document, file)
    doc = cast(Mapping[str, Any], document)
    documents: list[Document] = []
    for section, _ in _SECTIONS:
        for i, manifest in enumerate(doc.get(section) or ()):
            documents.append((f"{file}: {section}[{i}]", i, manifest))
    origins: Origins = {}
    snapshot, _ = assemble(documents, origins=origins)
    manifests = {key: manifest for key, (_, manifest) in origins.items()}

    problems: list[Problem] = []
    flows: list[ReportedFlow] = []
    for i, entry in enumerate(doc.get("flows") or ()):
        try:
            flow = parse_flow(
                str(entry["from"]), str(entry["to"]), entry["port"], entry.get("protocol", "TCP")
            )
        except FlowSyntaxError as exc:
            problems.append(Problem(file, f"flows[{i}]", "", str(exc)))
            continue
        flows.append(ReportedFlow(flow, clean_lines(entry.get("note", ""))))

    known_good: list[KnownGood] = []
    for k, entry in enumerate(doc.get("knownGood") or ()):
        policies: list[NetworkPolicy] = []
        for i, manifest in enumerate(entry.get("networkPolicies") or ()):
            where = f"{file}: knownGood[{k}].networkPolicies[{i}]"
            policy, found = parse_network_policy(manifest, where, i)
            problems.extend(found)
            if policy is not None:
                policies.append(policy)
        admin_policies: list[AdminPolicy] = []
        for i, manifest in enumerate(entry.get("adminPolicies") or ()):
            where = f"{file}: knownGood[{k}].adminPolicies[{i}]"
            admin, found = parse_admin_policy(manifest, where, i)
            problems.extend(found)
            if admin is not None:
                admin_policies.append(admin)
        known_good.append(
            KnownGood(
                name=clean(entry["name"]),
                captured_at=clean(entry.get("capturedAt", "")),
                policies=tuple(policies),
                namespace_labels={
                    ns: _labels(labels, f"knownGood[{k}].namespaceLabels", ns, file, problems)
                    for ns, labels in (entry.get("namespaceLabels") or {}).items()
                },
                pod_labels={
                    pod: _labels(labels, f"knownGood[{k}].podLabels", pod, file, problems)
                    for pod, labels in (entry.get("podLabels") or {}).items()
                },
                admin_policies=tuple(sorted(admin_policies, key=lambda a: a.key)),
            )
        )
    if problems:
        raise SourceError(problems)

    probes = tuple(
        ProbeRecord(
            kind=cast(ProbeKind, entry["kind"]),
            source=entry["source"],
            target=clean(entry["target"]),
            port=entry.get("port"),
            protocol=entry.get("protocol") or ("UDP" if entry["kind"] == "dns" else "TCP"),
            outcome=cast(ProbeOutcome, entry["outcome"]),
            output=clean_lines(entry.get("output", "")),
            duration_ms=entry.get("durationMs", 0),
            at=clean(entry.get("at", "")),
        )
        for entry in doc.get("probes") or ()
    )
    notes = tuple(
        Note(clean(entry.get("at", "")), clean_lines(entry["text"]))
        for entry in doc.get("notes") or ()
    )
    meta = doc["metadata"]
    # Free text is untrusted: its control characters (terminal escapes) become U+FFFD here,
    # once, so that no output path meets them; the output boundary cleans again anyway.
    incident_meta = IncidentMeta(
        title=clean(meta["title"]),
        cluster=clean(meta.get("cluster", "")),
        context=clean(meta.get("context", "")),
        captured_at=clean(meta.get("capturedAt", "")),
        summary=clean_lines(meta.get("summary", "")),
        runbook=meta.get("runbook", ""),
    )
    warnings = _flow_warnings(snapshot, flows, file)
    if warnings:
        snapshot = dataclasses.replace(snapshot, warnings=(*snapshot.warnings, *warnings))
    datapath = doc.get("datapath")
    return Incident(
        meta=incident_meta,
        snapshot=snapshot,
        flows=tuple(flows),
        probes=probes,
        known_good=tuple(known_good),
        notes=notes,
        extra={MANIFESTS: manifests},
        datapath=None if datapath is None else datapath_from_document(datapath, file),
    )


def _missing(snapshot: Snapshot, endpoint: Endpoint) -> bool:
    if isinstance(endpoint, PodRef):
        return snapshot.pod(endpoint.namespace, endpoint.name) is None
    if isinstance(endpoint, ServiceRef):
        return snapshot.service(endpoint.namespace, endpoint.name) is None
    return False


def _flow_warnings(snapshot: Snapshot, flows: Sequence[ReportedFlow], file: str) -> list[str]:
    out = []
    for i, reported in enumerate(flows):
        for endpoint in (reported.flow.source, reported.flow.destination):
            if _missing(snapshot, endpoint):
                out.append(f"{file}: flows[{i}]: {endpoint} is not in the recording")
    return out


# ---------------------------------------------------------------- building for the recorder


def incident_from_manifests(
    meta: IncidentMeta,
    manifests: Iterable[Mapping[str, Any]],
    *,
    flows: Iterable[ReportedFlow] = (),
    probes: Iterable[ProbeRecord] = (),
    known_good: Iterable[KnownGood] = (),
    notes: Iterable[Note] = (),
    source: str = "live cluster",
) -> Incident:
    """An Incident from raw API objects (what `triage record` fetched): every object is
    redacted first; kinds a recording never holds (Secrets, ConfigMaps, ...) are dropped, an
    object without `kind` is an error (SourceError). `kind: List` is expanded.
    The redacted manifests ride along in `extra`, so `write_incident` keeps their uids and
    owner references."""
    redacted: list[Document] = []
    problems: list[Problem] = []
    with gc_paused():
        for i, raw in enumerate(manifests):
            for file, index, doc in flatten(source, i, raw):
                kind = doc.get("kind")
                if not kind:
                    # Never guess: a kind-less object cannot be redacted by the right list.
                    problems.append(Problem(file, describe_object(doc, index), "kind", "missing"))
                    continue
                if kind not in RECORDABLE_KINDS:
                    continue
                redacted.append((file, index, redact_manifest(doc)))
        if problems:
            raise SourceError(problems)
        origins: Origins = {}
        snapshot, _ = assemble(redacted, origins=origins)
    return incident_from_snapshot(
        meta,
        snapshot,
        origins,
        flows=flows,
        probes=probes,
        known_good=known_good,
        notes=notes,
    )


def incident_from_snapshot(
    meta: IncidentMeta,
    snapshot: Snapshot,
    origins: Mapping[ManifestKey, tuple[Any, Mapping[str, Any]]],
    *,
    flows: Iterable[ReportedFlow] = (),
    probes: Iterable[ProbeRecord] = (),
    known_good: Iterable[KnownGood] = (),
    notes: Iterable[Note] = (),
) -> Incident:
    """An Incident of a snapshot that was parsed from allow-listed manifests:
    `origins` maps (kind, key) to (object, the redacted manifest it was parsed from), as
    `assemble(..., origins=...)` fills it (`load_live(..., redact=True)` does). The
    manifests must be redact_manifest's output: they are written as they are."""
    return Incident(
        meta=meta,
        snapshot=snapshot,
        flows=tuple(flows),
        probes=tuple(probes),
        known_good=tuple(known_good),
        notes=tuple(notes),
        extra={
            MANIFESTS: {key: manifest for key, (_, manifest) in origins.items()},
            PARSED: origins,
        },
    )


_Parser = Callable[[Mapping[str, Any], str, int], tuple[Any, list[Problem]]]
Parsed = Mapping[ManifestKey, tuple[Any, Mapping[str, Any]]]


def _faithful(
    obj: T,
    key: ManifestKey,
    sources: Mapping[ManifestKey, Any],
    parsed: Parsed,
    parser: _Parser,
    build: Callable[[T], dict[str, Any]],
    manifest: Mapping[str, Any] | None = None,
) -> Mapping[str, Any]:
    """The redacted source manifest (`manifest`, else `sources[key]`) if it still describes
    `obj` exactly (so nothing is lost that the model does not hold), else a manifest built
    from the model. An object parsed from an allow-listed manifest (extra[PARSED]) is that
    manifest as it is: no second redaction, no re-parse."""
    origin = parsed.get(key)
    if origin is not None and origin[0] is obj:
        return origin[1]
    source = manifest or sources.get(key)
    if source:
        try:
            clean = redact_manifest(source, key[0])
        except (TypeError, ValueError):
            clean = None
        if clean is not None:
            result, problems = parser(clean, "<write>", 0)
            if not problems and result == obj:
                return clean
    return build(obj)


def _policy_manifest(policy: NetworkPolicy) -> dict[str, Any]:
    return policy_manifest_from_model(policy, with_resource_version=True)


def _policy_document(
    policy: NetworkPolicy, sources: Mapping[ManifestKey, Any], parsed: Parsed
) -> Mapping[str, Any]:
    return _faithful(
        policy,
        ("NetworkPolicy", policy.key),
        sources,
        parsed,
        parse_network_policy,
        _policy_manifest,
        policy.manifest,
    )


def _admin_document(
    policy: AdminPolicy, sources: Mapping[ManifestKey, Any], parsed: Parsed
) -> Mapping[str, Any]:
    return _faithful(
        policy,
        (policy.kind, policy.key),
        sources,
        parsed,
        parse_admin_policy,
        admin_policy_manifest,
        policy.manifest,
    )


def _plain_labels(labels: Mapping[str, str]) -> dict[str, str]:
    return {str(k): str(v) for k, v in labels.items()}


def _probe_document(probe: ProbeRecord) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": probe.kind, "source": probe.source, "target": probe.target}
    if probe.port is not None:
        out["port"] = probe.port
    out["protocol"] = probe.protocol
    out["outcome"] = probe.outcome
    if probe.duration_ms:
        out["durationMs"] = probe.duration_ms
    if probe.at:
        out["at"] = probe.at
    if probe.output:
        out["output"] = probe.output
    return out


def incident_to_document(incident: Incident) -> dict[str, Any]:
    """The recording as plain data (what `write_incident` dumps), every object allow-listed.

    Assumed namespaces (synthesized because only a pod referred to them) are left out, so
    reloading assumes them again, with the same warning. The manifests of extra[PARSED]
    are the incident's own dicts, not copies: the document is for reading and writing."""
    sources = cast(Mapping[ManifestKey, Any], incident.extra.get(MANIFESTS) or {})
    parsed = cast(Parsed, incident.extra.get(PARSED) or {})
    snap = incident.snapshot
    meta: dict[str, Any] = {"title": incident.meta.title}
    for key, value in (
        ("cluster", incident.meta.cluster),
        ("context", incident.meta.context),
        ("capturedAt", incident.meta.captured_at),
        ("runbook", incident.meta.runbook),
        ("summary", incident.meta.summary),
    ):
        if value:
            meta[key] = value
    document: dict[str, Any] = {"apiVersion": API_VERSION, "kind": KIND, "metadata": meta}
    document["namespaces"] = [
        _faithful(ns, ("Namespace", ns.name), sources, parsed, parse_namespace, namespace_manifest)
        for ns in snap.namespaces
        if not ns.synthesized
    ]
    document["pods"] = [
        _faithful(pod, ("Pod", pod.key), sources, parsed, parse_pod, pod_manifest)
        for pod in snap.pods
    ]
    document["services"] = [
        _faithful(svc, ("Service", svc.key), sources, parsed, parse_service, service_manifest)
        for svc in snap.services
    ]
    document["networkPolicies"] = [_policy_document(p, sources, parsed) for p in snap.policies]
    if snap.admin_policies:
        document["adminPolicies"] = [
            _admin_document(p, sources, parsed) for p in snap.admin_policies
        ]
    document["flows"] = [
        {
            "from": str(r.flow.source),
            "to": str(r.flow.destination),
            "port": r.flow.port,
            "protocol": r.flow.protocol,
            **({"note": r.note} if r.note else {}),
        }
        for r in incident.flows
    ]
    document["probes"] = [_probe_document(p) for p in incident.probes]
    known_good = []
    for kg in incident.known_good:
        entry: dict[str, Any] = {"name": kg.name}
        if kg.captured_at:
            entry["capturedAt"] = kg.captured_at
        entry["networkPolicies"] = [_policy_document(p, {}, parsed) for p in kg.policies]
        if kg.admin_policies:
            entry["adminPolicies"] = [_admin_document(p, {}, parsed) for p in kg.admin_policies]
        entry["namespaceLabels"] = {
            ns: _plain_labels(labels) for ns, labels in kg.namespace_labels.items()
        }
        entry["podLabels"] = {pod: _plain_labels(labels) for pod, labels in kg.pod_labels.items()}
        known_good.append(entry)
    document["knownGood"] = known_good
    document["notes"] = [{**({"at": n.at} if n.at else {}), "text": n.text} for n in incident.notes]
    if incident.datapath is not None:
        source = incident.datapath.meta.get("source", "")
        document["datapath"] = datapath_to_document(incident.datapath, source)
    return document


# ---------------------------------------------------------------- writing


def write_incident(incident: Incident, path: Path | str) -> None:
    """Write the recording privately and atomically (`triage.files.write_private`: mode
    0600, a temporary file in the same directory, never through a symbolic link). An
    interrupted write leaves the old file as it was. Refuses (SourceError) an incident the
    schema would refuse."""
    path = Path(path)
    with gc_paused():
        document = incident_to_document(incident)
        validate_document(document, str(path))
    try:
        with gc_paused():
            write_private_stream(path, lambda stream: _dump(document, stream))
    except OSError as exc:
        raise SourceError.single(str(path), f"cannot write: {exc.strerror or exc}") from None


# ---------------------------------------------------------------- bundled incidents


def bundled_incidents_dir() -> Path:
    """`triage/data/incidents` of the installed package (`runbooks/incidents` links to it)."""
    return Path(str(resources.files("triage").joinpath("data/incidents")))


def bundled_incidents() -> list[Path]:
    """Every bundled incident, sorted by file name."""
    return sorted(bundled_incidents_dir().glob("*.yaml"))


def bundled_incident(name: str) -> Path:
    """A bundled incident by name (`failed-rollout`, `failed-rollout.yaml`) or `demo`."""
    stem = DEMO_INCIDENT if name == "demo" else name.removesuffix(".yaml")
    for path in bundled_incidents():
        if path.stem == stem:
            return path
    available = ", ".join(["demo", *(p.stem for p in bundled_incidents())])
    raise SourceError.single(
        "bundled incidents", f"no incident named {name!r}; available: {available}"
    )


__all__ = [
    "API_VERSION",
    "DEMO_INCIDENT",
    "MANIFESTS",
    "PARSED",
    "SUPPORTED_VERSIONS",
    "bundled_incident",
    "bundled_incidents",
    "bundled_incidents_dir",
    "bundled_runbook_names",
    "dump_incident",
    "field_path",
    "incident_from_document",
    "incident_from_manifests",
    "incident_from_snapshot",
    "incident_schema",
    "incident_to_document",
    "load_incident",
    "read_incident_document",
    "validate_document",
    "write_incident",
]
