"""Fitting identifiers into narrow terminals: cut the middle of a name, never its end.

A pod name's end (`-8hx2p`) is what tells two replicas apart and a port is what the line is
about, so a line that does not fit loses characters from the middle of its longest names.
"""

from __future__ import annotations

from rich.cells import cell_len

ELLIPSIS = "…"


def elide_middle(text: str, width: int) -> str:
    """`text` in at most `width` cells: its start, `…`, its end (the end gets the larger
    share: it is what differs between replicas). Unchanged when it fits."""
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    keep = width - 1
    tail = (keep + 1) // 2
    head = keep - tail
    return f"{text[:head]}{ELLIPSIS}{text[len(text) - tail :]}"


def elide_names(names: list[str], budget: int, minimum: int = 12) -> list[str]:
    """Shorten the longest of `names` (middle first) until together they fit `budget`
    cells, none below `minimum` unless it was shorter already."""
    out = list(names)
    while sum(cell_len(n) for n in out) > budget:
        longest = max(range(len(out)), key=lambda i: cell_len(out[i]))
        current = cell_len(out[longest])
        if current <= minimum:
            break
        excess = sum(cell_len(n) for n in out) - budget
        others = [cell_len(n) for i, n in enumerate(out) if i != longest]
        # Level the longest down to the next one before cutting both: share the loss.
        target = max(minimum, current - excess, max(others, default=0))
        if target >= current:
            target = current - 1
        out[longest] = elide_middle(names[longest], target)
    return out
