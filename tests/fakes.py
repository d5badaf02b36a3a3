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
