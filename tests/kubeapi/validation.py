"""Server-side validation that produces 422 Invalid, worded like
k8s.io/kubernetes/pkg/apis/networking/validation and apimachinery's validators."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from .objects import JsonDict
from .resources import Resource
from .status import ApiError, FieldError, bad_request, invalid

_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_RE = re.compile(rf"^{_DNS1123_LABEL}(\.{_DNS1123_LABEL})*$")
_DNS1123_LABEL_RE = re.compile(rf"^{_DNS1123_LABEL}$")
_QUALIFIED_NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
    "regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
QUALIFIED_NAME_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
PORT_RANGE_MSG = "must be between 1 and 65535, inclusive"
CIDR_MSG = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"
PROTOCOLS = ["SCTP", "TCP", "UDP"]
POLICY_TYPES = ["Egress", "Ingress"]
OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def validate_name(resource: Resource, name: Any) -> list[FieldError]:
    if not name:
        return [FieldError("required", "metadata.name", detail="name or generateName is required")]
    if not isinstance(name, str):
        return [FieldError("invalid", "metadata.name", name, SUBDOMAIN_MSG)]
    # Namespaces must be DNS labels; nearly everything else is a DNS subdomain.
    if resource.kind == "Namespace":
        if len(name) > 63 or not _DNS1123_LABEL_RE.match(name):
            return [FieldError("invalid", "metadata.name", name, LABEL_MSG)]
    elif len(name) > 253 or not _DNS1123_SUBDOMAIN_RE.match(name):
        return [FieldError("invalid", "metadata.name", name, SUBDOMAIN_MSG)]
    return []


def validate_object(resource: Resource, obj: JsonDict) -> None:
    """Raise 422 Invalid (or 400 for undecodable shapes) when `obj` would be rejected."""
    metadata = obj.get("metadata") or {}
    name = metadata.get("name")
    errors = validate_name(resource, name)
    errors += _labels(metadata.get("labels"), "metadata.labels")
    if resource.kind == "NetworkPolicy":
        try:
            errors += _network_policy_spec(obj.get("spec"))
        except (TypeError, AttributeError) as exc:
            raise _undecodable(resource, exc) from exc
    if errors:
        raise invalid(resource.kind, resource.group, str(name or ""), errors)


def _undecodable(resource: Resource, exc: Exception) -> ApiError:
    # A JSON shape that cannot unmarshal into the Go struct fails decoding, before validation.
    return bad_request(
        f'{resource.kind} in version "{resource.version}" cannot be handled as a '
        f"{resource.kind}: json: cannot unmarshal: {exc}"
    )


def _labels(labels: Any, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    for key, value in (labels or {}).items():
        errors += _label_key(key, path)
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE_RE.match(value):
            errors.append(FieldError("invalid", f"{path}", value, LABEL_VALUE_MSG))
    return errors


def _label_key(key: str, path: str) -> list[FieldError]:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN_RE.match(prefix)):
        return [FieldError("invalid", path, key, "prefix part " + SUBDOMAIN_MSG)]
    if not name or len(name) > 63 or not _QUALIFIED_NAME_RE.match(name):
        return [FieldError("invalid", path, key, QUALIFIED_NAME_MSG)]
    return []


def _network_policy_spec(spec: Any) -> list[FieldError]:
    if spec is None:
        return []
    if not isinstance(spec, dict):
        raise TypeError("spec must be an object")
    errors = _label_selector(spec.get("podSelector"), "spec.podSelector")
    for kind, peers_key in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(spec.get(kind) or []):
            rule_path = f"spec.{kind}[{i}]"
            for j, port in enumerate(rule.get("ports") or []):
                errors += _port(port, f"{rule_path}.ports[{j}]")
            for j, peer in enumerate(rule.get(peers_key) or []):
                errors += _peer(peer, f"{rule_path}.{peers_key}[{j}]")
    policy_types = spec.get("policyTypes") or []
    for i, policy_type in enumerate(policy_types):
        if policy_type not in POLICY_TYPES:
            errors.append(
                FieldError(
                    "unsupported", f"spec.policyTypes[{i}]", policy_type, supported=POLICY_TYPES
                )
            )
    if len(policy_types) > 2:
        errors.append(
            FieldError(
                "invalid",
                "spec.policyTypes",
                policy_types,
                "may not specify more than two policyTypes",
            )
        )
    return errors


def _label_selector(selector: Any, path: str) -> list[FieldError]:
    if selector is None:
        return []
    errors = _labels(selector.get("matchLabels"), f"{path}.matchLabels")
    for i, expr in enumerate(selector.get("matchExpressions") or []):
        expr_path = f"{path}.matchExpressions[{i}]"
        operator, values = expr.get("operator"), expr.get("values") or []
        if operator in ("In", "NotIn"):
            if not values:
                errors.append(
                    FieldError(
                        "required",
                        f"{expr_path}.values",
                        detail="must be specified when `operator` is 'In' or 'NotIn'",
                    )
                )
        elif operator in ("Exists", "DoesNotExist"):
            if values:
                errors.append(
                    FieldError(
                        "forbidden",
                        f"{expr_path}.values",
                        detail="may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    )
                )
        else:
            errors.append(
                FieldError(
                    "invalid", f"{expr_path}.operator", operator, "not a valid selector operator"
                )
            )
        errors += _label_key(str(expr.get("key", "")), f"{expr_path}.key")
    return errors


def _port(port: dict[str, Any], path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    protocol = port.get("protocol")
    if protocol is not None and protocol not in PROTOCOLS:
        errors.append(
            FieldError(
                "unsupported", f"{path}.protocol", protocol, supported=["TCP", "UDP", "SCTP"]
            )
        )
    number, end_port = port.get("port"), port.get("endPort")
    if isinstance(number, bool) or not isinstance(number, int | str | None):
        raise TypeError(f"{path}.port must be an int or a string")
    if isinstance(number, int):
        if not 1 <= number <= 65535:
            errors.append(FieldError("invalid", f"{path}.port", number, PORT_RANGE_MSG))
        if end_port is not None:
            if end_port < number:
                errors.append(
                    FieldError(
                        "invalid",
                        f"{path}.endPort",
                        number,
                        "must be greater than or equal to `port`",
                    )
                )
            if not 1 <= end_port <= 65535:
                errors.append(FieldError("invalid", f"{path}.endPort", end_port, PORT_RANGE_MSG))
    elif isinstance(number, str):
        if end_port is not None:
            errors.append(
                FieldError(
                    "invalid",
                    f"{path}.endPort",
                    end_port,
                    "may not be specified when `port` is non-numeric",
                )
            )
        errors += [
            FieldError("invalid", f"{path}.port", number, msg) for msg in port_name_errors(number)
        ]
    elif end_port is not None:
        errors.append(
            FieldError(
                "invalid",
                f"{path}.endPort",
                end_port,
                "may not be specified when `port` is not specified",
            )
        )
    return errors


def port_name_errors(name: str) -> list[str]:
    """validation.IsValidPortName (IANA_SVC_NAME)."""
    errors = []
    if len(name) > 15:
        errors.append("must be no more than 15 characters")
    if not re.fullmatch(r"[-a-z0-9]+", name):
        errors.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search(r"[a-z]", name):
        errors.append("must contain at least one letter (a-z)")
    if "--" in name:
        errors.append("must not contain consecutive hyphens")
    if name.startswith("-") or name.endswith("-"):
        errors.append("hyphens cannot be the first or last character")
    return errors


def _peer(peer: dict[str, Any], path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    count = 0
    for key in ("podSelector", "namespaceSelector"):
        if peer.get(key) is not None:
            count += 1
            errors += _label_selector(peer[key], f"{path}.{key}")
    ip_block = peer.get("ipBlock")
    if ip_block is not None:
        count += 1
        errors += _ip_block(ip_block, f"{path}.ipBlock")
    if count == 0:
        errors.append(FieldError("required", path, detail="must specify a peer"))
    elif count > 1 and ip_block is not None:
        errors.append(
            FieldError("forbidden", path, detail="may not specify both ipBlock and another peer")
        )
    return errors


def _ip_block(block: dict[str, Any], path: str) -> list[FieldError]:
    cidr_text = block.get("cidr") or ""
    if not cidr_text:
        return [FieldError("required", f"{path}.cidr")]
    cidr = _parse_cidr(cidr_text)
    if cidr is None:
        return [FieldError("invalid", f"{path}.cidr", cidr_text, CIDR_MSG)]
    errors: list[FieldError] = []
    for i, except_text in enumerate(block.get("except") or []):
        except_path = f"{path}.except[{i}]"
        excluded = _parse_cidr(except_text)
        if excluded is None:
            errors.append(FieldError("invalid", except_path, except_text, CIDR_MSG))
            continue
        inside = excluded.version == cidr.version and excluded.network_address in cidr
        if not inside or cidr.prefixlen >= excluded.prefixlen:
            errors.append(
                FieldError("invalid", except_path, except_text, "must be a strict subset of `cidr`")
            )
    return errors


def _parse_cidr(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    # Host bits may be set ("10.0.0.1/24"): the apiserver accepts that for compatibility.
    if "/" not in text:
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def validate_ephemeral_update(old_pod: JsonDict, new_pod: JsonDict) -> None:
    """ValidatePodEphemeralContainersUpdate: add-only, unique names, image required."""
    old = {c["name"]: c for c in (old_pod.get("spec") or {}).get("ephemeralContainers") or []}
    spec = new_pod.get("spec") or {}
    new_list = spec.get("ephemeralContainers") or []
    errors: list[FieldError] = []
    taken = {c.get("name") for c in spec.get("containers") or []}
    taken |= {c.get("name") for c in spec.get("initContainers") or []}
    regular = {c.get("name") for c in spec.get("containers") or []} | {
        c.get("name") for c in spec.get("initContainers") or []
    }
    seen: set[str] = set()
    for i, container in enumerate(new_list):
        path = f"spec.ephemeralContainers[{i}]"
        name = container.get("name")
        if not name:
            errors.append(FieldError("required", f"{path}.name"))
        elif name in taken or name in seen:
            errors.append(FieldError("duplicate", f"{path}.name", name))
        elif not _DNS1123_LABEL_RE.match(name):
            errors.append(FieldError("invalid", f"{path}.name", name, LABEL_MSG))
        if name:
            seen.add(name)
        if not container.get("image"):
            errors.append(FieldError("required", f"{path}.image"))
        target = container.get("targetContainerName")
        if target and target not in regular:
            errors.append(FieldError("not_found", f"{path}.targetContainerName", target))
        if name in old and container != old[name]:
            errors.append(
                FieldError(
                    "forbidden",
                    path,
                    detail=f'existing ephemeral containers "{name}" may not be changed',
                )
            )
    for name in old:
        if name not in seen:
            errors.append(
                FieldError(
                    "forbidden",
                    "spec.ephemeralContainers",
                    detail=f'existing ephemeral containers "{name}" may not be removed',
                )
            )
    if errors:
        raise invalid("Pod", "", (new_pod.get("metadata") or {}).get("name", ""), errors)
