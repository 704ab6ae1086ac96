"""The input trust boundary: every file is read boundedly and every object validated as the
apiserver validates it, before anything is evaluated (docs/security.md)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from triage.model.untrusted import preview
from triage.sources import reader
from triage.sources.assemble import assemble
from triage.sources.errors import SourceError
from triage.sources.manifests import load_manifests
from triage.sources.reader import InputError, load_json, load_yaml, read_text
from triage.sources.recording import load_incident

HOSTILE = Path(__file__).parent / "data" / "hostile"


def refusal(path: Path, *, recording: bool = False) -> list[str]:
    """The lines of the SourceError loading `path` gives (it must give one)."""
    started = time.perf_counter()
    with pytest.raises(SourceError) as err:
        if recording:
            load_incident(path)
        else:
            load_manifests([path])
    assert time.perf_counter() - started < 1.0
    return str(err.value).splitlines()


# ------------------------------------------------------------------ the reader


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "alias-bomb.yaml",
            "YAML aliases expand to more than 200,000 nodes at line 9 (an alias bomb?)",
        ),
        ("deep.json", "nested too deeply"),
        ("deep.yaml", "nested more than 200 levels deep at line 1"),
        ("duplicate-keys.yaml", "duplicate key 'ingress' at line 8"),
        ("duplicate-keys.json", "duplicate key 'name' in a mapping"),
    ],
)
def test_hostile_files_are_refused_in_one_line(name: str, expected: str) -> None:
    path = HOSTILE / name
    assert refusal(path) == [f"{path}: {expected}"]


def test_an_alias_bomb_in_a_recording_is_refused() -> None:
    path = HOSTILE / "alias-bomb-recording.yaml"
    (line,) = refusal(path, recording=True)
    assert line.startswith(f"{path}: YAML aliases expand to more than 200,000 nodes")


def test_a_duplicate_key_in_a_json_recording_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text('{"apiVersion": "triage/v1",\n "kind": "Incident",\n "kind": "Incident"}\n')
    assert refusal(path, recording=True) == [f"{path}: duplicate key 'kind' at line 3"]


def test_a_byte_order_mark_is_dropped() -> None:
    for name in ("bom.yaml", "bom.json"):
        snapshot, _ = load_manifests([HOSTILE / name])
        assert [n.name for n in snapshot.namespaces] == ["prod"]


def test_dev_zero_fails_fast() -> None:
    started = time.perf_counter()
    with pytest.raises(InputError, match="binary data"):
        read_text(Path("/dev/zero"))
    assert time.perf_counter() - started < 1.0
    lines = refusal(Path("/dev/zero"), recording=True)
    assert lines == ["/dev/zero: binary data (a NUL byte at offset 0)"]


def test_a_file_over_the_limit_is_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader, "MAX_INPUT_BYTES", 1024 * 1024)
    path = tmp_path / "big.yaml"
    path.write_bytes(b"# " + b"x" * (2 * 1024 * 1024) + b"\n")
    assert refusal(path) == [f"{path}: 2 MB is over the input limit of 1 MB"]


def test_a_pipe_is_read_with_the_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import threading

    monkeypatch.setattr(reader, "MAX_INPUT_BYTES", 1024 * 1024)
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)

    def write() -> None:
        with open(fifo, "wb") as stream:
            try:
                while True:
                    stream.write(b"a: b\n" * 4096)
            except BrokenPipeError:
                pass

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    with pytest.raises(InputError, match="more than the input limit of 1 MB"):
        read_text(fifo)


def test_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"a: caf\xe9\n")
    assert refusal(path) == [f"{path}: not UTF-8 text (byte 6)"]


def test_merge_keys_may_override_but_explicit_keys_may_not() -> None:
    assert load_yaml("a: &m {k: 1}\nb:\n  <<: *m\n  k: 2\n") == [{"a": {"k": 1}, "b": {"k": 2}}]
    with pytest.raises(InputError, match="duplicate key 'k' at line 5"):
        load_yaml("a: &m {k: 1}\nb:\n  <<: *m\n  k: 2\n  k: 3\n")


def test_timestamps_stay_strings_for_recordings() -> None:
    assert load_yaml("at: 2024-05-14T09:12:00Z\n", timestamps=False) == [
        {"at": "2024-05-14T09:12:00Z"}
    ]


def test_json_duplicate_keys_and_depth() -> None:
    with pytest.raises(InputError, match="duplicate key 'a'"):
        load_json('{"a": 1, "b": {}, "a": 2}')
    with pytest.raises(InputError, match="nested too deeply"):
        load_json("[" * 100_000 + "]" * 100_000)


# ------------------------------------------------------------------ what the apiserver refuses


def test_yaml_coercion_of_label_values_is_reported() -> None:
    path = HOSTILE / "coerced-labels.yaml"
    assert refusal(path) == [
        f"{path}: Pod prod/web: metadata.labels.version: YAML reads this value as a number "
        "(1.1); label values are strings: quote it",
        f"{path}: Pod prod/web: metadata.labels.mode: YAML reads this value as a number (493); "
        "label values are strings: quote it",
    ]


@pytest.mark.parametrize("name", ["bad-apiversion.yaml", "v1beta1.yaml"])
def test_a_networking_version_that_is_not_served_is_an_error_not_a_skip(name: str) -> None:
    path = HOSTILE / name
    (line,) = refusal(path)
    assert line.startswith(f"{path}: NetworkPolicy prod/deny: apiVersion: 'networking.k8s.io/")
    assert line.endswith(
        "is not a served version of NetworkPolicy (this tool reads networking.k8s.io/v1 "
        "or extensions/v1beta1)"
    )


def test_a_kind_in_the_wrong_case_is_an_error() -> None:
    doc = {"apiVersion": "networking.k8s.io/v1", "kind": "networkpolicy", "metadata": {"name": "x"}}
    with pytest.raises(SourceError) as err:
        assemble([("f.yaml", 0, doc)])
    assert str(err.value) == (
        "f.yaml: networkpolicy x: kind: 'networkpolicy' is not a kind (kinds are "
        "case-sensitive: NetworkPolicy)"
    )


def test_non_ascii_digits_and_quoted_numbers_are_not_ports() -> None:
    path = HOSTILE / "string-port.yaml"
    (line,) = refusal(path)
    assert "spec.ingress[0].ports[0].port: invalid port name '٨٠'" in line
    assert line.endswith(
        "not an IANA_SVC_NAME (lowercase letters, digits and '-', alphanumeric ends)"
    )


def test_an_empty_string_policy_types_is_refused_not_read_as_absent() -> None:
    path = HOSTILE / "policy-types-empty.yaml"
    assert refusal(path) == [
        f"{path}: NetworkPolicy prod/p: spec.policyTypes: expected a list, got str"
    ]


def test_names_and_labels_out_of_syntax_are_refused() -> None:
    path = HOSTILE / "bad-names.yaml"
    obj = f"{path}: Pod -prod/web$(touch${{IFS}}x);y"
    lines = refusal(path)
    assert lines[0].startswith(f"{obj}: metadata.name: 'web$(touch${{IFS}}x);y' is not a DNS-1123")
    assert lines[1].startswith(f"{obj}: metadata.namespace: '-prod' is not a DNS-1123 label")
    assert lines[2].startswith(f"{obj}: metadata.labels: invalid label key 'bad key!'")
    assert lines[3] == (
        f"{obj}: metadata.labels.app: invalid label value {preview(repr('v' * 64), 60)}: longer "
        "than 63 characters (64)"
    )


def _pod(**meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {"containers": []}}


@pytest.mark.parametrize(
    ("doc", "field", "why"),
    [
        (_pod(name="p", namespace="a", labels={"example.com/app": "x"}), None, None),
        (_pod(name="p", namespace="a", labels={"a/b/c": "x"}), "metadata.labels", "more than one"),
        (_pod(name="p", namespace="a", labels={"/app": "x"}), "metadata.labels", "prefix"),
        (
            _pod(name="p", namespace="a", labels={"Ex_ample.com/a": "x"}),
            "metadata.labels",
            "prefix",
        ),
        (_pod(name="p", namespace="a", labels={"a": "-x"}), "metadata.labels.a", "label value"),
        (_pod(name="p", namespace="a", labels={"a": ""}), None, None),
        (_pod(name="P", namespace="a"), "metadata.name", "DNS-1123 subdomain"),
        (_pod(name="p", namespace="a" * 64), "metadata.namespace", "longer than 63"),
        (_pod(name="ｗｅｂ", namespace="a"), "metadata.name", "DNS-1123 subdomain"),
    ],
)
def test_label_and_name_syntax(doc: dict[str, Any], field: str | None, why: str | None) -> None:
    from triage.sources.parse import parse_pod

    _, problems = parse_pod(doc, "f", 0)
    if field is None:
        assert problems == []
        return
    assert [p.field for p in problems] == [field]
    assert why in problems[0].message


def test_service_names_are_dns1035_and_ports_named_by_dns_label() -> None:
    from triage.sources.parse import parse_service

    svc = {
        "kind": "Service",
        "metadata": {"name": "1web", "namespace": "a"},
        "spec": {"ports": [{"name": "HTTP", "port": 80, "targetPort": "8080"}]},
    }
    _, problems = parse_service(svc, "f", 0)
    assert [(p.field, p.message.split(":")[0]) for p in problems] == [
        (
            "metadata.name",
            "'1web' is not a DNS-1035 label (lowercase letters, digits and '-', "
            "starting with a letter, alphanumeric at the end)",
        ),
        ("spec.ports[0].targetPort", "invalid port name '8080'"),
        ("spec.ports[0].name", "invalid port name 'HTTP'"),
    ]


def test_selector_keys_and_values_are_label_syntax() -> None:
    from triage.sources.parse import parse_network_policy

    policy = {
        "kind": "NetworkPolicy",
        "metadata": {"name": "p", "namespace": "a"},
        "spec": {
            "podSelector": {
                "matchExpressions": [
                    {"key": "bad key", "operator": "Exists"},
                    {"key": "tier", "operator": "In", "values": ["ok", "not ok"]},
                    {"key": "v", "operator": "In", "values": [1.1]},
                ]
            }
        },
    }
    _, problems = parse_network_policy(policy, "f", 0)
    assert [(p.field, p.message.split(":")[0]) for p in problems] == [
        ("spec.podSelector.matchExpressions[0].key", "invalid label key 'bad key'"),
        ("spec.podSelector.matchExpressions[1].values", "invalid label value 'not ok'"),
        (
            "spec.podSelector.matchExpressions[2].values",
            "a value YAML reads as a number or boolean (1.1); selector values are strings",
        ),
    ]


def test_end_port_rules() -> None:
    from triage.sources.parse import parse_network_policy

    def ports(*entries: dict[str, Any]) -> list[str]:
        policy = {
            "kind": "NetworkPolicy",
            "metadata": {"name": "p", "namespace": "a"},
            "spec": {"podSelector": {}, "ingress": [{"ports": list(entries)}]},
        }
        return [f"{p.field}: {p.message}" for p in parse_network_policy(policy, "f", 0)[1]]

    assert ports({"port": 80, "endPort": 90, "protocol": "SCTP"}) == []
    assert ports({"port": 80, "endPort": 70}) == [
        "spec.ingress[0].ports[0].endPort: endPort 70 is below port 80"
    ]
    assert ports({"port": "http", "endPort": 90}) == [
        "spec.ingress[0].ports[0].endPort: endPort needs a numeric port"
    ]
    assert ports({"port": 80, "endPort": 65536}) == [
        "spec.ingress[0].ports[0].endPort: port 65536 is out of range 1-65535"
    ]
    assert ports({"port": 80, "protocol": "tcp"}) == [
        "spec.ingress[0].ports[0].protocol: unknown protocol 'tcp'; expected TCP, UDP or SCTP"
    ]


def test_a_live_object_the_apiserver_accepted_is_a_warning_not_an_error() -> None:
    """`load_live` assembles leniently: what the cluster holds is what it enforces."""
    pod = _pod(name="Web_1", namespace="prod", labels={"app": "web"})
    broken = {"kind": "NetworkPolicy", "metadata": {"name": "x", "namespace": "prod"}, "spec": {}}
    snapshot, report = assemble([("live", 0, pod), ("live", 1, broken)], lenient=True)
    assert [p.name for p in snapshot.pods] == ["Web_1"]
    assert snapshot.policies == ()
    assert report.warnings[:2] == (
        "live: Pod prod/Web_1: metadata.name: 'Web_1' is not a DNS-1123 subdomain (lowercase "
        "letters, digits, '-' and '.', alphanumeric at both ends)",
        "live: NetworkPolicy prod/x: spec.podSelector: missing (use {} to select every pod of "
        "the namespace) (object skipped)",
    )
    with pytest.raises(SourceError):
        assemble([("f.yaml", 0, pod)])


def test_error_lines_are_bounded_and_clean(tmp_path: Path) -> None:
    path = tmp_path / "long.json"
    name = "\x1b]52;c;eA==\x07" + "a" * 100_000
    path.write_text(
        json.dumps({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": name}})
    )
    (line,) = refusal(path)
    assert len(line) < 700 and "\x1b" not in line and "\x07" not in line


def test_the_reader_runs_on_libyaml() -> None:
    """A silent fallback to the pure-Python parser would make a 10k-pod load ~10x slower."""
    assert reader._CParser is not None and reader._CLoader is __import__("yaml").CSafeLoader


def test_known_good_labels_follow_label_syntax(tmp_path: Path) -> None:
    from triage.sources.recording import incident_from_document

    document = {
        "apiVersion": "triage/v1",
        "kind": "Incident",
        "metadata": {"title": "t"},
        "knownGood": [{"name": "k", "podLabels": {"prod/web": {"app": "web server"}}}],
    }
    with pytest.raises(SourceError) as err:
        incident_from_document(document, "r.yaml")
    assert str(err.value) == (
        'r.yaml: knownGood[0].podLabels["prod/web"]["app"]: invalid label: not a valid label '
        "value (empty, or letters, digits, '-', '_' and '.', alphanumeric at both ends)"
    )
