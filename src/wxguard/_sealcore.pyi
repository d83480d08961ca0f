# Types of the optional native seal loop (_sealcore.c); see wxguard.seal._seal_messages_py.
from collections.abc import Callable
from typing import Any

def seal_messages(
    todo: list[Any],
    bucket_key: Callable[[int], tuple[int, bytes]],
    nonces: bytes,
    seq0: int,
    head: bytes,
    frontier: list[tuple[int, bytes]],
    now: int,
    /,
) -> tuple[
    list[tuple[Any, ...]],
    list[tuple[int, str, str, bytearray, bytearray]],
    list[tuple[int, int]],
    bytes,
    list[tuple[int, bytes]],
]: ...
