"""Normaliser table tests: every msgtype, from the examples in specs/wecom-archive.md §2.2."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wxguard import model as M
from wxguard.textview import attachments_of, text_view
from wxguard.wecom import (
    WECOM_MSGTYPES,
    NormaliseError,
    _fast_text,
    normalise,
    normalise_bytes,
    parse_record,
)

HEAD = '"action":"send","from":"kenshin","tolist":["wmGAgeDQAAsgQetTQGqRbMxrkodpM3fA"],"roomid":""'

# (name, record JSON text, expected payload type, checks on payload, expected text view)
CASES: list[tuple[str, str, type, dict[str, Any], str]] = [
    ("text", '{"msgid":"CAQQluDa4QUY0On2rYSAgAMgzPrShAE=","action":"send","from":"XuJinSheng",'
     '"tolist":["icefog"],"roomid":"","msgtime":1547087894783,"msgtype":"text","text":{"content":"test"}}',
     M.Text, {"content": "test"}, "test"),
    ("image", '{"msgid":"CAQQvPnc4QUY0On2rYSAgAMgooLa0Q8=","action":"send","from":"XuJinSheng",'
     '"tolist":["icefog"],"roomid":"","msgtime":0,"msgtype":"image","image":{"md5sum":'
     '"50de8e5ae8ffe4f1df7a93841f71993a","filesize":70961,"sdkfileid":"CtYBMzA2OTAy"}}',
     M.Image, {"attachment.md5": "50de8e5ae8ffe4f1df7a93841f71993a", "attachment.size": 70961,
               "attachment.sdkfileid": "CtYBMzA2OTAy"}, ""),
    ("revoke", '{"msgid":"15775510700152506326_1603875615","action":"recall","from":"kenshin",'
     '"tolist":["wmUu0zBgAALV7ZymkcMyxvbTe8YdWxxA"],"roomid":"","msgtime":1603875615723,'
     '"msgtype":"revoke","revoke":{"pre_msgid":"14822339130656386894_1603875600"}}',
     M.Revoke, {"pre_msgid": "14822339130656386894_1603875600"}, ""),
    ("agree", '{"msgid":"8891446340739254950_1603875826","action":"send","from":'
     '"wmGAgeDQAAvQeaTqWwkMTxGMkvI7OOuQ","tolist":["kenshin"],"roomid":"","msgtime":1603875826656,'
     '"msgtype":"agree","agree":{"userid":"wmGAgeDQAAvQeaTqWwkMTxGMkvI7OOuQ","agree_time":1603875826656}}',
     M.Agree, {"userid": "wmGAgeDQAAvQeaTqWwkMTxGMkvI7OOuQ", "at": 1603875826656}, ""),
    ("disagree", '{"msgid":"17972321270926900092_1603875944","action":"send","from":'
     '"wmErxtDgAA9AW32YyyuYRimKr7D1KWlw","tolist":["kenshin"],"roomid":"","msgtime":1603875944122,'
     '"msgtype":"disagree","disagree":{"userid":"wmErxtDgAA9AW32YyyuYRimKr7D1KWlw",'
     '"disagree_time":1603875944122}}',
     M.Disagree, {"at": 1603875944122}, ""),
    ("voice", '{"msgid":"10958372969718811103_1603875609","action":"send","from":'
     '"wmGAgeDQAAdBjb8CK4ieMPRm7Cqm-9VA","tolist":["kenshin"],"roomid":"","msgtime":1603875609704,'
     '"msgtype":"voice","voice":{"md5sum":"9db09c7fa627c9e53f17736c786a74d5","voice_size":6810,'
     '"play_length":10,"sdkfileid":"kcyZjZqOXhETGYxajB2"}}',
     M.Voice, {"duration_s": 10, "attachment.size": 6810}, ""),
    ("video", '{"msgid":"17955920891003447432_1603875627","action":"send","from":"kenshin","tolist":'
     '["wmGAgeDQAAHuRJbt4ZQI_1cqoQcf41WQ"],"roomid":"","msgtime":1603875626823,"msgtype":"video",'
     '"video":{"md5sum":"d06fc80c01d6fbffcca3b229ba41eac6","filesize":15169724,"play_length":108,'
     '"sdkfileid":"MzAzMjYx"}}',
     M.Video, {"duration_s": 108, "attachment.size": 15169724}, ""),
    ("card", '{"msgid":"13714216591700685558_1603875680",' + HEAD + ',"msgtime":1603875680377,'
     '"msgtype":"card","card":{"corpname":"微信联系人","userid":"wmGAgeDQAAGjFmfnP7A3j2JxQDdLNhSw"}}',
     M.Card, {"corpname": "微信联系人"}, "微信联系人\nwmGAgeDQAAGjFmfnP7A3j2JxQDdLNhSw"),
    ("location", '{"msgid":"2641513858500683770_1603876152","action":"send","from":"icefog","tolist":'
     '["wmN6etBgAA0sbJ3invMvRxPQDFoq9uWA"],"roomid":"","msgtime":1603876152141,"msgtype":"location",'
     '"location":{"longitude":116.586285899,"latitude":39.911125799,"address":"北京市xxx区xxx路xxx大厦x座",'
     '"title":"xxx管理中心","zoom":15}}',
     M.Location, {"latitude": 39.911125799, "zoom": 15}, "xxx管理中心\n北京市xxx区xxx路xxx大厦x座"),
    ("emotion", '{"msgid":"6623217619416669654_1603875612","action":"send","from":"icef","tolist":'
     '["wmErxtDgAAhteCglUZH2kUt3rq431qmg"],"roomid":"","msgtime":1603875611148,"msgtype":"emotion",'
     '"emotion":{"type":1,"width":290,"height":290,"imagesize":962604,"md5sum":'
     '"94c2b0bba52cc456cb8221b248096612","sdkfileid":"4eE1ESTVN"}}',
     M.Emotion, {"format": "gif", "width": 290, "attachment.size": 962604}, ""),
    ("file", '{"msgid":"18039699423706571225_1603875608","action":"send","from":"kens","tolist":'
     '["wmErxtDgAArDlFIhf76O6w4GxU81al8w"],"roomid":"","msgtime":1603875608214,"msgtype":"file",'
     '"file":{"md5sum":"18e93fc2ea884df23b3d2d3b8667b9f0","filename":"资料.docx","fileext":"docx",'
     '"filesize":18181,"sdkfileid":"E4ODRkZjIz"}}',
     M.File, {"attachment.name": "资料.docx", "attachment.ext": "docx", "attachment.size": 18181},
     "资料.docx"),
    ("link", '{"msgid":"11788441727514772650_1603875624","action":"send","from":"kenshin","tolist":'
     '["0000726"],"roomid":"","msgtime":1603875624476,"msgtype":"link","link":{"title":"邀请你加入群聊",'
     '"description":"技术支持群，进入可查看详情","link_url":'
     '"https://work.weixin.qq.com/wework_admin/external_room/join/exceed?vcode=xxx",'
     '"image_url":"https://wework.qpic.cn/wwpic/xxx/0"}}',
     M.Link, {"title": "邀请你加入群聊"},
     "邀请你加入群聊\n技术支持群，进入可查看详情\n"
     "https://work.weixin.qq.com/wework_admin/external_room/join/exceed?vcode=xxx"),
    ("weapp", '{"msgid":"11930598857592605935_1603875608","action":"send","from":"kens","tolist":'
     '["wmGAgeDQAAsgQetTQGqRbMxrkodpM3fA"],"roomid":"","msgtime":1603875608691,"msgtype":"weapp",'
     '"weapp":{"title":"开始聊天前请仔细阅读服务须知事项","description":"客户需同意存档聊天记录",'
     '"username":"xxx@app","displayname":"服务须知"}}',
     M.Weapp, {"username": "xxx@app", "displayname": "服务须知"},
     "服务须知\n开始聊天前请仔细阅读服务须知事项\n客户需同意存档聊天记录\nxxx@app"),
    ("chatrecord", '{"msgid":"11354299838102555191_1603875658","action":"send","from":"ken","tolist":'
     '["icef"],"roomid":"","msgtime":1603875657905,"msgtype":"chatrecord","chatrecord":{"title":"群聊",'
     '"item":[{"type":"ChatRecordText","msgtime":1603875610,"content":"{\\"content\\":\\"test\\"}",'
     '"from_chatroom":false},{"type":"ChatRecordText","msgtime":1603875620,'
     '"content":"{\\"content\\":\\"test2\\"}","from_chatroom":false}]}}',
     M.ChatRecord, {"title": "群聊"}, "群聊\ntest\ntest2"),
    ("todo", '{"msgid":"11354299838102555191_1603875658","action":"send","from":"ken","tolist":["icef"],'
     '"roomid":"","msgtime":1603875657905,"msgtype":"todo","todo":{"title":"来源文本","content":"具体内容"}}',
     M.Todo, {"content": "具体内容"}, "来源文本\n具体内容"),
    ("vote", '{"msgid":"11354299838102555191_1603875658","action":"send","from":"ken","tolist":["icef"],'
     '"roomid":"","msgtime":1603875657905,"msgtype":"vote","vote":{"votetitle":"投票主题","voteitem":'
     '["投票选项"],"votetype":101,"voteid":"1603875610"}}',
     M.Vote, {"title": "投票主题", "options": ["投票选项"], "vote_type": 101}, "投票主题\n投票选项"),
    ("collect", '{"msgid":"2500536226619379797_1576034482","action":"send","from":"nick","tolist":'
     '["XuJinSheng","15108264797"],"roomid":"wrjc7bDwYAOAhf9quEwRRxyyoMm0QAAA","msgtime":1576034482344,'
     '"msgtype":"collect","collect":{"room_name":"这是一个群","creator":"nick","create_time":'
     '"2019-12-11 11:21:22","title":"这是填表title","details":[{"id":1,"ques":"表项1，文本","type":"Text"},'
     '{"id":2,"ques":"表项2，数字","type":"Number"}]}}',
     M.Collect, {"create_time": "2019-12-11 11:21:22", "room_name": "这是一个群"},
     "这是填表title\n表项1，文本\n表项2，数字"),
    ("redpacket", '{"msgid":"333590477316965370_1603877439","action":"send","from":"kens","tolist":'
     '["1000000444696"],"roomid":"","msgtime":1603877439038,"msgtype":"redpacket","redpacket":'
     '{"type":1,"wish":"恭喜发财，大吉大利","totalcnt":1,"totalamount":3000}}',
     M.RedPacket, {"total_amount_fen": 3000, "packet_type": 1, "total_count": 1}, "恭喜发财，大吉大利\n红包 ¥30.00"),
    ("meeting", '{"msgid":"5935786683775673543_1603877328","action":"send","from":"ken","tolist":'
     '["icef","test"],"roomid":"wr2vOpDgAAN4zVWKbS","msgtime":1603877328914,"msgtype":"meeting",'
     '"meeting":{"topic":"夕会","starttime":1603877400,"endtime":1603881000,"address":"","remarks":"",'
     '"meetingtype":102,"meetingid":1210342560,"status":1}}',
     M.Meeting, {"start": 1603877400000, "end": 1603881000000, "meeting_id": 1210342560}, "夕会"),
    ("meeting_notification", '{"msgid":"m1","action":"send","from":"ken","tolist":["icef"],"roomid":"",'
     '"msgtime":1603877328914,"msgtype":"meeting_notification","info":{"content":"张三加入了会议",'
     '"meeting_id":1210342560,"notification_type":1}}',
     M.MeetingNotification, {"notification_type": 1}, "张三加入了会议"),
    ("docmsg", '{"msgid":"9732089160923053207_1603877765","action":"send","from":"ken","tolist":'
     '["icef","test"],"roomid":"wrJawBCQAAStr3jxVxEH","msgtime":1603877765291,"msgtype":"docmsg",'
     '"doc":{"title":"测试&演示客户","doc_creator":"test","link_url":'
     '"https://doc.weixin.qq.com/txdoc/excel?docid=xxx"}}',
     M.DocMsg, {"creator": "test"}, "测试&演示客户\nhttps://doc.weixin.qq.com/txdoc/excel?docid=xxx"),
    ("markdown", '{"msgid":"7546287934688259248_1603875715","action":"send","from":"ken","tolist":'
     '["icef","test"],"roomid":"wr0SfLCgAAgCaCPeM33UNe","msgtime":1603875715782,"msgtype":"markdown",'
     '"info":{"content":"请前往系统查看，谢谢。"}}',
     M.Markdown, {"content": "请前往系统查看，谢谢。"}, "请前往系统查看，谢谢。"),
    ("news", '{"msgid":"118732825779547782215","action":"send","from":"kens","tolist":["icef","test"],'
     '"roomid":"wrErxtDgAA0jgXE5","msgtime":1603876045165,"msgtype":"news","info":{"item":[{"title":'
     '"service ","description":"test","url":"http://xxx","picurl":"https://www.qq.com/xxx.jpg"}]}}',
     M.News, {}, "service \ntest\nhttp://xxx"),
    ("calendar", '{"msgid":"2345881211604379705_1603877680","action":"send","from":"ken","tolist":'
     '["icef","test"],"roomid":"wr2LO0CAAAFrTZCGWWAxBA","msgtime":1603877680795,"msgtype":"calendar",'
     '"calendar":{"title":"xxx业绩复盘会","creatorname":"test","attendeename":["aaa","bbb"],'
     '"starttime":1603882800,"endtime":1603886400,"place":"","remarks":""}}',
     M.Calendar, {"attendees": ["aaa", "bbb"], "start": 1603882800000}, "xxx业绩复盘会"),
    ("mixed", '{"msgid":"DAQQluDa4QUY0On4kYSABAMgzPrShAE=","action":"send","from":"HeMiao","tolist":'
     '["HeChangTian","LiuZeYu"],"roomid":"wr_tZ2BwAAUwHpYMwy9cIWqnlU3Hzqfg","msgtime":1577414359072,'
     '"msgtype":"mixed","mixed":{"item":[{"type":"text","content":"{\\"content\\":\\"你好[微笑]\\\\n\\"}"},'
     '{"type":"image","content":"{\\"md5sum\\":\\"368b6c18c82e6441bfd89b343e9d2429\\",'
     '\\"filesize\\":13177,\\"sdkfileid\\":\\"CtYBMzA2\\"}"}]}}',
     M.Mixed, {}, "你好[微笑]\n"),
    ("meeting_voice_call", '{"msgid":"17952229780246929345_1594197637","action":"send","from":'
     '"wo137MCgAAYW6pIiKKrDe5SlzEhSgwbA","tolist":["wo137MCgAAYW6pIiKKrDe5SlzEhSgwbA"],'
     '"msgtime":1594197581203,"msgtype":"meeting_voice_call","voiceid":"grb8a4c48a3c094a70982c518d55e40557",'
     '"meeting_voice_call":{"endtime":1594197635,"sdkfileid":"CpsBKjAqd0xh","demofiledata":[{"filename":'
     '"65eb1cdd3e7a3c1740ecd74220b6c627.docx","demooperator":"wo137MCgAAYW6pIiKKrDe5SlzEhSgwbA",'
     '"starttime":1594197599,"endtime":1594197609}],"sharescreendata":[{"share":'
     '"wo137MCgAAYW6pIiKKrDe5SlzEhSgwbA","starttime":1594197624,"endtime":1594197624}]}}',
     M.MeetingVoiceCall, {"voice_id": "grb8a4c48a3c094a70982c518d55e40557", "end": 1594197635000},
     "65eb1cdd3e7a3c1740ecd74220b6c627.docx"),
    ("voip_doc_share", '{"msgid":"16527954622422422847_1594199256","action":"send","from":"18002520162",'
     '"tolist":["wo137MCgAAYW6pIiKKrDe5SlzEhSgwbA"],"msgtime":1594199235014,"msgtype":"voip_doc_share",'
     '"voipid":"gr2751c98b19300571f8afb3b74514bd32","voip_doc_share":{"filename":"欢迎使用微盘.pdf.pdf",'
     '"md5sum":"ff893900f24e55e216e617a40e5c4648","filesize":4400654,"sdkfileid":"CpsBKjAq"}}',
     M.VoipDocShare, {"voip_id": "gr2751c98b19300571f8afb3b74514bd32", "attachment.size": 4400654},
     "欢迎使用微盘.pdf.pdf"),
    ("external_redpacket", '{"msgid":"8632214264349267353_1603786184","action":"send","from":'
     '"woJ7ijBwAAmqwojT8r_DaNMbr_NAvaag","tolist":["woJ7ijBwAA6SjS_sIyPLZtyEPJlT7Cfw","tiny-six768"],'
     '"roomid":"wrJ7ijBwAAG1vly_DzVI72Ghc-PtA5Dw","msgtime":1603786183955,"msgtype":"external_redpacket",'
     '"redpacket":{"type":1,"wish":"恭喜发财，大吉大利","totalcnt":2,"totalamount":20}}',
     M.ExternalRedPacket, {"total_amount_fen": 20, "total_count": 2}, "恭喜发财，大吉大利\n红包 ¥0.20"),
    ("sphfeed", '{"msgid":"5702551662099334532_1619511584_external","action":"send","from":"yangzhu1",'
     '"tolist":["wmJSb5CgAA4aWXWndJspQGpJMDbsMwMA"],"roomid":"","msgtime":1619511584444,"msgtype":"sphfeed",'
     '"sphfeed":{"feed_type":4,"sph_name":"云游天地旅行家","feed_desc":"瑞士丨盖尔默缆车"}}',
     M.SphFeed, {"feed_type": 4, "channel_name": "云游天地旅行家"}, "云游天地旅行家\n瑞士丨盖尔默缆车"),
    ("voiptext", '{"msgid":"10950316726562067988_1666601563058","action":"send","from":"icef","tolist":'
     '["WoBeiQi"],"roomid":"","msgtime":1666601558876,"msgtype":"voiptext","info":{"callduration":9,'
     '"invitetype":2}}',
     M.VoipText, {"call_duration_s": 9, "invite_type": 2}, ""),
    ("qydiskfile", '{"msgid":"904076622482680588_1666602581569_external","action":"send","from":"WoBeiQi",'
     '"tolist":["wmYKhyDwAAxda9Vrt7e6h0CgRhRVlGdQ"],"roomid":"","msgtime":1666602577356,'
     '"msgtype":"qydiskfile","info":{"filename":".sys.log"}}',
     M.QyDiskFile, {"filename": ".sys.log"}, ".sys.log"),
]  # fmt: skip


def _get(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize(("name", "raw", "typ", "checks", "text"), CASES, ids=[c[0] for c in CASES])
def test_official_examples(
    name: str, raw: str, typ: type, checks: dict[str, Any], text: str
) -> None:
    msg = normalise_bytes(raw.encode())
    assert type(msg.payload) is typ
    assert msg.kind == name
    for field, expected in checks.items():
        assert _get(msg.payload, field) == expected, field
    assert text_view(msg.payload) == text
    rec = orjson.loads(raw)
    assert msg.source_msg_id == rec["msgid"]
    assert msg.id == "wecom:" + rec["msgid"]
    assert msg.sent_at == rec["msgtime"]
    assert msg.sender == rec["from"]


def test_every_documented_msgtype_has_a_case() -> None:
    covered = {c[0] for c in CASES}
    assert covered == WECOM_MSGTYPES
    # transfer and system come from personal-WeChat imports only (tests/test_imports.py)
    assert set(M.KINDS) - covered == {"switch", "unknown", "transfer", "system"}


def test_switch_is_dispatched_before_msgtype() -> None:
    m = normalise_bytes(
        b'{"msgid":"125289002219525886280","action":"switch","time":1554119421840,"user":"XuJinSheng"}'
    )
    assert isinstance(m.payload, M.Switch)
    assert m.payload.user == "XuJinSheng"
    assert m.sent_at == 1554119421840
    assert m.action == "switch"


def test_chat_type_and_conversation() -> None:
    group = normalise_bytes(CASES[16][1].encode())  # collect, in a room
    assert group.chat == M.ChatType.GROUP
    assert group.conversation == "wrjc7bDwYAOAhf9quEwRRxyyoMm0QAAA"
    direct = normalise_bytes(CASES[0][1].encode())
    assert direct.chat == M.ChatType.DIRECT
    assert direct.conversation == "direct:XuJinSheng|icefog"
    # roomid absent entirely (meeting_voice_call example) is a direct chat, not an error
    mvc = normalise_bytes(CASES[25][1].encode())
    assert mvc.chat == M.ChatType.DIRECT


def test_msgtime_zero_is_flagged() -> None:
    assert M.Flag.MSGTIME_ZERO in normalise_bytes(CASES[1][1].encode()).flags


def test_control_characters_parse_leniently_and_are_kept() -> None:
    raw = (
        b'{"msgid":"c1","action":"send","from":"a","tolist":["b"],"roomid":"","msgtime":1,'
        b'"msgtype":"text","text":{"content":"x\x11y\x14z"}}'
    )
    m = normalise_bytes(raw)
    assert isinstance(m.payload, M.Text)
    assert m.payload.content == "x\x11y\x14z"
    assert M.Flag.LENIENT_JSON in m.flags and M.Flag.CONTROL_CHARS in m.flags


def test_vote_fields_at_top_level() -> None:
    rec = {"msgid": "v", "action": "send", "from": "ken", "tolist": ["icef"], "roomid": "",
           "msgtime": 5, "msgtype": "vote", "votetitle": "主题", "voteitem": ["A", "B"],
           "votetype": 102, "voteid": "9"}  # fmt: skip
    p = normalise(rec).payload
    assert isinstance(p, M.Vote)
    assert (p.title, p.options, p.vote_type, p.vote_id) == ("主题", ["A", "B"], 102, "9")


def test_external_redpacket_under_its_own_key() -> None:
    rec = orjson.loads(CASES[27][1])
    rec["external_redpacket"] = rec.pop("redpacket")
    p = normalise(rec).payload
    assert isinstance(p, M.ExternalRedPacket) and p.total_amount_fen == 20


def test_chatrecord_seconds_become_ms_and_nested_items_parse() -> None:
    p = normalise_bytes(CASES[13][1].encode()).payload
    assert isinstance(p, M.ChatRecord)
    assert [i.sent_at for i in p.items] == [1603875610000, 1603875620000]
    assert isinstance(p.items[0].body, M.Text)


def test_mixed_nested_image_attachment_is_found() -> None:
    p = normalise_bytes(CASES[24][1].encode()).payload
    atts = attachments_of(p)
    assert [a.sdkfileid for a in atts] == ["CtYBMzA2"]
    assert atts[0].size == 13177


def test_broken_nested_content_is_kept_raw_and_flagged() -> None:
    rec = orjson.loads(CASES[13][1])
    rec["chatrecord"]["item"][0]["content"] = "{not json"
    m = normalise(rec)
    assert isinstance(m.payload, M.ChatRecord)
    assert m.payload.items[0].body is None and m.payload.items[0].raw == "{not json"
    assert M.Flag.NESTED_PARSE_ERROR in m.flags


def test_news_old_single_item_shape() -> None:
    rec = {
        "msgid": "n",
        "action": "send",
        "from": "k",
        "tolist": ["i"],
        "roomid": "r",
        "msgtime": 1,
        "msgtype": "news",
        "info": {"title": "T", "url": "http://u", "description": "D"},
    }
    p = normalise(rec).payload
    assert isinstance(p, M.News) and p.items[0].title == "T"  # fmt: skip


def test_quote_reply_is_parsed() -> None:
    content = '这是一条引用/回复消息：\n"张三:\n原来的话"\n------\n我的回复'
    rec = {"msgid": "q", "action": "send", "from": "a", "tolist": ["b"], "roomid": "",
           "msgtime": 1, "msgtype": "text", "text": {"content": content}}  # fmt: skip
    p = normalise(rec).payload
    assert isinstance(p, M.Text)
    assert (p.quote_author, p.quote_text, p.reply) == ("张三", "原来的话", "我的回复")
    assert p.content == content


def test_unknown_msgtype_is_kept_and_flagged() -> None:
    rec = {"msgid": "u1", "action": "send", "from": "a", "tolist": ["b"], "roomid": "",
           "msgtime": 1, "msgtype": "solitaire", "solitaire": {"x": 1}}  # fmt: skip
    m = normalise(rec)
    assert isinstance(m.payload, M.Unknown) and m.payload.msgtype == "solitaire"
    assert M.Flag.UNKNOWN_MSGTYPE in m.flags


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"action":"send","msgtype":"text"}', "msgid is missing"),
        (b'{"msgid":"x",,"msgtype":"text"}', "malformed JSON"),
        (b'{"msgid":"x","msgtype":"text","text":"hello"}', "text.text must be an object"),
        (b'{"msgid":"x","msgtype":"redpacket","redpacket":{"totalamount":"lots"}}',
         "redpacket.totalamount must be a number"),
        (b'{"msgid":"x","msgtype":"redpacket","redpacket":{"totalamount":-5}}',
         "must not be negative"),
        (b'{"msgid":"x","msgtype":"revoke","revoke":{}}', "pre_msgid is missing"),
        (b'{"msgid":"x","tolist":"bob","msgtype":"text"}', "record.tolist must be a list"),
        (b"[1,2]", "expected an object"),
        (b'{"msgid":"x","text":{"content":"\xff\xfe"}}', "not valid UTF-8"),
        (b'{"msgid":', "malformed JSON"),
    ],
)  # fmt: skip
def test_bad_records_name_the_problem(raw: bytes, message: str) -> None:
    with pytest.raises(NormaliseError, match=message):
        normalise_bytes(raw)


def test_errors_do_not_leak_values() -> None:
    secret = "13800138000"
    raw = f'{{"msgid":"x","msgtype":"redpacket","redpacket":{{"totalamount":"{secret}x"}}}}'
    with pytest.raises(NormaliseError) as e:
        normalise_bytes(raw.encode())
    assert secret not in str(e.value)


def test_classify_participant() -> None:
    assert M.classify_participant("wmGAgeDQAAvQeaTqWwkMTxGMkvI7OOuQ") == M.ParticipantKind.EXTERNAL
    assert M.classify_participant("wbjc7bDwAAJVylUKpSA3Z5U11tDO4AAA") == M.ParticipantKind.BOT
    assert M.classify_participant("wolfgang") == M.ParticipantKind.INTERNAL
    assert M.classify_participant("15108264797") == M.ParticipantKind.INTERNAL


# --------------------------------------------------------------------------- fast path

_ANY_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 2**63),
    st.floats(allow_nan=False),
    st.text(max_size=6),
)


@st.composite
def _text_records(draw: st.DrawFn) -> bytes:
    """Text records, mostly well formed, with every field sometimes missing, null, of the
    wrong type or out of range — and sometimes spaced or with a control character."""
    rec: dict[str, Any] = {}

    def maybe(key: str, good: st.SearchStrategy[Any]) -> None:
        choice = draw(st.integers(0, 9))
        if choice < 8:
            rec[key] = draw(good)
        elif choice < 9:
            rec[key] = draw(_ANY_SCALAR)
        # else: missing

    maybe("msgid", st.text(min_size=0, max_size=12))
    maybe("action", st.sampled_from(["send", "", "recall", "switch"]))
    maybe("from", st.text(max_size=8))
    maybe(
        "tolist",
        st.lists(st.one_of(st.text(max_size=6), st.integers(-(2**63), 2**63 - 1)), max_size=4),
    )
    maybe("roomid", st.one_of(st.just(""), st.text(max_size=8)))
    maybe("msgtime", st.integers(-10, 2**53))
    rec["msgtype"] = draw(st.sampled_from(["text", "text", "text", "image", ""]))
    maybe(
        "text",
        st.one_of(
            st.fixed_dictionaries({"content": st.text(max_size=20)}),
            st.fixed_dictionaries({"content": _ANY_SCALAR}),
            st.just({"content": '引用 "李:\n原话"\n------\n回复'}),
            st.just({}),
        ),
    )
    if draw(st.booleans()):
        rec["extra"] = draw(_ANY_SCALAR)
    raw = orjson.dumps(rec)
    mangle = draw(st.integers(0, 9))
    if mangle == 0:
        raw = raw.replace(b'":', b'": ')  # spaced: the fast path's mark does not match
    elif mangle == 1:
        raw = raw.replace(b'"text":{"content":"', b'"text":{"content":"\x01', 1)  # lenient
    return raw


def _general(raw: bytes) -> M.Message | str:
    try:
        obj, flags = parse_record(raw)
        return normalise(obj, "wecom", flags)
    except NormaliseError as e:
        return f"error: {e}"


@settings(max_examples=600, deadline=None)
@given(_text_records())
def test_text_fast_path_equals_the_general_path(raw: bytes) -> None:
    try:
        fast: M.Message | str = normalise_bytes(raw)
    except NormaliseError as e:
        fast = f"error: {e}"
    assert fast == _general(raw)


def test_text_fast_path_takes_well_formed_text_and_leaves_the_rest() -> None:
    good = orjson.dumps({"msgid": "1_1700000000", "action": "send", "from": "a",
                         "tolist": ["b"], "roomid": "", "msgtime": 1700000000000,
                         "msgtype": "text", "text": {"content": "hi"}})  # fmt: skip
    m = _fast_text(good, "wecom")
    assert m is not None and m == _general(good) and m.conversation == "direct:a|b"
    # numbers as strings, an int id, a null room: the general path's lenient readings
    for variant in (
        good.replace(b"1700000000000", b'"1700000000000"'),
        good.replace(b'"1_1700000000"', b"17"),
        good.replace(b'"roomid":""', b'"roomid":null'),
    ):
        assert _fast_text(variant, "wecom") is None
        assert normalise_bytes(variant) == _general(variant)
