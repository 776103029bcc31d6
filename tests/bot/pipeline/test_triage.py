import pytest

from bot.pipeline.triage import asks_for_human


@pytest.mark.parametrize(
    "text",
    ["转人工", "麻烦帮我转接一下人工", "我要人工客服", "人工", "找个真人聊聊", "能不能换个客服经理", "转 人 工", "我想找投顾"],
)
def test_human_requests(text):
    assert asks_for_human(text)


@pytest.mark.parametrize(
    "text",
    ["人工智能板块怎么看", "开户需要什么材料", "佣金是多少", "国债逆回购几点停止交易", "人工费用算在手续费里吗",
     "人工客服几点上班", "人工客服电话是多少"],
)
def test_not_human_requests(text):
    assert not asks_for_human(text)
