"""Incident documents and Incident objects: loading (schema-checked, parsed, assembled),
building for the recorder from manifests or a snapshot, writing atomically."""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

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
from triage.sources.reader import InputError, load_yaml, read_text
from triage.sources.recording.codec import _dump, _read_json
from triage.sources.recording.schema import API_VERSION, KIND, validate_document
from triage.sources.redact import RECORDABLE_KINDS, redact_manifest

# `Incident.extra[MANIFESTS]`: the source manifest of each object, keyed (kind, key), so a
# rewrite keeps what the model does not (uids, owner apiVersions, container statuses).
MANIFESTS = "manifests"


# `Incident.extra[PARSED]`: (kind, key) → (object, manifest) for the objects parsed from an
# allow-listed manifest (what the recorder builds). Writing such an object, if the snapshot
# still holds that very object, writes that manifest as it is: no second redaction, no
# re-parse to check that it still describes the object.
PARSED = "parsed"


_SECTIONS: tuple[tuple[str, str], ...] = (
    ("namespaces", "Namespace"),
    ("pods", "Pod"),
    ("services", "Service"),
    ("networkPolicies", "NetworkPolicy"),
    ("adminPolicies", "ClusterNetworkPolicy"),  # and AdminNetworkPolicy, BaselineAdmin...
)


T = TypeVar("T")


ManifestKey = tuple[str, str]


def dump_incident(incident: Incident) -> str:
    """The text `write_incident` writes."""
    buffer = io.StringIO()
    _dump(incident_to_document(incident), buffer)
    return buffer.getvalue()


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
