"""Least-privilege findings: rules broader than they need to be, and what to write instead.

Each finding names the policy and rule, says why it is broad (with what it exposes in this
snapshot), and proposes a tighter rule or policy as a manifest fragment. Checks:

- `allow-all`        a rule with no peers and no ports (high)
- `any-peer`         a rule with no from/to: every source or destination, in or out of the cluster
- `any-namespace`    namespaceSelector {}: every namespace
- `any-pod`          podSelector {} alone: every pod of the policy's namespace
- `all-ips`          ipBlock 0.0.0.0/0 or ::/0 without except
- `ipblock-pods`     an ipBlock that also covers pod IPs (pods match it by IP)
- `no-ports`         a rule without ports: every port and protocol
- `broad-dns`        a DNS allowance broader than the DNS pods and port 53
- `selects-nothing`  a policy whose podSelector selects no pod
- `matches-nothing`  a selector peer that matches no pod (high when it nearly matches one)
- `no-default-deny`  a namespace without a default-deny (per direction)
- `shadowed-rule`    a rule whose connections another rule already allows

and, for the admin tiers, the `tier-*` checks of `lint_tiers.py`.
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from triage.model import (
    NAMESPACE_NAME_LABEL,
    Direction,
    IPBlock,
    LabelSelector,
    NetworkPolicy,
    Peer,
    PolicyPort,
    Requirement,
    Rule,
    Snapshot,
)
from triage.model.manifest import peer_manifest
from triage.policy.classes import ClusterModel, PortSpec, compile_snapshot, iter_bits
from triage.policy.dns import dns_target
from triage.policy.generate import default_deny, dns_rule_manifest, tighter_rule
from triage.policy.lint_tiers import tier_findings
from triage.policy.portset import PortSet, declared_ports
from triage.policy.verify import Baseline, Verification, baseline, verify

Severity = Literal["info", "low", "medium", "high"]
SEVERITIES: tuple[Severity, ...] = ("info", "low", "medium", "high")
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")
PRIVATE_V4 = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16")
PRIVATE_V6 = ("fc00::/7", "fe80::/10")
DNS_PORTS = PortSet.parse("UDP 53; TCP 53")


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    namespace: str
    policy: str | None  # NS/NAME; None for a namespace-wide finding
    direction: Direction | None
    rule: int | None
    title: str
    why: str
    suggestion: str
    fix: dict[str, Any] | None = None  # the tighter rule (or policy), as a manifest fragment
    # What applying `fix` changes, verified on the whole snapshot (None: not verifiable, the
    # fix has placeholders or is a fragment of a peer).
    verification: Verification | None = field(default=None, compare=False)
    peer: int | None = None
    pods: int = 0  # pods the policy selects (or the namespace holds)

    @property
    def where(self) -> str:
        if self.policy is None:
            return f"namespace {self.namespace}"
        out = self.policy
        if self.direction is not None and self.rule is not None:
            out += f" {self.direction.lower()} rule #{self.rule}"
        if self.peer is not None:
            out += f" peer #{self.peer}"
        return out


@dataclass
class LintReport:
    findings: list[Finding]
    policies: int
    namespaces: int
    warnings: list[str] = field(default_factory=list)

    def at_least(self, severity: str) -> list[Finding]:
        rank = severity_rank(severity)
        return [f for f in self.findings if severity_rank(f.severity) >= rank]

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for f in self.findings if f.severity == s) for s in SEVERITIES}


def portset_manifest(ports: PortSet) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for proto, ranges in ports.items():
        for lo, hi in ranges:
            entry: dict[str, Any] = {"protocol": proto, "port": lo}
            if hi != lo:
                entry["endPort"] = hi
            out.append(entry)
    return out


# ---------------------------------------------------------------- cover relations


def _terms(selector: LabelSelector) -> list[Requirement]:
    return [Requirement(k, "In", (v,)) for k, v in selector.match_labels] + list(
        selector.match_expressions
    )


def _implies(small: Requirement, big: Requirement) -> bool:
    """Does every label set satisfying `small` satisfy `big`?"""
    if small.key != big.key:
        return False
    if big.operator == "In":
        return small.operator == "In" and set(small.values) <= set(big.values)
    if big.operator == "NotIn":
        if small.operator == "In":
            return not set(small.values) & set(big.values)
        if small.operator == "NotIn":
            return set(small.values) >= set(big.values)
        return small.operator == "DoesNotExist"
    if big.operator == "Exists":
        return small.operator in ("In", "Exists")
    return small.operator == "DoesNotExist"


def selector_covers(big: LabelSelector, small: LabelSelector) -> bool:
    """Everything `small` matches, `big` matches (decided on the selectors, for any
    cluster; may say no where it holds for unusual combinations)."""
    small_terms = _terms(small)
    return all(any(_implies(s, b) for s in small_terms) for b in _terms(big))


def _ranges(block: IPBlock) -> tuple[int, list[tuple[int, int]]]:
    net = ipaddress.ip_network(block.cidr, strict=False)
    ranges = [(int(net.network_address), int(net.broadcast_address))]
    for exc in block.excepts:
        e = ipaddress.ip_network(exc, strict=False)
        lo, hi = int(e.network_address), int(e.broadcast_address)
        out = []
        for a, b in ranges:
            if hi < a or lo > b:
                out.append((a, b))
                continue
            if a < lo:
                out.append((a, lo - 1))
            if hi < b:
                out.append((hi + 1, b))
        ranges = out
    return net.version, ranges


def block_covers(big: IPBlock, small: IPBlock) -> bool:
    vb, rb = _ranges(big)
    vs, rs = _ranges(small)
    if vb != vs:
        return False
    return all(any(a <= lo and hi <= b for a, b in rb) for lo, hi in rs)


def peer_covers(big: Peer, small: Peer, namespace_labels: dict[str, str]) -> bool:
    if big.ip_block is not None or small.ip_block is not None:
        return (
            big.ip_block is not None
            and small.ip_block is not None
            and block_covers(big.ip_block, small.ip_block)
        )
    # namespaces
    if big.namespace_selector is None:
        if small.namespace_selector is not None:
            return False
    elif small.namespace_selector is None:
        from triage.policy.selectors import selector_matches

        if not selector_matches(big.namespace_selector, namespace_labels):
            return False
    elif not selector_covers(big.namespace_selector, small.namespace_selector):
        return False
    # pods
    if big.pod_selector is None or big.pod_selector.is_empty:
        return True
    if small.pod_selector is None:
        return False
    return selector_covers(big.pod_selector, small.pod_selector)


def port_covers(big: PolicyPort, small: PolicyPort) -> bool:
    if big.protocol != small.protocol:
        return False
    if big.port is None:
        return True
    if small.port is None:
        return False
    if isinstance(big.port, str) or isinstance(small.port, str):
        return big.port == small.port
    small_hi = small.end_port if small.end_port is not None else small.port
    big_hi = big.end_port if big.end_port is not None else big.port
    return big.port <= small.port and small_hi <= big_hi


def rule_covers(big: Rule, small: Rule, namespace_labels: dict[str, str]) -> bool:
    if big.peers:
        if not small.peers:
            return False
        if not all(
            any(peer_covers(b, s, namespace_labels) for b in big.peers) for s in small.peers
        ):
            return False
    if big.ports:
        if not small.ports:
            return False
        if not all(any(port_covers(b, s) for b in big.ports) for s in small.ports):
            return False
    return True


# ---------------------------------------------------------------- the checks


class _Linter:
    def __init__(self, snapshot: Snapshot, model: ClusterModel) -> None:
        self.snapshot = snapshot
        self.model = model
        self.findings: list[Finding] = []
        dns = dns_target(snapshot)
        self.dns_ns, self.dns_labels = dns.namespace, dict(dns.labels)
        self._baseline: Baseline | None = None
        self.dns_bits = 0
        for cls in model.classes:
            labels = cls.representative.labels
            if cls.namespace == self.dns_ns and all(
                labels.get(k) == v for k, v in self.dns_labels.items()
            ):
                self.dns_bits |= 1 << cls.index
        self.selected: dict[str, int] = {cp.policy.key: cp.selected for cp in model.policies}

    def base(self) -> Baseline:
        if self._baseline is None:
            self._baseline = baseline(self.snapshot)
        return self._baseline

    def pods_in(self, bits: int) -> int:
        return sum(len(self.model.classes[c].pods) for c in iter_bits(bits))

    def add(self, **kw: Any) -> None:
        self.findings.append(Finding(**kw))

    # ------------------------------------------------------------- per rule

    def rule_checks(self, pol: NetworkPolicy, direction: Direction, index: int, rule: Rule) -> None:
        selected = self.selected[pol.key]
        n_selected = self.pods_in(selected)
        side = "from" if direction == "Ingress" else "to"
        verb = "receive from" if direction == "Ingress" else "open to"
        far = "source" if direction == "Ingress" else "destination"
        outside = (
            "the internet, if a load balancer or node port exposes the pods"
            if direction == "Ingress"
            else "the internet and the cloud metadata address included"
        )
        base = {
            "namespace": pol.namespace,
            "policy": pol.key,
            "direction": direction,
            "rule": index,
            "pods": n_selected,
        }
        ports_set = PortSpec.of(rule.ports).numeric if rule.ports else None
        is_dns_rule = direction == "Egress" and bool(rule.ports) and _only_dns(rule.ports)
        mentions_dns = direction == "Egress" and _mentions_dns(rule.ports)

        if not rule.peers and not rule.ports:
            fix = self._tighter_rule(pol, direction, index)
            self.add(
                code="allow-all",
                severity="high",
                title=f"allows every {far} on every port",
                why=f"no `{side}` and no `ports`: the {n_selected} selected pod(s) may {verb} any "
                "pod or address, on any port and protocol; the policy isolates nothing for "
                f"{direction.lower()}",
                suggestion=f"list the peers and ports the workload needs (or delete the rule "
                f"to deny all {direction.lower()})",
                **fix,
                **base,
            )
            return
        if not rule.peers and not is_dns_rule:
            self.add(
                code="any-peer",
                severity="high" if direction == "Ingress" else "medium",
                title=f"any {far}, in or out of the cluster",
                why=f"no `{side}`: every pod of every namespace and every IP address ({outside})",
                suggestion=f"add `{side}` with the namespaces and pods that need it",
                **self._tighter_rule(pol, direction, index),
                **base,
            )
        for pi, peer in enumerate(rule.peers):
            self.peer_checks(pol, direction, index, pi, peer, rule, base)
        if rule.peers and not rule.ports:
            self.add(
                code="no-ports",
                severity="medium",
                title="every port and protocol",
                why=f"no `ports`: the peers may use any TCP, UDP and SCTP port "
                f"{'of' if direction == 'Ingress' else 'on'} the "
                f"{'selected pods' if direction == 'Ingress' else 'destinations'}, not only "
                "the ones the application serves",
                suggestion="list the ports: "
                + (self._declared_for(pol, direction, rule).describe() or "the served ports")
                + " (the ports the destination pods declare)",
                **self._tighter_rule(pol, direction, index),
                **base,
            )
        if mentions_dns:
            self.dns_check(pol, index, rule, ports_set, base)

    def peer_checks(
        self,
        pol: NetworkPolicy,
        direction: Direction,
        index: int,
        pi: int,
        peer: Peer,
        rule: Rule,
        base: dict[str, Any],
    ) -> None:
        is_dns_rule = direction == "Egress" and bool(rule.ports) and _only_dns(rule.ports)
        model = self.model
        if peer.ip_block is not None:
            block = peer.ip_block
            net = ipaddress.ip_network(block.cidr, strict=False)
            if net.prefixlen == 0 and not block.excepts:
                private = PRIVATE_V4 if net.version == 4 else PRIVATE_V6
                fixed = {"ipBlock": {"cidr": block.cidr, "except": list(private)}}
                self.add(
                    code="all-ips",
                    severity="high" if direction == "Ingress" else "medium",
                    title=f"ipBlock {block.cidr} without except",
                    why=f"every IPv{net.version} address: the internet, the cluster's own pods "
                    "and nodes, and the cloud metadata endpoint (169.254.169.254)"
                    if net.version == 4
                    else f"every IPv{net.version} address, the cluster's own included",
                    suggestion="exclude private and link-local ranges (select cluster pods with "
                    "pod and namespace selectors instead), or name the external CIDRs",
                    fix=fixed,
                    peer=pi,
                    **base,
                )
            pods = self.pods_in(model.peer_bits(peer, pol.namespace))
            if pods and net.prefixlen > 0:
                self.add(
                    code="ipblock-pods",
                    severity="low",
                    title=f"ipBlock {block.cidr} also matches {pods} pod IP(s)",
                    why="pod IPs are ephemeral: which pods this rule admits changes when pods "
                    "are rescheduled (and some CNIs never match pod IPs against ipBlocks)",
                    suggestion="select those pods with podSelector/namespaceSelector, and keep "
                    "ipBlock for addresses outside the cluster (add the pod CIDR to except)",
                    peer=pi,
                    **base,
                )
            return
        ns_sel, pod_sel = peer.namespace_selector, peer.pod_selector
        bits = model.peer_bits(peer, pol.namespace)
        if not bits and not (ns_sel is not None and ns_sel.is_empty and pod_sel is None):
            near = self._nearest_labels(pod_sel, pol.namespace if ns_sel is None else None)
            # A selector one typo away from a live workload is the classic outage (the rule
            # was meant for those pods and admits nothing): high, not a curiosity.
            self.add(
                code="matches-nothing",
                severity="high" if near else "info",
                title="peer matches no pod but nearly matches a live workload"
                if near
                else "peer matches no pod",
                why=f"{peer.describe()} matches no pod of this snapshot: a typo, a missing "
                "namespace label (kubernetes.io/metadata.name needs Kubernetes 1.21+), or "
                "pods not running yet",
                suggestion=near or "check the selector's labels against the pods and namespaces",
                peer=pi,
                **base,
            )
        if is_dns_rule:
            return  # breadth judged by the DNS check
        if ns_sel is not None and ns_sel.is_empty:
            namespaces = sorted({model.classes[c].namespace for c in iter_bits(bits)})
            fix_peer = peer_manifest(peer)
            fix_peer["namespaceSelector"] = {
                "matchExpressions": [
                    {
                        "key": NAMESPACE_NAME_LABEL,
                        "operator": "In",
                        "values": namespaces or ["<namespace>"],
                    }
                ]
            }
            alone = pod_sel is None or pod_sel.is_empty
            self.add(
                code="any-namespace",
                severity=("high" if direction == "Ingress" else "medium") if alone else "low",
                title="namespaceSelector {}: every namespace",
                why=(
                    f"every pod of every namespace ({self.pods_in(bits)} pods now, and any "
                    "namespace created later)"
                    if alone
                    else "pods with these labels in any namespace: whoever can create a pod "
                    "anywhere can give it these labels"
                ),
                suggestion="name the namespaces (kubernetes.io/metadata.name) that hold the "
                f"peers today: {', '.join(namespaces) or 'none'}",
                fix=fix_peer,
                peer=pi,
                **base,
            )
        elif ns_sel is None and pod_sel is not None and pod_sel.is_empty:
            self.add(
                code="any-pod",
                severity="low",
                title=f"podSelector {{}}: every pod of {pol.namespace}",
                why=f"all {self.pods_in(bits)} pods of namespace {pol.namespace} (and any "
                "started later, a debug pod included)",
                suggestion="select the client workloads by label",
                fix={"podSelector": {"matchLabels": {"app": "<client-app>"}}},
                peer=pi,
                **base,
            )

    def dns_check(
        self,
        pol: NetworkPolicy,
        index: int,
        rule: Rule,
        ports: PortSet | None,
        base: dict[str, Any],
    ) -> None:
        model = self.model
        beyond_pods = False
        broad_peers = []
        if not rule.peers:
            beyond_pods = True
            broad_peers.append("no `to` (any destination)")
        for peer in rule.peers:
            if peer.ip_block is not None:
                beyond_pods = True
                broad_peers.append(peer.describe())
                continue
            extra = model.peer_bits(peer, pol.namespace) & ~self.dns_bits
            if extra:
                beyond_pods = True
                broad_peers.append(f"{peer.describe()} ({self.pods_in(extra)} non-DNS pods)")
        # Named ports resolve on the destination (a "dns" port of the DNS pods is 53).
        broad_ports = ports is None or not ports <= DNS_PORTS
        if not beyond_pods and not broad_ports:
            return
        fix = dns_rule_manifest(self.snapshot)
        reasons = []
        if beyond_pods:
            reasons.append("port 53 is open to " + "; ".join(broad_peers))
        if broad_ports:
            described = ports.describe() if ports is not None else "every port"
            reasons.append(f"the rule allows {described}, not only DNS (UDP/TCP 53)")
        self.add(
            code="broad-dns",
            severity="medium",
            title="DNS allowance broader than the DNS pods and port 53",
            why="; ".join(reasons)
            + " — a DNS rule is a common path for exfiltration (DNS tunnelling to any resolver)",
            suggestion=f"allow UDP and TCP 53 to the DNS pods only ({self.dns_ns}, "
            + ",".join(f"{k}={v}" for k, v in sorted(self.dns_labels.items()))
            + ")",
            fix=fix,
            **base,
        )

    # ------------------------------------------------------------- helpers

    def _declared_for(self, pol: NetworkPolicy, direction: Direction, rule: Rule) -> PortSet:
        """The ports the destinations of the rule declare."""
        model = self.model
        if direction == "Ingress":
            bits = self.selected[pol.key]
        else:
            bits = model.peers_bits(rule.peers, pol.namespace) if rule.peers else 0
        out = PortSet()
        for c in iter_bits(bits):
            for pod in model.classes[c].pods:
                out = out | declared_ports(pod)
        return out

    def _tighter_rule(self, pol: NetworkPolicy, direction: Direction, index: int) -> dict[str, Any]:
        """The tighter rule from the one builder, verified when it has no placeholder."""
        rule = pol.rules(direction)[index]
        tighter = tighter_rule(
            self.snapshot, pol, direction, index, self._declared_for(pol, direction, rule)
        )
        verification = verify(self.snapshot, tighter.fix, base=self.base()) if tighter.fix else None
        return {"fix": tighter.manifest, "verification": verification}

    def _nearest_labels(self, selector: LabelSelector | None, namespace: str | None) -> str:
        if selector is None:
            return ""
        pods = (
            self.snapshot.pods_by_namespace.get(namespace, ())
            if namespace is not None
            else self.snapshot.pods
        )
        values: dict[str, set[str]] = {}
        for pod in pods:
            for k, v in pod.labels.items():
                values.setdefault(k, set()).add(v)
        hints = []
        for key, want in selector.match_labels:
            if key not in values:
                close = difflib.get_close_matches(key, list(values), n=1)
                if close:
                    hints.append(f"no pod has label {key}; did you mean {close[0]}?")
                continue
            if want not in values[key]:
                close = difflib.get_close_matches(want, sorted(values[key]), n=1)
                if close:
                    hints.append(f"no pod has {key}={want}; did you mean {key}={close[0]}?")
        return " ".join(hints)

    # ------------------------------------------------------------- per policy

    def policy_checks(self, pol: NetworkPolicy) -> None:
        selected = self.selected[pol.key]
        if not selected:
            hint = self._nearest_labels(pol.pod_selector, pol.namespace)
            self.add(
                code="selects-nothing",
                severity="low",
                namespace=pol.namespace,
                policy=pol.key,
                direction=None,
                rule=None,
                title="the policy selects no pod",
                why=f"podSelector {pol.pod_selector.describe()} matches no pod of namespace "
                f"{pol.namespace}: the policy has no effect (a typo, or a workload that "
                "was renamed)",
                suggestion=hint or "fix the podSelector or delete the policy",
            )
        for direction in pol.policy_types:
            for i, rule in enumerate(pol.rules(direction)):
                self.rule_checks(pol, direction, i, rule)

    def shadow_checks(self) -> None:
        by_ns: dict[str, list[NetworkPolicy]] = {}
        for cp in self.model.policies:
            by_ns.setdefault(cp.policy.namespace, []).append(cp.policy)
        for ns, pols in by_ns.items():
            ns_labels = dict(self.snapshot.namespace_labels(ns) or {})
            for direction in ("Ingress", "Egress"):
                entries = [
                    (pol, i, rule)
                    for pol in pols
                    if direction in pol.policy_types
                    for i, rule in enumerate(pol.rules(direction))
                ]
                for a, (pa, ia, ra) in enumerate(entries):
                    for b, (pb, ib, rb) in enumerate(entries):
                        if a == b:
                            continue
                        if pb is not pa and not selector_covers(pb.pod_selector, pa.pod_selector):
                            continue
                        if not rule_covers(rb, ra, ns_labels):
                            continue
                        mutual = (
                            pa is pb or selector_covers(pa.pod_selector, pb.pod_selector)
                        ) and rule_covers(ra, rb, ns_labels)
                        if mutual and a < b:
                            continue  # equivalent rules: report only the later one
                        same = pa is pb
                        self.add(
                            code="shadowed-rule",
                            severity="low",
                            namespace=ns,
                            policy=pa.key,
                            direction=direction,
                            rule=ia,
                            pods=self.pods_in(self.selected[pa.key]),
                            title=(
                                f"duplicate of {'rule' if same else pb.key + ' rule'} #{ib}"
                                if mutual
                                else f"shadowed by {'rule' if same else pb.key + ' rule'} #{ib}"
                            ),
                            why=(
                                f"{pb.key} {direction.lower()} rule #{ib} allows every connection "
                                f"this rule allows"
                                + ("" if same else ", for every pod this policy selects")
                                + "; removing this rule changes nothing, and a later tightening "
                                "of it would not take effect"
                            ),
                            suggestion="delete this rule, or tighten the broader one if it is "
                            "the one that is too wide",
                        )
                        break

    def namespace_checks(self, namespaces: Iterable[str]) -> None:
        for ns in namespaces:
            pods = self.snapshot.pods_by_namespace.get(ns, ())
            if not pods:
                continue
            ns_bits = self.model.namespace_bits(ns)
            for direction in ("Ingress", "Egress"):
                baseline = [
                    p
                    for p in self.snapshot.policies_by_namespace.get(ns, ())
                    if p.pod_selector.is_empty and direction in p.policy_types
                ]
                if baseline:
                    continue
                isolated = 0
                for c in iter_bits(ns_bits):
                    if self.model.isolating[direction][c]:
                        isolated |= 1 << c
                open_pods = self.pods_in(ns_bits & ~isolated)
                if ns in SYSTEM_NAMESPACES:
                    severity: Severity = "info"
                elif open_pods:
                    severity = "medium" if direction == "Ingress" else "low"
                else:
                    severity = "low" if direction == "Ingress" else "info"
                deny = default_deny(self.snapshot, ns, (direction,))
                manifests = deny.manifests()
                fix = (
                    manifests[0]
                    if len(manifests) == 1
                    else {"apiVersion": "v1", "kind": "List", "items": manifests}
                )
                verb = "ingress" if direction == "Ingress" else "egress"
                acts = "accept connections from" if direction == "Ingress" else "may connect to"
                self.add(
                    code="no-default-deny",
                    severity=severity,
                    namespace=ns,
                    policy=None,
                    direction=direction,
                    rule=None,
                    pods=len(pods),
                    title=f"no default-deny {verb}",
                    why=(
                        f"{open_pods} of {len(pods)} pods are not isolated for {verb}: they "
                        f"{acts} anything"
                        if open_pods
                        else f"every pod is isolated by a specific policy today, but a new "
                        f"workload (or a debug pod) would have unrestricted {verb}"
                    ),
                    suggestion=f"add a default-deny {verb} policy (podSelector {{}})"
                    + (", keeping DNS" if direction == "Egress" else "")
                    + ", then allow what each workload needs",
                    fix=fix,
                    verification=verify(self.snapshot, deny, base=self.base()),
                )


def _only_dns(ports: Sequence[PolicyPort]) -> bool:
    return all(p.port == 53 and p.end_port is None for p in ports)


def _mentions_dns(ports: Sequence[PolicyPort]) -> bool:
    for p in ports:
        if p.protocol not in ("UDP", "TCP"):
            continue
        if p.port == 53 or (
            isinstance(p.port, int) and p.end_port is not None and p.port <= 53 <= p.end_port
        ):
            return True
        if isinstance(p.port, str) and p.port.startswith("dns"):
            return True
    return False


def lint(
    snapshot: Snapshot,
    namespaces: Sequence[str] = (),
    model: ClusterModel | None = None,
) -> LintReport:
    """Every finding for the policies (and namespaces) of `snapshot`, most severe first."""
    model = model or compile_snapshot(snapshot)
    linter = _Linter(snapshot, model)
    wanted = set(namespaces)
    for cp in model.policies:
        if not wanted or cp.policy.namespace in wanted:
            linter.policy_checks(cp.policy)
    linter.shadow_checks()
    tier = [Finding(**fields) for fields in tier_findings(snapshot, model)]
    all_ns = sorted({ns.name for ns in snapshot.namespaces} | {p.namespace for p in snapshot.pods})
    linter.namespace_checks(ns for ns in all_ns if not wanted or ns in wanted)
    # Cluster-scoped (admin tier) findings concern every namespace: always kept.
    findings = [f for f in linter.findings if not wanted or f.namespace in wanted] + tier
    findings.sort(
        key=lambda f: (
            -severity_rank(f.severity),
            f.namespace,
            f.policy or "",
            f.direction or "",
            -1 if f.rule is None else f.rule,
            -1 if f.peer is None else f.peer,
            f.code,
        )
    )
    return LintReport(findings, len(model.policies), len(all_ns))


def finding_to_dict(f: Finding) -> dict[str, Any]:
    return {
        "code": f.code,
        "severity": f.severity,
        "namespace": f.namespace,
        "policy": f.policy,
        "direction": f.direction,
        "rule": f.rule,
        "peer": f.peer,
        "where": f.where,
        "title": f.title,
        "why": f.why,
        "suggestion": f.suggestion,
        "fix": f.fix,
        "fix_delta": _delta_dict(f.verification),
        "pods": f.pods,
    }


def _delta_dict(v: Verification | None) -> dict[str, Any] | None:
    if v is None:
        return None
    return {
        "summary": v.summary(),
        "opens": [x.to_dict() for x in v.opens],
        "closes": [x.to_dict() for x in v.closes],
    }


def report_to_dict(report: LintReport) -> dict[str, Any]:
    return {
        "findings": [finding_to_dict(f) for f in report.findings],
        "counts": report.counts(),
        "policies": report.policies,
        "namespaces": report.namespaces,
        "warnings": report.warnings,
    }
