"""Test doubles for the WeCom connector (``shared/specs/wecom-archive.md`` §6).

* :func:`build_library` compiles ``wecomdouble/fake_finance_sdk.c`` with gcc into a
  shared library exporting the Finance SDK's C ABI;
* :class:`Fixture` writes the stream it serves: records built from the demo generator,
  each ``encrypt_random_key`` wrapped with a real RSA-2048 key of its ``publickey_ver``
  (PKCS#1 v1.5), the message enciphered with the double's own ChaCha20 framing, media
  bytes per sdkfileid (md5sum and sizes rewritten to match), fault injection;
* :class:`FakeApi` is a real HTTP server on loopback answering the §3 APIs.

The connector is pointed at these by its ordinary configuration (``library``,
``network.api_base``); it has no notion of a double.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

from conftest import send_json

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "wecomdouble" / "fake_finance_sdk.c"
CORP_ID = "ww5f3a9c0de1b2c3d4"
SECRET = "archive-secret-for-tests-0123456789abcdef"
CONTACTS_SECRET = "contacts-secret-for-tests-0123456789"
SLICE = 524288
_KEY_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def build_library(out_dir: Path) -> Path:
    """Compile the double (once per directory)."""
    lib = out_dir / "libWeWorkFinanceSdk_C.so"
    if not lib.exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["gcc", "-O2", "-Wall", "-Werror", "-shared", "-fPIC", "-o", str(lib), str(SOURCE)],
            check=True,
        )
    return lib


def fnv1a(s: str) -> str:
    h = 1469598103934665603
    for b in s.encode():
        h ^= b
        h = (h * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def new_rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey, pkcs1: bool = False) -> bytes:
    fmt = serialization.PrivateFormat.TraditionalOpenSSL if pkcs1 else (
        serialization.PrivateFormat.PKCS8)  # fmt: skip
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


def encipher(key: bytes, plaintext: bytes, rng: random.Random) -> str:
    """The double's DecryptData input: base64(nonce16 ‖ ChaCha20(key, nonce16, WXFK ‖ pt))."""
    nonce = bytes(4) + rng.randbytes(12)
    enc = Cipher(algorithms.ChaCha20(key, nonce), mode=None).encryptor()
    return base64.b64encode(nonce + enc.update(b"WXFK" + plaintext)).decode()


@dataclass
class Fixture:
    """The fixture directory the double serves (``WXG_FAKE_WECOM``)."""

    dir: Path
    keys: dict[int, rsa.RSAPrivateKey] = field(default_factory=dict)
    seed: int = 5
    lines: list[str] = field(default_factory=list)
    media: dict[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        (self.dir / "media").mkdir(parents=True, exist_ok=True)
        (self.dir / "corp").write_text(f"{CORP_ID}\n{SECRET}\n")
        self.rng = random.Random(self.seed)
        self.next_seq = 1

    def key(self, ver: int) -> rsa.RSAPrivateKey:
        if ver not in self.keys:
            self.keys[ver] = new_rsa()
        return self.keys[ver]

    # -------------------------------------------------------------- media

    def _media_bytes(self, obj: dict[str, Any], big: bool) -> None:
        fid = obj["sdkfileid"]
        size = self.rng.randint(SLICE + 1000, 2 * SLICE + 5000) if big else self.rng.randint(
            200, 4000)  # fmt: skip
        data = self.media.get(fid) or self.rng.randbytes(size)
        self.media[fid] = data
        (self.dir / "media" / fnv1a(fid)).write_bytes(data)
        if obj.get("md5sum") != "":  # an empty md5sum stays empty (§2.5)
            obj["md5sum"] = hashlib.md5(data).hexdigest()
        for k in ("filesize", "voice_size", "imagesize"):
            if k in obj:
                obj[k] = len(data)

    def _fix_media(self, obj: Any, big: bool) -> None:
        if isinstance(obj, dict):
            if isinstance(obj.get("sdkfileid"), str) and obj["sdkfileid"]:
                self._media_bytes(obj, big)
            for k, v in obj.items():
                if k == "content" and isinstance(v, str) and v.startswith("{"):
                    inner = json.loads(v)
                    self._fix_media(inner, big)
                    obj[k] = json.dumps(inner, ensure_ascii=False)
                else:
                    self._fix_media(v, big)
        elif isinstance(obj, list):
            for v in obj:
                self._fix_media(v, big)

    # -------------------------------------------------------------- records

    def record_line(self, rec: dict[str, Any] | bytes, ver: int = 1, *, seq: int | None = None,
                    big_media: bool = False, garble: str = "") -> str:  # fmt: skip
        """One records.tsv line for a decrypted record (dict, or raw plaintext bytes)."""
        if isinstance(rec, dict):
            obj: dict[str, Any] = json.loads(json.dumps(rec))
            self._fix_media(obj, big_media)
            msgid = str(obj.get("msgid", ""))
            plain = orjson.dumps(obj)
        else:
            msgid, plain = f"raw{self.next_seq}", rec
        random_key = "".join(self.rng.choices(_KEY_CHARS, k=32)).encode()
        wrapped = self.key(ver).public_key().encrypt(random_key, padding.PKCS1v15())
        ekey = base64.b64encode(wrapped).decode()
        emsg = encipher(random_key, plain, self.rng)
        if garble == "ciphertext":
            raw = bytearray(base64.b64decode(emsg))
            raw[17] ^= 0xFF  # inside the double's magic: DecryptData answers 10006
            emsg = base64.b64encode(bytes(raw)).decode()
        elif garble == "key":
            ekey = base64.b64encode(bytes(256)).decode()
        s = self.next_seq if seq is None else seq
        self.next_seq = s + 1
        return f"{s}\t{msgid}\t{ver}\t{ekey}\t{emsg}"

    def add(self, recs: list[dict[str, Any]], ver: int = 1, *, gap_every: int = 0,
            big_every: int = 0) -> None:  # fmt: skip
        for i, r in enumerate(recs):
            if gap_every and i and i % gap_every == 0:
                self.next_seq += 3  # seq numbers never served (§7: gaps undocumented)
            self.lines.append(self.record_line(r, ver, big_media=bool(big_every)
                                               and i % big_every == 0))  # fmt: skip

    def add_line(self, line: str) -> None:
        self.lines.append(line)

    def write(self) -> None:
        tmp = self.dir / "records.tsv.tmp"
        tmp.write_text("".join(line + "\n" for line in self.lines))
        tmp.replace(self.dir / "records.tsv")

    def faults(self, *lines: str) -> None:
        (self.dir / "faults").write_text("".join(line + "\n" for line in lines))

    def faults_left(self) -> str:
        p = self.dir / "faults"
        return p.read_text() if p.exists() else ""

    def calls(self) -> list[str]:
        p = self.dir / "calls"
        return p.read_text().splitlines() if p.exists() else []

    def env(self) -> dict[str, str]:
        return {"WXG_FAKE_WECOM": str(self.dir)}


@contextmanager
def fixture_env(fx: Fixture) -> Iterator[None]:
    old = os.environ.get("WXG_FAKE_WECOM")
    os.environ["WXG_FAKE_WECOM"] = str(fx.dir)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("WXG_FAKE_WECOM", None)
        else:
            os.environ["WXG_FAKE_WECOM"] = old


def demo_records(demo: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in demo.read_bytes().splitlines() if line.strip()]


def write_config(
    data: Path, lib: Path, fx: Fixture, api_base: str, *, versions: list[int] | None = None,
    extra: str = "", keys: dict[int, rsa.RSAPrivateKey] | None = None,
) -> Path:  # fmt: skip
    """DATA/wecom.toml with the fixture's private keys written under DATA/keys/."""
    (data / "keys").mkdir(parents=True, exist_ok=True)
    (data / "secrets").mkdir(parents=True, exist_ok=True)
    (data / "secrets" / "wecom").write_text(SECRET)
    (data / "secrets" / "contacts").write_text(CONTACTS_SECRET)
    use = keys or fx.keys
    lines = []
    for v in versions or sorted(use):
        p = data / "keys" / f"wecom-v{v}.pem"
        p.write_bytes(pem(use[v], pkcs1=v % 2 == 0))
        p.chmod(0o600)
        lines.append(f'"{v}" = "$file:keys/wecom-v{v}.pem"')
    cfg = data / "wecom.toml"
    cfg.write_text(
        f'corp_id = "{CORP_ID}"\nsecret = "$file:secrets/wecom"\nlibrary = "{lib}"\n{extra}\n'
        "[private_keys]\n" + "\n".join(lines) + "\n"
        f'[network]\napi_base = "{api_base}"\ntimeout = 2\n'
        '[directory]\ncontacts_secret = "$file:secrets/contacts"\n'
    )
    return cfg


# ------------------------------------------------------------------ HTTP APIs (§3)


class FakeApi:
    """WeCom's HTTP APIs on loopback, answering from the demo directory."""

    def __init__(self, directory: Path) -> None:
        self.people: dict[str, dict[str, Any]] = {}
        self.rooms: dict[str, dict[str, Any]] = {}
        for line in directory.read_bytes().splitlines():
            obj = orjson.loads(line)
            if obj["type"] == "participant":
                p = obj["participant"]
                self.people[p["id"]] = p
            elif obj["type"] == "conversation":
                c = obj["conversation"]
                members = {
                    e["participant"]: e.get("joined_at", 0) // 1000
                    for e in c.get("roster", []) if "left_at" not in e
                }  # fmt: skip
                self.rooms[c["id"]] = {"name": c.get("name", ""), "owner": c.get("owner", ""),
                                       "members": members}  # fmt: skip
        self.disagree: set[tuple[str, str]] = set()  # (userid or "", external id)
        self.permit: list[str] = [i for i, p in self.people.items() if p["kind"] == "internal"]
        self.tokens: dict[str, str] = {}
        self.calls: list[str] = []
        self.fail_next: list[int] = []  # errcodes answered to the next calls
        self.token_fetches = 0
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _handle(self, method: str) -> None:
                u = urlsplit(self.path)
                q = {k: v[0] for k, v in parse_qs(u.query).items()}
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n)) if n else None
                path = u.path.removeprefix("/cgi-bin/")
                with api.lock:
                    api.calls.append(f"{method} {path}")
                    send_json(self, api.route(method, path, q, body))

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def external(self, room: dict[str, Any]) -> bool:
        return any(self.people.get(m, {}).get("kind") == "external" for m in room["members"])

    @staticmethod
    def err(code: int, msg: str) -> dict[str, Any]:
        return {"errcode": code, "errmsg": f"{msg}, hint: [1700000000_99_fake], from ip: "
                "127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e="
                f"{code}"}  # fmt: skip

    def route(self, method: str, path: str, q: dict[str, str], body: Any) -> dict[str, Any]:
        if path == "gettoken":
            if q.get("corpid") != CORP_ID:
                return self.err(40013, "invalid corpid")
            if q.get("corpsecret") not in (SECRET, CONTACTS_SECRET):
                return self.err(40001, "invalid credential")
            self.token_fetches += 1
            tok = f"tok{self.token_fetches}-{os.urandom(4).hex()}"
            self.tokens[tok] = q["corpsecret"]
            return {"errcode": 0, "errmsg": "ok", "access_token": tok, "expires_in": 7200}
        if q.get("access_token") not in self.tokens:
            return self.err(42001, "access_token expired")
        if self.fail_next:
            return self.err(self.fail_next.pop(0), "injected")
        body = body or {}
        if path == "msgaudit/get_permit_user_list":
            return {"errcode": 0, "errmsg": "ok", "ids": self.permit}
        if path == "user/get":
            p = self.people.get(q.get("userid", ""))
            if p is None or p["kind"] != "internal":
                return self.err(60111, "userid not found")
            return {"errcode": 0, "errmsg": "ok", "userid": p["id"], "name": p.get("name", ""),
                    "department": [2], "position": p.get("title", "")}  # fmt: skip
        if path == "externalcontact/get":
            p = self.people.get(q.get("external_userid", ""))
            if p is None or p["kind"] != "external":
                return self.err(84061, "not external contact")
            return {"errcode": 0, "errmsg": "ok", "external_contact": {
                "external_userid": p["id"], "name": p.get("name", ""), "type": 2,
                "corp_name": p.get("org", ""), "corp_full_name": p.get("org", "")},
                "follow_user": []}  # fmt: skip
        if path == "msgaudit/get_robot_info":
            p = self.people.get(q.get("robot_id", ""))
            if p is None:
                return self.err(40003, "invalid robot id")
            return {"errcode": 0, "errmsg": "ok", "data": {"robot_id": p["id"],
                    "name": p.get("name", ""), "creator_userid": ""}}  # fmt: skip
        if path == "msgaudit/groupchat/get":
            room = self.rooms.get(body.get("roomid", ""))
            if room is None:
                return self.err(301002, "invalid roomid")
            if self.external(room):
                return self.err(301057, "only support inner room")
            return {"errcode": 0, "errmsg": "ok", "roomname": room["name"],
                    "creator": room["owner"], "room_create_time": 1_700_000_000, "notice": "",
                    "members": [{"memberid": m, "jointime": t}
                                for m, t in room["members"].items()]}  # fmt: skip
        if path == "externalcontact/groupchat/get":
            room = self.rooms.get(body.get("chat_id", ""))
            if room is None or not self.external(room):
                return self.err(40050, "chat is not external group chat")
            members = []
            for m, t in room["members"].items():
                p = self.people.get(m, {})
                ext = p.get("kind") == "external"
                members.append({"userid": m, "type": 2 if ext else 1, "join_time": t,
                                "join_scene": 1, "name": p.get("name", "")})  # fmt: skip
            return {"errcode": 0, "errmsg": "ok", "group_chat": {
                "chat_id": body["chat_id"], "name": room["name"], "owner": room["owner"],
                "create_time": 1_700_000_000, "member_list": members}}  # fmt: skip
        if path == "msgaudit/check_single_agree":
            info = body.get("info") or []
            if len(info) > 100:
                return self.err(40058, "too many items")
            out = [{"userid": i["userid"], "exteranalopenid": i["exteranalopenid"],
                    "status_change_time": 1_700_000_000,
                    "agree_status": "Disagree" if (i["userid"], i["exteranalopenid"])
                    in self.disagree else "Agree"} for i in info]  # fmt: skip
            return {"errcode": 0, "errmsg": "ok", "agreeinfo": out}
        if path == "msgaudit/check_room_agree":
            room = self.rooms.get(body.get("roomid", ""), {"members": {}})
            out = [
                {
                    "exteranalopenid": m,
                    "status_change_time": 1_700_000_000,
                    "agree_status": "Disagree" if ("", m) in self.disagree else "Default_Agree",
                }
                for m in room["members"]
                if self.people.get(m, {}).get("kind") == "external"
            ]
            return {"errcode": 0, "errmsg": "ok", "agreeinfo": out}  # fmt: skip
        return self.err(404, f"unknown api {path}")
