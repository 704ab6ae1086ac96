"""Replays answer probes from the recording, and say "not recorded" rather than invent one."""

from __future__ import annotations

from triage.model import PodRef
from triage.model.incident import Incident, ProbeRecord
from triage.probes.argv import (
    parse_addresses,
    validate_dns_name,
    validate_ip,
    validate_port,
    validate_protocol,
)
from triage.probes.base import ProbeResult


def _dns_names(target: str) -> set[str]:
    """The names a recorded DNS target answers for: a host name as is; `NS/svc/NAME` as its
    short, namespaced and fully qualified forms."""
    target = target.strip().lower().rstrip(".")
    parts = target.split("/")
    if len(parts) == 3 and parts[1] in ("svc", "service"):
        ns, name = parts[0], parts[2]
        return {f"{name}.{ns}", f"{name}.{ns}.svc", f"{name}.{ns}.svc.cluster.local"}
    return {target}


class RecordedProber:
    """Answers from `incident.probes`: a probe matches on source, kind and target (a DNS
    name, or the IP, port and protocol a connect went to, where a target written as NS/POD,
    NS/svc/NAME or a Service's DNS name is resolved through the recorded snapshot). The
    last matching record wins, as recordings list probes in the order they ran."""

    live = False

    def __init__(self, incident: Incident) -> None:
        self.incident = incident

    def _records(self, kind: str, source: PodRef) -> list[ProbeRecord]:
        key = str(source)
        return [p for p in self.incident.probes if p.kind == kind and p.source == key]

    def _target_ips(self, target: str) -> set[str]:
        snapshot = self.incident.snapshot
        parts = target.strip().split("/")
        if len(parts) == 2:
            pod = snapshot.pod(parts[0], parts[1])
            return set(pod.ips) if pod is not None else set()
        if len(parts) == 3 and parts[1] in ("svc", "service"):
            service = snapshot.service(parts[0], parts[2])
            if service is not None and service.cluster_ip:
                return {service.cluster_ip}
            return set()
        try:
            return {validate_ip(target)}
        except ValueError:
            pass
        # A host name: NAME.NS[.svc[.cluster.local]] of a Service.
        labels = target.strip().lower().rstrip(".").split(".")
        if len(labels) >= 2 and (len(labels) == 2 or labels[2] == "svc"):
            service = snapshot.service(labels[1], labels[0])
            if service is not None and service.cluster_ip:
                return {service.cluster_ip}
        return set()

    @staticmethod
    def _result(record: ProbeRecord) -> ProbeResult:
        at = f" at {record.at}" if record.at else ""
        addresses = parse_addresses(("nslookup",), record.output) if record.kind == "dns" else ()
        if record.kind == "dns" and not addresses:
            addresses = parse_addresses(("dig",), record.output)
        return ProbeResult(
            kind=record.kind,
            outcome=record.outcome,
            output=record.output,
            duration_ms=record.duration_ms,
            command=(),
            via="recorded",
            note=f"recorded{at}; replayed from the incident, not run now",
            addresses=addresses,
        )

    def dns(self, source: PodRef, name: str, timeout: float) -> ProbeResult:
        wanted = validate_dns_name(name).lower().rstrip(".")
        for record in reversed(self._records("dns", source)):
            if wanted in _dns_names(record.target):
                return self._result(record)
        return ProbeResult(
            "dns",
            "not-recorded",
            "",
            0,
            (),
            "recorded",
            note=f"not recorded: the incident has no DNS probe from {source} for {name}",
        )

    def connect(
        self, source: PodRef, ip: str, port: int, protocol: str, timeout: float
    ) -> ProbeResult:
        ip = validate_ip(ip)
        port = validate_port(port)
        protocol = validate_protocol(protocol)
        for record in reversed(self._records("connect", source)):
            if record.port != port or record.protocol.upper() != protocol:
                continue
            if ip in self._target_ips(record.target):
                return self._result(record)
        return ProbeResult(
            "connect",
            "not-recorded",
            "",
            0,
            (),
            "recorded",
            note=(
                f"not recorded: the incident has no connect probe from {source} to "
                f"{ip}:{port}/{protocol}"
            ),
        )
