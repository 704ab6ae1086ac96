"""Running the real kubectl against a test server, isolated from the developer's setup."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

# The gcloud dispatcher at /usr/bin/kubectl asks the server for /version before every run and
# then execs a versioned binary; calling that binary directly skips a round trip.
PINNED_KUBECTL = Path("/usr/lib/google-cloud-sdk/bin/kubectl.1.32")


def find_kubectl() -> str | None:
    if PINNED_KUBECTL.is_file() and os.access(PINNED_KUBECTL, os.X_OK):
        return str(PINNED_KUBECTL)
    return shutil.which("kubectl")


@dataclass
class Kubectl:
    binary: str
    kubeconfig: Path
    home: Path

    def run(
        self, *args: str, input: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        # A private HOME and cache dir: kubectl caches discovery per host:port, and a stale
        # cache from another test's server on a reused port would change its requests.
        env = {
            "HOME": str(self.home),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "KUBECONFIG": str(self.kubeconfig),
        }
        command = [
            self.binary,
            "--kubeconfig",
            str(self.kubeconfig),
            "--cache-dir",
            str(self.home / ".kube" / "cache"),
            *args,
        ]
        return subprocess.run(
            command,
            input=input,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )
