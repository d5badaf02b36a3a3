"""BM25 search over a corpus or over one question's own passages, as LangChain tools.

:func:`corpus_search_tool` searches a JSONL corpus of ``{"id", "title", "text"}`` documents
(``bm25s``); it is marked ``gram_prefetch``, so the engine calls it with each leaf's question
before the leaf's first LLM step. :func:`passages_search_tool` searches a fixed list of
passages (one HotpotQA question's ten paragraphs). :class:`CorpusIndex` and
:func:`load_corpus` are the same search without LangChain, for benchmarks.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from langgraph_gram.errors import ConfigurationError

TITLE_WEIGHT = 3
"""How many times a document's title is indexed (its text once), so a name finds its own page."""

PASSAGE_CHARS = 400
"""Longest passage text shown in the search tool's content (the artifact keeps the full text)."""

_WORD = re.compile(r"[^\W_]+")


@cache
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    return frozenset(STOPWORDS_EN_PLUS)


def _words(text: str) -> list[str]:
    """Lower-case, fold accents and split on non-alphanumerics (no stemming)."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return _WORD.findall(folded)


def _tokenize(text: str) -> list[str]:
    """Index terms: :func:`_words` without English stopwords.

    No stemming: made-up proper names must stay intact to match exactly.
    """
    stop = _stopwords()
    return [token for token in _words(text) if token not in stop]


def load_corpus(path: str | Path) -> list[dict[str, str]]:
    """Read a JSONL corpus: one ``{"id", "title", "text"}`` object per line.

    Blank lines are skipped; ``title`` may be missing (empty), ``id`` may be a number (it is
    turned into a string).

    Args:
        path: The JSONL file.

    Returns:
        The documents, as ``{"id": str, "title": str, "text": str}`` dicts, in file order.

    Raises:
        ConfigurationError: The file is missing or unreadable, a line is not valid UTF-8 JSON,
            a line is not an object with a string ``text`` and an ``id``, or the file holds
            no document. The message names the path and the line number.
    """
    source = Path(path).expanduser()
    try:
        raw = source.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read corpus file {source}: {exc}") from exc
    documents: list[dict[str, str]] = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{source}, line {number}"
        try:
            item = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ConfigurationError(f"corpus {where}: not UTF-8 ({exc.reason})") from exc
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"corpus {where}: invalid JSON ({exc.msg})") from exc
        if not isinstance(item, dict):
            raise ConfigurationError(
                f"corpus {where}: expected a JSON object, got {type(item).__name__}"
            )
        doc_id, title, text = item.get("id"), item.get("title", ""), item.get("text")
        if isinstance(doc_id, bool) or not isinstance(doc_id, str | int) or str(doc_id) == "":
            raise ConfigurationError(f"corpus {where}: missing or invalid 'id'")
        if not isinstance(text, str):
            raise ConfigurationError(f"corpus {where}: missing or non-string 'text'")
        if title is None:
            title = ""
        if not isinstance(title, str):
            raise ConfigurationError(f"corpus {where}: non-string 'title'")
        documents.append({"id": str(doc_id), "title": title, "text": text})
    if not documents:
        raise ConfigurationError(f"corpus file {source} holds no documents")
    return documents


class CorpusIndex:
    """A BM25 index (``bm25s``) over titled documents; thread-safe, synchronous search.

    The title is indexed :data:`TITLE_WEIGHT` times and the text once, so searching an
    entity's name ranks the entity's own document above documents that merely mention it.
    """

    _cache: ClassVar[dict[Path, tuple[tuple[int, int], CorpusIndex]]] = {}
    _cache_locks: ClassVar[dict[Path, threading.Lock]] = {}
    _cache_guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self, documents: Iterable[Mapping[str, Any]], *, title_weight: int = TITLE_WEIGHT
    ) -> None:
        """Index the documents (CPU work: call it from a thread in async code).

        Args:
            documents: Mappings with ``id``, ``text`` and optionally ``title``.
            title_weight: How many times the title is indexed.

        Raises:
            ConfigurationError: ``bm25s`` is not installed, or ``title_weight`` < 1.
        """
        if title_weight < 1:
            raise ConfigurationError(f"title_weight must be >= 1, got {title_weight}")
        try:
            import bm25s
        except ImportError as exc:  # pragma: no cover - bm25s is a dependency
            raise ConfigurationError("corpus search needs bm25s: pip install bm25s") from exc
        self.documents: list[dict[str, str]] = [
            {
                "id": str(doc["id"]),
                "title": str(doc.get("title") or ""),
                "text": str(doc.get("text") or ""),
            }
            for doc in documents
        ]
        self._lock = threading.Lock()
        self._titles: dict[str, list[int]] = {}
        for position, doc in enumerate(self.documents):
            key = " ".join(_words(doc["title"]))
            if key:
                self._titles.setdefault(key, []).append(position)
        self._retriever = bm25s.BM25()
        tokens = [
            _tokenize(doc["title"]) * title_weight + _tokenize(doc["text"])
            for doc in self.documents
        ]
        # bm25s cannot index a corpus without a single term ("the of and"): such a corpus
        # finds documents by exact title only.
        self._indexed = any(tokens)
        if self._indexed:
            self._retriever.index(tokens, show_progress=False)

    def __len__(self) -> int:
        """Return the number of indexed documents."""
        return len(self.documents)

    @classmethod
    def from_path(cls, path: str | Path) -> CorpusIndex:
        """Load and index a JSONL corpus once, cached by resolved path and modification time.

        Blocking (file read and indexing on a miss): call it from a thread in async code.

        Args:
            path: The JSONL corpus (see :func:`load_corpus`).

        Returns:
            The index; the same object while the file is unchanged.

        Raises:
            ConfigurationError: The file is missing or malformed.
        """
        resolved = Path(path).expanduser().resolve()
        try:
            stat = resolved.stat()
        except OSError as exc:
            raise ConfigurationError(f"cannot read corpus file {resolved}: {exc}") from exc
        key = (stat.st_mtime_ns, stat.st_size)
        with cls._cache_guard:
            lock = cls._cache_locks.setdefault(resolved, threading.Lock())
        with lock:
            hit = cls._cache.get(resolved)
            if hit is not None and hit[0] == key:
                return hit[1]
            index = cls(load_corpus(resolved))
            cls._cache[resolved] = (key, index)
            return index

    def search(self, query: str, k: int = 4) -> list[dict[str, Any]]:
        """Return the best ``k`` documents for a query, best first.

        Documents whose whole title equals the query (after lower-casing and splitting on
        non-alphanumerics) come first: a name finds its own page even when longer titles
        contain it ("Duke Energy" before "Duke Energy Florida"). The rest are ranked by BM25.

        Args:
            query: Free text (a name, keywords or a question).
            k: How many documents at most.

        Returns:
            ``{"id", "title", "text", "score"}`` dicts (``score``: BM25); only documents
            sharing a term with the query, or titled exactly as the query (an empty query
            returns ``[]``).
        """
        k = min(k, len(self.documents))
        if k < 1:
            return []
        exact = self._titles.get(" ".join(_words(query)), [])
        tokens = _tokenize(query)
        if not tokens and not exact:
            return []
        if tokens and self._indexed:
            with self._lock:
                scores = np.asarray(self._retriever.get_scores(tokens), dtype=np.float64)
        else:
            scores = np.zeros(len(self.documents))
        chosen = sorted(exact, key=lambda i: -scores[i])[:k]
        room = k - len(chosen)
        if room > 0:
            masked = scores.copy()
            masked[chosen] = 0.0
            top = np.argpartition(-masked, room - 1)[:room] if room < len(masked) else None
            candidates = np.arange(len(masked)) if top is None else top
            ranked = sorted(candidates.tolist(), key=lambda i: (-masked[i], i))
            chosen += [i for i in ranked if masked[i] > 0]
        return [{**self.documents[i], "score": round(float(scores[i]), 4)} for i in chosen[:k]]


def _format_hits(query: str, hits: list[dict[str, Any]], limit: int = PASSAGE_CHARS) -> str:
    if not hits:
        return f"No passages found for {query!r}."
    lines = []
    for hit in hits:
        text = " ".join(hit["text"].split())
        if len(text) > limit:
            text = text[: limit - 1].rstrip() + "…"
        lines.append(f"[{hit['id']}] {hit['title']}: {text}")
    return "\n".join(lines)


class _SearchInput(BaseModel):
    query: str = Field(description="What to look for: a name, a few keywords or a question.")


def corpus_search_tool(
    path: str | Path, *, k: int = 4, name: str = "search", description: str | None = None
) -> BaseTool:
    """Make a BM25 search tool over a JSONL corpus, prefetched by the engine at each leaf.

    The corpus is read and indexed on first use (in a worker thread when called async) and
    kept while the file is unchanged. The tool returns ``content_and_artifact``: the content
    lists passages one per line as ``[<id>] <title>: <text>`` (text cut to about 400
    characters), the artifact is the list of ``{"id", "title", "text", "score"}`` dicts.

    Args:
        path: The JSONL corpus of ``{"id", "title", "text"}`` objects.
        k: Passages per search.
        name: The tool's name.
        description: The tool's description (a default explains the input).

    Returns:
        The tool, with ``metadata={"gram_prefetch": True, "gram_kind": "retriever"}``.

    Raises:
        ConfigurationError: ``k`` < 1 or the file does not exist (a malformed file raises
            the same error on first search).
    """
    if k < 1:
        raise ConfigurationError(f"k must be >= 1, got {k}")
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_file():
        raise ConfigurationError(f"corpus file not found: {resolved}")
    return _search_tool(
        lambda: CorpusIndex.from_path(resolved), k=k, name=name, description=description
    )


def passages_search_tool(
    passages: Iterable[Mapping[str, Any]],
    *,
    k: int = 4,
    name: str = "search",
    description: str | None = None,
    passage_chars: int = PASSAGE_CHARS,
) -> BaseTool:
    """Make the same BM25 search tool over passages held in memory (e.g. one question's own).

    Args:
        passages: Mappings with ``id``, ``text`` and optionally ``title``.
        k: Passages per search.
        name: The tool's name.
        description: The tool's description (a default explains the input).
        passage_chars: Longest passage text shown (paragraph-length passages such as
            HotpotQA's need more than the default).

    Returns:
        The tool, prefetched at each leaf like :func:`corpus_search_tool`'s. The index is
        built on first use.

    Raises:
        ConfigurationError: ``k`` < 1.
    """
    if k < 1:
        raise ConfigurationError(f"k must be >= 1, got {k}")
    documents = [dict(p) for p in passages]
    built: list[CorpusIndex] = []
    guard = threading.Lock()

    def index() -> CorpusIndex:
        with guard:
            if not built:
                built.append(CorpusIndex(documents))
            return built[0]

    return _search_tool(index, k=k, name=name, description=description, passage_chars=passage_chars)


def _search_tool(
    index: Callable[[], CorpusIndex],
    *,
    k: int,
    name: str,
    description: str | None,
    passage_chars: int = PASSAGE_CHARS,
) -> BaseTool:
    def search(query: str) -> tuple[str, list[dict[str, Any]]]:
        hits = index().search(query, k)
        return _format_hits(query, hits, passage_chars), hits

    async def asearch(query: str) -> tuple[str, list[dict[str, Any]]]:
        return await asyncio.to_thread(search, query)

    return StructuredTool.from_function(
        func=search,
        coroutine=asearch,
        name=name,
        description=description
        or (
            f"Search the document collection; returns up to {k} passages as "
            "'[id] title: text'. Input: a name or a few keywords (e.g. a person's or "
            "company's full name)."
        ),
        args_schema=_SearchInput,
        response_format="content_and_artifact",
        metadata={"gram_prefetch": True, "gram_kind": "retriever"},
    )
