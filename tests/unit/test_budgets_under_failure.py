"""Budgets hold when the model misbehaves: failed calls are charged, time is one deadline."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from fakes import ScriptedChatModel, answer, scripted, subproblems
from langchain_core.tools import tool

from langgraph_gram import Budget, create_gram_graph
from langgraph_gram.errors import EndpointResponseError

CHAIN = [
    ("Who founded Alpha Corp?", []),
    ("Which city is home to #1?", [0]),
    ("Which river crosses the city in #2?", [1]),
    ("Which sea does the river of #3 reach?", [2]),
    ("Which ocean holds the sea of #4?", [3]),
    ("Which planet holds #5?", [4]),
]
ROOT = "Who founded Alpha Corp, and which planet holds the ocean that its city's river reaches?"


def chain_model(leaf):
    """The root splits into a six-hop chain; every leaf answers with ``leaf(question)``."""

    def script(kind, question, messages):
        if kind == "decompose":
            return subproblems(*CHAIN) if question == ROOT else json.dumps({"subproblems": []})
        if kind == "solve":
            return leaf(question)
        return answer("Earth")

    return scripted(script)


def overloaded():
    count = {"n": 0}

    def leaf(question):
        count["n"] += 1
        if count["n"] % 2:  # every other request: the server's 503 outlasted its retries
            raise EndpointResponseError("HTTP 503", url="http://127.0.0.1:9/v1", status_code=503)
        return answer("Earth")

    return leaf


LEAVES = {
    "restating": lambda question: answer(question),  # each answer rejected, never accepted
    "unreadable": lambda question: "no JSON here at all",  # each call repaired, then failed
    "overloaded": None,
}


@pytest.mark.parametrize("behaviour", sorted(LEAVES))
@pytest.mark.parametrize(("calls", "width"), [(8, 3), (12, 3), (10, 5)])
async def test_every_request_made_counts_against_the_call_budget(behaviour, calls, width):
    model = chain_model(LEAVES[behaviour] or overloaded())
    graph = create_gram_graph(
        model, budget=Budget(max_llm_calls=calls, max_depth=1, max_children=6), width=width
    )
    result = await graph.ainvoke({"question": ROOT})
    assert result["answer"]  # still answers, however partially
    assert result["usage"]["llm_calls"] == len(model.calls)  # nothing made goes uncounted
    assert len(model.calls) <= calls
    assert result["stopped_by"] == "max_llm_calls"


class SlowModel(ScriptedChatModel):
    delay: float = 0.4

    async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs):
        await asyncio.sleep(self.delay)
        return self._generate(messages, stop=stop, run_manager=run_manager, **kwargs)


async def test_a_leaf_with_slow_tools_stops_at_the_time_budget():
    steps = iter(range(100))

    def script(kind, question, messages):
        if str(messages[-1].content).startswith("Task: ACT"):
            query = f"query {next(steps)}"  # a new search every step: never a repeat
            return json.dumps({"reasoning": "r", "action": "lookup", "input": query})
        return answer("42") if kind != "decompose" else json.dumps({"subproblems": []})

    @tool
    async def lookup(query: str) -> str:
        """Look something up (slowly)."""
        await asyncio.sleep(0.4)
        return "nothing"

    model = SlowModel(script=script)
    budget = Budget(max_seconds=0.9, max_depth=0, max_tool_calls=4)
    graph = create_gram_graph(model, tools=[lookup], budget=budget)
    started = time.monotonic()
    result = await graph.ainvoke({"question": "What is the answer?"})
    # Prefetch (0.4 s) and one act step (0.4 s) fit; the rest of the loop does not. Before
    # one deadline covered the whole leaf, each call got the full 0.9 s again (~3.6 s here).
    assert result["stopped_by"] == "max_seconds"
    assert len(model.calls) <= 2
    assert time.monotonic() - started < 2.5


async def test_sampling_rounds_share_one_deadline():
    count = {"n": 0}

    def script(kind, question, messages):
        if kind == "decompose":
            return json.dumps({"subproblems": []})
        if str(messages[-1].content).startswith("Task: JUDGE"):
            return json.dumps({"reason": "ok", "score": 0.9})
        count["n"] += 1
        return answer(f"answer {count['n']}")  # samples disagree: a second round is asked

    model = SlowModel(script=script)
    graph = create_gram_graph(
        model, budget=Budget(max_seconds=0.6, max_depth=0), width=4, scorer="llm"
    )
    result = await graph.ainvoke({"question": "What is the answer?"})
    assert result["stopped_by"] == "max_seconds"
    assert len(model.calls) == 2  # the first two samples; the second round and judges: cut


async def test_a_plain_scorer_runs_off_the_event_loop_and_an_async_one_on_it():
    import threading

    def script(kind, question, messages):
        return json.dumps({"subproblems": []}) if kind == "decompose" else answer("42")

    threads: list[str] = []

    def blocking(question, proposed):  # e.g. a verifier that runs tests
        threads.append(threading.current_thread().name)
        return 1.0

    async def awaiting(question, proposed):
        threads.append(threading.current_thread().name)
        return 1.0

    loop = threading.current_thread().name
    for scorer in (blocking, awaiting):
        threads.clear()
        graph = create_gram_graph(scripted(script), width=2, scorer=scorer)
        result = await graph.ainvoke(
            {"question": "What is the answer?"}, context={"halt_agreement": 0}
        )
        assert result["answer"] == "42" and threads
        assert all((name == loop) is (scorer is awaiting) for name in threads)


async def test_a_cut_branch_without_answers_never_hides_a_real_answer():
    from fakes import answer, scripted, subproblems

    from langgraph_gram import Budget, create_gram_graph

    root = "Where was the Eiffel Tower's architect born and what did he study?"
    both = "Where was Gustave Eiffel born and what did he study?"
    plans = {
        root: [("Who designed the Eiffel Tower?", []), (both.replace("Gustave Eiffel", "#1"), [0])],
        both: [("Where was Gustave Eiffel born?", []), ("What did Gustave Eiffel study?", [])],
    }

    def script(kind, question, messages):
        if kind == "decompose":
            return subproblems(*plans.get(question, []))
        return answer("Gustave Eiffel" if "designed" in question else "Dijon")

    graph = create_gram_graph(scripted(script), budget=Budget(max_depth=2))
    # This limit ends the run after the first leaf, with the second branch split but unsolved.
    result = await graph.ainvoke({"question": root}, config={"recursion_limit": 13})
    assert result["tree"]["0.2"]["status"] == "cut" and not result["tree"]["0.2"]["answer"]
    assert result["answer"] == "Gustave Eiffel"


async def test_a_run_that_raises_the_budget_is_not_cut_by_the_build_time_one():
    import itertools

    from fakes import answer, scripted, subproblems

    from langgraph_gram import Budget, create_gram_graph

    count = itertools.count()

    def script(kind, question, messages):
        if kind == "decompose":
            step = "".join("abcdefghij"[int(d)] for d in str(next(count)))
            return subproblems(
                (f"Step {step} part A?", []),
                (f"Step {step} part B after #1?", [0]),
                (f"Step {step} part C after #2?", [1]),
            )
        return answer("x")

    # The build-time budget alone would allow a recursion limit of 2 * (20 + 10) + 10 = 70.
    graph = create_gram_graph(scripted(script), budget=Budget(max_llm_calls=20, max_nodes=10))
    result = await graph.ainvoke(
        {"question": "Q?"},
        context={"max_llm_calls": 200, "max_nodes": 100, "max_depth": 4, "max_children": 3},
    )
    assert result["usage"]["rounds"] > 35
    assert result["stopped_by"] != "recursion_limit"


async def test_one_child_per_node_is_reported_as_max_children():
    from fakes import answer, scripted, subproblems

    from langgraph_gram import Budget, create_gram_graph

    def script(kind, question, messages):
        return subproblems(("A?", []), ("B?", [0])) if kind == "decompose" else answer("x")

    graph = create_gram_graph(scripted(script), budget=Budget(max_children=1))
    result = await graph.ainvoke({"question": "Q?"})
    assert result["stopped_by"] == "max_children"


def test_a_zero_width_override_is_refused():
    from langgraph_gram import ConfigurationError
    from langgraph_gram.context import Settings

    with pytest.raises(ConfigurationError, match="width"):
        Settings().apply({"width": 0})
