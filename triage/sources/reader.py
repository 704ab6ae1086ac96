"""Reading an input file, boundedly: the one YAML reader and the one JSON reader.

Every manifest and recording comes through here, and every one is untrusted (a recording is
shared between people and tools). The reader refuses, with one short line and within a
second whatever the input:

- a file larger than `MAX_INPUT_BYTES` (a regular file's size is checked before reading; a
  pipe or device such as `/dev/zero` is read with that cap, and a NUL byte stops it at once:
  no YAML or JSON text holds one);
- text that is not UTF-8 (a leading byte-order mark is accepted and dropped);
- a mapping with the same key twice (YAML or JSON): the apiserver's strict decoding refuses
  it, and silently keeping the second `ingress:` would change a verdict;
- alias expansion of more than `MAX_ALIAS_NODES` nodes (a 600-byte "billion laughs" names
  hundreds of millions), and nesting deeper than `MAX_DEPTH` levels.

YAML is parsed by libyaml (PyYAML's C parser); plain data is built straight from its event
stream, which is several times faster than composing PyYAML's node graph. A document with
explicit tags, merge keys (`<<`) or complex keys goes to `_StrictLoader`, a CSafeLoader that
refuses duplicate keys too, after the same bounds were checked on its events.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from triage.model.untrusted import preview

MAX_INPUT_BYTES = 256 * 1024 * 1024  # docs/security.md; a 10k-pod kubectl dump is ~80 MB
MAX_DEPTH = 200  # Kubernetes objects nest ~15 levels; CRD schemas a few dozen
MAX_ALIAS_NODES = 200_000  # nodes reached through YAML aliases, per file
_CHUNK = 1 << 20

try:  # libyaml; PyYAML without it still works, slowly
    _CLoader: Any = yaml.CSafeLoader
    _CParser: Any = yaml.cyaml.CParser  # type: ignore[attr-defined]
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _CLoader = yaml.SafeLoader
    _CParser = None


class InputError(ValueError):
    """The text cannot be read as data; the message is one line, without the file name."""


# ---------------------------------------------------------------- bytes → text


def read_text(path: Path) -> str:
    """The file's text, bounded (see the module docstring). Raises InputError or OSError."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as stream:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise InputError("is a directory")
        if stat.S_ISREG(info.st_mode):
            if info.st_size > MAX_INPUT_BYTES:
                raise InputError(f"{_mb(info.st_size)} is over the input limit of {_mb()}")
            data = stream.read(MAX_INPUT_BYTES + 1)
            at = data.find(b"\x00")
            if at != -1:
                raise InputError(f"binary data (a NUL byte at offset {at})")
        else:  # a pipe or a device: read with the cap, stop at the first NUL
            chunks: list[bytes] = []
            size = 0
            while size <= MAX_INPUT_BYTES:
                chunk = stream.read(_CHUNK)
                if not chunk:
                    break
                at = chunk.find(b"\x00")
                if at != -1:
                    raise InputError(f"binary data (a NUL byte at offset {size + at})")
                chunks.append(chunk)
                size += len(chunk)
            data = b"".join(chunks)
    if len(data) > MAX_INPUT_BYTES:
        raise InputError(f"more than the input limit of {_mb()}")
    return decode(data)


def decode(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})") from None
    return text[1:] if text.startswith("\ufeff") else text


def _mb(size: int | None = None) -> str:
    return f"{(MAX_INPUT_BYTES if size is None else size) / (1024 * 1024):.0f} MB"


# ---------------------------------------------------------------- JSON


def no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`object_pairs_hook` refusing a key given twice."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise InputError(f"duplicate key {_quote(key)} in a mapping")
            seen.add(key)
    return out


_JSON = json.JSONDecoder(object_pairs_hook=no_duplicate_keys)


def load_json(text: str) -> Any:
    """One JSON document. Raises InputError."""
    try:
        return _JSON.decode(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON at line {exc.lineno}: {exc.msg}") from None
    except RecursionError:
        raise InputError("nested too deeply") from None


# ---------------------------------------------------------------- YAML

_STR = "tag:yaml.org,2002:str"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_PLAIN_TAGS = (None, "!")
_COLLECTION_TAGS = (None, "!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
# First characters for which YAML 1.1 may resolve a plain scalar to something other than
# a string (bool, int, float, null, timestamp, merge, value).
_MAYBE_TYPED = frozenset(k for k in yaml.resolver.Resolver.yaml_implicit_resolvers if k)


class _NoTimestamps(yaml.resolver.Resolver):
    """Timestamps stay strings: `capturedAt: 2024-05-14T09:12:00Z` round-trips as written."""

    yaml_implicit_resolvers = {  # noqa: RUF012 - PyYAML's own class attribute
        first: [(tag, rx) for tag, rx in resolvers if tag != _TIMESTAMP]
        for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
    }


_RESOLVERS = {True: yaml.resolver.Resolver(), False: _NoTimestamps()}


class _Unsupported(Exception):
    """A YAML feature the event builder leaves to _StrictLoader."""


def _quote(key: Any) -> str:
    return preview(repr(key), 60) if isinstance(key, str | int | float | bool) else "(complex)"


def _line(event: Any) -> str:
    mark = getattr(event, "start_mark", None)
    return f" at line {mark.line + 1}" if mark is not None else ""


class _Bounds:
    """Depth and alias expansion over an event stream. The node count of an anchored
    collection is `nodes` at its end minus `nodes` at its start, so that only anchors cost
    anything: a plain document pays one addition per event."""

    def __init__(self) -> None:
        self.nodes = 0
        self.expanded = 0
        self.sizes: dict[str, int] = {}

    def alias(self, event: Any) -> int:
        size = self.sizes.get(event.anchor)
        if size is None:
            raise InputError(f"undefined alias {_quote(event.anchor)}{_line(event)}")
        self.expanded += size
        if self.expanded > MAX_ALIAS_NODES:
            raise InputError(
                f"YAML aliases expand to more than {MAX_ALIAS_NODES:,} nodes{_line(event)} "
                "(an alias bomb?)"
            )
        return size


def _scalar(event: Any, cache: dict[str, Any], resolver: yaml.resolver.Resolver) -> Any:
    value = event.value
    if event.tag not in _PLAIN_TAGS:
        raise _Unsupported(event.tag)
    if event.tag == "!" or not event.implicit[0]:  # quoted, or the non-specific tag
        return value
    if value and value[0] not in _MAYBE_TYPED:
        return value
    try:
        return cache[value]
    except KeyError:
        pass
    tag = resolver.resolve(yaml.ScalarNode, value, event.implicit)  # type: ignore[no-untyped-call]
    if tag == _STR:
        out: Any = value
    elif tag in ("tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"):
        raise _Unsupported(tag)
    else:
        out = _CONSTRUCTOR.construct_object(yaml.ScalarNode(tag, value), deep=True)
    if not isinstance(out, list | dict | bytes | set):
        cache[value] = out
    return out


def _events(text: str) -> Iterator[Any]:
    """libyaml's events, pulled straight from its parser (`yaml.parse` costs two more
    Python calls per event: a third of a 10k-pod file's load)."""
    if _CParser is None:  # pragma: no cover - PyYAML without libyaml
        yield from yaml.parse(text, Loader=yaml.SafeLoader)
        return
    parser = _CParser(text)
    get_event = parser.get_event
    end = yaml.StreamEndEvent
    try:
        while True:
            event = get_event()
            yield event
            if type(event) is end:
                return
    finally:
        parser.dispose()


def _build(text: str, timestamps: bool) -> list[Any]:
    """`yaml.safe_load_all`, built straight from libyaml's events, bounded, duplicate keys
    refused. Explicit tags, merge keys and complex keys raise _Unsupported. (The node
    count lives in a local, not in _Bounds: this loop runs once per event of a 10k-pod
    file.)"""
    resolver = _RESOLVERS[timestamps]
    docs: list[Any] = []
    stack: list[Any] = []
    # per open mapping: (key, its event) waiting for a value, or None
    pending: list[tuple[Any, Any] | None] = []
    anchors: dict[str, Any] = {}
    anchored: list[tuple[int, str, int]] = []  # (depth, anchor, nodes at its start)
    bounds = _Bounds()
    nodes = 0
    cache: dict[str, Any] = {}
    scalar_event, alias_event = yaml.ScalarEvent, yaml.AliasEvent
    map_start, seq_start = yaml.MappingStartEvent, yaml.SequenceStartEvent
    map_end, seq_end = yaml.MappingEndEvent, yaml.SequenceEndEvent
    stream_end = yaml.StreamEndEvent
    event: Any  # narrowed by `type(...) is` below, which mypy does not follow
    # The parser is pulled directly, not through a generator: one Python call per event.
    parser = _CParser(text) if _CParser is not None else None
    get_event = parser.get_event if parser is not None else iter(_events(text)).__next__
    while True:
        event = get_event()
        kind = type(event)
        value: Any
        if kind is scalar_event:
            nodes += 1
            value = _scalar(event, cache, resolver)
            if event.anchor:
                anchors[event.anchor] = value
                bounds.sizes[event.anchor] = 1
        elif kind is map_start or kind is seq_start:
            if event.tag not in _COLLECTION_TAGS:
                raise _Unsupported(event.tag)
            nodes += 1
            new: Any = {} if kind is map_start else []
            if event.anchor:
                anchors[event.anchor] = new
                anchored.append((len(stack), event.anchor, nodes))
            stack.append(new)
            pending.append(None)
            if len(stack) > MAX_DEPTH:
                raise InputError(f"nested more than {MAX_DEPTH} levels deep{_line(event)}")
            continue
        elif kind is map_end or kind is seq_end:
            value = stack.pop()
            pending.pop()
            if anchored and anchored[-1][0] == len(stack):
                _, name, start = anchored.pop()
                bounds.sizes[name] = nodes - start + 1
        elif kind is alias_event:
            nodes += bounds.alias(event)
            value = anchors[event.anchor]
        elif kind is stream_end:
            break
        else:  # stream start, document start/end
            continue
        if not stack:
            docs.append(value)
            continue
        top = stack[-1]
        if type(top) is list:
            top.append(value)
            continue
        waiting = pending[-1]
        if waiting is None:
            pending[-1] = (value, event)
            continue
        key = waiting[0]
        if type(key) is dict or type(key) is list:
            raise _Unsupported("complex key")
        if key in top:
            raise InputError(f"duplicate key {_quote(key)}{_line(waiting[1])}")
        top[key] = value
        pending[-1] = None
    if parser is not None:
        parser.dispose()
    return docs


def _check_bounds(text: str) -> None:
    """Depth and alias expansion of the whole stream, from its events alone."""
    bounds = _Bounds()
    anchored: list[tuple[int, str, int]] = []
    depth = 0
    for event in _events(text):
        kind = type(event)
        if kind is yaml.ScalarEvent:
            bounds.nodes += 1
            if event.anchor:
                bounds.sizes[event.anchor] = 1
        elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            bounds.nodes += 1
            if event.anchor:
                anchored.append((depth, event.anchor, bounds.nodes))
            depth += 1
            if depth > MAX_DEPTH:
                raise InputError(f"nested more than {MAX_DEPTH} levels deep{_line(event)}")
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            depth -= 1
            if anchored and anchored[-1][0] == depth:
                _, name, start = anchored.pop()
                bounds.sizes[name] = bounds.nodes - start + 1
        elif kind is yaml.AliasEvent:
            bounds.nodes += bounds.alias(event)


class _StrictLoader(_CLoader):  # type: ignore[misc]
    """CSafeLoader refusing a key given twice in one mapping (merged `<<` keys may be
    overridden, as YAML intends). Used after `_check_bounds` passed."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    fresh = key not in seen
                except TypeError:  # unhashable: the constructor names it
                    break
                if not fresh:
                    line = key_node.start_mark.line + 1
                    raise InputError(f"duplicate key {_quote(key)} at line {line}")
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _StrictLoaderNoTimestamps(_StrictLoader):
    yaml_implicit_resolvers = _NoTimestamps.yaml_implicit_resolvers


def load_yaml(text: str, *, timestamps: bool = True) -> list[Any]:
    """Every non-empty document of a YAML stream, as `yaml.safe_load_all` gives them, but
    bounded and refusing duplicate keys (timestamps stay strings with timestamps=False).
    Raises InputError."""
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        try:
            docs = _build(text, timestamps)
        except _Unsupported:
            _check_bounds(text)
            loader = _StrictLoader if timestamps else _StrictLoaderNoTimestamps
            docs = list(yaml.load_all(text, Loader=loader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"invalid YAML{where}: {problem}") from None
    except (ValueError, OverflowError) as exc:
        if isinstance(exc, InputError):
            raise
        # PyYAML's constructors raise these for values YAML resolves but Python cannot
        # build: `date: 2001-13-45` is a timestamp with month 13.
        raise InputError(f"invalid YAML value: {exc}") from None
    except RecursionError:
        raise InputError("nested too deeply") from None
    return [d for d in docs if d is not None]


__all__ = [
    "MAX_ALIAS_NODES",
    "MAX_DEPTH",
    "MAX_INPUT_BYTES",
    "InputError",
    "decode",
    "load_json",
    "load_yaml",
    "no_duplicate_keys",
    "read_text",
]
