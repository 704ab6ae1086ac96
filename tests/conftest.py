"""Shared test set-up: take the developer's environment out of the tests."""

from __future__ import annotations

import importlib.util
import os

# NO_COLOR and a user's theme would change every snapshot (the App reads a copy of the
# environment when it is built, so this must happen before any App exists).
os.environ.pop("NO_COLOR", None)
os.environ.pop("TEXTUAL_THEME", None)

# The Kubernetes API test server's fixtures (kube_api, kubeconfig).
pytest_plugins = (
    ["tests.kubeapi.fixtures"] if importlib.util.find_spec("tests.kubeapi.fixtures") else []
)
