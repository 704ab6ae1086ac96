"""Load `kubectl get ns,pods,svc,netpol -A -o yaml|json` output, multi-document YAML, or a
folder of such files, through the one bounded reader (`sources.reader`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from triage.model import Snapshot
from triage.sources.assemble import Document, LoadReport, assemble, flatten
from triage.sources.errors import Problem, SourceError
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
    try:
        return assemble(documents_from(files))
    except RecursionError:  # a structure the reader let through, too deep for a walk
        raise SourceError.single(", ".join(map(str, files)), "nested too deeply") from None
