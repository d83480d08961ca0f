"""A minimal protobuf wire-format reader (no schema): the client's small BLOBs.

Used for PC 3.x ``BytesExtra`` (§1.9), ``RoomData`` / 4.x ``chat_room.ext_buffer``
(§1.7) and 4.x ``packed_info_data`` (§2.3.1). Malformed input raises ``ValueError``.
"""

from __future__ import annotations

Field = tuple[int, int, int | bytes]  # field number, wire type, value


def varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def fields(buf: bytes) -> list[Field]:
    out: list[Field] = []
    pos = 0
    while pos < len(buf):
        key, pos = varint(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, pos = varint(buf, pos)
            out.append((num, wt, v))
        elif wt == 2:
            n, pos = varint(buf, pos)
            if pos + n > len(buf):
                raise ValueError("truncated length-delimited field")
            out.append((num, wt, buf[pos : pos + n]))
            pos += n
        elif wt == 1:
            out.append((num, wt, buf[pos : pos + 8]))
            pos += 8
        elif wt == 5:
            out.append((num, wt, buf[pos : pos + 4]))
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wt}")
    return out


def first(fs: list[Field], num: int) -> int | bytes | None:
    for n, _, v in fs:
        if n == num:
            return v
    return None


def text(v: int | bytes | None) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else ""


def room_members(blob: bytes | None) -> list[str]:
    """Usernames in a RoomData blob (PC 3.x ``ChatRoom.RoomData``, 4.x
    ``chat_room.ext_buffer``): repeated field 1, each ``{1: username, …}``; [] when bad."""
    if not blob:
        return []
    try:
        return [
            text(first(fields(v), 1)) for n, _, v in fields(blob) if n == 1 and isinstance(v, bytes)
        ]
    except ValueError:
        return []


# ----------------------------------------------------------------------------- writers
# (the fixture generator writes what the readers read)


def _varint_bytes(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def put(num: int, value: int | bytes | str) -> bytes:
    if isinstance(value, int):
        return _varint_bytes(num << 3) + _varint_bytes(value)
    data = value.encode("utf-8") if isinstance(value, str) else value
    return _varint_bytes(num << 3 | 2) + _varint_bytes(len(data)) + data


def bytes_extra(items: list[tuple[int, str]]) -> bytes:
    """PC 3.x BytesExtra: header {1: 16, 2: 0} + items {1: type, 2: value}."""
    head = put(1, put(1, 16) + put(2, 0))
    return head + b"".join(put(3, put(1, t) + put(2, v)) for t, v in items)


def room_data(members: list[tuple[str, str]]) -> bytes:
    """RoomData: repeated field 1 {1: username, 2: display name}, field 5 capacity."""
    body = b"".join(put(1, put(1, u) + (put(2, d) if d else b"")) for u, d in members)
    return body + put(5, 500)
