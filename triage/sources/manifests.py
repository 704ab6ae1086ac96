"""Load `kubectl get ns,pods,svc,netpol -A -o yaml|json` output, multi-document YAML, or a
folder of such files, through the one bounded reader (`sources.reader`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from triage.model import Snapshot
from triage.sources.assemble import Document, LoadReport, assemble, flatten
from triage.sources.errors import SourceError
from triage.sources.reader import InputError, load_json, load_yaml, read_text

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def read_documents(path: Path) -> list[Any]:
    """Every document of one file, YAML or JSON. Errors name the file and the line."""
    try:
        text = read_text(path)
        if path.suffix == ".json":
            return [load_json(text)]
        return load_yaml(text)
    except OSError as exc:
        raise SourceError.single(str(path), f"cannot read: {exc.strerror or exc}") from None
    except InputError as exc:
        raise SourceError.single(str(path), str(exc)) from None


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
    try:
        return assemble(documents_from(files))
    except RecursionError:  # a structure the reader let through, too deep for a walk
        raise SourceError.single(", ".join(map(str, files)), "nested too deeply") from None
