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

from triage.sources.recording.bundled import (
    DEMO_INCIDENT,
    bundled_incident,
    bundled_incidents,
    bundled_incidents_dir,
)
from triage.sources.recording.document import (
    MANIFESTS,
    PARSED,
    dump_incident,
    incident_from_document,
    incident_from_manifests,
    incident_from_snapshot,
    incident_to_document,
    load_incident,
    read_incident_document,
    write_incident,
)
from triage.sources.recording.schema import (
    API_VERSION,
    SUPPORTED_VERSIONS,
    bundled_runbook_names,
    field_path,
    incident_schema,
    validate_document,
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
