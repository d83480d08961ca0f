# Types of the optional native module (_sealcore.c); Python references in wxguard.seal
# (_seal_messages_py, _finish), wxguard.crypto (Fingerprinter.of_bytes), wxguard.msgkey
# (dedupe_key_py).
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
def fingerprint(key: bytes, domain: bytes, data: bytes, /) -> bytes: ...
def pack_commit(
    salt: bytes, canonical: bytes, raw: bytes, compress: Callable[[bytes], bytes], /
) -> tuple[bytes, bytes]: ...
def dedupe_key(msgid: str, /) -> int: ...
