"""The engine: selectors, verdicts with explanation traces (and, built on them, matrix,
diff and lint)."""

from triage.policy.engine import (
    CompiledPolicies,
    UnknownEndpoint,
    build_index,
    compiled,
    explain,
    is_allowed,
    policies_selecting,
    selecting_policies,
)
from triage.policy.selectors import selector_failures, selector_matches
from triage.policy.serialize import explanation_to_dict
from triage.policy.services import service_backends
from triage.policy.trace import (
    Decision,
    Endpoint,
    EngineWarning,
    Explanation,
    NearMiss,
    PeerTrace,
    PolicyTrace,
    PortTrace,
    Reason,
    RuleTrace,
    ServiceResolution,
    SideTrace,
    Verdict,
)

__all__ = [
    "CompiledPolicies",
    "Decision",
    "Endpoint",
    "EngineWarning",
    "Explanation",
    "NearMiss",
    "PeerTrace",
    "PolicyTrace",
    "PortTrace",
    "Reason",
    "RuleTrace",
    "ServiceResolution",
    "SideTrace",
    "UnknownEndpoint",
    "Verdict",
    "build_index",
    "compiled",
    "explain",
    "explanation_to_dict",
    "is_allowed",
    "policies_selecting",
    "selecting_policies",
    "selector_failures",
    "selector_matches",
    "service_backends",
]
