"""pytest fixtures for the Kubernetes API test server.

Load them from tests/conftest.py with `pytest_plugins = ["tests.kubeapi.fixtures"]`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .kubectl import Kubectl, find_kubectl
from .server import KubeApiServer


@pytest.fixture
def kube_api() -> Iterator[KubeApiServer]:
    """A started, empty server (bearer token required); seed it with .add()/.seed()."""
    server = KubeApiServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def kubeconfig(kube_api: KubeApiServer, tmp_path: Path) -> Path:
    """A kubeconfig for `kube_api` with current context `triage-test`."""
    return kube_api.write_kubeconfig(tmp_path / "kubeconfig", context="triage-test")


@pytest.fixture
def kube_api_factory() -> Iterator[Callable[..., KubeApiServer]]:
    """Start servers with options: `factory(incident=path, tls=True, require_auth=False, ...)`.
    All of them are stopped at teardown."""
    servers: list[KubeApiServer] = []

    def start(*, incident: Any = None, **options: Any) -> KubeApiServer:
        if incident is not None:
            server = KubeApiServer.from_incident(incident, **options)
        else:
            server = KubeApiServer(**options)
        servers.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def kubectl_factory(tmp_path: Path) -> Callable[[KubeApiServer], Kubectl]:
    """`kubectl_factory(server)` → a Kubectl bound to that server, with its own HOME and
    discovery cache. Skips the test when kubectl is not installed. Over plain http kubectl
    sends no token, so use a server with `tls=True` or `require_auth=False`."""
    binary = find_kubectl()
    if binary is None:
        pytest.skip("kubectl is not installed (needed for the kubectl compatibility tests)")

    def bind(server: KubeApiServer) -> Kubectl:
        home = tmp_path / f"kubectl-home-{server.port}"
        home.mkdir(parents=True, exist_ok=True)
        config = server.write_kubeconfig(home / "kubeconfig")
        return Kubectl(binary, config, home)

    return bind
