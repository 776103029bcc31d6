"""Screening throughput on one core, beside a plain Aho-Corasick pass as the floor.

    python bench/bench_compliance.py [--seconds 2] [--semantic]

Measures, in this one process (one core):
- lexicon load time: parse + validate the YAML and build the automata (cold, fresh process state per run);
- short chat messages (the dev compliance set plus generated chat lines, ~20-40 characters): messages/s, chars/s;
- one 5,000-character document (compliant knowledge-base style text with a few violations): documents/s, chars/s;
- the floor: pyahocorasick over the same raw texts with the lexicon's literal terms, no normalisation, no context;
- with --semantic: the offline semantic stage per short message (embedding dominated).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import ahocorasick  # noqa: E402

from compliance.lexicon import DEFAULT_PATH, load_lexicon, parse_spec  # noqa: E402
from compliance.screening import screen  # noqa: E402

DEV = ROOT.parent / "shared" / "eval" / "compliance_dev.jsonl"

CHAT = [
    "您好，请问怎么开通创业板？",
    "这个产品保本吗？",
    "我帮您查一下操作流程，稍等两分钟。",
    "本产品不保本，过往业绩不代表未来表现。",
    "这个固收+可以保 本，期限半年。",
    "放心，这只基金baoben，年底还有分红。",
    "新股申购中签后请在T+2日16:00前确保账户资金充足。",
    "麻烦把交易密码发我一下，我帮您看看持仓。",
    "市场有风险，投资需谨慎，以上内容不构成投资建议。",
    "收到，明天上午十点我在营业部等您。",
]

DOC_PARAGRAPHS = [
    "国债逆回购是一种短期资金借出方式，到期后本金和利息会自动回到您的证券账户，无需手动操作。",
    "开通创业板权限需要满足前20个交易日日均资产不低于10万元，并具备24个月以上的交易经验。",
    "基金的过往业绩不代表未来表现，基金管理人管理的其他基金业绩也不构成本基金业绩表现的保证。",
    "融资融券交易具有杠杆效应，在放大收益的同时也会放大亏损，请您充分了解相关风险后谨慎参与。",
    "可转债申购无需预先缴款，中签后需在T+2日16:00前确保账户资金足额，否则视为放弃认购。",
    "如您忘记交易密码，可在APP「我的-账户安全-重置密码」中自助办理，工作人员不会索要您的密码。",
    "ETF申购赎回清单每个交易日开盘前更新，您可以在交易所官网或基金公司网站查询。",
    "投资者应根据自身风险承受能力选择与之相匹配的产品，产品风险等级高于您的风险等级时将无法购买。",
]
DOC_VIOLATIONS = ["这款产品保 本，收益有保障。", "明天这只票必漲，早盘挂单就行。", "验证码发我一下。"]


def make_document(n_chars: int = 5000) -> str:
    parts: list[str] = []
    i = 0
    while sum(len(p) for p in parts) < n_chars:
        parts.append(DOC_PARAGRAPHS[i % len(DOC_PARAGRAPHS)])
        if i % 10 == 5:
            parts.append(DOC_VIOLATIONS[(i // 10) % len(DOC_VIOLATIONS)])
        i += 1
    return "".join(parts)[:n_chars]


def short_messages() -> list[str]:
    texts = list(CHAT)
    if DEV.exists():
        texts += [json.loads(line)["text"] for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()]
    return texts


def rate(fn, items: list[str], seconds: float) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(items per second, characters per second), best of 3 timed rounds of at least `seconds`/3 each."""
    chars = sum(len(t) for t in items)
    best = 0.0
    for _ in range(3):
        rounds = 0
        start = time.perf_counter()
        while True:
            for t in items:
                fn(t)
            rounds += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds / 3:
                break
        best = max(best, rounds * len(items) / elapsed)
    return best, best * chars / len(items)


def floor_automaton(lex) -> ahocorasick.Automaton:  # type: ignore[no-untyped-def]
    auto = ahocorasick.Automaton()
    for e in lex.entries:
        if e.kind == "literal":
            auto.add_word(e.term, e.term)
    auto.make_automaton()
    return auto


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    parser.add_argument("--semantic", action="store_true", help="also measure the offline semantic stage")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core

    text = DEFAULT_PATH.read_text(encoding="utf-8")
    loads, parses = [], []
    for _ in range(5):
        t0 = time.perf_counter()
        lex = load_lexicon()
        loads.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        parse_spec(text)
        parses.append(time.perf_counter() - t0)
    screen("预热：保本 baoben 宝本", lexicon=lex)  # first-use caches (t2s table, pinyin dictionary, jieba)

    msgs = short_messages()
    doc = make_document()
    auto = floor_automaton(lex)

    def floor(t: str) -> int:
        return sum(1 for _ in auto.iter(t))

    rows = []
    for name, items in (("short messages", msgs), ("5,000-char document", [doc])):
        n, c = rate(lambda t: screen(t, lexicon=lex), items, args.seconds)
        fn, fc = rate(floor, items, args.seconds)
        rows.append((name, len(items), sum(len(t) for t in items) / len(items), n, c, fn, fc))

    print(f"lexicon: {len(lex.entries)} entries, {len(lex.categories)} categories, version {lex.version}")
    print(f"lexicon load, first in the process (incl. t2s + pinyin tables): {loads[0] * 1000:.1f} ms")
    print(f"lexicon load (parse+validate+compile): median {statistics.median(loads) * 1000:.1f} ms "
          f"(YAML parse+validate alone {statistics.median(parses) * 1000:.1f} ms)")
    print()
    print(f"{'workload':<22}{'texts':>6}{'avg chars':>10}{'screen/s':>12}{'chars/s':>14}{'floor AC/s':>13}"
          f"{'floor chars/s':>15}{'ratio':>8}")
    for name, count, avg, n, c, fn, fc in rows:
        print(f"{name:<22}{count:>6}{avg:>10.0f}{n:>12,.0f}{c:>14,.0f}{fn:>13,.0f}{fc:>15,.0f}{fn / n:>7.0f}x")
    hits = screen(doc, lexicon=lex)
    print(f"\n5,000-char document: {len(hits.hits)} hits, severity {hits.severity}")

    if args.semantic:
        from compliance.semantic import EmbeddingSemantic

        sem = EmbeddingSemantic()
        t0 = time.perf_counter()
        sem.find("预热一下模型和示例。")
        warm = time.perf_counter() - t0
        n, c = rate(lambda t: screen(t, lexicon=lex, semantic=sem), msgs[:40], args.seconds)
        print(f"semantic stage: first use (model + {len(sem.texts)} examples) {warm:.2f} s; "
              f"short messages with semantic {n:,.0f}/s ({c:,.0f} chars/s)")


if __name__ == "__main__":
    main()
