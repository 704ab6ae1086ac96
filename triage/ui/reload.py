"""What a reload changed, in one line for the notification (no Textual here)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from triage.model import Snapshot


def _delta(label: str, before: Mapping[str, object], after: Mapping[str, object]) -> str:
    added = after.keys() - before.keys()
    removed = before.keys() - after.keys()
    changed = {k for k in before.keys() & after.keys() if before[k] != after[k]}
    parts = [f"+{len(added)}" if added else "", f"-{len(removed)}" if removed else ""]
    parts.append(f"~{len(changed)}" if changed else "")
    shown = " ".join(p for p in parts if p)
    return f"{label} {shown}" if shown else ""


def reload_summary(before: Snapshot, after: Snapshot) -> str:
    """`policies +1 ~2 · pods -3` (added, removed, changed); "no change" when equal."""
    parts: Iterable[str] = (
        _delta("namespaces", before.namespace_by_name, after.namespace_by_name),
        _delta("pods", before.pod_by_key, after.pod_by_key),
        _delta("services", before.service_by_key, after.service_by_key),
        _delta("policies", before.policy_by_key, after.policy_by_key),
    )
    text = " · ".join(p for p in parts if p)
    return text or "no change"
