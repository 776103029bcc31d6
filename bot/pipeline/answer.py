"""KBAnswerer: the knowledge-base side of the decision (DESIGN.md §2 steps 4-5).

    text, ctx --intent rules--> refuse (polite, still helpful) | escalate (account, complaint, human, out of scope)
              --hybrid search--> FAQ match  -> approved answer verbatim (handoff entry -> escalate with its holding reply)
                              -> passages   -> grounded answer: LLM when configured (checked against the passages),
                                               extractive otherwise; low confidence -> escalate with the best draft

Every outcome carries its sources, a confidence, the prompt version and the R-levels of the products it talks about.
"""

from __future__ import annotations

import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from bot.models.escalation import EscalationReason
from bot.pipeline.intent import Intent, IntentMatch, classify, is_follow_up, normalise
from bot.pipeline.schemas import Action, Context, Draft, Outcome, Source
from knowledge_base.retrieval import Passage
from knowledge_base.text import split_sentences, synonyms
from prompts import canned, load

log = logging.getLogger(__name__)

FAQ_PROMPT = "faq_verbatim@1"
EXTRACTIVE_PROMPT = "extractive@1"
ANSWER_PROMPT_NAME = "kb_answer"


@dataclass(frozen=True)
class Thresholds:
    """Calibrated on the score scale below (0..1): 0.55 x normalised cosine + 0.45 x idf-weighted coverage."""

    faq: float = 0.40  # an FAQ at or above this is answered with its approved answer
    document: float = 0.45  # a document passage at or above this gives a grounded answer
    companion: float = 0.04  # a second FAQ this close to the first is included too (ambiguous match)
    doc_adds: float = 0.2  # a document covering this much more of the question than the FAQ answer supplements it
    faq_bias: float = 0.15  # an FAQ this far behind a document passage is still preferred (approved wording)
    helpful: float = 0.60  # a refusal quotes an FAQ this good when it helps
    dense_floor: float = 0.86  # cosine at or below this counts as no semantic match
    dense_span: float = 0.08  # cosine above floor + span counts as a full semantic match
    unknown_subject: float = 0.60  # a question naming a noun the KB never mentions needs this much to be answered
    rerank_margin: float = 0.25  # FAQs this close to the best FAQ are re-ordered by what exactly they answer
    fit_weight: float = 0.30  # ... by how much of the FAQ's own question the client asks (question_fit)
    entity_weight: float = 0.30  # ... by whether the FAQ names the boards/markets/levels the client names
    kind_weight: float = 0.20  # ... by whether the answer holds the kind of fact asked for (a time, a fee, ...)
    kind_sentence: float = 0.15  # a document sentence holding the kind of fact asked for counts this much more
    cited_slack: float = 0.10  # a document the FAQ answer itself cites supplements it with this much less confidence


@dataclass
class Candidate:
    key: str
    kind: str  # faq | document
    title: str
    score: float
    passages: list[Passage] = field(default_factory=list)
    rank: float = 0.0  # the re-ranking key among near-tied FAQs (score plus fit bonuses)

    @property
    def article(self):  # type: ignore[no-untyped-def]
        return self.passages[0].article

    @property
    def handoff(self) -> bool:
        return bool(self.article and self.article.handoff)

    @property
    def risk_level(self) -> str | None:
        return self.article.risk_level if self.article else None


REFUSAL_TEXT = {
    Intent.refuse_guarantee: "kb_refuse_guarantee",
    Intent.refuse_stock_pick: "kb_refuse_stock_pick",
    Intent.refuse_prediction: "kb_refuse_prediction",
    Intent.refuse_insider: "kb_refuse_insider",
    Intent.refuse_manipulation: "kb_refuse_manipulation",
    Intent.refuse_trade_for_client: "kb_refuse_trade_for_client",
    Intent.refuse_lend_account: "kb_refuse_lend_account",
    Intent.refuse_margin_lending: "kb_refuse_margin_lending",
    Intent.refuse_prompt_injection: "kb_refuse_prompt_injection",
    Intent.refuse_privacy: "kb_refuse_privacy",
    Intent.refuse_assessment_cheat: "kb_refuse_assessment_cheat",
}
# Refusals after which quoting the knowledge base still helps (rules, not advice).
HELPFUL_AFTER = {
    Intent.refuse_guarantee, Intent.refuse_trade_for_client, Intent.refuse_assessment_cheat,
    Intent.refuse_lend_account, Intent.refuse_margin_lending,
}
ESCALATION_REPLY = {
    EscalationReason.account_specific: "kb_holding_account",
    EscalationReason.low_confidence: "kb_holding_low_confidence",
    EscalationReason.out_of_scope: "kb_holding_out_of_scope",
    EscalationReason.complaint: "kb_holding_complaint",
    EscalationReason.requested_human: "kb_holding_human",
    EscalationReason.error: "kb_holding_error",
}

# Phrases that promise an outcome; preceded by a negation they are fine ("不承诺保本").
_PROMISE = re.compile(r"保本|保收益|保证收益|稳赚|包赚|只赚不赔|零风险|无风险|保证.{0,4}(?:盈利|赚|不亏)|一定(?:能|会)?(?:赚|盈利|涨)")
_NEGATION = re.compile(r"(?:不|无|没有|非|未|不会|不能|不得|不承诺|不保证|并不|绝不|任何|均不|都不|谨防|警惕|属于违规)[^，。；！？]{0,8}$")


def promises_returns(text: str) -> bool:
    """True when the text promises a return or safety of capital (a negated phrase does not count)."""
    for match in _PROMISE.finditer(text or ""):
        if not _NEGATION.search(text[max(0, match.start() - 12) : match.start()]):
            return True
    return False


class KBAnswerer:
    """Implements bot.pipeline.schemas.Answerer over a knowledge_base.service.KnowledgeBase."""

    def __init__(
        self,
        kb: Any,
        llm: Any = None,
        *,
        thresholds: Thresholds | None = None,
        llm_timeout_s: float = 15.0,
        search_k: int = 24,
    ) -> None:
        self.kb = kb
        self.llm = llm
        self.thresholds = thresholds or Thresholds()
        self.llm_timeout_s = llm_timeout_s
        self.search_k = search_k
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="llm") if llm is not None else None

    # The decision --------------------------------------------------------------------------------------------------

    def answer(self, text: str, ctx: Context) -> Outcome:
        """Propose an outcome for one client text: answer, refuse, or escalate with the best draft."""
        text = (text or "").strip()
        if not normalise(text):
            return Outcome(action=Action.answer, reply=canned("kb_empty_question"), confidence=1.0,
                           flags=("empty",))
        intent = classify(text)
        query = self.resolve_follow_up(text, ctx)
        candidates = self._candidates(query, ctx)

        if intent.is_refusal:
            return self._refuse(intent, candidates)
        if intent.intent == Intent.requested_human:
            return self._escalate(EscalationReason.requested_human, candidates, intent=intent)
        if intent.intent == Intent.complaint:
            return self._escalate(EscalationReason.complaint, candidates, intent=intent)
        if intent.intent == Intent.account_specific:
            return self._escalate(EscalationReason.account_specific, candidates, intent=intent)
        if intent.intent == Intent.out_of_scope:
            return self._escalate(EscalationReason.out_of_scope, candidates, intent=intent)

        best = self._prefer_faq(candidates)
        unknown = self.kb.unknown_terms(query) if best is not None else []
        if unknown and best.score < self.thresholds.unknown_subject:
            # The question is about something no published article mentions: whatever matched, it is not this.
            return self._escalate(EscalationReason.out_of_scope, candidates, detail="unknown: " + "、".join(unknown))
        if best is None or best.score < min(self.thresholds.faq, self.thresholds.document):
            reason = EscalationReason.out_of_scope if best is None or best.score < 0.25 else EscalationReason.low_confidence
            return self._escalate(reason, candidates)
        if best.kind == "faq" and best.score >= self.thresholds.faq:
            if best.handoff:
                return self._handoff(best)
            return self._faq_answer(best, candidates, query)
        if self.llm is not None:
            return self._llm_answer(query, candidates, ctx)
        return self._extractive_answer(query, candidates)

    def _prefer_faq(self, candidates: list[Candidate]) -> Candidate | None:
        """The best candidate, except that an approved FAQ answer nearly as good as a document passage wins."""
        if not candidates:
            return None
        best = candidates[0]
        if best.kind == "faq":
            return best
        faq = next((c for c in candidates if c.kind == "faq"), None)
        if faq is not None and faq.score >= self.thresholds.faq and faq.score >= best.score - self.thresholds.faq_bias:
            candidates.remove(faq)
            candidates.insert(0, faq)
            return faq
        return best

    def resolve_follow_up(self, text: str, ctx: Context) -> str:
        """A short follow-up ("那创业板呢？") becomes a full question using the client's previous question."""
        if not is_follow_up(text):
            return text
        previous = next(
            (t.text for t in reversed(ctx.history) if t.role == "client" and t.text.strip() and t.text.strip() != text),
            None,
        )
        if previous is None:
            return text
        compact = normalise(text)
        for names in synonyms().entities.values():
            lowered = [n.lower() for n in names]
            new = next((n for n, low in zip(names, lowered, strict=True) if low in compact), None)
            if new is None:
                continue
            prev_norm = previous.lower()
            old = next((n for n, low in zip(names, lowered, strict=True) if low in prev_norm and low not in compact), None)
            if old is not None:
                return re.sub(re.escape(old), new, previous, flags=re.IGNORECASE)
        return f"{previous} {text}"

    # Scoring -------------------------------------------------------------------------------------------------------

    def _semantic(self, cosine: float) -> float:
        th = self.thresholds
        return min(max((cosine - th.dense_floor) / th.dense_span, 0.0), 1.0)

    def _candidates(self, query: str, ctx: Context) -> list[Candidate]:
        """Articles ranked by 0.55 x semantic match + 0.45 x idf-weighted coverage of the question."""
        passages = self.kb.search(query, k=self.search_k, context=ctx)
        grouped: dict[str, Candidate] = {}
        for p in passages:
            cand = grouped.setdefault(p.article_key, Candidate(p.article_key, p.article_kind, p.title, 0.0))
            cand.passages.append(p)
        for cand in grouped.values():
            if cand.kind == "faq":
                dense = max((p.dense - (0.01 if p.chunk_kind == "answer" else 0.0)) for p in cand.passages)
                coverage = max(p.article_coverage for p in cand.passages)
                cand.score = 0.55 * self._semantic(dense) + 0.45 * coverage
            else:
                cand.score = max(0.55 * self._semantic(p.dense) + 0.45 * p.coverage for p in cand.passages)
        ranked = sorted(grouped.values(), key=lambda c: c.score, reverse=True)
        return self._rerank_faqs(query, ranked)

    def _rerank_faqs(self, query: str, ranked: list[Candidate]) -> list[Candidate]:
        """Near-duplicate FAQs (新股中签后怎么缴款 / 新股中签缴款后什么时候能卖) score alike on shared words; among the FAQs
        close to the best one, prefer the one whose own question the client actually asks, that names the same
        board or market, and whose answer holds the kind of fact asked for (最晚 -> a deadline, 几点 -> a time)."""
        th = self.thresholds
        faqs = [c for c in ranked if c.kind == "faq"]
        for c in ranked:
            c.rank = c.score
        if len(faqs) < 2:
            return ranked
        top = faqs[0].score
        # Never trade an FAQ good enough to answer for one that is not.
        floor = max(top - th.rerank_margin, th.faq if top >= th.faq else 0.0)
        close = [c for c in faqs if c.score >= floor]
        if len(close) < 2:
            return ranked
        kinds = asked_kinds(query)
        fit = getattr(self.kb, "question_fit", None)
        ent = getattr(self.kb, "entity_fit", None)
        for c in close:
            bonus = 0.0
            if fit is not None:
                bonus += th.fit_weight * fit(query, c.key)
            if ent is not None:
                bonus += th.entity_weight * ent(query, c.key)
            # (A handoff entry's holding reply hands the question to a person, who gives whatever fact is asked.)
            if kinds and c.article is not None and (c.handoff or holds_kind(c.article.answer, kinds)):
                bonus += th.kind_weight
            c.rank = c.score + bonus
        order = sorted(close, key=lambda c: c.rank, reverse=True)
        slots = [i for i, c in enumerate(ranked) if c in close]
        result = list(ranked)
        for i, c in zip(slots, order, strict=True):
            result[i] = c
        return result

    # Outcomes ------------------------------------------------------------------------------------------------------

    @staticmethod
    def _source(cand: Candidate) -> Source:
        kind = "faq" if cand.kind == "faq" else "document"
        return Source(id=cand.key, title=cand.title, kind=kind, score=round(cand.score, 4))

    def _faq_answer(self, best: Candidate, candidates: list[Candidate], query: str) -> Outcome:
        chosen = [best]
        for other in candidates[1:3]:
            if (
                other.kind == "faq" and not other.handoff and other.score >= self.thresholds.faq
                and best.score - other.score <= self.thresholds.companion
                and best.rank - other.rank <= self.thresholds.companion
            ):
                chosen.append(other)
        parts = [c.article.answer for c in chosen]
        notes = [c.article.risk_note for c in chosen if c.article.risk_note]
        flags = ("faq",) + (("faq_ambiguous",) if len(chosen) > 1 else ())
        # A document that matches the question better than the FAQ adds its specifics (dates, tables, product facts).
        doc = next((c for c in candidates if c.kind == "document"), None)
        faq_cover = max((p.coverage for p in best.passages if p.chunk_kind == "answer"), default=0.0)
        doc_cover = max((p.coverage for p in doc.passages), default=0.0) if doc is not None else 0.0
        # An FAQ answer that refers the client to a document (详见《…》) is completed from it more readily.
        cites = doc is not None and cites_document(best.article.answer, doc.title)
        if doc is not None and (
            doc.score > best.score or doc_cover >= faq_cover + self.thresholds.doc_adds
            or (cites and doc_cover >= faq_cover)
        ):
            text, used, confidence = self._extract(query, [doc])
            if text and confidence >= self.thresholds.document - (self.thresholds.cited_slack if cites else 0.0):
                titles = "、".join(f"《{c.title}》" for c in used)
                parts.append(f"{canned('kb_grounded_intro', title=titles)}\n{text}")
                chosen.extend(used)
                flags += ("document_supplement",)
        computed = price_limit_note(query)
        if computed:
            parts.append(computed)
            flags += ("computed",)
        reply = "\n\n".join(parts)
        if notes:
            reply += "\n" + canned("kb_risk_note", note="；".join(dict.fromkeys(notes)))
        return self._answer_outcome(reply, chosen, confidence=best.score, prompt=FAQ_PROMPT, flags=flags)

    def _answer_outcome(self, reply: str, used: list[Candidate], *, confidence: float, prompt: str,
                        flags: tuple[str, ...]) -> Outcome:
        sources = tuple(self._source(c) for c in used)
        risk_levels = tuple(dict.fromkeys(c.risk_level for c in used if c.risk_level))
        draft = Draft(text=reply, sources=sources, confidence=round(confidence, 4), prompt_version=prompt,
                      product_risk_levels=risk_levels)
        return Outcome(action=Action.answer, reply=reply, draft=draft, sources=sources,
                       confidence=round(confidence, 4), flags=flags, prompt_version=prompt)

    def _handoff(self, best: Candidate) -> Outcome:
        source = self._source(best)
        draft = Draft(text=best.article.answer, sources=(source,), confidence=round(best.score, 4),
                      prompt_version=FAQ_PROMPT, product_risk_levels=tuple(filter(None, [best.risk_level])))
        return Outcome(action=Action.escalate, reply=best.article.answer, draft=draft,
                       reason=EscalationReason.handoff_topic, detail=f"handoff entry {best.key}",
                       sources=(source,), confidence=round(best.score, 4), flags=("handoff",),
                       prompt_version=FAQ_PROMPT)

    def _best_draft(self, candidates: list[Candidate]) -> Draft | None:
        """What an advisor gets to start from: the best FAQ answer or document passage, marked as a draft."""
        if not candidates:
            return None
        best = candidates[0]
        if best.kind == "faq":
            text = best.article.answer
        else:
            text = best.passages[0].text
        source = self._source(best)
        return Draft(text=text, sources=(source,), confidence=round(best.score, 4),
                     prompt_version=FAQ_PROMPT if best.kind == "faq" else EXTRACTIVE_PROMPT,
                     product_risk_levels=tuple(filter(None, [best.risk_level])))

    def _escalate(self, reason: EscalationReason, candidates: list[Candidate], *, intent: IntentMatch | None = None,
                  draft: Draft | None = None, detail: str = "", flags: tuple[str, ...] = ()) -> Outcome:
        draft = draft or self._best_draft(candidates)
        reply = canned(ESCALATION_REPLY.get(reason, "kb_holding_low_confidence"))
        best = candidates[0] if candidates else None
        # A matching handoff entry has a reviewed holding reply written for exactly this situation.
        if best is not None and best.handoff and best.score >= self.thresholds.faq and reason in (
            EscalationReason.account_specific, EscalationReason.complaint
        ):
            reply = best.article.answer
        confidence = round(best.score, 4) if best else 0.0
        extra = (f"intent:{intent.intent.value}",) if intent else ()
        return Outcome(action=Action.escalate, reply=reply, draft=draft, reason=reason,
                       detail=detail or (intent.rule if intent else ""),
                       sources=draft.sources if draft else (), confidence=confidence,
                       flags=(*extra, *flags), prompt_version=draft.prompt_version if draft else None)

    def _refuse(self, intent: IntentMatch, candidates: list[Candidate]) -> Outcome:
        reply = canned(REFUSAL_TEXT[intent.intent])
        sources: tuple[Source, ...] = ()
        best = candidates[0] if candidates else None
        if (
            intent.intent in HELPFUL_AFTER and best is not None and best.kind == "faq" and not best.handoff
            and best.score >= self.thresholds.helpful and not promises_returns(best.article.answer)
        ):
            reply += "\n" + canned("kb_refuse_helpful_suffix", text=best.article.answer)
            sources = (self._source(best),)
        draft = Draft(text=reply, sources=sources, confidence=1.0, prompt_version=FAQ_PROMPT)
        return Outcome(action=Action.refuse, reply=reply, draft=draft, detail=intent.rule, sources=sources,
                       confidence=1.0, flags=(f"refusal:{intent.intent.value.removeprefix('refuse_')}",),
                       prompt_version=FAQ_PROMPT)

    # Grounded answers ----------------------------------------------------------------------------------------------

    def _grounding_passages(self, candidates: list[Candidate], limit: int = 4) -> list[tuple[Candidate, Passage]]:
        picked: list[tuple[Candidate, Passage]] = []
        for cand in candidates[:4]:
            for p in sorted(cand.passages, key=lambda p: p.coverage + p.dense, reverse=True):
                if p.chunk_kind in ("answer", "passage"):
                    picked.append((cand, p))
                    break
            else:
                if cand.kind == "faq" and cand.article is not None:
                    picked.append((cand, cand.passages[0]))
            if len(picked) >= limit:
                break
        return picked

    def _extract(self, query: str, candidates: list[Candidate]) -> tuple[str, list[Candidate], float]:
        """The sentences of the best passages that answer the question, in their order, with a confidence."""
        best_text = ""
        best_used: list[Candidate] = []
        best_conf = 0.0
        best_select = 0.0
        kinds = asked_kinds(query)
        for cand in candidates[:3]:
            if cand.kind != "document":
                continue
            for p in cand.passages[:3]:
                if p.chunk_kind != "passage":
                    continue
                sentences = split_sentences(p.text)
                scored = [(self.kb.coverage(query, f"{cand.title} {p.heading} {s}")
                           + (self.thresholds.kind_sentence if kinds and holds_kind(s, kinds) else 0.0), i, s)
                          for i, s in enumerate(sentences)]
                if not scored:
                    continue
                top = max(score for score, _, _ in scored)
                keep = sorted((i, s) for score, i, s in scored if score >= max(0.2, 0.7 * top))
                text, size = [], 0
                for _, sentence in keep:
                    if size + len(sentence) > 320 and text:
                        break
                    text.append(sentence)
                    size += len(sentence)
                confidence = 0.5 * cand.score + 0.5 * (0.55 * self._semantic(p.dense) + 0.45 * min(top, 1.0))
                # Within a document, the passage that holds the kind of fact asked for (几点 -> a time) wins.
                # The passage's own vector blurs a multi-topic section; which of its sentences answers counts more.
                select = 0.5 * cand.score + 0.5 * (0.4 * self._semantic(p.dense) + 0.6 * min(top, 1.0)) + (
                    self.thresholds.kind_sentence if kinds and any(
                    holds_kind(sentence, kinds) for sentence in text) else 0.0)
                if select > best_select:
                    best_text, best_used, best_conf, best_select = "\n".join(text), [cand], confidence, select
        return best_text, best_used, best_conf

    def _extractive_answer(self, query: str, candidates: list[Candidate]) -> Outcome:
        text, used, confidence = self._extract(query, candidates)
        if not text or confidence < self.thresholds.document:
            draft = None
            if text:
                draft = Draft(text=text, sources=tuple(self._source(c) for c in used), confidence=round(confidence, 4),
                              prompt_version=EXTRACTIVE_PROMPT,
                              product_risk_levels=tuple(filter(None, (c.risk_level for c in used))))
            return self._escalate(EscalationReason.low_confidence, candidates, draft=draft)
        titles = "、".join(f"《{c.title}》" for c in used)
        reply = f"{canned('kb_grounded_intro', title=titles)}\n{text}\n{canned('kb_sources_line', titles=titles)}"
        return self._answer_outcome(reply, used, confidence=confidence, prompt=EXTRACTIVE_PROMPT, flags=("extractive",))

    def _llm_answer(self, query: str, candidates: list[Candidate], ctx: Context) -> Outcome:
        """A grounded answer from the LLM, accepted only if every claim it makes is in the passages."""
        from bot.llm import LLMError, complete

        fallback_text, fallback_used, fallback_conf = self._extract(query, candidates)
        fallback = None
        if fallback_text:
            fallback = Draft(text=fallback_text, sources=tuple(self._source(c) for c in fallback_used),
                             confidence=round(fallback_conf, 4), prompt_version=EXTRACTIVE_PROMPT,
                             product_risk_levels=tuple(filter(None, (c.risk_level for c in fallback_used))))
        grounding = self._grounding_passages(candidates)
        if not grounding:
            return self._escalate(EscalationReason.low_confidence, candidates, draft=fallback)
        prompt = load(ANSWER_PROMPT_NAME)
        numbered = "\n".join(
            f"[{i}] 《{c.title}》{(' ' + p.heading) if p.heading and p.heading != c.title else ''}：" 
            f"{c.article.answer if c.kind == 'faq' else p.text}"
            for i, (c, p) in enumerate(grounding, start=1)
        )
        history = "\n".join(f"{'客户' if t.role == 'client' else '助手'}：{t.text}" for t in ctx.history[-4:]) or "（无）"
        rendered = prompt.render(passages=numbered, history=history, question=query)
        started = time.perf_counter()
        try:
            assert self._pool is not None
            future = self._pool.submit(complete, self.llm, rendered)
            raw = future.result(timeout=self.llm_timeout_s)
        except (FutureTimeout, LLMError, Exception) as exc:  # noqa: B014 - any failure escalates
            log.warning("llm.failed kind=%s seconds=%.2f", type(exc).__name__, time.perf_counter() - started)
            return self._escalate(EscalationReason.low_confidence, candidates, draft=fallback,
                                  detail=f"llm_error:{type(exc).__name__}", flags=("llm_error",))
        answer = (raw or "").strip()
        if not answer or "NO_ANSWER" in answer:
            return self._escalate(EscalationReason.low_confidence, candidates, draft=fallback,
                                  detail="llm_no_answer", flags=("llm_no_answer",))
        sources_text = "\n".join((c.article.answer if c.kind == "faq" else p.text) + c.title for c, p in grounding)
        cited = {int(n) for n in re.findall(r"\[(\d+)\]", answer)}
        clean = re.sub(r"\s*\[\d+\]", "", answer).strip()
        problems = unsupported_claims(clean, sources_text)
        if problems or promises_returns(clean) or not cited or any(n < 1 or n > len(grounding) for n in cited):
            draft = Draft(text=clean, sources=tuple(self._source(c) for c, _ in grounding), confidence=0.0,
                          prompt_version=prompt.ref)
            return self._escalate(EscalationReason.low_confidence, candidates, draft=fallback or draft,
                                  detail="llm_unsupported: " + "; ".join(problems[:3]), flags=("llm_unsupported",))
        used = list({grounding[n - 1][0].key: grounding[n - 1][0] for n in sorted(cited)}.values())
        titles = "、".join(f"《{c.title}》" for c in used)
        reply = f"{clean}\n{canned('kb_sources_line', titles=titles)}"
        confidence = max(c.score for c in used)
        return self._answer_outcome(reply, used, confidence=confidence, prompt=prompt.ref, flags=("llm",))


# What kind of fact a question asks for, and how an answer that gives it looks (question-intent words).
_ASKED_KINDS: tuple[tuple[str, re.Pattern[str], re.Pattern[str]], ...] = (
    ("deadline", re.compile(r"最晚|最迟|截止|截至|几点前|什么时候之前|deadline"),
     re.compile(r"\d{1,2}[:：]\d{2}(?:前|之前|以前)|\d+日(?:前|之前)|截止|最晚|最迟")),
    ("clock", re.compile(r"几点|什么时间|哪个时间|时间段|上班|下班|营业时间|开门|几时|\d{1,2}[:：]\d{2}|[上下]午\d|[早晚]上\d|\d点(?:半|\d)"),
     re.compile(r"\d{1,2}[:：]\d{2}")),
    ("fee", re.compile(r"多少钱|费用|手续费|佣金|费率|收多少|扣多少|利率|利息多少|几个点|万几"),
     re.compile(r"\d(?:[\d.]*)\s*(?:元|%|％)|万分之|千分之")),
    ("duration", re.compile(r"多久|多长时间|几天|多少天|几个交易日|哪天|什么时候|啥时候|何时"),
     re.compile(r"\d+\s*(?:分钟|小时|天|日|个交易日|个工作日|个月|年)|T\+\d|当日|当天|次日|下一个交易日|实时")),
    ("place", re.compile(r"在哪|哪里|哪儿|入口|路径|怎么找"), re.compile(r"“[^”]{2,}-[^”]+”|APP“|营业部")),
    ("count", re.compile(r"几次|几台|几个|多少次|多少个|几家|几道|几只"), re.compile(r"\d+\s*(?:次|台|个|家|道|只)")),
)


def cites_document(answer: str, title: str) -> bool:
    """True when an FAQ answer names the document (《title》, ignoring a trailing （…） remark in the title)."""
    if not answer or not title:
        return False
    short = re.sub(r"[（(][^）)]*[）)]\s*$", "", title).strip()
    return bool(short) and (f"《{short}》" in answer or f"《{title}》" in answer)


def asked_kinds(question: str) -> tuple[str, ...]:
    """The kinds of fact a question asks for (deadline, clock, fee, duration, place, count); may be empty."""
    return tuple(name for name, asked, _ in _ASKED_KINDS if asked.search(question or ""))


def holds_kind(text: str, kinds: tuple[str, ...]) -> bool:
    """True when `text` gives a fact of one of `kinds` (a deadline is what 最晚 asks for, so it is checked first)."""
    patterns = {name: gives for name, _, gives in _ASKED_KINDS}
    if "deadline" in kinds:
        return bool(patterns["deadline"].search(text or ""))
    return any(patterns[k].search(text or "") for k in kinds)


_PRICE = re.compile(r"(?:前收盘价?|收盘价?|昨收|收盘在|收了|前收)[^0-9]{0,4}(\d+(?:\.\d+)?)\s*(?:元|块)|(\d+(?:\.\d+)?)\s*(?:元|块)(?:钱)?的?(?:股票|收盘)")
_LIMIT_WORDS = re.compile(r"涨停|跌停|涨跌停")


def price_limit_note(question: str) -> str | None:
    """When the client gives a previous close and asks for the limit price on a board we know, the computed prices."""
    from decimal import ROUND_HALF_UP, Decimal

    if not _LIMIT_WORDS.search(question):
        return None
    match = _PRICE.search(question)
    if match is None:
        return None
    syn = synonyms()
    found = syn.canonical_terms(question.lower())
    boards = [b for b in syn.price_limits if b in found]
    if len(boards) != 1 or re.search(r"st|风险警示|新股|上市首日|上市第", question.lower()):
        return None
    board = boards[0]
    close = Decimal(match.group(1) or match.group(2))
    limit = Decimal(str(syn.price_limits[board]))
    cent = Decimal("0.01")
    up = (close * (1 + limit)).quantize(cent, rounding=ROUND_HALF_UP)
    down = (close * (1 - limit)).quantize(cent, rounding=ROUND_HALF_UP)
    return canned("kb_price_limit_calc", board=board, percent=f"{limit * 100:.0f}%", close=f"{close:.2f}",
                  up=f"{up:.2f}", down=f"{down:.2f}")


_FACT = re.compile(r"\d+(?:[.:：]\d+)?\s*(?:%|％|元|万|亿|天|日|个月|月|年|小时|分钟|股|手|张|倍|点|次|岁|周岁|个交易日)?|[A-Za-z]+\d+[A-Za-z\d-]*")
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")


def unsupported_claims(answer: str, sources: str) -> list[str]:
    """Facts in an answer that the passages do not contain: every number (with its unit) must appear in them, and
    each sentence must share most of its wording with them."""
    from knowledge_base.text import normalize

    src = normalize(sources)
    problems = []
    for fact in _FACT.findall(normalize(answer)):
        fact = fact.strip()
        if fact and fact not in src:
            number = re.match(r"\d+(?:[.:]\d+)?", fact)
            if number is None or number.group(0) not in src:
                problems.append(f"fact '{fact}' not in sources")
    src_grams = {src[i : i + 2] for i in range(len(src) - 1)}
    for sentence in split_sentences(answer):
        grams = [g for run in _CJK_RUN.findall(sentence) for g in (run[i : i + 2] for i in range(len(run) - 1))]
        if len(grams) >= 6:
            support = sum(g in src_grams for g in grams) / len(grams)
            if support < 0.6:
                problems.append(f"sentence not supported ({support:.0%}): {sentence[:30]}")
    return problems
