"""The vector store: Chroma, embedded under the data dir by default or a server by CHROMA_URL.

The ONLY module that imports chromadb. It owns the collection name, the embedding function and the metadata schema
(`article_key`, `kind`). Vectors are computed by our embedder and passed in explicitly; the collection is also given
an embedding function wrapping it, so Chroma never falls back to its own (downloading) default.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import chromadb
import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.config import Settings as ChromaSettings

from knowledge_base.embeddings import Embedder

log = logging.getLogger(__name__)

COLLECTION_PREFIX = "kb_chunks"
_BATCH = 1000


class KBEmbeddingFunction(EmbeddingFunction[Documents]):
    """Chroma-facing wrapper of our embedder (passage prefix for documents, query prefix for queries)."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder

    def __call__(self, input: Documents) -> Embeddings:
        return list(self._embedder.embed_passages(list(input)))

    def embed_query(self, input: Documents) -> Embeddings:
        return [self._embedder.embed_query(text) for text in input]

    @staticmethod
    def name() -> str:
        return "scrm_kb"

    def get_config(self) -> dict[str, Any]:
        return {"embedder": self._embedder.name}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> "KBEmbeddingFunction":
        from knowledge_base.embeddings import E5Embedder

        return KBEmbeddingFunction(E5Embedder())

    def default_space(self) -> str:  # type: ignore[override]
        return "cosine"


@dataclass(frozen=True)
class VectorHit:
    uid: str
    similarity: float  # cosine similarity, 1 = same direction


class VectorStore:
    def __init__(self, *, path: Path | None, url: str | None, embedder: Embedder) -> None:
        self._path = path
        self._url = url
        self.embedder = embedder
        self._client = None
        self._collection = None
        self._lock = threading.Lock()

    @property
    def collection_name(self) -> str:
        slug = re.sub(r"[^a-zA-Z0-9_-]+", "-", self.embedder.name).strip("-")[:40]
        return f"{COLLECTION_PREFIX}__{slug}"

    def _coll(self):  # type: ignore[no-untyped-def]
        if self._collection is None:
            with self._lock:
                if self._collection is None:
                    settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
                    if self._url:
                        parsed = urlparse(self._url)
                        self._client = chromadb.HttpClient(
                            host=parsed.hostname or "127.0.0.1",
                            port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                            ssl=parsed.scheme == "https",
                            settings=settings,
                        )
                    else:
                        assert self._path is not None
                        self._path.mkdir(parents=True, exist_ok=True)
                        self._client = chromadb.PersistentClient(path=str(self._path), settings=settings)
                    self._collection = self._client.get_or_create_collection(
                        name=self.collection_name,
                        embedding_function=KBEmbeddingFunction(self.embedder),
                        configuration={"hnsw": {"space": "cosine"}},
                    )
        return self._collection

    def count(self) -> int:
        return self._coll().count()

    def existing(self, uids: list[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(uids), _BATCH):
            found.update(self._coll().get(ids=uids[i : i + _BATCH], include=[])["ids"])
        return found

    def all_ids(self) -> set[str]:
        return set(self._coll().get(include=[])["ids"])

    def add(self, uids: list[str], texts: list[str], metadatas: list[dict[str, Any]]) -> int:
        """Embed and store the chunks not stored yet; returns how many were embedded."""
        if not uids:
            return 0
        have = self.existing(uids)
        todo = [i for i, uid in enumerate(uids) if uid not in have]
        for start in range(0, len(todo), 256):
            part = todo[start : start + 256]
            vectors = self.embedder.embed_passages([texts[i] for i in part])
            self._coll().upsert(
                ids=[uids[i] for i in part],
                embeddings=[np.asarray(v, dtype=np.float32) for v in vectors],
                metadatas=[metadatas[i] for i in part],
            )
        return len(todo)

    def add_vectors(self, uids: list[str], vectors: np.ndarray, metadatas: list[dict[str, Any]]) -> None:
        """Store precomputed vectors (benchmarks, bulk loads)."""
        for i in range(0, len(uids), _BATCH * 5):
            self._coll().upsert(
                ids=uids[i : i + _BATCH * 5],
                embeddings=[np.asarray(v, dtype=np.float32) for v in vectors[i : i + _BATCH * 5]],
                metadatas=metadatas[i : i + _BATCH * 5],
            )

    def delete(self, uids: list[str]) -> None:
        for i in range(0, len(uids), _BATCH):
            self._coll().delete(ids=uids[i : i + _BATCH])

    def query(self, vector: np.ndarray, k: int) -> list[VectorHit]:
        try:
            result = self._coll().query(
                query_embeddings=[np.asarray(vector, dtype=np.float32)], n_results=k, include=["distances"]
            )
        except Exception:  # fewer vectors than k (or none): ask for what there is
            total = self.count()
            if total == 0:
                return []
            result = self._coll().query(
                query_embeddings=[np.asarray(vector, dtype=np.float32)], n_results=min(k, total), include=["distances"]
            )
        ids = result["ids"][0]
        distances = result["distances"][0] if result.get("distances") else [1.0] * len(ids)
        return [VectorHit(uid=uid, similarity=1.0 - float(d)) for uid, d in zip(ids, distances, strict=True)]
