"""The wxguard JSONL interchange format, version 1 (``docs/formats.md``).

One JSON object per line, each with ``"v": 1`` and a ``"type"``:

* ``participant`` — ``{"v":1,"type":"participant","participant":{...Participant}}``
* ``conversation`` — ``{"v":1,"type":"conversation","conversation":{...Conversation}}``
* ``message`` — ``{"v":1,"type":"message","message":{...Message},
  "raw_b64":"<original bytes, optional>","content":[{"attachment":0,"b64":"..."}|
  {"attachment":0,"path":"relative/file"}]}``

Unknown fields are errors (a v1 reader must not silently drop what a newer writer
meant). The exporter writes participants, then conversations, then messages in
archive order.
"""

from __future__ import annotations

import base64
import binascii
import inspect
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import msgspec
import orjson

from .archive import Archive
from .crypto import open_sealed
from .model import (
    Conversation,
    Message,
    Participant,
    message_id,
)
from .proofcheck import split_plaintext
from .seal import Batch, Sealer
from .sealed import open_blob, open_body
from .textview import attachments_of

VERSION = 1
MAX_ATTACHMENT = 2 << 30


# The line shapes: one definition for the decoder's checks and the published JSON Schema.
class _Content(msgspec.Struct, forbid_unknown_fields=True):
    attachment: int
    b64: str = ""
    path: str = ""


class _MessageLine(msgspec.Struct, tag="message", tag_field="type", forbid_unknown_fields=True):
    v: int
    message: Message
    raw_b64: str = ""
    content: list[_Content] = []


class _ParticipantLine(
    msgspec.Struct, tag="participant", tag_field="type", forbid_unknown_fields=True
):
    v: int
    participant: Participant


class _ConversationLine(
    msgspec.Struct, tag="conversation", tag_field="type", forbid_unknown_fields=True
):
    v: int
    conversation: Conversation


_LINES = (_MessageLine, _ParticipantLine, _ConversationLine)
_LINE_KEYS = {str(t.__struct_config__.tag): {"type", *t.__struct_fields__} for t in _LINES}
_CONTENT_KEYS = frozenset(_Content.__struct_fields__)


class InterchangeError(ValueError):
    pass


def _convert(obj: Any, typ: type[Any], what: str) -> Any:
    try:
        return msgspec.convert(obj, typ)
    except msgspec.ValidationError as e:
        raise InterchangeError(f"invalid {what}: {e}") from None


class Decoder:
    """Decodes interchange lines into a :class:`Batch`; attachment paths resolve under ``base``."""

    def __init__(self, base: Path) -> None:
        self.base = base.resolve()

    def decode_into(self, batch: Batch, raw: bytes, sealer: Sealer) -> None:
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            why = "not valid UTF-8" if "utf-8" in str(e).lower() else f"malformed JSON: {e}"
            raise InterchangeError(why) from None
        if not isinstance(obj, dict):
            raise InterchangeError("line is not a JSON object")
        v = obj.get("v")
        if v != VERSION:
            raise InterchangeError(f"unsupported interchange version {v!r} (this reader: 1)")
        typ = obj.get("type")
        allowed = _LINE_KEYS.get(typ) if isinstance(typ, str) else None
        if allowed is None:
            raise InterchangeError(f"unknown record type {typ!r}")
        extra = sorted(set(obj) - allowed)
        if extra:
            raise InterchangeError(f"unknown field(s) {', '.join(extra)} in a {typ} line")
        if typ == "participant":
            batch.participants.append(_convert(obj.get("participant"), Participant, "participant"))
        elif typ == "conversation":
            batch.conversations.append(
                _convert(obj.get("conversation"), Conversation, "conversation")
            )
        else:
            msg: Message = _convert(obj.get("message"), Message, "message")
            if msg.id != message_id(msg.source, msg.source_msg_id):
                raise InterchangeError("message.id must equal source + ':' + source_msg_id")
            if not msg.source or not msg.source_msg_id:
                raise InterchangeError("message.source and message.source_msg_id are required")
            original = _b64(obj.get("raw_b64", ""), "raw_b64")
            self._attach(msg, obj.get("content") or [], sealer)
            batch.messages.append((msg, original))

    def _attach(self, msg: Message, content: Any, sealer: Sealer) -> None:
        if not isinstance(content, list):
            raise InterchangeError("content must be a list")
        atts = attachments_of(msg.payload)
        for i, item in enumerate(content):
            if not isinstance(item, dict) or set(item) - _CONTENT_KEYS:
                raise InterchangeError(f"content[{i}] must be {{attachment, b64|path}}")
            idx = item.get("attachment")
            if not isinstance(idx, int) or not 0 <= idx < len(atts):
                raise InterchangeError(f"content[{i}].attachment does not name an attachment")
            if "b64" in item:
                data = _b64(item["b64"], f"content[{i}].b64")
            elif "path" in item:
                data = self._read(str(item["path"]), i)
            else:
                raise InterchangeError(f"content[{i}] needs b64 or path")
            target = atts[idx]
            if target.md5 and target.size is not None and target.size != len(data):
                raise InterchangeError(
                    f"content[{i}] is {len(data)} bytes but the attachment declares {target.size}"
                )
            stored = sealer.put_blob(data, msg.sent_at)
            target.blob_id, target.sha256 = stored.blob_id, stored.sha256
            target.md5 = target.md5 or stored.md5
            target.size = len(data) if target.size is None else target.size

    def _read(self, rel: str, i: int) -> bytes:
        path = (self.base / rel).resolve()
        if not path.is_relative_to(self.base):
            raise InterchangeError(f"content[{i}].path escapes the import directory")
        try:
            size = path.stat().st_size
            if size > MAX_ATTACHMENT:
                raise InterchangeError(f"content[{i}].path is larger than 2 GiB")
            return path.read_bytes()
        except OSError as e:
            raise InterchangeError(f"content[{i}].path cannot be read ({e.strerror})") from None


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise InterchangeError(f"{what} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InterchangeError(f"{what} is not valid base64") from None


# --------------------------------------------------------------------------- export


def iter_directory(archive: Archive) -> Iterator[tuple[str, bytes]]:
    keys = archive.keys
    for fp, enc in archive.conn.execute("SELECT fp, enc FROM participants ORDER BY rowid"):
        yield "participant", open_sealed(keys.records, enc, b"participant\x00" + fp)
    for fp, enc in archive.conn.execute("SELECT fp, enc FROM conversations ORDER BY rowid"):
        yield "conversation", open_sealed(keys.records, enc, b"conversation\x00" + fp)


def iter_plaintexts(archive: Archive) -> Iterator[tuple[int, bytes | None]]:
    """(seq, sealed plaintext) for every message in archive order; None when shredded."""
    rows = archive.conn.execute(
        "SELECT seq, source, source_msg_id, key_id, body FROM messages ORDER BY seq"
    )
    for seq, source, msgid, kid, body in rows:
        yield seq, open_body(archive, seq, message_id(source, msgid), kid, body)


ATTACHMENT_MODES = ("files", "inline", "none")
_MESSAGE = msgspec.json.Decoder(Message)


@dataclass
class Exported:
    messages: int = 0
    attachments: int = 0  # attachment contents written
    attachment_bytes: int = 0
    missing: int = 0  # attachments whose content is not stored (never fetched, or disposed)


def export_jsonl(
    archive: Archive,
    out: IO[bytes],
    progress: Callable[[int], None] | None = None,
    attachments: str = "none",
    files: Path | None = None,
    base: Path | None = None,
) -> Exported:
    """Write the whole archive as interchange JSONL.

    ``attachments``: ``none`` writes messages only; ``inline`` adds each stored
    attachment's bytes to its message line (``content[].b64``); ``files`` writes them into
    the folder ``files`` once each (named by blob id) and refers to them by a path
    relative to ``base``, the folder of the JSONL file — so ``wxguard ingest`` of the
    export brings them back."""
    if attachments not in ATTACHMENT_MODES:
        raise ValueError(f"attachments must be one of {', '.join(ATTACHMENT_MODES)}")
    if attachments == "files" and (files is None or base is None):
        raise ValueError("attachments='files' needs the files folder and the JSONL's folder")
    done = Exported()
    for typ, body in iter_directory(archive):
        out.write(b'{"v":1,"type":"' + typ.encode() + b'","' + typ.encode() + b'":' + body + b"}\n")
    written: dict[str, int] = {}  # blob id -> bytes, of the attachments exported
    for seq, pt in iter_plaintexts(archive):
        if pt is None:
            continue
        _salt, canonical, raw = split_plaintext(pt)
        line = b'{"v":1,"type":"message","message":' + canonical
        if raw:
            line += b',"raw_b64":"' + base64.b64encode(raw) + b'"'
        if attachments != "none" and (b'"blob_id"' in canonical or b'"sdkfileid"' in canonical):
            content = _content(archive, seq, _MESSAGE.decode(canonical), attachments, done,
                               files, base, written)  # fmt: skip
            if content:
                line += b',"content":' + orjson.dumps(content)
        out.write(line + b"}\n")
        done.messages += 1
        if progress and done.messages % 10_000 == 0:
            progress(done.messages)
    return done


def _content(
    archive: Archive, seq: int, m: Message, mode: str, done: Exported,
    files: Path | None, base: Path | None, written: dict[str, int],
) -> list[dict[str, Any]]:  # fmt: skip
    """The ``content`` entries of one message: its stored attachments' bytes or paths.
    Media the WeCom capture fetched after the message was sealed is found through the
    media queue, as the review app and eDiscovery packages find it."""
    from .capture.media import file_fp

    out: list[dict[str, Any]] = []
    conn = archive.conn
    for i, att in enumerate(attachments_of(m.payload)):
        bid = att.blob_id
        if not bid and att.sdkfileid:
            row = conn.execute(
                "SELECT blob_id FROM media_queue WHERE msg_seq = ? AND file_fp = ? "
                "AND state = 'done'",
                (seq, file_fp(archive, att.sdkfileid)),
            ).fetchone()
            bid = row[0] if row else ""
        if not bid:  # never fetched
            done.missing += 1
            continue
        # A file already written for another message is not decrypted again.
        data = b"" if mode == "files" and bid in written else open_blob(archive, bid)
        if data is None:  # disposed under retention
            done.missing += 1
            continue
        if mode == "files":
            assert files is not None and base is not None
            dest = files / bid[:2] / bid
            if bid not in written:
                if not dest.exists():
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    tmp = dest.with_name(dest.name + ".tmp")
                    tmp.write_bytes(data)
                    tmp.replace(dest)
                written[bid] = len(data)
            out.append({"attachment": i, "path": dest.relative_to(base).as_posix()})
        else:
            written[bid] = len(data)
            out.append({"attachment": i, "b64": base64.b64encode(data).decode()})
        done.attachments += 1
        done.attachment_bytes += written[bid]
    return out


def json_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of one interchange line, generated from the model."""
    schema = msgspec.json.schema(_MessageLine | _ParticipantLine | _ConversationLine)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "wxguard interchange line, version 1"
    _canonical(schema)
    return schema


def _canonical(node: Any) -> None:
    """The same schema whatever the msgspec release: docstring descriptions dedented (0.23
    does it itself, earlier releases kept the source indentation) and ``anyOf`` choices in
    a fixed order (releases list ``null`` before or after the other choice)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "description" and isinstance(value, str):
                node[key] = inspect.cleandoc(value)
            else:
                _canonical(value)
        if isinstance(node.get("anyOf"), list):
            node["anyOf"].sort(key=lambda choice: json.dumps(choice, sort_keys=True))
    elif isinstance(node, list):
        for value in node:
            _canonical(value)
