"""RSA-unwrapping the random keys of WeCom session-archive records (specs/wecom-archive.md
§1.6: ``encrypt_random_key`` is RSA PKCS#1 v1.5 under the public key of the record's
``publickey_ver``), in worker processes when a page holds enough records to be worth them.
"""

from __future__ import annotations

import base64
import binascii
from concurrent.futures import ProcessPoolExecutor

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

RSA_PARALLEL_MIN = 64  # records in a page before worker processes are worth it

_worker_keys: dict[int, RSAPrivateKey] = {}


def _init_worker(pems: dict[int, bytes]) -> None:
    _worker_keys.clear()
    for ver, pem in pems.items():
        key = serialization.load_pem_private_key(pem, password=None)
        assert isinstance(key, RSAPrivateKey)
        _worker_keys[ver] = key


def _unwrap_one(keys: dict[int, RSAPrivateKey], ver: int, b64: str) -> bytes | str:
    """The random key, or a reason it could not be had."""
    try:
        wrapped = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        return "encrypt_random_key is not valid base64"
    try:
        return keys[ver].decrypt(wrapped, padding.PKCS1v15())
    except ValueError:
        return (
            f"RSA unwrap failed with the private key for publickey_ver {ver} "
            "(a wrong key for this version, or a garbled record)"
        )


def _unwrap_chunk(items: list[tuple[int, str]]) -> list[bytes | str]:
    return [_unwrap_one(_worker_keys, v, k) for v, k in items]


class Unwrapper:
    """RSA-unwraps random keys, spread over worker processes on a multi-core machine."""

    def __init__(self, keys: dict[int, RSAPrivateKey], workers: int) -> None:
        self.keys = keys
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._cache: dict[tuple[int, str], bytes] = {}

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            pems = {
                v: k.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
                for v, k in self.keys.items()
            }  # fmt: skip
            self._pool = ProcessPoolExecutor(
                self.workers, initializer=_init_worker, initargs=(pems,)
            )
        return self._pool

    def unwrap(self, items: list[tuple[int, str]]) -> list[bytes | str]:
        todo = [(i, it) for i, it in enumerate(items) if it not in self._cache]
        out: list[bytes | str] = [self._cache.get(it, b"") for it in items]
        if self.workers > 1 and len(todo) >= RSA_PARALLEL_MIN:
            pool = self._ensure_pool()
            n = -(-len(todo) // self.workers)
            chunks = [todo[i : i + n] for i in range(0, len(todo), n)]
            futures = [pool.submit(_unwrap_chunk, [it for _, it in c]) for c in chunks]
            results = [r for f in futures for r in f.result()]
        else:
            results = [_unwrap_one(self.keys, v, k) for _, (v, k) in todo]
        for (i, it), r in zip(todo, results, strict=True):
            out[i] = r
            if isinstance(r, bytes):
                if len(self._cache) > 8192:  # re-deliveries repeat a key; bound the memory
                    self._cache.clear()
                self._cache[it] = r
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
