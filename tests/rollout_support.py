"""Shared by the rollout tests: the bundled course incident and a scripted CNI for probes."""

from __future__ import annotations

from pathlib import Path

from tests.kubeapi.server import KubeApiServer
from triage.rollout.verify import ProbeTarget

COURSE = (
    Path(__file__).resolve().parent.parent
    / "triage"
    / "data"
    / "incidents"
    / ("default-deny-rollout.yaml")
)
CONTEXT = "triage-test"


def script_probes(server: KubeApiServer, targets: list[ProbeTarget], failing: set[str]) -> None:
    """A CNI that does what the policies say: observed flows connect, closed ones time out;
    the targets in `failing` (by text) time out although they should connect."""
    for t in targets:
        ok = t.expect == "open" and t.text() not in failing

        def match(argv: list[str], ip: str = t.ip, port: int = t.port) -> bool:
            return argv[:1] == ["nc"] and argv[-2:] == [ip, str(port)]

        if ok:
            server.script_exec(
                t.source.namespace,
                t.source.name,
                match,
                stderr=f"Connection to {t.ip} {t.port} port [tcp/*] succeeded!\n",
            )
        else:
            server.script_exec(
                t.source.namespace,
                t.source.name,
                match,
                stderr=f"nc: connect to {t.ip} port {t.port} (tcp) timed out: "
                "Operation now in progress\n",
                exit_code=1,
            )
