"""A flow the operator asks about: source, destination, port, protocol."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from triage.model.objects import PROTOCOLS, Protocol
from triage.model.untrusted import preview


@dataclass(frozen=True, slots=True)
class PodRef:
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class ServiceRef:
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/svc/{self.name}"


@dataclass(frozen=True, slots=True)
class IPRef:
    ip: str

    def __str__(self) -> str:
        return self.ip


Endpoint = PodRef | ServiceRef | IPRef


@dataclass(frozen=True, slots=True)
class Flow:
    source: Endpoint
    destination: Endpoint
    port: int | str  # a name is resolved against the destination (pod or Service port)
    protocol: Protocol = "TCP"

    def __str__(self) -> str:
        return f"{self.source} → {self.destination}:{self.port}/{self.protocol}"


class FlowSyntaxError(ValueError):
    """A flow written by a person could not be read; the message says which part."""


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def parse_endpoint(text: str, *, role: str) -> Endpoint:
    """`NS/POD`, `NS/svc/NAME` or an IP address."""
    text = text.strip()
    try:
        return IPRef(str(ipaddress.ip_address(text)))
    except ValueError:
        pass
    parts = text.split("/")
    if len(parts) == 2 and all(_DNS_LABEL.match(p) for p in parts):
        return PodRef(parts[0], parts[1])
    is_service = len(parts) == 3 and parts[1] in ("svc", "service")
    if is_service and _DNS_LABEL.match(parts[0]) and _DNS_LABEL.match(parts[2]):
        return ServiceRef(parts[0], parts[2])
    raise FlowSyntaxError(
        f"{role} {preview(repr(text))}: expected NAMESPACE/POD, NAMESPACE/svc/SERVICE or an "
        "IP address"
    )


def parse_port(text: str | int) -> int | str:
    if isinstance(text, int):
        if not 1 <= text <= 65535:
            raise FlowSyntaxError(f"port {text}: must be between 1 and 65535")
        return text
    text = str(text).strip()
    if text.isascii() and text.isdigit():  # `٨٠` is digits to Python, not a port
        return parse_port(int(text))
    # A container port name is at most 15 characters (IANA_SVC_NAME), a Service port name
    # at most 63 (a DNS label): the flow may name either.
    if re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", text) and len(text) <= 63:
        return text
    raise FlowSyntaxError(f"port {preview(repr(text))}: expected a number 1-65535 or a port name")


def parse_protocol(text: str) -> Protocol:
    upper = text.strip().upper()
    for proto in PROTOCOLS:
        if upper == proto:
            return proto
    raise FlowSyntaxError(f"protocol {preview(repr(text))}: expected one of TCP, UDP, SCTP")


def parse_flow(source: str, destination: str, port: str | int, protocol: str = "TCP") -> Flow:
    """Parse the pieces of a flow; `port` may carry `/PROTO` (`53/UDP`)."""
    if isinstance(port, str) and "/" in port:
        port, protocol = port.split("/", 1)
    return Flow(
        parse_endpoint(source, role="source"),
        parse_endpoint(destination, role="destination"),
        parse_port(port),
        parse_protocol(protocol),
    )
