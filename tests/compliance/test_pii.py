"""PII masking for logs and LLM prompts."""

from __future__ import annotations

import logging

import pytest

from compliance.pii import PIIMaskingFilter, mask


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("身份证110101199003071234", "身份证110***********1234"),
        ("证件号11010119900307123X。", "证件号110***********123X。"),
        ("手机13812345678", "手机138****5678"),
        ("电话 138 1234 5678", "电话 138 **** 5678"),
        ("+86-13812345678", "+86-138****5678"),
        ("卡号6222021234567890123", "卡号***************0123"),
        ("卡号 6222 0212 3456 7890", "卡号 **** **** **** 7890"),
        ("座机010-12345678", "座机010-******78"),
        ("邮箱 zhang.san@example.com", "邮箱 z***@example.com"),
        ("全角１３８１２３４５６７８", "全角１３８１２３４５６７８"),
    ],
)
def test_mask(text: str, masked: str) -> None:
    assert mask(text) == masked


@pytest.mark.parametrize("text", ["订单号2026112300001", "价格12.35元", "代码600519", "2026-11-23 09:30", ""])
def test_leaves_other_numbers(text: str) -> None:
    assert mask(text) == text


def test_logging_filter() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "client %s said hi", ("13812345678",), None)
    PIIMaskingFilter().filter(record)
    assert record.getMessage() == "client 138****5678 said hi"
