"""Load `kubectl get ns,pods,svc,netpol -A -o yaml|json` output, multi-document YAML, or a
folder of such files."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from triage.model import Snapshot
from triage.sources.assemble import Document, LoadReport, assemble, flatten
from triage.sources.errors import SourceError

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")

try:  # libyaml's parser; PyYAML without it still works, slowly
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _Loader = yaml.SafeLoader

_STR = "tag:yaml.org,2002:str"
_PLAIN_TAGS = (None, "!")
_COLLECTION_TAGS = (None, "!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
# First characters for which YAML 1.1 may resolve a plain scalar to something other than
# a string (bool, int, float, null, timestamp, merge, value).
_MAYBE_TYPED = frozenset(k for k in yaml.resolver.Resolver.yaml_implicit_resolvers if k)


class _Unsupported(Exception):
    """A YAML feature the fast path leaves to PyYAML's own constructor."""


def _scalar(event: yaml.ScalarEvent, cache: dict[str, Any]) -> Any:
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
    tag = _RESOLVER.resolve(yaml.ScalarNode, value, event.implicit)  # type: ignore[no-untyped-call]
    if tag == _STR:
        out: Any = value
    elif tag in ("tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"):
        raise _Unsupported(tag)
    else:
        out = _CONSTRUCTOR.construct_object(yaml.ScalarNode(tag, value), deep=True)
    if not isinstance(out, list | dict | bytes | set):
        cache[value] = out
    return out


def _fast_load_all(text: str) -> list[Any]:
    """`yaml.safe_load_all`, built straight from libyaml's events.

    PyYAML composes a node graph and walks it with a generic constructor; for a 10k-pod
    `kubectl get -o yaml` that costs ~5x the parsing itself. Building dicts and lists
    from the event stream gives the same result for plain data (the whole of kubectl's
    output). Anything else - explicit tags, merge keys, complex keys - raises
    _Unsupported and the caller falls back to PyYAML."""
    docs: list[Any] = []
    stack: list[Any] = []
    pending: list[tuple[Any] | None] = []  # per open mapping: the key waiting for a value
    anchors: dict[str, Any] = {}
    cache: dict[str, Any] = {}
    scalar_event, alias_event = yaml.ScalarEvent, yaml.AliasEvent
    map_start, seq_start = yaml.MappingStartEvent, yaml.SequenceStartEvent
    map_end, seq_end = yaml.MappingEndEvent, yaml.SequenceEndEvent
    event: Any  # narrowed by `type(...) is` below, which mypy does not follow
    for event in yaml.parse(text, Loader=_Loader):
        kind = type(event)
        value: Any
        if kind is scalar_event:
            value = _scalar(event, cache)
            if event.anchor:
                anchors[event.anchor] = value
        elif kind is map_start or kind is seq_start:
            if event.tag not in _COLLECTION_TAGS:
                raise _Unsupported(event.tag)
            new: Any = {} if kind is map_start else []
            if event.anchor:
                anchors[event.anchor] = new
            stack.append(new)
            pending.append(None)
            continue
        elif kind is map_end or kind is seq_end:
            value = stack.pop()
            pending.pop()
        elif kind is alias_event:
            value = anchors[event.anchor]
        else:  # stream and document start/end
            continue
        if not stack:
            docs.append(value)
            continue
        top = stack[-1]
        if type(top) is list:
            top.append(value)
        elif pending[-1] is None:
            pending[-1] = (value,)
        else:
            key = pending[-1][0]
            if type(key) is dict or type(key) is list:
                raise _Unsupported("complex key")
            top[key] = value
            pending[-1] = None
    return docs


def load_yaml_documents(text: str) -> list[Any]:
    """Every document of a YAML stream, as `yaml.safe_load_all` gives them (empty
    documents dropped). Raises yaml.YAMLError on invalid YAML."""
    if _Loader is not yaml.SafeLoader:
        try:
            return [d for d in _fast_load_all(text) if d is not None]
        except _Unsupported:
            pass
    return [d for d in yaml.load_all(text, Loader=_Loader) if d is not None]


def read_documents(path: Path) -> list[Any]:
    """Every document of one file, YAML or JSON. Errors name the file and the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SourceError.single(str(path), f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SourceError.single(str(path), "not UTF-8 text") from None
    if path.suffix == ".json":
        try:
            return [json.loads(text)]
        except json.JSONDecodeError as exc:
            raise SourceError.single(
                str(path), f"invalid JSON at line {exc.lineno}: {exc.msg}"
            ) from None
    try:
        return load_yaml_documents(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SourceError.single(str(path), f"invalid YAML{where}: {problem}") from None


def manifest_files(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                sorted(p for p in path.rglob("*") if p.suffix in MANIFEST_SUFFIXES and p.is_file())
            )
        elif path.exists():
            files.append(path)
        else:
            raise SourceError.single(str(path), "no such file or directory")
    return files


def documents_from(files: Iterable[Path]) -> Iterator[Document]:
    for path in files:
        for i, doc in enumerate(read_documents(path)):
            yield from flatten(str(path), i, doc)


def load_manifests(paths: Sequence[Path]) -> tuple[Snapshot, LoadReport]:
    files = manifest_files(paths)
    if not files:
        raise SourceError.single(", ".join(map(str, paths)), "no .yaml, .yml or .json files found")
    return assemble(documents_from(files))
