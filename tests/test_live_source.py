"""triage.sources.live against a real HTTP API: the Kubernetes API test server, or a real
cluster when TRIAGE_TEST_KUBECONFIG is set (then only the read-only tests run)."""

from __future__ import annotations

import dataclasses
import re
import socket
import time
from pathlib import Path

import pytest

from tests.kubeapi import DEFAULT_USER, KubeApiServer
from tests.kubeapi.builders import namespace, network_policy, pod
from tests.kubeapi.kubeconfig import write_kubeconfig
from tests.live_cluster import Cluster, cluster, empty_server, real_cluster, without_versions
from triage.errors import ClusterError, UsageError
from triage.sources.live import LiveTarget, api_clients, load_live
from triage.sources.recording import bundled_incident, load_incident
from triage.sources.redact import redact_manifest

__all__ = ["cluster", "empty_server"]  # fixtures, imported for pytest

pytestmark = pytest.mark.live

PODS_LIST = r"^/api/v1/pods$"


def _seed_pods(server_cluster: Cluster, count: int, ns: str = "bulk") -> None:
    server_cluster.server.seed(
        namespaces=[namespace(ns)],
        pods=(
            pod(f"p-{i:05d}", ns, labels={"app": f"a{i % 7}"}, ip=f"10.1.{i // 250}.{i % 250 + 1}")
            for i in range(count)
        ),
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------------------------------
# reading


def test_load_equals_the_seeded_incident(cluster: Cluster) -> None:
    server = cluster.server
    seed = load_incident(bundled_incident("failed-rollout"))
    result = load_live(cluster.target())
    assert without_versions(result.snapshot) == without_versions(seed.snapshot)
    assert result.context == "triage-test"
    assert result.cluster == "triage-test-cluster"
    assert result.server == server.url
    assert result.warnings == ()
    kinds = [d["kind"] for d in result.documents]
    assert kinds == sorted(kinds, key=["Namespace", "Pod", "Service", "NetworkPolicy"].index)
    assert all(d["apiVersion"] for d in result.documents)
    assert dict(result.counts) == {
        "namespaces": len(seed.snapshot.namespaces),
        "pods": len(seed.snapshot.pods),
        "services": len(seed.snapshot.services),
        "networkpolicies": len(seed.snapshot.policies),
    }


def test_every_call_names_the_tool(cluster: Cluster) -> None:
    server = cluster.server
    load_live(cluster.target())
    agents = {r.headers.get("User-Agent", "") for r in server.requests}
    assert agents and all(a.startswith("netpol-triage/") for a in agents)


def test_json_and_model_decoding_read_the_same_cluster(cluster: Cluster) -> None:
    fast = load_live(cluster.target())
    slow = load_live(cluster.target(), decode="models")
    assert without_versions(fast.snapshot) == without_versions(slow.snapshot)
    # Nothing of the client's models leaks: the documents are plain JSON data.
    assert {d["kind"] for d in slow.documents} <= {"Namespace", "Pod", "Service", "NetworkPolicy"}


def test_small_pages_read_the_same_cluster(cluster: Cluster) -> None:
    whole = load_live(cluster.target())
    paged = load_live(cluster.target(), page_size=2)
    assert without_versions(paged.snapshot) == without_versions(whole.snapshot)
    if not cluster.real:
        continued = [r for r in cluster.server.requests if r.query.get("continue")]
        assert continued, "two objects per page must have needed continue tokens"


def test_a_redacted_load_reads_the_same_cluster(cluster: Cluster) -> None:
    """`triage record`'s load: allow-listed copies as pages arrive, parsed once, and every
    object of the snapshot tied to the very manifest it was parsed from."""
    plain = load_live(cluster.target())
    redacted = load_live(cluster.target(), redact=True)
    assert redacted.redacted and not plain.redacted
    assert without_versions(redacted.snapshot) == without_versions(plain.snapshot)
    if not cluster.real:  # a real cluster may change between the two loads
        assert redacted.documents == [redact_manifest(d) for d in plain.documents]
    snap = redacted.snapshot
    objects = [*(n for n in snap.namespaces if not n.synthesized), *snap.pods, *snap.services]
    objects += snap.policies
    assert sorted(map(id, objects)) == sorted(id(obj) for obj, _ in redacted.origins.values())
    documents = {id(d) for d in redacted.documents}
    assert all(id(manifest) in documents for _, manifest in redacted.origins.values())
    assert all(p.manifest is redacted.origins[("NetworkPolicy", p.key)][1] for p in snap.policies)


def test_progress_reports_each_resource_with_its_count(cluster: Cluster) -> None:
    seen: list[tuple[str, int]] = []
    result = load_live(cluster.target(), progress=lambda what, n: seen.append((what, n)))
    order = list(dict.fromkeys(what for what, _ in seen))
    assert order == ["namespaces", "pods", "services", "networkpolicies"]
    last = {what: n for what, n in seen}
    assert last == dict(result.counts)


def test_pagination_over_1200_pods(empty_server: Cluster) -> None:
    server = empty_server.server
    _seed_pods(empty_server, 1200)
    seen: list[int] = []
    result = load_live(
        empty_server.target(), progress=lambda what, n: seen.append(n) if what == "pods" else None
    )
    assert len(result.snapshot.pods) == 1200
    lists = server.requests_matching("GET", PODS_LIST)
    assert [r.query.get("limit") for r in lists] == ["500", "500", "500"]
    tokens = [r.query.get("continue") for r in lists]
    assert tokens[0] is None and all(tokens[1:]) and len(set(tokens[1:])) == 2
    assert seen == [500, 1000, 1200]


def test_expired_continue_token_restarts_the_list_once(empty_server: Cluster) -> None:
    server = empty_server.server
    _seed_pods(empty_server, 1200)
    expired = []

    def compact_once(what: str, count: int) -> None:
        if what == "pods" and count == 500 and not expired:
            server.expire_continue_tokens()
            expired.append(count)

    result = load_live(empty_server.target(), progress=compact_once)
    assert len(result.snapshot.pods) == 1200
    statuses = [
        (r.query.get("continue") is not None, r.status)
        for r in server.requests_matching("GET", PODS_LIST)
    ]
    # first page, 410 on the second, then a fresh list of three pages
    assert statuses == [(False, 200), (True, 410), (False, 200), (True, 200), (True, 200)]


def test_a_list_that_keeps_expiring_is_an_error(empty_server: Cluster) -> None:
    server = empty_server.server
    _seed_pods(empty_server, 1200)

    def compact(what: str, count: int) -> None:
        if what == "pods":
            server.expire_continue_tokens()

    with pytest.raises(ClusterError) as err:
        load_live(empty_server.target(), progress=compact)
    assert str(err.value).startswith(
        "list pods at cluster scope: the list expired twice while paging (410 Expired)"
    )
    assert len(server.requests_matching("GET", PODS_LIST)) == 4


def test_default_kubeconfig_comes_from_the_environment(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    result = load_live(LiveTarget(context=cluster.context, kubeconfig=None))
    assert result.context == (cluster.context or result.context)
    assert result.snapshot.namespaces


def test_api_clients_gives_a_dedicated_exec_client(cluster: Cluster) -> None:
    api, exec_api, context = api_clients(cluster.target())
    try:
        assert api is not exec_api
        assert api.configuration is not exec_api.configuration
        assert api.configuration.host == exec_api.configuration.host
        assert context
    finally:
        api.close()
        exec_api.close()


# ---------------------------------------------------------------------------------------
# -n NAMESPACE


def test_namespaces_are_listed_one_by_one(cluster: Cluster) -> None:
    ns = "kube-system" if cluster.real else "checkout"
    result = load_live(cluster.target(ns))
    assert [n.name for n in result.snapshot.namespaces] == [ns]
    assert result.snapshot.pods and {p.namespace for p in result.snapshot.pods} == {ns}
    assert {p.namespace for p in result.snapshot.policies} <= {ns}
    if not cluster.real:
        paths = {r.path for r in cluster.server.requests}
        assert "/api/v1/pods" not in paths and "/api/v1/namespaces" not in paths
        assert f"/api/v1/namespaces/{ns}" in paths
        assert f"/api/v1/namespaces/{ns}/pods" in paths
        assert f"/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies" in paths


def test_a_namespace_we_may_not_get_is_synthesized_with_a_warning(cluster: Cluster) -> None:
    server = cluster.server
    server.forbid("get", "namespaces")
    result = load_live(cluster.target("checkout"))
    (ns,) = result.snapshot.namespaces
    assert ns.name == "checkout" and ns.synthesized
    assert dict(ns.labels) == {"kubernetes.io/metadata.name": "checkout"}
    (warning,) = result.warnings
    assert warning.startswith(
        "namespace checkout: the cluster refused to get it (403 Forbidden); assumed with only "
        "the kubernetes.io/metadata.name=checkout label"
    )
    assert not any(d["kind"] == "Namespace" for d in result.documents)


def test_a_missing_namespace_is_an_error(cluster: Cluster) -> None:
    with pytest.raises(ClusterError, match=r"^namespace no-such-ns-x1 does not exist \(context "):
        load_live(cluster.target("no-such-ns-x1"))


def test_403_in_a_namespace_names_the_namespace(cluster: Cluster) -> None:
    server = cluster.server
    server.forbid("list", "services", "checkout")
    with pytest.raises(ClusterError) as err:
        load_live(cluster.target("checkout"))
    assert str(err.value) == (
        "the cluster refused to list services in namespace checkout (403 Forbidden): "
        f'services is forbidden: User "{DEFAULT_USER}" cannot list resource "services" in '
        'API group "" in the namespace "checkout"'
    )


# ---------------------------------------------------------------------------------------
# errors, each from a real HTTP answer


def test_403_at_cluster_scope_suggests_namespaces(cluster: Cluster) -> None:
    server = cluster.server
    server.forbid("list", "pods")
    with pytest.raises(ClusterError) as err:
        load_live(cluster.target())
    assert str(err.value) == (
        "the cluster refused to list pods at cluster scope (403 Forbidden): pods is forbidden: "
        f'User "{DEFAULT_USER}" cannot list resource "pods" in API group "" at the cluster '
        "scope — try -n NAMESPACE"
    )


def test_403_on_networkpolicies_names_the_group_resource(cluster: Cluster) -> None:
    server = cluster.server
    server.forbid("list", "networkpolicies")
    with pytest.raises(
        ClusterError,
        match=r"^the cluster refused to list networkpolicies at "
        r"cluster scope \(403 Forbidden\): networkpolicies.networking.k8s.io is "
        r"forbidden: .* — try -n NAMESPACE$",
    ):
        load_live(cluster.target())


def test_401_with_a_wrong_token(cluster: Cluster, tmp_path: Path) -> None:
    server = cluster.server
    bad = server.write_kubeconfig(tmp_path / "bad", context="stale", token="not-the-token")
    with pytest.raises(ClusterError) as err:
        load_live(LiveTarget(kubeconfig=bad))
    assert str(err.value).startswith(
        "the cluster refused to list namespaces (401 Unauthorized): Unauthorized — the "
        "credentials were rejected"
    )


def test_connection_refused_names_the_server(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    config = write_kubeconfig(
        tmp_path / "kubeconfig", server=url, token="t", context="gone", namespace=None, ca_pem=None
    )
    started = time.monotonic()
    with pytest.raises(ClusterError) as err:
        load_live(LiveTarget(kubeconfig=config, timeout=5))
    assert str(err.value) == (
        f"cannot connect to {url} (connection refused) to list namespaces; is the cluster up, "
        "and is this the right context?"
    )
    assert time.monotonic() - started < 3


def test_a_slow_call_times_out_once_and_says_which(cluster: Cluster) -> None:
    server = cluster.server
    server.inject("GET", r"/networkpolicies$", delay=3)
    started = time.monotonic()
    with pytest.raises(ClusterError) as err:
        load_live(cluster.target(timeout=0.5))
    elapsed = time.monotonic() - started
    assert str(err.value) == (
        f"list networkpolicies timed out after 0.5s (cluster scope, {server.url}); "
        "raise --request-timeout or narrow with -n"
    )
    assert elapsed < 2.5, "a read timeout must not be retried"
    assert len(server.requests_matching("GET", r"/networkpolicies$")) == 1


def test_a_slow_namespace_get_times_out_too(cluster: Cluster) -> None:
    server = cluster.server
    server.inject("GET", r"^/api/v1/namespaces/checkout$", delay=3)
    with pytest.raises(ClusterError, match=r"^get namespaces timed out after 0.5s"):
        load_live(cluster.target("checkout", timeout=0.5))


def test_a_dropped_connection_names_the_call(cluster: Cluster) -> None:
    server = cluster.server
    server.inject("GET", r"^/api/v1/services$", drop=True)
    with pytest.raises(
        ClusterError,
        match=rf"^the connection to {re.escape(server.url)} broke "
        r"during list services \(cluster scope\)",
    ):
        load_live(cluster.target())


def test_a_server_error_is_one_line(cluster: Cluster) -> None:
    server = cluster.server
    server.inject("GET", PODS_LIST, status=500, message="etcdserver: request timed out")
    with pytest.raises(ClusterError) as err:
        load_live(cluster.target())
    assert str(err.value) == (
        "the cluster failed to list pods at cluster scope (500 InternalError): "
        "etcdserver: request timed out"
    )


def test_a_body_the_client_models_refuse_names_the_call(cluster: Cluster) -> None:
    server = cluster.server
    broken = {
        "kind": "PodList",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": "7"},
        "items": [{"metadata": {"name": "x", "namespace": "checkout"}, "spec": {}}],
    }
    server.inject("GET", PODS_LIST, status=200, body=broken, times=None)
    with pytest.raises(
        ClusterError,
        match=r"^the answer to list pods at cluster scope does not "
        r"fit the kubernetes client's \w+ model: .*containers",
    ):
        load_live(cluster.target(), decode="models")
    # Read as JSON the same pod is merely a pod without containers.
    result = load_live(cluster.target())
    assert [p.key for p in result.snapshot.pods] == ["checkout/x"]


def test_an_answer_that_is_not_json(cluster: Cluster) -> None:
    server = cluster.server
    server.inject("GET", PODS_LIST, status=200, body="<html>proxy login</html>")
    with pytest.raises(ClusterError, match=r"is not JSON|not a JSON object"):
        load_live(cluster.target())


# ---------------------------------------------------------------------------------------
# configuration


def test_unknown_context_lists_the_available_ones(cluster: Cluster) -> None:
    with pytest.raises(
        ClusterError,
        match=r"^context 'nope-x' is not in kubeconfig .*; "
        r"available contexts: .+",
    ):
        load_live(LiveTarget(context="nope-x", kubeconfig=cluster.kubeconfig))


def test_a_missing_kubeconfig_file(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match=r"^kubeconfig .*/nothing-here: no such file$"):
        load_live(LiveTarget(kubeconfig=tmp_path / "nothing-here"))


def test_no_kubeconfig_and_not_in_a_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ClusterError, match=r"^no kubeconfig found"):
        load_live(LiveTarget())


def test_in_cluster_config_is_used_without_a_kubeconfig(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    if Path("/var/run/secrets/kubernetes.io/serviceaccount/token").exists():
        pytest.skip("running inside a pod: the in-cluster config would really be used")
    with pytest.raises(ClusterError, match=r"^in-cluster configuration: .*token"):
        load_live(LiveTarget())


def test_tls_with_the_kubeconfig_ca(tmp_path: Path) -> None:
    if real_cluster() is not None:
        pytest.skip("starts its own TLS test server")
    with KubeApiServer.from_incident(bundled_incident("failed-rollout"), tls=True) as server:
        config = server.write_kubeconfig(tmp_path / "kubeconfig")
        result = load_live(LiveTarget(kubeconfig=config))
        assert result.server.startswith("https://127.0.0.1:")
        assert len(result.snapshot.pods) == 9


def test_tls_without_the_ca_names_the_server(tmp_path: Path) -> None:
    if real_cluster() is not None:
        pytest.skip("starts its own TLS test server")
    with KubeApiServer(tls=True) as server:
        config = write_kubeconfig(
            tmp_path / "kubeconfig",
            server=server.url,
            token="t",
            context="no-ca",
            namespace=None,
            ca_pem=None,
        )
        with pytest.raises(ClusterError) as err:
            load_live(LiveTarget(kubeconfig=config))
    message = str(err.value)
    assert message.startswith(f"TLS with {server.url} failed to list namespaces: ")
    assert "CERTIFICATE_VERIFY_FAILED" in message or "certificate verify failed" in message


def test_a_timeout_of_zero_is_refused() -> None:
    with pytest.raises(UsageError):
        LiveTarget(timeout=0)


# ---------------------------------------------------------------------------------------
# other policy engines


def test_policy_engine_crds_add_a_warning(cluster: Cluster) -> None:
    server = cluster.server
    server.add_crd("ciliumnetworkpolicies.cilium.io")
    server.add_crd("networkpolicies.crd.projectcalico.org")
    server.add_crd("adminnetworkpolicies.policy.networking.k8s.io")
    server.add_crd("widgets.example.com", kind="Widget")
    result = load_live(cluster.target())
    (warning,) = result.warnings
    # AdminNetworkPolicy is read and evaluated (the admin tiers): not another engine.
    assert warning == (
        "other policy engines are installed: Calico (networkpolicies.crd.projectcalico.org), "
        "Cilium (ciliumnetworkpolicies.cilium.io); verdicts cover NetworkPolicy and the "
        "policy.networking.k8s.io admin policies only, and their policies can allow or deny "
        "traffic this tool does not see"
    )
    assert warning in result.snapshot.warnings
    # The checklist decides on the structured list, never on the warning's words.
    assert result.snapshot.policy_engines == (
        "Calico (networkpolicies.crd.projectcalico.org)",
        "Cilium (ciliumnetworkpolicies.cilium.io)",
    )
    (crd_list,) = server.requests_matching("GET", r"customresourcedefinitions$")
    assert "PartialObjectMetadataList" in crd_list.headers.get("Accept", "")


def test_unrelated_crds_add_nothing(cluster: Cluster) -> None:
    server = cluster.server
    server.add_crd("widgets.example.com", kind="Widget")
    assert load_live(cluster.target()).warnings == ()


def test_forbidden_crds_fall_back_to_api_groups(cluster: Cluster) -> None:
    server = cluster.server
    server.add_crd("ciliumclusterwidenetworkpolicies.cilium.io")
    server.forbid("list", "customresourcedefinitions")
    result = load_live(cluster.target())
    assert len(result.warnings) == 1 and "Cilium (cilium.io)" in result.warnings[0]
    assert result.notes == (
        "list customresourcedefinitions: 403 Forbidden; checked the API groups instead",
    )


def test_no_way_to_check_crds_is_only_a_note(cluster: Cluster) -> None:
    server = cluster.server
    server.forbid("list", "customresourcedefinitions")
    server.inject("GET", r"^/apis/?$", status=403)
    result = load_live(cluster.target())
    assert result.warnings == ()
    (note,) = result.notes
    assert note.startswith("could not check for other policy engines")


def test_a_failing_crd_list_does_not_fail_the_load(cluster: Cluster) -> None:
    server = cluster.server
    server.inject("GET", r"customresourcedefinitions$", status=503)
    result = load_live(cluster.target())
    assert result.snapshot.pods
    (note,) = result.notes
    assert "503" in note


def test_policies_of_a_seeded_cluster_parse_through_the_one_parser(
    empty_server: Cluster,
) -> None:
    server = empty_server.server
    server.seed(
        namespaces=[namespace("a")],
        network_policies=[
            network_policy(
                "deny-all", "a", policy_types=["Ingress", "Egress"], ingress=[], egress=[]
            ),
            network_policy(
                "web",
                "a",
                pod_selector={"matchLabels": {"app": "web"}},
                ingress=[{"ports": [{"port": "http"}]}],
            ),
        ],
    )
    result = load_live(empty_server.target())
    assert [p.key for p in result.snapshot.policies] == ["a/deny-all", "a/web"]
    web = result.snapshot.policy_by_key["a/web"]
    assert web.ingress[0].ports[0].port == "http"
    assert web.manifest["kind"] == "NetworkPolicy"
    assert "managedFields" not in web.manifest["metadata"]


# ---------------------------------------------------------------------------------------
# admin tiers: ClusterNetworkPolicy (v1alpha2), AdminNetworkPolicy / BaselineAdmin... (v1alpha1)


def _cnp(name: str, priority: int) -> dict[str, object]:
    return {
        "apiVersion": "policy.networking.k8s.io/v1alpha2",
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": name},
        "spec": {
            "tier": "Admin",
            "priority": priority,
            "subject": {"namespaces": {}},
            "ingress": [{"name": "deny", "action": "Deny", "from": [{"namespaces": {}}]}],
        },
    }


def test_admin_policies_are_listed_with_pagination(cluster: Cluster) -> None:
    server = cluster.server
    server.add_crd("clusternetworkpolicies.policy.networking.k8s.io")
    server.add_crd("baselineadminnetworkpolicies.policy.networking.k8s.io")
    server.seed(objects=[_cnp(f"cnp-{i:02d}", i) for i in range(7)])
    server.seed(
        objects=[
            {
                "apiVersion": "policy.networking.k8s.io/v1alpha1",
                "kind": "BaselineAdminNetworkPolicy",
                "metadata": {"name": "default"},
                "spec": {"subject": {"namespaces": {}}},
            }
        ]
    )
    result = load_live(cluster.target(), page_size=3)
    keys = [p.key for p in result.snapshot.admin_policies]
    assert keys == ["banp/default", *(f"cnp/cnp-{i:02d}" for i in range(7))]
    assert result.counts["clusternetworkpolicies"] == 7
    pages = server.requests_matching("GET", r"/clusternetworkpolicies$")
    assert len(pages) == 3  # 7 objects in pages of 3
    assert "adminnetworkpolicies" not in result.counts  # no CRD: 404, normal, silent
    assert result.warnings == ()


def test_forbidden_admin_policies_are_a_one_line_warning(cluster: Cluster) -> None:
    server = cluster.server
    server.add_crd("clusternetworkpolicies.policy.networking.k8s.io")
    server.seed(objects=[_cnp("guard", 1)])
    server.forbid("list", "clusternetworkpolicies")
    result = load_live(cluster.target())
    assert result.snapshot.admin_policies == ()
    (warning,) = result.warnings
    assert warning.startswith("list clusternetworkpolicies.policy.networking.k8s.io: 403 Forbidden")
    assert "ClusterNetworkPolicy objects are not in the verdicts" in warning


def test_admin_policies_apply_with_a_namespace_filter(cluster: Cluster) -> None:
    server = cluster.server
    server.add_crd("clusternetworkpolicies.policy.networking.k8s.io")
    server.seed(objects=[_cnp("guard", 1)])
    namespaces = sorted({p.namespace for p in load_live(cluster.target()).snapshot.pods})
    result = load_live(dataclasses.replace(cluster.target(), namespaces=(namespaces[0],)))
    assert [p.key for p in result.snapshot.admin_policies] == ["cnp/guard"]
