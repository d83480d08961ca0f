"""Synthetic personal-WeChat client data, written in every plaintext layout we import.

A fictional sales employee's device (:mod:`.device`: the demo company's people, customers
and groups, generated content — no real personal data), written exactly as the documented
schemas say (``shared/specs/wechat-client-data.md``): client databases in :mod:`.databases`
(§1.5–1.8 PC 3.x, §2.3–2.6 4.x, §3.2 Android, §7 iOS), tool exports in :mod:`.tools` (§6).
Tests, ``benchmarks/imports.py`` and ``wxguard demo wechat`` build their data here.
"""

from .databases import PC3_MSG_DDL, write_android, write_ios, write_pc3, write_v4
from .device import (
    COLLEAGUES,
    CUSTOMERS,
    GROUP_EXT,
    GROUP_INT,
    KINDS,
    OWNER,
    OWNER_NAME,
    Device,
    WxMsg,
    build,
)
from .tools import (
    write_chatlog_json,
    write_pywxdump_csv,
    write_pywxdump_json,
    write_wechatmsg_csv,
    write_wechatmsg_html,
    write_wechatmsg_txt,
)

__all__ = [
    "COLLEAGUES",
    "CUSTOMERS",
    "GROUP_EXT",
    "GROUP_INT",
    "KINDS",
    "OWNER",
    "OWNER_NAME",
    "PC3_MSG_DDL",
    "Device",
    "WxMsg",
    "build",
    "write_android",
    "write_chatlog_json",
    "write_ios",
    "write_pc3",
    "write_pywxdump_csv",
    "write_pywxdump_json",
    "write_v4",
    "write_wechatmsg_csv",
    "write_wechatmsg_html",
    "write_wechatmsg_txt",
]
