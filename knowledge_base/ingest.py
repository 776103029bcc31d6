"""Loading and chunking: FAQ YAML and documents (.md with front matter, .txt, .pdf, .docx) into ArticleData, and
ArticleData into chunks.

Loaders: PyYAML (with line marks), python-frontmatter, pypdf and docx2txt (the libraries LangChain's own loaders wrap),
LangChain's Markdown-header and recursive character splitters with Chinese sentence separators. Every problem is an
`IngestProblem` naming the file and, where known, the line.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from bot.models.kb import ArticleKind, ChunkKind
from knowledge_base.text import content_hash

FAQ_SUFFIXES = (".yaml", ".yml")
DOC_SUFFIXES = (".md", ".markdown", ".txt", ".pdf", ".docx")
SUPPORTED = FAQ_SUFFIXES + DOC_SUFFIXES
_KEY = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")
_RISK = re.compile(r"^R[1-5]$")
CHUNK_SIZE = 320
CHUNK_OVERLAP = 40
CHINESE_SEPARATORS = ["\n\n", "\n", "。", "！", "？", "；", "!", "?", ";", "，", ",", " ", ""]


@dataclass
class IngestProblem(Exception):
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


@dataclass
class ArticleData:
    """Everything one version of an article holds; what import, the API and the CLI exchange."""

    key: str
    kind: ArticleKind
    title: str
    answer: str = ""
    body: str = ""
    similar_questions: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    category: str | None = None
    risk_level: str | None = None
    risk_note: str | None = None
    handoff: bool = False
    doc_type: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    effective_on: date | None = None
    expires_on: date | None = None
    source_path: str | None = None
    line: int | None = None  # where it starts in its file, for error messages

    def content_hash(self) -> str:
        """What decides whether a re-import changed anything (the source path and line do not count)."""
        data = asdict(self)
        for volatile in ("source_path", "line"):
            data.pop(volatile)
        return content_hash(sorted((k, str(v)) for k, v in data.items()))


@dataclass(frozen=True)
class ChunkData:
    kind: ChunkKind
    ord: int
    text: str  # what is shown and quoted
    heading: str = ""
    embed_text: str = ""  # what is embedded and tokenized (text with its title and heading)

    def uid(self, key: str) -> str:
        digest = hashlib.sha1(f"{self.kind}\x1f{self.embed_text}".encode()).hexdigest()[:16]
        return f"{key}:{digest}"


# Validation -----------------------------------------------------------------------------------------------------------


def _as_date(value: Any, *, name: str, path: str, line: int | None) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise IngestProblem(path, f"'{name}' must be a date YYYY-MM-DD, got {value!r}", line) from None


def _as_str_list(value: Any, *, name: str, path: str, line: int | None) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        return [v.strip() for v in re.split(r"[,，;；]", value) if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise IngestProblem(path, f"'{name}' must be a list of strings", line)
    return [str(v).strip() for v in value if str(v).strip()]


def _risk(value: Any, *, path: str, line: int | None) -> str | None:
    if value in (None, ""):
        return None
    text = str(value).strip().upper()
    if not _RISK.match(text):
        raise IngestProblem(path, f"'risk_level' must be one of R1-R5, got {value!r}", line)
    return text


def validate_key(key: Any, *, path: str, line: int | None) -> str:
    if not isinstance(key, (str, int)) or not _KEY.match(str(key)):
        raise IngestProblem(path, f"'id' must be 1-128 letters, digits or _.:- (got {key!r})", line)
    return str(key)


def faq_from_mapping(entry: Any, *, path: str, line: int | None) -> ArticleData:
    """Validate one FAQ entry (the DESIGN.md §3 format)."""
    if not isinstance(entry, dict):
        raise IngestProblem(path, "an FAQ entry must be a mapping with id, question, answer", line)
    missing = [f for f in ("id", "question", "answer") if not str(entry.get(f) or "").strip()]
    if missing:
        raise IngestProblem(path, f"FAQ entry lacks {', '.join(missing)}", line)
    for text_field in ("question", "answer"):
        if not isinstance(entry[text_field], str):
            raise IngestProblem(path, f"'{text_field}' must be text", line)
    handoff = entry.get("handoff", False)
    if handoff not in (True, False, None):
        raise IngestProblem(path, f"'handoff' must be true or false, got {handoff!r}", line)
    known = {"id", "question", "similar_questions", "answer", "tags", "category", "risk_note", "handoff", "risk_level",
             "effective", "expires", "effective_on", "expires_on"}
    return ArticleData(
        key=validate_key(entry["id"], path=path, line=line),
        kind=ArticleKind.faq,
        title=entry["question"].strip(),
        answer=entry["answer"].strip(),
        similar_questions=_as_str_list(entry.get("similar_questions"), name="similar_questions", path=path, line=line),
        tags=_as_str_list(entry.get("tags"), name="tags", path=path, line=line),
        category=str(entry["category"]).strip() if entry.get("category") else None,
        risk_level=_risk(entry.get("risk_level"), path=path, line=line),
        risk_note=str(entry["risk_note"]).strip() if entry.get("risk_note") else None,
        handoff=bool(handoff),
        effective_on=_as_date(entry.get("effective", entry.get("effective_on")), name="effective", path=path, line=line),
        expires_on=_as_date(entry.get("expires", entry.get("expires_on")), name="expires", path=path, line=line),
        meta={k: _plain(v) for k, v in entry.items() if k not in known},
        source_path=path,
        line=line,
    )


def _plain(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# Loaders --------------------------------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    path: str
    articles: list[ArticleData] = field(default_factory=list)
    problems: list[IngestProblem] = field(default_factory=list)


def discover(paths: list[str | Path]) -> tuple[list[Path], list[IngestProblem]]:
    """Files to import: the given files, and supported files under the given folders (recursively, sorted)."""
    files: list[Path] = []
    problems: list[IngestProblem] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(
                p for p in sorted(path.rglob("*"))
                if p.is_file() and p.suffix.lower() in SUPPORTED
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
                and p.name.lower() not in ("readme.md", "readme.txt")
            )
        elif path.is_file():
            if path.suffix.lower() in SUPPORTED:
                files.append(path)
            else:
                problems.append(IngestProblem(str(path), f"unsupported file type '{path.suffix}' (use {', '.join(SUPPORTED)})"))
        else:
            problems.append(IngestProblem(str(path), "no such file or folder"))
    return list(dict.fromkeys(files)), problems


def load_file(path: Path) -> LoadResult:
    """Parse one file into articles; problems are collected, never raised."""
    result = LoadResult(path=str(path))
    try:
        suffix = path.suffix.lower()
        if suffix in FAQ_SUFFIXES:
            _load_faq_yaml(path, result)
        elif suffix in (".md", ".markdown"):
            result.articles.append(_load_markdown(path))
        elif suffix == ".txt":
            result.articles.append(_document(path, _read_text(path), {}))
        elif suffix == ".pdf":
            result.articles.append(_document(path, _read_pdf(path), {}))
        elif suffix == ".docx":
            result.articles.append(_document(path, _read_docx(path), {}))
        else:
            raise IngestProblem(str(path), f"unsupported file type '{suffix}'")
    except IngestProblem as problem:
        result.problems.append(problem)
    except Exception as exc:  # a loader library failing on a broken file
        result.problems.append(IngestProblem(str(path), f"cannot read file: {type(exc).__name__}: {exc}"))
    return result


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise IngestProblem(str(path), "text is neither UTF-8 nor GB18030")


def _load_faq_yaml(path: Path, result: LoadResult) -> None:
    text = _read_text(path)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise IngestProblem(str(path), f"invalid YAML: {problem}", line) from None
    if data is None:
        return
    if isinstance(data, dict) and isinstance(data.get("faq"), list):
        data = data["faq"]
        root = next(v for k, v in root.value if k.value == "faq")
    if not isinstance(data, list):
        raise IngestProblem(str(path), "an FAQ file must be a list of entries", 1)
    seen: dict[str, int | None] = {}
    for node, entry in zip(root.value, data, strict=True):
        line = node.start_mark.line + 1
        try:
            article = faq_from_mapping(entry, path=str(path), line=line)
            if article.key in seen:
                raise IngestProblem(str(path), f"id '{article.key}' also used at line {seen[article.key]}", line)
            seen[article.key] = line
            result.articles.append(article)
        except IngestProblem as problem:
            result.problems.append(problem)


def _load_markdown(path: Path) -> ArticleData:
    import frontmatter

    text = _read_text(path)
    try:
        post = frontmatter.loads(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1  # +1 for 1-based, +1 for the opening ---
        raise IngestProblem(str(path), f"invalid front matter: {getattr(exc, 'problem', exc)}", line) from None
    if not isinstance(post.metadata, dict):
        raise IngestProblem(str(path), "front matter must be a mapping", 1)
    return _document(path, post.content, dict(post.metadata))


def _read_pdf(path: Path) -> str:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    pages = [(page.extract_text() or "").strip() for page in reader.pages]
    return "\n\n".join(p for p in pages if p)


def _read_docx(path: Path) -> str:
    import docx2txt

    return docx2txt.process(str(path)) or ""


def _slug(path: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.\-]+", "_", path.stem).strip("_")
    if not stem:
        stem = "doc_" + hashlib.sha1(path.stem.encode()).hexdigest()[:10]
    return stem[:128]


def _document(path: Path, body: str, meta: dict[str, Any]) -> ArticleData:
    body = body.replace("\r\n", "\n").strip()
    if not body:
        raise IngestProblem(str(path), "no text could be extracted (empty, or a scanned image without text)")
    key = validate_key(meta.pop("id", None) or _slug(path), path=str(path), line=1)
    heading = re.search(r"^#\s+(.+)$", body, flags=re.M)
    first_line = next((ln.strip() for ln in body.splitlines() if ln.strip()), path.stem)
    title = str(meta.pop("title", "") or (heading.group(1) if heading else "") or first_line[:60] or path.stem)
    effective = meta.pop("effective", None) or meta.pop("effective_on", None) or meta.pop("updated", None)
    expires = meta.pop("expires", None) or meta.pop("expires_on", None)
    return ArticleData(
        key=key,
        kind=ArticleKind.document,
        title=title.strip(),
        body=body,
        tags=_as_str_list(meta.pop("tags", None), name="tags", path=str(path), line=1),
        category=str(meta.pop("category")) if meta.get("category") else None,
        risk_level=_risk(meta.pop("risk_level", None), path=str(path), line=1),
        doc_type=str(meta.pop("doc_type")) if meta.get("doc_type") else None,
        effective_on=_as_date(effective, name="effective", path=str(path), line=1),
        expires_on=_as_date(expires, name="expires", path=str(path), line=1),
        meta={k: _plain(v) for k, v in meta.items()},
        source_path=str(path),
    )


# Chunking -------------------------------------------------------------------------------------------------------------

_TABLE_SEP = re.compile(r"^\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")


def tables_to_sentences(markdown: str) -> str:
    """Markdown tables become one line per row, "header：value；…", so each row reads on its own in a chunk."""
    lines = markdown.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip().startswith("|") and i + 1 < len(lines) and _TABLE_SEP.match(lines[i + 1].strip()):
            headers = [c.strip() for c in line.strip().strip("|").split("|")]
            i += 2
            while i < len(lines) and lines[i].strip().startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                pairs = [f"{h}：{c}" for h, c in zip(headers, cells, strict=False) if c]
                out.append("；".join(pairs) + "。")
                i += 1
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


def embed_text_for(kind: str, title: str, heading: str, text: str) -> str:
    """What is embedded and tokenized for a chunk: the text with its article title and section heading."""
    if kind in (ChunkKind.question, ChunkKind.similar):
        return text
    if kind == ChunkKind.answer:
        return f"{title}\n{text}"
    prefix = title + (f" > {heading}" if heading else "")
    return f"{prefix}\n{text}"


def chunk_article(article: ArticleData) -> list[ChunkData]:
    """FAQ: the question, each similar question and the answer; documents: heading-aware ~300-character pieces."""
    if article.kind == ArticleKind.faq:
        chunks = [ChunkData(ChunkKind.question, 0, article.title, embed_text=article.title)]
        for i, similar in enumerate(article.similar_questions, start=1):
            chunks.append(ChunkData(ChunkKind.similar, i, similar, embed_text=similar))
        chunks.append(
            ChunkData(
                ChunkKind.answer,
                len(chunks),
                article.answer,
                heading=article.title,
                embed_text=embed_text_for(ChunkKind.answer, article.title, "", article.answer),
            )
        )
        return chunks
    return _chunk_document(article)


def _chunk_document(article: ArticleData) -> list[ChunkData]:
    from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter

    text = tables_to_sentences(article.body)
    header_splitter = MarkdownHeaderTextSplitter(
        headers_to_split_on=[("#", "h1"), ("##", "h2"), ("###", "h3")], strip_headers=True
    )
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP, separators=CHINESE_SEPARATORS, keep_separator="end"
    )
    sections = header_splitter.split_text(text) or []
    chunks: list[ChunkData] = []
    for section in sections:
        heading = " > ".join(section.metadata[h] for h in ("h2", "h3") if section.metadata.get(h))
        for piece in splitter.split_text(section.page_content):
            piece = piece.strip()
            if len(piece) < 2:
                continue
            embed = embed_text_for(ChunkKind.passage, article.title, heading, piece)
            chunks.append(ChunkData(ChunkKind.passage, len(chunks), piece, heading=heading, embed_text=embed))
    return chunks


def iter_problems(results: list[LoadResult]) -> Iterator[IngestProblem]:
    for result in results:
        yield from result.problems
