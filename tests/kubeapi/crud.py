"""Write semantics of the generic registry store: create, update, patch, delete, dry run.

Mirrors k8s.io/apiserver's Store + DryRunnableStorage closely where the tool can observe it:
a dry-run create has no resourceVersion, a dry-run update keeps the stored one, a no-op
update does not bump the resourceVersion, and a create that carries a resourceVersion
fails with the apiserver's plain 500 ("resourceVersion should not be set ...") although
its dry run passed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from .objects import JsonDict, clone, meta, prepare, rfc3339
from .patch import apply_patch
from .resources import NAMESPACES, PODS, Resource
from .state import ServerState
from .status import (
    STALE_OBJECT,
    already_exists,
    bad_request,
    conflict,
    not_found,
    resource_details,
    success,
    unknown_error,
)
from .validation import validate_object

SERVER_MANAGED = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "selfLink",
    "managedFields",
)
NAMESPACE_MISMATCH = (
    "the namespace of the provided object does not match the namespace sent on the request"
)
_NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def dry_run_requested(query_values: list[str], body: Any = None) -> bool:
    """dryRun may come in the query (most clients) or in DeleteOptions (kubectl delete)."""
    values = list(query_values)
    if isinstance(body, dict) and isinstance(body.get("dryRun"), list):
        values += [str(v) for v in body["dryRun"]]
    for value in values:
        if value != "All":
            raise bad_request(f'dryRun: Unsupported value: "{value}": supported values: "All"')
    return bool(values)


def require_object(body: Any, resource: Resource) -> JsonDict:
    if not isinstance(body, dict):
        raise bad_request(
            f'{resource.kind} in version "{resource.version}" cannot be handled as a '
            f"{resource.kind}: the request body is not a JSON object"
        )
    kind = body.get("kind")
    if kind not in (None, resource.kind):
        raise bad_request(
            f"the kind in the data ({kind}) does not match the expected kind ({resource.kind})"
        )
    return clone(body)


def _has_status_subresource(resource: Resource) -> bool:
    return resource.subresource("status") is not None


class Crud:
    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.store = state.store

    def get(self, resource: Resource, namespace: str | None, name: str) -> JsonDict:
        obj = self.store.get(resource, namespace, name)
        if obj is None:
            raise not_found(resource, name)
        return obj

    def create(
        self, resource: Resource, namespace: str | None, body: Any, *, dry_run: bool
    ) -> JsonDict:
        obj = require_object(body, resource)
        metadata = meta(obj)
        if resource.namespaced:
            if metadata.get("namespace") not in (None, "", namespace):
                raise bad_request(NAMESPACE_MISMATCH)
            metadata["namespace"] = namespace
        if not metadata.get("name") and metadata.get("generateName"):
            suffix = "".join(random.choices(_NAME_SUFFIX_ALPHABET, k=5))
            metadata["name"] = f"{metadata['generateName']}{suffix}"
        validate_object(resource, obj)
        name = metadata["name"]
        sent_rv = metadata.get("resourceVersion")
        for key in SERVER_MANAGED:
            metadata.pop(key, None)
        if resource.kind == "Namespace":
            _prepare_namespace(obj)
        with self.store.lock:
            if resource.namespaced and self.store.get(NAMESPACES, None, namespace or "") is None:
                raise not_found(NAMESPACES, namespace or "")
            if self.store.get(resource, namespace, name) is not None:
                raise already_exists(resource, name)
            prepare(resource, obj)
            if dry_run:
                return obj
            if sent_rv:
                raise unknown_error("resourceVersion should not be set on objects to be created")
            return self.store.put(resource, obj)

    def update(
        self, resource: Resource, namespace: str | None, name: str, body: Any, *, dry_run: bool
    ) -> JsonDict:
        obj = require_object(body, resource)
        metadata = meta(obj)
        if metadata.get("name") != name:
            raise bad_request(
                f"the name of the object ({metadata.get('name') or ''}) "
                f"does not match the name on the URL ({name})"
            )
        if resource.namespaced:
            if metadata.get("namespace") not in (None, "", namespace):
                raise bad_request(NAMESPACE_MISMATCH)
            metadata["namespace"] = namespace
        validate_object(resource, obj)
        with self.store.lock:
            existing = self.get(resource, namespace, name)
            sent_rv = metadata.get("resourceVersion")
            if sent_rv and str(sent_rv) != existing["metadata"]["resourceVersion"]:
                raise conflict(resource, name, STALE_OBJECT)
            _check_uid(resource, existing, metadata.get("uid"))
            return self._commit(resource, existing, obj, dry_run=dry_run, keep_status=True)

    def patch(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        body: Any,
        content_type: str,
        *,
        dry_run: bool,
        mutate: Callable[[JsonDict, JsonDict], JsonDict] | None = None,
    ) -> JsonDict:
        with self.store.lock:
            existing = self.get(resource, namespace, name)
            patched = apply_patch(content_type, clone(existing), body)
            if not isinstance(patched, dict):
                raise bad_request("the patch did not produce an object")
            metadata = meta(patched)
            patched_rv = metadata.get("resourceVersion")
            if (
                patched_rv is not None
                and str(patched_rv) != existing["metadata"]["resourceVersion"]
            ):
                raise conflict(resource, name, STALE_OBJECT)
            _check_uid(resource, existing, metadata.get("uid"))
            metadata["name"] = name
            if resource.namespaced:
                metadata["namespace"] = namespace
            if mutate is not None:
                patched = mutate(existing, patched)
            validate_object(resource, patched)
            return self._commit(
                resource, existing, patched, dry_run=dry_run, keep_status=mutate is None
            )

    def update_status(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        new_status: Any,
        *,
        dry_run: bool,
    ) -> JsonDict:
        with self.store.lock:
            existing = self.get(resource, namespace, name)
            updated = clone(existing)
            updated["status"] = new_status
            return self._commit(resource, existing, updated, dry_run=dry_run, keep_status=False)

    def _commit(
        self,
        resource: Resource,
        existing: JsonDict,
        new: JsonDict,
        *,
        dry_run: bool,
        keep_status: bool,
    ) -> JsonDict:
        old_meta, new_meta = existing["metadata"], meta(new)
        for key in ("uid", "creationTimestamp", "deletionTimestamp", "generation"):
            if key in old_meta:
                new_meta[key] = old_meta[key]
            else:
                new_meta.pop(key, None)
        if keep_status and _has_status_subresource(resource):
            # The main resource endpoint ignores status changes when /status exists.
            if "status" in existing:
                new["status"] = clone(existing["status"])
            else:
                new.pop("status", None)
        if "generation" in old_meta and new.get("spec") != existing.get("spec"):
            new_meta["generation"] = int(old_meta["generation"]) + 1
        new_meta["resourceVersion"] = old_meta["resourceVersion"]
        prepare(resource, new)
        if new == existing or dry_run:
            # etcd skips a write whose bytes did not change, so the RV stays as it was.
            return new
        return self.store.put(resource, new)

    def delete(
        self, resource: Resource, namespace: str | None, name: str, options: Any, *, dry_run: bool
    ) -> JsonDict:
        preconditions = (options.get("preconditions") if isinstance(options, dict) else None) or {}
        with self.store.lock:
            existing = self.get(resource, namespace, name)
            actual_uid = existing["metadata"].get("uid")
            actual_rv = existing["metadata"].get("resourceVersion")
            wanted_uid = preconditions.get("uid")
            if wanted_uid and wanted_uid != actual_uid:
                raise conflict(
                    resource,
                    name,
                    f"Precondition failed: UID in precondition: {wanted_uid}, "
                    f"UID in object meta: {actual_uid}",
                )
            wanted_rv = preconditions.get("resourceVersion")
            if wanted_rv and str(wanted_rv) != actual_rv:
                raise conflict(
                    resource,
                    name,
                    "Precondition failed: ResourceVersion in precondition: "
                    f"{wanted_rv}, ResourceVersion in object meta: {actual_rv}",
                )
            if not dry_run:
                self.store.remove(resource, namespace, name)
                if resource is NAMESPACES:
                    self._remove_namespace_contents(name)
        if resource in (PODS, NAMESPACES):
            # Pods and namespaces delete gracefully and answer with the object itself.
            gone = clone(existing)
            gone["metadata"]["deletionTimestamp"] = rfc3339()
            if resource is NAMESPACES:
                gone.setdefault("status", {})["phase"] = "Terminating"
            return gone
        details = resource_details(resource, name)
        details["uid"] = actual_uid
        return success(details)

    def _remove_namespace_contents(self, namespace: str) -> None:
        for resource in self.state.registry.all():
            if resource.namespaced:
                for obj in self.store.items(resource, namespace):
                    self.store.remove(resource, namespace, obj["metadata"]["name"])


def _check_uid(resource: Resource, existing: JsonDict, sent_uid: Any) -> None:
    actual = existing["metadata"].get("uid")
    if sent_uid and sent_uid != actual:
        raise conflict(
            resource,
            existing["metadata"]["name"],
            f"Precondition failed: UID in precondition: {sent_uid}, UID in object meta: {actual}",
        )


def _prepare_namespace(obj: JsonDict) -> None:
    # What the namespace strategy adds on create (the label since Kubernetes 1.21).
    name = obj["metadata"]["name"]
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj["status"] = {"phase": "Active"}
