"""A small reference evaluator for the policy tiers, written from the API documentation
alone and working on the raw manifests (dicts), not on triage's model: the property tests
compare the engine (and the matrix) against it. No tests here.

Scope: selectors with matchLabels only; NetworkPolicy peers namespaceSelector/podSelector
and ipBlock without except; admin peers namespaces, pods, networks and the empty peer;
ports by number or range (and CNP destinationNamedPort / ANP namedPort); no Services.
"""

from __future__ import annotations

import ipaddress
from typing import Any

Doc = dict[str, Any]

KIND_ORDER = {"ClusterNetworkPolicy": 0, "AdminNetworkPolicy": 1, "BaselineAdminNetworkPolicy": 2}


def _match(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    wanted = (selector or {}).get("matchLabels") or {}
    return all(labels.get(k) == v for k, v in wanted.items())


class Cluster:
    def __init__(self, docs: list[Doc]) -> None:
        self.ns_labels = {
            d["metadata"]["name"]: d["metadata"].get("labels") or {}
            for d in docs
            if d["kind"] == "Namespace"
        }
        self.pods = {
            f"{d['metadata']['namespace']}/{d['metadata']['name']}": d
            for d in docs
            if d["kind"] == "Pod"
        }
        self.netpols = [d for d in docs if d["kind"] == "NetworkPolicy"]
        self.admin = [d for d in docs if d["kind"] in KIND_ORDER]

    # -- facts about a pod

    def ip(self, key: str) -> str:
        return str(self.pods[key]["status"]["podIP"])

    def labels(self, key: str) -> dict[str, str]:
        return dict(self.pods[key]["metadata"].get("labels") or {})

    def namespace(self, key: str) -> str:
        return str(self.pods[key]["metadata"]["namespace"])

    def host_network(self, key: str) -> bool:
        return bool(self.pods[key]["spec"].get("hostNetwork"))

    def named(self, key: str, name: str, proto: str) -> int | None:
        for c in self.pods[key]["spec"]["containers"]:
            for p in c.get("ports") or []:
                if p.get("name") == name and p.get("protocol", "TCP") == proto:
                    return int(p["containerPort"])
        return None

    # -- NetworkPolicy v1

    def _np_peer(self, peer: Doc, far: str | None, far_ip: str, policy_ns: str) -> bool:
        if "ipBlock" in peer:
            return ipaddress.ip_address(far_ip) in ipaddress.ip_network(peer["ipBlock"]["cidr"])
        if far is None:
            return False
        if "namespaceSelector" in peer:
            if not _match(peer["namespaceSelector"], self.ns_labels.get(self.namespace(far), {})):
                return False
        elif self.namespace(far) != policy_ns:
            return False
        return "podSelector" not in peer or _match(peer["podSelector"], self.labels(far))

    def networkpolicy(
        self, pod: str, direction: str, far: str | None, far_ip: str, port: int, proto: str
    ) -> bool | None:
        """None: no policy selects the pod for this direction; else allowed or not."""
        selecting = [
            p
            for p in self.netpols
            if p["metadata"]["namespace"] == self.namespace(pod)
            and direction in p["spec"]["policyTypes"]
            and _match(p["spec"]["podSelector"], self.labels(pod))
        ]
        if not selecting:
            return None
        key = "from" if direction == "Ingress" else "to"
        for p in selecting:
            for r in p["spec"].get(direction.lower()) or []:
                peers = r.get(key) or []
                ports = r.get("ports") or []
                peer_ok = not peers or any(
                    self._np_peer(x, far, far_ip, p["metadata"]["namespace"]) for x in peers
                )
                port_ok = not ports or any(
                    x.get("protocol", "TCP") == proto and ("port" not in x or x["port"] == port)
                    for x in ports
                )
                if peer_ok and port_ok:
                    return True
        return False

    # -- admin tiers

    def _subject(self, pol: Doc, pod: str) -> bool:
        if self.host_network(pod):
            return False
        subject = pol["spec"]["subject"]
        ns_labels = self.ns_labels.get(self.namespace(pod), {})
        if "namespaces" in subject:
            return _match(subject["namespaces"], ns_labels)
        pods = subject["pods"]
        return _match(pods.get("namespaceSelector"), ns_labels) and _match(
            pods["podSelector"], self.labels(pod)
        )

    def _admin_peer(self, peer: Doc, far: str | None, far_ip: str) -> bool | None:
        """None for a peer with no known field (fail closed)."""
        if "namespaces" in peer:
            return (
                far is not None
                and not self.host_network(far)
                and _match(peer["namespaces"], self.ns_labels.get(self.namespace(far), {}))
            )
        if "pods" in peer:
            return (
                far is not None
                and not self.host_network(far)
                and _match(
                    peer["pods"].get("namespaceSelector"),
                    self.ns_labels.get(self.namespace(far), {}),
                )
                and _match(peer["pods"]["podSelector"], self.labels(far))
            )
        if "networks" in peer:
            return any(
                ipaddress.ip_address(far_ip) in ipaddress.ip_network(c) for c in peer["networks"]
            )
        return None

    def _admin_port(self, entry: Doc, kind: str, dest: str | None, port: int, proto: str) -> bool:
        name = entry.get("destinationNamedPort") or entry.get("namedPort")
        if name:
            return dest is not None and self.named(dest, name, proto) == port
        if kind == "ClusterNetworkPolicy":
            ((key, body),) = entry.items()
            if key.upper() != proto:
                return False
            dp = body["destinationPort"]
            if "number" in dp:
                return bool(dp["number"] == port)
            return bool(dp["range"]["start"] <= port <= dp["range"]["end"])
        if "portNumber" in entry:
            pn = entry["portNumber"]
            return bool(pn.get("protocol", "TCP") == proto and pn["port"] == port)
        pr = entry["portRange"]
        return bool(pr.get("protocol", "TCP") == proto and pr["start"] <= port <= pr["end"])

    def tier(
        self,
        tier: str,
        pod: str,
        direction: str,
        far: str | None,
        far_ip: str,
        dest: str | None,
        port: int,
        proto: str,
    ) -> str | None:
        """The action of the first matching rule in the tier ("Accept", "Deny", "Pass") or
        None when nothing matched."""

        def tier_of(p: Doc) -> str:
            if p["kind"] == "ClusterNetworkPolicy":
                return str(p["spec"]["tier"])
            return "Admin" if p["kind"] == "AdminNetworkPolicy" else "Baseline"

        pols = [p for p in self.admin if tier_of(p) == tier and self._subject(p, pod)]
        pols.sort(
            key=lambda p: (
                p["spec"].get("priority", 1001),
                KIND_ORDER[p["kind"]],
                p["metadata"]["name"],
            )
        )
        key = "from" if direction == "Ingress" else "to"
        for p in pols:
            for r in p["spec"].get(direction.lower()) or []:
                action = {"Allow": "Accept"}.get(r["action"], r["action"])
                peers = [self._admin_peer(x, far, far_ip) for x in r[key]]
                if None in peers and action != "Accept":
                    return str(action)
                ports = r.get("protocols") or r.get("ports") or []
                port_ok = not ports or any(
                    self._admin_port(e, p["kind"], dest, port, proto) for e in ports
                )
                if any(x is True for x in peers) and port_ok:
                    return str(action)
        return None

    def side(
        self,
        pod: str | None,
        direction: str,
        far: str | None,
        far_ip: str,
        dest: str | None,
        port: int,
        proto: str,
    ) -> bool:
        if pod is None:
            return True
        hn = self.host_network(pod)
        if not hn:
            admin = self.tier("Admin", pod, direction, far, far_ip, dest, port, proto)
            if admin in ("Accept", "Deny"):
                return admin == "Accept"
        np = self.networkpolicy(pod, direction, far, far_ip, port, proto)
        if np is not None:
            return np
        if not hn:
            base = self.tier("Baseline", pod, direction, far, far_ip, dest, port, proto)
            if base in ("Accept", "Deny"):
                return base == "Accept"
        return True

    def allowed(self, src: str, dst: str, port: int, proto: str) -> bool:
        """`src`/`dst`: a pod key, or an IP address outside the pods."""
        src_pod = src if src in self.pods else None
        dst_pod = dst if dst in self.pods else None
        src_ip = self.ip(src) if src_pod else src
        dst_ip = self.ip(dst) if dst_pod else dst
        return self.side(src_pod, "Egress", dst_pod, dst_ip, dst_pod, port, proto) and self.side(
            dst_pod, "Ingress", src_pod, src_ip, dst_pod, port, proto
        )
