"""Safe YAML for policy files: plain data only, every value's line remembered.

PyYAML's composer gives a node tree with positions; we build plain Python values
from it ourselves, so no tag can construct an object, anchors and aliases (the
"billion laughs" expansion) are refused, and each value's path (``$.when.all[0]``,
the form msgspec uses in its validation errors) maps to the line it came from.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_BYTES = 256 << 10
MAX_NODES = 20_000


class YamlProblem(Exception):
    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


Lines = dict[str, int]


def load(text: str) -> tuple[Any, Lines]:
    """Parse one YAML document into plain values and a path → line (1-based) map."""
    if len(text.encode("utf-8")) > MAX_BYTES:
        raise YamlProblem(f"file is larger than {MAX_BYTES >> 10} KiB")
    _refuse_anchors(text)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        raise YamlProblem(f"not valid YAML: {e.problem or e.context}", line) from None
    except yaml.YAMLError as e:
        raise YamlProblem(f"not valid YAML: {e}") from None
    if node is None:
        raise YamlProblem("file is empty", 1)
    lines: Lines = {}
    count = [0]
    value = _build(node, "$", lines, count)
    return value, lines


def _refuse_anchors(text: str) -> None:
    for token in yaml.scan(text, Loader=yaml.SafeLoader):
        if isinstance(token, yaml.AnchorToken | yaml.AliasToken):
            raise YamlProblem(
                "anchors and aliases (& and *) are not allowed in policy files",
                token.start_mark.line + 1,
            )


_C = yaml.constructor.SafeConstructor()
_SCALARS = {
    "tag:yaml.org,2002:str": _C.construct_scalar,
    "tag:yaml.org,2002:int": _C.construct_yaml_int,
    "tag:yaml.org,2002:float": _C.construct_yaml_float,
    "tag:yaml.org,2002:bool": _C.construct_yaml_bool,
    "tag:yaml.org,2002:null": _C.construct_yaml_null,
}


def _build(node: yaml.Node, path: str, lines: Lines, count: list[int]) -> Any:
    count[0] += 1
    if count[0] > MAX_NODES:
        raise YamlProblem(f"more than {MAX_NODES} values; a policy file is never that large")
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.ScalarNode):
        make = _SCALARS.get(node.tag)
        if make is None:
            raise YamlProblem(f"unsupported YAML tag {node.tag}", node.start_mark.line + 1)
        return make(node)
    if isinstance(node, yaml.SequenceNode):
        return [_build(n, f"{path}[{i}]", lines, count) for i, n in enumerate(node.value)]
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):
                raise YamlProblem("mapping keys must be plain words", k.start_mark.line + 1)
            key = str(k.value)
            if key in out:
                raise YamlProblem(f"key {key!r} appears twice", k.start_mark.line + 1)
            out[key] = _build(v, f"{path}.{key}", lines, count)
            lines[f"{path}.{key}"] = k.start_mark.line + 1
        return out
    raise YamlProblem("unsupported YAML node", node.start_mark.line + 1)
