"""The one module that touches Tencent's native ``libWeWorkFinanceSdk_C.so``.

A ctypes binding of all 17 exported functions (``shared/specs/wecom-archive.md`` §1.2,
types per §1.3). The library is proprietary and never shipped: the administrator names
its path in ``wecom.toml``. Everything above this module sees :class:`FinanceSdk`:
``get_chat_data`` / ``decrypt_data`` / ``get_media_data`` returning bytes or raising
:class:`SdkError` with the library's return code (§1.9).

Per §1.2 every call gets its own slice / media buffer, freed in ``finally``; one
``FinanceSdk`` (one native handle) per thread.
"""

from __future__ import annotations

import ctypes
from ctypes import POINTER, Structure, c_char, c_char_p, c_int, c_uint, c_ulonglong, c_void_p
from dataclasses import dataclass
from pathlib import Path

from .codes import sdk_problem


class Slice(Structure):
    _fields_ = [("buf", c_char_p), ("len", c_int)]


class MediaData(Structure):
    _fields_ = [
        ("outindexbuf", c_char_p),
        ("out_len", c_int),
        ("data", POINTER(c_char)),
        ("data_len", c_int),
        ("is_finish", c_int),
    ]


_SLICE = POINTER(Slice)
_MEDIA = POINTER(MediaData)

# name: (argtypes, restype) — §1.3. ``NewSdk`` must return c_void_p, never the default int.
SIGNATURES: dict[str, tuple[list[type], type | None]] = {
    "NewSdk": ([], c_void_p),
    "Init": ([c_void_p, c_char_p, c_char_p], c_int),
    "GetChatData": ([c_void_p, c_ulonglong, c_uint, c_char_p, c_char_p, c_int, _SLICE], c_int),
    "DecryptData": ([c_char_p, c_char_p, _SLICE], c_int),
    "GetMediaData": (
        [c_void_p, c_char_p, c_char_p, c_char_p, c_char_p, c_int, _MEDIA],
        c_int,
    ),
    "DestroySdk": ([c_void_p], None),
    "NewSlice": ([], _SLICE),
    "FreeSlice": ([_SLICE], None),
    "GetContentFromSlice": ([_SLICE], POINTER(c_char)),
    "GetSliceLen": ([_SLICE], c_int),
    "NewMediaData": ([], _MEDIA),
    "FreeMediaData": ([_MEDIA], None),
    "GetOutIndexBuf": ([_MEDIA], POINTER(c_char)),
    "GetData": ([_MEDIA], POINTER(c_char)),
    "GetIndexLen": ([_MEDIA], c_int),
    "GetDataLen": ([_MEDIA], c_int),
    "IsMediaDataFinish": ([_MEDIA], c_int),
}


class SdkError(Exception):
    """A non-zero return code from the native library."""

    def __init__(self, op: str, code: int) -> None:
        self.op = op
        self.code = code
        problem = sdk_problem(code)
        self.transient = problem.transient
        super().__init__(f"{op}: SDK error {code}: {problem.text}")


class LibraryError(Exception):
    """The configured library cannot be loaded or is not the Finance SDK."""


@dataclass(frozen=True)
class MediaSlice:
    data: bytes
    next_index: str
    finished: bool


def load_library(path: Path) -> ctypes.CDLL:
    if not path.is_file():
        raise LibraryError(
            f"{path}: the WeCom Finance SDK library is not there; download "
            "libWeWorkFinanceSdk_C.so from Tencent (developer.work.weixin.qq.com, doc 91774) "
            "and set `library` in wecom.toml to its path"
        )
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as e:
        raise LibraryError(f"{path}: cannot load the library: {e}") from None
    missing = [name for name in SIGNATURES if not hasattr(lib, name)]
    if missing:
        raise LibraryError(
            f"{path}: not the WeCom Finance SDK C library (missing {', '.join(missing)}); "
            "use libWeWorkFinanceSdk_C.so, not the Java flavour"
        )
    for name, (args, res) in SIGNATURES.items():
        fn = getattr(lib, name)
        fn.argtypes = args
        fn.restype = res
    return lib


class FinanceSdk:
    """One initialised native handle (``NewSdk`` + ``Init``); close with :meth:`close`."""

    def __init__(
        self,
        lib: ctypes.CDLL,
        corp_id: str,
        secret: str,
        *,
        proxy: str = "",
        proxy_password: str = "",
        timeout: int = 5,
    ) -> None:
        self.lib = lib
        self._proxy = proxy.encode()
        self._passwd = proxy_password.encode()
        self.timeout = timeout
        handle = lib.NewSdk()
        if not handle:
            raise SdkError("NewSdk", 10003)
        rc = lib.Init(handle, corp_id.encode(), secret.encode())
        if rc != 0:
            lib.DestroySdk(handle)
            raise SdkError("Init", rc)
        self._h: int | None = handle

    def close(self) -> None:
        if self._h is not None:
            self.lib.DestroySdk(self._h)
            self._h = None

    def __enter__(self) -> FinanceSdk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _slice_bytes(self, s: ctypes._Pointer[Slice]) -> bytes:
        ptr = self.lib.GetContentFromSlice(s)
        n = self.lib.GetSliceLen(s)
        return ctypes.string_at(ptr, n) if ptr and n > 0 else b""

    def get_chat_data(self, seq: int, limit: int) -> bytes:
        """The JSON envelope of records after ``seq`` (§1.5); raises on a non-zero rc."""
        s = self.lib.NewSlice()
        try:
            rc = self.lib.GetChatData(
                self._h, seq, limit, self._proxy, self._passwd, self.timeout, s
            )
            if rc != 0:
                raise SdkError("GetChatData", rc)
            return self._slice_bytes(s)
        finally:
            self.lib.FreeSlice(s)

    def decrypt_data(self, random_key: bytes, encrypt_chat_msg: bytes) -> bytes:
        """The plaintext JSON of one record (§1.6 step 3)."""
        s = self.lib.NewSlice()
        try:
            rc = self.lib.DecryptData(random_key, encrypt_chat_msg, s)
            if rc != 0:
                raise SdkError("DecryptData", rc)
            return self._slice_bytes(s)
        finally:
            self.lib.FreeSlice(s)

    def get_media_data(self, sdkfileid: str, index: str) -> MediaSlice:
        """One slice (≤ 512 KiB) of a media file; ``index`` "" for the first (§1.8)."""
        m = self.lib.NewMediaData()
        try:
            rc = self.lib.GetMediaData(
                self._h, index.encode(), sdkfileid.encode(), self._proxy, self._passwd,
                self.timeout, m,
            )  # fmt: skip
            if rc != 0:
                raise SdkError("GetMediaData", rc)
            n = self.lib.GetDataLen(m)
            ptr = self.lib.GetData(m)
            data = ctypes.string_at(ptr, n) if ptr and n > 0 else b""
            ilen = self.lib.GetIndexLen(m)
            iptr = self.lib.GetOutIndexBuf(m)
            nxt = ctypes.string_at(iptr, ilen).decode("ascii", "replace") if iptr and ilen else ""
            return MediaSlice(data, nxt, self.lib.IsMediaDataFinish(m) == 1)
        finally:
            self.lib.FreeMediaData(m)
