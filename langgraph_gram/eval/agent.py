"""ReAct with ``langchain.agents.create_agent``, for endpoints whose native tool calling works.

``react`` uses this path when the endpoint returns real ``tool_calls`` (vLLM with
``--enable-auto-tool-choice``, SGLang, hosted APIs) and the JSON action format of
:func:`langgraph_gram.eval.methods.react` otherwise (llama-cpp-python's server writes tool
calls as text). :func:`supports_tool_calls` asks the endpoint once per run. Both paths get the
same tools, the same first-step rule (a tool call) and the same cap on tool calls.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import SecretStr

from langgraph_gram.errors import (
    EndpointResponseError,
    EndpointUnreachableError,
    is_transient_status,
)
from langgraph_gram.eval import prompts as P
from langgraph_gram.eval.datasets import EvalItem

_ANSWER_LINE = re.compile(r"(?im)^\s*(?:final\s+)?answer\s*[:：]\s*(.+?)\s*$")


def agent_chat_model(model: Any) -> BaseChatModel | None:
    """Find the LangChain chat model an agent baseline can drive for ``model``.

    Args:
        model: The run's model: a LangChain chat model, or an ``OpenAIEndpoint``.

    Returns:
        The chat model itself, a ``ChatOpenAI`` on the endpoint's URL, model and key (greedy,
        the endpoint's ``max_tokens``), or ``None`` when neither applies or
        ``langchain-openai`` is not installed.
    """
    if isinstance(model, BaseChatModel):
        return model
    if not (hasattr(model, "base_url") and hasattr(model, "model")):
        return None
    try:
        from langchain_openai import ChatOpenAI
    except ImportError:
        return None
    api_key = getattr(model, "api_key", None) or "EMPTY"
    return ChatOpenAI(
        base_url=model.base_url,
        model=model.model,
        # What pydantic would make of a plain string; anything else goes through as it is.
        api_key=SecretStr(api_key) if isinstance(api_key, str) else api_key,
        temperature=0,
        # The alias of ChatOpenAI's ``max_tokens`` field (``max_tokens=`` sets the same field).
        max_completion_tokens=getattr(model, "max_tokens", None),
        timeout=getattr(model, "timeout", 120),
        max_retries=2,
    )


@tool
def lookup(query: str) -> str:
    """Look a word up in the dictionary."""
    return f"{query}: a word."


async def supports_tool_calls(chat: BaseChatModel) -> bool:
    """Ask the endpoint once whether it returns native tool calls.

    Sends one request with a ``lookup`` tool and a message that asks for it, under the
    default ``tool_choice`` (auto), as an agent would.

    Args:
        chat: The chat model.

    Returns:
        Whether the reply holds a structured call of ``lookup``; ``False`` when the endpoint
        refuses the request (e.g. HTTP 400 for ``tools``) or the call comes back as text.

    Raises:
        EndpointUnreachableError: The endpoint could not be reached.
        EndpointResponseError: The endpoint failed (429, 5xx): no answer either way, so the
            caller asks again later instead of settling on the JSON protocol for the run.
    """
    url = str(getattr(chat, "openai_api_base", None) or type(chat).__name__)
    try:
        reply = await chat.bind_tools([lookup]).ainvoke(
            [HumanMessage("Use the lookup tool to look up the word 'river'.")]
        )
    except openai.APIConnectionError as exc:
        raise EndpointUnreachableError(f"cannot connect to {url}: {exc}", url=url) from exc
    except openai.APIStatusError as exc:
        if is_transient_status(exc.status_code):
            raise EndpointResponseError(
                f"{url} answered HTTP {exc.status_code} to the tool-calling probe",
                url=url,
                status_code=exc.status_code,
            ) from exc
        return False
    except Exception:  # any other refusal means: not usable for the agent baseline
        return False
    calls = getattr(reply, "tool_calls", None) or []
    return any(call.get("name") == "lookup" for call in calls)


def final_answer(text: str) -> str:
    """Take the answer from an agent's last message.

    Args:
        text: The message's text.

    Returns:
        What follows the last "Answer:" line, or the whole text stripped.
    """
    found = _ANSWER_LINE.findall(text)
    return (found[-1] if found else text).strip().strip("*").strip()


def _text(message: AIMessage) -> str:
    content = message.content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", "")) if isinstance(part, dict) else str(part) for part in content
        )
    return str(content)


async def run_agent(
    item: EvalItem, chat: BaseChatModel, tools: list[Any], *, max_steps: int
) -> dict[str, Any]:
    """Answer one item with a ``create_agent`` ReAct loop.

    A middleware forces a tool call on the first model call (``tool_choice="any"``) and takes
    the tools away once ``max_steps`` tool results are in, so the last call answers.

    Args:
        item: The item.
        chat: A chat model with working tool calls.
        tools: The item's tools.
        max_steps: The most tool calls.

    Returns:
        ``prediction``, ``llm_calls``, ``tool_calls``, ``prompt_tokens``,
        ``completion_tokens`` and ``steps`` (the calls made, in order).
    """
    from langchain.agents import create_agent
    from langchain.agents.middleware import AgentMiddleware

    class StepRules(AgentMiddleware):
        """The first call must use a tool; after ``max_steps`` results, none may."""

        def _adjust(self, request: Any) -> Any:
            used = sum(isinstance(m, ToolMessage) for m in request.messages)
            if used == 0:
                return request.override(tool_choice="any")
            if used >= max_steps:
                return request.override(tools=[], tool_choice=None)
            return request

        def wrap_model_call(self, request: Any, handler: Any) -> Any:
            return handler(self._adjust(request))

        async def awrap_model_call(self, request: Any, handler: Any) -> Any:
            return await handler(self._adjust(request))

    agent = create_agent(
        chat,
        tools=tools,
        system_prompt=P.REACT_AGENT_SYSTEM.format(answer_form=P.ANSWER_FORMS[item.kind]),
        middleware=[StepRules()],
    )
    result = await agent.ainvoke(
        {"messages": [HumanMessage(item.question)]},
        {"recursion_limit": 2 * max_steps + 6},
    )
    messages = result["messages"]
    replies = [m for m in messages if isinstance(m, AIMessage)]
    usage: list[Mapping[str, Any]] = [m.usage_metadata or {} for m in replies]
    steps = [
        {"action": call["name"], "input": call.get("args", {})}
        for m in replies
        for call in m.tool_calls
    ]
    return {
        "prediction": final_answer(_text(replies[-1])) if replies else "",
        "llm_calls": len(replies),
        "tool_calls": sum(isinstance(m, ToolMessage) for m in messages),
        "prompt_tokens": sum(u.get("input_tokens", 0) for u in usage),
        "completion_tokens": sum(u.get("output_tokens", 0) for u in usage),
        "steps": steps,
    }
