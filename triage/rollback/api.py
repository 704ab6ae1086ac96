"""The NetworkPolicy and admin-policy calls the applier makes, and nothing else.

Admin policies (ClusterNetworkPolicy v1alpha2, AdminNetworkPolicy and
BaselineAdminNetworkPolicy v1alpha1) are cluster-scoped custom resources of
`policy.networking.k8s.io`, written at `/apis/policy.networking.k8s.io/VERSION/PLURAL/NAME`
through the client's CustomObjectsApi.

Bodies go out and come back as plain JSON (`_preload_content=False`): a policy read for a
backup must round-trip exactly, and the client's pydantic models would drop any field they
do not know. Every failure becomes an `ApiFailure` that says whether the call may have taken
effect (`ambiguous`: a timeout or a connection dropped after the request was sent), because
that decides what the operator is told: "not applied" or "may have been applied".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from triage.errors import ClusterError

JsonDict = dict[str, Any]


class ApiFailure(ClusterError):
    """One NetworkPolicy call failed. `status` is the HTTP code (None: no answer)."""

    def __init__(
        self, text: str, *, status: int | None, reason: str = "", ambiguous: bool = False
    ) -> None:
        super().__init__(text)
        self.status = status
        self.reason = reason
        self.ambiguous = ambiguous

    @property
    def label(self) -> str:
        if self.status is None:
            return "no answer" if self.ambiguous else "not sent"
        return f"{self.status} {self.reason}".strip()


class PolicyApi(Protocol):
    """What the applier needs from a cluster. `KubePolicyApi` is the real one; tests may
    pass a fake."""

    @property
    def context(self) -> str: ...

    def list_policies(self, namespaces: Sequence[str] | None) -> list[JsonDict]: ...

    def create(self, body: JsonDict, *, dry_run: bool) -> JsonDict: ...

    def replace(self, body: JsonDict, *, dry_run: bool) -> JsonDict: ...

    def delete(
        self, namespace: str, name: str, *, resource_version: str | None, dry_run: bool
    ) -> None: ...

    def list_admin_policies(self) -> list[JsonDict]: ...

    def create_admin(self, body: JsonDict, *, dry_run: bool) -> JsonDict: ...

    def replace_admin(self, body: JsonDict, *, dry_run: bool) -> JsonDict: ...

    def delete_admin(
        self, kind: str, name: str, *, resource_version: str | None, dry_run: bool
    ) -> None: ...


ADMIN_GROUP = "policy.networking.k8s.io"
# kind → (version, plural): where each admin kind lives.
ADMIN_RESOURCES: dict[str, tuple[str, str]] = {
    "ClusterNetworkPolicy": ("v1alpha2", "clusternetworkpolicies"),
    "AdminNetworkPolicy": ("v1alpha1", "adminnetworkpolicies"),
    "BaselineAdminNetworkPolicy": ("v1alpha1", "baselineadminnetworkpolicies"),
}


def _not_sent(cause: BaseException | None) -> bool:
    """True when the request certainly did not reach the server (connect failures)."""
    from urllib3.exceptions import (
        ConnectTimeoutError,
        MaxRetryError,
        NameResolutionError,
        NewConnectionError,
    )

    if isinstance(cause, MaxRetryError) and cause.reason is not None:
        cause = cause.reason
    return isinstance(cause, ConnectTimeoutError | NameResolutionError | NewConnectionError)


class KubePolicyApi:
    """networking.k8s.io/v1 NetworkPolicies through the official client."""

    def __init__(
        self,
        api_client: Any,
        context: str,
        server: str,
        timeout: float = 20.0,
        *,
        on_close: Any = None,
    ) -> None:
        from kubernetes import client

        self._api = client.NetworkingV1Api(api_client)
        self._custom = client.CustomObjectsApi(api_client)
        self._on_close = on_close
        self._context = context
        self.server = server
        self.timeout = timeout

    @property
    def context(self) -> str:
        return self._context

    @classmethod
    def connect(
        cls, context: str | None, kubeconfig: Any = None, timeout: float = 20.0
    ) -> KubePolicyApi:
        from triage.sources.kubeclient import connect

        conn = connect(context, kubeconfig)
        return cls(conn.api, conn.context, conn.server, timeout, on_close=conn.close)

    def close(self) -> None:
        """Release the connection pools (the CLI exits anyway; the TUI does not)."""
        if self._on_close is not None:
            self._on_close()
            self._on_close = None

    def _call(self, site: Any, fn: Any, /, **kwargs: Any) -> JsonDict | None:
        from kubernetes.client.exceptions import ApiException

        from triage.sources.kubeclient import api_call, read_json, status_of

        try:
            with api_call(site, self.server, self.timeout):
                try:
                    raw = fn(**kwargs, _request_timeout=self.timeout, _preload_content=False)
                except ApiException as exc:
                    info = status_of(exc)
                    if info.code:
                        raise ApiFailure(
                            f"{site.action}: {info.label}: {' '.join(info.message.split())}",
                            status=info.code,
                            reason=info.reason,
                        ) from exc
                    raise
                return read_json(raw, site, self.server)
        except ApiFailure:
            raise
        except ClusterError as exc:
            not_sent = _not_sent(exc.__cause__)
            raise ApiFailure(str(exc), status=None, ambiguous=not not_sent) from exc

    def list_policies(self, namespaces: Sequence[str] | None) -> list[JsonDict]:
        from triage.sources.kubeclient import CallSite

        out: list[JsonDict] = []
        for namespace in (None,) if namespaces is None else tuple(namespaces):
            token: str | None = None
            while True:
                site = CallSite("list", "networkpolicies", namespace)
                args: dict[str, Any] = {"limit": 500, "_continue": token}
                if namespace is None:
                    doc = self._call(site, self._api.list_network_policy_for_all_namespaces, **args)
                else:
                    doc = self._call(
                        site, self._api.list_namespaced_network_policy, namespace=namespace, **args
                    )
                doc = doc or {}
                for item in doc.get("items") or []:
                    if isinstance(item, dict):
                        meta = {
                            k: v
                            for k, v in (item.get("metadata") or {}).items()
                            if k != "managedFields"
                        }
                        out.append(
                            {
                                **item,
                                "apiVersion": "networking.k8s.io/v1",
                                "kind": "NetworkPolicy",
                                "metadata": meta,
                            }
                        )
                token = (doc.get("metadata") or {}).get("continue") or None
                if not token:
                    break
        return out

    def create(self, body: JsonDict, *, dry_run: bool) -> JsonDict:
        from triage.sources.kubeclient import CallSite

        ns, name = body["metadata"]["namespace"], body["metadata"]["name"]
        site = CallSite("create", "networkpolicies", ns, name)
        return (
            self._call(
                site,
                self._api.create_namespaced_network_policy,
                namespace=ns,
                body=body,
                dry_run="All" if dry_run else None,
            )
            or {}
        )

    def replace(self, body: JsonDict, *, dry_run: bool) -> JsonDict:
        from triage.sources.kubeclient import CallSite

        ns, name = body["metadata"]["namespace"], body["metadata"]["name"]
        site = CallSite("update", "networkpolicies", ns, name)
        return (
            self._call(
                site,
                self._api.replace_namespaced_network_policy,
                name=name,
                namespace=ns,
                body=body,
                dry_run="All" if dry_run else None,
            )
            or {}
        )

    def delete(
        self, namespace: str, name: str, *, resource_version: str | None, dry_run: bool
    ) -> None:
        from triage.sources.kubeclient import CallSite

        site = CallSite("delete", "networkpolicies", namespace, name)
        options = _delete_options(resource_version, dry_run)
        self._call(
            site,
            self._api.delete_namespaced_network_policy,
            name=name,
            namespace=namespace,
            body=options,
            dry_run="All" if dry_run else None,
        )

    # ------------------------------------------------------------ admin policies

    def list_admin_policies(self) -> list[JsonDict]:
        """Every admin policy of the three kinds; a kind whose CRD is absent (404) has none."""
        from triage.sources.kubeclient import CallSite

        out: list[JsonDict] = []
        for kind, (version, plural) in ADMIN_RESOURCES.items():
            token: str | None = None
            while True:
                site = CallSite("list", plural, None, cluster_scoped=True)
                try:
                    doc = self._call(
                        site,
                        self._custom.list_cluster_custom_object,
                        group=ADMIN_GROUP,
                        version=version,
                        plural=plural,
                        limit=500,
                        _continue=token,
                    )
                except ApiFailure as exc:
                    if exc.status == 404:
                        break
                    raise
                doc = doc or {}
                for item in doc.get("items") or []:
                    if isinstance(item, dict):
                        meta = {
                            k: v
                            for k, v in (item.get("metadata") or {}).items()
                            if k != "managedFields"
                        }
                        out.append(
                            {
                                **item,
                                "apiVersion": f"{ADMIN_GROUP}/{version}",
                                "kind": kind,
                                "metadata": meta,
                            }
                        )
                token = (doc.get("metadata") or {}).get("continue") or None
                if not token:
                    break
        return out

    def _admin_write(self, verb: str, body: JsonDict, dry_run: bool) -> JsonDict:
        from triage.sources.kubeclient import CallSite

        version, plural = ADMIN_RESOURCES[str(body["kind"])]
        name = str(body["metadata"]["name"])
        site = CallSite(verb, plural, None, name, cluster_scoped=True)
        args: dict[str, Any] = {
            "group": ADMIN_GROUP,
            "version": version,
            "plural": plural,
            "body": body,
            "dry_run": "All" if dry_run else None,
        }
        if verb == "create":
            return self._call(site, self._custom.create_cluster_custom_object, **args) or {}
        return self._call(site, self._custom.replace_cluster_custom_object, name=name, **args) or {}

    def create_admin(self, body: JsonDict, *, dry_run: bool) -> JsonDict:
        return self._admin_write("create", body, dry_run)

    def replace_admin(self, body: JsonDict, *, dry_run: bool) -> JsonDict:
        return self._admin_write("update", body, dry_run)

    def delete_admin(
        self, kind: str, name: str, *, resource_version: str | None, dry_run: bool
    ) -> None:
        from triage.sources.kubeclient import CallSite

        version, plural = ADMIN_RESOURCES[kind]
        site = CallSite("delete", plural, None, name, cluster_scoped=True)
        options = _delete_options(resource_version, dry_run)
        self._call(
            site,
            self._custom.delete_cluster_custom_object,
            group=ADMIN_GROUP,
            version=version,
            plural=plural,
            name=name,
            body=options,
            dry_run="All" if dry_run else None,
        )


def _delete_options(resource_version: str | None, dry_run: bool) -> JsonDict:
    """DeleteOptions with the planned resourceVersion as a precondition (a policy edited since
    the plan is not deleted) and, for a dry run, `dryRun: [All]`."""
    options: JsonDict = {"apiVersion": "v1", "kind": "DeleteOptions"}
    if resource_version is not None:
        options["preconditions"] = {"resourceVersion": resource_version}
    if dry_run:
        options["dryRun"] = ["All"]
    return options
