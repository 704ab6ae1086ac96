"""The Kubernetes API test server, exercised through the real `kubernetes` client and kubectl.

These tests pin the server's fidelity: if one fails, tests of the tool built on the server
would be testing against the wrong protocol.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import urllib3
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.stream import stream
from websocket import WebSocketConnectionClosedException, create_connection

from tests.kubeapi import DEFAULT_TOKEN, ExecSession, KubeApiServer
from tests.kubeapi import builders as b

REPO = Path(__file__).resolve().parent.parent
USER = "system:serviceaccount:default:triage"


def status_of(error: ApiException) -> dict[str, Any]:
    body = json.loads(error.body)
    assert error.headers["Content-Type"] == "application/json"
    return body


@pytest.fixture
def api(kube_api: KubeApiServer, kubeconfig: Path) -> Iterator[client.ApiClient]:
    api_client = config.new_client_from_config(config_file=str(kubeconfig), context="triage-test")
    yield api_client
    api_client.close()


@pytest.fixture
def exec_api(kubeconfig: Path) -> Iterator[client.CoreV1Api]:
    # A dedicated ApiClient: stream() patches the client it runs on.
    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    yield client.CoreV1Api(api_client)
    api_client.close()


@pytest.fixture
def team_a(kube_api: KubeApiServer) -> KubeApiServer:
    kube_api.seed(
        namespaces=[b.namespace("team-a"), b.namespace("team-b")],
        pods=[
            b.pod(
                "web-0",
                "team-a",
                labels={"app": "web"},
                ip="10.0.0.10",
                ports=[("http", 8080, "TCP")],
            ),
            b.pod("db-0", "team-a", labels={"app": "db"}, ip="10.0.0.20"),
            b.pod("api-0", "team-b", labels={"app": "api"}, ip="10.0.1.10"),
        ],
        services=[b.service("web", "team-a", selector={"app": "web"})],
        network_policies=[b.network_policy("default-deny", "team-a", policy_types=["Ingress"])],
    )
    return kube_api


# -- discovery, seeding ------------------------------------------------------------------


def test_version_and_discovery(api: client.ApiClient) -> None:
    assert client.VersionApi(api).get_code().minor == "32"
    assert client.CoreApi(api).get_api_versions().versions == ["v1"]
    groups = {g.name for g in client.ApisApi(api).get_api_versions().groups}
    assert {"networking.k8s.io", "apiextensions.k8s.io"} <= groups
    resources = client.NetworkingV1Api(api).get_api_resources().resources
    netpol = next(r for r in resources if r.name == "networkpolicies")
    assert (netpol.kind, netpol.namespaced, netpol.short_names) == (
        "NetworkPolicy",
        True,
        ["netpol"],
    )
    core = {r.name: r for r in client.CoreV1Api(api).get_api_resources().resources}
    assert core["pods/exec"].verbs == ["create", "get"]
    assert core["namespaces"].namespaced is False


INCIDENT = """
apiVersion: triage/v1
kind: Incident
metadata: {title: t, cluster: c, context: ctx, capturedAt: 2024-06-12T09:58:41Z, summary: s}
namespaces:
- {apiVersion: v1, kind: Namespace, metadata: {name: shop, labels: {team: shop}}}
pods:
- metadata:
    name: web
    namespace: shop
    labels: {app: web}
    creationTimestamp: 2024-06-12T09:00:00Z
  spec: {containers: [{name: web, image: nginx}]}
  status:
    phase: Running
    podIP: 10.1.0.5
    containerStatuses: [{name: web, state: {running: {startedAt: 2024-06-12T09:00:05Z}}}]
- metadata: {name: bare, namespace: shop}
services:
- metadata: {name: web, namespace: shop}
  spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
networkPolicies:
- metadata: {name: deny, namespace: shop}
  spec: {podSelector: {}, policyTypes: [Ingress]}
flows: [{from: a, to: b}]
knownGood: []
"""


def test_from_incident_yaml_gives_objects_the_client_accepts(tmp_path: Path) -> None:
    path = tmp_path / "incident.yaml"
    path.write_text(INCIDENT)
    with KubeApiServer.from_incident(path) as server:
        assert server.incident["cluster"] == "c"
        api_client = config.new_client_from_config(
            config_file=str(server.write_kubeconfig(tmp_path))
        )
        core = client.CoreV1Api(api_client)
        pods = {p.metadata.name: p for p in core.list_pod_for_all_namespaces().items}
        web = pods["web"]
        # YAML timestamps came back as RFC 3339 strings, container statuses were completed.
        assert web.metadata.creation_timestamp.isoformat() == "2024-06-12T09:00:00+00:00"
        assert web.status.container_statuses[0].ready is True
        assert web.status.container_statuses[0].image == "nginx"
        assert pods["bare"].spec.containers[0].name == "app"
        assert isinstance(web.metadata.resource_version, str)
        assert web.metadata.uid
        assert core.read_namespaced_service("web", "shop").spec.ports[0].port == 80
        netpols = client.NetworkingV1Api(api_client).list_namespaced_network_policy("shop").items
        assert [(n.metadata.name, n.spec.policy_types) for n in netpols] == [("deny", ["Ingress"])]
        # Seeding stores what was recorded: no invented namespace label.
        assert core.read_namespace("shop").metadata.labels == {"team": "shop"}
        api_client.close()


@pytest.mark.parametrize(
    "incident",
    sorted((REPO / "triage" / "data" / "incidents").glob("*.yaml")),
    ids=lambda p: p.name,
)
def test_shipped_incidents_load_through_the_client(incident: Path, tmp_path: Path) -> None:
    document = yaml.safe_load(incident.read_text())
    with KubeApiServer.from_incident(document) as server:
        api_client = config.new_client_from_config(
            config_file=str(server.write_kubeconfig(tmp_path))
        )
        core, net = client.CoreV1Api(api_client), client.NetworkingV1Api(api_client)
        assert len(core.list_namespace().items) == len(document.get("namespaces") or [])
        assert len(core.list_pod_for_all_namespaces().items) == len(document.get("pods") or [])
        assert len(core.list_service_for_all_namespaces().items) == len(
            document.get("services") or []
        )
        netpols = net.list_network_policy_for_all_namespaces().items
        assert len(netpols) == len(document.get("networkPolicies") or [])
        api_client.close()


def test_seed_accepts_generators_and_counts(kube_api: KubeApiServer) -> None:
    start = kube_api.resource_version
    count = kube_api.seed(pods=(b.pod(f"p-{i}", "bulk") for i in range(300)))
    assert count == 300
    assert kube_api.resource_version == start + 300
    assert [p["metadata"]["name"] for p in kube_api.objects("po", "bulk")][:3] == [
        "p-0",
        "p-1",
        "p-10",
    ]


# -- LIST: pagination, selectors ---------------------------------------------------------


def test_pagination_walks_a_consistent_snapshot(
    kube_api: KubeApiServer, api: client.ApiClient
) -> None:
    kube_api.seed(pods=(b.pod(f"p-{i:02d}", "ns") for i in range(25)))
    core = client.CoreV1Api(api)
    first = core.list_namespaced_pod("ns", limit=10)
    assert [p.metadata.name for p in first.items] == [f"p-{i:02d}" for i in range(10)]
    assert first.metadata.remaining_item_count == 15
    # Writes after the first page do not leak into the remaining pages (snapshot at its RV).
    kube_api.add(b.pod("p-10a", "ns"))
    second = core.list_namespaced_pod("ns", limit=10, _continue=first.metadata._continue)
    third = core.list_namespaced_pod("ns", limit=10, _continue=second.metadata._continue)
    assert [p.metadata.name for p in second.items] == [f"p-{i:02d}" for i in range(10, 20)]
    assert [p.metadata.name for p in third.items] == [f"p-{i:02d}" for i in range(20, 25)]
    assert second.metadata.remaining_item_count == 5
    assert third.metadata._continue is None and third.metadata.remaining_item_count is None
    assert first.metadata.resource_version == second.metadata.resource_version
    assert len(core.list_namespaced_pod("ns").items) == 26


def test_expired_continue_token_answers_410(kube_api: KubeApiServer, api: client.ApiClient) -> None:
    kube_api.seed(pods=(b.pod(f"p-{i}", "ns") for i in range(5)))
    core = client.CoreV1Api(api)
    first = core.list_namespaced_pod("ns", limit=2)
    kube_api.expire_continue_tokens()
    with pytest.raises(ApiException) as caught:
        core.list_namespaced_pod("ns", limit=2, _continue=first.metadata._continue)
    body = status_of(caught.value)
    assert caught.value.status == 410
    assert (body["reason"], body["code"], body["status"]) == ("Expired", 410, "Failure")
    assert body["message"].startswith("The provided continue parameter is too old")
    # The Status carries an "inconsistent" token that continues from the current data.
    rest = core.list_namespaced_pod("ns", _continue=body["metadata"]["continue"])
    assert [p.metadata.name for p in rest.items] == ["p-2", "p-3", "p-4"]


def test_garbage_continue_token_is_a_bad_request(
    kube_api: KubeApiServer, api: client.ApiClient
) -> None:
    with pytest.raises(ApiException) as caught:
        client.CoreV1Api(api).list_namespaced_pod("ns", limit=2, _continue="not-a-token")
    assert caught.value.status == 400
    assert status_of(caught.value)["reason"] == "BadRequest"


def test_label_and_field_selectors(team_a: KubeApiServer, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    web = core.list_pod_for_all_namespaces(label_selector="app in (web,api)")
    assert sorted(p.metadata.name for p in web.items) == ["api-0", "web-0"]
    assert [
        p.metadata.name
        for p in core.list_pod_for_all_namespaces(label_selector="app!=web,app").items
    ] == [
        "db-0",
        "api-0",
    ]
    by_field = core.list_pod_for_all_namespaces(field_selector="metadata.namespace=team-b")
    assert [p.metadata.name for p in by_field.items] == ["api-0"]
    paged = core.list_pod_for_all_namespaces(label_selector="app", limit=1)
    assert paged.metadata._continue and paged.metadata.remaining_item_count is None


# -- NetworkPolicy writes ------------------------------------------------------------------


def _policy(name: str = "allow-web", **spec: Any) -> dict[str, Any]:
    body = b.network_policy(
        name,
        "team-a",
        pod_selector={"matchLabels": {"app": "web"}},
        ingress=[{"ports": [{"port": 8080, "protocol": "TCP"}]}],
    )
    body["spec"].update(spec)
    return body


def test_netpol_crud_bumps_resource_versions(team_a: KubeApiServer, api: client.ApiClient) -> None:
    net = client.NetworkingV1Api(api)
    created = net.create_namespaced_network_policy("team-a", _policy())
    rv1 = int(created.metadata.resource_version)
    assert created.metadata.uid and created.metadata.generation == 1
    assert team_a.get("netpol", "allow-web", "team-a")["kind"] == "NetworkPolicy"

    fetched = net.read_namespaced_network_policy("allow-web", "team-a")
    fetched.spec.ingress[0].ports[0].port = 8443
    replaced = net.replace_namespaced_network_policy("allow-web", "team-a", fetched)
    assert int(replaced.metadata.resource_version) > rv1
    assert replaced.metadata.generation == 2
    assert replaced.metadata.uid == created.metadata.uid

    patch = {"spec": {"ingress": [{"ports": [{"port": 9090}]}]}}
    patched = net.patch_namespaced_network_policy("allow-web", "team-a", patch)
    assert int(patched.metadata.resource_version) > int(replaced.metadata.resource_version)
    assert patched.spec.ingress[0].ports[0].port == 9090
    assert patched.spec.ingress[0].ports[0].protocol is None  # lists are replaced, not merged
    assert team_a.requests[-1].headers["Content-Type"] == "application/strategic-merge-patch+json"

    # A replace that changes nothing is not a write: the resourceVersion stays.
    same = net.replace_namespaced_network_policy("allow-web", "team-a", patched)
    assert same.metadata.resource_version == patched.metadata.resource_version

    deleted = net.delete_namespaced_network_policy("allow-web", "team-a")
    assert deleted["status"] == "Success"
    assert deleted["details"] == {
        "name": "allow-web",
        "group": "networking.k8s.io",
        "kind": "networkpolicies",
        "uid": created.metadata.uid,
    }
    with pytest.raises(ApiException) as caught:
        net.read_namespaced_network_policy("allow-web", "team-a")
    assert caught.value.status == 404
    assert status_of(caught.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'networkpolicies.networking.k8s.io "allow-web" not found',
        "reason": "NotFound",
        "details": {"name": "allow-web", "group": "networking.k8s.io", "kind": "networkpolicies"},
        "code": 404,
    }


def test_json_merge_and_json_patch(team_a: KubeApiServer, api: client.ApiClient) -> None:
    net = client.NetworkingV1Api(api)
    merged = net.patch_namespaced_network_policy(
        "default-deny",
        "team-a",
        {"metadata": {"labels": {"owner": "sre"}}},
        _content_type="application/merge-patch+json",
    )
    assert merged.metadata.labels == {"owner": "sre"}
    ops = [{"op": "add", "path": "/spec/policyTypes/-", "value": "Egress"}]
    patched = net.patch_namespaced_network_policy("default-deny", "team-a", ops)
    assert patched.spec.policy_types == ["Ingress", "Egress"]
    assert team_a.requests[-1].headers["Content-Type"] == "application/json-patch+json"


def test_dry_run_writes_change_nothing(team_a: KubeApiServer, api: client.ApiClient) -> None:
    net = client.NetworkingV1Api(api)
    rv_before = team_a.resource_version
    preview = net.create_namespaced_network_policy("team-a", _policy(), dry_run="All")
    assert preview.metadata.uid and preview.metadata.creation_timestamp
    assert preview.metadata.resource_version is None
    assert team_a.get("netpol", "allow-web", "team-a") is None

    stored = net.read_namespaced_network_policy("default-deny", "team-a")
    stored.spec.policy_types = ["Ingress", "Egress"]
    updated = net.replace_namespaced_network_policy("default-deny", "team-a", stored, dry_run="All")
    assert updated.spec.policy_types == ["Ingress", "Egress"]
    assert updated.metadata.resource_version == stored.metadata.resource_version
    # Query-string dry run (the Python client) and DeleteOptions dry run (kubectl).
    net.delete_namespaced_network_policy("default-deny", "team-a", dry_run="All")
    net.delete_namespaced_network_policy(
        "default-deny", "team-a", body=client.V1DeleteOptions(dry_run=["All"])
    )
    assert team_a.get("netpol", "default-deny", "team-a")["spec"]["policyTypes"] == ["Ingress"]
    assert team_a.resource_version == rv_before

    writes = [r for r in team_a.requests if r.method in ("POST", "PUT", "DELETE")]
    assert [(r.method, r.dry_run) for r in writes] == [
        ("POST", True),
        ("PUT", True),
        ("DELETE", True),
        ("DELETE", True),
    ]
    assert writes[-1].body["dryRun"] == ["All"] and "dryRun" not in writes[-1].query

    with pytest.raises(ApiException) as caught:
        net.create_namespaced_network_policy("team-a", _policy(), dry_run="Yes")
    assert caught.value.status == 400


def test_write_conflicts_answer_409(team_a: KubeApiServer, api: client.ApiClient) -> None:
    net = client.NetworkingV1Api(api)
    stale = net.read_namespaced_network_policy("default-deny", "team-a")
    net.patch_namespaced_network_policy(
        "default-deny", "team-a", {"metadata": {"labels": {"x": "1"}}}
    )
    with pytest.raises(ApiException) as caught:
        net.replace_namespaced_network_policy("default-deny", "team-a", stale)
    body = status_of(caught.value)
    assert (caught.value.status, body["reason"]) == (409, "Conflict")
    assert body["message"] == (
        "Operation cannot be fulfilled on networkpolicies.networking.k8s.io "
        '"default-deny": the object '
        "has been modified; please apply your changes to the latest version and try again"
    )
    assert body["details"] == {
        "name": "default-deny",
        "group": "networking.k8s.io",
        "kind": "networkpolicies",
    }

    with pytest.raises(ApiException) as caught:
        net.create_namespaced_network_policy("team-a", b.network_policy("default-deny", "team-a"))
    body = status_of(caught.value)
    assert (caught.value.status, body["reason"]) == (409, "AlreadyExists")
    assert body["message"] == 'networkpolicies.networking.k8s.io "default-deny" already exists'

    options = client.V1DeleteOptions(
        preconditions=client.V1Preconditions(resource_version=stale.metadata.resource_version)
    )
    with pytest.raises(ApiException) as caught:
        net.delete_namespaced_network_policy("default-deny", "team-a", body=options)
    assert status_of(caught.value)["reason"] == "Conflict"
    assert (
        "Precondition failed: ResourceVersion in precondition" in status_of(caught.value)["message"]
    )
    assert team_a.get("netpol", "default-deny", "team-a") is not None


def test_create_edge_cases_match_the_apiserver(
    team_a: KubeApiServer, api: client.ApiClient
) -> None:
    net = client.NetworkingV1Api(api)
    with pytest.raises(ApiException) as caught:
        net.create_namespaced_network_policy("ghost", b.network_policy("x", "ghost"))
    assert (caught.value.status, status_of(caught.value)["message"]) == (
        404,
        'namespaces "ghost" not found',
    )

    # Restoring a backup verbatim: the dry run passes, the real create fails with a bare 500.
    backup = team_a.get("netpol", "default-deny", "team-a")
    team_a.remove("netpol", "default-deny", "team-a")
    net.create_namespaced_network_policy("team-a", backup, dry_run="All")
    with pytest.raises(ApiException) as caught:
        net.create_namespaced_network_policy("team-a", backup)
    body = status_of(caught.value)
    assert caught.value.status == 500 and "reason" not in body
    assert body["message"] == "resourceVersion should not be set on objects to be created"

    # A missing podSelector is legal and means "all pods" (Go's zero value).
    created = net.create_namespaced_network_policy(
        "team-a", {"metadata": {"name": "no-selector"}, "spec": {"policyTypes": ["Egress"]}}
    )
    assert created.spec.pod_selector.to_dict() == {"match_expressions": None, "match_labels": None}
    assert team_a.get("netpol", "no-selector", "team-a")["spec"]["podSelector"] == {}


INVALID_SPECS = [
    ({"policyTypes": ["ingress"]}, "spec.policyTypes[0]", "FieldValueNotSupported",
     'Unsupported value: "ingress": supported values: "Egress", "Ingress"'),
    ({"ingress": [{"ports": [{"protocol": "ICMP"}]}]}, "spec.ingress[0].ports[0].protocol",
     "FieldValueNotSupported", 'Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP"'),
    ({"ingress": [{"ports": [{"port": 70000}]}]}, "spec.ingress[0].ports[0].port",
     "FieldValueInvalid", "Invalid value: 70000: must be between 1 and 65535, inclusive"),
    ({"egress": [{"ports": [{"port": 9000, "endPort": 8000}]}]}, "spec.egress[0].ports[0].endPort",
     "FieldValueInvalid", "Invalid value: 9000: must be greater than or equal to `port`"),
    ({"egress": [{"ports": [{"port": "dns", "endPort": 60}]}]}, "spec.egress[0].ports[0].endPort",
     "FieldValueInvalid", "Invalid value: 60: may not be specified when `port` is non-numeric"),
    ({"podSelector": {"matchExpressions": [{"key": "app", "operator": "In"}]}},
     "spec.podSelector.matchExpressions[0].values", "FieldValueRequired",
     "Required value: must be specified when `operator` is 'In' or 'NotIn'"),
    ({"podSelector": {"matchExpressions": [{"key": "app", "operator": "Equals", "values": ["a"]}]}},
     "spec.podSelector.matchExpressions[0].operator", "FieldValueInvalid",
     'Invalid value: "Equals": not a valid selector operator'),
    ({"ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/33"}}]}]},
     "spec.ingress[0].from[0].ipBlock.cidr", "FieldValueInvalid",
     'Invalid value: "10.0.0.0/33": must be a valid CIDR value, '
     "(e.g. 10.9.8.0/24 or 2001:db8::/64)"),
    ({"ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.1.0.0/24"]}}]}]},
     "spec.ingress[0].from[0].ipBlock.except[0]", "FieldValueInvalid",
     'Invalid value: "10.1.0.0/24": must be a strict subset of `cidr`'),
    ({"ingress": [{"from": [{}]}]}, "spec.ingress[0].from[0]", "FieldValueRequired",
     "Required value: must specify a peer"),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "field", "reason", "message"), INVALID_SPECS)
def test_invalid_netpol_answers_422(
    team_a: KubeApiServer,
    api: client.ApiClient,
    spec: dict[str, Any],
    field: str,
    reason: str,
    message: str,
) -> None:
    body = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "bad"},
        "spec": spec,
    }
    with pytest.raises(ApiException) as caught:
        client.NetworkingV1Api(api).create_namespaced_network_policy("team-a", body)
    status = status_of(caught.value)
    assert (caught.value.status, status["reason"], status["code"]) == (422, "Invalid", 422)
    assert (
        status["message"] == f'NetworkPolicy.networking.k8s.io "bad" is invalid: {field}: {message}'
    )
    assert status["details"] == {
        "name": "bad",
        "group": "networking.k8s.io",
        "kind": "NetworkPolicy",
        "causes": [{"reason": reason, "message": message, "field": field}],
    }


def test_invalid_name_and_several_errors(team_a: KubeApiServer, api: client.ApiClient) -> None:
    body = {"metadata": {"name": "Bad_Name"}, "spec": {"policyTypes": ["Sideways"]}}
    with pytest.raises(ApiException) as caught:
        client.NetworkingV1Api(api).create_namespaced_network_policy("team-a", body)
    status = status_of(caught.value)
    assert status["message"].startswith(
        'NetworkPolicy.networking.k8s.io "Bad_Name" is invalid: [metadata.name: '
    )
    assert [c["field"] for c in status["details"]["causes"]] == [
        "metadata.name",
        "spec.policyTypes[0]",
    ]


# -- auth, RBAC ------------------------------------------------------------------------


def test_wrong_or_missing_token_answers_401(kube_api: KubeApiServer, tmp_path: Path) -> None:
    for token in ("wrong", None):
        path = kube_api.write_kubeconfig(tmp_path / f"kc-{token}", token=token)
        api_client = config.new_client_from_config(config_file=str(path))
        with pytest.raises(ApiException) as caught:
            client.CoreV1Api(api_client).list_namespace()
        assert caught.value.status == 401
        assert status_of(caught.value) == {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "Unauthorized",
            "reason": "Unauthorized",
            "code": 401,
        }
        api_client.close()
    assert kube_api.requests[-1].headers.get("Authorization") is None
    # /version stays readable without credentials (system:public-info-viewer).
    response = urllib3.request("GET", f"{kube_api.url}/version")
    assert response.status == 200 and response.json()["minor"] == "32"


def test_forbid_answers_the_rbac_403(team_a: KubeApiServer, api: client.ApiClient) -> None:
    core, net = client.CoreV1Api(api), client.NetworkingV1Api(api)
    team_a.forbid("list", "pods")
    with pytest.raises(ApiException) as caught:
        core.list_pod_for_all_namespaces()
    assert caught.value.status == 403
    assert status_of(caught.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'pods is forbidden: User "{USER}" cannot list resource "pods" '
        'in API group "" at the cluster scope',
        "reason": "Forbidden",
        "details": {"kind": "pods"},
        "code": 403,
    }
    assert core.read_namespaced_pod("web-0", "team-a").metadata.name == "web-0"  # get is allowed

    team_a.forbid("get", "networkpolicies", namespace="team-a")
    with pytest.raises(ApiException) as caught:
        net.read_namespaced_network_policy("default-deny", "team-a")
    assert status_of(caught.value)["message"] == (
        f'networkpolicies.networking.k8s.io "default-deny" is forbidden: User "{USER}" cannot get '
        'resource "networkpolicies" in API group "networking.k8s.io" in the namespace "team-a"'
    )
    team_a.allow()
    assert len(core.list_pod_for_all_namespaces().items) == 3


# -- fault injection -------------------------------------------------------------------


def test_injected_status_on_the_nth_call(team_a: KubeApiServer, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    fault = team_a.inject("GET", r"/namespaces/team-a/pods$", status=503, on_call=2, times=2)
    assert len(core.list_namespaced_pod("team-a").items) == 2
    for _ in range(2):
        with pytest.raises(ApiException) as caught:
            core.list_namespaced_pod("team-a")
        body = status_of(caught.value)
        assert (caught.value.status, body["reason"], body["code"]) == (
            503,
            "ServiceUnavailable",
            503,
        )
    assert len(core.list_namespaced_pod("team-a").items) == 2
    assert (fault.calls, fault.fired) == (4, 2)
    assert core.list_pod_for_all_namespaces().items  # other paths were never affected


def test_retry_after_is_honoured_by_urllib3(team_a: KubeApiServer, api: client.ApiClient) -> None:
    # A 429/503 carrying Retry-After is re-sent by urllib3 itself: the caller never sees it.
    team_a.inject("GET", r"/namespaces/team-a/pods$", status=429, retry_after=0, times=2)
    assert len(client.CoreV1Api(api).list_namespaced_pod("team-a").items) == 2
    statuses = [r.status for r in team_a.requests_matching("GET", r"/namespaces/team-a/pods$")]
    assert statuses == [429, 429, 200]
    assert team_a.requests[-1].headers.get("Authorization") == f"Bearer {DEFAULT_TOKEN}"


def test_injected_delay_beats_the_client_timeout(
    team_a: KubeApiServer, api: client.ApiClient
) -> None:
    core = client.CoreV1Api(api)
    team_a.inject("GET", r"/namespaces/team-a/pods$", delay=2.0, times=None)
    started = time.monotonic()
    with pytest.raises(urllib3.exceptions.MaxRetryError) as caught:
        core.list_namespaced_pod("team-a", _request_timeout=0.2)
    assert isinstance(caught.value.reason, urllib3.exceptions.ReadTimeoutError)
    assert time.monotonic() - started < 1.9
    # urllib3's default Retry(3) re-sends a timed-out GET three times before giving up.
    assert len(team_a.requests_matching("GET", r"/namespaces/team-a/pods$")) == 4


def test_dropped_connection(team_a: KubeApiServer, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    team_a.inject("GET", r"/pods$", drop=True)
    # One drop is absorbed by urllib3's retry of idempotent requests...
    assert len(core.list_namespaced_pod("team-a").items) == 2
    assert [r.status for r in team_a.requests_matching("GET", r"/pods$")] == [None, 200]
    # ...a persistent one surfaces as a urllib3 error, not an ApiException.
    team_a.inject("GET", r"/pods$", drop=True, times=None)
    with pytest.raises(urllib3.exceptions.MaxRetryError) as caught:
        core.list_namespaced_pod("team-a")
    assert isinstance(caught.value.reason, urllib3.exceptions.ProtocolError)


async def test_server_is_usable_from_an_asyncio_test(kube_api: KubeApiServer) -> None:
    # The server has its own loop and thread, so an async test's loop cannot deadlock it.
    headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
    url = f"{kube_api.url}/api/v1/namespaces"
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        assert response.status == 200
        assert (await response.json())["kind"] == "NamespaceList"


# -- CRDs and Tables -------------------------------------------------------------------


def test_crds_are_listed_and_served(kube_api: KubeApiServer, api: client.ApiClient) -> None:
    kube_api.add_crd("networkpolicies.crd.projectcalico.org")
    kube_api.add_crd("adminnetworkpolicies.policy.networking.k8s.io")
    crds = client.ApiextensionsV1Api(api).list_custom_resource_definition().items
    assert sorted(c.metadata.name for c in crds) == [
        "adminnetworkpolicies.policy.networking.k8s.io",
        "networkpolicies.crd.projectcalico.org",
    ]
    anp = next(c for c in crds if c.spec.names.kind == "AdminNetworkPolicy")
    assert (anp.spec.scope, anp.spec.versions[0].name) == ("Cluster", "v1alpha1")
    groups = {g.name for g in client.ApisApi(api).get_api_versions().groups}
    assert {"crd.projectcalico.org", "policy.networking.k8s.io"} <= groups

    custom = client.CustomObjectsApi(api)
    kube_api.add(b.namespace("team-a"))
    body = {
        "apiVersion": "crd.projectcalico.org/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "calico-deny"},
        "spec": {"selector": "all()"},
    }
    custom.create_namespaced_custom_object(
        "crd.projectcalico.org", "v1", "team-a", "networkpolicies", body
    )
    listed = custom.list_cluster_custom_object("crd.projectcalico.org", "v1", "networkpolicies")
    assert [i["metadata"]["name"] for i in listed["items"]] == ["calico-deny"]
    assert client.NetworkingV1Api(api).list_network_policy_for_all_namespaces().items == []


def test_table_output_for_human_readable_get(team_a: KubeApiServer) -> None:
    headers = {
        "Authorization": f"Bearer {DEFAULT_TOKEN}",
        "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
    }
    table = urllib3.request("GET", f"{team_a.url}/api/v1/pods", headers=headers).json()
    assert table["kind"] == "Table"
    columns = [c["name"] for c in table["columnDefinitions"]]
    assert columns[:5] == ["Name", "Ready", "Status", "Restarts", "Age"]
    rows = {r["cells"][0]: r for r in table["rows"]}
    assert rows["web-0"]["cells"][1:3] == ["1/1", "Running"]
    assert rows["web-0"]["cells"][5] == "10.0.0.10"
    assert rows["web-0"]["object"]["metadata"]["namespace"] == "team-a"
    url = f"{team_a.url}/apis/networking.k8s.io/v1/namespaces/team-a/networkpolicies/default-deny"
    single = urllib3.request("GET", url, headers=headers).json()
    assert single["rows"][0]["cells"][:2] == ["default-deny", "<none>"]


def test_metadata_only_lists_and_unacceptable_media(kube_api: KubeApiServer) -> None:
    kube_api.add_crd("ciliumnetworkpolicies.cilium.io")
    url = f"{kube_api.url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    auth = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
    accept = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json"
    listing = urllib3.request("GET", url, headers={**auth, "Accept": accept}).json()
    assert listing["kind"] == "PartialObjectMetadataList"
    (item,) = listing["items"]
    assert item["kind"] == "PartialObjectMetadata" and "spec" not in item
    assert item["metadata"]["name"] == "ciliumnetworkpolicies.cilium.io"
    refused = urllib3.request(
        "GET", url, headers={**auth, "Accept": "application/vnd.kubernetes.protobuf"}
    )
    assert (refused.status, refused.json()["reason"]) == (406, "NotAcceptable")


# -- exec ------------------------------------------------------------------------------


def _exec(
    core: client.CoreV1Api, pod: str, command: list[str], namespace: str = "team-a", **kw: Any
) -> Any:
    ws = stream(
        core.connect_get_namespaced_pod_exec,
        pod,
        namespace,
        command=command,
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
        _preload_content=False,
        _request_timeout=10,
        **kw,
    )
    ws.run_forever(timeout=5)
    return ws


@pytest.mark.timeout(30)
def test_exec_stdout_stderr_and_exit_code(
    team_a: KubeApiServer, exec_api: client.CoreV1Api
) -> None:
    team_a.script_exec(
        "team-a",
        "web-0",
        ["nslookup"],
        stdout="Address: 10.96.0.10\n",
        stderr="warn\n",
        exit_code=1,
    )
    team_a.script_exec("team-a", "web-0", "nc -z", exit_code=0)
    ws = _exec(exec_api, "web-0", ["nslookup", "db.team-a.svc.cluster.local"])
    assert (ws.read_stdout(), ws.read_stderr(), ws.returncode) == (
        "Address: 10.96.0.10\n",
        "warn\n",
        1,
    )
    assert ws.subprotocol == "v5.channel.k8s.io"
    ws.close()
    ok = _exec(exec_api, "web-0", ["nc", "-z", "-w", "2", "10.0.0.20", "5432"])
    assert ok.returncode == 0
    ok.close()
    log = team_a.exec_log
    assert [(c.pod, c.container, c.argv[0], c.exit_code) for c in log] == [
        ("web-0", "app", "nslookup", 1),
        ("web-0", "app", "nc", 0),
    ]
    assert log[0].status["message"] == (
        "command terminated with non-zero exit code: error executing command "
        "[nslookup db.team-a.svc.cluster.local], exit code 1"
    )


@pytest.mark.timeout(30)
def test_unscripted_exec_fails_like_a_missing_binary(
    team_a: KubeApiServer, exec_api: client.CoreV1Api
) -> None:
    ws = _exec(exec_api, "web-0", ["nslookup", "x"])
    status = json.loads(ws.read_channel(3))
    assert (status["reason"], status["code"]) == ("InternalError", 500)
    assert 'exec: "nslookup": executable file not found in $PATH: unknown' in status["message"]
    assert status["details"]["causes"][0]["message"].startswith(
        "error executing command in container"
    )
    assert ws.read_stdout() == "" and not ws.is_open()
    ws.close()


@pytest.mark.timeout(30)
def test_exec_errors_before_the_upgrade(team_a: KubeApiServer, exec_api: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as caught:
        _exec(exec_api, "ghost", ["true"])
    assert caught.value.status == 0 and "Handshake status 404 Not Found" in caught.value.reason
    assert 'pods \\"ghost\\" not found' in caught.value.reason
    with pytest.raises(ApiException) as caught:
        _exec(exec_api, "web-0", ["true"], container="sidecar")
    assert "Handshake status 400" in caught.value.reason
    assert "container sidecar is not valid for pod web-0" in caught.value.reason
    team_a.add(b.pod("two", "team-a", containers=("app", "sidecar")))
    with pytest.raises(ApiException) as caught:
        _exec(exec_api, "two", ["true"])
    assert "a container name must be specified for pod two, choose one of: [app sidecar]" in (
        caught.value.reason
    )
    team_a.forbid("create", "pods/exec", namespace="team-a")
    with pytest.raises(ApiException) as caught:
        _exec(exec_api, "web-0", ["true"])
    assert "Handshake status 403" in caught.value.reason
    assert 'cannot create resource \\"pods/exec\\"' in caught.value.reason
    assert team_a.exec_log == []


@pytest.mark.timeout(30)
def test_exec_misbehaviour_handlers(team_a: KubeApiServer, exec_api: client.CoreV1Api) -> None:
    async def hang(session: ExecSession) -> None:
        await session.stdout("partial")
        await session.hang()

    async def drop(session: ExecSession) -> None:
        await session.stdout("partial")
        session.drop()

    async def big(session: ExecSession) -> None:
        await session.stdout(b"x" * 200_000)
        await session.finish(0)

    team_a.script_exec(None, None, ["hang"], handler=hang)
    team_a.script_exec(None, None, ["drop"], handler=drop)
    team_a.script_exec(None, None, ["big"], handler=big)
    ws = stream(
        exec_api.connect_get_namespaced_pod_exec, "web-0", "team-a", command=["hang"],
        stderr=True, stdin=False, stdout=True, tty=False,
        _preload_content=False, _request_timeout=5,
    )  # fmt: skip
    ws.run_forever(timeout=0.5)
    assert (ws.is_open(), ws.read_stdout(), ws.returncode) == (True, "partial", None)
    ws.close()
    with pytest.raises(WebSocketConnectionClosedException):
        _exec(exec_api, "web-0", ["drop"])
    large = _exec(exec_api, "web-0", ["big"])
    assert len(large.read_stdout()) == 200_000 and large.returncode == 0
    large.close()


@pytest.mark.timeout(30)
def test_exec_negotiates_v4_and_parses_go_booleans(team_a: KubeApiServer) -> None:
    team_a.script_exec("team-a", "web-0", ["id"], stdout="uid=0(root)\n")
    url = team_a.url.replace("http", "ws", 1) + (
        "/api/v1/namespaces/team-a/pods/web-0/exec?command=id&stdout=True&stderr=True&stdin=False&tty=False"
    )
    conn = create_connection(
        url,
        header=[f"Authorization: Bearer {DEFAULT_TOKEN}"],
        subprotocols=["v4.channel.k8s.io"],
        timeout=5,
    )
    frames = []
    try:
        while True:
            frame = conn.recv()
            if not frame:
                break
            frames.append(frame)
    except WebSocketConnectionClosedException:
        pass
    assert conn.subprotocol == "v4.channel.k8s.io"
    assert frames[0] == b"\x01"  # "connection established" on the first output channel
    assert frames[1] == b"\x01uid=0(root)\n"
    assert json.loads(frames[2][1:]) == {"metadata": {}, "status": "Success"} and frames[2][0] == 3
    conn.close()


@pytest.mark.timeout(30)
async def test_exec_post_upgrade_with_v4_only_client(team_a: KubeApiServer) -> None:
    # What kubernetes.aio's WsApiClient does: aiohttp ws_connect, v4 only; here via POST.
    team_a.script_exec("team-a", "db-0", ["pg_isready"], stderr="no response\n", exit_code=2)
    url = f"{team_a.url}/api/v1/namespaces/team-a/pods/db-0/exec"
    params = [("command", "pg_isready"), ("stdout", "1"), ("stderr", "1")]
    headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            url, method="POST", params=params, headers=headers, protocols=["v4.channel.k8s.io"]
        ) as ws,
    ):
        assert ws.protocol == "v4.channel.k8s.io"
        frames = [message.data async for message in ws]
    assert frames[:2] == [b"\x01", b"\x02no response\n"]
    status = json.loads(frames[2][1:])
    assert frames[2][0] == 3 and status["details"]["causes"] == [
        {"reason": "ExitCode", "message": "2"}
    ]
    assert team_a.exec_log[-1].method == "POST"


@pytest.mark.timeout(30)
def test_ephemeral_debug_container_then_exec(kube_api_factory: Any, tmp_path: Path) -> None:
    server = kube_api_factory(ephemeral_start_delay=0.3)
    server.seed(namespaces=[b.namespace("team-a")], pods=[b.pod("web-0", "team-a")])
    api_client = config.new_client_from_config(config_file=str(server.write_kubeconfig(tmp_path)))
    exec_client = config.new_client_from_config(
        config_file=str(server.write_kubeconfig(tmp_path / "exec.yaml"))
    )
    core, exec_core = client.CoreV1Api(api_client), client.CoreV1Api(exec_client)
    debug = {
        "name": "debugger",
        "image": "busybox:1.36",
        "command": ["sleep", "3600"],
        "targetContainerName": "app",
    }
    pod = core.patch_namespaced_pod_ephemeralcontainers(
        "web-0", "team-a", {"spec": {"ephemeralContainers": [debug]}}
    )
    assert [c.name for c in pod.spec.ephemeral_containers] == ["debugger"]
    assert pod.status.ephemeral_container_statuses[0].state.waiting.reason == "PodInitializing"
    assert server.requests[-1].headers["Content-Type"] == "application/strategic-merge-patch+json"

    with pytest.raises(ApiException) as caught:  # the kubelet cannot find it yet
        _exec(exec_core, "web-0", ["nslookup", "web"], container="debugger")
    assert 'container not found (\\"debugger\\")' in caught.value.reason

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status = core.read_namespaced_pod("web-0", "team-a").status.ephemeral_container_statuses[0]
        if status.state.running:
            break
        time.sleep(0.05)
    assert status.state.running is not None and status.name == "debugger"

    server.script_exec(
        "team-a", "web-0", ["nslookup"], stdout="Address: 10.0.0.10\n", container="debugger"
    )
    ws = _exec(exec_core, "web-0", ["nslookup", "web"], container="debugger")
    assert (ws.read_stdout(), ws.returncode) == ("Address: 10.0.0.10\n", 0)
    ws.close()
    assert server.exec_log[-1].container == "debugger"

    duplicate = {"spec": {"ephemeralContainers": [{"name": "app", "image": "busybox"}]}}
    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_pod_ephemeralcontainers("web-0", "team-a", duplicate)
    body = status_of(caught.value)
    assert (caught.value.status, body["message"]) == (
        422,
        'Pod "web-0" is invalid: spec.ephemeralContainers[1].name: Duplicate value: "app"',
    )
    api_client.close()
    exec_client.close()


# -- kubectl ---------------------------------------------------------------------------


@pytest.fixture
def tls_server(kube_api_factory: Any) -> KubeApiServer:
    # TLS so that kubectl sends the bearer token (client-go only does over TLS), keeping
    # authentication on for the kubectl tests too.
    server = kube_api_factory(tls=True)
    server.seed(
        namespaces=[b.namespace("team-a"), b.namespace("team-b")],
        pods=[
            b.pod(f"web-{i}", "team-a", labels={"app": "web"}, ip=f"10.0.0.{i + 10}")
            for i in range(3)
        ]
        + [b.pod("api-0", "team-b", labels={"app": "api"})],
        network_policies=[
            b.network_policy("default-deny", "team-a", policy_types=["Ingress"]),
            b.network_policy("allow-api", "team-b", pod_selector={"matchLabels": {"app": "api"}}),
        ],
    )
    return server


def test_kubectl_get_pods_json_follows_pagination(
    tls_server: KubeApiServer, kubectl_factory: Any
) -> None:
    result = kubectl_factory(tls_server).run("get", "pods", "-A", "-o", "json", "--chunk-size=2")
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    assert [(i["kind"], i["metadata"]["name"]) for i in listing["items"]] == [
        ("Pod", "web-0"),
        ("Pod", "web-1"),
        ("Pod", "web-2"),
        ("Pod", "api-0"),
    ]
    pages = tls_server.requests_matching("GET", r"^/api/v1/pods$")
    assert [r.query.get("limit") for r in pages] == ["2", "2"]
    assert "continue" in pages[1].query
    assert all(r.headers["Authorization"] == f"Bearer {DEFAULT_TOKEN}" for r in pages)


def test_kubectl_get_netpol_prints_table_columns(
    tls_server: KubeApiServer, kubectl_factory: Any
) -> None:
    result = kubectl_factory(tls_server).run("get", "netpol", "-A")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAMESPACE", "NAME", "POD-SELECTOR", "AGE"]
    assert lines[1].split()[:3] == ["team-a", "default-deny", "<none>"]
    assert lines[2].split()[:3] == ["team-b", "allow-api", "app=api"]
    assert "Unable to decode server response into a Table" not in result.stderr


def test_kubectl_create_and_server_dry_run_delete(
    tls_server: KubeApiServer, kubectl_factory: Any
) -> None:
    kubectl = kubectl_factory(tls_server)
    manifest = yaml.safe_dump(
        b.network_policy(
            "allow-web", "team-a", pod_selector={"matchLabels": {"app": "web"}}, ingress=[{}]
        )
    )
    created = kubectl.run("create", "-f", "-", input=manifest)
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == "networkpolicy.networking.k8s.io/allow-web created"
    post = tls_server.requests_matching("POST", r"/networkpolicies$")[-1]
    assert post.query.get("fieldValidation") == "Strict"  # validation left to the server

    deleted = kubectl.run("delete", "netpol", "allow-web", "-n", "team-a", "--dry-run=server")
    assert deleted.returncode == 0, deleted.stderr
    assert "deleted (server dry run)" in deleted.stdout
    assert tls_server.requests_matching("DELETE")[-1].body["dryRun"] == ["All"]
    assert tls_server.get("netpol", "allow-web", "team-a") is not None


def test_kubectl_exec_reports_the_exit_code(
    tls_server: KubeApiServer, kubectl_factory: Any
) -> None:
    tls_server.script_exec(
        "team-a", "web-0", ["cat", "/etc/resolv.conf"], stdout="nameserver 10.96.0.10\n"
    )
    tls_server.script_exec("team-a", "web-0", ["false"], exit_code=1)
    kubectl = kubectl_factory(tls_server)
    ok = kubectl.run("exec", "-n", "team-a", "web-0", "--", "cat", "/etc/resolv.conf")
    assert (ok.returncode, ok.stdout) == (0, "nameserver 10.96.0.10\n"), ok.stderr
    failed = kubectl.run("exec", "-n", "team-a", "web-0", "--", "false")
    assert failed.returncode == 1
    assert "command terminated with exit code 1" in failed.stderr
    assert [c.protocol for c in tls_server.exec_log] == ["v5.channel.k8s.io"] * 2


def test_kubectl_debug_adds_a_running_ephemeral_container(
    tls_server: KubeApiServer, kubectl_factory: Any
) -> None:
    kubectl = kubectl_factory(tls_server)
    result = kubectl.run(
        "debug", "-n", "team-a", "web-0", "--image=busybox:1.36", "--target=app", "-c", "dbg"
    )
    assert result.returncode == 0, result.stderr
    patch = tls_server.requests_matching("PATCH")[-1]
    assert patch.path == "/api/v1/namespaces/team-a/pods/web-0/ephemeralcontainers"
    assert patch.headers["Content-Type"] == "application/strategic-merge-patch+json"
    pod = tls_server.get("pod", "web-0", "team-a")
    assert [c["name"] for c in pod["spec"]["ephemeralContainers"]] == ["dbg"]
    assert "running" in pod["status"]["ephemeralContainerStatuses"][0]["state"]
