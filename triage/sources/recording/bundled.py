"""The incidents shipped in the package (`triage demo`, the snapshot-tested replays)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from triage.sources.errors import SourceError

# The bundled incident `triage demo` opens: a failed rollout has a blocked flow to walk
# through, a "what changed" against known-good, and a rollback to stage.
DEMO_INCIDENT = "failed-rollout"


def bundled_incidents_dir() -> Path:
    """`triage/data/incidents` of the installed package (`runbooks/incidents` links to it)."""
    return Path(str(resources.files("triage").joinpath("data/incidents")))


def bundled_incidents() -> list[Path]:
    """Every bundled incident, sorted by file name."""
    return sorted(bundled_incidents_dir().glob("*.yaml"))


def bundled_incident(name: str) -> Path:
    """A bundled incident by name (`failed-rollout`, `failed-rollout.yaml`) or `demo`."""
    stem = DEMO_INCIDENT if name == "demo" else name.removesuffix(".yaml")
    for path in bundled_incidents():
        if path.stem == stem:
            return path
    available = ", ".join(["demo", *(p.stem for p in bundled_incidents())])
    raise SourceError.single(
        "bundled incidents", f"no incident named {name!r}; available: {available}"
    )
