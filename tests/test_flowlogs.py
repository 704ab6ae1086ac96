"""Flow-log readers (Hubble, Calico Goldmane) and aggregation into distinct flows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.flowlog_builders import calico, hit, hubble, policy, write
from triage.model.datapath import AggregatedFlow, FlowLogWarning, FlowRecord, aggregate
from triage.sources.errors import SourceError
from triage.sources.flowlogs import MAX_LINE, read_flow_log

A = ("shop", "web-7d9c-abcde", "10.0.1.5")
B = ("shop", "api-5f6d-xyz12", "10.0.2.7")


def records(path: Path, fmt: str = "auto") -> list[FlowRecord]:
    return [r for r in read_flow_log(path, fmt=fmt) if isinstance(r, FlowRecord)]


def warnings(path: Path, fmt: str = "auto") -> list[FlowLogWarning]:
    return [r for r in read_flow_log(path, fmt=fmt) if isinstance(r, FlowLogWarning)]


def one(tmp_path: Path, line: str) -> FlowRecord:
    (record,) = records(write(tmp_path, line))
    return record


# ------------------------------------------------------------------ Hubble fields


def test_hubble_bare_line_fields(tmp_path: Path) -> None:
    r = one(
        tmp_path,
        hubble(
            A,
            B,
            8080,
            verdict="DROPPED",
            drop="POLICY_DENIED",
            direction="INGRESS",
            egress_allowed_by=[policy("web-egress", "shop", "NetworkPolicy")],
        ),
    )
    assert r.cni == "hubble" and r.line == 1
    assert (r.source.namespace, r.source.pod, r.source.ip) == A
    assert (r.destination.namespace, r.destination.pod, r.destination.ip) == B
    assert r.destination.labels == ("k8s:app=api",)
    assert (r.port, r.protocol, r.verdict) == (8080, "TCP", "DROPPED")
    assert (r.drop_reason, r.direction, r.is_reply) == ("POLICY_DENIED", "INGRESS", False)
    assert r.time == pytest.approx(1796353200.123456)
    (pol,) = r.policies
    assert (pol.kind, pol.key, pol.action, pol.direction) == (
        "NetworkPolicy",
        "shop/web-egress",
        "allow",
        "EGRESS",
    )


def test_hubble_wrapped_line_is_read_like_a_bare_one(tmp_path: Path) -> None:
    bare = one(tmp_path, hubble(A, B, 8080, verdict="DROPPED", drop="POLICY_DENY"))
    wrapped = one(tmp_path, hubble(A, B, 8080, verdict="DROPPED", drop="POLICY_DENY", wrapped=True))
    assert bare == wrapped


@pytest.mark.parametrize(
    ("verdict", "expected"),
    [
        ("FORWARDED", "FORWARDED"),
        ("DROPPED", "DROPPED"),
        ("AUDIT", "AUDIT"),
        ("ERROR", "ERROR"),
        ("REDIRECTED", "REDIRECTED"),
        ("TRACED", "TRACED"),
        ("TRANSLATED", "TRANSLATED"),
        ("VERDICT_UNKNOWN", "VERDICT_UNKNOWN"),
        (1, "FORWARDED"),
        (2, "DROPPED"),
        (3, "ERROR"),
        (4, "AUDIT"),
        (5, "REDIRECTED"),
        (6, "TRACED"),
        (7, "TRANSLATED"),
        (0, "VERDICT_UNKNOWN"),
    ],
)
def test_every_hubble_verdict(tmp_path: Path, verdict: str | int, expected: str) -> None:
    assert one(tmp_path, hubble(A, B, verdict=verdict)).verdict == expected


@pytest.mark.parametrize(
    ("drop", "expected"),
    [
        ("POLICY_DENIED", "POLICY_DENIED"),
        ("POLICY_DENY", "POLICY_DENY"),
        ("AUTH_REQUIRED", "AUTH_REQUIRED"),
        ("CT_MAP_INSERTION_FAILED", "CT_MAP_INSERTION_FAILED"),
        ("STALE_OR_UNROUTABLE_IP", "STALE_OR_UNROUTABLE_IP"),
        ("SERVICE_BACKEND_NOT_FOUND", "SERVICE_BACKEND_NOT_FOUND"),
        (133, "POLICY_DENIED"),
        (181, "POLICY_DENY"),
        (189, "AUTH_REQUIRED"),
        (999, "DROP_REASON_DESC_999"),
        # Unknown in the new field: the deprecated number (133) the line also carries.
        ("DROP_REASON_UNKNOWN", "POLICY_DENIED"),
    ],
)
def test_every_drop_reason(tmp_path: Path, drop: str | int, expected: str) -> None:
    r = one(tmp_path, hubble(A, B, verdict="DROPPED", drop=drop))
    assert r.drop_reason == expected


@pytest.mark.parametrize(
    ("direction", "expected"),
    [
        ("INGRESS", "INGRESS"),
        ("EGRESS", "EGRESS"),
        ("TRAFFIC_DIRECTION_UNKNOWN", ""),
        (1, "INGRESS"),
        (2, "EGRESS"),
        (0, ""),
    ],
)
def test_every_direction(tmp_path: Path, direction: str | int, expected: str) -> None:
    assert one(tmp_path, hubble(A, B, direction=direction)).direction == expected


@pytest.mark.parametrize(
    ("protocol", "port"),
    [("TCP", 8080), ("UDP", 53), ("SCTP", 9999), ("ICMPv4", None), ("ICMPv6", None)],
)
def test_every_protocol(tmp_path: Path, protocol: str, port: int | None) -> None:
    r = one(tmp_path, hubble(A, B, port, protocol=protocol))
    assert (r.protocol, r.port) == (protocol, port)


def test_all_four_policy_lists_are_read_with_their_direction(tmp_path: Path) -> None:
    r = one(
        tmp_path,
        hubble(
            A,
            B,
            verdict="DROPPED",
            drop="POLICY_DENY",
            ingress_allowed_by=[policy("a", "shop", "NetworkPolicy")],
            egress_allowed_by=[policy("b", "shop")],
            ingress_denied_by=[policy("c", "shop")],
            egress_denied_by=[
                {
                    "name": "d",
                    "labels": [
                        "k8s:io.cilium.k8s.policy.derived-from=CiliumClusterwideNetworkPolicy"
                    ],
                }
            ],
        ),
    )
    got = [(p.name, p.kind, p.direction, p.action) for p in r.policies]
    assert got == [
        ("a", "NetworkPolicy", "INGRESS", "allow"),
        ("b", "CiliumNetworkPolicy", "EGRESS", "allow"),
        ("c", "CiliumNetworkPolicy", "INGRESS", "deny"),
        ("d", "CiliumClusterwideNetworkPolicy", "EGRESS", "deny"),
    ]


def test_reserved_identities_and_services(tmp_path: Path) -> None:
    r = one(
        tmp_path,
        hubble(
            ("", "", "172.18.0.3"),
            ("", "", "10.96.0.10"),
            53,
            protocol="UDP",
            src_labels=["reserved:host"],
            dst_labels=["reserved:world"],
            dst_service={"name": "kube-dns", "namespace": "kube-system"},
        ),
    )
    assert (r.source.reserved, r.source.is_host) == ("host", True)
    assert (r.destination.reserved, r.destination.is_host) == ("world", False)
    assert r.destination.service == "kube-system/kube-dns"
    assert r.source.key == "172.18.0.3"


def test_time_as_seconds_and_nanos(tmp_path: Path) -> None:
    r = one(tmp_path, hubble(A, B, time={"seconds": 1796353200, "nanos": 500000000}))  # type: ignore[arg-type]
    assert r.time == 1796353200.5


# ------------------------------------------------------------------ replies


@pytest.mark.parametrize(
    ("extra", "reply"),
    [
        ({"is_reply": True}, True),
        ({"is_reply": False}, False),
        ({"is_reply": None, "reply": True}, True),
        ({"is_reply": None, "flags": {"SYN": True, "ACK": True}}, True),
        ({"is_reply": None}, None),
    ],
)
def test_reply_detection(tmp_path: Path, extra: dict[str, object], reply: bool | None) -> None:
    r = one(tmp_path, hubble(A, B, **extra))  # type: ignore[arg-type]
    assert r.is_reply is reply


def test_replies_are_counted_not_aggregated(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        hubble(A, B, 8080),
        hubble(B, A, 43512, is_reply=True),
        hubble(B, A, 43512, is_reply=None, flags={"SYN": True, "ACK": True}),
    )
    agg = aggregate(read_flow_log(path))
    assert (agg.records, agg.replies) == (1, 2)
    assert [f.describe() for f in agg.flows] == [
        "shop/web-7d9c-abcde → shop/api-5f6d-xyz12:8080/TCP"
    ]


# ------------------------------------------------------------------ malformed lines


def test_malformed_lines_are_one_warning_each_and_the_rest_is_read(tmp_path: Path) -> None:
    good = hubble(A, B, 8080)
    path = write(
        tmp_path,
        good,
        "{not json",
        "[1, 2]",
        hubble(("shop", "Web_Bad", "10.0.1.5"), B),
        hubble(("shop", "web", "10.0.1.999"), B),
        hubble(A, B, 70000),
        json.dumps({"hello": "world"}),
        "",
        json.dumps({"node_status": {"state": "NODE_CONNECTED"}}),
        json.dumps({"lost_events": {"source": "HUBBLE_RING_BUFFER", "num_events_lost": 12}}),
        hubble(A, B, 8080, verdict="FLYING"),
        good,
    )
    got = warnings(path)
    assert [w.line for w in got] == [2, 3, 4, 5, 6, 7, 10, 11]
    text = [w.message for w in got]
    assert text[0].startswith("not JSON")
    assert text[1] == "expected a JSON object per line"
    assert "source.pod_name" in text[2] and "not a valid name" in text[2]
    assert "IP.source" in text[3] and "not an IP address" in text[3]
    assert "l4.TCP.destination_port" in text[4]
    assert "neither a Hubble flow" in text[5]
    assert "lost events" in text[6] and "12" in text[6]
    assert "verdict" in text[7]
    assert str(got[0]).startswith(f"{path}:2: ")
    assert [r.line for r in records(path)] == [1, 12]


def test_a_line_too_long_is_skipped_without_being_kept(tmp_path: Path) -> None:
    path = tmp_path / "long.json"
    with path.open("w", encoding="utf-8") as out:
        out.write('{"verdict": "' + "x" * (MAX_LINE + 10) + '"}\n')
        out.write(hubble(A, B) + "\n")
    got = list(read_flow_log(path))
    assert isinstance(got[0], FlowLogWarning) and got[0].line == 1
    assert "longer than" in got[0].message
    assert isinstance(got[1], FlowRecord) and got[1].line == 2


def test_control_characters_are_cleaned_and_names_refused(tmp_path: Path) -> None:
    hostile = "k8s:app=web\x1b]52;c;ZWNobw==\x07"
    r = one(tmp_path, hubble(A, B, src_labels=[hostile]))
    assert "\x1b" not in r.source.labels[0] and "\x07" not in r.source.labels[0]
    assert "\ufffd" in r.source.labels[0]
    (w,) = warnings(write(tmp_path, hubble(("shop", "web\x1b[2J", "10.0.1.5"), B)))
    assert "\x1b" not in w.message


@pytest.mark.parametrize(
    "name", ["<img src=x onerror=alert(1)>", "deny web", "a`id`", "$(reboot)", ""]
)
def test_a_policy_name_that_is_no_kubernetes_name_is_refused(tmp_path: Path, name: str) -> None:
    path = write(
        tmp_path,
        hubble(A, B, verdict="DROPPED", drop="POLICY_DENY", ingress_denied_by=[policy(name)]),
        calico(("shop", "web-*"), ("shop", "api-*"), enforced=[hit(name, "shop")]),
    )
    got = list(read_flow_log(path))
    if not name:  # no name at all: kept, the CNI simply did not say
        assert all(isinstance(r, FlowRecord) for r in got)
        return
    assert [(w.line, w.message.split(":")[0]) for w in got if isinstance(w, FlowLogWarning)] == [
        (1, "ingress_denied_by[0].name"),
        (2, "policies.enforced_policies[0].name"),
    ]


def test_unreadable_file_and_unknown_format_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="cannot read"):
        list(read_flow_log(tmp_path / "missing.json"))
    with pytest.raises(SourceError, match="format"):
        list(read_flow_log(write(tmp_path, hubble(A, B)), fmt="pcap"))


def test_forced_format_warns_about_lines_of_the_other(tmp_path: Path) -> None:
    path = write(tmp_path, hubble(A, B), calico(("shop", "web-*"), ("shop", "api-*")))
    (w,) = warnings(path, "hubble")
    assert w.line == 2 and "calico flow in a file read as hubble" in w.message
    assert len(records(path, "calico")) == 1


# ------------------------------------------------------------------ Calico Goldmane


def test_calico_allow_line(tmp_path: Path) -> None:
    r = one(
        tmp_path,
        calico(
            ("shop", "web-7d9c-*"),
            ("shop", "api-5f6d-*"),
            8080,
            enforced=[hit("allow-web", "shop", kind=6, rule_index=1)],
            pending=[hit("tighten", "shop", kind="StagedNetworkPolicy", action="Deny")],
        ),
    )
    assert (r.cni, r.verdict, r.drop_reason, r.direction) == ("calico", "FORWARDED", "", "EGRESS")
    assert (r.source.pod, r.source.workload, r.port, r.protocol) == (
        "web-7d9c-*",
        "web-7d9c",
        8080,
        "TCP",
    )
    assert r.count == 3 and r.time == 1796266800 and r.end_time == 1796266815
    assert r.destination.labels == ("app=server",)
    enforced, pending = r.policies
    assert (enforced.kind, enforced.key, enforced.rule, enforced.pending) == (
        "NetworkPolicy",
        "shop/allow-web",
        "1",
        False,
    )
    assert (pending.kind, pending.action, pending.pending) == ("StagedNetworkPolicy", "deny", True)


def test_calico_deny_rule_is_an_explicit_deny_and_end_of_tier_the_default(tmp_path: Path) -> None:
    rule = one(
        tmp_path,
        calico(
            ("shop", "web-*"),
            ("shop", "api-*"),
            action="Deny",
            reporter="dst",
            enforced=[hit("block-web", "shop", kind=1, tier="security", action="Deny")],
        ),
    )
    assert (rule.verdict, rule.drop_reason, rule.direction) == ("DROPPED", "POLICY_DENY", "INGRESS")
    assert rule.policies[0].kind == "CalicoNetworkPolicy"
    end = one(
        tmp_path,
        calico(
            ("shop", "web-*"),
            ("shop", "api-*"),
            action="Deny",
            enforced=[hit("api-ingress", "shop", kind=10, action="Deny", rule_index=-1)],
        ),
    )
    assert end.drop_reason == "POLICY_DENIED" and end.policies[0].rule == ""


def test_calico_knp_prefix_camel_case_and_flow_result_wrapper(tmp_path: Path) -> None:
    body = {
        "id": 17,
        "flow": {
            "key": {
                "sourceName": "web-*",
                "sourceNamespace": "shop",
                "sourceType": "wep",
                "destName": "api-*",
                "destNamespace": "shop",
                "destType": "wep",
                "destPort": "8080",
                "proto": "udp",
                "reporter": "src",
                "action": "Allow",
                "policies": {
                    "enforcedPolicies": [
                        {"kind": "NetworkPolicy", "name": "knp.default.allow", "namespace": "shop"}
                    ]
                },
            },
            "startTime": "1796266800",
            "numConnectionsStarted": "0",
        },
    }
    r = one(tmp_path, json.dumps(body))
    assert (r.port, r.protocol, r.count) == (8080, "UDP", 1)
    assert r.policies[0].key == "shop/allow"


def test_calico_host_endpoint_and_icmp(tmp_path: Path) -> None:
    r = one(
        tmp_path,
        calico(("", "node-1"), ("shop", "api-*"), 0, proto="ICMP", src_type="hep"),
    )
    assert (r.source.reserved, r.source.is_host, r.source.pod) == ("hep", True, "")
    assert (r.protocol, r.port) == ("ICMPv4", None)


def test_calico_bad_fields_are_warnings(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        calico(("shop", "web-*"), ("shop", "api-*"), proto="GRE"),
        calico(("shop", "web-*"), ("shop", "api-*"), action="Maybe"),
        calico(("shop", "web-*"), ("Shop!", "api-*")),
        calico(("shop", "web-*"), ("shop", "api-*")),
    )
    assert [(w.line, w.message.split(":")[0]) for w in warnings(path)] == [
        (1, "proto"),
        (2, "action"),
        (3, "dest_namespace"),
    ]
    assert len(records(path)) == 1


# ------------------------------------------------------------------ aggregation


def test_aggregation_counts_times_verdicts_and_order(tmp_path: Path) -> None:
    c = ("shop", "cron-1", "10.0.3.3")
    path = write(
        tmp_path,
        hubble(A, B, 8080, time="2026-12-04T03:00:05Z"),
        hubble(A, B, 8080, time="2026-12-04T03:00:01Z"),
        hubble(A, B, 8080, verdict="DROPPED", drop="POLICY_DENIED", time="2026-12-04T03:00:09Z"),
        hubble(c, B, 9090, verdict="DROPPED", drop="POLICY_DENY", time="2026-12-04T03:00:02Z"),
        hubble(c, B, 9090, verdict="DROPPED", drop="POLICY_DENY", direction="INGRESS"),
        hubble(A, B, 53, protocol="UDP"),
        calico(("shop", "web-*"), ("shop", "api-*"), connections=4),
    )
    agg = aggregate(read_flow_log(path))
    by = {f.describe(): f for f in agg.flows}
    mixed = by["shop/web-7d9c-abcde → shop/api-5f6d-xyz12:8080/TCP"]
    assert mixed.count == 3 and mixed.datapath == "mixed"
    assert mixed.verdicts == (("FORWARDED", 2), ("DROPPED", 1))
    assert mixed.last_verdict == "DROPPED" and mixed.drop_reasons == (("POLICY_DENIED", 1),)
    assert mixed.first_seen == pytest.approx(1796353201.0)
    assert mixed.last_seen == pytest.approx(1796353209.0)
    denied = by["shop/cron-1 → shop/api-5f6d-xyz12:9090/TCP"]
    assert (denied.count, denied.datapath, denied.directions) == (
        2,
        "DROPPED",
        ("EGRESS", "INGRESS"),
    )
    assert by["shop/web-* → shop/api-*:8080/TCP"].count == 4
    assert by["shop/web-* → shop/api-*:8080/TCP"].cni == "calico"
    # Dropped first (most drops first), then by count.
    assert [f.dropped for f in agg.flows] == [2, 1, 0, 0]
    assert [f.count for f in agg.flows][2:] == [4, 1]


@pytest.mark.parametrize(
    ("verdicts", "datapath"),
    [
        (("FORWARDED", "REDIRECTED", "TRACED", "TRANSLATED"), "FORWARDED"),
        (("DROPPED",), "DROPPED"),
        (("AUDIT",), "AUDIT"),
        (("ERROR",), "ERROR"),
        (("VERDICT_UNKNOWN",), "UNKNOWN"),
        (("AUDIT", "DROPPED"), "mixed"),
    ],
)
def test_datapath_classes(tmp_path: Path, verdicts: tuple[str, ...], datapath: str) -> None:
    path = write(tmp_path, *(hubble(A, B, verdict=v) for v in verdicts))
    (flow,) = aggregate(read_flow_log(path)).flows
    assert isinstance(flow, AggregatedFlow) and flow.datapath == datapath


def test_warnings_are_bounded(tmp_path: Path) -> None:
    path = write(tmp_path, *(["{"] * 7), hubble(A, B))
    agg = aggregate(read_flow_log(path), max_warnings=5)
    assert len(agg.warnings) == 5 and agg.warnings_dropped == 2 and agg.records == 1


def test_repeated_endpoints_are_checked_once_and_bad_ones_still_refused(tmp_path: Path) -> None:
    """Endpoints are cached by their raw fields: a later line with the same pod but another
    (hostile or malformed) field is checked on its own."""
    path = write(
        tmp_path,
        hubble(A, B),
        hubble(A, B),
        hubble(A, B, src_labels=[{"k8s:app": "web"}]),  # type: ignore[list-item]
        hubble(A, B, src_labels=["k8s:app=web\x1b[2J"]),
        hubble(A, B),
    )
    got = list(read_flow_log(path))
    kinds = [type(item).__name__ for item in got]
    assert kinds == ["FlowRecord", "FlowRecord", "FlowLogWarning", "FlowRecord", "FlowRecord"]
    assert isinstance(got[2], FlowLogWarning) and "source.labels[0]" in got[2].message
    assert isinstance(got[3], FlowRecord) and got[3].source.labels == ("k8s:app=web\ufffd[2J",)
    assert isinstance(got[4], FlowRecord) and got[4].source is got[0].source
