"""The dedupe key of a source message id: time-ordered where the id carries its time.

Exactly-once ingest looks every incoming message id up before sealing it, and keeps an
index of every archived id (``message_keys``). Real ids are random — WeCom's are
``<random 64-bit number>_<unix seconds>`` or a base64 protobuf (specs/wecom-archive.md
§2.1), WeChat's ``<owner>:<server id>`` — so an index on the id text takes every
insert to a random leaf page: each transaction of 5,000 messages dirties thousands of
pages, and the cost per message grows with the archive (see docs/performance.md).

The key is a 63-bit integer whose high bits are the message's time when the id carries
it, so keys of a time-ordered feed arrive in order and inserts touch the index's right
edge only:

* ``<digits>_<unix seconds>[_suffix]`` → seconds (§2.1: ``15775510700152506326_1603875615``,
  suffixes ``_external``, ``_updown_stream``);
* base64 ``CAQQ…`` → the protobuf's field 2 varint, which is the send time in seconds
  (``CAQQluDa4QUY…`` decodes to 1547087894, the example's ``msgtime`` 1547087894783);
* anything else → a hash of the id (random, but still a compact integer).

The low bits are a hash of the whole id; ids sharing a key are told apart by comparing
the stored id, so a collision costs a lookup, never a lost or merged message. The key
depends on the id alone (not the source), so a bare id can be looked up too.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from hashlib import blake2b

from . import native

_TIMED = re.compile(r"[0-9]{1,20}_([0-9]{9,10})(?:_[A-Za-z_]{1,32})?")
_MIN_TIME, _MAX_TIME = 946_684_800, 4_102_444_800  # 2000-01-01 .. 2100-01-01
_HASH_BITS = 30  # low bits of a timed key; (2^32 seconds << 30) stays below 2^63


def _hash(msgid: str) -> int:
    return int.from_bytes(blake2b(msgid.encode("utf-8", "surrogatepass"), digest_size=8).digest())


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(data) and shift < 64:
        b = data[pos]
        value |= (b & 0x7F) << shift
        pos += 1
        if not b & 0x80:
            return value, pos
        shift += 7
    raise ValueError("truncated varint")


_B64_VALUE = {c: i for i, c in enumerate(string.ascii_uppercase + string.ascii_lowercase
                                          + string.digits + "+/")}  # fmt: skip


def _base64(text: str) -> bytes | None:
    """``text`` decoded the way ``base64.b64decode(text + padding, validate=True)`` did on
    Python 3.11, where archives' keys were first computed, or None where it raised: spelt
    out, so that stored keys do not depend on a later Python's stricter decoder (CPython
    gh-118314 rejects excess padding from 3.13, gh-146311 non-zero pad bits later). The
    base64 alphabet, then only ``=`` (none leading); after the padding to a multiple of
    four, 2 and 3 characters past a whole quad need exactly 2 and 1 ``=``, a whole quad
    any number, 1 character past one is an error."""
    data = text.rstrip("=")
    if text[:1] == "=":  # leading padding
        return None
    pads = len(text) - len(data) + (-len(text) % 4)
    partial = len(data) % 4
    if partial == 1 or (partial == 2 and pads != 2) or (partial == 3 and pads != 1):
        return None
    out = bytearray()
    acc = bits = 0
    for c in data:
        v = _B64_VALUE.get(c)
        if v is None:
            return None
        acc, bits = (acc << 6) | v, bits + 6
        if bits >= 8:
            bits -= 8
            out.append(acc >> bits)
            acc &= (1 << bits) - 1
    return bytes(out)


def _protobuf_time(msgid: str) -> int | None:
    """Field 2 of a WeCom base64 id (``08 <varint> 10 <varint seconds> …``), if it is one."""
    if not msgid.startswith("CA") or len(msgid) > 64:
        return None
    data = _base64(msgid)
    if data is None or data[:1] != b"\x08":
        return None
    try:
        _, pos = _varint(data, 1)
        if data[pos : pos + 1] != b"\x10":
            return None
        seconds, _ = _varint(data, pos + 1)
    except ValueError:
        return None
    return seconds


def time_of(msgid: str) -> int | None:
    """The send time (unix seconds) an id carries, or None."""
    m = _TIMED.fullmatch(msgid)
    seconds = int(m.group(1)) if m else _protobuf_time(msgid)
    if seconds is None or not _MIN_TIME <= seconds < _MAX_TIME:
        return None
    return seconds


def dedupe_key_py(msgid: str) -> int:
    """A non-negative 63-bit key for ``msgid``: time-ordered where the id carries a time.

    The reference for the native ``_sealcore.dedupe_key`` (tests compare the two), which
    :data:`dedupe_key` is when built: ~0.3 against ~1.9 µs. ``verify`` checks the stored
    keys with this one, so it stays an independent check of what the writer computed."""
    h = _hash(msgid)
    seconds = time_of(msgid)
    if seconds is None:
        return h >> 1
    return (seconds << _HASH_BITS) | (h >> (64 - _HASH_BITS))


# The writer's and lookups' key function: native when built (see dedupe_key_py).
dedupe_key: Callable[[str], int] = native.core.dedupe_key if native.core else dedupe_key_py
