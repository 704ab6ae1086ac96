"""Thread-safe object storage with one global resourceVersion counter, like etcd.

Stored dicts are never mutated after `put`: writers store a fresh copy. That lets a list
snapshot (for paginated reads) share the objects instead of copying 10,000 pods, and lets
handlers serialise an object without holding the lock.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass

from .objects import JsonDict, key_of
from .resources import Resource


def storage_key(resource: Resource, namespace: str, name: str) -> str:
    """The part of the etcd key after /registry/<resource>/, which fixes the list order."""
    return f"{namespace}/{name}" if resource.namespaced else name


@dataclass(frozen=True)
class Snapshot:
    """A consistent view of one resource (optionally one namespace) at `rv`."""

    rv: int
    keys: list[str]
    items: list[JsonDict]


class ObjectStore:
    def __init__(self) -> None:
        # Reentrant: REST handlers hold it across read-check-write sequences that call put().
        self.lock = threading.RLock()
        self._rv = 0
        self._data: dict[str, dict[str, JsonDict]] = {}
        self._sorted: dict[str, list[str]] = {}

    @property
    def resource_version(self) -> int:
        with self.lock:
            return self._rv

    def next_resource_version(self) -> str:
        with self.lock:
            self._rv += 1
            return str(self._rv)

    def get(self, resource: Resource, namespace: str | None, name: str) -> JsonDict | None:
        with self.lock:
            bucket = self._data.get(resource.qualified, {})
            return bucket.get(storage_key(resource, namespace or "", name))

    def put(self, resource: Resource, obj: JsonDict) -> JsonDict:
        """Store `obj` (a private, prepared copy) under a new resourceVersion."""
        namespace, name = key_of(obj)
        key = storage_key(resource, namespace, name)
        with self.lock:
            obj["metadata"]["resourceVersion"] = self.next_resource_version()
            bucket = self._data.setdefault(resource.qualified, {})
            if key not in bucket:
                self._sorted.pop(resource.qualified, None)
            bucket[key] = obj
        return obj

    def remove(self, resource: Resource, namespace: str | None, name: str) -> JsonDict | None:
        key = storage_key(resource, namespace or "", name)
        with self.lock:
            removed = self._data.get(resource.qualified, {}).pop(key, None)
            if removed is not None:
                self._sorted.pop(resource.qualified, None)
                # Deletes advance the revision in etcd too; watchers and caches rely on it.
                self._rv += 1
            return removed

    def snapshot(self, resource: Resource, namespace: str | None = None) -> Snapshot:
        with self.lock:
            bucket = self._data.get(resource.qualified, {})
            keys = self._sorted.get(resource.qualified)
            if keys is None:
                keys = sorted(bucket)
                self._sorted[resource.qualified] = keys
            if namespace is not None and resource.namespaced:
                prefix = f"{namespace}/"
                lo = bisect.bisect_left(keys, prefix)
                # "0" sorts right after "/", so this bounds the prefix range exactly.
                hi = bisect.bisect_left(keys, f"{namespace}0", lo)
                keys = keys[lo:hi]
            else:
                keys = list(keys)
            return Snapshot(self._rv, keys, [bucket[k] for k in keys])

    def items(self, resource: Resource, namespace: str | None = None) -> list[JsonDict]:
        return self.snapshot(resource, namespace).items

    def count(self, resource: Resource) -> int:
        with self.lock:
            return len(self._data.get(resource.qualified, {}))
