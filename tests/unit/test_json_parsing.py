"""Tolerant JSON parsing and the one repair retry (no network: a scripted ``complete``)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from langgraph_gram.errors import MalformedOutputError
from langgraph_gram.llm import (
    REPAIR_PROMPT,
    Message,
    RawCompletion,
    generate_with_repair,
    parse_json_object,
)

ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
}


class ScriptedBackend:
    """Returns scripted texts in order and records what it was sent."""

    def __init__(
        self, texts: Sequence[str], *, prompt_tokens: int = 10, completion_tokens: int = 5
    ):
        self.texts = list(texts)
        self.sent: list[list[Message]] = []
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens

    async def __call__(self, history: list[Message]) -> RawCompletion:
        self.sent.append(list(history))
        text = self.texts.pop(0)
        return RawCompletion(
            text=text, prompt_tokens=self.prompt_tokens, completion_tokens=self.completion_tokens
        )


MESSAGES: list[Message] = [
    {"role": "system", "content": 'Reply with JSON: {"answer": "..."}'},
    {"role": "user", "content": "What is the capital of France?"},
]


# -- parse_json_object ----------------------------------------------------------------------


def test_plain_object() -> None:
    assert parse_json_object('{"answer": "Paris"}') == {"answer": "Paris"}


@pytest.mark.parametrize(
    "text",
    [
        '```json\n{"answer": "Paris"}\n```',
        '```\n{"answer": "Paris"}\n```',
        'Sure! Here it is:\n```json\n{"answer": "Paris"}\n```\nHope that helps.',
    ],
)
def test_code_fences(text: str) -> None:
    assert parse_json_object(text) == {"answer": "Paris"}


def test_prose_around_object() -> None:
    text = 'The reply is {"answer": "Paris", "reasoning": "capital"} as requested.'
    assert parse_json_object(text) == {"answer": "Paris", "reasoning": "capital"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"answer": "Paris",}', {"answer": "Paris"}),  # trailing comma
        ("{'answer': 'Paris'}", {"answer": "Paris"}),  # single quotes
        ('{"answer": "Pari', {"answer": "Pari"}),  # cut mid-string
        ('{"subproblems": ["a", "b', {"subproblems": ["a", "b"]}),  # cut mid-array
        ('{"answer": "Paris", "reasoning": "it is', {"answer": "Paris", "reasoning": "it is"}),
    ],
)
def test_repairable(text: str, expected: dict[str, object]) -> None:
    assert parse_json_object(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty(text: str) -> None:
    assert parse_json_object(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry, I cannot help with that.",
        "answer: Paris",
        "{}",
        "null",
        "42",
        '"Paris"',
    ],
)
def test_unrecoverable(text: str) -> None:
    assert parse_json_object(text) is None


def test_bare_list_is_wrapped() -> None:
    assert parse_json_object('[{"question": "a"}]') == {"__list__": [{"question": "a"}]}


def test_prose_with_brackets_is_not_a_list() -> None:
    assert parse_json_object("I think [1] is right.") is None
    assert parse_json_object("Sure! {oops") != {"__list__": ["oops"]}


# -- generate_with_repair -------------------------------------------------------------------


async def test_valid_first_time() -> None:
    backend = ScriptedBackend(['{"answer": "Paris"}'])
    reply = await generate_with_repair(backend, MESSAGES, schema=ANSWER_SCHEMA, max_calls=2)
    assert reply.data == {"answer": "Paris"}
    assert reply.calls == 1
    assert reply.repaired is False
    assert (reply.prompt_tokens, reply.completion_tokens) == (10, 5)
    assert backend.sent == [MESSAGES]


async def test_repaired_without_retry() -> None:
    backend = ScriptedBackend(['```json\n{"answer": "Paris",}\n```'])
    reply = await generate_with_repair(backend, MESSAGES, schema=ANSWER_SCHEMA, max_calls=2)
    assert reply.data == {"answer": "Paris"}
    assert reply.calls == 1
    assert reply.repaired is True


async def test_truncated_repaired_without_retry() -> None:
    backend = ScriptedBackend(['{"answer": "Par'])
    reply = await generate_with_repair(backend, MESSAGES, schema=ANSWER_SCHEMA, max_calls=2)
    assert reply.data == {"answer": "Par"}
    assert reply.calls == 1
    assert reply.repaired is True


async def test_garbage_then_repair_succeeds() -> None:
    backend = ScriptedBackend(["I'm not sure.", '{"answer": "Paris"}'], prompt_tokens=7)
    reply = await generate_with_repair(backend, MESSAGES, schema=ANSWER_SCHEMA, max_calls=2)
    assert reply.data == {"answer": "Paris"}
    assert reply.calls == 2
    assert reply.repaired is True
    assert (reply.prompt_tokens, reply.completion_tokens) == (14, 10)
    # The retry shows the model its bad reply and asks again for the required keys.
    retry = backend.sent[1]
    assert retry[: len(MESSAGES)] == MESSAGES
    assert retry[len(MESSAGES)] == {"role": "assistant", "content": "I'm not sure."}
    assert retry[-1] == {"role": "user", "content": REPAIR_PROMPT.format(keys='"answer"')}


async def test_missing_required_key_triggers_retry() -> None:
    backend = ScriptedBackend(['{"reasoning": "capital"}', '{"answer": "Paris"}'])
    reply = await generate_with_repair(backend, MESSAGES, schema=ANSWER_SCHEMA, max_calls=2)
    assert reply.data == {"answer": "Paris"}
    assert reply.calls == 2


@pytest.mark.parametrize("second", ["still not json", "", '{"reasoning": "no answer key"}'])
async def test_garbage_twice_raises(second: str) -> None:
    backend = ScriptedBackend(["no json here", second])
    with pytest.raises(MalformedOutputError) as caught:
        await generate_with_repair(backend, MESSAGES, schema=ANSWER_SCHEMA, max_calls=2)
    err = caught.value
    assert err.calls == 2
    assert err.text == second
    assert (err.prompt_tokens, err.completion_tokens) == (20, 10)
    assert len(backend.sent) == 2


async def test_max_calls_one_means_no_retry() -> None:
    backend = ScriptedBackend(["", '{"answer": "never asked"}'])
    with pytest.raises(MalformedOutputError) as caught:
        await generate_with_repair(backend, MESSAGES, schema=ANSWER_SCHEMA, max_calls=1)
    assert caught.value.calls == 1
    assert len(backend.sent) == 1
    assert backend.texts == ['{"answer": "never asked"}']


async def test_max_calls_three_allows_two_retries() -> None:
    backend = ScriptedBackend(["nope", "nope again", '{"answer": "Paris"}'])
    reply = await generate_with_repair(backend, MESSAGES, schema=ANSWER_SCHEMA, max_calls=3)
    assert reply.calls == 3
    assert reply.data == {"answer": "Paris"}


async def test_max_calls_zero_still_makes_one_call() -> None:
    backend = ScriptedBackend(['{"answer": "Paris"}'])
    reply = await generate_with_repair(backend, MESSAGES, schema=ANSWER_SCHEMA, max_calls=0)
    assert reply.calls == 1


@pytest.mark.parametrize(
    "text",
    [
        '{"answer": "Paris"} [1]',
        '{"answer": "Paris"}\n\nSources: [1',
        '{"answer": "Paris"}\nThese are [2] steps.',
        '{"answer": "Paris"}\nNote: {"answer": "wrong"}',
        '<think>The reply looks like {"answer": "..."}.</think>\n{"answer": "Paris"}',
    ],
)
def test_a_complete_object_wins_over_what_follows_or_precedes_it(text: str) -> None:
    assert parse_json_object(text) == {"answer": "Paris"}


async def test_a_reply_made_of_content_blocks_is_read_as_its_text() -> None:
    import json

    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, ChatResult

    from langgraph_gram.llm import ChatModelAdapter

    class Blocks(GenericFakeChatModel):
        """Replies like Anthropic or the Responses API: a reasoning block, then text."""

        reply: str = ""
        messages: object = iter(())

        def _generate(self, messages, stop=None, run_manager=None, **kwargs):
            content = [
                {"type": "reasoning", "reasoning": "think first"},
                {"type": "text", "text": self.reply},
            ]
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content=content))])

    plan = {"subproblems": [{"question": "Who?", "depends_on": []}]}
    schema = {"type": "object", "required": ["subproblems"]}
    adapter = ChatModelAdapter(Blocks(reply=json.dumps(plan)))
    reply = await adapter.generate_json([{"role": "user", "content": "q"}], schema=schema)
    assert (reply.data, reply.calls) == (plan, 1)


@pytest.mark.parametrize(("failure", "calls"), [("http", 2), ("timeout", 1)])
async def test_a_retry_that_fails_carries_the_calls_already_answered(failure, calls) -> None:
    from langgraph_gram.errors import EndpointResponseError
    from langgraph_gram.nodes import spent_usage

    sent = []

    async def complete(history):
        sent.append(history)
        if len(sent) == 1:
            return RawCompletion(text="Sorry, no JSON.", prompt_tokens=900, completion_tokens=300)
        if failure == "timeout":
            raise TimeoutError
        raise EndpointResponseError("HTTP 400", url="http://127.0.0.1:9/v1", status_code=400)

    with pytest.raises((EndpointResponseError, TimeoutError)) as info:
        await generate_with_repair(
            complete, [{"role": "user", "content": "q"}], schema=ANSWER_SCHEMA, max_calls=2
        )
    usage = spent_usage("solve", [info.value])
    assert (usage["llm_calls"], usage["prompt_tokens"], usage["completion_tokens"]) == (
        calls,
        900,
        300,
    )
