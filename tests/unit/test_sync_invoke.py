"""``graph.invoke`` and ``graph.stream`` from synchronous code keep the async path's guarantees."""

from __future__ import annotations

import asyncio
import json
import threading
from types import SimpleNamespace as NS

from fakes import answer, scripted, subproblems

import langgraph_gram.endpoint as endpoint_module
from langgraph_gram import Budget, create_gram_graph
from langgraph_gram.endpoint import OpenAIEndpoint

QUESTION = "Who founded Alpha Corp, Beta Corp, Gamma Corp and Delta Corp?"


def test_sync_invoke_keeps_the_endpoints_concurrency_limit(monkeypatch):
    flight = {"now": 0, "peak": 0}
    lock = threading.Lock()

    class Completions:
        async def create(self, **kwargs):
            with lock:
                flight["now"] += 1
                flight["peak"] = max(flight["peak"], flight["now"])
            await asyncio.sleep(0.05)
            with lock:
                flight["now"] -= 1
            user = kwargs["messages"][-1]["content"]
            if user.startswith("Task: PLAN") and user.endswith(QUESTION):
                companies = ("Alpha", "Beta", "Gamma", "Delta")
                items = [
                    {"question": f"Who founded {c} Corp?", "depends_on": []} for c in companies
                ]
                text = json.dumps({"subproblems": items})
            elif user.startswith("Task: PLAN"):
                text = json.dumps({"subproblems": []})
            else:
                text = json.dumps({"reasoning": "r", "answer": "Ann"})
            choice = NS(finish_reason="stop", message=NS(content=text))
            return NS(choices=[choice], usage=NS(prompt_tokens=10, completion_tokens=5))

    class Client:
        def __init__(self, **kwargs):
            self.chat = NS(completions=Completions())

        async def close(self):
            pass

    monkeypatch.setattr(endpoint_module.openai, "AsyncOpenAI", Client)
    llm = OpenAIEndpoint("http://127.0.0.1:9/v1", "m", max_concurrency=1, structured="json_schema")
    graph = create_gram_graph(llm, budget=Budget(max_depth=1))
    result = graph.invoke({"question": QUESTION})
    assert len(result["tree"]["0"]["children"]) == 4  # four leaves LangGraph runs in parallel
    assert flight["peak"] == 1  # one request at a time, as under ainvoke


def test_sync_stream_delivers_the_nodes_custom_events():
    def script(kind, question, messages):
        if kind == "decompose" and question == "Root?":
            return subproblems(("Part one?", []), ("Part two?", []))
        if kind == "decompose":
            return subproblems()
        return answer("done")

    graph = create_gram_graph(scripted(script), budget=Budget(max_depth=1))
    events = [e["event"] for e in graph.stream({"question": "Root?"}, stream_mode="custom")]
    assert "decomposed" in events and events.count("solved") == 2


def test_an_endpoint_lets_go_of_loops_closed_without_shutting_down():
    import gc
    import weakref

    from langgraph_gram.endpoint import OpenAIEndpoint

    endpoint = OpenAIEndpoint("http://127.0.0.1:9/v1", "m")
    refs = []
    for _ in range(3):
        loop = asyncio.new_event_loop()
        loop.run_until_complete(endpoint._resources())  # no shutdown_asyncgens
        refs.append(weakref.ref(loop))
        loop.close()
        del loop
    gc.collect()
    assert len(endpoint._loops) == 1  # the last one, dropped at the next loop's first call
    assert sum(ref() is not None for ref in refs) == 1
