"""The cluster the live tests talk to: the Kubernetes API test server (tests/kubeapi), or a
real cluster when TRIAGE_TEST_KUBECONFIG names a kubeconfig (TRIAGE_TEST_CONTEXT picks a
context; default: its current one).

On a real cluster the tests only read. Tests that seed objects, inject faults or forbid
verbs ask for `cluster.server`, which skips them with the reason.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.kubeapi import KubeApiServer
from triage.model import Snapshot
from triage.sources.live import LiveTarget
from triage.sources.recording import bundled_incident

REAL_KUBECONFIG_ENV = "TRIAGE_TEST_KUBECONFIG"
REAL_CONTEXT_ENV = "TRIAGE_TEST_CONTEXT"

# The incident the test server is seeded with unless a test seeds its own.
SEED_INCIDENT = "failed-rollout"


@dataclass
class Cluster:
    kubeconfig: Path
    context: str | None
    fake: KubeApiServer | None  # None: a real cluster

    @property
    def real(self) -> bool:
        return self.fake is None

    @property
    def server(self) -> KubeApiServer:
        """The test server; skips the test on a real cluster."""
        if self.fake is None:
            pytest.skip(
                f"needs the API test server (seeding, faults or RBAC rules); "
                f"{REAL_KUBECONFIG_ENV} points at a real cluster"
            )
        return self.fake

    def target(self, *namespaces: str, timeout: float = 20.0) -> LiveTarget:
        return LiveTarget(self.context, self.kubeconfig, tuple(namespaces), timeout)

    def cli_args(self) -> list[str]:
        args = ["--kubeconfig", str(self.kubeconfig)]
        if self.context:
            args += ["--context", self.context]
        return args


def real_cluster() -> Cluster | None:
    path = os.environ.get(REAL_KUBECONFIG_ENV)
    if not path:
        return None
    return Cluster(Path(path), os.environ.get(REAL_CONTEXT_ENV) or None, None)


def fake_cluster(tmp_path: Path, incident: str | None = SEED_INCIDENT) -> Iterator[Cluster]:
    server = (
        KubeApiServer.from_incident(bundled_incident(incident)) if incident else KubeApiServer()
    )
    server.start()
    try:
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig", context="triage-test")
        yield Cluster(kubeconfig, None, server)
    finally:
        server.stop()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A real cluster (TRIAGE_TEST_KUBECONFIG) or the test server seeded with SEED_INCIDENT."""
    real = real_cluster()
    if real is not None:
        yield real
        return
    yield from fake_cluster(tmp_path)


@pytest.fixture
def empty_server(tmp_path: Path) -> Iterator[Cluster]:
    """An unseeded test server (skips on a real cluster), for tests that seed their own."""
    if real_cluster() is not None:
        pytest.skip(f"seeds its own objects; {REAL_KUBECONFIG_ENV} points at a real cluster")
    yield from fake_cluster(tmp_path, incident=None)


def without_versions(snapshot: Snapshot) -> Snapshot:
    """The snapshot with policy resourceVersions dropped: a server assigns its own on
    seeding, and a real cluster bumps them, so equality is about content."""
    policies = tuple(dataclasses.replace(p, resource_version=None) for p in snapshot.policies)
    admin = tuple(dataclasses.replace(p, resource_version=None) for p in snapshot.admin_policies)
    return snapshot.with_policies(policies).with_admin_policies(admin)
