"""netpol-triage: why is my traffic blocked, and how do I get back to the last good policies."""

__version__ = "0.1.0"
