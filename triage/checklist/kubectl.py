"""A step's kubectl command: the placeholders a runbook template may use, and their values
for a context's flow. Below the checks and the runbook loader; both use it."""

from __future__ import annotations

from collections.abc import Mapping

from triage.checklist.model import ChecklistContext
from triage.model.untrusted import shell_quote

# The placeholders a step's kubectl template may use; `render_kubectl` fills them.
PLACEHOLDERS: Mapping[str, str] = {
    "src_ns": "namespace of the source pod",
    "src_pod": "name of the source pod",
    "src": "the source as written: NS/POD or an IP",
    "dst_ns": "namespace of the destination (pod or Service)",
    "dst": "name of the destination pod or Service, or its IP",
    "dst_kind": "pod, svc or ip",
    "dst_pod": "name of the (first) destination pod, after Service resolution",
    "dst_ip": "IP of the destination: the Service ClusterIP, else the pod IP",
    "dst_fqdn": "DNS name of the destination Service (svc.cluster.local)",
    "dst_port": "the port to connect to at {dst_ip}: the Service port, else the pod port",
    "namespaces": "the source's and the destination's namespaces, each once",
    "port": "the flow's port (number or name)",
    "target_port": "the port the destination pod sees (after Service targetPort)",
    "protocol": "TCP, UDP or SCTP",
}


def placeholder_values(ctx: ChecklistContext) -> dict[str, str]:
    """The values of PLACEHOLDERS for a context's flow; unknown parts read `<...>`."""
    from triage.model import IPRef, PodRef, ServiceRef
    from triage.policy import UnknownEndpoint

    flow = ctx.flow
    snapshot = ctx.snapshot
    values = {k: f"<{k}>" for k in PLACEHOLDERS}
    values["src"] = str(flow.source)
    values["port"] = str(flow.port)
    values["target_port"] = str(flow.port)
    values["dst_port"] = str(flow.port)
    values["protocol"] = flow.protocol
    if isinstance(flow.source, PodRef):
        values["src_ns"] = flow.source.namespace
        values["src_pod"] = flow.source.name
    dst = flow.destination
    if isinstance(dst, PodRef):
        values.update(dst_ns=dst.namespace, dst=dst.name, dst_kind="pod", dst_pod=dst.name)
        pod = snapshot.pod(dst.namespace, dst.name)
        if pod is not None and pod.ips:
            values["dst_ip"] = pod.ips[0]
    elif isinstance(dst, ServiceRef):
        values.update(dst_ns=dst.namespace, dst=dst.name, dst_kind="svc")
        values["dst_fqdn"] = f"{dst.name}.{dst.namespace}.svc.cluster.local"
        service = snapshot.service(dst.namespace, dst.name)
        if service is not None and service.cluster_ip and service.cluster_ip != "None":
            values["dst_ip"] = service.cluster_ip
    elif isinstance(dst, IPRef):
        values.update(dst=dst.ip, dst_kind="ip", dst_ip=dst.ip)
        pod = snapshot.pods_by_ip.get(dst.ip)
        if pod is not None:
            values.update(dst_ns=pod.namespace, dst_pod=pod.name)
    spaces = [values["src_ns"], values["dst_ns"]]
    values["namespaces"] = " ".join(dict.fromkeys(n for n in spaces if not n.startswith("<")))
    try:
        explanation = ctx.explanation
    except UnknownEndpoint:
        return values
    primary = explanation.primary
    if primary is not None:
        if primary.destination.namespace and primary.destination.kind == "pod":
            values["dst_pod"] = primary.destination.name.split("/", 1)[1]
        if primary.port is not None:
            values["target_port"] = str(primary.port)
        if values["dst_ip"].startswith("<") and primary.destination.ip:
            values["dst_ip"] = primary.destination.ip
            if primary.port is not None:
                values["dst_port"] = str(primary.port)
    service_ip = explanation.service is not None and not isinstance(dst, IPRef)
    if service_ip and explanation.service and not values["dst_ip"].startswith("<"):
        values["dst_port"] = str(explanation.service.port)
    return values


def render_kubectl(template: str, ctx: ChecklistContext) -> str:
    """Fill a step's kubectl template for the context's flow. When source and destination
    share a namespace, `A && A` collapses to `A`: the operator should not run it twice."""
    # Every value is cleaned and shell-quoted (a pod may be named `web$(touch x)` on a live
    # cluster or in a hand-made recording): the command is offered for pasting.
    values = {
        key: " ".join(map(shell_quote, value.split(" ")))
        if key == "namespaces"
        else shell_quote(value)
        for key, value in placeholder_values(ctx).items()
    }
    rendered = template.format_map(values)
    commands = rendered.split(" && ")
    return " && ".join(c for i, c in enumerate(commands) if c not in commands[:i])
