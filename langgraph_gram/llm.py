"""The small interface the engine needs from a model, and its adapter for LangChain chat models.

The engine only ever asks a model for one JSON object that matches a JSON schema. Two backends
implement :class:`StructuredLLM`: :class:`ChatModelAdapter` (any LangChain ``BaseChatModel``) and
:class:`langgraph_gram.endpoint.OpenAIEndpoint` (any OpenAI-compatible server). Both share
:func:`generate_with_repair`: parse tolerantly, and spend one more call asking for valid JSON
when the output is beyond repair, within the call allowance the controller granted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import json_repair
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from langgraph_gram.errors import MalformedOutputError

Message = dict[str, str]
"""A chat message as a plain ``{"role": ..., "content": ...}`` dict."""


@dataclass
class RawCompletion:
    """One raw completion from a backend.

    Attributes:
        text: The text the model produced.
        prompt_tokens: Prompt tokens the backend reported (or estimated).
        completion_tokens: Completion tokens the backend reported (or estimated).
        finish_reason: Why generation stopped (``"stop"``, ``"length"``...), when known.
    """

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None


@dataclass
class LLMReply:
    """A parsed JSON reply and what it cost.

    Attributes:
        data: The parsed JSON object.
        text: The raw text of the last completion.
        calls: LLM calls spent (1, or 2 after a repair retry).
        prompt_tokens: Prompt tokens spent over all calls.
        completion_tokens: Completion tokens spent over all calls.
        repaired: Whether the JSON needed repair or a retry.
    """

    data: dict[str, Any]
    text: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    repaired: bool = False


@runtime_checkable
class StructuredLLM(Protocol):
    """What the engine needs from a model: one JSON object per call."""

    async def generate_json(
        self,
        messages: Sequence[Message],
        *,
        schema: dict[str, Any],
        schema_name: str = "reply",
        temperature: float | None = None,
        seed: int | None = None,
        max_calls: int = 2,
    ) -> LLMReply:
        """Ask for one JSON object that matches ``schema``.

        Args:
            messages: Chat messages (``role``/``content`` dicts).
            schema: The JSON schema of the expected object.
            schema_name: A short name for the schema (used by ``json_schema`` servers).
            temperature: Sampling temperature, or ``None`` for the backend's default.
            seed: Sampling seed, or ``None``.
            max_calls: The most LLM calls this request may spend, repair retries included.

        Returns:
            The parsed reply and its cost.

        Raises:
            MalformedOutputError: The output stayed unparseable within ``max_calls``.
            EndpointError: The backend failed (endpoint backends only).
        """
        ...


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)
THINK_BLOCK = re.compile(r"^\s*<think>.*?</think>\s*", re.DOTALL)
"""A reasoning model's thoughts before its reply (Qwen3, DeepSeek-R1 served as plain text)."""


def _leading_object(text: str) -> dict[str, Any] | None:
    """Read a complete JSON object at the text's first ``{`` and ignore what follows it."""
    start = text.find("{")
    if start < 0:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(text, start)
    except ValueError:
        return None
    return value if isinstance(value, dict) and value else None


def parse_json_object(text: str) -> dict[str, Any] | None:
    """Parse a JSON object out of model text, repairing what can be repaired.

    Handles code fences, prose around the object, trailing commas, single quotes and output
    truncated mid-object (via ``json_repair``).

    Args:
        text: Raw model output.

    Returns:
        The object, or ``None`` when no object can be recovered.
    """
    text = THINK_BLOCK.sub("", text or "", count=1)
    if not text.strip():
        return None
    candidates = [text.strip()]
    fenced = _FENCE.search(text)
    if fenced:
        candidates.insert(0, fenced.group(1).strip())
    start = text.find("{")
    if start > 0:
        candidates.append(text[start:])
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            # A complete object followed by more text ('{...} [1]', '{...} These are [2]
            # steps.'): json_repair would read the whole as a list.
            value = _leading_object(candidate) if candidate.startswith("{") else None
            if value is None:
                try:
                    value = json_repair.loads(candidate)
                except Exception:  # json_repair raises assorted errors on hopeless input
                    continue
        if isinstance(value, dict) and value:
            return value
        if isinstance(value, list) and candidate.lstrip().startswith("["):
            # A bare JSON list (not prose that json_repair turned into one): the caller's
            # normaliser decides what it means.
            return {"__list__": value}
        if isinstance(value, list):
            # An object that json_repair read together with what followed it.
            first = next((v for v in value if isinstance(v, dict) and v), None)
            if first is not None:
                return first
    return None


def missing_required(data: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """List the schema's required top-level keys that ``data`` lacks.

    Args:
        data: A parsed object.
        schema: Its JSON schema.

    Returns:
        The missing key names (empty when all are there).
    """
    return [key for key in schema.get("required", []) if key not in data]


REPAIR_PROMPT = (
    "Your previous reply was not a valid JSON object with the keys {keys}. "
    "Reply again with only that JSON object, nothing else."
)
"""The user message of the one repair retry."""

CUT_PROMPT = (
    "Your previous reply was cut off at the length limit. Reply again with only the JSON "
    "object with the keys {keys}, keeping every value short."
)
"""The user message of the retry after a reply cut off by the completion cap."""


async def generate_with_repair(
    complete: Callable[[list[Message]], Awaitable[RawCompletion]],
    messages: Sequence[Message],
    *,
    schema: dict[str, Any],
    max_calls: int,
) -> LLMReply:
    """Call a backend, parse tolerantly, and retry once with a repair prompt when needed.

    A reply that is not the expected JSON object is repaired when it can be; one cut off by
    the completion cap (``finish_reason == "length"``) before its JSON was complete is retried
    instead, since its repaired values would be cut too.

    Args:
        complete: Sends messages to the backend and returns its raw completion.
        messages: The request's messages.
        schema: The expected object's JSON schema (its ``required`` keys are checked).
        max_calls: The most calls to spend (at least 1).

    Returns:
        The parsed reply.

    Raises:
        MalformedOutputError: Nothing parseable came back within ``max_calls``.
        Exception: What ``complete`` raised; after an answered call it carries ``calls``,
            ``prompt_tokens`` and ``completion_tokens`` spent so far.
    """
    history = list(messages)
    calls = prompt_tokens = completion_tokens = 0
    last_text = ""
    keys = ", ".join(f'"{k}"' for k in schema.get("required", [])) or "the requested"
    for attempt in range(max(1, max_calls)):
        try:
            raw = await complete(history)
        except Exception as exc:
            if calls:
                # A retry failed at the server: the failure carries the answered calls too,
                # so the budget is charged for them (see ``nodes.spent_usage``).
                exc.calls = calls + (0 if isinstance(exc, TimeoutError) else 1)  # type: ignore[attr-defined]
                exc.prompt_tokens = prompt_tokens  # type: ignore[attr-defined]
                exc.completion_tokens = completion_tokens  # type: ignore[attr-defined]
            raise
        calls += 1
        prompt_tokens += raw.prompt_tokens
        completion_tokens += raw.completion_tokens
        last_text = raw.text
        data = parse_json_object(raw.text)
        # A reply cut off by the completion cap is not an answer, however well it repairs:
        # '{"answer": "Washington, D' would become "Washington, D".
        cut = raw.finish_reason == "length" and _needed_repair(raw.text)
        if data is not None and not cut and _acceptable(data, schema):
            return LLMReply(
                data=data,
                text=raw.text,
                calls=calls,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                repaired=attempt > 0 or _needed_repair(raw.text),
            )
        history = [
            *messages,
            {"role": "assistant", "content": raw.text[:2000]},
            {"role": "user", "content": (CUT_PROMPT if cut else REPAIR_PROMPT).format(keys=keys)},
        ]
    raise MalformedOutputError(
        f"model output was not valid JSON after {calls} call(s): {last_text[:200]!r}",
        text=last_text,
        calls=calls,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
    )


def _acceptable(data: dict[str, Any], schema: dict[str, Any]) -> bool:
    """Tell whether a parsed reply is usable.

    It is when it has the schema's required keys, or when it is a bare list and the schema's
    one required key is an array (``[...]`` standing for ``{"subproblems": [...]}``).
    """
    if "__list__" in data:
        required = schema.get("required", [])
        props = schema.get("properties", {})
        return len(required) == 1 and props.get(required[0], {}).get("type") == "array"
    return not missing_required(data, schema)


def _needed_repair(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return True
    return False


def estimate_tokens(text: str) -> int:
    """Estimate a token count for backends that report none (about four characters a token).

    Args:
        text: Any text.

    Returns:
        The estimate, at least 1 for non-empty text.
    """
    return (len(text) + 3) // 4 if text else 0


def to_langchain_messages(messages: Sequence[Message]) -> list[BaseMessage]:
    """Convert plain role/content dicts into LangChain messages.

    Args:
        messages: Plain messages.

    Returns:
        The same messages as LangChain objects.
    """
    kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    return [kinds.get(m["role"], HumanMessage)(content=m["content"]) for m in messages]


class ChatModelAdapter:
    """Makes any LangChain ``BaseChatModel`` a :class:`StructuredLLM`.

    The schema is stated in the prompt (the engine's prompts already show the JSON shape), the
    reply is parsed tolerantly, and one repair retry is spent when it is beyond repair. Token
    usage comes from ``usage_metadata`` when the model reports it, else it is estimated.
    """

    def __init__(self, model: BaseChatModel) -> None:
        """Wrap a chat model.

        Args:
            model: Any LangChain chat model.
        """
        self.model = model

    async def generate_json(
        self,
        messages: Sequence[Message],
        *,
        schema: dict[str, Any],
        schema_name: str = "reply",
        temperature: float | None = None,
        seed: int | None = None,
        max_calls: int = 2,
    ) -> LLMReply:
        """Ask the chat model for one JSON object (see :class:`StructuredLLM`)."""
        model: Any = self.model
        if temperature is not None and "temperature" in type(self.model).model_fields:
            model = self.model.model_copy(update={"temperature": temperature})

        async def complete(history: list[Message]) -> RawCompletion:
            try:
                reply = await model.ainvoke(to_langchain_messages(history))
            except Exception as exc:
                typed = provider_error(self.model, exc)
                if typed is None:
                    raise
                raise typed from exc
            # ``.text`` joins a reply's text blocks (Anthropic, the Responses API, Gemini)
            # and leaves out reasoning blocks; a plain string reply is itself.
            text = THINK_BLOCK.sub("", reply.text, count=1)
            usage = getattr(reply, "usage_metadata", None) or {}
            prompt = usage.get("input_tokens") or sum(
                estimate_tokens(m["content"]) for m in history
            )
            completion = usage.get("output_tokens") or estimate_tokens(text)
            metadata = getattr(reply, "response_metadata", None) or {}
            return RawCompletion(
                text=text,
                prompt_tokens=prompt,
                completion_tokens=completion,
                finish_reason=metadata.get("finish_reason") or metadata.get("done_reason"),
            )

        return await generate_with_repair(complete, messages, schema=schema, max_calls=max_calls)


def provider_error(model: Any, exc: BaseException) -> Exception | None:
    """Translate a chat model provider's transport error into a typed endpoint error.

    LangChain chat models raise their SDK's own exceptions (``openai``, ``httpx``, Ollama's
    ``ResponseError``...); the engine, like :class:`~langgraph_gram.endpoint.OpenAIEndpoint`,
    reports an unreachable server and an error status as
    :class:`~langgraph_gram.errors.EndpointUnreachableError` and
    :class:`~langgraph_gram.errors.EndpointResponseError`, naming the model's base URL.

    Args:
        model: The chat model (its ``openai_api_base`` or ``base_url`` names the server).
        exc: What its call raised.

    Returns:
        The typed error, or ``None`` when ``exc`` is not a transport error (a bug, or already
        one of the library's errors), to be raised as it is.
    """
    import httpx
    import openai

    from langgraph_gram.errors import EndpointResponseError, EndpointUnreachableError, GramError

    if isinstance(exc, GramError):
        return None
    url = str(
        getattr(model, "openai_api_base", None)
        or getattr(model, "base_url", None)
        or type(model).__name__
    )
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError | ConnectionError):
        return EndpointUnreachableError(f"cannot reach {url}: {type(exc).__name__}: {exc}", url=url)
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return EndpointResponseError(
            f"{url} answered HTTP {status}: {exc}", url=url, status_code=status
        )
    return None


def as_structured_llm(model: Any) -> StructuredLLM:
    """Return ``model`` as a :class:`StructuredLLM`.

    Args:
        model: An ``OpenAIEndpoint`` (or anything with ``generate_json``) or a LangChain chat
            model.

    Returns:
        A backend the engine can call.

    Raises:
        ConfigurationError: ``model`` is neither.
    """
    from langgraph_gram.errors import ConfigurationError

    if isinstance(model, StructuredLLM):
        return model
    if isinstance(model, BaseChatModel):
        return ChatModelAdapter(model)
    raise ConfigurationError(
        f"model must be a LangChain BaseChatModel or an OpenAIEndpoint, got {type(model).__name__}"
    )
