"""The incident schema (triage/data/incident.schema.json): the compiled check, the field paths
of an invalid file, one problem line per field, and `validate_document`."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, cast

from triage.sources.errors import Problem, SourceError
from triage.sources.schemacheck import Check, compile_check

if TYPE_CHECKING:
    import jsonschema


API_VERSION = "triage/v1"


KIND = "Incident"


SUPPORTED_VERSIONS: tuple[str, ...] = (API_VERSION,)


# The most schema errors reported for one file; the rest are counted.
MAX_SCHEMA_ERRORS = 30


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
