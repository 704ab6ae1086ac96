"""From a row of an overview screen (matrix cell, exposure row) to the flow whose checklist
`enter` opens: one pod of each side and a port the destination declares."""

from __future__ import annotations

from triage.model import Flow, Pod, PodRef
from triage.model.objects import ContainerPort


def first_declared_port(pod: Pod) -> ContainerPort | None:
    for container in pod.containers:
        for port in container.ports:
            return port
    return None


def flow_between(
    source: Pod, destination: Pod, port: int | str | None = None, protocol: str = "TCP"
) -> Flow | None:
    """`source` → `destination` on `port` (else the destination's first declared port);
    None when there is no port to name."""
    if port is None:
        declared = first_declared_port(destination)
        if declared is None:
            return None
        port, protocol = declared.port, declared.protocol
    return Flow(
        PodRef(source.namespace, source.name),
        PodRef(destination.namespace, destination.name),
        port,
        protocol,  # type: ignore[arg-type]
    )
