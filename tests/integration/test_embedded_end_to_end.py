"""The real embedded model (llama.cpp on the CPU) answering through the whole graph and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from langgraph_gram import Budget, create_gram_graph
from langgraph_gram.state import ROOT_ID, TERMINAL

pytestmark = [pytest.mark.integration, pytest.mark.embedded, pytest.mark.timeout(1200)]

IPHONE = "In which city was the founder of the company that makes the iPhone born?"


async def test_graph_answers_multi_hop_question_with_a_tree(local_server):
    endpoint = local_server.endpoint()
    graph = create_gram_graph(endpoint, budget=Budget(max_depth=2, max_llm_calls=30))
    result = await graph.ainvoke({"question": IPHONE})
    tree = result["tree"]
    assert result["answer"].strip()
    assert len(tree[ROOT_ID]["children"]) >= 2, tree
    assert all(node["status"] in TERMINAL for node in tree.values())
    assert result["usage"]["llm_calls"] <= 30
    assert result["usage"]["prompt_tokens"] > 0
    # llama-cpp-python takes json_object with a schema, and the endpoint learned that.
    assert endpoint.structured_mode == "json_object"


def test_cli_json_output_against_the_embedded_server(local_server):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "langgraph_gram.cli",
            "ask",
            "--json",
            "--base-url",
            local_server.base_url,
            "--model",
            local_server.model_name,
            "--max-depth",
            "1",
            "--max-calls",
            "8",
            "What is the capital of the country where the Eiffel Tower stands?",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    state = json.loads(proc.stdout)
    assert set(state) >= {"answer", "tree", "usage", "stopped_by"}
    assert state["answer"].strip()
    assert state["usage"]["llm_calls"] <= 8
    assert "paris" in state["answer"].lower()
