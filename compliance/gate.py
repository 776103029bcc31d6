"""The compliance gate: what the pipeline calls before anything reaches a client (the `Gate` Protocol).

    gate = ComplianceGate.from_settings(settings, llm=chat_model_or_None)
    gate.check_inbound(text, ctx)                 -> InboundSignals(signals, hits)
    gate.check_outbound(text, ctx, draft=draft)   -> OutboundResult (a GateResult)

Outbound verdicts (the lexicon's severities; semantic-stage and pinyin-only hits are at most `review`):
- block  -> never sent. `text` is the category's safe alternative (for callers that must send something), `reason`
            and `rewrite_hint` are for the advisor; `original_text` keeps the draft.
- review -> `text` is the safe alternative; the original goes to compliance review.
- warn   -> sent as is (plus a disclosure where due) and tagged.
- allow  -> sent as is, with the risk disclosure appended when the text talks about investment products and has none.
Suitability: `suitability_ok` is False when the draft's product levels (Draft.product_risk_levels, and R-levels the
text itself promotes) exceed the client's C-level, or the client's assessment is missing or expired; the verdict is
then at least `review` and `text` the suitability notice.

Inbound signals (InboundSignals.signals), from the lexicon's `signal` fields:
- complaint          complaint / regulator / lawyer / media / police (escalate at once)
- distress           self-harm or crisis language (escalate at once, highest priority)
- guarantee_request  the client asks for 保本 / guaranteed returns (not a violation: answer with the compliant text)
- prediction_request the client asks whether something will surely rise
- insider_request    the client asks for inside information / tips
- stock_tip_request  the client asks which stock to buy
- trade_request      the client asks us to trade for them
- account_security   passwords / verification codes / stolen account or phone
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.pipeline.schemas import Context, Draft, GateResult, Hit, InboundSignals, Verdict
from compliance import suitability as suitability_rules
from compliance.lexicon import RANK, Lexicon, LexiconStore
from compliance.screening import Screening, ScreenHit, screen

log = logging.getLogger(__name__)

_PRODUCT_TALK = re.compile(r"基金|理财|资管|产品|股票|债券|可转债|收益|净值|申购|认购|定投|投资|行情|涨|跌|ETF|R[1-5]", re.I)
# prompt_version prefixes of replies made only of published knowledge-base content (approved FAQ answers, excerpts of
# published documents, reviewed canned texts): see bot.pipeline.answer.
APPROVED_PROMPTS = ("faq_verbatim@", "extractive@")
_HAS_DISCLOSURE = re.compile(r"投资需谨慎|入市需谨慎|投资有风险|市场有风险|不构成投资建议|不代表未来|风险提示|请谨慎")


class OutboundResult(GateResult):
    """A GateResult that also carries what was screened (for the compliance record) and the details."""

    original_text: str = ""
    categories: tuple[str, ...] = ()
    suitability_code: str = "no_products"


class ComplianceGate:
    """Screens every inbound and outbound text (the pipeline's `Gate`)."""

    def __init__(
        self,
        *,
        lexicon: Lexicon | LexiconStore | str | Path | None = None,
        semantic: Any = None,
        judge: Any = None,
        disclosure: bool = True,
        canned: Any = None,
        timezone: str = "Asia/Shanghai",
    ) -> None:
        if isinstance(lexicon, (str, Path)):
            lexicon = LexiconStore(lexicon)
        self._store = lexicon if isinstance(lexicon, LexiconStore) else None
        self._lexicon = lexicon if isinstance(lexicon, Lexicon) else None
        if self._store is None and self._lexicon is None:
            self._store = LexiconStore()
        self.semantic = semantic
        self.judge = judge
        self.disclosure = disclosure
        if canned is None:
            from prompts import canned as canned_text

            canned = canned_text
        self._canned = canned
        self.timezone = timezone

    @classmethod
    def from_settings(cls, settings: Any, *, llm: Any = None, semantic: bool = True) -> ComplianceGate:
        """The production gate: the packaged lexicon (reloaded when the file changes), the offline semantic stage
        (loaded on first use) and, when an LLM chat model is given, the LLM judge."""
        from compliance.semantic import EmbeddingSemantic, LLMJudge

        return cls(
            lexicon=LexiconStore(),
            semantic=EmbeddingSemantic() if semantic else None,
            judge=LLMJudge(llm) if llm is not None else None,
            timezone=getattr(settings, "scrm_timezone", "Asia/Shanghai"),
        )

    # --- pure screening --------------------------------------------------------------------------------------

    @property
    def lexicon(self) -> Lexicon:
        return self._store.get() if self._store is not None else self._lexicon  # type: ignore[return-value]

    def screen(
        self, text: str, *, direction: str | None = "out", recent: Sequence[str] = (), semantic: bool = True
    ) -> Screening:
        """Screen one text with this gate's lexicon and (for outbound text) its semantic stages."""
        stages = None
        if semantic and direction != "in" and (self.semantic is not None or self.judge is not None):
            from compliance.semantic import Stages

            stages = Stages(self.semantic, self.judge)
        return screen(text, lexicon=self.lexicon, recent=recent, direction=direction, semantic=stages)  # type: ignore[arg-type]

    # --- Gate protocol ---------------------------------------------------------------------------------------

    def check_inbound(self, text: str, ctx: Context) -> InboundSignals:
        """Signals in a client's message (complaint, distress, guarantee_request, ...): never blocks anything."""
        result = self.screen(text, direction="in", recent=self._recent(ctx, roles=("client",)))
        return InboundSignals(signals=result.signals, hits=tuple(_hit(h) for h in result.hits))

    def check_outbound(self, text: str, ctx: Context, *, draft: Draft | None = None) -> OutboundResult:
        """The verdict on a text the product is about to send, and the text that may be sent."""
        lex = self.lexicon
        # Published knowledge-base content was reviewed when it was published: the keyword layers still run (a term
        # slipped into approved content is still caught); the semantic stage, made for free text (LLM answers,
        # advisors' own words, campaign templates), does not second-guess it.
        approved = bool(draft and (draft.prompt_version or "").startswith(APPROVED_PROMPTS))
        result = self.screen(text, direction="out", recent=self._recent(ctx, roles=("bot", "advisor")),
                             semantic=not approved)
        hits = [h for h in result.hits if RANK[h.severity] > 0]
        severity = result.severity
        verdict = Verdict(severity) if severity else Verdict.allow
        described = tuple(draft.product_risk_levels) if draft else ()
        promoted = suitability_rules.promoted_levels(text)
        if suitability_rules.promotes(text):
            promoted = tuple(dict.fromkeys((*promoted, *described)))  # the products it talks about are promoted
        levels = tuple(dict.fromkeys((*described, *promoted)))
        client = ctx.client
        today = _local_date(ctx.now, self.timezone)

        def suitability(product_levels: tuple[str, ...]) -> suitability_rules.Suitability:
            return suitability_rules.check(
                client_level=client.risk_level if client else None,
                assessment_expires=client.risk_assessment_expires if client else None,
                product_levels=product_levels,
                today=today,
            )

        # Recommending or promoting a product the client may not buy is never sent as is; describing one (its risk
        # level, its rules) is, with a notice of what the client's own risk level allows.
        suit = suitability(promoted)
        notice = suitability(tuple(p for p in described if p not in promoted)) if suit.ok else None
        reasons: list[str] = []
        hints: list[str] = []
        categories = tuple(dict.fromkeys(h.category for h in hits))
        if hits:
            names = "、".join(lex.categories[c].name_zh if c in lex.categories else c for c in categories)
            terms = "；".join(f"「{h.matched}」" for h in hits[:6])
            key = {"block": "compliance_reason_block", "review": "compliance_reason_review"}.get(
                str(verdict), "compliance_reason_warn"
            )
            reasons.append(self._canned(key, categories=names, terms=terms))
            for c in categories:
                hint = lex.categories[c].rewrite_hint if c in lex.categories else None
                if hint:
                    hints.append(hint)
            if any(h.layer in ("semantic", "llm") for h in hits):
                hints.append(self._canned("compliance_hint_semantic"))
        if not suit.ok:
            products = "、".join(suit.offending or suit.product_levels)
            if suit.code == "above_level":
                reasons.append(self._canned("compliance_reason_above_level", products=products,
                                            client=suit.client_level, allowed=suit.max_allowed))
            else:
                reasons.append(self._canned(f"compliance_reason_{suit.code}", products=products))
            hints.append(self._canned("compliance_hint_suitability"))
            if RANK[str(verdict)] < RANK["review"]:
                verdict = Verdict.review
        if verdict in (Verdict.block, Verdict.review):
            out_text = self._safe_reply(lex, hits, suit)
        else:
            out_text = self._with_disclosure(text, levels)
            if notice is not None and not notice.ok:
                out_text = f"{out_text}\n{self._suitability_notice(notice)}"
                if notice.code != "assessment_missing" and verdict == Verdict.allow:
                    verdict = Verdict.warn  # tagged for sampling: a product above the client's level was described
        return OutboundResult(
            verdict=verdict,
            text=out_text,
            hits=tuple(_hit(h) for h in hits),
            reason="".join(reasons),
            rewrite_hint="；".join(dict.fromkeys(hints)) or None,
            suitability_ok=suit.ok,
            lexicon_version=lex.version,
            original_text=text,
            categories=categories,
            suitability_code=(f"described_{notice.code}" if suit.ok and notice is not None
                              and notice.code != "no_products" else suit.code),
        )

    def _suitability_notice(self, notice: suitability_rules.Suitability) -> str:
        products = "、".join(notice.offending or notice.product_levels)
        return self._canned(f"compliance_notice_{notice.code}", products=products,
                            client=notice.client_level or "", allowed=notice.max_allowed or "")

    # --- helpers ---------------------------------------------------------------------------------------------

    def _recent(self, ctx: Context, *, roles: tuple[str, ...]) -> list[str]:
        """The sender's last messages inside the lexicon's window (split-message evasion)."""
        window = self.lexicon.spec.sentence_window
        cutoff = ctx.now - timedelta(seconds=window.seconds)
        turns = [t for t in ctx.history if t.role in roles and (t.at is None or t.at >= cutoff)]
        return [t.text for t in turns[-window.messages:]]

    def _safe_reply(self, lex: Lexicon, hits: list[ScreenHit], suit: suitability_rules.Suitability) -> str:
        if hits:
            top = max(hits, key=lambda h: RANK[h.severity])
            key = lex.categories[top.category].safe_reply if top.category in lex.categories else None
            try:
                return self._canned(key or "compliance_safe_generic")
            except Exception:  # noqa: BLE001 - an unknown key in the lexicon must not break sending
                log.error("lexicon names an unknown safe_reply key %r", key)
                return self._canned("compliance_safe_generic")
        if not suit.ok:
            return self._canned("compliance_safe_suitability_mismatch")
        return self._canned("compliance_safe_generic")

    def _with_disclosure(self, text: str, levels: tuple[str, ...]) -> str:
        if not self.disclosure or not text.strip() or _HAS_DISCLOSURE.search(text):
            return text
        if levels:
            return f"{text}\n{self._canned('compliance_disclosure_product', levels='、'.join(levels))}"
        if _PRODUCT_TALK.search(text):
            return f"{text}\n{self._canned('compliance_disclosure')}"
        return text


def _hit(h: ScreenHit) -> Hit:
    return Hit(term=h.term, category=h.category, severity=h.severity, start=h.start, end=h.end)


def _local_date(now: datetime, timezone: str) -> date:
    """Assessment expiry dates are calendar dates in the firm's time zone."""
    if now.tzinfo is None:
        return now.date()
    return now.astimezone(ZoneInfo(timezone)).date()
