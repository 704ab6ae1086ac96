"""The apiserver's syntax rules for names, labels and ports (k8s.io/apimachinery
`validation`), so that a file is refused where the cluster would refuse it.

Each check returns None for a valid value, else the reason, one short phrase. Patterns are
ASCII-only (`[0-9]`, never `\\d`): `٨٠` is not a port and `ｗｅｂ` is not a name. Values that
repeat (label keys and values, port names) are remembered once valid, so a 10k-pod load pays
for each distinct one once.
"""

from __future__ import annotations

import re

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_IANA_SVC_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")
_HAS_LETTER = re.compile(r"[a-z]")

_valid_keys: set[str] = set()
_valid_values: set[str] = {""}


def _dns_name(value: str, limit: int, pattern: re.Pattern[str], what: str) -> str | None:
    if len(value) > limit:
        return f"longer than {limit} characters ({len(value)})"
    return None if pattern.fullmatch(value) else f"not a {what}"


def dns1123_label(value: str) -> str | None:
    """Namespace names, container names, Service port names."""
    return _dns_name(
        value,
        63,
        _DNS1123_LABEL,
        "DNS-1123 label (lowercase letters, digits and '-', alphanumeric at both ends)",
    )


def dns1123_subdomain(value: str) -> str | None:
    """Pod and NetworkPolicy names, label key prefixes."""
    return _dns_name(
        value,
        253,
        _DNS1123_SUBDOMAIN,
        "DNS-1123 subdomain (lowercase letters, digits, '-' and '.', alphanumeric at both ends)",
    )


def dns1035_label(value: str) -> str | None:
    """Service names: a DNS-1123 label that starts with a letter."""
    return _dns_name(
        value,
        63,
        _DNS1035_LABEL,
        "DNS-1035 label (lowercase letters, digits and '-', starting with a letter, "
        "alphanumeric at the end)",
    )


def label_key(key: str) -> str | None:
    """A label key (or selector key): `[prefix/]name`, prefix a DNS-1123 subdomain."""
    if key in _valid_keys:
        return None
    prefix, slash, name = key.rpartition("/")
    if slash:
        if not prefix:
            return "the prefix before '/' is empty"
        if "/" in prefix:
            return "more than one '/'"
        why = dns1123_subdomain(prefix)
        if why is not None:
            return f"prefix {why}"
    if not name:
        return "the name is empty"
    if len(name) > 63:
        return f"the name is longer than 63 characters ({len(name)})"
    if not _QUALIFIED_NAME.fullmatch(name):
        return (
            "not a qualified name (letters, digits, '-', '_' and '.', alphanumeric at both "
            "ends, with an optional DNS subdomain prefix and '/')"
        )
    _valid_keys.add(key)
    return None


def label_value(value: str) -> str | None:
    if value in _valid_values:
        return None
    if len(value) > 63:
        return f"longer than 63 characters ({len(value)})"
    if not _QUALIFIED_NAME.fullmatch(value):
        return (
            "not a valid label value (empty, or letters, digits, '-', '_' and '.', "
            "alphanumeric at both ends)"
        )
    _valid_values.add(value)
    return None


def port_name(value: str) -> str | None:
    """IANA_SVC_NAME: what a named port may be called (container ports, targetPort, a
    policy's port)."""
    if len(value) > 15:
        return f"longer than 15 characters ({len(value)})"
    if not _IANA_SVC_NAME.fullmatch(value):
        return "not an IANA_SVC_NAME (lowercase letters, digits and '-', alphanumeric ends)"
    if "--" in value:
        return "'-' next to another '-'"
    if not _HAS_LETTER.search(value):
        return "no letter in it (a name of digits only is a number: write it unquoted)"
    return None


__all__ = [
    "dns1035_label",
    "dns1123_label",
    "dns1123_subdomain",
    "label_key",
    "label_value",
    "port_name",
]
