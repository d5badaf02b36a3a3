"""Fake chat models for unit tests: scripted by a function of the prompt, with ``bind_tools``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult


def kind_of(messages: list[BaseMessage]) -> str:
    """Tell which engine role a request comes from, by the task line of its first user message."""
    task = str(messages[1].content)
    if task.startswith("Task: PLAN"):
        return "decompose"
    if task.startswith("Task: COMBINE"):
        return "aggregate"
    return "solve"


def question_of(messages: list[BaseMessage]) -> str:
    user = str(messages[-1].content)
    for marker in ("Question to plan: ", "Question to answer now: "):
        if marker in user:
            return user.rsplit(marker, 1)[1].strip()
    return user


class ScriptedChatModel(GenericFakeChatModel):
    """A fake chat model whose reply is computed from the request by ``script``.

    ``script(kind, question, messages) -> str`` returns the raw text to send back.
    Every request is logged in ``calls``.
    """

    script: Callable[[str, str, list[BaseMessage]], str]
    calls: list[dict[str, Any]] = []
    messages: Any = iter(())

    def model_post_init(self, context: Any) -> None:
        self.calls = []

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        kind, question = kind_of(messages), question_of(messages)
        self.calls.append({"kind": kind, "question": question, "messages": messages})
        text = self.script(kind, question, messages)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        return self._generate(messages, stop=stop, run_manager=run_manager, **kwargs)

    def bind_tools(self, tools, **kwargs):
        return self


def answer(text: str) -> str:
    return json.dumps({"reasoning": "because", "answer": text})


def subproblems(*items: tuple[str, list[int]]) -> str:
    return json.dumps({"subproblems": [{"question": q, "depends_on": d} for q, d in items]})


def scripted(fn: Callable[[str, str, list[BaseMessage]], str]) -> ScriptedChatModel:
    return ScriptedChatModel(script=fn)


class ToolCallingChatModel(GenericFakeChatModel):
    """A fake chat model with native tool calls, as vLLM or a hosted API returns them.

    ``script(messages, tool_names, tool_choice) -> AIMessage`` makes each reply; ``bind_tools``
    returns a copy that remembers the tools and ``tool_choice``. Every request is logged in
    ``calls`` (shared by the copies) as ``{"messages", "tools", "tool_choice"}``.
    """

    script: Callable[[list[BaseMessage], list[str], Any], AIMessage]
    calls: list[dict[str, Any]]
    bound: list[str] = []
    choice: Any = None
    messages: Any = iter(())

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        self.calls.append({"messages": messages, "tools": self.bound, "tool_choice": self.choice})
        reply = self.script(messages, self.bound, self.choice)
        return ChatResult(generations=[ChatGeneration(message=reply)])

    async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        return self._generate(messages, stop=stop, run_manager=run_manager, **kwargs)

    def bind_tools(self, tools, *, tool_choice=None, **kwargs):
        names = [getattr(t, "name", None) or t.get("name") for t in tools]
        return self.model_copy(update={"bound": names, "choice": tool_choice})


def tool_call(name: str, **args: Any) -> AIMessage:
    """An assistant message that calls one tool."""
    return AIMessage(
        content="",
        tool_calls=[{"name": name, "args": args, "id": f"call_{name}_{len(args)}"}],
        usage_metadata={"input_tokens": 50, "output_tokens": 10, "total_tokens": 60},
    )


def said(text: str) -> AIMessage:
    """An assistant message with text only."""
    return AIMessage(
        content=text,
        usage_metadata={"input_tokens": 80, "output_tokens": 5, "total_tokens": 85},
    )
