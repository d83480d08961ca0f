"""The device written as plaintext client databases, exactly as the documented schemas say
(``shared/specs/wechat-client-data.md`` §1.5–1.8 PC 3.x, §2.3–2.6 4.x, §3.2 Android, §7 iOS)."""

from __future__ import annotations

import hashlib
import math
import sqlite3
from pathlib import Path

from .device import (
    OFFICIAL,
    OWNER,
    OWNER_NAME,
    Device,
    md5hex,
    new_db,
    obfuscated,
)

# --------------------------------------------------------------------------- PC 3.x (§1)

PC3_MSG_DDL = """
CREATE TABLE MSG (localId INTEGER PRIMARY KEY AUTOINCREMENT, TalkerId INT DEFAULT 0, MsgSvrID INT,
  Type INT, SubType INT, IsSender INT, CreateTime INT, Sequence INT DEFAULT 0, StatusEx INT DEFAULT 0,
  FlagEx INT, Status INT, MsgServerSeq INT, MsgSequence INT, StrTalker TEXT, StrContent TEXT,
  DisplayContent TEXT, Reserved0 INT DEFAULT 0, Reserved1 INT DEFAULT 0, Reserved2 INT DEFAULT 0,
  Reserved3 INT DEFAULT 0, Reserved4 TEXT, Reserved5 TEXT, Reserved6 TEXT, CompressContent BLOB,
  BytesExtra BLOB, BytesTrans BLOB);
CREATE TABLE Name2ID (UsrName TEXT PRIMARY KEY);
CREATE TABLE DBInfo (tableIndex INTEGER PRIMARY KEY, tableVersion INT, tableDesc TEXT);
"""
PC3_MICRO_DDL = """
CREATE TABLE Contact(UserName TEXT PRIMARY KEY, Alias TEXT, EncryptUserName TEXT, DelFlag INTEGER DEFAULT 0,
  Type INTEGER DEFAULT 0, VerifyFlag INTEGER DEFAULT 0, Reserved1 INTEGER DEFAULT 0, Reserved2 INTEGER DEFAULT 0,
  Reserved3 TEXT, Reserved4 TEXT, Remark TEXT, NickName TEXT, LabelIDList TEXT, DomainList TEXT,
  ChatRoomType int, PYInitial TEXT, QuanPin TEXT, RemarkPYInitial TEXT, RemarkQuanPin TEXT,
  BigHeadImgUrl TEXT, SmallHeadImgUrl TEXT, HeadImgMd5 TEXT, ChatRoomNotify INTEGER DEFAULT 0,
  Reserved5 INTEGER DEFAULT 0, Reserved6 TEXT, Reserved7 TEXT, ExtraBuf BLOB, Reserved8 INTEGER DEFAULT 0,
  Reserved9 INTEGER DEFAULT 0, Reserved10 TEXT, Reserved11 TEXT);
CREATE TABLE ChatRoom(ChatRoomName TEXT PRIMARY KEY, UserNameList TEXT, DisplayNameList TEXT,
  ChatRoomFlag int Default 0, Owner INTEGER DEFAULT 0, IsShowName INTEGER DEFAULT 0, SelfDisplayName TEXT,
  Reserved1 INTEGER DEFAULT 0, Reserved2 TEXT, Reserved3 INTEGER DEFAULT 0, Reserved4 TEXT,
  Reserved5 INTEGER DEFAULT 0, Reserved6 TEXT, RoomData BLOB, Reserved7 INTEGER DEFAULT 0, Reserved8 TEXT);
"""
PC3_MEDIA_DDL = """
CREATE TABLE Media(Key TEXT PRIMARY KEY, Reserved0 INT, Buf BLOB, Reserved1 INT, Reserved2 TEXT);
CREATE INDEX Media_R0 ON Media(Reserved0);
"""


def write_pc3(root: Path, dev: Device, shards: int = 2) -> Path:
    """``root/<owner>/Msg/{MicroMsg.db, Multi/MSGn.db, Multi/MediaMSG0.db}`` + FileStorage."""
    import lz4.block

    from ...imports.protowire import bytes_extra, room_data

    acct = root / OWNER
    msg = acct / "Msg"
    micro = new_db(msg / "MicroMsg.db", PC3_MICRO_DDL)
    micro.executemany(
        "INSERT INTO Contact (UserName, Alias, NickName, Remark, Type, Reserved1) VALUES (?,?,?,?,3,1)",
        [(u, a, n, "") for u, n, a in dev.contacts]
        + [(OFFICIAL[0], "", OFFICIAL[1], "")]
        + [(r, "", n, "") for r, n, _ in dev.rooms()],
    )
    micro.executemany(
        "INSERT INTO ChatRoom (ChatRoomName, UserNameList, Reserved2, RoomData) VALUES (?,?,?,?)",
        [(r, "^G".join(ms), ms[0], room_data([(u, "") for u in ms])) for r, _, ms in dev.rooms()],
    )
    micro.commit()
    micro.close()
    media = new_db(msg / "Multi" / "MediaMSG0.db", PC3_MEDIA_DDL)
    conns = [new_db(msg / "Multi" / f"MSG{i}.db", PC3_MSG_DDL) for i in range(shards)]
    per = max(1, math.ceil(len(dev.messages) / shards))
    for si, conn in enumerate(conns):
        part = dev.messages[si * per : (si + 1) * per]
        talkers = list(dict.fromkeys(m.talker for m in part))
        conn.executemany("INSERT INTO Name2ID VALUES (?)", [(t,) for t in talkers])
        conn.execute(
            "INSERT INTO DBInfo VALUES (1, ?, 'Start Time')", ((part[0].t if part else 0) * 1000,)
        )
        rows = []
        for m in part:
            items: list[tuple[int, str]] = []
            if m.talker.endswith("@chatroom") and not m.is_self and m.sender:
                items.append((1, m.sender))
            if m.file:  # the local path is in BytesExtra item 4 (§1.9)
                name, data = m.file
                if m.base == 3:  # images are obfuscated .dat files: never attached
                    parts = ["MsgAttach", md5hex(m.talker), "Image", "2026-09", name[:-4] + ".dat"]
                    data = obfuscated(data)
                else:
                    parts = ["Video" if m.base == 43 else "File", "2026-09", name]
                items.append((4, "\\".join([OWNER, "FileStorage", *parts])))
                f = acct.joinpath("FileStorage", *parts)
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_bytes(data)
            content, compressed = m.content, None
            if m.base == 49:
                compressed = lz4.block.compress(m.content.encode(), store_size=False)
                content = ""
            rows.append(
                (
                    m.local_id,
                    talkers.index(m.talker) + 1,
                    m.server_id,
                    m.base,
                    m.sub,
                    int(m.is_self),
                    m.t,
                    m.t * 1000,
                    m.talker,
                    content,
                    compressed,
                    bytes_extra(items) if items else None,
                )
            )
            if m.voice:
                media.execute(
                    "INSERT INTO Media VALUES (?, ?, ?, 0, '')",
                    (str(2**40 + m.local_id), m.server_id, m.voice),
                )
        conn.executemany(
            "INSERT INTO MSG (localId, TalkerId, MsgSvrID, Type, SubType, IsSender, CreateTime, "
            "Sequence, StrTalker, StrContent, CompressContent, BytesExtra) VALUES "
            "(?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        conn.commit()
        conn.close()
    media.commit()
    media.close()
    return acct


# --------------------------------------------------------------------------- 4.x (§2)


def _msg_table_ddl(name: str) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {name}(local_id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "server_id INTEGER, local_type INTEGER, sort_seq INTEGER, real_sender_id INTEGER, "
        "create_time INTEGER, status INTEGER, upload_status INTEGER, download_status INTEGER, "
        "server_seq INTEGER, origin_source INTEGER, source TEXT, message_content TEXT, "
        "compress_content TEXT, packed_info_data BLOB, WCDB_CT_message_content INTEGER DEFAULT "
        "NULL, WCDB_CT_source INTEGER DEFAULT NULL)"
    )


V4_CONTACT_DDL = """
CREATE TABLE contact(id INTEGER PRIMARY KEY, username TEXT, local_type INTEGER, alias TEXT,
  encrypt_username TEXT, flag INTEGER, delete_flag INTEGER, verify_flag INTEGER, remark TEXT,
  remark_quan_pin TEXT, remark_pin_yin_initial TEXT, nick_name TEXT, pin_yin_initial TEXT, quan_pin TEXT,
  big_head_url TEXT, small_head_url TEXT, head_img_md5 TEXT, chat_room_notify INTEGER,
  is_in_chat_room INTEGER, description TEXT, extra_buffer BLOB, chat_room_type INTEGER);
CREATE TABLE chat_room(id INTEGER PRIMARY KEY, username TEXT, owner TEXT, ext_buffer BLOB);
CREATE TABLE name2id(username TEXT PRIMARY KEY);
"""
V4_SESSION_DDL = """
CREATE TABLE SessionTable(username TEXT PRIMARY KEY, type INTEGER, unread_count INTEGER,
  unread_first_msg_srv_id INTEGER, is_hidden INTEGER, summary TEXT, draft TEXT, status INTEGER,
  last_timestamp INTEGER, sort_timestamp INTEGER, last_clear_unread_timestamp INTEGER,
  last_msg_locald_id INTEGER, last_msg_type INTEGER, last_msg_sub_type INTEGER,
  last_msg_sender TEXT, last_sender_display_name TEXT);
"""


def write_v4(root: Path, dev: Device, shards: int = 2) -> Path:
    """``root/<owner>_a1b2/db_storage/{message/message_N.db, media_0.db, contact/contact.db,
    session/session.db}`` + ``msg/file/<YYYY-MM>/<name>``."""
    import zstandard

    from ...imports.protowire import put, room_data

    acct = root / f"{OWNER}_a1b2"
    store = acct / "db_storage"
    cz = zstandard.ZstdCompressor()
    contact = new_db(store / "contact" / "contact.db", V4_CONTACT_DDL)
    contact.executemany(
        "INSERT INTO contact (username, local_type, alias, remark, nick_name) VALUES (?,?,?,?,?)",
        [(u, 1, a, "", n) for u, n, a in dev.contacts]
        + [(OFFICIAL[0], 1, "", "", OFFICIAL[1])]
        + [(r, 2, "", "", n) for r, n, _ in dev.rooms()],
    )
    contact.executemany(
        "INSERT INTO chat_room (username, owner, ext_buffer) VALUES (?,?,?)",
        [(r, ms[0], room_data([(u, "") for u in ms])) for r, _, ms in dev.rooms()],
    )
    contact.commit()
    contact.close()
    sess = new_db(store / "session" / "session.db", V4_SESSION_DDL)
    sess.executemany(
        "INSERT INTO SessionTable (username, type) VALUES (?, 0)",
        [(t,) for t in dict.fromkeys(m.talker for m in dev.messages)],
    )
    sess.commit()
    sess.close()
    media = new_db(
        store / "message" / "media_0.db",
        "CREATE TABLE VoiceInfo(chat_name_id INTEGER, create_time INTEGER, local_id INTEGER, "
        "svr_id INTEGER, voice_data BLOB, data_index TEXT DEFAULT '0');"
        "CREATE INDEX v_svr ON VoiceInfo(svr_id);",
    )
    per = max(1, math.ceil(len(dev.messages) / shards))
    links: list[tuple[str, str]] = []  # (md5, file name on disk) for hardlink.db
    for si in range(shards):
        part = dev.messages[si * per : (si + 1) * per]
        conn = new_db(
            store / "message" / f"message_{si}.db",
            "CREATE TABLE Name2Id(user_name TEXT PRIMARY KEY);"
            "CREATE TABLE TimeStamp(timestamp INTEGER);",
        )
        conn.execute("INSERT INTO TimeStamp VALUES (?)", (part[0].t if part else 0,))
        names: dict[str, int] = {}

        def nid(u: str, conn: sqlite3.Connection = conn, names: dict[str, int] = names) -> int:
            if u not in names:
                conn.execute("INSERT INTO Name2Id VALUES (?)", (u,))
                names[u] = len(names) + 1
            return names[u]

        by_table: dict[str, list[tuple[object, ...]]] = {}
        for m in part:
            table = f"Msg_{md5hex(m.talker)}"
            body = m.content
            if m.talker.endswith("@chatroom") and not m.is_self and m.sender:
                body = f"{m.sender}:\n{body}"
            data: str | bytes = body
            if m.base != 1 or len(body) > 40:
                data = cz.compress(body.encode())
            packed = put(5, put(2, m.transcript)) if m.transcript else None
            sender = m.sender or m.talker
            by_table.setdefault(table, []).append(
                (
                    m.server_id,
                    (m.sub << 32) | m.base,
                    m.t * 1000,
                    nid(sender),
                    m.t,
                    2 if m.is_self else 4,
                    data,
                    packed,
                )
            )
            if m.file:  # msg/file/<YYYY-MM>/<name>, msg/video/<YYYY-MM>/<md5>.mp4 (§2.3.1)
                name, data = m.file
                if m.base == 3:  # msg/attach/<md5(talker)>/<YYYY-MM>/Img/<md5>.dat, obfuscated
                    f = (
                        acct
                        / "msg"
                        / "attach"
                        / md5hex(m.talker)
                        / "2026-09"
                        / "Img"
                        / (name[:-4] + ".dat")
                    )
                    data = obfuscated(data)
                elif m.base == 43:
                    f = acct / "msg" / "video" / "2026-09" / name
                else:  # renamed on a name clash: only hardlink.db knows where it is
                    disk = f"{Path(name).stem}(1){Path(name).suffix}"
                    f = acct / "msg" / "file" / "2026-09" / disk
                    links.append((hashlib.md5(data).hexdigest(), disk))
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_bytes(data)
            if m.voice:
                media.execute(
                    "INSERT INTO VoiceInfo VALUES (0, ?, ?, ?, ?, '0')",
                    (m.t, m.local_id, m.server_id, m.voice),
                )
        for table, rows in by_table.items():
            conn.execute(_msg_table_ddl(table))
            conn.executemany(
                f"INSERT INTO {table} (server_id, local_type, sort_seq, real_sender_id, "
                "create_time, status, message_content, packed_info_data) VALUES (?,?,?,?,?,?,?,?)",
                rows,
            )
        conn.commit()
        conn.close()
    hard = new_db(
        store / "hardlink" / "hardlink.db",
        "CREATE TABLE file_hardlink_info_v3(md5_hash INTEGER, md5 TEXT, type INTEGER, "
        "file_name TEXT, file_size INTEGER, modify_time INTEGER, dir1 INTEGER, dir2 INTEGER, "
        "_rowid_ INTEGER PRIMARY KEY, extra_buffer BLOB);"
        "CREATE TABLE dir2id(username TEXT PRIMARY KEY);",
    )
    hard.execute("INSERT INTO dir2id VALUES ('2026-09')")
    hard.executemany(
        "INSERT INTO file_hardlink_info_v3 (md5, file_name, dir1, dir2) VALUES (?, ?, 1, 0)",
        links,
    )
    hard.commit()
    hard.close()
    media.commit()
    media.close()
    return acct


# --------------------------------------------------------------------------- Android (§3)

ANDROID_DDL = """
CREATE TABLE message (msgId INTEGER PRIMARY KEY, msgSvrId INTEGER, type INT, status INT, isSend INT,
  isShowTimer INTEGER, createTime INTEGER, talker TEXT, content TEXT, imgPath TEXT, reserved TEXT,
  lvbuffer BLOB, transContent TEXT, transBrandWording TEXT, talkerId INTEGER, bizClientMsgId TEXT,
  bizChatId INTEGER DEFAULT -1, bizChatUserId TEXT, msgSeq INTEGER, flag INT);
CREATE TABLE rcontact (username TEXT PRIMARY KEY, alias TEXT, conRemark TEXT, domainList TEXT,
  nickname TEXT, pyInitial TEXT, quanPin TEXT, showHead INTEGER, type INT, weiboFlag INT,
  weiboNickname TEXT, conRemarkPYFull TEXT, conRemarkPYShort TEXT, lvbuff BLOB, verifyFlag INT,
  encryptUsername TEXT, chatroomFlag INT, deleteFlag INT, contactLabelIds TEXT);
CREATE TABLE chatroom (chatroomname TEXT PRIMARY KEY, addtime INTEGER, memberlist TEXT,
  displayname TEXT, chatroomnick TEXT, roomflag INTEGER, roomowner TEXT, roomdata BLOB);
CREATE TABLE userinfo (id INTEGER PRIMARY KEY, type INT, value TEXT);
CREATE TABLE ImgInfo2 (id INTEGER PRIMARY KEY, msgSvrId INTEGER, offset INT, totalLen INT,
  bigImgPath TEXT, thumbImgPath TEXT, createtime INT, msglocalid INT, status INT);
"""
# Android app-message types carry a tag in the top byte (spec §4.4).
ANDROID_APP_TYPES = {2000: 419430449, 2001: 436207665, 57: 822083633, 6: 1090519089}


def write_android(root: Path, dev: Device) -> Path:
    path = root / "EnMicroMsg.db"
    conn = new_db(path, ANDROID_DDL)
    conn.executemany(
        "INSERT INTO userinfo (id, type, value) VALUES (?, 3, ?)", [(2, OWNER), (4, OWNER_NAME)]
    )
    conn.executemany(
        "INSERT INTO rcontact (username, alias, conRemark, nickname, type) VALUES (?,?,?,?,3)",
        [(u, a, "", n) for u, n, a in dev.contacts] + [(r, "", "", n) for r, n, _ in dev.rooms()],
    )
    conn.executemany(
        "INSERT INTO chatroom (chatroomname, memberlist, roomowner) VALUES (?,?,?)",
        [(r, ";".join(ms), ms[0]) for r, _, ms in dev.rooms()],
    )
    rows = []
    for m in dev.messages:
        body = m.content
        if m.talker.endswith("@chatroom") and not m.is_self and m.sender:
            body = f"{m.sender}:\n{body}"
        typ = ANDROID_APP_TYPES.get(m.sub, 49) if m.base == 49 else m.base
        img = ""
        if m.file and m.base == 3:  # HD image: ImgInfo2.bigImgPath under image2/ (§3.2, §5.4)
            name, data = m.file
            big = name[:-4] + ".jpg"
            img = f"THUMBNAIL_DIRPATH://th_{name[:-4]}"
            f = root / "image2" / big[:2] / big[2:4] / big
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(data)
            conn.execute(
                "INSERT INTO ImgInfo2 (msgSvrId, bigImgPath) VALUES (?, ?)", (m.server_id, big)
            )
        if m.file and m.base == 43:  # video/<imgPath>.mp4
            img = f"vid{m.local_id:06d}"
            f = root / "video" / f"{img}.mp4"
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(m.file[1])
        if m.voice:  # voice2/<h[0:2]>/<h[2:4]>/msg_<imgPath>.amr beside the database
            img = f"{m.local_id:04d}1790{m.server_id % 10**8:08d}"
            h = md5hex(img)
            f = root / "voice2" / h[:2] / h[2:4] / f"msg_{img}.amr"
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(m.voice)
        rows.append((m.local_id, m.server_id, typ, int(m.is_self), m.t * 1000, m.talker, body, img))
    conn.executemany(
        "INSERT INTO message (msgId, msgSvrId, type, isSend, createTime, talker, content, "
        "imgPath) VALUES (?,?,?,?,?,?,?,?)",
        rows,
    )
    conn.commit()
    conn.close()
    return path


# --------------------------------------------------------------------------- iOS (§7)


def write_ios(root: Path, dev: Device) -> Path:
    """An unencrypted iTunes/Finder backup: ``Manifest.db`` + hashed files."""
    from ...imports.protowire import put

    root.mkdir(parents=True, exist_ok=True)
    domain = "AppDomain-com.tencent.xin"
    base = f"Documents/{md5hex(OWNER)}/DB"
    files: dict[str, Path] = {}

    def place(rel: str) -> Path:
        fid = hashlib.sha1(f"{domain}-{rel}".encode()).hexdigest()
        p = root / fid[:2] / fid
        p.parent.mkdir(parents=True, exist_ok=True)
        files[rel] = p
        return p

    mm = new_db(place(f"{base}/MM.sqlite"), "CREATE TABLE Hello2(MesLocalID INTEGER);")
    mm.close()
    msgdb = new_db(place(f"{base}/message_1.sqlite"), "")
    for talker in dict.fromkeys(m.talker for m in dev.messages):
        msgdb.execute(
            f"CREATE TABLE Chat_{md5hex(talker)}(TableVer INTEGER DEFAULT 1, MesLocalID INTEGER "
            "PRIMARY KEY AUTOINCREMENT, MesSvrID INTEGER DEFAULT 0, CreateTime INTEGER DEFAULT 0, "
            "Message TEXT, Status INTEGER DEFAULT 0, ImgStatus INTEGER DEFAULT 0, Type INTEGER, "
            "Des INTEGER)"
        )
    for m in dev.messages:
        body = m.content
        if m.talker.endswith("@chatroom") and not m.is_self and m.sender:
            body = f"{m.sender}:\n{body}"
        msgdb.execute(
            f"INSERT INTO Chat_{md5hex(m.talker)} (MesLocalID, MesSvrID, CreateTime, Message, "
            "Type, Des) VALUES (?,?,?,?,?,?)",
            (m.local_id, m.server_id, m.t, body, m.base, 0 if m.is_self else 1),
        )
        if m.file and m.base in (3, 43):  # Img/<md5(talker)>/<id>.pic, Video/…/<id>.mp4 (§5.4)
            folder, ext = ("Img", "pic") if m.base == 3 else ("Video", "mp4")
            rel = f"Documents/{md5hex(OWNER)}/{folder}/{md5hex(m.talker)}/{m.local_id}.{ext}"
            place(rel).write_bytes(m.file[1])
        if m.voice:  # Documents/<md5(owner)>/Audio/<md5(talker)>/<MesLocalID>.aud
            rel = f"Documents/{md5hex(OWNER)}/Audio/{md5hex(m.talker)}/{m.local_id}.aud"
            place(rel).write_bytes(m.voice)
    msgdb.commit()
    msgdb.close()
    contact = new_db(
        place(f"{base}/WCDB_Contact.sqlite"),
        "CREATE TABLE Friend(userName TEXT PRIMARY KEY, type INTEGER, certificationFlag INTEGER, "
        "imgStatus INTEGER, encodeUserName TEXT, dbContactLocal BLOB, dbContactOther BLOB, "
        "dbContactRemark BLOB, dbContactHeadImage BLOB, dbContactProfile BLOB, "
        "dbContactSocial BLOB, dbContactChatRoom BLOB, dbContactBrand BLOB);",
    )
    rows: list[tuple[str, bytes, bytes | None]] = []
    for u, n, a in dev.contacts:
        rows.append((u, put(1, n) + put(2, a), None))
    for r, n, ms in dev.rooms():
        xml = (
            "<RoomData>" + "".join(f'<Member UserName="{x}"></Member>' for x in ms) + "</RoomData>"
        )
        rows.append((r, put(1, n), put(6, xml)))
    contact.executemany(
        "INSERT INTO Friend (userName, type, dbContactRemark, dbContactChatRoom) "
        "VALUES (?, 1, ?, ?)",
        rows,
    )
    contact.commit()
    contact.close()
    man = new_db(
        root / "Manifest.db",
        "CREATE TABLE Files (fileID TEXT PRIMARY KEY, domain TEXT, relativePath TEXT, "
        "flags INTEGER, file BLOB);",
    )
    man.executemany(
        "INSERT INTO Files VALUES (?, ?, ?, 1, NULL)",
        [(p.name, domain, rel) for rel, p in files.items()],
    )
    man.commit()
    man.close()
    return root
