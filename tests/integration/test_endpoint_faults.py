"""OpenAIEndpoint against the fault-injecting server: mode learning, retries, errors, limits."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from fault_server import (
    FaultServer,
    InjectedFault,
    always_decompose,
    constant,
    fill_schema,
    max_overlap,
    request_kind,
)

from langgraph_gram.endpoint import OpenAIEndpoint
from langgraph_gram.errors import (
    ConfigurationError,
    EndpointResponseError,
    EndpointUnreachableError,
    MalformedOutputError,
)
from langgraph_gram.llm import CUT_PROMPT, REPAIR_PROMPT, StructuredLLM
from langgraph_gram.prompts import ANSWER_SCHEMA, DECOMPOSE_SCHEMA

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

Factory = Callable[..., FaultServer]


def ask(question: str) -> list[dict[str, str]]:
    return [
        {
            "role": "system",
            "content": 'Reply with JSON only: {"reasoning": "...", "answer": "..."}',
        },
        {"role": "user", "content": question},
    ]


def endpoint(server: FaultServer | str, **kwargs: Any) -> OpenAIEndpoint:
    """An endpoint with fast test defaults (short backoff)."""
    url = server if isinstance(server, str) else server.base_url
    settings: dict[str, Any] = {"timeout": 5, "retry_backoff": 0.02, "retry_backoff_max": 0.1}
    settings.update(kwargs)
    return OpenAIEndpoint(url, "fault-model", **settings)


# -- structured-output mode learning ---------------------------------------------------------


async def test_is_a_structured_llm(fault_server: FaultServer) -> None:
    assert isinstance(endpoint(fault_server), StructuredLLM)


async def test_json_schema_server(fault_server: FaultServer) -> None:
    llm = endpoint(fault_server)
    assert llm.structured_mode is None
    for i in range(3):
        reply = await llm.generate_json(ask(f"q{i}"), schema=ANSWER_SCHEMA, schema_name="answer")
        assert reply.data["answer"] == f"echo: q{i}"
        assert reply.calls == 1
    assert llm.structured_mode == "json_schema"
    assert llm.total_requests == 3
    records = fault_server.records
    assert [r.response_format for r in records] == ["json_schema"] * 3
    assert all(r.status == 200 for r in records)
    fmt = records[0].body["response_format"]
    assert fmt == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": ANSWER_SCHEMA, "strict": True},
    }


async def test_llama_cpp_python_learns_json_object_once(fault_server_factory: Factory) -> None:
    server = fault_server_factory(mode="llama-cpp-python", latency=0.05)
    llm = endpoint(server, max_retries=4)
    replies = await asyncio.gather(
        *(llm.generate_json(ask(f"q{i}"), schema=ANSWER_SCHEMA) for i in range(10))
    )
    for i in range(5):
        replies.append(await llm.generate_json(ask(f"later {i}"), schema=ANSWER_SCHEMA))
    assert all(r.calls == 1 for r in replies)
    assert llm.structured_mode == "json_object"
    records = server.records
    # Exactly one probe with json_schema, refused with HTTP 500 and not retried.
    assert server.count(response_format="json_schema") == 1
    assert server.count(status=500) == 1
    assert records[0].response_format == "json_schema"
    assert records[0].fault == "format_rejected"
    assert all(r.response_format == "json_object" and r.status == 200 for r in records[1:])
    assert records[1].body["response_format"] == {"type": "json_object", "schema": ANSWER_SCHEMA}
    assert llm.total_requests == len(records) == 16
    assert llm.total_retries == 0


async def test_prompt_only_server(fault_server_factory: Factory) -> None:
    server = fault_server_factory(accepts=set())
    llm = endpoint(server)
    for i in range(4):
        reply = await llm.generate_json(ask(f"q{i}"), schema=ANSWER_SCHEMA)
        assert reply.data["answer"] == f"echo: q{i}"
    assert llm.structured_mode == "prompt"
    formats = [r.response_format for r in server.records]
    assert formats == ["json_schema", "json_object", None, None, None, None]
    assert [r.status for r in server.records[:2]] == [400, 400]
    assert "response_format" not in server.records[2].body
    assert llm.total_requests == 6


async def test_lenient_server_keeps_json_schema(fault_server_factory: Factory) -> None:
    server = fault_server_factory(mode="lenient")
    llm = endpoint(server)
    await llm.generate_json(ask("q"), schema=ANSWER_SCHEMA)
    assert llm.structured_mode == "json_schema"


async def test_fixed_mode_does_not_probe(fault_server_factory: Factory) -> None:
    server = fault_server_factory(mode="llama-cpp-python")
    llm = endpoint(server, structured="json_object")
    assert llm.structured_mode == "json_object"
    await llm.generate_json(ask("q"), schema=ANSWER_SCHEMA)
    assert [r.response_format for r in server.records] == ["json_object"]


async def test_unrelated_400_is_not_a_format_rejection(fault_server: FaultServer) -> None:
    fault_server.configure(schedule=["400"])
    llm = endpoint(fault_server, max_retries=3)
    with pytest.raises(EndpointResponseError) as caught:
        await llm.generate_json(ask("q"), schema=ANSWER_SCHEMA)
    assert caught.value.status_code == 400
    assert fault_server.base_url in str(caught.value)
    assert llm.total_requests == 1  # neither retried nor re-sent in another format
    assert llm.structured_mode is None  # nothing learned from a failure
    await llm.generate_json(ask("q"), schema=ANSWER_SCHEMA)
    assert llm.structured_mode == "json_schema"


# -- transport retries -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "faults",
    [["500"], ["429"], ["hang"], ["500", "429", "500"], ["hang", "500", "429"]],
    ids=lambda faults: "+".join(faults),
)
async def test_transient_faults_recover(fault_server: FaultServer, faults: list[str]) -> None:
    fault_server.configure(schedule=faults, hang_seconds=5)
    llm = endpoint(fault_server, timeout=0.5, max_retries=4)
    started = time.monotonic()
    reply = await llm.generate_json(ask("q"), schema=ANSWER_SCHEMA)
    elapsed = time.monotonic() - started
    assert reply.data["answer"] == "echo: q"
    assert reply.calls == 1  # transport retries are not LLM calls
    assert llm.total_requests == len(faults) + 1
    assert llm.total_retries == len(faults)
    assert [r.fault for r in fault_server.records] == [*faults, None]
    assert llm.structured_mode == "json_schema"  # a transient 500 is not a format rejection
    assert elapsed < 0.5 * faults.count("hang") + 2


async def test_retry_after_is_honoured(fault_server: FaultServer) -> None:
    # Retry-After: 0 wins over a long backoff.
    fault_server.configure(schedule=["429", "429"])
    llm = endpoint(fault_server, retry_backoff=10, retry_backoff_max=10)
    started = time.monotonic()
    await llm.generate_json(ask("q"), schema=ANSWER_SCHEMA)
    assert time.monotonic() - started < 1.5
    assert llm.total_requests == 3


@pytest.mark.parametrize(("fault", "status"), [("500", 500), ("429", 429)])
async def test_persistent_error_status(fault_server: FaultServer, fault: str, status: int) -> None:
    fault_server.configure(schedule=[fault] * 10)
    llm = endpoint(fault_server, max_retries=2)
    with pytest.raises(EndpointResponseError) as caught:
        await llm.generate_json(ask("q"), schema=ANSWER_SCHEMA)
    assert caught.value.status_code == status
    assert caught.value.transient  # the server failed, not the request: worth a later retry
    assert caught.value.url == fault_server.base_url
    assert fault_server.base_url in str(caught.value)
    assert llm.total_requests == 3  # 1 + max_retries, and no format fallback
    assert fault_server.count() == 3


async def test_persistent_500_after_mode_learned(fault_server: FaultServer) -> None:
    llm = endpoint(fault_server, max_retries=1)
    await llm.generate_json(ask("q"), schema=ANSWER_SCHEMA)
    fault_server.configure(schedule=["500"] * 5)
    with pytest.raises(EndpointResponseError) as caught:
        await llm.generate_json(ask("q"), schema=ANSWER_SCHEMA)
    assert caught.value.status_code == 500
    assert llm.total_requests == 3


async def test_unreachable_port(closed_port_url: str) -> None:
    llm = endpoint(closed_port_url, timeout=1, max_retries=2)
    started = time.monotonic()
    with pytest.raises(EndpointUnreachableError) as caught:
        await llm.generate_json(ask("q"), schema=ANSWER_SCHEMA)
    assert time.monotonic() - started < 5
    assert caught.value.url == closed_port_url
    assert closed_port_url in str(caught.value)
    assert llm.total_requests == 3
    assert llm.structured_mode is None


async def test_unreachable_port_concurrent_calls_share_the_probe_failure(
    closed_port_url: str,
) -> None:
    llm = endpoint(closed_port_url, timeout=1, max_retries=2)
    started = time.monotonic()
    results = await asyncio.gather(
        *(llm.generate_json(ask(f"q{i}"), schema=ANSWER_SCHEMA) for i in range(8)),
        return_exceptions=True,
    )
    assert time.monotonic() - started < 5
    assert all(isinstance(r, EndpointUnreachableError) for r in results)
    assert all(closed_port_url in str(r) for r in results)
    assert llm.total_requests == 3  # one probe with its retries, not one per waiting call


async def test_persistent_hang_is_unreachable(fault_server: FaultServer) -> None:
    fault_server.configure(schedule=["hang"] * 5, hang_seconds=3)
    llm = endpoint(fault_server, timeout=0.3, max_retries=1)
    started = time.monotonic()
    with pytest.raises(EndpointUnreachableError) as caught:
        await llm.generate_json(ask("q"), schema=ANSWER_SCHEMA)
    assert time.monotonic() - started < 2
    assert fault_server.base_url in str(caught.value)
    assert "0.3 s" in str(caught.value)
    assert llm.total_requests == 2


async def test_bad_model_404_not_retried(fault_server: FaultServer) -> None:
    llm = OpenAIEndpoint(fault_server.base_url + "/nope", "fault-model", max_retries=3)
    with pytest.raises(EndpointResponseError) as caught:
        await llm.generate_json(ask("q"), schema=ANSWER_SCHEMA)
    assert caught.value.status_code == 404
    assert not caught.value.transient  # this request is wrong: retrying it cannot help
    assert llm.total_requests == 1


# -- malformed output ------------------------------------------------------------------------


async def test_malformed_then_repair_retry(fault_server: FaultServer) -> None:
    fault_server.configure(schedule=["malformed"])
    llm = endpoint(fault_server)
    reply = await llm.generate_json(ask("q"), schema=ANSWER_SCHEMA)
    assert reply.calls == 2
    assert reply.repaired is True
    assert reply.data["answer"].startswith("echo: ")
    retry = fault_server.records[1].body["messages"]
    assert retry[-2]["role"] == "assistant"
    assert retry[-1]["content"] == REPAIR_PROMPT.format(keys='"reasoning", "answer"')


async def test_json_cut_at_the_length_limit_is_asked_again(fault_server: FaultServer) -> None:
    # Repaired, the cut reply would parse ('{"answer": "Paris is the ca' -> "Paris is the ca"),
    # but its value is cut too: the reply is asked for again instead.
    full = json.dumps({"reasoning": "r", "answer": "Paris is the capital of France"})
    fault_server.configure(schedule=["truncated"], responder=constant(full))
    llm = endpoint(fault_server)
    reply = await llm.generate_json(ask("q"), schema=ANSWER_SCHEMA)
    assert reply.calls == 2
    assert reply.data["answer"] == "Paris is the capital of France"
    assert llm.total_requests == 2
    retry = fault_server.records[1].body["messages"]
    assert retry[-1]["content"] == CUT_PROMPT.format(keys='"reasoning", "answer"')


@pytest.mark.parametrize("fault", ["malformed", "empty", "null"])
async def test_bad_content_twice_raises_malformed(fault_server: FaultServer, fault: str) -> None:
    fault_server.configure(schedule=[fault, fault])
    llm = endpoint(fault_server)
    with pytest.raises(MalformedOutputError) as caught:
        await llm.generate_json(ask("q"), schema=ANSWER_SCHEMA)
    assert caught.value.calls == 2
    assert caught.value.prompt_tokens > 0
    assert llm.total_requests == 2


@pytest.mark.parametrize("fault", ["malformed", "empty", "null"])
async def test_max_calls_one_no_repair_retry(fault_server: FaultServer, fault: str) -> None:
    fault_server.configure(schedule=[fault])
    llm = endpoint(fault_server)
    with pytest.raises(MalformedOutputError) as caught:
        await llm.generate_json(ask("q"), schema=ANSWER_SCHEMA, max_calls=1)
    assert caught.value.calls == 1
    assert llm.total_requests == 1


async def test_think_block_is_stripped(fault_server: FaultServer) -> None:
    content = '<think>maybe {"answer": "wrong"}</think>{"reasoning": "r", "answer": "right"}'
    fault_server.configure(responder=constant(content))
    reply = await endpoint(fault_server).generate_json(ask("q"), schema=ANSWER_SCHEMA)
    assert reply.data["answer"] == "right"


async def test_random_faults_soak(fault_server_factory: Factory) -> None:
    server = fault_server_factory(
        fault_rate=0.35, fault_kinds=("500", "429", "malformed", "truncated", "empty"), seed=7
    )
    llm = endpoint(server, max_retries=6)
    outcomes = []
    for i in range(25):
        try:
            await llm.generate_json(ask(f"q{i}"), schema=ANSWER_SCHEMA)
            outcomes.append("ok")
        except MalformedOutputError:
            outcomes.append("malformed")
    assert outcomes.count("ok") >= 20
    assert server.count(fault="500") + server.count(fault="429") > 0
    assert llm.total_requests == server.count()


# -- concurrency and usage -------------------------------------------------------------------


@pytest.mark.parametrize("limit", [3, 10])
async def test_semaphore_bounds_concurrency(fault_server_factory: Factory, limit: int) -> None:
    server = fault_server_factory(latency=0.25)
    llm = endpoint(server, max_concurrency=limit, structured="json_schema")
    started = time.monotonic()
    await asyncio.gather(
        *(llm.generate_json(ask(f"q{i}"), schema=ANSWER_SCHEMA) for i in range(10))
    )
    elapsed = time.monotonic() - started
    records = server.records
    assert len(records) == 10
    assert server.max_in_flight == limit  # reached, never exceeded
    assert max_overlap(records) == limit
    batches = -(-10 // limit)
    assert elapsed >= 0.25 * batches - 0.05


async def test_usage_reported(fault_server: FaultServer) -> None:
    llm = endpoint(fault_server)
    replies = [
        await llm.generate_json(ask(f"question {i}"), schema=ANSWER_SCHEMA) for i in range(3)
    ]
    records = fault_server.records
    for reply, record in zip(replies, records, strict=True):
        assert reply.prompt_tokens == record.prompt_tokens > 0
        assert reply.completion_tokens == record.completion_tokens > 0
    assert llm.total_prompt_tokens == sum(r.prompt_tokens for r in records)
    assert llm.total_completion_tokens == sum(r.completion_tokens for r in records)


async def test_usage_estimated_when_missing(fault_server: FaultServer) -> None:
    fault_server.configure(include_usage=False)
    llm = endpoint(fault_server)
    reply = await llm.generate_json(ask("question"), schema=ANSWER_SCHEMA)
    assert reply.prompt_tokens > 0
    assert reply.completion_tokens > 0
    assert llm.total_prompt_tokens == reply.prompt_tokens


async def test_usage_counts_both_calls_of_a_repair(fault_server: FaultServer) -> None:
    fault_server.configure(schedule=["malformed"])
    llm = endpoint(fault_server)
    reply = await llm.generate_json(ask("q"), schema=ANSWER_SCHEMA)
    records = fault_server.records
    assert reply.prompt_tokens == sum(r.prompt_tokens for r in records)
    assert reply.completion_tokens == sum(r.completion_tokens for r in records)


# -- request parameters and plumbing ---------------------------------------------------------


async def test_sampling_parameters_pass_through(fault_server: FaultServer) -> None:
    llm = endpoint(fault_server, max_tokens=77, extra_body={"top_k": 20, "min_p": 0.1})
    await llm.generate_json(ask("q"), schema=ANSWER_SCHEMA, temperature=0.7, seed=42)
    body = fault_server.records[0].body
    assert body["temperature"] == 0.7
    assert body["seed"] == 42
    assert body["max_tokens"] == 77
    assert body["top_k"] == 20
    assert body["min_p"] == 0.1
    assert body["model"] == "fault-model"
    assert "n" not in body


async def test_unset_parameters_are_not_sent(fault_server: FaultServer) -> None:
    llm = endpoint(fault_server, max_tokens=None)
    await llm.generate_json(ask("q"), schema=ANSWER_SCHEMA)
    body = fault_server.records[0].body
    for key in ("temperature", "seed", "max_tokens", "n"):
        assert key not in body


def test_same_endpoint_on_two_event_loops(fault_server: FaultServer) -> None:
    llm = endpoint(fault_server)
    first = asyncio.run(llm.generate_json(ask("one"), schema=ANSWER_SCHEMA))
    second = asyncio.run(llm.generate_json(ask("two"), schema=ANSWER_SCHEMA))
    assert first.data["answer"] == "echo: one"
    assert second.data["answer"] == "echo: two"
    assert fault_server.count(response_format="json_schema") == 2
    assert llm.total_requests == 2


async def test_list_models_and_aclose(fault_server: FaultServer) -> None:
    async with endpoint(fault_server) as llm:
        assert await llm.list_models() == ["fault-model"]
    assert fault_server.models_requests == 1


def test_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAM_BASE_URL", "http://127.0.0.1:9/v1/")
    monkeypatch.setenv("GRAM_MODEL", "m")
    monkeypatch.setenv("GRAM_API_KEY", "k")
    monkeypatch.setenv("GRAM_MAX_CONCURRENCY", "7")
    llm = OpenAIEndpoint.from_env(max_tokens=64)
    assert (llm.base_url, llm.model, llm.api_key) == ("http://127.0.0.1:9/v1", "m", "k")
    assert (llm.max_concurrency, llm.max_tokens) == (7, 64)
    monkeypatch.delenv("GRAM_MODEL")
    with pytest.raises(ConfigurationError, match="GRAM_MODEL"):
        OpenAIEndpoint.from_env()
    monkeypatch.setenv("GRAM_MODEL", "m")
    monkeypatch.setenv("GRAM_MAX_CONCURRENCY", "many")
    with pytest.raises(ConfigurationError, match="GRAM_MAX_CONCURRENCY"):
        OpenAIEndpoint.from_env()


@pytest.mark.parametrize(
    "kwargs",
    [{"max_concurrency": 0}, {"timeout": 0}, {"max_retries": -1}, {"structured": "xml"}],
)
def test_invalid_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        OpenAIEndpoint("http://127.0.0.1:9/v1", "m", **kwargs)


# -- the fault server's own helpers ----------------------------------------------------------


async def test_always_decompose_responder(fault_server_factory: Factory) -> None:
    server = fault_server_factory(responder=always_decompose(10))
    llm = endpoint(server)
    split = await llm.generate_json(ask("big question"), schema=DECOMPOSE_SCHEMA)
    assert len(split.data["subproblems"]) == 10
    assert all(set(s) == {"question", "depends_on"} for s in split.data["subproblems"])
    assert len({s["question"] for s in split.data["subproblems"]}) == 10
    answer = await llm.generate_json(ask("small question"), schema=ANSWER_SCHEMA)
    assert answer.data["answer"] == "answer to: small question"
    assert [r.kind for r in server.records] == ["decompose", "answer"]


@pytest.mark.parametrize("object_items", [False, True])
async def test_always_decompose_in_prompt_mode(
    fault_server_factory: Factory, object_items: bool
) -> None:
    server = fault_server_factory(accepts=set(), responder=always_decompose(2))
    llm = endpoint(server, structured="prompt")
    shape = '{"question": "...", "depends_on": []}' if object_items else '"..."'
    messages = [
        {"role": "system", "content": f'Reply with JSON: {{"subproblems": [{shape}]}}'},
        {"role": "user", "content": "big question"},
    ]
    split = await llm.generate_json(messages, schema={"required": ["subproblems"]})
    items = split.data["subproblems"]
    assert len(items) == 2
    texts = [item["question"] for item in items] if object_items else items
    assert all(isinstance(text, str) for text in texts)
    assert [text.split(" of ")[0] for text in texts] == ["sub-problem A", "sub-problem B"]
    if object_items:
        assert all(item["depends_on"] == [] for item in items)
    assert server.records[0].kind == "decompose"


async def test_responder_can_inject_faults(fault_server: FaultServer) -> None:
    calls = {"n": 0}

    def flaky(body: dict[str, Any]) -> str:
        calls["n"] += 1
        if calls["n"] == 1:
            raise InjectedFault("500")
        return json.dumps(fill_schema({"required": ["answer"], "properties": {}}, "ok"))

    fault_server.configure(responder=flaky)
    reply = await endpoint(fault_server).generate_json(ask("q"), schema={"required": ["answer"]})
    assert reply.data == {"answer": "ok"}
    assert [r.status for r in fault_server.records] == [500, 200]


def test_request_kind_detection() -> None:
    def body(fmt: dict[str, Any] | None, system: str = "") -> dict[str, Any]:
        b: dict[str, Any] = {"messages": [{"role": "system", "content": system}]}
        if fmt is not None:
            b["response_format"] = fmt
        return b

    schema_fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": DECOMPOSE_SCHEMA}}
    assert request_kind(body(schema_fmt)) == "decompose"
    assert request_kind(body({"type": "json_object", "schema": ANSWER_SCHEMA})) == "answer"
    assert request_kind(body({"type": "json_object", "schema": {"properties": {}}})) == "unknown"
    assert request_kind(body(None, 'reply {"subproblems": []}')) == "decompose"
    assert request_kind(body(None, 'reply {"answer": "..."}')) == "answer"
    assert request_kind(body(None, "say hi")) == "unknown"
