"""Where the cluster's DNS is: the one place that decides which pods serve DNS.

Everything that reasons about DNS (the checklist's DNS step and candidates, exposure and
containment, lint, and every generated policy that must keep DNS open) asks here.

The DNS pods are found as the engine finds a Service's pods: the backends of the `kube-dns`
(or `coredns`) Service, kube-system first; when there is no such Service (a recording that
left it out), the pods carrying a well-known DNS label (kube-system first); when there are
none either, the usual default (kube-system pods `k8s-app=kube-dns`) is assumed and a note
says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from triage.model import Pod, Service, Snapshot
from triage.policy.services import service_backends

DNS_SERVICE_NAMES = ("kube-dns", "coredns")
# Labels the DNS pods of the common distributions carry, in the order they are tried.
DNS_LABELS: tuple[tuple[str, str], ...] = (
    ("k8s-app", "kube-dns"),
    ("k8s-app", "coredns"),
    ("app.kubernetes.io/name", "coredns"),
)
DEFAULT_DNS_NAMESPACE = "kube-system"
DNS_PORT = 53


@dataclass(frozen=True)
class DnsTarget:
    """The DNS pods and how to select them: `labels` in `namespace` select exactly the pods
    a DNS egress rule must reach."""

    namespace: str
    labels: Mapping[str, str]
    pods: tuple[Pod, ...]
    service: Service | None = None
    notes: tuple[str, ...] = ()

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(p.key for p in self.pods)

    def matches(self, pod: Pod) -> bool:
        return pod.namespace == self.namespace and all(
            pod.labels.get(k) == v for k, v in self.labels.items()
        )


def _dns_service(snapshot: Snapshot) -> Service | None:
    for svc in sorted(snapshot.services, key=lambda s: (s.namespace != "kube-system", s.key)):
        if svc.name in DNS_SERVICE_NAMES and svc.selector:
            return svc
    return None


def dns_target(snapshot: Snapshot) -> DnsTarget:
    """The cluster's DNS pods (see the module docstring for the order things are tried)."""
    service = _dns_service(snapshot)
    if service is not None and service.selector:
        pods = tuple(sorted(service_backends(snapshot, service), key=lambda p: p.key))
        return DnsTarget(service.namespace, dict(service.selector), pods, service)
    for key, value in DNS_LABELS:
        found = snapshot.pods_by_label.get((key, value), ())
        if not found:
            continue
        in_system = [p for p in found if p.namespace == DEFAULT_DNS_NAMESPACE]
        namespace = DEFAULT_DNS_NAMESPACE if in_system else sorted(p.namespace for p in found)[0]
        pods = tuple(sorted((p for p in found if p.namespace == namespace), key=lambda p: p.key))
        return DnsTarget(namespace, {key: value}, pods)
    return DnsTarget(
        DEFAULT_DNS_NAMESPACE,
        {"k8s-app": "kube-dns"},
        (),
        None,
        ("no DNS Service or pod in the snapshot: assumed kube-system pods k8s-app=kube-dns",),
    )


def dns_pods(snapshot: Snapshot) -> tuple[Pod, ...]:
    """The cluster DNS pods, sorted by key; () when the snapshot has none."""
    return dns_target(snapshot).pods
