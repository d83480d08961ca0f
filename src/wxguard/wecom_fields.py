"""Typed access to untrusted decrypted-WeCom JSON.

Each getter accepts the lenient shapes producers send (numbers as strings, missing keys)
and otherwise raises :class:`NormaliseError` naming the field path and the type found —
never the value, which may be personal data.
"""

from __future__ import annotations

from typing import Any

JsonObj = dict[str, Any]


class NormaliseError(ValueError):
    """A record that cannot be mapped. The text names fields, never their values."""


def get_str(d: JsonObj, key: str, path: str) -> str:
    v = d.get(key)
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, int | float) and not isinstance(v, bool):
        return str(v)
    raise NormaliseError(f"{path}.{key} must be a string, got {type(v).__name__}")


def get_int(d: JsonObj, key: str, path: str) -> int:
    v = d.get(key)
    if v is None or v == "":
        return 0
    if isinstance(v, bool):
        raise NormaliseError(f"{path}.{key} must be a number, got bool")
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v)
    if isinstance(v, str) and v.strip().lstrip("-").isdigit():
        return int(v)
    raise NormaliseError(f"{path}.{key} must be a number, got {type(v).__name__}")


def get_nonneg(d: JsonObj, key: str, path: str) -> int:
    v = get_int(d, key, path)
    if v < 0:
        raise NormaliseError(f"{path}.{key} must not be negative")
    return v


def get_float(d: JsonObj, key: str, path: str) -> float:
    v = d.get(key)
    if v is None or v == "":
        return 0.0
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            pass
    raise NormaliseError(f"{path}.{key} must be a number, got {type(v).__name__}")


def get_obj(d: JsonObj, key: str, path: str) -> JsonObj:
    v = d.get(key)
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise NormaliseError(f"{path}.{key} must be an object, got {type(v).__name__}")
    return v


def get_list(d: JsonObj, key: str, path: str) -> list[Any]:
    v = d.get(key)
    if v is None:
        return []
    if not isinstance(v, list):
        raise NormaliseError(f"{path}.{key} must be a list, got {type(v).__name__}")
    return v
