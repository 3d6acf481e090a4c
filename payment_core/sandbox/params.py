"""Stripe's form encoding (`metadata[k]=v`, `expand[0]=x`, `expand[]=x`) parsed into nested values, and typed reads of them.

Stripe rejects unknown parameters and malformed scalars with `invalid_request_error`; so does the sandbox,
which keeps integrations from relying on parameters real Stripe would refuse.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from . import errors

Params = dict[str, Any]

_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


def parse_form(body: str) -> Params:
    """Parse an `application/x-www-form-urlencoded` body (or query string) into nested dicts and lists."""
    root: Params = {}
    for raw_key, value in parse_qsl(body, keep_blank_values=True):
        head, _, rest = raw_key.partition("[")
        segments = [head] + (_SEGMENT.findall("[" + rest) if rest else [])
        node: Any = root
        for index, segment in enumerate(segments):
            last = index == len(segments) - 1
            if segment == "":  # `name[]`: append
                segment = str(len(node))
            if last:
                node[segment] = value
            else:
                child = node.get(segment)
                if not isinstance(child, dict):
                    child = node[segment] = {}
                node = child
    return _lists_from_indexes(root)


def _lists_from_indexes(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    converted = {key: _lists_from_indexes(child) for key, child in value.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


def check_allowed(params: Params, allowed: Iterable[str]) -> None:
    known = set(allowed) | {"expand"}
    for name in params:
        if name not in known:
            raise errors.unknown_param(name)


def get_str(params: Params, name: str, *, required: bool = False, max_length: int = 5000) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise errors.missing_param(name)
        return None
    if not isinstance(value, str):
        raise errors.invalid_param(name, "Invalid string: {...}", code="parameter_invalid_string")
    if len(value) > max_length:
        raise errors.invalid_param(name, f"Invalid string: {value[:20]}...; must be at most {max_length} characters")
    return value


def get_int(params: Params, name: str, *, required: bool = False, minimum: int | None = None) -> int | None:
    raw = get_str(params, name, required=required)
    if raw is None:
        return None
    if not re.fullmatch(r"-?\d+", raw):
        raise errors.invalid_param(name, f"Invalid integer: {raw}", code="parameter_invalid_integer")
    value = int(raw)
    if minimum is not None and value < minimum:
        raise errors.invalid_param(name, f"This value must be greater than or equal to {minimum}.")
    return value


def get_bool(params: Params, name: str) -> bool | None:
    raw = get_str(params, name)
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise errors.invalid_param(name, f"Invalid boolean: {raw}")
    return raw == "true"


def get_enum(params: Params, name: str, choices: Iterable[str], *, required: bool = False) -> str | None:
    raw = get_str(params, name, required=required)
    options = list(choices)
    if raw is not None and raw not in options:
        raise errors.invalid_param(name, f"Invalid {name}: must be one of {', '.join(options)}")
    return raw


def get_dict(params: Params, name: str, allowed: Iterable[str]) -> Params | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, dict):
        raise errors.invalid_param(name, f"Invalid object: {name} must be a hash")
    for key in value:
        if key not in set(allowed):
            raise errors.unknown_param(f"{name}[{key}]")
    return value


def get_expand(params: Params) -> list[str]:
    value = params.get("expand") or []
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    return [str(item) for item in value]


def updated_metadata(params: Params, current: dict[str, str]) -> dict[str, str]:
    """Apply Stripe's metadata update rules: keys merge, an empty value unsets a key, `metadata=""` unsets all."""
    raw = params.get("metadata")
    if raw is None:
        return dict(current)
    if raw == "":
        return {}
    if isinstance(raw, list):  # `metadata[0]=x` parses as a list; Stripe treats it as key "0"
        raw = {str(index): item for index, item in enumerate(raw)}
    if not isinstance(raw, dict):
        raise errors.invalid_param("metadata", "Invalid object: metadata must be a hash")
    merged = dict(current)
    for key, value in raw.items():
        if not isinstance(value, str):
            raise errors.invalid_param(f"metadata[{key}]", "Metadata values must be strings.")
        if len(key) > 40:
            raise errors.invalid_param(f"metadata[{key}]", "Metadata keys can have up to 40 characters.")
        if len(value) > 500:
            raise errors.invalid_param(f"metadata[{key}]", "Metadata values can have up to 500 characters.")
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    if len(merged) > 50:
        raise errors.invalid_param("metadata", "Metadata can have up to 50 keys.")
    return merged
