"""Turn a stream of manifests (from files, a recording or the API) into one Snapshot."""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from triage.model import (
    NAMESPACE_NAME_LABEL,
    Namespace,
    NetworkPolicy,
    Pod,
    Service,
    Snapshot,
)
from triage.model.admin import AdminPolicy
from triage.model.untrusted import preview
from triage.sources.errors import Problem, SourceError
from triage.sources.parse import (
    describe_object,
    parse_namespace,
    parse_network_policy,
    parse_pod,
    parse_service,
)
from triage.sources.parse_admin import ANP_API, CNP_API, admin_load_warnings, parse_admin_policy

# (file, position in file, manifest); the position names objects that have no name.
Document = tuple[str, int, Mapping[str, Any]]

# (kind, key) → (the object in the snapshot, the manifest it was parsed from); the key is
# `namespace/name`, a Namespace's its name.
Origins = dict[tuple[str, str], tuple[Any, Mapping[str, Any]]]

Parser = Callable[[Mapping[str, Any], str, int], tuple[Any, list[Problem]]]


@dataclass(frozen=True)
class KindSpec:
    parser: Parser
    api_versions: tuple[str, ...]  # the apiVersions whose schema `parser` reads


# The kinds this tool reads: one line each. An object of such a kind is parsed when its
# apiVersion is listed (or absent: hand-written files, typed API lists). Another API group
# that shares the kind's name (a Calico `crd.projectcalico.org/v1` NetworkPolicy) is
# skipped and counted, not misread. A version of a listed group that is not listed
# (`networking.k8s.io/V1`, `networking.k8s.io/v1beta1`) is an error: skipping the policy
# would flip verdicts without a word, and the apiserver serves no such version.
KINDS: dict[str, KindSpec] = {
    "Namespace": KindSpec(parse_namespace, ("v1",)),
    "Pod": KindSpec(parse_pod, ("v1",)),
    "Service": KindSpec(parse_service, ("v1",)),
    "NetworkPolicy": KindSpec(parse_network_policy, ("networking.k8s.io/v1", "extensions/v1beta1")),
    # Antrea's and Calico's own cluster-wide kinds share these names in other groups.
    "ClusterNetworkPolicy": KindSpec(parse_admin_policy, (CNP_API,)),
    "AdminNetworkPolicy": KindSpec(parse_admin_policy, (ANP_API,)),
    "BaselineAdminNetworkPolicy": KindSpec(parse_admin_policy, (ANP_API,)),
}
_KINDS_BY_LOWER = {kind.lower(): kind for kind in KINDS}


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0].lower() if "/" in api_version else ""


def _kind_problem(kind: Any, api_version: Any) -> tuple[str, str] | None:
    """(field, message) when kind or apiVersion is wrong for a kind this tool reads; None
    when the object is to be parsed or skipped."""
    if not isinstance(kind, str):
        return "kind", f"expected a string, got {type(kind).__name__}"
    spec = KINDS.get(kind)
    if spec is None:
        known = _KINDS_BY_LOWER.get(kind.lower())
        if known is not None:
            return (
                "kind",
                f"{preview(repr(kind), 40)} is not a kind (kinds are case-sensitive: {known})",
            )
        return None
    if api_version is None or api_version in spec.api_versions:
        return None
    if not isinstance(api_version, str):
        return "apiVersion", f"expected a string, got {type(api_version).__name__}"
    if _group(api_version) in {_group(v) for v in spec.api_versions}:
        reads = " or ".join(spec.api_versions)
        return (
            "apiVersion",
            f"{preview(repr(api_version), 60)} is not a served version of {kind} "
            f"(this tool reads {reads})",
        )
    return None


@dataclass(frozen=True)
class LoadReport:
    skipped_kinds: Mapping[str, int] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    # Namespaces used but not in the input, made up with only their name label: each with
    # the warning that says so (a source that knows why they are missing may replace it).
    synthesized: Mapping[str, str] = field(default_factory=dict)


def flatten(file: str, index: int, doc: Any) -> Iterable[Document]:
    """Expand `kind: List` (and `*List`) documents, or a bare JSON/YAML list of objects,
    into their items."""
    if isinstance(doc, list):
        for i, item in enumerate(doc):
            yield from flatten(file, i, item)
        return
    if not isinstance(doc, Mapping):
        raise SourceError([Problem(file, f"document #{index}", "", "expected a mapping")])
    kind = doc.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and "items" in doc:
        items = doc.get("items") or []
        if not isinstance(items, list):
            raise SourceError([Problem(file, f"{kind} #{index}", "items", "expected a list")])
        item_kind = kind[: -len("List")] if kind != "List" else None
        for i, item in enumerate(items):
            # Typed lists from the API omit kind on items; kubectl adds it back.
            if item_kind and isinstance(item, Mapping) and "kind" not in item:
                item = {**item, "kind": item_kind}
            yield from flatten(file, i, item)
        return
    yield file, index, doc


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside. Loading a 10k-pod cluster allocates millions of
    objects, none of them in a cycle, and each full collection on the way walks them all:
    with the collector on, parsing takes 2-4 times as long. Nests; re-enables on the way
    out only what it disabled."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def assemble(
    documents: Iterable[Document], *, origins: Origins | None = None, lenient: bool = False
) -> tuple[Snapshot, LoadReport]:
    """Parse every document; raise SourceError with every problem if any object is invalid.
    `origins`, if given, is filled with the manifest each object of the snapshot came from.
    `lenient=True` (objects a live apiserver served) turns each object's problems into
    warnings: an object still readable is kept, one that is not is skipped."""
    with gc_paused():
        return _assemble(documents, origins, lenient)


def _assemble(
    documents: Iterable[Document], origins: Origins | None, lenient: bool
) -> tuple[Snapshot, LoadReport]:
    namespaces: dict[str, Namespace] = {}
    pods: dict[str, Pod] = {}
    services: dict[str, Service] = {}
    policies: dict[str, NetworkPolicy] = {}
    admin: dict[str, AdminPolicy] = {}
    problems: list[Problem] = []
    skipped: Counter[str] = Counter()
    warnings: list[str] = []
    for file, index, doc in documents:
        kind = doc.get("kind")
        if not kind:
            problems.append(Problem(file, describe_object(doc, index), "kind", "missing"))
            continue
        api_version = doc.get("apiVersion")
        wrong = _kind_problem(kind, api_version)
        if wrong is not None:
            problems.append(Problem(file, describe_object(doc, index), *wrong))
            continue
        spec = KINDS.get(kind)
        if spec is None:
            skipped[preview(kind, 60)] += 1
            continue
        if api_version is not None and api_version not in spec.api_versions:
            skipped[f"{preview(kind, 60)} ({preview(api_version, 60)})"] += 1
            continue
        obj, found = spec.parser(doc, file, index)
        if lenient:
            # What a live cluster accepted is what it enforces: its objects are used, and
            # what a file would be refused for is a warning.
            warnings.extend(f"{p}{'' if p.object_usable else ' (object skipped)'}" for p in found)
        else:
            problems.extend(found)
        if obj is None:
            continue
        key = obj.name if isinstance(obj, Namespace) else obj.key
        target: Any = {
            Namespace: namespaces,
            Pod: pods,
            Service: services,
            AdminPolicy: admin,
        }.get(type(obj), policies)
        if key in target:
            warnings.append(f"{file}: {kind} {key} appears twice; the later one wins")
        target[key] = obj
        if origins is not None:
            origins[(str(kind), key)] = (obj, doc)
    if problems:
        raise SourceError(problems)
    synthesized: dict[str, str] = {}
    used = {p.namespace for p in pods.values()} | {s.namespace for s in services.values()}
    used |= {p.namespace for p in policies.values()}
    for name in sorted(used - namespaces.keys()):
        namespaces[name] = Namespace(name, {NAMESPACE_NAME_LABEL: name}, synthesized=True)
        synthesized[name] = (
            f"namespace {name} is used but not in the input; assumed with only the "
            f"{NAMESPACE_NAME_LABEL}={name} label (namespaceSelectors may see more labels "
            "on the real cluster)"
        )
        warnings.append(synthesized[name])
    warnings.extend(admin_load_warnings(admin.values()))
    snapshot = Snapshot(
        namespaces=tuple(namespaces[k] for k in sorted(namespaces)),
        pods=tuple(pods[k] for k in sorted(pods)),
        services=tuple(services[k] for k in sorted(services)),
        policies=tuple(policies[k] for k in sorted(policies)),
        warnings=tuple(warnings),
        admin_policies=tuple(admin[k] for k in sorted(admin)),
    )
    return snapshot, LoadReport(dict(sorted(skipped.items())), tuple(warnings), synthesized)
