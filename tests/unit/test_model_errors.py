"""What the engine makes of a model's transport errors, cut-off replies and wild numbers."""

from __future__ import annotations

import httpx
import openai
import pytest
from fakes import ScriptedChatModel, answer, scripted, subproblems

from langgraph_gram import Budget, create_gram_graph
from langgraph_gram.errors import EndpointResponseError, EndpointUnreachableError
from langgraph_gram.llm import (
    CUT_PROMPT,
    Message,
    RawCompletion,
    as_structured_llm,
    generate_with_repair,
)
from langgraph_gram.subproblems import normalize_subproblems

URL = "http://127.0.0.1:9/v1"
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
ASK: list[Message] = [{"role": "user", "content": "Which city is the capital?"}]


async def test_a_reply_cut_by_the_completion_cap_is_retried_not_repaired():
    replies = [
        RawCompletion('{"answer": "Washington, D', 10, 512, finish_reason="length"),
        RawCompletion('{"answer": "Washington, D.C."}', 12, 9, finish_reason="stop"),
    ]
    sent: list[list[Message]] = []

    async def backend(history):
        sent.append(history)
        return replies[len(sent) - 1]

    reply = await generate_with_repair(backend, ASK, schema=SCHEMA, max_calls=2)
    assert reply.data == {"answer": "Washington, D.C."}
    assert reply.calls == 2 and reply.completion_tokens == 521
    assert sent[1][-1]["content"] == CUT_PROMPT.format(keys='"answer"')


async def test_a_complete_reply_at_the_cap_is_kept():
    async def backend(history):
        return RawCompletion('{"answer": "Paris"}', 10, 5, finish_reason="length")

    reply = await generate_with_repair(backend, ASK, schema=SCHEMA, max_calls=2)
    assert reply.data == {"answer": "Paris"} and reply.calls == 1


class Failing(ScriptedChatModel):
    """A chat model whose SDK raises ``error`` on every call, as ChatOpenAI's does."""

    error: BaseException
    openai_api_base: str = URL

    async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs):
        raise self.error


def request() -> httpx.Request:
    return httpx.Request("POST", URL + "/chat/completions")


async def test_a_chat_model_that_cannot_connect_names_its_url():
    model = Failing(script=lambda *a: "", error=openai.APIConnectionError(request=request()))
    with pytest.raises(EndpointUnreachableError) as caught:
        await as_structured_llm(model).generate_json(ASK, schema=SCHEMA)
    assert caught.value.url == URL and URL in str(caught.value)


@pytest.mark.parametrize(("status", "transient"), [(400, False), (503, True)])
async def test_a_chat_model_error_status_is_typed(status, transient):
    response = httpx.Response(status, request=request())
    error = openai.APIStatusError(f"HTTP {status}", response=response, body=None)
    model = Failing(script=lambda *a: "", error=error)
    with pytest.raises(EndpointResponseError) as caught:
        await as_structured_llm(model).generate_json(ASK, schema=SCHEMA)
    assert caught.value.status_code == status and caught.value.transient is transient
    assert URL in str(caught.value)


async def test_a_refused_request_fails_one_node_not_the_run():
    response = httpx.Response(400, request=request())
    error = openai.APIStatusError("context too long", response=response, body=None)
    model = Failing(script=lambda *a: "", error=error)
    result = await create_gram_graph(model, budget=Budget(max_depth=0)).ainvoke({"question": "Q?"})
    assert result["tree"]["0"]["status"] == "failed"
    assert "HTTP 400" in result["tree"]["0"]["error"]
    assert result["answer"]  # the controller still says something


def test_dependencies_too_large_for_an_integer_are_dropped():
    data = {
        "subproblems": [
            {"question": "Who founded Qarvex Labs?", "depends_on": []},
            {"question": "Where was #1 born?", "depends_on": [1e400, float("inf"), "1e999"]},
        ]
    }
    items, _ = normalize_subproblems(data, parent_question="Where was ...?", limit=4)
    assert items == [("Who founded Qarvex Labs?", []), ("Where was #1 born?", [0])]


async def test_a_plan_with_an_infinite_dependency_still_answers():
    plan = '{"subproblems": [{"question": "Who?"}, {"question": "Then?", "depends_on": [1e400]}]}'

    def script(kind, question, messages):
        if kind == "decompose":
            return plan if question.startswith("Where") else subproblems()
        return answer("Pelvoran")

    result = await create_gram_graph(scripted(script)).ainvoke({"question": "Where was it?"})
    assert result["answer"] == "Pelvoran"
