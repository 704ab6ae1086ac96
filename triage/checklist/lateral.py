"""Lateral movement: what a compromised pod still reaches, and what would contain it.

Computed simply with the engine over one representative pod per workload and each port the
workload declares (pods that declare no port are counted, not guessed at).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from triage.checklist.yamlout import dump_yaml
from triage.model import Flow, IPRef, NetworkPolicy, Pod, PodRef, Snapshot
from triage.model.objects import Direction, LabelSelector
from triage.policy import is_allowed

# Stand-ins for destinations outside the cluster's pods: (ip, port, what it is).
EXTERNAL_PROBES = (
    ("1.1.1.1", 443, "the internet"),
    ("169.254.169.254", 80, "the cloud metadata endpoint"),
)
QUARANTINE_LABEL = ("quarantine", "true")
MAX_CHECKS = 5000


def representatives(pods: Iterable[Pod]) -> list[Pod]:
    """One pod per (namespace, workload): the first by name."""
    seen: dict[tuple[str, str], Pod] = {}
    for pod in sorted(pods, key=lambda p: p.key):
        seen.setdefault((pod.namespace, pod.workload), pod)
    return list(seen.values())


def default_denies(snapshot: Snapshot, namespace: str) -> Mapping[Direction, list[str]]:
    """Policies of `namespace` that isolate every pod for a direction (podSelector {}):
    with no rules they deny everything; with rules, everything but what the rules allow."""
    out: dict[Direction, list[str]] = {"Ingress": [], "Egress": []}
    for pol in snapshot.policies_by_namespace.get(namespace, ()):
        if not pol.pod_selector.is_empty:
            continue
        for direction in ("Ingress", "Egress"):
            if direction in pol.policy_types:
                n = len(pol.rules(direction))
                note = f" (allows only its {n} rule{'s' if n != 1 else ''})" if n else ""
                out[direction].append(pol.key + note)
    return out


@dataclass(frozen=True, slots=True)
class Path:
    """One open path between the pod and a workload's representative."""

    pod: str  # NS/POD of the representative
    workload: str  # NS/WORKLOAD
    port: int
    protocol: str

    def __str__(self) -> str:
        return f"{self.workload} ({self.pod.split('/', 1)[1]}) {self.port}/{self.protocol}"


@dataclass(frozen=True)
class Reach:
    reachable: tuple[Path, ...]
    reached_by: tuple[Path, ...]
    external: tuple[str, ...]  # outside destinations reachable: "the internet (1.1.1.1:443/TCP)"
    unknown_ports: int  # workloads that declare no port, so were not checked
    checked: int
    truncated: bool


def _ports_of(pod: Pod) -> list[tuple[int, str]]:
    return sorted({(cp.port, cp.protocol) for cp in pod.ports})


def reach(snapshot: Snapshot, pod: Pod, limit: int = MAX_CHECKS) -> Reach:
    source = PodRef(pod.namespace, pod.name)
    reachable: list[Path] = []
    reached_by: list[Path] = []
    unknown = 0
    checked = 0
    truncated = False
    own_ports = _ports_of(pod)
    for other in representatives(snapshot.pods):
        if other.key == pod.key or other.host_network:
            continue
        ports = _ports_of(other)
        if not ports:
            unknown += 1
        target = PodRef(other.namespace, other.name)
        workload = f"{other.namespace}/{other.workload}"
        for number, proto in ports:
            if checked >= limit:
                truncated = True
                break
            checked += 1
            if is_allowed(snapshot, Flow(source, target, number, proto)):  # type: ignore[arg-type]
                reachable.append(Path(other.key, workload, number, proto))
        for number, proto in own_ports:
            if checked >= limit:
                truncated = True
                break
            checked += 1
            if is_allowed(snapshot, Flow(target, source, number, proto)):  # type: ignore[arg-type]
                reached_by.append(Path(other.key, workload, number, proto))
    external = tuple(
        f"{what} ({ip}:{port}/TCP)"
        for ip, port, what in EXTERNAL_PROBES
        if is_allowed(snapshot, Flow(source, IPRef(ip), port, "TCP"))
    )
    return Reach(tuple(reachable), tuple(reached_by), external, unknown, checked, truncated)


@dataclass(frozen=True)
class Containment:
    yaml: str
    steps: tuple[str, ...]
    residual: tuple[str, ...]  # what the pod would still reach, or be reached by


def quarantine_policy(namespace: str) -> NetworkPolicy:
    key, value = QUARANTINE_LABEL
    return NetworkPolicy(
        namespace=namespace,
        name="quarantine",
        pod_selector=LabelSelector(((key, value),)),
        policy_types=("Ingress", "Egress"),
    )


def containment(snapshot: Snapshot, pod: Pod) -> Containment:
    """Quarantine: a policy selecting quarantine=true that allows nothing, and the pod
    relabelled to quarantine=true ONLY, so no other policy's selector keeps admitting it.
    The residual is what other policies (podSelector {}, NotIn, DoesNotExist) still allow."""
    key, value = QUARANTINE_LABEL
    policy = quarantine_policy(pod.namespace)
    yaml_text = dump_yaml(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": policy.name, "namespace": pod.namespace},
            "spec": {
                "podSelector": {"matchLabels": {key: value}},
                "policyTypes": ["Ingress", "Egress"],
            },
        }
    )
    removed = " ".join(f"{k}-" for k in sorted(pod.labels) if k != key)
    if pod.owner is not None:
        effect = (
            f"   removing its labels takes the pod out of its Services and its {pod.owner.kind}, "
            "which starts a clean replacement; the quarantined pod stays for forensics"
        )
    else:
        effect = "   removing its labels takes the pod out of its Services; nothing replaces it"
    steps = (
        "1. kubectl apply -f quarantine.yaml (the policy below)",
        f"2. kubectl label pod -n {pod.namespace} {pod.name} {key}={value} --overwrite"
        + (f" {removed}" if removed else ""),
        effect,
    )
    isolated = dataclasses.replace(pod, labels={key: value})
    pods = tuple(isolated if p.key == pod.key else p for p in snapshot.pods)
    after = Snapshot(
        snapshot.namespaces,
        pods,
        snapshot.services,
        (*snapshot.policies, policy),
        snapshot.warnings,
    )
    left = reach(after, isolated)
    residual = [f"reaches {r}" for r in left.reachable]
    residual += [f"reachable from {r.workload} on {r.port}/{r.protocol}" for r in left.reached_by]
    residual += [f"reaches {e}" for e in left.external]
    return Containment(yaml_text, steps, tuple(residual))
