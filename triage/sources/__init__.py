"""Where a Snapshot comes from: manifests, recordings, the live cluster."""

from triage.sources.assemble import LoadReport, assemble
from triage.sources.errors import Problem, SourceError
from triage.sources.manifests import load_manifests

__all__ = ["LoadReport", "Problem", "SourceError", "assemble", "load_manifests"]
