"""The recording format: schema validation, redaction, atomic writes, round-trips."""

from __future__ import annotations

import copy
import dataclasses
import gc
import io
import json
import math
import os
import stat
from pathlib import Path
from typing import Any, ClassVar

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from triage.model import (
    Container,
    ContainerPort,
    Direction,
    IPBlock,
    LabelSelector,
    Namespace,
    NetworkPolicy,
    Owner,
    Peer,
    Pod,
    PolicyPort,
    Requirement,
    Rule,
    Service,
    ServicePort,
    Snapshot,
    parse_flow,
)
from triage.model.incident import (
    Incident,
    IncidentMeta,
    KnownGood,
    Note,
    ProbeRecord,
    ReportedFlow,
)
from triage.model.untrusted import clean, clean_lines
from triage.sources.errors import SourceError
from triage.sources.recording import (
    DEMO_INCIDENT,
    PARSED,
    SUPPORTED_VERSIONS,
    bundled_incident,
    bundled_incidents,
    bundled_runbook_names,
    dump_incident,
    incident_from_document,
    incident_from_manifests,
    incident_schema,
    incident_to_document,
    load_incident,
    read_incident_document,
    write_incident,
)
from triage.sources.recording import codec as recording_codec
from triage.sources.recording import schema as recording_schema
from triage.sources.redact import (
    ALLOWED_ANNOTATIONS,
    UnrecordableKind,
    redact_manifest,
)
from triage.sources.schemacheck import compile_check

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def minimal_document() -> dict[str, Any]:
    return {
        "apiVersion": "triage/v1",
        "kind": "Incident",
        "metadata": {"title": "t", "capturedAt": "2024-05-14T09:12:00Z"},
        "namespaces": [
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": "web", "labels": {"kubernetes.io/metadata.name": "web"}},
            }
        ],
        "pods": [
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "a", "namespace": "web", "labels": {"app": "a"}},
                "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}]}]},
                "status": {"phase": "Running", "podIP": "10.0.0.1"},
            },
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "b", "namespace": "web", "labels": {"app": "b"}},
                "spec": {"containers": [{"name": "c"}]},
                "status": {"phase": "Running", "podIP": "10.0.0.2"},
            },
        ],
        "networkPolicies": [
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": "deny", "namespace": "web"},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
            }
        ],
        "flows": [{"from": "web/b", "to": "web/a", "port": 80}],
        "probes": [
            {
                "kind": "connect",
                "source": "web/b",
                "target": "10.0.0.1",
                "port": 80,
                "outcome": "timeout",
            }
        ],
        "notes": [{"at": "2024-05-14T09:13:00Z", "text": "n"}],
    }


def write_yaml(path: Path, document: Any) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def load_error(tmp_path: Path, document: Any, name: str = "incident.yaml") -> str:
    path = write_yaml(tmp_path / name, document)
    with pytest.raises(SourceError) as info:
        load_incident(path)
    return str(info.value)


# ---------------------------------------------------------------- schema


def test_schema_is_valid_draft_2020_12() -> None:
    schema = incident_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    # The Kubernetes API test server is seeded from exactly these keys.
    assert set(schema["properties"]) == {
        "apiVersion",
        "kind",
        "metadata",
        "namespaces",
        "pods",
        "services",
        "networkPolicies",
        "adminPolicies",
        "flows",
        "probes",
        "knownGood",
        "notes",
        "datapath",
    }


def test_minimal_document_loads(tmp_path: Path) -> None:
    incident = load_incident(write_yaml(tmp_path / "i.yaml", minimal_document()))
    assert incident.meta.title == "t"
    assert [p.name for p in incident.snapshot.pods] == ["a", "b"]
    assert incident.flows[0].flow == parse_flow("web/b", "web/a", 80)
    assert incident.probes[0].outcome == "timeout"
    assert incident.probes[0].protocol == "TCP"


def test_enum_error_names_the_field(tmp_path: Path) -> None:
    doc = minimal_document()
    doc["probes"] = [copy.deepcopy(doc["probes"][0]) for _ in range(3)]
    doc["probes"][2]["outcome"] = "maybe"
    message = load_error(tmp_path, doc)
    assert message == (
        f"{tmp_path / 'incident.yaml'}: probes[2].outcome: 'maybe' is not one of "
        "['success', 'timeout', 'refused', 'nxdomain', 'error']"
    )


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["metadata"].pop("title"), "metadata.title: missing"),
        (lambda d: d.update(secrets=[]), "secrets: unknown field; expected one of"),
        (lambda d: d["flows"][0].update(port=70000), "flows[0].port: 70000 is not a port"),
        (
            lambda d: d["metadata"].update(capturedAt="yesterday"),
            "metadata.capturedAt: 'yesterday' is not an RFC 3339 date-time",
        ),
        (
            lambda d: d["pods"][1].update(kind="Secret"),
            "pods[1].kind: expected 'Pod', got 'Secret'",
        ),
        (lambda d: d["probes"][0].update(durationMs="slow"), "probes[0].durationMs: 'slow' is not"),
        (lambda d: d["notes"][0].pop("text"), "notes[0].text: missing"),
        (
            lambda d: d["metadata"].update(runbook=["lateral-movement"]),
            "metadata.runbook: ['lateral-movement'] is not of type 'string'",
        ),
        (
            lambda d: d.update(
                knownGood=[
                    {"name": "k", "capturedAt": "2024-01-01T00:00:00Z", "podLabels": {"x": {}}}
                ]
            ),
            "knownGood[0].podLabels: 'x' is not NAMESPACE/POD",
        ),
    ],
)
def test_schema_errors_name_the_field(tmp_path: Path, mutate: Any, expected: str) -> None:
    doc = minimal_document()
    mutate(doc)
    message = load_error(tmp_path, doc)
    assert expected in message
    assert message.startswith(f"{tmp_path / 'incident.yaml'}: ")
    assert "Traceback" not in message


def test_every_schema_problem_is_reported_one_per_line(tmp_path: Path) -> None:
    doc = minimal_document()
    doc["probes"][0]["outcome"] = "maybe"
    doc["flows"][0]["protocol"] = "ICMP"
    lines = load_error(tmp_path, doc).splitlines()
    assert len(lines) == 2
    assert any("flows[0].protocol" in line for line in lines)
    assert any("probes[0].outcome" in line for line in lines)


def test_schema_errors_in_a_large_recording_name_the_object(tmp_path: Path) -> None:
    """jsonschema reads only the manifests the fast check refuses; paths stay absolute."""
    doc = minimal_document()
    pod = doc["pods"][0]
    doc["pods"] = [copy.deepcopy(pod) for _ in range(500)]
    for i, p in enumerate(doc["pods"]):
        p["metadata"]["name"] = f"p-{i}"
    doc["pods"][321]["metadata"]["labels"] = {"app": 7}
    doc["knownGood"] = [
        {"name": "k", "networkPolicies": [doc["networkPolicies"][0], {"kind": "Pod"}]}
    ]
    lines = load_error(tmp_path, doc).splitlines()
    file = str(tmp_path / "incident.yaml")
    assert lines == [  # sorted by path, one line a field, as jsonschema alone wrote them
        f"{file}: knownGood[0].networkPolicies[1].metadata: missing",
        f"{file}: knownGood[0].networkPolicies[1].spec: missing",
        f"{file}: knownGood[0].networkPolicies[1].kind: expected 'NetworkPolicy', got 'Pod'",
        f"{file}: pods[321].metadata.labels.app: 7 is not of type 'string'",
    ]


def test_the_fast_check_accepts_every_bundled_incident() -> None:
    """Valid files never reach jsonschema: the compiled check says yes to all of them."""
    check = compile_check(incident_schema())
    for path in bundled_incidents():
        assert check(read_incident_document(path)), path.name


def _paths(value: Any, where: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [where]
    if isinstance(value, dict):
        for key, item in value.items():
            out.extend(_paths(item, (*where, key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out.extend(_paths(item, (*where, i)))
    return out


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-2, 70000)
    | st.sampled_from([0.5, 1.0, 80.0])
    | st.sampled_from(["", "v1", "Pod", "web", "TCP", "timeout", "2024-05-14T09:12:00Z", "a/b"]),
    lambda inner: (
        st.lists(inner, max_size=2)
        | st.dictionaries(
            st.sampled_from(["name", "kind", "x", "labels", "spec"]), inner, max_size=2
        )
    ),
    max_leaves=4,
)


def _full_document() -> dict[str, Any]:
    doc = minimal_document()
    doc["services"] = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "s", "namespace": "web"},
            "spec": {"ports": [{"port": 80}]},
        }
    ]
    doc["knownGood"] = [
        {
            "name": "k",
            "capturedAt": "2024-01-01T00:00:00Z",
            "networkPolicies": copy.deepcopy(doc["networkPolicies"]),
            "namespaceLabels": {"web": {"team": "a"}},
            "podLabels": {"web/a": {"app": "a"}},
        }
    ]
    return doc


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_fast_check_never_passes_what_jsonschema_refuses(data: st.DataObject) -> None:
    """A schema change or a checker bug must never let an invalid file through: wherever
    the document is changed, the compiled check says yes only if jsonschema does, and the
    errors of the split validation are jsonschema's errors on the whole document."""
    doc = _full_document()
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from(_paths(doc)[1:]))
        parent = doc
        for part in where[:-1]:
            parent = parent[part]
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[where[-1]] = data.draw(_json_values)
        elif action == "delete":
            del parent[where[-1]]
        elif isinstance(parent[where[-1]], dict):
            parent[where[-1]][data.draw(st.sampled_from(["extra", "name", "kind"]))] = data.draw(
                _json_values
            )
    schema = incident_schema()
    expected = sorted(
        (list(e.absolute_path), e.message)
        for e in jsonschema.Draft202012Validator(schema).iter_errors(doc)
    )
    if compile_check(schema)(doc):
        assert expected == []
    split = sorted((path, e.message) for path, e in recording_schema._schema_errors(doc))
    assert split == expected


@pytest.mark.parametrize("version", ["triage/v2", "triage/v0", None])
def test_unknown_version_is_refused(tmp_path: Path, version: str | None) -> None:
    doc = minimal_document()
    if version is None:
        del doc["apiVersion"]
    else:
        doc["apiVersion"] = version
    message = load_error(tmp_path, doc)
    assert "apiVersion" in message
    assert f"this build reads {', '.join(SUPPORTED_VERSIONS)}" in message
    if version is not None:
        assert repr(version) in message


def test_policy_errors_go_through_the_manifest_parser(tmp_path: Path) -> None:
    doc = minimal_document()
    doc["networkPolicies"][0]["spec"]["ingress"] = [{"ports": [{"port": "Not_A_Name"}]}]
    message = load_error(tmp_path, doc)
    assert "networkPolicies[0]" in message
    assert "NetworkPolicy web/deny" in message
    assert "spec.ingress[0].ports[0].port" in message


def test_known_good_policy_errors_name_the_field(tmp_path: Path) -> None:
    doc = minimal_document()
    bad = copy.deepcopy(doc["networkPolicies"][0])
    bad["spec"]["policyTypes"] = ["Sideways"]
    doc["knownGood"] = [
        {"name": "k", "capturedAt": "2024-01-01T00:00:00Z", "networkPolicies": [bad]}
    ]
    message = load_error(tmp_path, doc)
    assert "knownGood[0].networkPolicies[0]" in message
    assert "spec.policyTypes[0]" in message


def test_bad_flow_names_the_entry(tmp_path: Path) -> None:
    doc = minimal_document()
    doc["flows"][0]["from"] = "not a pod"
    message = load_error(tmp_path, doc)
    assert "flows[0]: source 'not a pod'" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "empty"),
        ("apiVersion: triage/v1\n---\napiVersion: triage/v1\n", "2 YAML documents"),
        ("metadata: [unclosed\n", "invalid YAML at line"),
        ("- a list\n", "expected an Incident mapping"),
    ],
)
def test_unreadable_files(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SourceError, match=expected):
        load_incident(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="cannot read"):
        load_incident(tmp_path / "nope.yaml")


def test_timestamps_stay_strings(tmp_path: Path) -> None:
    path = tmp_path / "i.yaml"
    path.write_text(
        yaml.safe_dump(minimal_document()).replace(
            "'2024-05-14T09:12:00Z'", "2024-05-14T09:12:00Z"
        ),
        encoding="utf-8",
    )
    assert "capturedAt: 2024-05-14T09:12:00Z" in path.read_text()
    incident = load_incident(path)
    assert incident.meta.captured_at == "2024-05-14T09:12:00Z"
    assert incident.notes[0].at == "2024-05-14T09:13:00Z"


def test_flows_naming_missing_objects_warn(tmp_path: Path) -> None:
    doc = minimal_document()
    doc["flows"].append({"from": "web/ghost", "to": "web/svc/nothing", "port": 80})
    incident = load_incident(write_yaml(tmp_path / "i.yaml", doc))
    assert any(
        "flows[1]: web/ghost is not in the recording" in w for w in incident.snapshot.warnings
    )
    assert any("web/svc/nothing" in w for w in incident.snapshot.warnings)


# ---------------------------------------------------------------- redaction

SECRET_POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "payments-api-6f9c7b8d4-2xkqp",
        "namespace": "payments",
        "uid": "0b1c2d3e-0000-4000-8000-000000000001",
        "resourceVersion": "4242",
        "labels": {"app": "payments-api"},
        "annotations": {
            LAST_APPLIED: '{"spec":{"containers":[{"env":[{"value":"hunter2-LASTAPPLIED"}]}]}}',
            "vault.hashicorp.com/agent-inject-secret-db": "database/creds/VAULTPATH",
            "kubectl.kubernetes.io/default-container": "api",
        },
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "payments-api-6f9c7b8d4",
                "uid": "0b1c2d3e-0000-4000-8000-000000000002",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
        "managedFields": [{"manager": "kubectl-client-side-apply", "fieldsV1": {"f:x": {}}}],
    },
    "spec": {
        "serviceAccountName": "payments",
        "nodeName": "node-1",
        "containers": [
            {
                "name": "api",
                "image": "ghcr.io/acme/payments-api:3.18.2",
                "command": ["/bin/payments", "--db-password=COMMANDSECRET"],
                "args": ["--token", "ARGSSECRET"],
                "env": [
                    {"name": "PLAIN", "value": "ENVVALUESECRET"},
                    {
                        "name": "DB_PASSWORD",
                        "valueFrom": {
                            "secretKeyRef": {"name": "payments-db", "key": "SECRETKEYREF"}
                        },
                    },
                ],
                "envFrom": [{"secretRef": {"name": "ENVFROMSECRET"}}],
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                "volumeMounts": [{"name": "creds", "mountPath": "/var/run/MOUNTSECRET"}],
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
            }
        ],
        "initContainers": [{"name": "migrate", "env": [{"name": "X", "value": "INITENVSECRET"}]}],
        "ephemeralContainers": [
            {
                "name": "debugger-x7k2p",
                "image": "nicolaka/netshoot:v0.13",
                "env": [{"name": "Y", "value": "EPHEMERALSECRET"}],
                "command": ["sleep", "EPHEMERALCOMMAND"],
            }
        ],
        "volumes": [
            {"name": "creds", "secret": {"secretName": "VOLUMESECRET"}},
            {"name": "cfg", "configMap": {"name": "VOLUMECONFIGMAP"}},
        ],
        "imagePullSecrets": [{"name": "PULLSECRET"}],
    },
    "status": {
        "phase": "Running",
        "podIP": "10.42.3.17",
        "podIPs": [{"ip": "10.42.3.17"}],
        "hostIP": "10.0.1.5",
        "containerStatuses": [
            {
                "name": "api",
                "ready": True,
                "restartCount": 2,
                "image": "ghcr.io/acme/payments-api:3.18.2",
                "lastState": {"terminated": {"message": "LASTSTATEMESSAGE"}},
                "state": {
                    "terminated": {
                        "reason": "Error",
                        "exitCode": 1,
                        "message": "TERMINATIONMESSAGE",
                    }
                },
            }
        ],
    },
}

FORBIDDEN = (
    "hunter2",
    "LASTAPPLIED",
    LAST_APPLIED,
    "VAULTPATH",
    "vault.hashicorp.com",
    "COMMANDSECRET",
    "ARGSSECRET",
    "ENVVALUESECRET",
    "SECRETKEYREF",
    "secretKeyRef",
    "ENVFROMSECRET",
    "envFrom",
    "MOUNTSECRET",
    "volumeMounts",
    "VOLUMESECRET",
    "VOLUMECONFIGMAP",
    "volumes",
    "PULLSECRET",
    "INITENVSECRET",
    "EPHEMERALSECRET",
    "EPHEMERALCOMMAND",
    "TERMINATIONMESSAGE",
    "LASTSTATEMESSAGE",
    "managedFields",
    "serviceAccountName",
    "command",
    "args",
    "env",
    "SECRETDATA",
    "CONFIGMAPDATA",
)


def test_redact_pod_keeps_only_the_allow_list() -> None:
    out = redact_manifest(SECRET_POD)
    assert out["metadata"] == {
        "name": "payments-api-6f9c7b8d4-2xkqp",
        "namespace": "payments",
        "labels": {"app": "payments-api"},
        "annotations": {"kubectl.kubernetes.io/default-container": "api"},
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "payments-api-6f9c7b8d4",
                "uid": "0b1c2d3e-0000-4000-8000-000000000002",
                "controller": True,
            }
        ],
        "uid": "0b1c2d3e-0000-4000-8000-000000000001",
        "resourceVersion": "4242",
    }
    assert out["spec"] == {
        "containers": [
            {
                "name": "api",
                "image": "ghcr.io/acme/payments-api:3.18.2",
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
            }
        ],
        "ephemeralContainers": [{"name": "debugger-x7k2p", "image": "nicolaka/netshoot:v0.13"}],
        "nodeName": "node-1",
    }
    assert out["status"]["containerStatuses"] == [
        {
            "name": "api",
            "image": "ghcr.io/acme/payments-api:3.18.2",
            "ready": True,
            "restartCount": 2,
            "state": {"terminated": {"reason": "Error", "exitCode": 1}},
        }
    ]
    text = json.dumps(out)
    for word in FORBIDDEN:
        assert word not in text, word
    # The input is not modified, and the output shares nothing with it.
    assert SECRET_POD["spec"]["containers"][0]["env"]
    out["spec"]["containers"][0]["ports"][0]["containerPort"] = 1
    assert SECRET_POD["spec"]["containers"][0]["ports"][0]["containerPort"] == 8080


def test_redact_policy_keeps_spec_drops_annotations() -> None:
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": "p",
            "namespace": "ns",
            "labels": {"team": "x"},
            "uid": "u",
            "resourceVersion": "9",
            "generation": 3,
            "annotations": {LAST_APPLIED: "{...}", "kubernetes.io/description": "why"},
        },
        "spec": {"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]},
    }
    out = redact_manifest(policy)
    assert out["spec"] == policy["spec"]
    assert out["metadata"] == {
        "name": "p",
        "namespace": "ns",
        "labels": {"team": "x"},
        "annotations": {"kubernetes.io/description": "why"},
        "uid": "u",
        "resourceVersion": "9",
    }
    assert {
        "kubectl.kubernetes.io/default-container",
        "kubernetes.io/description",
    } == ALLOWED_ANNOTATIONS


def test_redact_service_and_namespace() -> None:
    service = {
        "kind": "Service",
        "metadata": {"name": "s", "namespace": "n", "annotations": {LAST_APPLIED: "x"}},
        "spec": {
            "type": "ClusterIP",
            "selector": {"app": "a"},
            "clusterIP": "10.96.0.1",
            "sessionAffinity": "None",
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
        "status": {"loadBalancer": {}},
    }
    out = redact_manifest(service)
    assert out == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s", "namespace": "n"},
        "spec": {
            "type": "ClusterIP",
            "selector": {"app": "a"},
            "clusterIP": "10.96.0.1",
            "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": "http"}],
        },
    }
    namespace = {
        "metadata": {"name": "n", "labels": {"env": "prod"}, "annotations": {"a": "b"}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }
    assert redact_manifest(namespace, kind="Namespace") == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "n", "labels": {"env": "prod"}},
        "status": {"phase": "Active"},
    }


@pytest.mark.parametrize("kind", ["Secret", "ConfigMap", "ServiceAccount", None])
def test_redact_refuses_other_kinds(kind: str | None) -> None:
    doc = {"kind": kind, "metadata": {"name": "x"}, "data": {"k": "SECRETDATA"}}
    with pytest.raises(UnrecordableKind, match="never holds"):
        redact_manifest(doc)


def test_written_recording_holds_no_secrets(tmp_path: Path) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "payments-db", "namespace": "payments"},
        "data": {"password": "SECRETDATA"},
    }
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cfg", "namespace": "payments"},
        "data": {"x": "CONFIGMAPDATA"},
    }
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": "default-deny-all",
            "namespace": "payments",
            "annotations": {LAST_APPLIED: '{"metadata":{"annotations":{"hunter2":"x"}}}'},
        },
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }
    listing = {"apiVersion": "v1", "kind": "List", "items": [secret, config_map, policy]}
    incident = incident_from_manifests(
        IncidentMeta("secrets stay home", captured_at="2024-05-14T09:12:00Z"),
        [SECRET_POD, listing],
    )
    path = tmp_path / "incident.yaml"
    write_incident(incident, path)
    text = path.read_text(encoding="utf-8")
    for word in FORBIDDEN:
        assert word not in text, word
    # What must be there is there.
    assert "payments-api-6f9c7b8d4-2xkqp" in text
    assert "0b1c2d3e-0000-4000-8000-000000000002" in text  # the owner uid
    assert "kubectl.kubernetes.io/default-container" in text
    reloaded = load_incident(path)
    assert reloaded == incident
    assert [p.key for p in reloaded.snapshot.policies] == ["payments/default-deny-all"]


def test_recorder_refuses_objects_without_kind() -> None:
    pod = {k: v for k, v in SECRET_POD.items() if k != "kind"}
    with pytest.raises(SourceError, match="kind: missing"):
        incident_from_manifests(IncidentMeta("t"), [pod])


# ---------------------------------------------------------------- atomic write


class Unserializable(str):
    """Passes the schema (it is a str) but the YAML dumper has no representer for it, so
    the dump fails after most of the file has been written."""


def test_interrupted_write_keeps_the_old_file(tmp_path: Path) -> None:
    incident = load_incident(bundled_incident("failed-rollout"))
    path = tmp_path / "incident.yaml"
    write_incident(incident, path)
    before = path.read_bytes()
    broken = dataclasses.replace(
        incident,
        meta=dataclasses.replace(incident.meta, title="changed"),
        notes=(*incident.notes, Note("2024-06-12T10:00:00Z", Unserializable("boom"))),
    )
    with pytest.raises(yaml.representer.RepresenterError):
        write_incident(broken, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["incident.yaml"]


def test_interrupted_write_by_the_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    incident = load_incident(bundled_incident("dns-egress-default-deny"))
    path = tmp_path / "incident.yaml"
    path.write_text("old content\n", encoding="utf-8")

    def no_space(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(SourceError, match="No space left on device"):
        write_incident(incident, path)
    assert path.read_text(encoding="utf-8") == "old content\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["incident.yaml"]


def test_invalid_incident_is_not_written(tmp_path: Path) -> None:
    incident = load_incident(bundled_incident("dns-egress-default-deny"))
    path = tmp_path / "incident.yaml"
    path.write_text("old content\n", encoding="utf-8")
    bad = dataclasses.replace(incident, meta=dataclasses.replace(incident.meta, title=""))
    with pytest.raises(SourceError, match=r"metadata\.title"):
        write_incident(bad, path)
    assert path.read_text(encoding="utf-8") == "old content\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["incident.yaml"]


def test_write_keeps_mode_and_reports_missing_directory(tmp_path: Path) -> None:
    incident = load_incident(bundled_incident("dns-egress-default-deny"))
    path = tmp_path / "incident.yaml"
    path.write_text("old\n", encoding="utf-8")
    path.chmod(0o600)
    write_incident(incident, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_incident(path) == incident
    with pytest.raises(SourceError, match="cannot write"):
        write_incident(incident, tmp_path / "missing" / "incident.yaml")


# ---------------------------------------------------------------- round-trips


@pytest.mark.parametrize("path", bundled_incidents(), ids=lambda p: p.stem)
def test_bundled_incidents_round_trip(tmp_path: Path, path: Path) -> None:
    incident = load_incident(path)
    out = tmp_path / path.name
    write_incident(incident, out)
    again = load_incident(out)
    assert again == incident
    # Writing is stable: the second write produces the same text.
    assert dump_incident(again) == out.read_text(encoding="utf-8")
    # The manifests kept from the file survive the rewrite (uids, owner apiVersions).
    assert incident_to_document(again) == incident_to_document(incident)


def test_round_trip_without_source_manifests(tmp_path: Path) -> None:
    """An Incident built from model objects alone (no manifests to fall back on)."""
    incident = load_incident(bundled_incident("failed-rollout"))
    stripped_policies = tuple(
        dataclasses.replace(p, manifest={}) for p in incident.snapshot.policies
    )
    bare = dataclasses.replace(
        incident,
        snapshot=incident.snapshot.with_policies(stripped_policies),
        extra={},
    )
    path = tmp_path / "bare.yaml"
    write_incident(bare, path)
    assert load_incident(path) == incident


def test_stale_source_manifest_is_not_used(tmp_path: Path) -> None:
    """A changed model wins over the manifest it was loaded from."""
    incident = load_incident(bundled_incident("frontend-canary-label-mismatch"))
    canary = incident.snapshot.pod("develop", "frontend-canary-5f6d7c9b4-p9zzt")
    assert canary is not None
    relabelled = dataclasses.replace(canary, labels={**canary.labels, "app": "frontend"})
    pods = tuple(relabelled if p is canary else p for p in incident.snapshot.pods)
    changed = dataclasses.replace(
        incident, snapshot=dataclasses.replace(incident.snapshot, pods=pods)
    )
    path = tmp_path / "changed.yaml"
    write_incident(changed, path)
    reloaded = load_incident(path)
    assert reloaded == changed
    assert reloaded != incident


def test_synthesized_namespaces_stay_assumed(tmp_path: Path) -> None:
    doc = minimal_document()
    doc["pods"][0]["metadata"]["namespace"] = "elsewhere"
    incident = load_incident(write_yaml(tmp_path / "i.yaml", doc))
    assert incident.snapshot.namespace_by_name["elsewhere"].synthesized
    write_incident(incident, tmp_path / "o.yaml")
    again = load_incident(tmp_path / "o.yaml")
    assert again == incident
    assert any("namespace elsewhere is used" in w for w in again.snapshot.warnings)


def model_incident() -> Incident:
    """Every shape the model can hold, with no manifests behind it."""
    pods = (
        Pod(
            "edge",
            "proxy-0",
            {"app": "proxy"},
            ("10.1.0.5", "fd00::5"),
            (
                Container(
                    "envoy",
                    "envoyproxy/envoy:v1.30",
                    (ContainerPort(8443, "TCP", "https"), ContainerPort(9901, "UDP")),
                ),
            ),
            host_network=True,
            owner=Owner("DaemonSet", "proxy"),
            node="node-a",
            phase="Running",
        ),
        Pod("edge", "pending", {}, (), (Container("c"),), phase="Pending"),
        Pod("edge", "orphan", {"x": "1"}, ("10.1.0.9",), owner=Owner("Widget", "w")),
    )
    services = (
        Service("edge", "manual", None, (ServicePort(80, 8080, "TCP"),), None, "ClusterIP"),
        Service(
            "edge",
            "proxy",
            {"app": "proxy"},
            (ServicePort(443, "https", "TCP", "https"), ServicePort(53, 53, "UDP", "dns")),
            "10.96.0.7",
            "NodePort",
        ),
    )
    policy = NetworkPolicy(
        "edge",
        "mixed",
        LabelSelector((("app", "proxy"),), (Requirement("tier", "Exists"),)),
        ("Egress", "Ingress"),
        ingress=(
            Rule(),
            Rule(
                (
                    Peer(namespace_selector=LabelSelector()),
                    Peer(
                        pod_selector=LabelSelector((), (Requirement("app", "NotIn", ("a", "b")),)),
                        namespace_selector=LabelSelector((("env", "prod"),)),
                    ),
                ),
                (PolicyPort("TCP", "https"), PolicyPort("UDP", 1000, 2000), PolicyPort("SCTP")),
            ),
        ),
        egress=(Rule((Peer(ip_block=IPBlock("10.0.0.0/8", ("10.1.0.0/16",))),)),),
        resource_version="17",
    )
    snapshot = Snapshot(
        namespaces=(Namespace("edge", {"kubernetes.io/metadata.name": "edge"}),),
        pods=tuple(sorted(pods, key=lambda p: p.key)),
        services=tuple(sorted(services, key=lambda s: s.key)),
        policies=(policy,),
    )
    return Incident(
        meta=IncidentMeta(
            "model only",
            cluster="c",
            context="ctx",
            captured_at="2024-01-02T03:04:05.123+01:00",
            summary="line one\nline two\n",
            runbook="failed-rollout",
        ),
        snapshot=snapshot,
        flows=(
            ReportedFlow(parse_flow("edge/orphan", "edge/svc/proxy", "https"), "named"),
            ReportedFlow(parse_flow("fd00::5", "edge/proxy-0", "53/UDP")),
        ),
        probes=(
            ProbeRecord("dns", "edge/orphan", "proxy.edge.svc", None, "UDP", "nxdomain"),
            ProbeRecord(
                "connect",
                "edge/orphan",
                "edge/svc/proxy",
                443,
                "TCP",
                "error",
                "  leading spaces\ttab\nlast line without newline",
                7,
                "2024-01-02T03:04:06Z",
            ),
        ),
        known_good=(
            KnownGood(
                "before",
                "2024-01-01T00:00:00Z",
                (policy,),
                {"edge": {"kubernetes.io/metadata.name": "edge"}},
                {"edge/proxy-0": {"app": "proxy"}},
            ),
            KnownGood("empty", "", ()),
        ),
        notes=(Note("", "no time"), Note("2024-01-02T03:05:00Z", "quote: 'x' \"y\" #z")),
    )


def test_model_round_trip(tmp_path: Path) -> None:
    incident = model_incident()
    path = tmp_path / "model.yaml"
    write_incident(incident, path)
    assert load_incident(path) == incident


# ---------------------------------------------------------------- JSON, which is YAML


class _Plain(yaml.CSafeLoader):
    """libyaml's safe loader, timestamps kept as strings (as recordings read them)."""

    yaml_implicit_resolvers: ClassVar[dict[Any, list[tuple[str, Any]]]] = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


def _read_both(text: str) -> tuple[Any, Any]:
    """What the JSON fast path and the YAML loader make of the same text."""
    return recording_codec._read_json(text), yaml.load(text, Loader=_Plain)


@pytest.mark.parametrize("path", bundled_incidents(), ids=lambda p: p.stem)
def test_recordings_are_written_as_json_that_yaml_reads_the_same(path: Path) -> None:
    incident = load_incident(path)
    text = dump_incident(incident)
    header, body = text.split("\n{", 1)
    assert all(line.startswith("# ") for line in header.splitlines())
    as_json = json.loads("{" + body)
    fast, as_yaml = _read_both(text)
    assert as_json == fast == as_yaml == incident_to_document(incident)


def test_short_mappings_and_lists_stay_on_one_line() -> None:
    text = dump_incident(load_incident(bundled_incident("failed-rollout")))
    assert '"labels": {"' in text
    assert '"policyTypes": ["' in text
    assert '"podIPs": [{"ip": "' in text
    assert all(len(line) <= 100 for line in text.splitlines() if line.endswith(("{", "[")))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    title=st.text(min_size=1),
    note=st.text(),
    # Label values follow the apiserver's syntax (checked on load): any text is refused.
    label=st.from_regex(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,20}[A-Za-z0-9])?)?", fullmatch=True),
)
def test_any_text_reads_back_the_same_through_json_and_yaml(
    title: str, note: str, label: str
) -> None:
    """C1 controls, line separators, NUL, quotes, astral characters: escaped where YAML
    needs it, so YAML and the JSON fast path read the same strings back (with control
    characters replaced by U+FFFD, as every free text of a recording)."""
    base = model_incident()
    incident = dataclasses.replace(
        base,
        meta=dataclasses.replace(base.meta, title=title, summary=note),
        notes=(Note("", note),),
        known_good=(KnownGood("k", "", (), {"edge": {"x": label}}),),
    )
    text = dump_incident(incident)
    fast, as_yaml = _read_both(text)
    assert fast is not None  # the fast path read it
    assert fast == as_yaml
    # Free text is untrusted: what comes back has its control characters replaced.
    cleaned = dataclasses.replace(
        incident,
        meta=dataclasses.replace(base.meta, title=clean(title), summary=clean_lines(note)),
        notes=(Note("", clean_lines(note)),),
    )
    assert incident_from_document(fast, "t.yaml") == cleaned


def test_numbers_read_as_yaml_reads_them() -> None:
    """JSON numbers YAML 1.1 takes for strings (`1e5`, `NaN`) are strings here too; the
    writer gives every float a dot so that it stays a float."""
    from triage.sources.recording.codec import _render_json

    numbers = {"big": 1e16, "small": 1.5e-07, "half": 0.5, "minus": -2.0}
    text = _render_json({"apiVersion": "triage/v1", "x-numbers": numbers})
    assert '"big": 1.0e+16' in text and '"small": 1.5e-07' in text
    fast, as_yaml = _read_both(text)
    assert fast == as_yaml == {"apiVersion": "triage/v1", "x-numbers": numbers}
    assert _read_both('{\n\t"tabs": 1}') == ({"tabs": 1}, {"tabs": 1})  # libyaml takes tabs
    hand = '{"apiVersion": "triage/v1", "a": 1e5, "b": 1.5E+3, "c": NaN, "d": -Infinity, "e": 2}'
    fast, as_yaml = _read_both(hand)
    assert fast == as_yaml
    assert fast == {
        "apiVersion": "triage/v1",
        "a": "1e5",
        "b": 1500.0,
        "c": "NaN",
        "d": "-Infinity",
        "e": 2,
    }


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1} # a comment after the mapping\n',
        '{"a": "x\x85y"}',  # a raw NEL: a line break to YAML
        '{"a": "\\ud83d\\ude00"}',  # an escaped surrogate pair: libyaml refuses it
        '\ufeff{"a": 1}',  # a byte-order mark
        '{"a": 1}\n---\n{"b": 2}\n',
        "%YAML 1.1\n---\n{a: 1}\n",
    ],
)
def test_anything_but_plain_json_is_read_by_yaml(tmp_path: Path, text: str) -> None:
    assert recording_codec._read_json(text) is None
    path = tmp_path / "x.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        expected = [d for d in yaml.load_all(text, Loader=_Plain) if d is not None]
    except yaml.YAMLError:
        with pytest.raises(SourceError, match="invalid YAML at line 1"):
            read_incident_document(path)
        return
    if len(expected) == 1:
        assert read_incident_document(path) == expected[0]
    else:
        with pytest.raises(SourceError, match=f"{len(expected)} YAML documents"):
            read_incident_document(path)


def test_broken_json_is_reported_by_yaml_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    text = dump_incident(load_incident(bundled_incident("dns-egress-default-deny")))
    lines = text.splitlines(keepends=True)
    lines.insert(6, '  "broken": [1, 2,, 3],\n')  # line 7
    path.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(SourceError, match="invalid YAML at line 7: did not find expected node"):
        load_incident(path)


def test_values_json_cannot_carry_are_written_as_block_yaml() -> None:
    """A non-string key or an infinite float has no faithful JSON: such a document is
    written the old way, and reads back the same. (A valid incident cannot carry one
    since policy specs are checked field by field; this is the writer's safety net.)"""
    for odd_value in ({"x-long": {"k" * 2000: 1}}, {"x-weight": math.nan}):
        with pytest.raises(recording_codec._NotPlain):
            recording_codec._render_json({"apiVersion": "triage/v1", "spec": odd_value})
    document = {"apiVersion": "triage/v1", "x-weight": math.inf, "x-by-number": {7: "seven"}}
    stream = io.StringIO()
    recording_codec._dump(document, stream)
    text = stream.getvalue()
    assert "\napiVersion: triage/v1\n" in "\n" + text  # block YAML
    assert yaml.load(text, Loader=_Plain) == document


def test_recorded_objects_are_written_without_a_second_redaction() -> None:
    """incident_from_manifests keeps (object, allow-listed manifest); the writer uses that
    manifest as long as the snapshot holds the very same object."""
    listing = {"apiVersion": "v1", "kind": "List", "items": [SECRET_POD]}
    incident = incident_from_manifests(IncidentMeta("t"), [listing])
    (pod,) = incident.snapshot.pods
    obj, manifest = incident.extra[PARSED][("Pod", pod.key)]
    assert obj is pod
    assert incident_to_document(incident)["pods"][0] is manifest
    relabelled = dataclasses.replace(pod, labels={"app": "other"})
    changed = dataclasses.replace(
        incident, snapshot=dataclasses.replace(incident.snapshot, pods=(relabelled,))
    )
    written = incident_to_document(changed)["pods"][0]
    assert written is not manifest
    assert written["metadata"]["labels"] == {"app": "other"}
    assert incident_from_document(incident_to_document(changed), "x") == changed


def test_loading_leaves_the_garbage_collector_on(tmp_path: Path) -> None:
    assert gc.isenabled()
    load_incident(bundled_incident("failed-rollout"))
    assert gc.isenabled()
    doc = minimal_document()
    doc["probes"][0]["outcome"] = "maybe"
    load_error(tmp_path, doc)
    assert gc.isenabled()


_label = st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True)
_selectors = st.builds(
    LabelSelector,
    st.dictionaries(_label, _label, max_size=2).map(lambda d: tuple(sorted(d.items()))),
    st.lists(
        st.one_of(
            st.builds(
                Requirement,
                _label,
                st.sampled_from(["In", "NotIn"]),
                st.lists(_label, min_size=1, max_size=3).map(tuple),
            ),
            st.builds(Requirement, _label, st.sampled_from(["Exists", "DoesNotExist"])),
        ),
        max_size=2,
    ).map(tuple),
)
_peers = st.one_of(
    st.builds(Peer, pod_selector=_selectors),
    st.builds(Peer, namespace_selector=_selectors),
    st.builds(Peer, pod_selector=_selectors, namespace_selector=_selectors),
    st.builds(
        Peer,
        ip_block=st.sampled_from(
            [IPBlock("10.0.0.0/8"), IPBlock("10.0.0.0/8", ("10.1.0.0/16",)), IPBlock("::/0")]
        ),
    ),
)
_ports = st.one_of(
    st.builds(PolicyPort, st.sampled_from(["TCP", "UDP", "SCTP"])),
    st.builds(PolicyPort, st.sampled_from(["TCP", "UDP"]), st.integers(1, 65535)),
    st.builds(PolicyPort, st.just("TCP"), _label),
    st.integers(1, 60000).map(lambda p: PolicyPort("TCP", p, p + 10)),
)
_rules = st.builds(
    Rule, st.lists(_peers, max_size=3).map(tuple), st.lists(_ports, max_size=3).map(tuple)
)


@st.composite
def _policies(draw: st.DrawFn) -> NetworkPolicy:
    choices: list[tuple[Direction, ...]] = [("Ingress",), ("Egress",), ("Egress", "Ingress")]
    types = draw(st.sampled_from(choices))
    return NetworkPolicy(
        "ns",
        draw(_label),
        draw(_selectors),
        types,
        ingress=tuple(draw(st.lists(_rules, max_size=3))) if "Ingress" in types else (),
        egress=tuple(draw(st.lists(_rules, max_size=3))) if "Egress" in types else (),
        resource_version=draw(st.none() | st.from_regex(r"[0-9]{1,6}", fullmatch=True)),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy=_policies())
def test_any_policy_round_trips(policy: NetworkPolicy) -> None:
    incident = Incident(
        IncidentMeta("p"),
        Snapshot(namespaces=(Namespace("ns"),), policies=(policy,)),
        known_good=(KnownGood("k", "2024-01-01T00:00:00Z", (policy,)),),
    )
    document = yaml.load(dump_incident(incident), Loader=yaml.SafeLoader)
    assert incident_from_document(document, "p.yaml") == incident


# ---------------------------------------------------------------- bundled


def test_bundled_incidents_are_found() -> None:
    names = [p.stem for p in bundled_incidents()]
    assert names == sorted(names)
    assert DEMO_INCIDENT in names
    assert bundled_incident("demo") == bundled_incident(DEMO_INCIDENT)
    assert bundled_incident(f"{DEMO_INCIDENT}.yaml").name == f"{DEMO_INCIDENT}.yaml"
    with pytest.raises(SourceError, match=r"no incident named 'nope'; available: demo, "):
        bundled_incident("nope")


def test_runbooks_incidents_is_the_bundled_folder() -> None:
    root = Path(__file__).resolve().parent.parent
    link = root / "runbooks" / "incidents"
    if not link.exists():  # an installed package without the source tree
        pytest.skip("no source checkout")
    assert sorted(p.name for p in link.glob("*.yaml")) == [p.name for p in bundled_incidents()]


# ---------------------------------------------------------------- the incident's runbook

UNKNOWN_RUNBOOK = (
    "metadata.runbook: {name!r} is not a bundled runbook (bundled: blocked-flow, "
    "default-deny-rollout, failed-rollout, lateral-movement); a runbook file of your own goes on "
    "`triage replay --runbook FILE`"
)


def test_runbook_in_the_schema_is_a_described_string_without_an_enum() -> None:
    runbook = incident_schema()["$defs"]["metadata"]["properties"]["runbook"]
    assert runbook["type"] == "string"
    assert "enum" not in runbook and "const" not in runbook
    assert "bundled runbook" in runbook["description"]
    assert "runbook" not in incident_schema()["$defs"]["metadata"]["required"]


def test_bundled_runbook_names_are_the_checklists() -> None:
    from triage.checklist import bundled_runbooks

    assert bundled_runbook_names() == bundled_runbooks()


def test_runbook_round_trips_through_block_yaml_and_json(tmp_path: Path) -> None:
    doc = minimal_document()
    doc["metadata"]["runbook"] = "lateral-movement"
    by_yaml = load_incident(write_yaml(tmp_path / "hand.yaml", doc))  # the YAML path
    assert by_yaml.meta.runbook == "lateral-movement"
    assert incident_to_document(by_yaml)["metadata"]["runbook"] == "lateral-movement"

    out = tmp_path / "written.yaml"
    write_incident(by_yaml, out)
    text = out.read_text(encoding="utf-8")
    assert recording_codec._read_json(text) is not None  # the JSON fast path reads it
    assert '"runbook": "lateral-movement"' in text
    by_json = load_incident(out)
    assert by_json == by_yaml
    assert by_json.meta.runbook == "lateral-movement"

    # None set: "" in the model, no key in the file.
    plain = load_incident(write_yaml(tmp_path / "plain.yaml", minimal_document()))
    assert plain.meta.runbook == ""
    assert "runbook" not in incident_to_document(plain)["metadata"]
    write_incident(plain, out)
    assert '"runbook"' not in out.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["contain", "runbooks/lateral-movement.yaml", "Blocked-Flow"])
def test_an_unknown_runbook_is_one_line_naming_the_field(tmp_path: Path, name: str) -> None:
    doc = minimal_document()
    doc["metadata"]["runbook"] = name
    expected = f"{tmp_path / 'incident.yaml'}: {UNKNOWN_RUNBOOK.format(name=name)}"
    assert load_error(tmp_path, doc) == expected  # YAML path
    as_json = tmp_path / "incident.json"
    as_json.write_text("# written by hand\n" + json.dumps(doc, indent=2), encoding="utf-8")
    assert recording_codec._read_json(as_json.read_text(encoding="utf-8")) is not None
    with pytest.raises(SourceError) as info:
        load_incident(as_json)  # JSON fast path
    assert str(info.value) == f"{as_json}: {UNKNOWN_RUNBOOK.format(name=name)}"


def test_an_unknown_runbook_is_reported_with_the_schema_errors(tmp_path: Path) -> None:
    doc = minimal_document()
    doc["metadata"]["runbook"] = "nope"
    doc["probes"][0]["outcome"] = "maybe"
    lines = load_error(tmp_path, doc).splitlines()
    assert len(lines) == 2
    assert "probes[0].outcome" in lines[0]  # the schema's errors, then the runbook
    assert lines[1].endswith(UNKNOWN_RUNBOOK.format(name="nope"))


def test_an_incident_with_an_unknown_runbook_is_not_written(tmp_path: Path) -> None:
    incident = load_incident(write_yaml(tmp_path / "i.yaml", minimal_document()))
    bad = dataclasses.replace(incident, meta=dataclasses.replace(incident.meta, runbook="nope"))
    out = tmp_path / "never.yaml"
    with pytest.raises(SourceError, match=r"metadata\.runbook: 'nope' is not a bundled runbook"):
        write_incident(bad, out)
    assert not out.exists()


def test_bundled_incidents_name_their_runbook() -> None:
    """Only the lateral movement and the default-deny rollout need another runbook than
    blocked-flow: the demo's reported flow ends in "what changed" and the rollback handoff
    there already."""
    runbooks = {p.stem: load_incident(p).meta.runbook for p in bundled_incidents()}
    assert {name: rb for name, rb in runbooks.items() if rb} == {
        "lateral-movement-debug-pod": "lateral-movement",
        "default-deny-rollout": "default-deny-rollout",
    }
