"""The least-privilege fix as the checklist shows it: YAML with the labels to add first and
what the engine verified it changes.

The policies come from the one builder (`triage.policy.generate.allow_fix`) and are checked
by the one verifier (`triage.policy.verify`) before anyone sees them: the fix opens the flow,
the other flows it opens are listed, and a fix that would close a flow allowed today says so
in its header (the builder avoids that by construction: it never selects a pod that is not
already isolated for the policy's direction).
"""

from __future__ import annotations

from collections.abc import Sequence

from triage.model import Flow, IPRef, PodRef, Snapshot
from triage.model.manifest import dump_yaml
from triage.model.untrusted import clean, shell_join
from triage.policy import Explanation, Verdict, explain
from triage.policy.generate import allow_fix
from triage.policy.trace import Endpoint
from triage.policy.verify import Verification, admin_denied, verified_fix, verify


def _ref(endpoint: Endpoint) -> PodRef | IPRef:
    if endpoint.kind == "pod":
        namespace, _, name = endpoint.name.partition("/")
        return PodRef(namespace, name)
    return IPRef(endpoint.ip or endpoint.name)


def fix_verification(
    snapshot: Snapshot, target: Flow | Explanation | Verdict
) -> Verification | None:
    """The verified least-privilege fix; None when the flow is allowed or not fixable by
    policy (no backends, a Service port or named port that does not exist, an Admin-tier
    Deny: it decides before any NetworkPolicy)."""
    if isinstance(target, Verdict):
        if admin_denied(target):
            return None
        fix = allow_fix(snapshot, (target,))
        if fix is None or target.port is None:
            return None
        flow = Flow(_ref(target.source), _ref(target.destination), target.port, target.protocol)
        return verify(snapshot, fix, flow)
    if isinstance(target, Flow):
        target = explain(snapshot, target)
    if any(admin_denied(v) for v in target.verdicts):
        return None
    return verified_fix(snapshot, target)


def label_commands(verification: Verification) -> list[str]:
    """The labels the fix needs, as safe shell lines."""
    return [shell_join(change.argv()) for change in verification.fix.labels]


def fix_text(verification: Verification, title: str = "") -> str:
    """The fix as YAML documents after a comment header: notes, labels to add, delta."""
    title = title or str(verification.target or verification.fix.title)
    header = [f"# Least-privilege fix for {clean(title)}"]
    header += [f"# NOTE: {clean(n)}" for n in verification.notes]
    commands = label_commands(verification)
    if commands:
        header.append("# First label the pods (the policies select them by these labels):")
        header += [f"#   {c}" for c in commands]
    header += [f"# {clean(line)}" for line in delta_summary(verification)]
    body = "---\n".join(dump_yaml(d) for d in verification.fix.manifests())
    return "\n".join(header) + "\n" + body


def delta_summary(verification: Verification) -> list[str]:
    """One or two lines: minimal or not, and how much else changes."""
    v = verification
    if v.target_allowed is False:
        verdict = "verified: does NOT open the flow"
    elif v.minimal:
        verdict = "verified: opens the flow and closes nothing"
    else:
        verdict = f"verified: opens the flow but CLOSES {len(v.closes)} flow(s) allowed today"
    others = len(v.opens)
    extra = (
        "opens no other flow"
        if not others
        else f"also opens {others} other flow{'s' if others != 1 else ''}"
    )
    return [f"{verdict}; {extra}"]


def least_privilege_fix(snapshot: Snapshot, target: Flow | Explanation | Verdict) -> str:
    """NetworkPolicy YAML (one document per side that needs it, egress and/or ingress) that
    allows this flow, verified by the engine; "" when the flow is already allowed, or when
    no policy can fix it."""
    verification = fix_verification(snapshot, target)
    if verification is None:
        return ""
    title = str(target.flow) if isinstance(target, Explanation) else ""
    return fix_text(verification, title)


def delta_text(verification: Verification, limit: int = 20) -> str:
    return "\n".join(clean(line) for line in verification.delta_lines(limit))


__all__: Sequence[str] = (
    "delta_summary",
    "delta_text",
    "fix_text",
    "fix_verification",
    "label_commands",
    "least_privilege_fix",
)
