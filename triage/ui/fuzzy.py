"""Fuzzy completion for the flow picker: fast enough for 10k pod names per keystroke.

Substring matches rank first (a prefix, then earlier and shorter); when there are fewer
than `limit` of them, in-order subsequence matches (`fe-x2` → `frontend-7d4b9c-x2kq`) fill
up, with fewer gaps first. Textual-free.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Completion:
    value: str  # what goes into the field
    display: str  # what the list shows (value plus a hint)
    search: str = ""  # lower-cased text matched against; defaults to value
    protocol: str = ""  # for ports: the protocol that taking this completion implies

    @property
    def key(self) -> str:
        return self.search or self.value.lower()


def rank(query: str, candidates: Sequence[Completion], limit: int = 8) -> list[Completion]:
    query = query.strip().lower()
    if not query:
        return list(candidates[:limit])
    substring: list[tuple[int, int, int, Completion]] = []
    for i, cand in enumerate(candidates):
        at = cand.key.find(query)
        if at >= 0:
            substring.append((0 if at == 0 else 1, at + len(cand.key), i, cand))
    substring.sort(key=lambda t: t[:3])
    out = [t[3] for t in substring[:limit]]
    if len(out) >= limit or len(query) < 2:
        return out
    pattern = re.compile(".*?".join(f"({re.escape(ch)})" for ch in query))
    taken = {id(c) for c in out}
    fuzzy: list[tuple[int, int, Completion]] = []
    for i, cand in enumerate(candidates):
        if id(cand) in taken:
            continue
        match = pattern.search(cand.key)
        if match is not None:
            fuzzy.append((match.end() - match.start() - len(query), i, cand))
    fuzzy.sort(key=lambda t: t[:2])
    out.extend(t[2] for t in fuzzy[: limit - len(out)])
    return out
