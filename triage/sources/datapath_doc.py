"""The `datapath` section of a recording: aggregated flow-log evidence, bounded and redacted.

`triage record --flows FILE` keeps what a replay needs to show the datapath beside the
engine, and nothing else: per distinct flow the ends' names and addresses, port, protocol,
count, first/last seen, verdicts and drop reasons with counts, and the policies the CNI
named. Endpoint labels are left out (the snapshot has the pods' labels; a flow log's
identity labels may carry more than the allow-list of `triage.sources.redact` keeps). At
most `MAX_RECORDED_FLOWS` flows are kept, dropped ones first (the order of `aggregate`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from triage.model.datapath import (
    MAX_POLICIES_PER_FLOW,
    AggregatedFlow,
    Aggregation,
    FlowEnd,
    FlowPolicy,
    flow_order,
    parse_time,
    precise_time,
)
from triage.model.untrusted import clean
from triage.sources.errors import Problem, SourceError

MAX_RECORDED_FLOWS = 500
_END_FIELDS = ("namespace", "pod", "ip", "workload", "service", "reserved")


def _end_document(end: FlowEnd) -> dict[str, str]:
    return {f: clean(getattr(end, f)) for f in _END_FIELDS if getattr(end, f)}


def _policy_document(policy: FlowPolicy) -> dict[str, Any]:
    out: dict[str, Any] = {
        f: clean(getattr(policy, f))
        for f in ("kind", "namespace", "name", "action", "direction", "tier", "rule")
        if getattr(policy, f)
    }
    out.setdefault("name", "")
    if policy.pending:
        out["pending"] = True
    return out


def datapath_to_document(aggregation: Aggregation, source: str = "") -> dict[str, Any]:
    flows = aggregation.flows[:MAX_RECORDED_FLOWS]
    out: dict[str, Any] = {}
    if source:
        out["source"] = clean(source)[:300]
    out["records"] = aggregation.records
    out["replies"] = aggregation.replies
    documents = []
    for flow in flows:
        doc: dict[str, Any] = {
            "from": _end_document(flow.source),
            "to": _end_document(flow.destination),
        }
        if flow.port is not None:
            doc["port"] = flow.port
        doc["protocol"] = flow.protocol
        doc["count"] = flow.count
        doc["cni"] = flow.cni
        if flow.first_seen is not None:
            doc["firstSeen"] = precise_time(flow.first_seen)
        if flow.last_seen is not None:
            doc["lastSeen"] = precise_time(flow.last_seen)
        doc["verdicts"] = dict(flow.verdicts)
        if flow.last_verdict:
            doc["lastVerdict"] = flow.last_verdict
        if flow.drop_reasons:
            doc["dropReasons"] = dict(flow.drop_reasons)
        if flow.directions:
            doc["directions"] = list(flow.directions)
        if flow.policies:
            doc["policies"] = [_policy_document(p) for p in flow.policies]
        documents.append(doc)
    out["flows"] = documents
    return out


def _counts(value: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(value.items(), key=lambda kv: (-kv[1], kv[0])))


def datapath_from_document(document: Mapping[str, Any], file: str) -> Aggregation:
    """The section as the schema already checked it → an Aggregation; bounds are checked
    here (the schema's fast check has no maxItems)."""
    flows_doc = document.get("flows") or []
    if len(flows_doc) > MAX_RECORDED_FLOWS:
        raise SourceError(
            [Problem(file, "datapath.flows", "", f"more than {MAX_RECORDED_FLOWS} flows")]
        )
    flows: list[AggregatedFlow] = []
    for i, doc in enumerate(flows_doc):
        policies = doc.get("policies") or []
        if len(policies) > MAX_POLICIES_PER_FLOW:
            raise SourceError(
                [
                    Problem(
                        file,
                        f"datapath.flows[{i}].policies",
                        "",
                        f"more than {MAX_POLICIES_PER_FLOW} policies",
                    )
                ]
            )
        flows.append(
            AggregatedFlow(
                source=FlowEnd(**{f: doc["from"].get(f, "") for f in _END_FIELDS}),
                destination=FlowEnd(**{f: doc["to"].get(f, "") for f in _END_FIELDS}),
                port=doc.get("port"),
                protocol=doc["protocol"],
                count=doc["count"],
                cni=doc.get("cni", "hubble"),
                first_seen=parse_time(doc.get("firstSeen")),
                last_seen=parse_time(doc.get("lastSeen")),
                verdicts=_counts(doc["verdicts"]),
                last_verdict=doc.get("lastVerdict", ""),
                drop_reasons=_counts(doc.get("dropReasons") or {}),
                directions=tuple(doc.get("directions") or ()),
                policies=tuple(
                    FlowPolicy(
                        kind=p.get("kind", ""),
                        namespace=p.get("namespace", ""),
                        name=p["name"],
                        action=p.get("action", ""),
                        direction=p.get("direction", ""),
                        tier=p.get("tier", ""),
                        rule=p.get("rule", ""),
                        pending=p.get("pending", False),
                    )
                    for p in policies
                ),
            )
        )
    flows.sort(key=flow_order)
    meta = {"source": document["source"]} if document.get("source") else {}
    return Aggregation(
        tuple(flows),
        records=document.get("records", 0),
        replies=document.get("replies", 0),
        meta=meta,
    )
