"""WeChat voice: SILK v3 (with Tencent's leading 0x02 byte) → 16-bit mono WAV.

Layout (``shared/specs/wechat-client-data.md`` §5.1): optional ``0x02``, ASCII
``#!SILK_V3``, then frames of LE16 length + payload, ~20 ms each, optionally ended by
``FF FF``. The framing is walked here first — a truncated or garbled stream is refused
before the native decoder (``silk-python``) ever sees it.
"""

from __future__ import annotations

import io
import struct
import wave

SAMPLE_RATE = 24000
MAX_FRAME = 2048
MAX_VOICE = 16 << 20


class VoiceError(ValueError):
    pass


def is_silk(data: bytes) -> bool:
    return data[:10] == b"\x02#!SILK_V3" or data[:9] == b"#!SILK_V3"


def frames(data: bytes) -> int:
    """Frames in a SILK stream; raises :class:`VoiceError` on bad framing."""
    if len(data) > MAX_VOICE:
        raise VoiceError(f"voice of {len(data)} bytes exceeds {MAX_VOICE >> 20} MiB")
    pos = 10 if data[:1] == b"\x02" else 9
    if not is_silk(data):
        raise VoiceError("not a SILK v3 stream")
    n = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise VoiceError(f"truncated SILK frame header at byte {pos}")
        (size,) = struct.unpack_from("<h", data, pos)
        if size == -1:  # FF FF terminator
            break
        if size <= 0 or size > MAX_FRAME or pos + 2 + size > len(data):
            raise VoiceError(f"bad SILK frame of {size} bytes at byte {pos}")
        pos += 2 + size
        n += 1
    if n == 0:
        raise VoiceError("SILK stream has no frames")
    return n


def to_wav(data: bytes, sample_rate: int = SAMPLE_RATE) -> bytes:
    """Decode a (Tencent) SILK v3 voice to a WAV file's bytes."""
    frames(data)
    import pysilk  # silk-python: a native decoder, imported only when a voice is decoded

    stream = data[1:] if data[:1] == b"\x02" else data
    pcm = io.BytesIO()
    try:
        pysilk.decode(io.BytesIO(b"\x02" + stream), pcm, sample_rate)
    except Exception as e:  # the native decoder reports its own error types
        raise VoiceError(f"SILK decoder failed: {e}") from None
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.getvalue())
    return out.getvalue()


def encode_for_fixture(pcm: bytes, sample_rate: int = SAMPLE_RATE) -> bytes:
    """Tencent-style SILK from 16-bit mono PCM (tests and the benchmark make voices)."""
    import pysilk

    out = io.BytesIO()
    pysilk.encode(io.BytesIO(pcm), out, sample_rate, sample_rate, tencent=True)
    return out.getvalue()
