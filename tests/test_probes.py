"""Probe command builders (argv from validated input only), output classification, and the
recorded prober that says "not recorded" rather than invent a result."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.test_checklist_classic import CLASSIC
from triage.model import PodRef
from triage.model.incident import Incident, IncidentMeta, ProbeRecord
from triage.probes import ProbeInputError, RecordedProber
from triage.probes.argv import (
    classify_connect,
    classify_dns,
    connect_commands,
    dns_commands,
    is_missing_tool,
    parse_addresses,
    validate_dns_name,
)
from triage.sources.manifests import load_manifests

# ---------------------------------------------------------------- builders


def test_dns_commands_are_argv_lists_with_fallbacks() -> None:
    assert dns_commands("backend.develop.svc.cluster.local", 3) == [
        ("nslookup", "backend.develop.svc.cluster.local"),
        ("getent", "hosts", "backend.develop.svc.cluster.local"),
        ("dig", "+short", "+time=3", "+tries=1", "backend.develop.svc.cluster.local"),
    ]


def test_connect_commands_tcp_and_udp() -> None:
    assert connect_commands("10.0.1.20", 8080, "TCP", 3) == [
        ("nc", "-v", "-z", "-w", "3", "10.0.1.20", "8080"),
        ("ncat", "-v", "-z", "-w", "3", "10.0.1.20", "8080"),
    ]
    assert connect_commands("10.96.0.10", 53, "udp", 2.2) == [
        ("nc", "-v", "-zu", "-w", "3", "10.96.0.10", "53")
    ]
    # IPv6 is canonicalised; fractional timeouts round up to whole seconds, at least 1
    assert connect_commands("FD00:0::1", 80, "TCP", 0.2)[0] == (
        "nc",
        "-v",
        "-z",
        "-w",
        "1",
        "fd00::1",
        "80",
    )


@pytest.mark.parametrize(
    "name",
    [
        "-e",  # would become an option
        "--help",
        "a;rm -rf /",
        "$(id)",
        "a b",
        "Backend.develop",  # DNS-1123 is lower case
        "backend..develop",
        "x" * 64 + ".svc",
        "",
        "a." * 130 + "a",
        "backend.develop\n",
        "-backend.develop",
        "backend-.develop",
    ],
)
def test_bad_dns_names_are_refused(name: str) -> None:
    with pytest.raises(ProbeInputError):
        dns_commands(name, 3)


@pytest.mark.parametrize("ip", ["10.0.0.256", "-z", "10.0.0.1; id", "", "localhost", "1.2.3"])
def test_bad_ips_are_refused(ip: str) -> None:
    with pytest.raises(ProbeInputError):
        connect_commands(ip, 80, "TCP", 3)


@pytest.mark.parametrize("port", [0, 65536, -1, True, "80", 80.0])
def test_bad_ports_are_refused(port: object) -> None:
    with pytest.raises(ProbeInputError):
        connect_commands("10.0.0.1", port, "TCP", 3)  # type: ignore[arg-type]


def test_bad_protocol_and_timeout_are_refused() -> None:
    with pytest.raises(ProbeInputError, match="TCP or UDP only"):
        connect_commands("10.0.0.1", 80, "SCTP", 3)
    with pytest.raises(ProbeInputError, match="must be positive"):
        connect_commands("10.0.0.1", 80, "TCP", 0)


@given(st.text(max_size=80))
def test_any_accepted_name_is_a_single_safe_argument(name: str) -> None:
    try:
        checked = validate_dns_name(name)
    except ProbeInputError:
        return
    assert not checked.startswith("-")
    assert all((c.isalnum() and c.isascii()) or c in "-." for c in checked)


# ---------------------------------------------------------------- classification

NSLOOKUP_OK = (
    "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10#53\n\n"
    "Name:\tbackend.develop.svc.cluster.local\nAddress: 10.96.10.20\n"
)
BUSYBOX_OK = (
    "Server:    10.96.0.10\nAddress 1: 10.96.0.10 kube-dns.kube-system.svc.cluster.local\n\n"
    "Name:      backend.develop.svc.cluster.local\n"
    "Address 1: 10.96.10.20 backend.develop.svc.cluster.local\nAddress 2: fd00::14\n"
)


def test_classify_dns() -> None:
    assert classify_dns(("nslookup", "x"), NSLOOKUP_OK, 0) == ("success", ("10.96.10.20",))
    assert classify_dns(("nslookup", "x"), BUSYBOX_OK, 0) == (
        "success",
        ("10.96.10.20", "fd00::14"),
    )
    nx = "** server can't find nope.develop.svc.cluster.local: NXDOMAIN\n"
    assert classify_dns(("nslookup", "x"), nx, 1) == ("nxdomain", ())
    timeout = ";; connection timed out; no servers could be reached\n"
    assert classify_dns(("nslookup", "x"), timeout, 1) == ("timeout", ())
    assert classify_dns(("getent", "hosts", "x"), "10.96.10.20  backend.develop\n", 0) == (
        "success",
        ("10.96.10.20",),
    )
    assert classify_dns(("getent", "hosts", "x"), "", 2) == ("nxdomain", ())
    assert classify_dns(("dig", "+short", "x"), "", 0) == ("nxdomain", ())
    assert classify_dns(("dig", "+short", "x"), "", 9) == ("timeout", ())
    assert classify_dns(("nslookup", "x"), "** server can't find x: SERVFAIL\n", 1)[0] in (
        "nxdomain",
        "error",
    )


def test_server_address_is_not_the_answer() -> None:
    server_only = "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10#53\n\n"
    assert parse_addresses(("nslookup",), server_only) == ()


def test_classify_connect() -> None:
    assert (
        classify_connect("Connection to 10.0.1.20 8080 port [tcp/*] succeeded!", 0, 0.01, 3)
        == "success"
    )
    refused = "nc: connect to 10.0.1.20 port 81 (tcp) failed: Connection refused"
    assert classify_connect(refused, 1, 0.01, 3) == "refused"
    timed = "nc: connect to 10.0.1.20 port 8080 (tcp) timed out: Operation now in progress"
    assert classify_connect(timed, 1, 3.0, 3) == "timeout"
    # silent nc: the time it took tells a drop from a refusal
    assert classify_connect("", 1, 3.01, 3) == "timeout"
    assert classify_connect("", 1, 0.02, 3) == "refused"
    assert classify_connect("No route to host", 1, 0.02, 3) == "refused"


def test_missing_tool_detection() -> None:
    assert is_missing_tool(127, "sh: nslookup: not found")
    oci = 'OCI runtime exec failed: exec: "nslookup": executable file not found in $PATH'
    assert is_missing_tool(None, oci)
    assert not is_missing_tool(1, "** server can't find x: NXDOMAIN")
    assert not is_missing_tool(0, "")


# ---------------------------------------------------------------- recorded prober


@pytest.fixture(scope="module")
def recorded() -> RecordedProber:
    snapshot, _ = load_manifests([CLASSIC])
    probes = (
        ProbeRecord(
            "dns",
            "develop/frontend-7d4b9c-x2kq",
            "develop/svc/backend",
            53,
            "UDP",
            "success",
            NSLOOKUP_OK,
            4,
            "2024-09-03T10:31:30Z",
        ),
        ProbeRecord(
            "connect",
            "develop/frontend-7d4b9c-x2kq",
            "develop/svc/backend",
            80,
            "TCP",
            "timeout",
            "timed out",
            3002,
        ),
        ProbeRecord(
            "connect", "develop/debug", "develop/backend-6c8f9-h4lm", 8080, "TCP", "refused"
        ),
        ProbeRecord("connect", "develop/debug", "8.8.8.8", 53, "UDP", "success"),
        # a later record of the same probe wins
        ProbeRecord("connect", "develop/debug", "8.8.8.8", 53, "UDP", "timeout"),
        ProbeRecord(
            "connect", "develop/debug", "backend.develop.svc.cluster.local", 80, "TCP", "success"
        ),
    )
    return RecordedProber(Incident(IncidentMeta("t"), snapshot, probes=probes))


def test_recorded_dns_matches_service_names(recorded: RecordedProber) -> None:
    src = PodRef("develop", "frontend-7d4b9c-x2kq")
    for name in ("backend.develop.svc.cluster.local", "backend.develop", "backend.develop.svc."):
        result = recorded.dns(src, name, 3)
        assert (result.outcome, result.via) == ("success", "recorded")
        assert result.addresses == ("10.96.10.20",)
        assert result.duration_ms == 4
        assert (
            result.note
            == "recorded at 2024-09-03T10:31:30Z; replayed from the incident, not run now"
        )


def test_recorded_connect_resolves_targets(recorded: RecordedProber) -> None:
    src = PodRef("develop", "frontend-7d4b9c-x2kq")
    assert recorded.connect(src, "10.96.10.20", 80, "TCP", 3).outcome == "timeout"
    debug = PodRef("develop", "debug")
    assert recorded.connect(debug, "10.0.1.20", 8080, "TCP", 3).outcome == "refused"
    assert recorded.connect(debug, "8.8.8.8", 53, "UDP", 3).outcome == "timeout"
    # a host-name target is matched through the Service of that name
    assert recorded.connect(debug, "10.96.10.20", 80, "TCP", 3).outcome == "success"


def test_recorded_says_not_recorded(recorded: RecordedProber) -> None:
    src = PodRef("develop", "frontend-7d4b9c-x2kq")
    other = recorded.connect(src, "10.96.10.20", 443, "TCP", 3)
    assert other.outcome == "not-recorded"
    assert other.output == "" and other.command == ()
    assert other.note == (
        "not recorded: the incident has no connect probe from develop/frontend-7d4b9c-x2kq to "
        "10.96.10.20:443/TCP"
    )
    assert recorded.connect(src, "10.96.10.20", 80, "UDP", 3).outcome == "not-recorded"
    assert recorded.dns(PodRef("develop", "debug"), "backend.develop", 3).outcome == "not-recorded"
    assert not recorded.live


def test_recorded_prober_validates_input_too(recorded: RecordedProber) -> None:
    with pytest.raises(ProbeInputError):
        recorded.dns(PodRef("develop", "debug"), "-x", 3)
    with pytest.raises(ProbeInputError):
        recorded.connect(PodRef("develop", "debug"), "not-an-ip", 80, "TCP", 3)
