"""Probe commands: argv lists built from validated input, never shell strings.

Every name, IP and port is validated before it reaches an argv (DNS-1123 names, addresses
that `ipaddress` accepts, int ports 1-65535), so nothing a recording or a user typed can become
an option (`-e`) or a shell construct. Each probe has a fallback list of tools, tried in
order when the image lacks one; `classify_*` turn a tool's exit code and output into an
outcome.
"""

from __future__ import annotations

import ipaddress
import math
import re

from triage.probes.base import ProbeInputError, ProbeOutcome

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")

# Exit codes and messages that mean "this binary is not in the image".
MISSING_TOOL_EXIT = 127
_MISSING_TOOL_TEXT = (
    "executable file not found",
    "no such file or directory",
    "not found in $path",
    "oci runtime exec failed",
    "command not found",
    "applet not found",
)


def validate_dns_name(name: str) -> str:
    """A DNS-1123 subdomain (lower case, ≤253 characters, labels ≤63, optional final dot)."""
    if not isinstance(name, str):
        raise ProbeInputError(f"DNS name {name!r}: expected a string")
    bare = name[:-1] if name.endswith(".") else name
    if not bare or len(bare) > 253:
        raise ProbeInputError(f"DNS name {name!r}: must be 1-253 characters")
    for label in bare.split("."):
        if not _DNS_LABEL.fullmatch(label):
            raise ProbeInputError(
                f"DNS name {name!r}: label {label!r} is not a DNS-1123 label "
                "(lower-case letters, digits and '-', not at either end, at most 63)"
            )
    return name


def validate_ip(ip: str) -> str:
    """An IPv4 or IPv6 address, returned in its canonical form."""
    if not isinstance(ip, str):
        raise ProbeInputError(f"IP {ip!r}: expected a string")
    try:
        return str(ipaddress.ip_address(ip.strip()))
    except ValueError:
        raise ProbeInputError(f"IP {ip!r}: not an IPv4 or IPv6 address") from None


def validate_port(port: int) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ProbeInputError(f"port {port!r}: expected an integer 1-65535")
    return port


def validate_protocol(protocol: str) -> str:
    upper = str(protocol).upper()
    if upper not in ("TCP", "UDP"):
        raise ProbeInputError(f"protocol {protocol!r}: probes can test TCP or UDP only")
    return upper


def wait_seconds(timeout: float) -> str:
    """The whole seconds a tool may wait (nc -w, dig +time): at least 1."""
    if not timeout > 0:
        raise ProbeInputError(f"timeout {timeout!r}: must be positive")
    return str(max(1, math.ceil(timeout)))


def dns_commands(name: str, timeout: float) -> list[tuple[str, ...]]:
    """The DNS lookups to try, in order: nslookup, then getent (glibc images), then dig."""
    name = validate_dns_name(name)
    wait = wait_seconds(timeout)
    return [
        ("nslookup", name),
        ("getent", "hosts", name),
        ("dig", "+short", f"+time={wait}", "+tries=1", name),
    ]


def connect_commands(ip: str, port: int, protocol: str, timeout: float) -> list[tuple[str, ...]]:
    """The connects to try, in order: nc (OpenBSD or busybox), then ncat. `-v` makes both
    say whether the connection was refused or timed out; UDP uses `nc -zu`."""
    ip = validate_ip(ip)
    number = str(validate_port(port))
    wait = wait_seconds(timeout)
    if validate_protocol(protocol) == "UDP":
        return [("nc", "-v", "-zu", "-w", wait, ip, number)]
    return [
        ("nc", "-v", "-z", "-w", wait, ip, number),
        ("ncat", "-v", "-z", "-w", wait, ip, number),
    ]


def is_missing_tool(exit_code: int | None, output: str) -> bool:
    """True when the exec failed because the binary is not in the image."""
    if exit_code == MISSING_TOOL_EXIT:
        return True
    text = output.lower()
    return exit_code != 0 and any(marker in text for marker in _MISSING_TOOL_TEXT)


_IP_TOKEN = re.compile(r"[0-9a-fA-F:.]+")


def _ips_in(text: str) -> list[str]:
    out = []
    for token in _IP_TOKEN.findall(text):
        try:
            out.append(str(ipaddress.ip_address(token)))
        except ValueError:
            continue
    return out


def parse_addresses(argv: tuple[str, ...], output: str) -> tuple[str, ...]:
    """The addresses a DNS tool printed for the name (not the server's own address)."""
    tool = argv[0] if argv else ""
    found: list[str] = []
    if tool == "nslookup":
        # Both nslookups print the server first ("Server: ... Address: 10.96.0.10#53");
        # the answer follows the "Name:" line.
        seen_name = False
        for line in output.splitlines():
            stripped = line.strip()
            if stripped.lower().startswith("name:"):
                seen_name = True
                continue
            if seen_name and stripped.lower().startswith("address") and ":" in stripped:
                # "Address: 10.96.10.20" or busybox "Address 1: 10.96.10.20 name"
                found.extend(_ips_in(stripped.split(":", 1)[1]))
    elif tool == "getent":
        for line in output.splitlines():
            parts = line.split()
            if parts:
                found.extend(_ips_in(parts[0]))
    else:  # dig +short: one answer per line (CNAMEs are names, skipped)
        for line in output.splitlines():
            found.extend(_ips_in(line.strip()))
    return tuple(dict.fromkeys(found))


def classify_dns(
    argv: tuple[str, ...], output: str, exit_code: int | None
) -> tuple[ProbeOutcome, tuple[str, ...]]:
    """The outcome of a DNS tool run, and the addresses it resolved."""
    text = output.lower()
    addresses = parse_addresses(argv, output)
    if "timed out" in text or "no servers could be reached" in text:
        return "timeout", ()
    if "nxdomain" in text or "can't find" in text or "can't resolve" in text:
        return "nxdomain", ()
    if "refused" in text:
        return "refused", ()
    if "servfail" in text:
        return "error", ()
    tool = argv[0] if argv else ""
    if exit_code == 0 and addresses:
        return "success", addresses
    if tool == "getent" and exit_code == 2:
        return "nxdomain", ()  # getent: "key not found"
    if tool == "dig" and exit_code == 0 and not addresses:
        return "nxdomain", ()  # dig +short prints nothing for a name that does not exist
    if tool == "dig" and exit_code == 9:
        return "timeout", ()  # dig: "no reply from server"
    return "error", addresses


def classify_connect(
    output: str, exit_code: int | None, elapsed: float, timeout: float
) -> ProbeOutcome:
    """The outcome of `nc -v -z`: the message when there is one, else how long it took
    (a refusal comes back at once, a drop waits for the whole timeout)."""
    text = output.lower()
    if exit_code == 0:
        return "success"
    if "refused" in text:
        return "refused"
    if "timed out" in text or "timeout" in text:
        return "timeout"
    if "unreachable" in text or "no route" in text:
        # an ICMP reject: some CNIs (and Calico with an action of Reject) answer this way
        return "refused"
    if exit_code is not None and elapsed >= 0.8 * max(1.0, math.ceil(timeout)):
        return "timeout"
    if exit_code == 1 and not text.strip():
        return "refused"
    return "error"
