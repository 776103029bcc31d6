"""Cheap rule-based intents that decide before (or instead of) the knowledge base.

Each rule is a family of regular expressions over the normalised text (full-width folded, lower case, no spaces).
Refusal intents are requests the bot must not fulfil whatever the knowledge base says: guaranteed returns, stock picks
and market calls, insider tips, trading on the client's behalf, lending or renting accounts, 配资, prying into another
person's account, answering the risk questionnaire for the client, and instructions that try to override the bot's
rules or reveal its prompt. Escalation intents: asks for a person, complaint, the client's own account data, topics
the brokerage does not offer.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum


class Intent(StrEnum):
    question = "question"
    requested_human = "requested_human"
    complaint = "complaint"
    account_specific = "account_specific"
    out_of_scope = "out_of_scope"
    refuse_guarantee = "refuse_guarantee"
    refuse_stock_pick = "refuse_stock_pick"
    refuse_prediction = "refuse_prediction"
    refuse_insider = "refuse_insider"
    refuse_trade_for_client = "refuse_trade_for_client"
    refuse_lend_account = "refuse_lend_account"
    refuse_margin_lending = "refuse_margin_lending"  # 场外配资
    refuse_prompt_injection = "refuse_prompt_injection"
    refuse_privacy = "refuse_privacy"
    refuse_assessment_cheat = "refuse_assessment_cheat"
    refuse_manipulation = "refuse_manipulation"

    @property
    def is_refusal(self) -> bool:
        return self.value.startswith("refuse_")


@dataclass(frozen=True)
class IntentMatch:
    intent: Intent
    rule: str = ""  # the matched text, for logs and flags

    @property
    def is_refusal(self) -> bool:
        return self.intent.is_refusal


_PEOPLE = r"(?:老婆|老公|妻子|丈夫|爱人|媳妇|对象|女朋友|男朋友|爸|妈|父亲|母亲|儿子|女儿|孩子|朋友|同事|家人|别人|他人|亲戚|兄弟|姐妹|哥哥|姐姐|弟弟|妹妹|客户|邻居|领导)"
_TRADE_VERBS = r"(?:下单|下个单|买入|买进|买|卖出|卖掉|卖|抛|操作|交易|申购|赎回|挂单|撤单|打新|抢筹|清仓|建仓|加仓|减仓|补仓|止损|做t|炒股|炒)"
_ASSET = r"(?:股票|个股|股|票|基金|etf|债|板块|标的|代码|牛股|黑马)"

# Order matters: the first matching family wins. Refusals come first: a request for a stock pick stays a refusal even
# when it also says "帮我".
RULES: list[tuple[Intent, list[str]]] = [
    (Intent.refuse_prompt_injection, [
        r"(?:忽略|无视|忘记|忘掉|绕过|跳过|不要管|别管|抛开|取消|解除|关闭|突破)(?:掉)?(?:你|你的|之前|以上|前面|上面|所有|全部|一切|系统)?的?.{0,8}(?:设定|规则|指令|限制|提示|要求|约束|身份|合规|规定|审查|过滤|准则)",
        r"ignore(?: all| any| your| the)? (?:previous|prior|above|rules|instructions)",
        r"system ?prompt|developer mode|jailbreak|越狱|开发者模式|dan模式",
        r"(?:提示词|prompt|系统提示|系统指令|系统设定|内部规则|初始指令|你的指令|你的设定|底层规则|预设指令)",
        r"(?:扮演|假装|假设你是|你现在是|现在你是|从现在起你是).{0,12}(?:没有限制|不受限制|无限制|不受约束|分析师|荐股|老师|股神|操盘手|内幕|庄家)",
        r"(?:不用|不必|无需|别)(?:管|考虑|遵守)(?:合规|规则|监管|风险提示)",
    ]),
    (Intent.refuse_insider, [
        r"内幕|内部消息|小道消息|内线消息|内部渠道|提前知道.{0,6}(?:消息|公告|业绩|利好)|未公开(?:的)?(?:信息|消息)|利好消息.{0,6}(?:提前|透露)|透露.{0,6}(?:消息|利好)",
    ]),
    (Intent.refuse_manipulation, [
        r"操纵股价|拉升股价|坐庄|对倒|洗钱|刷量|虚假申报|联合.{0,4}(?:炒作|拉升)",
    ]),
    (Intent.refuse_margin_lending, [
        r"配资|垫资|(?:[0-9一二三四五六七八九十几]+|多少)倍杠杆|杠杆炒股|加杠杆炒|借(?:给我|我)?(?:点|些)?(?:钱|资金)(?:给我)?(?:去)?炒股|场外融资",
    ]),
    (Intent.refuse_lend_account, [
        r"(?:账户|账号|股票户|证券户|资金户|户头|身份证).{0,8}(?:借给|借别人|出借|出租|租给|转借|转让给|卖给|给别人用|给他人用|让别人用|给朋友用|让朋友用|借用|共用|共享)",
        r"(?:借|租|买|用)(?:别人|他人|朋友|亲戚|家人)的?(?:账户|账号|身份证|户头)",
        r"(?:出借|出租|租借|买卖|收购)(?:证券|股票)?(?:账户|账号|户头)",
        r"代持",
        _PEOPLE + r"(?:想|要|能|可以|准备)?(?:用|借用|使用|操作|登录|登陆|借)(?:一下)?(?:我|我们|我家)的?(?:证券|股票|资金)?(?:账户|账号|户头)",
    ]),
    (Intent.refuse_privacy, [
        r"(?:查|查询|看|看看|告诉我|调取|打印|导出|登录|登陆|改|修改|重置).{0,8}" + _PEOPLE + r"的?.{0,8}(?:账户|账号|余额|持仓|资金|交易记录|成交|密码|信息|资料|手机号|身份证|收益)",
        _PEOPLE + r"的?(?:证券|股票)?(?:账户|账号)?的?(?:余额|持仓|资金|密码|交易记录)(?:是|有|还有)?(?:多少|什么|几)",
    ]),
    (Intent.refuse_assessment_cheat, [
        r"(?:帮|替|代|给)(?:我)?(?:答|做|填|完成|回答|测|写)(?:一下|下)?.{0,8}(?:测评|问卷|题目|风险评估|考试|知识测试)",
        r"(?:测评|问卷|知识测试|考试).{0,6}(?:答案|标准答案|怎么答才|怎么选才|怎么填才)",
        r"怎么(?:答|选|填|做).{0,10}(?:才能|才可以|能|可以).{0,6}(?:c4|c5|积极|高一点|高等级|通过|开通)",
    ]),
    (Intent.refuse_trade_for_client, [
        r"(?:帮|替|代|给)(?:我|俺)?(?:们)?(?:下单|下个单|买入|买进|买|卖出|卖掉|卖|抛|操作|交易|申购|赎回|挂单|撤单|打新|清仓|建仓|加仓|减仓|补仓|止损|做t|炒股|转账|理财|打理)",
        r"代(?:客|我|为)?(?:操作|理财|炒股|交易|下单|买卖|打理)|全权委托|委托你们?(?:炒|操作|管理|打理)",
        r"(?:帮|替|代|给)(?:我|俺)(?:们)?把.{0,16}(?:买入|买进|买了|买|卖出|卖掉|卖了|卖|抛|清仓|清掉|赎回|申购|转走|转出|撤)",
        r"(?:账户|钱|资金).{0,6}(?:交给|给)(?:你们?|客服|助手).{0,6}(?:打理|操作|管理|炒)",
        r"你(?:们)?(?:能|可以|会)?(?:直接)?(?:帮|替)?(?:我)?(?:下单|操作账户|买卖股票)(?:吗|么)?$",
    ]),
    (Intent.refuse_guarantee, [
        r"保本|保收益|保息|保底|保证(?:的)?(?:收益|回报|本金|不亏|赚|盈利)|收益(?:有)?保证|稳赚|稳赢|包赚|只赚不赔|稳赚不赔|不会亏|不亏(?:本|钱)|零风险|无风险(?:的)?(?:理财|产品|投资|收益|高收益)|保证(?:能|会)?(?:涨|赚)",
        r"保证(?!金)[^，。,？?！!]{0,6}(?:赚|收益|盈利|回报|不亏|涨)",
        # Sharing gains or bearing losses with the client (约定分享收益或分担损失) is a promise on returns too.
        r"(?:亏了|亏损|赔了|亏的).{0,6}(?:算你|你们?(?:承担|赔|负责|兜底)|公司(?:承担|赔))|"
        r"(?:赚了|盈利|赚的|收益).{0,8}(?:分成|分你|分给你|五五分|三七分|对半分)|分担损失|利润分成|收益分成",
        r"(?:承诺|确保|担保)(?:一下)?(?:收益|回报|年化|本金|不亏|盈利)|(?:一定|肯定|绝对)(?:能|会|可以)?(?:赚|盈利|回本|不亏)",
        r"(?:翻倍|翻番|百分百|100%)(?:的)?(?:收益|赚|回报)|稳涨|稳定上涨的|只涨不跌",
    ]),
    (Intent.refuse_stock_pick, [
        r"(?:推荐|荐)(?:我|俺|一下)?.{0,8}(?:股票|个股|股|票|牛股|黑马|金股|基金|etf|板块|理财)",
        r"(?:说|讲|给|告诉|报|来|发)(?:我|俺)?(?:一|几|两|三|五)?(?:个|只|支|些)(?:好的|好|能涨的|会涨的|要涨的|赚钱的|靠谱的|值得买的|优质的|热门的|稳的|稳涨的|潜力|翻倍的)?.{0,4}(?:股票|个股|股|票|牛股|黑马|金股|基金|etf|板块)",
        r"荐股|(?:买|选|挑)(?:哪只|哪个|哪些|什么)(?:股票|股|票|基金|板块|etf)|(?:哪只|哪个|哪些|什么)(?:股票|股|票|基金|板块|etf).{0,6}(?:好|能涨|会涨|能买|值得|赚钱|最好|推荐|靠谱)",
        r"(?:帮|给)(?:我)?(?:选|挑|推荐|配置|搭配)(?:一下|几)?.{0,4}" + _ASSET,
        r"(?:现在|目前|今天|明天|这时候|这个位置|这个价|这只|这支|这个股|此时|当前|马上|这会儿)(?:还)?(?:能|可以|适合|值得|该|应该|要不要|能不能|可不可以)(?:买入|买|入手|抄底|加仓|卖|卖出|抛|清仓|割肉|止损)(?:吗|么|不|呢|\?|？)",
        r"值(?:不值)?得(?:买|投资|入手|持有)|该不该(?:买|卖|抛|割|加仓)|要不要(?:买|卖|抛|割|加仓|止损)|能不能抄底|(?:还能|还会|会不会|能不能)(?:涨|跌|回本)|目标价|买点|卖点",
    ]),
    (Intent.refuse_prediction, [
        r"(?:明天|后天|下周|今天|今年|明年|年底|未来|接下来|近期|下半年|节后|本周|这周|下个月|短期|中长期)?.{0,4}(?:大盘|股市|a股|指数|行情|市场|上证|沪指|深成指|创业板指|科创50|基金|股价|板块).{0,8}(?:涨还是跌|会涨|会跌|能涨|涨吗|跌吗|走势|怎么走|会怎样|能到|点位|见底|见顶|牛市|熊市|预测|反弹|方向)",
        r"(?:预测|判断|分析)(?:一下)?.{0,6}(?:走势|行情|大盘|涨跌|后市)",
    ]),
    (Intent.complaint, [
        r"(?:我|俺)(?:要|想|必须|一定要|得|现在就|就要)?(?:投诉|举报|起诉|告你们)(?!.{0,12}(?:多久|渠道|流程|怎么|如何|哪里|哪儿|电话|方式|时限|时效|多长|多少天|途径|找谁|什么))",
        r"(?:态度|服务)(?:太|很|真|非常|特别)?(?:差|恶劣|烂)|(?:骗子|坑人|坑钱|垃圾券商|太差劲|忍无可忍|气死|无语死)|(?:要求|必须|给我)赔偿|赔(?:偿)?我(?:的)?(?:损失|钱)|曝光你们|找记者|12386.{0,4}(?:投诉|举报)你们",
        r"(?:对|对你们的?)(?:处理|服务|结果|回复).{0,4}(?:不满|很不满|非常不满|不满意)",
    ]),
    (Intent.requested_human, [
        r"(?:转|接|找|要|换|叫|联系|请|帮我转|给我转)(?:个|一下|一个|下)?(?:人工|真人|活人|专人|客服人员|人工客服|服务经理|客户经理|投顾|投资顾问)(?!.{0,6}(?:时间|几点|上班|电话|多少|怎么联系|什么时候))",
        r"^(?:人工|人工服务|人工客服|转人工|真人)[!！。.?？]*$|不要机器人|不想和机器人|别用机器人|你是机器人.{0,4}(?:换|找)人",
    ]),
    (Intent.account_specific, [
        r"(?:查|查询|查下|查一下|看|看看|看一下|核实|确认|核对)(?:一下|下)?(?:我|本人)(?:的|名下)?.{0,12}(?:余额|资金|持仓|仓位|股票|成交|委托|订单|盈亏|收益|资产|市值|佣金|费率|额度|中签|配号|权限|账户|转账|记录|申请|进度|状态|结果|分红|利息)",
        r"(?:我|本人)(?:的)?(?:账户|账号|资金账户|证券账户|股票账户)?(?:里|上|中)?(?:的)?(?:余额|可用资金|可取资金|资金|钱|持仓|仓位|资产|市值|收益|盈亏|佣金|费率|额度)(?:还有|还剩|有|是|剩|现在|目前)?(?:多少|几|哪些|什么|怎么样)",
        r"(?:我|本人)(?:的)?(?:账户|账号|资金账户|证券账户|股票账户)(?:里|上)?(?:还有|还剩|有|剩)(?:多少|几)",
        r"(?:调|降|下调|调低|调整|降低|优惠|改|修改)(?:一下|下)?(?:我的?)?(?:佣金|费率|手续费)|(?:我的?)(?:佣金|费率|手续费).{0,6}(?:调|降|改|低一点|优惠)|(?:佣金|费率).{0,4}(?:调到|降到|改成|改到)",
        r"(?:我的?|本人)(?:账户|账号|资金|钱|股票|订单|委托|开户申请|申请|转账).{0,8}(?:冻结|被限制|限制交易|异常|被盗|盗了|不能用|用不了|没到账|未到账|还没到|不见了|少了|被扣|扣了|没成交|为什么没|为啥没|还没通过|没通过|被拒)",
        r"(?:钱|资金|款|转账|转的钱|转出的钱|转入的钱).{0,10}(?:没到账|未到账|还没到|没收到|不见了|少了|丢了|扣了.{0,6}没)",
        r"(?:账户|账号).{0,6}(?:被冻结|冻结了|被限制|限制了|异常|被盗|被锁|被封)",
    ]),
    (Intent.out_of_scope, [
        r"美股|美国股票|美国市场|纳斯达克|纽交所|道琼斯|标普500(?:个股)?|商品期货|期货开户|期货账户|外汇|炒汇|比特币|以太坊|虚拟货币|加密货币|数字货币|币圈|彩票|房贷|车贷|信用卡|保险理赔|黄金期货|原油期货|p2p",
    ]),
]

_COMPILED = [(intent, [re.compile(p) for p in patterns]) for intent, patterns in RULES]
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    return _SPACE.sub("", unicodedata.normalize("NFKC", text or "").lower())


_HOW_TO = re.compile(r"(?:怎么|怎样|如何|在哪|哪里|哪儿|从哪|去哪)(?:才能|能|可以)?(?:查|看|查询|查看|找到)")


def classify(text: str) -> IntentMatch:
    """The first matching rule family, or `question`."""
    compact = normalise(text)
    how_to = bool(_HOW_TO.search(compact))
    for intent, patterns in _COMPILED:
        if intent == Intent.account_specific and how_to:
            continue  # "怎么查看我的持仓" asks how, which the knowledge base answers
        for pattern in patterns:
            match = pattern.search(compact)
            if match:
                return IntentMatch(intent, match.group(0))
    return IntentMatch(Intent.question)


_FOLLOW_UP = re.compile(r"^(?:那|那么|那如果|如果是|换成|要是|还有|那要是|那对于|对于|关于)?(.{1,14}?)(?:呢|的呢|怎么样|怎么算|又是怎样|又如何|如何)?[?？。!！]*$")
_FOLLOW_UP_HEAD = re.compile(r"^(?:那|那么|那如果|如果是|换成|要是|还有|那要是|那对于)")
_FOLLOW_UP_TAIL = re.compile(r"(?:呢|怎么样|又如何|也是吗|也一样吗|也可以吗|也行吗)[?？。!！]*$")


def is_follow_up(text: str) -> bool:
    """A short elliptical question that leans on the previous one ("那创业板呢？", "港股通也一样吗")."""
    compact = normalise(text)
    return len(compact) <= 16 and bool(_FOLLOW_UP_HEAD.search(compact) or _FOLLOW_UP_TAIL.search(compact))
