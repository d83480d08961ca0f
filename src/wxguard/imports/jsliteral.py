"""A reader of one JSON-like value in a page's script: JSON, or a JS object literal
(unquoted keys, single quotes, trailing commas), as WeChatMsg's HTML export embeds its
messages. Nothing is evaluated; anything else (a call, an expression) is an error."""

from __future__ import annotations

import re
from typing import Any

import orjson

_JS_TOKEN = re.compile(
    r"""\s*(?:(?P<p>[\[\]{}:,])|(?P<s>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|"""
    r"""(?P<n>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(?P<w>[A-Za-z_$][\w$]*))""",
    re.S,
)
MAX_JS_DEPTH = 64


def parse_js(text: str, pos: int) -> tuple[Any, int]:
    """Parse one JSON-like value (JSON, or a JS literal: unquoted keys, single quotes,
    trailing commas) starting at ``pos``; returns (value, end). No code is evaluated."""
    return _js_value(text, pos, 0)


def _js_tok(text: str, pos: int) -> tuple[str, str, int]:
    m = _JS_TOKEN.match(text, pos)
    if not m or m.lastgroup is None:
        raise ValueError(f"unexpected input at offset {pos}")
    return m.lastgroup, m.group(m.lastgroup), m.end()


def _js_string(tok: str) -> str:
    body = tok[1:-1]
    if tok[0] == "'":
        body = body.replace("\\'", "'").replace('"', '\\"')
    return str(orjson.loads(f'"{body}"'))


def _js_value(text: str, pos: int, depth: int) -> tuple[Any, int]:
    if depth > MAX_JS_DEPTH:
        raise ValueError("nested too deeply")
    kind, tok, pos = _js_tok(text, pos)
    if kind == "s":
        return _js_string(tok), pos
    if kind == "n":
        return (float(tok) if any(c in tok for c in ".eE") else int(tok)), pos
    if kind == "w":
        return {"true": True, "false": False, "null": None, "undefined": None}.get(tok, tok), pos
    if tok == "[":
        arr: list[Any] = []
        while True:
            k, t, p = _js_tok(text, pos)
            if t == "]":
                return arr, p
            v, pos = _js_value(text, pos, depth + 1)
            arr.append(v)
            k, t, pos = _js_tok(text, pos)
            if t == "]":
                return arr, pos
            if t != ",":
                raise ValueError(f"expected ',' or ']' at offset {pos}")
    if tok == "{":
        obj: dict[str, Any] = {}
        while True:
            k, t, p = _js_tok(text, pos)
            if t == "}":
                return obj, p
            key = _js_string(t) if k == "s" else t
            if k not in ("s", "w", "n"):
                raise ValueError(f"bad object key at offset {pos}")
            k, t, pos = _js_tok(text, p)
            if t != ":":
                raise ValueError(f"expected ':' at offset {pos}")
            obj[key], pos = _js_value(text, pos, depth + 1)
            k, t, pos = _js_tok(text, pos)
            if t == "}":
                return obj, pos
            if t != ",":
                raise ValueError(f"expected ',' or '}}' at offset {pos}")
    raise ValueError(f"unexpected {tok!r} at offset {pos}")
