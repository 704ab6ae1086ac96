"""Manifest loading and validation: every problem named by file, object and field, all of
them at once; other kinds skipped and counted; namespaces synthesized with a warning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.engine_builders import CLASSIC, netpol, ns, pod
from triage.sources import SourceError
from triage.sources.assemble import assemble
from triage.sources.manifests import load_manifests


def problems_of(*docs: dict[str, Any]) -> list[str]:
    with pytest.raises(SourceError) as info:
        assemble(("f.yaml", i, d) for i, d in enumerate(docs))
    return [str(p) for p in info.value.problems]


def policy(spec_extra: dict[str, Any]) -> dict[str, Any]:
    doc = netpol("dev", "bad", {})
    doc["spec"].update(spec_extra)
    return doc


def ingress_peer(peer: Any) -> dict[str, Any]:
    return policy({"ingress": [{"from": [peer]}]})


def ingress_port(port: Any) -> dict[str, Any]:
    return policy({"ingress": [{"ports": [port]}]})


OBJ = "f.yaml: NetworkPolicy dev/bad"


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            ingress_peer(
                {
                    "podSelector": {
                        "matchExpressions": [{"key": "app", "operator": "Equals", "values": ["a"]}]
                    }
                }
            ),
            f"{OBJ}: spec.ingress[0].from[0].podSelector.matchExpressions[0].operator: unknown "
            "operator 'Equals'; expected one of In, NotIn, Exists, DoesNotExist",
        ),
        (
            ingress_peer({"podSelector": {"matchExpressions": [{"key": "app", "operator": "In"}]}}),
            f"{OBJ}: spec.ingress[0].from[0].podSelector.matchExpressions[0].values: operator In "
            "needs at least one value",
        ),
        (
            ingress_peer(
                {
                    "namespaceSelector": {
                        "matchExpressions": [{"key": "a", "operator": "NotIn", "values": []}]
                    }
                }
            ),
            f"{OBJ}: spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].values: "
            "operator NotIn needs at least one value",
        ),
        (
            ingress_peer(
                {
                    "podSelector": {
                        "matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]
                    }
                }
            ),
            f"{OBJ}: spec.ingress[0].from[0].podSelector.matchExpressions[0].values: operator "
            "Exists takes no values",
        ),
        (
            ingress_peer({"ipBlock": {"cidr": "10.0.0.300/8"}}),
            f"{OBJ}: spec.ingress[0].from[0].ipBlock.cidr: invalid CIDR '10.0.0.300/8' (expected "
            "an address/prefix length)",
        ),
        (
            ingress_peer({"ipBlock": {"cidr": "10.0.0.1"}}),
            f"{OBJ}: spec.ingress[0].from[0].ipBlock.cidr: invalid CIDR '10.0.0.1' (expected an "
            "address/prefix length)",
        ),
        (
            ingress_peer({"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.1.0.0/24"]}}),
            f"{OBJ}: spec.ingress[0].from[0].ipBlock.except[0]: 10.1.0.0/24 is not strictly "
            "inside cidr 10.0.0.0/16",
        ),
        (
            ingress_peer({"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.0.0.0/16"]}}),
            f"{OBJ}: spec.ingress[0].from[0].ipBlock.except[0]: 10.0.0.0/16 is not strictly "
            "inside cidr 10.0.0.0/16",
        ),
        (
            ingress_peer({"ipBlock": {"cidr": "fd00::/64", "except": ["10.0.0.0/24"]}}),
            f"{OBJ}: spec.ingress[0].from[0].ipBlock.except[0]: 10.0.0.0/24 is not strictly "
            "inside cidr fd00::/64",
        ),
        (
            ingress_peer({"ipBlock": {"cidr": "10.0.0.0/8", "except": ["banana"]}}),
            f"{OBJ}: spec.ingress[0].from[0].ipBlock.except[0]: invalid CIDR 'banana'",
        ),
        (
            ingress_peer({"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}),
            f"{OBJ}: spec.ingress[0].from[0]: ipBlock cannot be combined with podSelector or "
            "namespaceSelector",
        ),
        (
            ingress_peer({}),
            f"{OBJ}: spec.ingress[0].from[0]: a peer needs podSelector, namespaceSelector or "
            "ipBlock",
        ),
        (
            ingress_port({"port": 70000}),
            f"{OBJ}: spec.ingress[0].ports[0].port: port 70000 is out of range 1-65535",
        ),
        (
            ingress_port({"port": 0}),
            f"{OBJ}: spec.ingress[0].ports[0].port: port 0 is out of range 1-65535",
        ),
        (
            ingress_port({"port": "http", "endPort": 90}),
            f"{OBJ}: spec.ingress[0].ports[0].endPort: endPort needs a numeric port",
        ),
        (
            ingress_port({"endPort": 90}),
            f"{OBJ}: spec.ingress[0].ports[0].endPort: endPort needs a numeric port",
        ),
        (
            ingress_port({"port": 100, "endPort": 90}),
            f"{OBJ}: spec.ingress[0].ports[0].endPort: endPort 90 is below port 100",
        ),
        (
            ingress_port({"port": 100, "endPort": 65536}),
            f"{OBJ}: spec.ingress[0].ports[0].endPort: port 65536 is out of range 1-65535",
        ),
        (
            ingress_port({"port": 53, "protocol": "ICMP"}),
            f"{OBJ}: spec.ingress[0].ports[0].protocol: unknown protocol 'ICMP'; expected TCP, "
            "UDP or SCTP",
        ),
        (
            ingress_port({"port": 53, "protocol": "udp"}),
            f"{OBJ}: spec.ingress[0].ports[0].protocol: unknown protocol 'udp'; expected TCP, "
            "UDP or SCTP",
        ),
        (
            ingress_port({"port": "Not_A_Name"}),
            f"{OBJ}: spec.ingress[0].ports[0].port: invalid port name 'Not_A_Name': "
            "not an IANA_SVC_NAME (lowercase letters, digits and '-', alphanumeric ends)",
        ),
        # Wrong types
        (
            ingress_port({"port": [80]}),
            f"{OBJ}: spec.ingress[0].ports[0].port: expected a port number, got a list",
        ),
        (
            ingress_port({"port": True}),
            f"{OBJ}: spec.ingress[0].ports[0].port: expected a port number, got True",
        ),
        (
            policy({"ingress": {"from": []}}),
            f"{OBJ}: spec.ingress: expected a list, got dict",
        ),
        (
            ingress_peer("app=web"),
            f"{OBJ}: spec.ingress[0].from[0]: expected a mapping, got str",
        ),
        (
            ingress_peer({"podSelector": {"matchLabels": {"app": ["a"]}}}),
            f"{OBJ}: spec.ingress[0].from[0].podSelector.matchLabels.app: label values must be "
            "strings, got a list",
        ),
        (
            ingress_peer({"podSelector": {"matchLabels": {"enabled": True}}}),
            f"{OBJ}: spec.ingress[0].from[0].podSelector.matchLabels.enabled: YAML reads this "
            "value as a boolean (True); label values are strings: quote it",
        ),
        (
            ingress_peer(
                {
                    "podSelector": {
                        "matchExpressions": [{"key": "a", "operator": "In", "values": [True]}]
                    }
                }
            ),
            f"{OBJ}: spec.ingress[0].from[0].podSelector.matchExpressions[0].values: a value YAML "
            "reads as a number or boolean (True); selector values are strings: quote it",
        ),
        (
            ingress_peer({"podSelector": {"matchLabel": {"app": "a"}}}),
            f"{OBJ}: spec.ingress[0].from[0].podSelector.matchLabel: unknown field of a label "
            "selector",
        ),
        (
            policy({"policyTypes": ["Ingress", "Both"]}),
            f"{OBJ}: spec.policyTypes[1]: unknown policy type 'Both'; expected Ingress or Egress",
        ),
    ],
)
def test_policy_validation(doc: dict[str, Any], expected: str) -> None:
    assert problems_of(doc) == [expected]


def test_missing_pod_selector() -> None:
    doc = netpol("dev", "bad", {})
    del doc["spec"]["podSelector"]
    assert problems_of(doc) == [
        f"{OBJ}: spec.podSelector: missing (use {{}} to select every pod of the namespace)"
    ]


def test_every_problem_of_every_object_is_reported_at_once() -> None:
    bad_pod = pod("dev", "p", {"app": "x"}, ip="10.0.0.999", ports=[("http", 99999, "TCP")])
    lines = problems_of(
        ingress_port({"port": 0, "protocol": "ICMP"}),
        bad_pod,
        {"apiVersion": "v1", "metadata": {"name": "nokind"}},
    )
    assert lines == [
        f"{OBJ}: spec.ingress[0].ports[0].protocol: unknown protocol 'ICMP'; expected TCP, UDP "
        "or SCTP",
        f"{OBJ}: spec.ingress[0].ports[0].port: port 0 is out of range 1-65535",
        "f.yaml: Pod dev/p: spec.containers[0].ports[0].containerPort: port 99999 is out of "
        "range 1-65535",
        "f.yaml: Pod dev/p: status.podIPs[0].ip: invalid IP address '10.0.0.999'",
        "f.yaml: object nokind: kind: missing",
    ]


def test_pod_namespace_service_validation() -> None:
    bad_pod = pod("dev", "p")
    bad_pod["spec"]["hostNetwork"] = "yes"
    bad_pod["spec"]["containers"] = ["web"]
    nameless = ns("x")
    del nameless["metadata"]["name"]
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s", "namespace": "dev"},
        "spec": {"ports": [{"port": 80, "targetPort": 0, "protocol": "HTTP"}]},
    }
    assert problems_of(bad_pod, nameless, service) == [
        "f.yaml: Pod dev/p: spec.containers[0]: expected a mapping, got str",
        "f.yaml: Pod dev/p: spec.hostNetwork: expected true or false, got 'yes'",
        "f.yaml: Namespace #1: metadata.name: missing or not a string",
        "f.yaml: Service dev/s: spec.ports[0].targetPort: port 0 is out of range 1-65535",
        "f.yaml: Service dev/s: spec.ports[0].protocol: unknown protocol 'HTTP'; expected TCP, "
        "UDP or SCTP",
    ]


def test_valid_objects_parse_into_the_model() -> None:
    doc = policy(
        {
            "ingress": [
                {
                    "from": [
                        {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}},
                        {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "a"}}},
                    ],
                    "ports": [{"port": 8000, "endPort": 8100}, {"protocol": "UDP", "port": "dns"}],
                }
            ]
        }
    )
    snapshot, report = assemble([("f.yaml", 0, doc)])
    (pol,) = snapshot.policies
    (rule,) = pol.ingress
    assert rule.peers[0].ip_block is not None
    assert rule.peers[0].ip_block.excepts == ("10.1.0.0/16",)
    assert (
        rule.peers[1].namespace_selector is not None and rule.peers[1].namespace_selector.is_empty
    )
    assert [(p.protocol, p.port, p.end_port) for p in rule.ports] == [
        ("TCP", 8000, 8100),
        ("UDP", "dns", None),
    ]
    assert pol.policy_types == ("Ingress",)
    # The policy's namespace was not in the input: synthesized, with a warning.
    (namespace,) = snapshot.namespaces
    assert namespace.synthesized and namespace.labels == {"kubernetes.io/metadata.name": "dev"}
    assert report.warnings == (
        "namespace dev is used but not in the input; assumed with only the "
        "kubernetes.io/metadata.name=dev label (namespaceSelectors may see more labels on the "
        "real cluster)",
    )


def test_ipv6_pod_addresses_are_canonical() -> None:
    snapshot, _ = assemble([("f.yaml", 0, pod("dev", "p", ips=["10.0.0.1", "FD00:0::0001"]))])
    assert snapshot.pods[0].ips == ("10.0.0.1", "fd00::1")


def test_other_kinds_are_skipped_and_counted() -> None:
    calico = {
        "apiVersion": "crd.projectcalico.org/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "c", "namespace": "dev"},
        "spec": {"selector": "all()"},
    }
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}}
    docs = [ns("dev"), deploy, deploy, calico, {"kind": "ConfigMap", "metadata": {"name": "m"}}]
    snapshot, report = assemble(("f.yaml", i, d) for i, d in enumerate(docs))
    assert report.skipped_kinds == {
        "ConfigMap": 1,
        "Deployment": 2,
        "NetworkPolicy (crd.projectcalico.org/v1)": 1,
    }
    assert snapshot.policies == ()


def test_duplicate_objects_warn_and_the_later_wins() -> None:
    _, report = assemble([("f.yaml", 0, ns("a", {"v": "1"})), ("f.yaml", 1, ns("a", {"v": "2"}))])
    assert report.warnings == ("f.yaml: Namespace a appears twice; the later one wins",)


# ------------------------------------------------------------------ files


def test_load_the_classic_list(tmp_path: Path) -> None:
    snapshot, report = load_manifests([CLASSIC])
    assert len(snapshot.pods) == 7 and report.warnings == ()


def test_multi_document_yaml_json_and_folders(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.yaml").write_text(
        yaml.safe_dump_all([ns("dev"), pod("dev", "p", ip="10.0.0.1")]), encoding="utf-8"
    )
    (folder / "sub" / "b.json").write_text(
        json.dumps({"apiVersion": "v1", "kind": "List", "items": [netpol("dev", "x", {})]}),
        encoding="utf-8",
    )
    (folder / "c.json").write_text(json.dumps([pod("dev", "q")]), encoding="utf-8")
    (folder / "notes.txt").write_text("ignored", encoding="utf-8")
    snapshot, _ = load_manifests([folder])
    assert [p.name for p in snapshot.pods] == ["p", "q"]
    assert [p.name for p in snapshot.policies] == ["x"]


def test_typed_list_items_get_their_kind(tmp_path: Path) -> None:
    item = netpol("dev", "x", {})
    del item["kind"]
    path = tmp_path / "l.yaml"
    path.write_text(
        yaml.safe_dump({"kind": "NetworkPolicyList", "items": [item]}), encoding="utf-8"
    )
    snapshot, _ = load_manifests([path])
    assert [p.name for p in snapshot.policies] == ["x"]


def test_unreadable_inputs_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Pod\nmetadata: {name: [\n", encoding="utf-8")
    with pytest.raises(SourceError) as info:
        load_manifests([bad])
    assert str(info.value).startswith(f"{bad}: invalid YAML at line ")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{", encoding="utf-8")
    with pytest.raises(SourceError, match=r"bad\.json: invalid JSON at line 1"):
        load_manifests([bad_json])
    with pytest.raises(SourceError, match="no such file or directory"):
        load_manifests([tmp_path / "missing.yaml"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match=r"no \.yaml, \.yml or \.json files found"):
        load_manifests([empty])
    bad_date = tmp_path / "date.yaml"
    bad_date.write_text("a: 2001-13-45\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"invalid YAML value: month must be in 1\.\.12"):
        load_manifests([bad_date])
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just a string\n", encoding="utf-8")
    with pytest.raises(SourceError, match="document #0: expected a mapping"):
        load_manifests([scalar])


def test_a_bad_file_means_nothing_is_loaded(tmp_path: Path) -> None:
    good = tmp_path / "a-good.yaml"
    good.write_text(yaml.safe_dump(ns("dev")), encoding="utf-8")
    bad = tmp_path / "b-bad.yaml"
    bad.write_text(yaml.safe_dump(ingress_port({"port": 0})), encoding="utf-8")
    with pytest.raises(SourceError) as info:
        load_manifests([tmp_path])
    assert [str(p) for p in info.value.problems] == [
        f"{bad}: NetworkPolicy dev/bad: spec.ingress[0].ports[0].port: port 0 is out of range "
        "1-65535"
    ]


# ------------------------------------------------------------------ the YAML reader

TRICKY_YAML = [
    "a: 1\nb: 1.5\nc: true\nd: yes\ne: off\nf: ~\ng: null\nh: ''\ni: '1'\nj: \"true\"\n",
    "octal: 0755\nhex: 0x1F\nunderscore: 1_000\nsexagesimal: 1:20\nexp: 1e3\nneg: -7\n",
    "inf: .inf\nnan_is_str: nan\nTrue: key\n2: int-key\nnull: null-key\n",
    "when: 2001-12-14t21:59:43.10-05:00\nday: 2002-12-14\n",
    "ip: 10.0.0.1\nv6: fd00::1\ncidr: 10.0.0.0/8\nport: '8080'\nproto: TCP\n",
    "lit: |\n  line one\n  line two\nfold: >\n  folded\n  text\n",
    "flow: {a: [1, 2, {b: c}], d: []}\nempty: {}\n",
    "base: &b {x: 1}\nuse: *b\nlist: &l [1, 2]\nagain: *l\nscalar: &s hello\nref: *s\n",
    "merge: &m {a: 1}\nchild:\n  <<: *m\n  b: 2\n",  # merge keys: PyYAML's own path
    "tagged: !!str 123\nbinary: !!binary aGVsbG8=\n",  # explicit tags: PyYAML's own path
    "? [complex, key]\n: value\n",  # unhashable key: PyYAML raises
    "---\na: 1\n---\n---\nb: [x]\n...\n",
    'unicode: h\u00e9llo \u2713\nquoted: "tab\\there"\n',
    "- 1\n- two\n- {three: 3}\n",
    "",
]


@pytest.mark.parametrize("text", TRICKY_YAML)
def test_fast_yaml_loader_matches_pyyaml(text: str) -> None:
    from triage.sources.reader import InputError, load_yaml

    try:
        expected = [d for d in yaml.load_all(text, Loader=yaml.CSafeLoader) if d is not None]
    except yaml.YAMLError as exc:
        with pytest.raises(InputError, match="unhashable"):
            load_yaml(text)
        assert "unhashable" in str(exc)
        return
    assert load_yaml(text) == expected


def test_fast_yaml_loader_keeps_anchored_collections_shared() -> None:
    from triage.sources.reader import load_yaml

    (doc,) = load_yaml("a: &x {k: v}\nb: *x\n")
    assert doc["a"] is doc["b"]


def test_fast_yaml_loader_on_the_classic_file() -> None:
    from triage.sources.reader import load_yaml

    text = CLASSIC.read_text(encoding="utf-8")
    assert load_yaml(text) == list(yaml.safe_load_all(text))


# The reader builds documents from libyaml's events; it must agree with CSafeLoader on
# everything it accepts: documents dumped in every style PyYAML and kubectl use, and
# mutations of them (which it must read exactly as PyYAML does, or refuse as PyYAML does,
# or refuse for a duplicate key).

_TEXT = st.sampled_from(
    [
        "web",
        "app.kubernetes.io/name",
        "10.0.0.1",
        "fd00::1",
        "8080",
        "0755",
        "1:20",
        "1e3",
        "yes",
        "No",
        "on",
        "null",
        "~",
        "",
        " ",
        "true",
        "a: b",
        "a:b",
        "- x",
        "#x",
        "x #y",
        "'q'",
        '"d"',
        "it's",
        'say "hi"',
        "{}",
        "[]",
        "&a",
        "*a",
        "!t",
        "|",
        ">",
        "%",
        "@",
        "`",
        "?",
        "? x",
        ":x",
        "-1",
        "-x",
        ".5",
        "é✓",
        "a\nb",
        "a\n",
        "\n",
        "tab\there",
        "back\\slash",
        "2001-12-14",
        "=",
        "<<",
        "x:",
        " lead",
        "trail ",
    ]
)
_SCALARS = st.one_of(
    _TEXT,
    st.text(alphabet="ab:#- '\"\n\\.{}[]|>&*!", max_size=8),
    st.integers(-5, 70000),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)
_KEYS = st.one_of(_TEXT, st.text(alphabet="abc-./:#' ", min_size=1, max_size=6), st.integers(0, 3))
_DOCS = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_KEYS, inner, max_size=4)),
    max_leaves=25,
)


def _fast_and_slow(text: str) -> None:
    from triage.sources.reader import InputError, load_yaml

    try:
        expected = [d for d in yaml.load_all(text, Loader=yaml.CSafeLoader) if d is not None]
    except yaml.YAMLError:
        with pytest.raises(InputError):
            load_yaml(text)
        return
    try:
        fast = load_yaml(text)
    except InputError as exc:
        assert "duplicate key" in str(exc), text
        return
    assert fast == expected, text


class _LiteralDumper(yaml.SafeDumper):
    """Writes multi-line strings as `|` blocks, the way kubectl writes them."""


_LiteralDumper.add_representer(
    str,
    lambda dumper, value: dumper.represent_scalar(
        "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None
    ),
)


@settings(max_examples=300, deadline=None)
@given(
    docs=st.lists(_DOCS, min_size=1, max_size=3),
    indent=st.sampled_from([2, 4]),
    width=st.sampled_from([80, 20, 10**6]),
    style=st.sampled_from([None, "'", '"', "literal"]),
)
def test_yaml_reader_agrees_with_pyyaml_on_dumped_documents(
    docs: list[Any], indent: int, width: int, style: str | None
) -> None:
    text = yaml.dump_all(
        docs,
        Dumper=_LiteralDumper if style == "literal" else yaml.SafeDumper,
        default_flow_style=False,
        indent=indent,
        width=width,
        allow_unicode=True,
        sort_keys=False,
        default_style=None if style == "literal" else style,
    )
    _fast_and_slow(text)


@settings(max_examples=300, deadline=None)
@given(
    doc=_DOCS,
    edits=st.lists(
        st.tuples(
            st.integers(0, 10**6), st.sampled_from([" ", "-", ":", "#", "'", "\n", "  ", "- ", ""])
        ),
        min_size=1,
        max_size=3,
    ),
    cut=st.integers(0, 3),
)
def test_yaml_reader_never_reads_text_differently_from_pyyaml(
    doc: Any, edits: list[tuple[int, str]], cut: int
) -> None:
    text = yaml.safe_dump(doc, default_flow_style=False, allow_unicode=True, sort_keys=False)
    for position, insert in edits:
        at = position % (len(text) + 1)
        text = text[:at] + insert + text[at + cut if insert == "" else at :]
    _fast_and_slow(text)


def test_yaml_reader_reads_kubectl_style_output() -> None:
    from triage.sources.reader import load_yaml

    text = (
        "apiVersion: v1\n"
        "items:\n"
        "- apiVersion: networking.k8s.io/v1\n"
        "  kind: NetworkPolicy\n"
        "  metadata:\n"
        "    annotations:\n"
        "      kubectl.kubernetes.io/last-applied-configuration: |\n"
        '        {"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy"}\n'
        '    creationTimestamp: "2024-05-01T10:00:00Z"\n'
        "    name: allow   # trailing comment\n"
        "    namespace: dev\n"
        "  spec:\n"
        "    ingress:\n"
        "    - from:\n"
        "      - podSelector:\n"
        "          matchLabels:\n"
        "            app: web\n"
        "      ports:\n"
        "      - port: 8080\n"
        "        protocol: TCP\n"
        "    podSelector: {}\n"
        "    policyTypes:\n"
        "    - Ingress\n"
        "kind: List\n"
        "metadata:\n"
        '  resourceVersion: ""\n'
    )
    assert load_yaml(text) == list(yaml.safe_load_all(text))


def test_generated_cluster_reads_as_dumped() -> None:
    from benchmarks.generator import generate_cluster
    from triage.sources.reader import load_yaml

    cluster = generate_cluster(60, 12, 3)
    text = yaml.dump(cluster, Dumper=yaml.CSafeDumper, sort_keys=False)
    assert load_yaml(text) == [cluster]


def test_a_port_name_twice_in_one_container_is_refused(tmp_path: Path) -> None:
    from triage.sources.errors import SourceError
    from triage.sources.manifests import load_manifests

    path = tmp_path / "pod.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\n"
        "spec: {containers: [{name: c, ports: [{name: http, containerPort: 80},"
        " {name: http, containerPort: 8080}]}]}\n"
    )
    with pytest.raises(SourceError) as err:
        load_manifests([path])
    assert str(err.value) == (
        f"{path}: Pod a/p: spec.containers[0].ports[1].name: "
        "duplicate port name 'http' in this container"
    )


def test_a_port_name_in_two_containers_resolves_to_the_first_like_findport() -> None:
    from triage.model import parse_flow
    from triage.policy import explain
    from triage.sources.assemble import assemble

    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "a"},
        "spec": {
            "containers": [
                {"name": "c", "ports": [{"name": "http", "containerPort": 8080}]},
                {"name": "d", "ports": [{"name": "http", "containerPort": 9090}]},
            ]
        },
        "status": {"podIP": "10.0.0.1"},
    }
    snapshot, _ = assemble([("x.yaml", 0, pod)])
    verdict = explain(snapshot, parse_flow("a/p", "a/p", "http")).verdicts[0]
    assert verdict.port == 8080


@pytest.mark.parametrize("typo", ["egres", "policyType", "ingres"])
def test_a_typo_in_a_policy_spec_is_refused_not_ignored(tmp_path: Path, typo: str) -> None:
    """`egres:` dropped silently would leave every pod open for egress."""
    from triage.sources.errors import SourceError
    from triage.sources.manifests import load_manifests

    path = tmp_path / "netpol.yaml"
    path.write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        f"metadata: {{name: x, namespace: a}}\nspec: {{podSelector: {{}}, {typo}: []}}\n"
    )
    with pytest.raises(SourceError) as err:
        load_manifests([path])
    assert str(err.value) == (
        f"{path}: NetworkPolicy a/x: spec.{typo}: unknown field; "
        "expected podSelector, policyTypes, ingress, egress"
    )
