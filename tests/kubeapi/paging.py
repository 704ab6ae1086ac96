"""LIST pagination: `limit` + `continue`, with tokens that can expire.

Tokens look like the apiserver's (base64url JSON {"v","rv","start"}) and continuation reads
from the snapshot taken at the first page, so a paginated list is consistent even while
tests write concurrently. Forgetting snapshots (capacity, or `expire_all`) is this server's
compaction: a token whose snapshot is gone answers 410 Expired, with an "inconsistent"
token in the Status (rv -1) that continues from the current data, exactly like etcd3.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .objects import JsonDict, without_type_meta
from .resources import Resource
from .status import bad_request, expired_continue
from .store import ObjectStore, Snapshot

INCONSISTENT_RV = -1


def encode_token(rv: int, start: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(token: str) -> tuple[int, str]:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if data.get("v") != "meta.k8s.io/v1":
            raise ValueError("unsupported continue version")
        rv, start = int(data["rv"]), str(data["start"])
    except (binascii.Error, ValueError, KeyError, TypeError, AttributeError) as exc:
        # The apiserver: storage.DecodeContinue failure → BadRequest, not Expired.
        raise bad_request(f"invalid continue token: continue key is not valid: {exc}") from exc
    if rv == 0 or rv < INCONSISTENT_RV:
        raise bad_request(
            "invalid continue token: continue key is not valid: "
            "incorrect encoded start resourceVersion (version meta.k8s.io/v1)"
        )
    return rv, start


@dataclass
class Page:
    items: list[JsonDict]
    resource_version: int
    continue_token: str | None
    remaining: int | None

    def list_meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"resourceVersion": str(self.resource_version)}
        if self.continue_token:
            meta["continue"] = self.continue_token
            if self.remaining is not None:
                meta["remainingItemCount"] = self.remaining
        return meta


class ContinueTokens:
    def __init__(self, capacity: int = 64) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._snapshots: OrderedDict[tuple[str, str | None, int], Snapshot] = OrderedDict()

    def remember(self, scope: tuple[str, str | None], snapshot: Snapshot) -> None:
        with self._lock:
            key = (*scope, snapshot.rv)
            self._snapshots[key] = snapshot
            self._snapshots.move_to_end(key)
            while len(self._snapshots) > self._capacity:
                self._snapshots.popitem(last=False)

    def lookup(self, scope: tuple[str, str | None], rv: int) -> Snapshot | None:
        with self._lock:
            return self._snapshots.get((*scope, rv))

    def expire_all(self) -> None:
        with self._lock:
            self._snapshots.clear()


def list_page(
    store: ObjectStore,
    tokens: ContinueTokens,
    resource: Resource,
    namespace: str | None,
    *,
    limit: int,
    continue_token: str | None,
    predicate: Callable[[JsonDict], bool] | None,
) -> Page:
    scope = (resource.qualified, namespace)
    if continue_token:
        rv, start = decode_token(continue_token)
        if rv == INCONSISTENT_RV:
            snapshot = store.snapshot(resource, namespace)
        else:
            found = tokens.lookup(scope, rv)
            if found is None:
                raise expired_continue(encode_token(INCONSISTENT_RV, start))
            snapshot = found
        position = _position_after(snapshot.keys, start)
    else:
        snapshot = store.snapshot(resource, namespace)
        position = 0

    items: list[JsonDict] = []
    total = len(snapshot.items)
    while position < total and (limit <= 0 or len(items) < limit):
        obj = snapshot.items[position]
        position += 1
        if predicate is None or predicate(obj):
            items.append(without_type_meta(obj))

    token = None
    remaining = None
    if limit > 0 and position < total:
        tokens.remember(scope, snapshot)
        token = encode_token(snapshot.rv, snapshot.keys[position - 1] + "\x00")
        # The apiserver cannot count matches it has not read, so it omits the count
        # whenever a selector filters the list.
        remaining = total - position if predicate is None else None
    return Page(items, snapshot.rv, token, remaining)


def _position_after(keys: list[str], start: str) -> int:
    if start.endswith("\x00"):
        return bisect.bisect_right(keys, start[:-1])
    return bisect.bisect_left(keys, start)
