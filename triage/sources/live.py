"""The live cluster as a source: paginated lists of namespaces, pods, services,
networking.k8s.io/v1 NetworkPolicies and the cluster-scoped admin policies
(policy.networking.k8s.io ClusterNetworkPolicy v1alpha2, AdminNetworkPolicy and
BaselineAdminNetworkPolicy v1alpha1, when their CRDs exist), parsed by the one parser
(`sources.assemble`).

    target = LiveTarget(context=None, kubeconfig=None, namespaces=(), timeout=20.0)
    result = load_live(target, progress=lambda what, n: ...)
    result.snapshot, result.documents   # the model, and the manifests it came from

Lists are read as JSON (`_preload_content=False`) and not turned into the client's pydantic
models: a 10k-pod cluster loads several times faster and in a fraction of the memory, and a
field the client's model does not know cannot fail the load. `decode="models"` keeps the
model path (the client's own deserialisation + `sanitize_for_serialization`) for comparison.
Either way the manifests get their `kind`/`apiVersion` back (typed lists omit them) and lose
`metadata.managedFields` (kubectl hides them too). With `redact=True` (`triage record`) each
object goes through the recording allow-list (`sources.redact`) as its page arrives: the raw
pages are dropped at once, and the snapshot is parsed from the allow-listed manifests, so a
recording is built from it without a second parse (`LiveLoad.origins`).

With `-n NS` (`LiveTarget.namespaces`) everything is listed per namespace, and each namespace
is read with GET; a user who may not GET namespaces gets a synthesized one and a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kubernetes import client

from triage.errors import ClusterError, UsageError
from triage.model import NAMESPACE_NAME_LABEL, Snapshot
from triage.sources.assemble import Document, Origins, assemble, gc_paused
from triage.sources.kubeclient import (
    ApiStatusError,
    CallSite,
    Connection,
    api_call,
    connect,
    read_json,
)
from triage.sources.redact import redact_manifest

ProgressCallback = Callable[[str, int], None]
Decode = Literal["json", "models"]

PAGE_SIZE = 500  # kubectl's chunk size

# The CRDs of policy engines whose rules this tool does not evaluate: engine, API groups, the
# policy resources (plurals) in them. A CRD's name is `<plural>.<group>`.
_CALICO_POLICIES = frozenset(
    {
        "networkpolicies",
        "globalnetworkpolicies",
        "stagednetworkpolicies",
        "stagedglobalnetworkpolicies",
        "stagedkubernetesnetworkpolicies",
        "tiers",
    }
)
POLICY_ENGINES: tuple[tuple[str, frozenset[str], frozenset[str]], ...] = (
    ("Calico", frozenset({"crd.projectcalico.org", "projectcalico.org"}), _CALICO_POLICIES),
    (
        "Cilium",
        frozenset({"cilium.io"}),
        frozenset({"ciliumnetworkpolicies", "ciliumclusterwidenetworkpolicies"}),
    ),
)
# ClusterNetworkPolicy / AdminNetworkPolicy / BaselineAdminNetworkPolicy
# (policy.networking.k8s.io) are read and evaluated (ADMIN_KINDS), not "another engine".


@dataclass(frozen=True)
class LiveTarget:
    context: str | None = None
    kubeconfig: Path | None = None
    namespaces: tuple[str, ...] = ()
    timeout: float = 20.0

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise UsageError(f"request timeout {self.timeout:g}: must be more than 0 seconds")


@dataclass(frozen=True)
class LiveLoad:
    snapshot: Snapshot
    context: str
    server: str
    warnings: tuple[str, ...]
    documents: list[dict[str, Any]]  # the manifests, in load order, kind/apiVersion set
    cluster: str = ""  # the kubeconfig's cluster name ("" in-cluster)
    notes: tuple[str, ...] = ()  # things worth knowing that are not warnings
    counts: Mapping[str, int] = field(default_factory=dict)  # resource plural → objects
    redacted: bool = False  # documents are allow-listed copies (load_live(redact=True))
    # (kind, key) → (snapshot object, the manifest in `documents` it was parsed from)
    origins: Origins = field(default_factory=dict)


@dataclass(frozen=True)
class _Kind:
    plural: str
    kind: str
    api_version: str
    api: str  # core, networking, apiextensions, custom
    cluster_method: str
    namespaced_method: str | None
    args: tuple[tuple[str, str], ...] = ()  # fixed arguments (a custom resource's group...)


NAMESPACES = _Kind("namespaces", "Namespace", "v1", "core", "list_namespace", None)
PODS = _Kind("pods", "Pod", "v1", "core", "list_pod_for_all_namespaces", "list_namespaced_pod")
SERVICES = _Kind(
    "services",
    "Service",
    "v1",
    "core",
    "list_service_for_all_namespaces",
    "list_namespaced_service",
)
NETWORK_POLICIES = _Kind(
    "networkpolicies",
    "NetworkPolicy",
    "networking.k8s.io/v1",
    "networking",
    "list_network_policy_for_all_namespaces",
    "list_namespaced_network_policy",
)
CRDS = _Kind(
    "customresourcedefinitions",
    "CustomResourceDefinition",
    "apiextensions.k8s.io/v1",
    "apiextensions",
    "list_custom_resource_definition",
    None,
)


def _admin_kind(plural: str, kind: str, version: str) -> _Kind:
    group = "policy.networking.k8s.io"
    return _Kind(
        plural,
        kind,
        f"{group}/{version}",
        "custom",
        "list_cluster_custom_object",
        None,
        (("group", group), ("version", version), ("plural", plural)),
    )


# The cluster-scoped admin policies the engine evaluates (see triage.policy.tiers). Their
# CRDs are optional: a cluster without them answers 404, which is normal.
ADMIN_KINDS = (
    _admin_kind("clusternetworkpolicies", "ClusterNetworkPolicy", "v1alpha2"),
    _admin_kind("adminnetworkpolicies", "AdminNetworkPolicy", "v1alpha1"),
    _admin_kind("baselineadminnetworkpolicies", "BaselineAdminNetworkPolicy", "v1alpha1"),
)

# Only metadata is needed to see which CRDs exist; a real apiserver then skips the schemas
# (megabytes on a cluster with many operators). Plain JSON stays acceptable as a fallback.
_METADATA_ONLY = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json"


def api_clients(target: LiveTarget) -> tuple[client.ApiClient, client.ApiClient, str]:
    """The configured ApiClient, a dedicated one for exec (stream() patches the client it is
    given, breaking concurrent REST calls on it), and the context name."""
    conn = connect(target.context, target.kubeconfig)
    return conn.api, conn.exec_api, conn.context


def load_live(
    target: LiveTarget,
    progress: ProgressCallback | None = None,
    *,
    decode: Decode = "json",
    page_size: int = PAGE_SIZE,
    redact: bool = False,
) -> LiveLoad:
    """Read the cluster. `progress(resource, count)` is called after every page with the
    number of objects of that resource read so far (also once with 0 for an empty list).
    `redact=True` keeps only the allow-listed copy of each object (what a recording holds)."""
    conn = connect(target.context, target.kubeconfig)
    try:
        with gc_paused():
            return _Loader(conn, target, progress, decode, page_size, redact).load()
    finally:
        conn.close()


class _Loader:
    def __init__(
        self,
        conn: Connection,
        target: LiveTarget,
        progress: ProgressCallback | None,
        decode: Decode,
        page_size: int,
        redact: bool = False,
    ) -> None:
        self.conn = conn
        self.redact = redact
        self.target = target
        self.progress = progress
        self.decode = decode
        self.page_size = page_size
        self.apis: dict[str, Any] = {
            "core": client.CoreV1Api(conn.api),
            "networking": client.NetworkingV1Api(conn.api),
            "apiextensions": client.ApiextensionsV1Api(conn.api),
            "custom": client.CustomObjectsApi(conn.api),
        }
        self.counts: dict[str, int] = {}
        self.warnings: list[str] = []
        self.notes: list[str] = []
        self.forbidden_namespaces: set[str] = set()

    # -- the whole load ------------------------------------------------------------------

    def load(self) -> LiveLoad:
        documents: list[dict[str, Any]] = []
        namespaces = _unique(self.target.namespaces)
        if namespaces:
            documents.extend(self._get_namespaces(namespaces))
            for kind in (PODS, SERVICES, NETWORK_POLICIES):
                self._report(kind.plural, 0)
                for ns in namespaces:
                    documents.extend(self.list_all(kind, ns))
        else:
            for kind in (NAMESPACES, PODS, SERVICES, NETWORK_POLICIES):
                documents.extend(self.list_all(kind, None))
        # Cluster-scoped: they apply to the namespaces of -n too.
        for kind in ADMIN_KINDS:
            documents.extend(self._list_admin(kind))
        engines = self._policy_engines()
        self.warnings.extend(_engine_warning(engines))
        label = f"context {self.conn.context}"
        origins: Origins = {}
        # Lenient: what the apiserver accepted and enforces is used, its oddities warned about.
        snapshot, report = assemble(_as_documents(label, documents), origins=origins, lenient=True)
        # assemble() warns about namespaces it had to make up; for the ones RBAC hid from
        # us our own warning says why, so theirs would only repeat it.
        repeated = {
            report.synthesized[ns] for ns in self.forbidden_namespaces if ns in report.synthesized
        }
        warnings = [w for w in report.warnings if w not in repeated]
        warnings.extend(self.warnings)
        snapshot = Snapshot(
            snapshot.namespaces,
            snapshot.pods,
            snapshot.services,
            snapshot.policies,
            tuple(warnings),
            tuple(engines),
            snapshot.admin_policies,
            scope=namespaces or None,
        )
        return LiveLoad(
            snapshot=snapshot,
            context=self.conn.context,
            server=self.conn.server,
            warnings=tuple(warnings),
            documents=documents,
            cluster=self.conn.cluster,
            notes=tuple(self.notes),
            counts=dict(self.counts),
            redacted=self.redact,
            origins=origins,
        )

    def _report(self, what: str, count: int) -> None:
        self.counts[what] = count
        if self.progress is not None:
            self.progress(what, count)

    # -- lists ---------------------------------------------------------------------------

    def list_all(self, kind: _Kind, namespace: str | None) -> list[dict[str, Any]]:
        """Every object of `kind` (in `namespace`, or everywhere), following `continue`
        tokens. A 410 Expired while paging restarts the list once."""
        api = self.apis[kind.api]
        if namespace is None:
            method = getattr(api, kind.cluster_method)
            args: dict[str, Any] = dict(kind.args)
        else:
            assert kind.namespaced_method is not None
            method = getattr(api, kind.namespaced_method)
            args = {"namespace": namespace}
        site = CallSite(
            "list", kind.plural, namespace, cluster_scoped=kind.namespaced_method is None
        )
        base = self.counts.get(kind.plural, 0)
        for attempt in (1, 2):
            items: list[dict[str, Any]] = []
            token: str | None = None
            try:
                while True:
                    page, token = self._page(method, args, site, kind, token)
                    items.extend(map(redact_manifest, page) if self.redact else page)
                    self._report(kind.plural, base + len(items))
                    if not token:
                        return items
            except ApiStatusError as exc:
                if exc.status.code != 410 or token is None:
                    raise
                if attempt == 2:
                    raise ClusterError(
                        f"{site.action}: the list expired twice while paging "
                        f"({exc.status.label}); the cluster changes faster than it can be "
                        "read in pages — try again, or narrow with -n"
                    ) from exc
                self._report(kind.plural, base)
        raise AssertionError("unreachable")  # pragma: no cover

    def _page(
        self,
        method: Callable[..., Any],
        args: Mapping[str, Any],
        site: CallSite,
        kind: _Kind,
        token: str | None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        timeout = self.target.timeout
        with api_call(site, self.conn.server, timeout):
            extra: dict[str, Any] = {"_headers": dict(headers)} if headers else {}
            if self.decode == "models" and headers is None:
                resp = method(
                    **args, limit=self.page_size, _continue=token, _request_timeout=timeout
                )
                raw_items = [self.conn.api.sanitize_for_serialization(i) for i in resp.items]
                meta = resp.metadata
                next_token = getattr(meta, "_continue", None) if meta is not None else None
            else:
                raw = method(
                    **args,
                    limit=self.page_size,
                    _continue=token,
                    _request_timeout=timeout,
                    _preload_content=False,
                    **extra,
                )
                doc = read_json(raw, site, self.conn.server)
                raw_items = doc.get("items") or []
                meta_doc = doc.get("metadata") or {}
                next_token = meta_doc.get("continue") if isinstance(meta_doc, dict) else None
        if not isinstance(raw_items, list):
            raise ClusterError(f"the answer to {site.action} has no list of items")
        return [_manifest(item, kind) for item in raw_items], next_token or None

    def _list_admin(self, kind: _Kind) -> list[dict[str, Any]]:
        """The admin policies of one kind: none when its CRD is absent (404, normal), none
        and a one-line warning when the cluster forbids listing them (403)."""
        try:
            return self.list_all(kind, None)
        except ApiStatusError as exc:
            self.counts.pop(kind.plural, None)
            if exc.status.code == 404:
                return []
            if exc.status.code in (401, 403):
                self.warnings.append(
                    f"list {kind.plural}.policy.networking.k8s.io: {exc.status.label}; "
                    f"{kind.kind} objects are not in the verdicts (they may allow or deny "
                    "traffic this tool does not see)"
                )
                return []
            raise

    # -- namespaces by name (-n) ---------------------------------------------------------

    def _get_namespaces(self, names: tuple[str, ...]) -> list[dict[str, Any]]:
        core = self.apis["core"]
        found: list[dict[str, Any]] = []
        self._report(NAMESPACES.plural, 0)
        for name in names:
            site = CallSite("get", "namespaces", name=name, cluster_scoped=True)
            try:
                with api_call(site, self.conn.server, self.target.timeout):
                    raw = core.read_namespace(
                        name, _request_timeout=self.target.timeout, _preload_content=False
                    )
                    doc = read_json(raw, site, self.conn.server)
            except ApiStatusError as exc:
                if exc.status.code == 404:
                    raise ClusterError(
                        f"namespace {name} does not exist (context {self.conn.context})"
                    ) from exc
                if exc.status.code != 403:
                    raise
                self.forbidden_namespaces.add(name)
                self.warnings.append(
                    f"namespace {name}: the cluster refused to get it ({exc.status.label}); "
                    f"assumed with only the {NAMESPACE_NAME_LABEL}={name} label "
                    "(namespaceSelectors may see more labels on the real cluster)"
                )
                continue
            manifest = _manifest(doc, NAMESPACES)
            found.append(redact_manifest(manifest) if self.redact else manifest)
            self._report(NAMESPACES.plural, len(found))
        return found

    # -- other policy engines ------------------------------------------------------------

    def _policy_engines(self) -> list[str]:
        """The other policy engines installed ("Calico (CRD, ...)"), by their CRDs; never
        fails."""
        api = self.apis["apiextensions"]
        method = api.list_custom_resource_definition
        site = CallSite("list", CRDS.plural, cluster_scoped=True)
        names: list[str] = []
        token: str | None = None
        try:
            while True:
                page, token = self._page(
                    method, {}, site, CRDS, token, headers={"Accept": _METADATA_ONLY}
                )
                names.extend(str((p.get("metadata") or {}).get("name") or "") for p in page)
                if not token:
                    break
        except ApiStatusError as exc:
            if exc.status.code in (401, 403, 404):
                return self._policy_engines_by_discovery(exc.status.label)
            self.notes.append(f"could not check for other policy engines: {exc}")
            return []
        except ClusterError as exc:
            self.notes.append(f"could not check for other policy engines: {exc}")
            return []
        return _engines_of(names)

    def _policy_engines_by_discovery(self, why: str) -> list[str]:
        # Discovery is open to every authenticated user; it shows API groups, not CRDs, but
        # an installed engine serves its group.
        site = CallSite("get", "API groups", cluster_scoped=True)
        try:
            with api_call(site, self.conn.server, self.target.timeout):
                raw = client.ApisApi(self.conn.api).get_api_versions(
                    _request_timeout=self.target.timeout, _preload_content=False
                )
                doc = read_json(raw, site, self.conn.server)
        except ClusterError:
            self.notes.append(
                f"could not check for other policy engines (list customresourcedefinitions: "
                f"{why}); verdicts cover NetworkPolicy and the policy.networking.k8s.io admin "
                "policies only"
            )
            return []
        groups = {
            str(g.get("name"))
            for g in doc.get("groups") or []
            if isinstance(g, dict) and g.get("name")
        }
        engines = [name for name, engine_groups, _ in POLICY_ENGINES if groups & engine_groups]
        self.notes.append(f"list customresourcedefinitions: {why}; checked the API groups instead")
        return [
            f"{name} ({', '.join(sorted(groups & g))})"
            for name, g, _ in POLICY_ENGINES
            if name in engines
        ]


_ENGINE_WARNING = (
    "other policy engines are installed: {found}; verdicts cover NetworkPolicy and the "
    "policy.networking.k8s.io admin policies only, and their policies can allow or deny "
    "traffic this tool does not see"
)


def _engine_warning(engines: list[str]) -> list[str]:
    if not engines:
        return []
    return [_ENGINE_WARNING.format(found=", ".join(engines))]


def _engines_of(crd_names: list[str]) -> list[str]:
    """ "Engine (crd, ...)" for each policy engine among the installed CRDs."""
    by_engine: dict[str, list[str]] = {}
    for crd in crd_names:
        plural, _, group = crd.partition(".")
        for engine, groups, plurals in POLICY_ENGINES:
            if group in groups and plural in plurals:
                by_engine.setdefault(engine, []).append(crd)
    return [
        f"{engine} ({', '.join(sorted(by_engine[engine]))})"
        for engine, _, _ in POLICY_ENGINES
        if engine in by_engine
    ]


def _manifest(item: Any, kind: _Kind) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ClusterError(f"a {kind.kind} in the list of {kind.plural} is not a JSON object")
    metadata = item.get("metadata")
    if isinstance(metadata, dict) and "managedFields" in metadata:
        metadata = {k: v for k, v in metadata.items() if k != "managedFields"}
        item = {**item, "metadata": metadata}
    return {"apiVersion": kind.api_version, "kind": kind.kind, **item}


def _as_documents(label: str, manifests: list[dict[str, Any]]) -> list[Document]:
    return [(label, i, doc) for i, doc in enumerate(manifests)]


def _unique(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(n for n in names if n))
