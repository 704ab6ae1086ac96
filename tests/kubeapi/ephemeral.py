"""pods/{name}/ephemeralcontainers: add debug containers and make them start.

kubectl debug and the Python client both PATCH this subresource with a strategic merge patch
and then poll status.ephemeralContainerStatuses until the container is running. The
"kubelet" here is a timer on the server's loop that flips the state after a delay.
"""

from __future__ import annotations

from typing import Any

from .crud import Crud
from .objects import JsonDict, clone, container_id, rfc3339, running_state
from .resources import PODS
from .state import ServerState
from .validation import validate_ephemeral_update


class EphemeralContainers:
    def __init__(self, state: ServerState, crud: Crud) -> None:
        self.state = state
        self.crud = crud

    def patch(
        self, namespace: str, name: str, body: Any, content_type: str, *, dry_run: bool
    ) -> JsonDict:
        result = self.crud.patch(
            PODS, namespace, name, body, content_type, dry_run=dry_run, mutate=self._only_ephemeral
        )
        if not dry_run:
            self._schedule_starts(result)
        return result

    def replace(self, namespace: str, name: str, body: Any, *, dry_run: bool) -> JsonDict:
        containers = (
            ((body or {}).get("spec") or {}).get("ephemeralContainers")
            if isinstance(body, dict)
            else None
        )
        patch = {"spec": {"ephemeralContainers": containers or []}}
        # A merge patch replaces the whole list, which is what PUT means here.
        return self.patch(namespace, name, patch, "application/merge-patch+json", dry_run=dry_run)

    def _only_ephemeral(self, existing: JsonDict, patched: JsonDict) -> JsonDict:
        """Keep everything of the stored pod but spec.ephemeralContainers, then add statuses."""
        candidate = clone(existing)
        new_list = (patched.get("spec") or {}).get("ephemeralContainers") or []
        candidate["spec"]["ephemeralContainers"] = new_list
        if not new_list:
            candidate["spec"].pop("ephemeralContainers", None)
        validate_ephemeral_update(existing, candidate)
        status = candidate.setdefault("status", {})
        statuses = status.setdefault("ephemeralContainerStatuses", [])
        known = {s.get("name") for s in statuses}
        start_now = self.state.ephemeral_start_delay == 0
        for container in new_list:
            if container["name"] in known:
                continue
            entry: JsonDict = {
                "name": container["name"],
                "image": container.get("image", ""),
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "state": {"waiting": {"reason": self.state.ephemeral_waiting_reason}},
            }
            if start_now:
                _mark_running(entry)
            statuses.append(entry)
        if not statuses:
            status.pop("ephemeralContainerStatuses")
        return candidate

    def _schedule_starts(self, pod: JsonDict) -> None:
        delay, loop = self.state.ephemeral_start_delay, self.state.loop
        if not delay or loop is None:
            return
        namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        for entry in (pod.get("status") or {}).get("ephemeralContainerStatuses") or []:
            if "waiting" in entry.get("state", {}):
                loop.call_later(delay, self.start, namespace, name, entry["name"])

    def start(self, namespace: str, name: str, container: str) -> bool:
        """Report `container` as running (also callable from tests). False if it is gone."""
        store = self.state.store
        with store.lock:
            pod = store.get(PODS, namespace, name)
            if pod is None:
                return False
            updated = clone(pod)
            for entry in (updated.get("status") or {}).get("ephemeralContainerStatuses") or []:
                if entry.get("name") == container and "running" not in entry.get("state", {}):
                    _mark_running(entry)
                    store.put(PODS, updated)
                    return True
        return False


def _mark_running(entry: JsonDict) -> None:
    entry["state"] = running_state()
    entry["containerID"] = container_id()
    entry["started"] = True
    entry.setdefault("imageID", "")
    entry["state"]["running"]["startedAt"] = rfc3339()
