"""Width over real HTTP: sampled candidates with scores, request counts, memoization."""

from __future__ import annotations

import json
import random

from fault_server import message_texts, request_schema

from langgraph_gram import Budget, create_gram_graph
from langgraph_gram.endpoint import OpenAIEndpoint


def make_responder(seed: int = 0):
    """Root splits into three leaves; leaf answers vary by sample; the judge likes 'right'."""
    rng = random.Random(seed)

    def respond(body: dict) -> str:
        schema = request_schema(body) or {}
        props = schema.get("properties", {})
        user = message_texts(body)[-1]
        if "subproblems" in props:
            if user.endswith("Question to plan: Root?"):
                items = [{"question": f"Leaf {c}?", "depends_on": []} for c in "ABC"]
                return json.dumps({"subproblems": items})
            return json.dumps({"subproblems": []})
        if "score" in props:
            proposed = user.rsplit("Proposed answer: ", 1)[1]
            return json.dumps({"reason": "r", "score": 0.9 if proposed == "right" else 0.1})
        if "Sub-questions and their answers" in user:
            return json.dumps({"reasoning": "r", "answer": "combined"})
        return json.dumps({"reasoning": "r", "answer": rng.choice(["right", "wrong", "maybe"])})

    return respond


def run(server, **kwargs):
    endpoint = OpenAIEndpoint(server.base_url, server.model, max_concurrency=8)
    graph = create_gram_graph(endpoint, budget=Budget(max_depth=1), **kwargs)
    return graph.ainvoke({"question": "Root?"}, context={"temperature": 0.8})


async def test_width_three_with_judge_keeps_scored_candidates(fault_server_factory):
    server = fault_server_factory(responder=make_responder())
    baseline = await run(server)
    requests_width_1 = len(server.records)
    server.reset_log()
    result = await run(server, width=3, scorer="llm")
    requests_width_3 = len(server.records)
    leaves = [result["tree"][c] for c in result["tree"]["0"]["children"]]
    for leaf in leaves:
        candidates = leaf["candidates"]
        assert len(candidates) >= 2
        assert all(c["score"] is not None for c in candidates)
        best = max(c["score"] for c in candidates)
        assert any(c["answer"] == leaf["answer"] and c["score"] == best for c in candidates)
    assert requests_width_3 >= 2 * requests_width_1
    # Seeds differ between samples of one node (independent requests, no n > 1).
    sampled = [r.body for r in server.records if "Leaf A?" in message_texts(r.body)[-1]]
    seeds = {b.get("seed") for b in sampled if "answer" in str(b.get("response_format"))}
    assert len(seeds) >= 2
    assert all(b.get("n", 1) == 1 for b in sampled)
    assert baseline["usage"]["llm_calls"] == requests_width_1
