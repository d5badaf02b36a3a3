"""Checkpointed runs survive a failing model, with three checkpointers.

Each test runs against ``InMemorySaver``, ``AsyncSqliteSaver`` (a file in ``tmp_path``) and
``AsyncPostgresSaver`` (a throwaway PostgreSQL server on 127.0.0.1, see ``tests/pg.py``):

* the model fails midway with :class:`EndpointUnreachableError`, the run raises it, and
  ``graph.ainvoke(None, config)`` resumes and answers without asking again the sub-questions
  answered before the failure (model calls are counted). With the durable savers, the resume
  runs as a restarted process would: a new connection, a new graph and a new model;
* the same, end to end over HTTP: the fault server stops answering, then goes down, then a new
  one comes up;
* a second run on the same thread with a new question starts a fresh tree.

PostgreSQL: the tests that need it are skipped when its binaries are not installed, unless
``$GRAM_REQUIRE_POSTGRES`` is set (as in CI), in which case they fail.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from fakes import answer, scripted, subproblems
from fault_server import FaultServer, InjectedFault, request_kind
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver

from langgraph_gram import EndpointUnreachableError, create_gram_graph
from langgraph_gram.endpoint import OpenAIEndpoint
from langgraph_gram.state import ROOT_ID

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

IPHONE = "In which city was the founder of the company that makes the iPhone born?"
FACTS = {
    "Which company makes the iPhone?": "Apple",
    "Who founded Apple?": "Steve Jobs",
    "In which city was Steve Jobs born?": "San Francisco",
    "What is the capital of France?": "Paris",
}
FAILING = "In which city was Steve Jobs born?"
"""The third hop: it fails after the first two hops have been answered and checkpointed."""

SaverFactory = Callable[[], AbstractAsyncContextManager[BaseCheckpointSaver]]


# -- checkpointers -----------------------------------------------------------------------------


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def open_saver(request: pytest.FixtureRequest, tmp_path: Path) -> SaverFactory:
    """Open the parametrized checkpointer: each call is a new connection to the same storage.

    ``InMemorySaver`` has no storage outside the object, so every call yields the same saver.
    """
    if request.param == "memory":
        saver = InMemorySaver()

        @asynccontextmanager
        async def same() -> AsyncIterator[BaseCheckpointSaver]:
            yield saver

        return same
    if request.param == "sqlite":
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        path = str(tmp_path / "checkpoints.sqlite")
        return lambda: AsyncSqliteSaver.from_conn_string(path)

    url = request.getfixturevalue("postgres_url")
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    @asynccontextmanager
    async def postgres() -> AsyncIterator[BaseCheckpointSaver]:
        async with AsyncPostgresSaver.from_conn_string(url) as saver:
            await saver.setup()
            yield saver

    return postgres


def new_config() -> dict[str, Any]:
    # One thread per test: the PostgreSQL database is shared by the whole module.
    return {"configurable": {"thread_id": f"t-{uuid.uuid4().hex}"}}


# -- a scripted model --------------------------------------------------------------------------


def chain_script(kind: str, question: str, user_message: str) -> str:
    """Split the iPhone question into a 3-hop chain; answer hops from ``FACTS``."""
    if kind == "decompose":
        if question == IPHONE:
            return subproblems(
                ("Which company makes the iPhone?", []),
                ("Who founded #1?", [0]),
                ("In which city was #2 born?", [1]),
            )
        return subproblems()  # every hop is atomic
    if kind == "solve":
        return answer(FACTS.get(question, "unknown"))
    # aggregate: the last child's answer
    return answer(user_message.split("-> ")[-1].split("\n")[0])


def failing_model(down: dict[str, bool]) -> Any:
    """A scripted model whose third hop raises ``EndpointUnreachableError`` while ``down``."""

    def script(kind: str, question: str, messages: list[Any]) -> str:
        if kind == "solve" and question == FAILING and down["down"]:
            raise EndpointUnreachableError("connection refused", url="http://127.0.0.1:9/v1")
        return chain_script(kind, question, str(messages[-1].content))

    return scripted(script)


def asked(model: Any) -> list[tuple[str, str]]:
    return [(c["kind"], c["question"]) for c in model.calls]


# -- tests -------------------------------------------------------------------------------------


async def test_failure_midway_resumes_without_re_asking_answered_sub_questions(
    open_saver: SaverFactory,
) -> None:
    config = new_config()
    down = {"down": True}
    first = failing_model(down)
    async with open_saver() as saver:
        graph = create_gram_graph(first, checkpointer=saver)
        with pytest.raises(EndpointUnreachableError) as info:
            await graph.ainvoke({"question": IPHONE}, config)
        assert "http://127.0.0.1:9/v1" in str(info.value)

    before = asked(first)
    answered_before = [call for call in before if call != ("solve", FAILING)]
    assert ("solve", FAILING) in before  # the failing call was made, and failed
    assert ("solve", "Which company makes the iPhone?") in answered_before
    assert ("solve", "Who founded Apple?") in answered_before

    # A restarted process: a new connection to the same storage, a new graph, a new model.
    down["down"] = False
    second = failing_model(down)
    async with open_saver() as saver:
        graph = create_gram_graph(second, checkpointer=saver)
        checkpointed = (await graph.aget_state(config)).values["tree"]
        assert checkpointed["0.1"]["status"] == "done"
        assert checkpointed["0.1"]["answer"] == "Apple"
        assert checkpointed["0.2"]["answer"] == "Steve Jobs"
        assert checkpointed["0.3"]["status"] == "pending"

        result = await graph.ainvoke(None, config)

    assert result["answer"] == "San Francisco"
    assert result["stopped_by"] is None
    redone = asked(second)
    assert not set(answered_before) & set(redone), f"asked again: {redone}"
    # Only the failed hop and the root's aggregation are left to do.
    assert redone == [("solve", FAILING), ("aggregate", IPHONE)]
    tree = result["tree"]
    assert [tree[c]["answer"] for c in tree[ROOT_ID]["children"]] == [
        "Apple",
        "Steve Jobs",
        "San Francisco",
    ]
    assert result["usage"]["llm_calls"] == len(answered_before) + len(redone)


async def test_second_question_on_the_same_thread_starts_a_fresh_tree(
    open_saver: SaverFactory,
) -> None:
    config = new_config()
    first = failing_model({"down": False})
    async with open_saver() as saver:
        graph = create_gram_graph(first, checkpointer=saver)
        result = await graph.ainvoke({"question": IPHONE}, config)
    assert result["answer"] == "San Francisco"
    assert len(result["tree"]) == 4

    second = failing_model({"down": False})
    async with open_saver() as saver:
        graph = create_gram_graph(second, checkpointer=saver)
        previous = (await graph.aget_state(config)).values
        assert previous["tree"][ROOT_ID]["question"] == IPHONE  # the old tree was persisted

        result = await graph.ainvoke({"question": "What is the capital of France?"}, config)

        assert result["answer"] == "Paris"
        assert result["stopped_by"] is None
        tree = result["tree"]
        assert set(tree) == {ROOT_ID}
        assert tree[ROOT_ID]["question"] == "What is the capital of France?"
        assert result["usage"]["llm_calls"] == len(second.calls) == 2  # plan, then answer
        assert result["budget_hits"] == []
        state = (await graph.aget_state(config)).values
        assert set(state["tree"]) == {ROOT_ID}
        assert state["usage"]["llm_calls"] == 2
        assert state["answer"] == "Paris"


# -- the same over HTTP, against the fault server ---------------------------------------------

_QUESTION = re.compile(r"Question to (?:answer now|plan): (.*)\Z", re.DOTALL)


def question_of(body: dict[str, Any]) -> str:
    user = [m.get("content") or "" for m in body.get("messages") or [] if m.get("role") == "user"]
    match = _QUESTION.search(user[-1]) if user else None
    return match.group(1).strip() if match else ""


def http_kind(body: dict[str, Any]) -> str:
    """``decompose``, ``solve`` or ``aggregate``, from the task line of the user message."""
    if request_kind(body) == "decompose":
        return "decompose"
    user = next((m.get("content") or "" for m in body["messages"] if m.get("role") == "user"), "")
    return "aggregate" if user.startswith("Task: COMBINE") else "solve"


def http_chain(*, hang_on: str | None = None) -> Callable[[dict[str, Any]], str]:
    """The chain script as a fault-server responder; ``hang_on``'s answer request hangs."""

    def respond(body: dict[str, Any]) -> str:
        kind, question = http_kind(body), question_of(body)
        if kind == "solve" and question == hang_on:
            raise InjectedFault("hang")
        user = [m.get("content") or "" for m in body["messages"] if m.get("role") == "user"]
        return chain_script(kind, question, user[-1])

    return respond


def asked_over_http(server: FaultServer) -> list[tuple[str, str]]:
    return [
        (http_kind(r.body), question_of(r.body))
        for r in server.records
        if question_of(r.body)  # leave out any capability probe
    ]


def http_endpoint(url: str) -> OpenAIEndpoint:
    return OpenAIEndpoint(
        url, "fault-model", timeout=1, max_retries=0, retry_backoff=0.01, retry_backoff_max=0.05
    )


async def test_server_going_down_midway_then_resume_against_a_new_server(
    open_saver: SaverFactory, fault_server_factory: Callable[..., FaultServer]
) -> None:
    config = new_config()
    first = fault_server_factory(responder=http_chain(hang_on=FAILING), hang_seconds=10)
    async with open_saver() as saver:
        graph = create_gram_graph(http_endpoint(first.base_url), checkpointer=saver)
        # The server stops answering on the third hop: no reply within the timeout.
        with pytest.raises(EndpointUnreachableError) as info:
            await graph.ainvoke({"question": IPHONE}, config)
        assert first.base_url in str(info.value)
        before = asked_over_http(first)
        first.stop()

        # Resuming while the server is down fails the same way and loses nothing.
        with pytest.raises(EndpointUnreachableError):
            await graph.ainvoke(None, config)

    answered_before = [call for call in before if call != ("solve", FAILING)]
    assert ("solve", "Which company makes the iPhone?") in answered_before
    assert ("solve", "Who founded Apple?") in answered_before

    second = fault_server_factory(responder=http_chain())
    async with open_saver() as saver:
        graph = create_gram_graph(http_endpoint(second.base_url), checkpointer=saver)
        result = await graph.ainvoke(None, config)

    assert result["answer"] == "San Francisco", json.dumps(result["tree"], indent=1)
    redone = asked_over_http(second)
    assert not set(answered_before) & set(redone), f"asked again: {redone}"
    assert redone == [("solve", FAILING), ("aggregate", IPHONE)]
