"""A JSON Schema compiled to one fast yes/no check, for the common case: a valid file.

`jsonschema` walks a 10k-pod recording in about 2 s and is worth it only when something
is wrong, for the message it writes. `compile_check(schema)` turns the keywords the
recording schema uses into plain Python closures (a 10k-pod recording checks in tens of
milliseconds) that answer one question: is this instance certainly valid?

The answer is conservative. True means jsonschema would report nothing; False means "ask
jsonschema", which also names the field. So a check may say False for a valid instance
(a `str` subclass where the schema says string, the float 1.0 where it says integer), never
True for an invalid one. A keyword this module does not know makes every instance that
reaches it False, so a schema edit can cost speed, never correctness.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any], bool]

# Keywords that never reject an instance (annotations) or that only matter through a $ref.
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "$defs", "title", "description", "examples", "default"}
)

# `type` is strict (`type(x) is ...`): a subclass is left to jsonschema. bool is no number.
_TYPES: dict[str, Check] = {
    "object": lambda x: type(x) is dict,
    "array": lambda x: type(x) is list,
    "string": lambda x: type(x) is str,
    "integer": lambda x: type(x) is int,
    "number": lambda x: type(x) is int or type(x) is float,
    "boolean": lambda x: type(x) is bool,
    "null": lambda x: x is None,
}


_STR = {str}


def _never(instance: Any) -> bool:
    return False


def _always(instance: Any) -> bool:
    return True


class _Compiler:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, Check] = {}

    def ref(self, target: str) -> Check:
        if target in self.refs:
            return self.refs[target]
        if not target.startswith("#/$defs/") or "/" in target[len("#/$defs/") :]:
            return _never
        subschema = self.root.get("$defs", {}).get(target[len("#/$defs/") :])
        if subschema is None:
            return _never
        compiled: list[Check] = []
        # Recursive definitions resolve through the list, filled once compiled.
        self.refs[target] = lambda x: compiled[0](x)
        compiled.append(self.compile(subschema))
        self.refs[target] = compiled[0]
        return compiled[0]

    def compile(self, schema: Any) -> Check:
        if schema is True:
            return _always
        if not isinstance(schema, Mapping):
            return _never
        checks: list[Check] = []
        for keyword, value in schema.items():
            if keyword in _ANNOTATIONS:
                continue
            check = self.keyword(keyword, value, schema)
            if check is None:
                return _never
            if check is not _always:
                checks.append(check)
        return _all(checks)

    def keyword(self, keyword: str, value: Any, schema: Mapping[str, Any]) -> Check | None:
        """One keyword's check; None for a keyword this module does not know."""
        if keyword == "type":
            names = [value] if isinstance(value, str) else list(value)
            if not all(name in _TYPES for name in names):
                return None
            tests = [_TYPES[name] for name in names]
            return tests[0] if len(tests) == 1 else lambda x: any(t(x) for t in tests)
        if keyword == "const":
            return _one_of([value])
        if keyword == "enum":
            return _one_of(list(value))
        if keyword == "$ref":
            return self.ref(value)
        if keyword == "required":
            required_names = tuple(value)

            def required(x: Any) -> bool:
                if isinstance(x, dict):
                    for name in required_names:
                        if name not in x:
                            return False
                return True

            return required
        if keyword == "properties":
            properties = tuple((name, self.compile(sub)) for name, sub in value.items())

            def check_properties(x: Any) -> bool:
                if isinstance(x, dict):
                    for name, check in properties:
                        if name in x and not check(x[name]):
                            return False
                return True

            return check_properties
        if keyword == "additionalProperties":
            if "patternProperties" in schema:
                return None
            known = frozenset(schema.get("properties", {}))
            if value is False:
                return lambda x: not isinstance(x, dict) or known.issuperset(x)
            if value == {"type": "string"} and not known:  # a label map, checked in C
                return lambda x: not isinstance(x, dict) or set(map(type, x.values())) <= _STR
            extra = self.compile(value)

            def additional(x: Any) -> bool:
                if isinstance(x, dict):
                    for k, v in x.items():
                        if k not in known and not extra(v):
                            return False
                return True

            return additional
        if keyword == "propertyNames":
            names_check = self.compile(value)

            def property_names(x: Any) -> bool:
                if isinstance(x, dict):
                    for k in x:
                        if not names_check(k):
                            return False
                return True

            return property_names
        if keyword == "items":
            if "prefixItems" in schema:
                return None
            item = self.compile(value)

            def items(x: Any) -> bool:
                if isinstance(x, list):
                    for v in x:
                        if not item(v):
                            return False
                return True

            return items
        if keyword == "anyOf":
            options = [self.compile(sub) for sub in value]
            return lambda x: any(option(x) for option in options)
        if keyword == "pattern":
            search = re.compile(value).search  # jsonschema uses re.search too
            return lambda x: not isinstance(x, str) or search(x) is not None
        if keyword == "minLength":
            return lambda x: not isinstance(x, str) or len(x) >= value
        if keyword == "minimum":
            return lambda x: not _is_number(x) or x >= value
        if keyword == "maximum":
            return lambda x: not _is_number(x) or x <= value
        return None


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _one_of(values: list[Any]) -> Check:
    """`const`/`enum`: only plain strings are compared here (jsonschema's equality tells
    1 from True and 1.0 from 1, which `==` does not); anything else is left to it."""
    if not all(type(v) is str for v in values):
        return _never
    allowed = frozenset(values)
    return lambda x: type(x) is str and x in allowed


def _all(checks: list[Check]) -> Check:
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda x: first(x) and second(x)
    funcs = tuple(checks)

    def every(x: Any) -> bool:
        for check in funcs:  # noqa: SIM110 - a loop: all() over a generator is ~2x slower
            if not check(x):
                return False
        return True

    return every


def compile_check(schema: Mapping[str, Any], ref: str | None = None) -> Check:
    """A check of the whole schema, or of one of its definitions (`ref="#/$defs/pod"`)."""
    compiler = _Compiler(schema)
    return compiler.ref(ref) if ref is not None else compiler.compile(schema)


__all__ = ["Check", "compile_check"]
