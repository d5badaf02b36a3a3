"""Deployable GRAM graph (``langgraph.json`` id ``gram``).

The endpoint comes from the environment: ``GRAM_BASE_URL`` (default
``http://127.0.0.1:8080/v1``, where ``gram serve-local --port 8080`` listens), ``GRAM_MODEL``
(default ``qwen2.5-coder-1.5b``), ``GRAM_API_KEY`` and ``GRAM_MAX_CONCURRENCY`` (default 1, what
the embedded server takes; raise it for vLLM or SGLang). Budgets, width and temperature come per
run through ``context`` (the ``GramContext`` schema), so assistants can carry them. The graph is
compiled without a checkpointer or store (the platform supplies them) and touches no network
at import.
"""

from __future__ import annotations

from langgraph_gram import create_gram_graph
from langgraph_gram.endpoint import OpenAIEndpoint

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
graph = create_gram_graph(endpoint, name="gram")
"""The compiled GRAM graph that ``langgraph.json`` serves as ``gram``."""
