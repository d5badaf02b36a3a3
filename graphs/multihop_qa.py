"""Deployable multi-hop QA graph (``langgraph.json`` id ``multihop_qa``): GRAM with BM25 search.

The corpus is a JSONL file of ``{"id", "title", "text"}`` named by ``GRAM_CORPUS`` (default: the
small invented corpus shipped in ``examples/data/``). The endpoint comes from ``GRAM_BASE_URL``,
``GRAM_MODEL`` and ``GRAM_API_KEY`` as for the ``gram`` graph. The index is built on the first
search, so importing this module touches neither the network nor the corpus.
"""

from __future__ import annotations

import os
from pathlib import Path

from langgraph_gram import Budget, create_gram_graph
from langgraph_gram.endpoint import OpenAIEndpoint
from langgraph_gram.tools import corpus_search_tool

DEFAULT_CORPUS = Path(__file__).resolve().parent.parent / "examples" / "data" / "tiny_corpus.jsonl"
"""The corpus searched when ``GRAM_CORPUS`` is not set."""

endpoint = OpenAIEndpoint.from_env(
    # `gram serve-local --port 8080` answers one request at a time: GRAM_MAX_CONCURRENCY
    # raises this for a server that batches (vLLM, SGLang).
    defaults={
        "base_url": "http://127.0.0.1:8080/v1",
        "model": "qwen2.5-coder-1.5b",
        "max_concurrency": 1,
    },
)
"""The OpenAI-compatible endpoint every run of this graph calls."""
search = corpus_search_tool(os.environ.get("GRAM_CORPUS") or DEFAULT_CORPUS)
"""BM25 search over the corpus, run on every leaf's question first (a prefetching retriever)."""
graph = create_gram_graph(
    endpoint, tools=[search], budget=Budget(max_depth=2, max_tool_calls=2), name="multihop_qa"
)
"""The compiled GRAM graph with search that ``langgraph.json`` serves as ``multihop_qa``."""
