"""Load `kubectl get ns,pods,svc,netpol -A -o yaml|json` output, multi-document YAML, or a
folder of such files."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from triage.model import Snapshot
from triage.sources.assemble import Document, LoadReport, assemble, flatten
from triage.sources.errors import Problem, SourceError

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


# ---------------------------------------------------------------- block-style fast path

# One line of block YAML: indentation, sequence dashes, an optional `key:` (plain, or
# quoted without escapes), then the rest. Keys holding ':' or '#' are left to PyYAML.
_LINE = re.compile(
    r"( *)((?:-(?: +|$))*)"
    r"(?:([^\s'\"#&*!|>%@`{}\[\],?:\-][^:#]*?|-[^\s:#][^:#]*?|'[^']*'|\"[^\"\\]*\")"
    r" *:(?: +|$))?"
    r"(.*)"
)
# Characters that cannot start a plain scalar (PyYAML's indicators).
_NOT_PLAIN = frozenset(",[]{}#&*!|>%@`'\"")
_JSON_ESCAPES = re.compile(r'\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})')
_SLOW_KEY = _MAYBE_TYPED | {"'", '"'}
_SLOW_VALUE = _MAYBE_TYPED | _NOT_PLAIN | {"|", "-", "?", ":"}
_NO_KEY: Any = object()


def _clearly_other_yaml(text: str) -> bool:
    """A quick look (memchr-speed searches for rare characters) for what the fast path
    would otherwise meet late, and then parse the whole file twice: anchors, aliases,
    tags, folded scalars, flow collections other than {} and []."""
    for char in "&*!>{[":
        at = text.find(char)
        while at != -1:
            starts_value = at == 0 or text[at - 1] == "\n" or text[at - 2 : at] in (": ", "- ")
            if starts_value and (char not in "{[" or text[at + 1 : at + 2] not in ("}", "]")):
                return True
            at = text.find(char, at + 1)
    return False


_MAP, _SEQ = 0, 1  # frame kinds


def _plain(text: str, cache: dict[str, Any]) -> Any:
    if text[0] not in _MAYBE_TYPED:
        return text
    try:
        return cache[text]
    except KeyError:
        pass
    tag = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    if tag == _STR:
        value: Any = text
    elif tag in ("tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"):
        raise _Unsupported(tag)
    else:
        value = _CONSTRUCTOR.construct_object(yaml.ScalarNode(tag, text), deep=True)
    cache[text] = value
    return value


def _quoted(text: str) -> str:
    if len(text) < 2 or text[-1] != text[0]:
        raise _Unsupported("a quoted scalar with more after it, or over several lines")
    inner = text[1:-1]
    if text[0] == "'":
        if "'" in inner.replace("''", ""):
            raise _Unsupported("a stray quote")
        return inner.replace("''", "'")
    if "\\" not in inner:
        if '"' in inner:
            raise _Unsupported("a stray quote")
        return inner
    rest = _JSON_ESCAPES.sub("", inner)
    if "\\" in rest or '"' in rest:
        raise _Unsupported("an escape JSON does not have")
    try:
        decoded: str = json.loads(text)
    except ValueError:
        raise _Unsupported("a double-quoted scalar") from None
    return decoded


def _block_scalar(text: str, cache: dict[str, Any]) -> Any:
    """A one-line value: `text` is stripped and is neither empty nor a comment."""
    first = text[0]
    if first == "'" or first == '"':
        return _quoted(text)
    if text == "{}":
        return {}
    if text == "[]":
        return []
    if first in _NOT_PLAIN:
        raise _Unsupported(f"a value starting with {first!r}")
    if first in "-?:" and (len(text) == 1 or text[1] == " "):
        raise _Unsupported(f"a value starting with the indicator {first!r}")
    cut = text.find(" #")
    if cut != -1:
        text = text[:cut].rstrip(" ")
    if ": " in text or text[-1] == ":":
        raise _Unsupported("a plain scalar PyYAML would reject")
    return _plain(text, cache)


def _literal(header: str, lines: list[str], i: int, parent: int) -> tuple[str, int]:
    """A `|` block scalar whose header ends line i; returns it and the next line."""
    cut = header.find(" #")
    indicator = (header[:cut] if cut != -1 else header).rstrip(" ")
    if indicator not in ("|", "|-", "|+"):
        raise _Unsupported("a block scalar header")
    j = i + 1
    n = len(lines)
    block_indent = -1
    while j < n:
        line = lines[j]
        stripped = line.lstrip(" ")
        if stripped:
            ind = len(line) - len(stripped)
            if ind <= parent:
                break
            if block_indent == -1:
                block_indent = ind
            elif ind < block_indent:
                raise _Unsupported("a block scalar line less indented than its first")
        j += 1
    body = lines[i + 1 : j]
    end = len(body)
    while end and not body[end - 1].strip(" "):
        end -= 1
    if block_indent == -1 or any(len(line) > block_indent and not line.strip(" ") for line in body):
        raise _Unsupported("a block scalar of, or with lines of, spaces only")
    content = "\n".join(line[block_indent:] for line in body[:end])
    if indicator == "|-":
        return content, j
    if indicator == "|+":
        return content + "\n" * (len(body) - end + 1), j
    return content + "\n", j


def _block_load_all(text: str, *, prescan: bool = True) -> list[Any]:
    """`yaml.safe_load_all` for the block-style YAML kubectl and PyYAML's dumper print.

    One regular expression per line and a stack of open mappings and sequences: no
    object per token, ~3x faster than building from libyaml's events. Block mappings and
    sequences (indented or not), one-line plain and quoted scalars, `{}`, `[]`, literal
    `|` blocks, comments and `---`. Anything else (flow collections, anchors, tags,
    folded or multi-line scalars, tabs, invalid YAML) raises _Unsupported, and the
    caller reads the file again the general way."""
    if "\t" in text or (prescan and _clearly_other_yaml(text)):
        raise _Unsupported("tabs, flow collections, anchors or tags")
    lines = text.split("\n")
    n = len(lines)
    cache: dict[str, Any] = {}
    docs: list[Any] = []
    match = _LINE.match
    # A frame: [kind, column, container, pending] where pending is the key waiting for
    # its value (mappings; _NO_KEY if none) or whether the last item waits (sequences).
    stack: list[list[Any]] = []
    root: Any = _NO_KEY
    ended = False  # after `...`: only comments or `---` may follow

    def put(value: Any) -> None:
        nonlocal root
        if not stack:
            if root is not _NO_KEY:
                raise _Unsupported("a second root node")
            root = value
            return
        top = stack[-1]
        if top[0] == _MAP:
            if top[3] is _NO_KEY:
                raise _Unsupported("a value with no key to hold it")
            top[2][top[3]] = value
            top[3] = _NO_KEY
        else:
            if not top[3]:
                raise _Unsupported("a value with no sequence item to hold it")
            top[2][-1] = value
            top[3] = False

    def close(frame: list[Any]) -> None:
        if frame[0] == _MAP and frame[3] is not _NO_KEY:
            frame[2][frame[3]] = None

    def end_document() -> None:
        nonlocal root
        while stack:
            close(stack.pop())
        docs.append(None if root is _NO_KEY else root)
        root = _NO_KEY

    i = 0
    started = False  # has the current document any content (or an explicit `---`)?
    while i < n:
        line = lines[i]
        if not line:
            i += 1
            continue
        first = line[0]
        if first == "%":
            raise _Unsupported("a directive")
        if (
            (first == "-" or first == ".")
            and (line.startswith("---") or line.startswith("..."))
            and (len(line) == 3 or line[3] == " ")
        ):
            marker = line.rstrip(" ")
            if marker != "---" and marker != "...":
                raise _Unsupported("content on a document marker line")
            if marker == "---":
                if started or root is not _NO_KEY:
                    end_document()
                started, ended = True, False
                i += 1
                continue
            if marker == "...":
                if started or root is not _NO_KEY:
                    end_document()
                elif not docs:
                    raise _Unsupported("`...` before any document")  # PyYAML rejects it
                started, ended = False, True
                i += 1
                continue
        groups = match(line)
        assert groups is not None  # the pattern matches any line
        indent, dashes, key, rest = groups.groups()
        rest = rest.rstrip(" ")
        if not dashes and key is None and (not rest or rest[0] == "#"):
            i += 1  # blank or comment
            continue
        if ended:
            raise _Unsupported("content after `...`")
        started = True
        col = len(indent)
        while stack and (
            stack[-1][1] > col or (stack[-1][1] == col and stack[-1][0] == _SEQ and not dashes)
        ):
            close(stack.pop())
        c = col
        dash_col = -1
        if dashes:
            for width in [len(d) + 1 for d in dashes.split("-")[1:]]:
                dash_col = c
                top = stack[-1] if stack else None
                if top is not None and top[0] == _SEQ and top[1] == c:
                    if top[3]:
                        top[2][-1] = None  # the previous item stayed empty
                    top[2].append(None)
                    top[3] = True
                else:
                    if top is not None and top[0] == _MAP and top[1] == c and top[3] is _NO_KEY:
                        raise _Unsupported("a sequence inside a mapping at its column")
                    seq: list[Any] = [None]
                    put(seq)
                    stack.append([_SEQ, c, seq, True])
                c += width
        if key is not None:
            top = stack[-1] if stack else None
            if top is not None and top[0] == _MAP and top[1] == c:
                mapping = top[2]
                if top[3] is not _NO_KEY:
                    mapping[top[3]] = None  # the previous key stayed empty
            else:
                mapping = {}
                put(mapping)
                top = [_MAP, c, mapping, _NO_KEY]
                stack.append(top)
            k0 = key[0]
            if k0 in _SLOW_KEY:
                k = _quoted(key) if k0 == "'" or k0 == '"' else _plain(key, cache)
            else:
                k = key  # a plain string: the usual case, inlined
            if not rest or rest[0] == "#":
                top[3] = k
                i += 1
                continue
            top[3] = _NO_KEY
            r0 = rest[0]
            if r0 == "|":
                mapping[k], i = _literal(rest, lines, i, c)
                continue
            if r0 in _SLOW_VALUE or " #" in rest or ": " in rest or rest[-1] == ":":
                mapping[k] = _block_scalar(rest, cache)
            else:
                mapping[k] = rest  # a plain string: the usual case, inlined
        elif rest and rest[0] != "#":
            if rest[0] == "|":
                value, i = _literal(rest, lines, i, dash_col)
                put(value)
                continue
            if not dashes and (stack or root is not _NO_KEY):
                raise _Unsupported("a line continuing a scalar")
            put(_block_scalar(rest, cache))
        i += 1
    if started or root is not _NO_KEY:
        end_document()
    return docs


def load_yaml_documents(text: str) -> list[Any]:
    """Every document of a YAML stream, as `yaml.safe_load_all` gives them (empty
    documents dropped). Raises yaml.YAMLError on invalid YAML."""
    try:
        return [d for d in _block_load_all(text) if d is not None]
    except _Unsupported:
        pass
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
    except (ValueError, OverflowError) as exc:
        # PyYAML's constructors raise these for values YAML resolves but Python cannot
        # build: `date: 2001-13-45` is a timestamp with month 13.
        raise SourceError.single(str(path), f"invalid YAML value: {exc}") from None


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


class RecordingNotManifests(SourceError):
    """A file read as manifests is a recorded incident (what `triage record` writes). Found
    by parsing, not by looking for the text `kind: Incident`: recordings are JSON. Callers
    that take a SOURCE catch it and read the file as a recording."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(
            [
                Problem(
                    str(path),
                    "",
                    "",
                    "a recorded incident, not manifests; give it alone or with --recording",
                )
            ]
        )


def is_recording_document(doc: Any) -> bool:
    """A parsed document that is a recording (`apiVersion: triage/...`, `kind: Incident`);
    an unsupported triage version still counts, so the recording reader can say why."""
    return (
        isinstance(doc, Mapping)
        and doc.get("kind") == "Incident"
        and str(doc.get("apiVersion", "")).startswith("triage/")
    )


def documents_from(files: Iterable[Path]) -> Iterator[Document]:
    """Every object of the files, Lists expanded. Raises RecordingNotManifests for a file
    that is a recording (reading its sections as manifests would silently skip them all)."""
    for path in files:
        docs = read_documents(path)
        if len(docs) == 1 and is_recording_document(docs[0]):
            raise RecordingNotManifests(path)
        for i, doc in enumerate(docs):
            yield from flatten(str(path), i, doc)


def load_manifests(paths: Sequence[Path]) -> tuple[Snapshot, LoadReport]:
    files = manifest_files(paths)
    if not files:
        raise SourceError.single(", ".join(map(str, paths)), "no .yaml, .yml or .json files found")
    return assemble(documents_from(files))
