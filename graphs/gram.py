"""Deployable GRAM graph (``langgraph.json`` id ``gram``).

The endpoint comes from the environment: ``GRAM_BASE_URL`` (default
``http://127.0.0.1:8080/v1``, where ``gram serve-local --port 8080`` listens), ``GRAM_MODEL``
(default ``qwen2.5-coder-1.5b``) and ``GRAM_API_KEY``. Budgets, width and temperature come per
run through ``context`` (the ``GramContext`` schema), so assistants can carry them. The graph is
compiled without a checkpointer or store (the platform supplies them) and touches no network
at import.
"""

from __future__ import annotations

import os

from langgraph_gram import create_gram_graph
from langgraph_gram.endpoint import OpenAIEndpoint

endpoint = OpenAIEndpoint.from_env(
    base_url=os.environ.get("GRAM_BASE_URL") or "http://127.0.0.1:8080/v1",
    model=os.environ.get("GRAM_MODEL") or "qwen2.5-coder-1.5b",
)
graph = create_gram_graph(endpoint, name="gram")
