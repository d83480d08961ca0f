"""Fictional company and chat content for the demo generator.

Every name, company, product and number here is invented for the demo. Slots in
braces are filled by the generator: {customer} {product} {qty} {price} {date}
{person} {city} {order} {amount}.
"""

from __future__ import annotations

COMPANY = "云杉智能科技有限公司"
COMPANY_EN = "Yunshan Intelligent Technology"
CORP_DOMAIN = "yunshan-tech.com"

DEPARTMENTS = [
    ("管理层", "Management", 4),
    ("销售一部（华东）", "Sales East", 10),
    ("销售二部（华南）", "Sales South", 9),
    ("客户成功部", "Customer Success", 7),
    ("财务部", "Finance", 5),
    ("法务部", "Legal", 3),
    ("研发部", "R&D", 8),
    ("市场部", "Marketing", 4),
]

TITLES = {
    "管理层": ["总经理", "副总经理", "销售副总裁", "首席财务官"],
    "销售一部（华东）": ["销售经理", "大客户经理", "销售代表"],
    "销售二部（华南）": ["销售经理", "大客户经理", "销售代表"],
    "客户成功部": ["客户成功经理", "实施工程师"],
    "财务部": ["财务经理", "会计", "出纳"],
    "法务部": ["法务总监", "法务专员"],
    "研发部": ["研发经理", "软件工程师", "测试工程师"],
    "市场部": ["市场经理", "品牌专员"],
}

SURNAMES = [
    ("王", "Wang"), ("李", "Li"), ("张", "Zhang"), ("刘", "Liu"), ("陈", "Chen"),
    ("杨", "Yang"), ("黄", "Huang"), ("赵", "Zhao"), ("吴", "Wu"), ("周", "Zhou"),
    ("徐", "Xu"), ("孙", "Sun"), ("马", "Ma"), ("朱", "Zhu"), ("胡", "Hu"),
    ("郭", "Guo"), ("何", "He"), ("林", "Lin"), ("罗", "Luo"), ("高", "Gao"),
    ("郑", "Zheng"), ("梁", "Liang"), ("谢", "Xie"), ("宋", "Song"), ("唐", "Tang"),
    ("韩", "Han"), ("冯", "Feng"), ("邓", "Deng"), ("曹", "Cao"), ("彭", "Peng"),
]  # fmt: skip

GIVEN = [
    ("伟", "Wei"), ("芳", "Fang"), ("娜", "Na"), ("敏", "Min"), ("静", "Jing"),
    ("丽", "Li"), ("强", "Qiang"), ("磊", "Lei"), ("洋", "Yang"), ("艳", "Yan"),
    ("勇", "Yong"), ("军", "Jun"), ("杰", "Jie"), ("娟", "Juan"), ("涛", "Tao"),
    ("明", "Ming"), ("超", "Chao"), ("秀英", "XiuYing"), ("霞", "Xia"), ("平", "Ping"),
    ("刚", "Gang"), ("桂英", "GuiYing"), ("建华", "JianHua"), ("晓东", "XiaoDong"),
    ("子涵", "ZiHan"), ("欣怡", "XinYi"), ("浩然", "HaoRan"), ("雨桐", "YuTong"),
    ("思远", "SiYuan"), ("嘉怡", "JiaYi"), ("宇航", "YuHang"), ("晨曦", "ChenXi"),
]  # fmt: skip

CEO_NAME = "陈建国"

CUSTOMERS = [
    ("华辰物流集团", "huachen-logistics.cn", "上海"),
    ("明远精密制造", "mingyuan-mfg.cn", "苏州"),
    ("鼎泰连锁零售", "dingtai-retail.cn", "广州"),
    ("青禾医疗器械", "qinghe-med.cn", "杭州"),
    ("远航汽车配件", "yuanhang-auto.cn", "宁波"),
    ("博川新能源", "bochuan-energy.cn", "深圳"),
]
COMPETITORS = ["海曙科技", "联拓智控", "北辰物联"]
CODENAMES = ["北极星项目", "Project Aurora", "青鸾计划"]

PRODUCTS = [
    "智能网关 G300", "边缘控制器 E10", "能耗监测平台", "设备预测性维护套件",
    "仓储AGV调度系统", "工业视觉质检模块", "云杉IoT平台企业版", "传感器套装 S8",
]  # fmt: skip

CITIES = ["上海", "苏州", "杭州", "广州", "深圳", "宁波", "南京", "无锡"]

# Ordinary business chat (Chinese mostly, some English), internal.
INTERNAL_TEXT = [
    "{person}，{customer}那边的报价单我改好了，麻烦帮忙过一下",
    "明天上午十点开周会，记得带上本周的销售漏斗",
    "{product}的交付排期能不能提前到{date}？客户催得比较紧",
    "收到，我下午跟研发确认一下再回复你",
    "{customer}的合同法务已经审完了，可以走盖章流程了",
    "这个月华东区回款目标还差{amount}万，大家再冲一冲",
    "报销单记得这周五之前提交，财务下周一统一处理",
    "测试环境今晚22点升级，期间平台不可用，请提前通知客户",
    "我把{customer}的需求整理成文档了，放在共享盘里",
    "好的，辛苦了👍",
    "{city}的展会展位已经订好了，物料清单发群里了",
    "客户反馈{product}偶尔掉线，能安排实施工程师上门看看吗",
    "订单号 {order} 的发票已经开出，快递单号稍后发你",
    "季度复盘会改到{date}下午三点，地点在3楼大会议室",
    "新版价格政策请以市场部发布的为准，不要自己承诺折扣",
    "@{person} 帮忙看下这个工单，客户等回复",
    "Let's sync on the {customer} renewal tomorrow morning.",
    "Please update the CRM before Friday, thanks.",
    "The demo of {product} went well, they want a formal quote.",
    "收到，马上处理",
    "今天下午我在客户现场，有事微信留言",
    "发货前请再核对一下数量，上次少发了{qty}台",
    "这个方案我觉得可以，但预算要再压一压",
    "研发那边说{product}的固件{date}发布",
    "订单 {order18} 已发货，顺丰单号 SF{tracking}，请留意签收",
    "{product}固件版本 v{ver} 已推送到测试环境，升级说明见共享盘",
    "周会改线上，腾讯会议号 {mtg}，密码见日历邀请",
    "公司一贯反对性别歧视，招聘只看能力，从不认为女生不适合做销售",
    "忘记密码的话在登录页点“忘记密码”，别在群里发密码",
]

# Ordinary chat with customers (external).
EXTERNAL_TEXT = [
    "您好，我是云杉智能的{person}，之后由我负责贵司的项目对接",
    "{product}的正式报价我已经发到您邮箱了，请查收",
    "我们的标准交付周期是四周，加急的话可以协调到三周",
    "好的，那我们{date}上午十点视频会议，会议链接稍后发您",
    "设备到货了吗？安装有任何问题随时联系我",
    "合同按公司标准模板走，价格以报价单为准",
    "您好，上次说的{qty}台{product}，采购流程走到哪一步了？",
    "感谢您的支持，祝合作愉快！",
    "发票已经寄出，顺丰单号我稍后发您",
    "我们的技术同事明天下午会到{city}现场调试",
    "Hi, this is {person} from Yunshan. Attached is the quote for {product}.",
    "Thanks for the meeting today, I will send the minutes shortly.",
    "价格方面需要走内部审批，我尽快给您答复",
    "好的，收到，谢谢！",
    "平台账号已经开通，初始密码会通过短信单独发给管理员",
    "年度维保合同下个月到期，需要续签的话我安排一下",
    "贵司的采购订单号 {order18} 我们已经收到，预计{date}发货",
    "发票已寄出，京东快递单号 JD{tracking}，请注意查收",
]

CUSTOMER_REPLIES = [
    "好的，收到，我们内部评估一下",
    "价格还能再优惠一点吗？量大的话",
    "设备昨天到了，明天安排安装",
    "请问发票什么时候能开？",
    "你们的方案我们领导比较认可",
    "下周二方便来我们{city}工厂看一下现场吗？",
    "合同我们法务还在审，有问题再联系",
    "OK, please send the updated quote.",
    "谢谢，辛苦了",
    "系统最近偶尔卡顿，能帮忙看看吗",
]

LINKS = [
    (
        "云杉IoT平台 V3.2 发布说明",
        "新增能耗看板与告警规则模板",
        "https://www.yunshan-tech.com/news/v3-2",
    ),
    (
        "工业物联网白皮书2026",
        "市场部整理的行业报告",
        "https://www.yunshan-tech.com/whitepaper/2026",
    ),
    ("客户案例：某物流集团仓储数字化", "案例分享", "https://www.yunshan-tech.com/cases/logistics"),
]

APPROVED_WEAPPS = [
    ("云杉服务台", "wx1a2b3c4d5e6f7081@app", "报修与工单查询"),
    ("腾讯会议", "wx33c4d5e6f7a8b9c0@app", "加入会议"),
]

FILES = [
    ("报价单_{customer}_{date}.pdf", "pdf"),
    ("合同草案_{customer}.docx", "docx"),
    ("实施方案_{product}.pptx", "pptx"),
    ("周报_第{qty}周.xlsx", "xlsx"),
    ("设备清单.xlsx", "xlsx"),
]

STICKERS_WISHES = ["恭喜发财，大吉大利", "辛苦了，喝杯奶茶", "节日快乐"]
