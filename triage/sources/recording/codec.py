"""Incident files as text: YAML (libyaml when present) and the JSON that is YAML, read and
written; the `#` header; the JSON fast path for reading. No schema, no model."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import IO, Any

import yaml

from triage.sources.reader import no_duplicate_keys

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
