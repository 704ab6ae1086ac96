"""Request log, fault injection and RBAC denial rules.

All three are touched from the test thread and the server thread, so they keep their own
locks and hand out plain data.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]  # first value of each parameter
    query_items: list[tuple[str, str]]  # every parameter, in order (command= repeats)
    body: Any  # parsed JSON, raw text when it is not JSON, None when empty
    headers: dict[str, str]
    status: int | None = None  # filled in when the answer is sent; None for a dropped call

    @property
    def dry_run(self) -> bool:
        """True for a server-side dry run, wherever the client put it (query or DeleteOptions)."""
        if "dryRun" in self.query:
            return True
        return isinstance(self.body, dict) and bool(self.body.get("dryRun"))

    def values(self, name: str) -> list[str]:
        return [v for k, v in self.query_items if k == name]


@dataclass
class Injection:
    """A fault for requests whose method and path match.

    It fires on the `on_call`-th matching request (1 = the first) and then on the following
    matching requests until it has fired `times` times (None = forever).
    """

    method: str
    path: re.Pattern[str]
    status: int | None = None
    message: str | None = None
    reason: str | None = None
    body: Any = None
    delay: float = 0.0
    drop: bool = False
    on_call: int = 1
    times: int | None = 1
    retry_after: int | None = None
    calls: int = 0
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method.upper()) and self.path.search(path) is not None

    def take(self) -> bool:
        """Count one matching call and say whether the fault fires on it."""
        self.calls += 1
        if self.calls < self.on_call or self.exhausted:
            return False
        self.fired += 1
        return True

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times


@dataclass(frozen=True)
class ForbidRule:
    verb: str  # RBAC verb (get, list, watch, create, update, patch, delete, ...) or "*"
    resource: str  # "pods", "pods/exec", "networkpolicies", ... or "*"
    namespace: str | None  # None: every namespace and the cluster scope

    def matches(self, verb: str, resource: str, namespace: str | None) -> bool:
        return (
            self.verb in ("*", verb)
            and self.resource in ("*", resource)
            and (self.namespace is None or self.namespace == namespace)
        )


@dataclass
class FaultPlan:
    injections: list[Injection] = field(default_factory=list)
    forbidden: list[ForbidRule] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_injection(self, injection: Injection) -> Injection:
        with self._lock:
            self.injections.append(injection)
        return injection

    def next_fault(self, method: str, path: str) -> Injection | None:
        # Every matching injection counts the call, so on_call stays exact even when an
        # earlier injection fires first.
        with self._lock:
            firing = None
            for injection in self.injections:
                if injection.matches(method, path) and injection.take() and firing is None:
                    firing = injection
            return firing

    def clear_injections(self) -> None:
        with self._lock:
            self.injections.clear()

    def add_forbid(self, rule: ForbidRule) -> ForbidRule:
        with self._lock:
            self.forbidden.append(rule)
        return rule

    def remove_forbid(self, rule: ForbidRule | None = None) -> None:
        with self._lock:
            if rule is None:
                self.forbidden.clear()
            elif rule in self.forbidden:
                self.forbidden.remove(rule)

    def is_forbidden(self, verb: str, resource: str, namespace: str | None) -> bool:
        with self._lock:
            return any(r.matches(verb, resource, namespace) for r in self.forbidden)
