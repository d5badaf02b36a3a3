"""The run clock behind ``max_seconds``: it counts working time, not time the run stood still."""

from __future__ import annotations

import asyncio
import time

import pytest
from fakes import answer, scripted, subproblems
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

import langgraph_gram.graph as graph_module
from langgraph_gram import Budget, EndpointUnreachableError, create_gram_graph
from langgraph_gram.controller import ROUND_SLACK_SECONDS, advance_clock

ROOT = "Where was the founder of Acme born?"


class ShiftedTime:
    """The graph module's ``time``, with wall time moved forward by ``offset`` seconds."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def clock(monkeypatch):
    shifted = ShiftedTime()
    monkeypatch.setattr(graph_module, "time", shifted)
    return shifted


def script(kind, question, messages):
    if kind == "decompose" and question == ROOT:
        return subproblems(("Who founded Acme?", []), ("Where was #1 born?", [0]))
    if kind == "decompose":
        return subproblems()
    if kind == "aggregate":
        return answer("Springfield")
    if question.startswith("Who founded"):
        return answer("Ada")
    return answer("Springfield")


def test_a_round_counts_its_wall_time_while_workers_ran():
    clock = advance_clock({"active": 5.0, "mark": 100.0, "work": 2.0}, now=104.0, work_seconds=9.0)
    assert clock == {"active": 9.0, "mark": 104.0, "work": 9.0}


def test_a_gap_without_work_counts_only_the_slack():
    clock = advance_clock({"active": 5.0, "mark": 100.0, "work": 2.0}, now=4000.0, work_seconds=3.0)
    assert clock["active"] == pytest.approx(5.0 + 1.0 + ROUND_SLACK_SECONDS)


async def test_downtime_between_a_crash_and_its_resume_is_not_charged_to_max_seconds(clock):
    down = {"on": True}

    def flaky(kind, question, messages):
        if question == "Where was Ada born?" and down["on"]:
            raise EndpointUnreachableError("connection refused", url="http://127.0.0.1:9/v1")
        return script(kind, question, messages)

    graph = create_gram_graph(
        scripted(flaky), checkpointer=InMemorySaver(), budget=Budget(max_seconds=60)
    )
    config = {"configurable": {"thread_id": "crash"}}
    with pytest.raises(EndpointUnreachableError):
        await graph.ainvoke({"question": ROOT}, config)
    clock.offset = 3600.0  # the endpoint came back an hour later
    down["on"] = False
    result = await graph.ainvoke(None, config)
    assert result["stopped_by"] is None
    assert result["answer"] == "Springfield"
    assert result["tree"]["0.2"]["answer"] == "Springfield"


async def test_a_long_review_is_not_charged_to_max_seconds(clock):
    graph = create_gram_graph(
        scripted(script),
        checkpointer=InMemorySaver(),
        review_decompositions=True,
        budget=Budget(max_seconds=60, max_depth=1),
    )
    config = {"configurable": {"thread_id": "review"}}
    paused = await graph.ainvoke({"question": ROOT}, config)
    assert paused["__interrupt__"]
    clock.offset = 3600.0  # the reviewer answered an hour later
    result = await graph.ainvoke(Command(resume=True), config)
    assert result["stopped_by"] is None
    assert result["tree"]["0.2"]["answer"] == "Springfield"


async def test_time_spent_working_still_counts(clock):
    class Slow(type(scripted(script))):
        async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs):
            await asyncio.sleep(0.4)
            return self._generate(messages)

    graph = create_gram_graph(Slow(script=script), budget=Budget(max_seconds=0.6))
    result = await graph.ainvoke({"question": ROOT})
    assert result["stopped_by"] == "max_seconds"
    assert result["usage"]["work_seconds"] >= 0.5  # the deadline cut the last call at ~0.6 s
