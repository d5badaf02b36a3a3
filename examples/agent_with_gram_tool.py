"""An existing LangChain agent (``create_agent``) that hands hard questions to GRAM.

The agent's tools include ``make_gram_tool(...)``: a GRAM graph with corpus search at its leaves,
as one LangChain tool (``deep_reason``). The agent calls it, reads its answer (with sources) and
replies. The tool's artifact is GRAM's final state, so the reasoning tree is printed too.

    python examples/agent_with_gram_tool.py
    python examples/agent_with_gram_tool.py --question "Who founded Orrick & Tane?"
    python examples/agent_with_gram_tool.py --base-url http://127.0.0.1:8000/v1 --model M

The agent's model is ``ChatOpenAI`` (package ``langchain-openai``) pointed at the same
OpenAI-compatible server as GRAM; without that package, the small ``OpenAICompatibleChat``
below stands in (the ``openai`` client and native tool calls, nothing else). ``run()`` takes
any LangChain chat model that supports ``bind_tools``.

Why the first turn is forced: llama-cpp-python's server (the embedded model) returns a native
tool call only when ``tool_choice`` names the function (it then constrains the output with a
grammar built from the tool's schema); with ``tool_choice="auto"`` the model writes the call as
plain text, which the agent cannot run. The ``ForceToolFirst`` middleware therefore sets
``tool_choice`` to the GRAM tool until the agent has called it once, then asks for the reply
without tools. Servers with real automatic tool calling (vLLM with a tool parser, Ollama,
hosted APIs) do not need it: pass ``force_first=False``. A second middleware,
``NonEmptyToolCallContent``, works around llama-cpp-python rejecting the ``"content": null``
that ``ChatOpenAI`` sends for a tool-call-only turn.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import json_repair
from _common import (
    EXAMPLE_DATA,
    Timer,
    add_model_args,
    open_backend,
    print_fields,
    print_tree,
)
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.messages.utils import convert_to_openai_messages
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from rich.console import Console
from rich.text import Text

from langgraph_gram import Budget, make_gram_tool
from langgraph_gram.tools import corpus_search_tool

TINY_CORPUS = EXAMPLE_DATA / "tiny_corpus.jsonl"
DEFAULT_QUESTION = "In which city was the founder of Brightwell Foods born?"
DEFAULT_BUDGET = Budget(max_depth=1, max_children=3, max_llm_calls=12, max_tool_calls=1)
SYSTEM_PROMPT = "You are a helpful assistant. Use the deep_reason tool to answer questions."
"""Kept short on purpose: with longer instructions the 1.5B embedded model, forced to call the
tool, goes on writing after the question inside the tool argument (its own guess at the answer),
and GRAM then takes that guess as part of the question."""


class ForceToolFirst(AgentMiddleware):
    """Force ``tool_choice`` to one tool until it has answered; then let the model reply.

    With ``then_reply`` (the default), the turn after the tool's answer is sent without tools,
    so the model writes its reply: llama-cpp-python, left with the tools and ``"auto"``, tends
    to write another call as plain text instead.
    """

    def __init__(self, tool_name: str, *, then_reply: bool = True) -> None:
        super().__init__()
        self.tool_name = tool_name
        self.then_reply = then_reply

    def _request(self, request: ModelRequest) -> ModelRequest:
        called = any(
            isinstance(m, ToolMessage) and m.name == self.tool_name for m in request.messages
        )
        if not called:
            return request.override(tool_choice=self.tool_name)
        if self.then_reply:
            return request.override(tools=[], tool_choice=None)
        return request

    def wrap_model_call(
        self, request: ModelRequest, handler: Callable[[ModelRequest], ModelResponse]
    ) -> ModelResponse:
        return handler(self._request(request))

    async def awrap_model_call(
        self,
        request: ModelRequest,
        handler: Callable[[ModelRequest], Awaitable[ModelResponse]],
    ) -> ModelResponse:
        return await handler(self._request(request))


class NonEmptyToolCallContent(AgentMiddleware):
    """Give tool-call-only assistant turns a one-space content before they are sent back.

    ``ChatOpenAI`` sends such a turn as ``"content": null`` (as OpenAI specifies), which
    llama-cpp-python's server (0.3.x) rejects with HTTP 500 when the conversation goes back to
    the model after the tool ran. Harmless elsewhere.
    """

    @staticmethod
    def _request(request: ModelRequest) -> ModelRequest:
        messages = [
            m.model_copy(update={"content": " "})
            if isinstance(m, AIMessage) and m.tool_calls and not m.content
            else m
            for m in request.messages
        ]
        return request.override(messages=messages)

    def wrap_model_call(
        self, request: ModelRequest, handler: Callable[[ModelRequest], ModelResponse]
    ) -> ModelResponse:
        return handler(self._request(request))

    async def awrap_model_call(
        self,
        request: ModelRequest,
        handler: Callable[[ModelRequest], Awaitable[ModelResponse]],
    ) -> ModelResponse:
        return await handler(self._request(request))


class OpenAICompatibleChat(BaseChatModel):
    """A minimal chat model for OpenAI-compatible servers, with native tool calls.

    Used only when ``langchain-openai`` is not installed; ``ChatOpenAI`` is the real thing.
    """

    base_url: str
    model: str
    api_key: str = "EMPTY"
    temperature: float = 0.0
    max_tokens: int | None = 512
    timeout: float = 300.0

    @property
    def _llm_type(self) -> str:
        return "openai-compatible"

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any) -> Any:
        formatted = [convert_to_openai_tool(t) for t in tools]
        if tool_choice == "any":
            tool_choice = "required"
        elif isinstance(tool_choice, str) and tool_choice not in {"auto", "none", "required"}:
            tool_choice = {"type": "function", "function": {"name": tool_choice}}
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=formatted, **kwargs)

    def _body(self, messages: list[BaseMessage], stop: Any, kwargs: dict) -> dict[str, Any]:
        body = {
            "model": self.model,
            "messages": convert_to_openai_messages(messages),
            "temperature": self.temperature,
            **kwargs,
        }
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        if stop:
            body["stop"] = stop
        return body

    @staticmethod
    def _result(response: Any) -> ChatResult:
        message = response.choices[0].message
        tool_calls = []
        for call in message.tool_calls or []:
            try:
                args = json.loads(call.function.arguments or "{}")
            except ValueError:
                args = json_repair.loads(call.function.arguments or "{}")
            tool_calls.append(
                {
                    "name": call.function.name,
                    "args": args if isinstance(args, dict) else {},
                    "id": call.id,
                    "type": "tool_call",
                }
            )
        usage = getattr(response, "usage", None)
        metadata = None
        if usage is not None:
            metadata = {
                "input_tokens": usage.prompt_tokens,
                "output_tokens": usage.completion_tokens,
                "total_tokens": usage.total_tokens,
            }
        ai = AIMessage(
            content=message.content or "", tool_calls=tool_calls, usage_metadata=metadata
        )
        return ChatResult(generations=[ChatGeneration(message=ai)])

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        import openai

        with openai.OpenAI(
            base_url=self.base_url, api_key=self.api_key, timeout=self.timeout
        ) as client:
            return self._result(
                client.chat.completions.create(**self._body(messages, stop, kwargs))
            )

    async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        import openai

        async with openai.AsyncOpenAI(
            base_url=self.base_url, api_key=self.api_key, timeout=self.timeout
        ) as client:
            response = await client.chat.completions.create(**self._body(messages, stop, kwargs))
        return self._result(response)


def chat_model(base_url: str, model: str, api_key: str = "EMPTY", timeout: float = 300.0) -> Any:
    """``ChatOpenAI`` for the server when ``langchain-openai`` is installed, else the stand-in."""
    try:
        from langchain_openai import ChatOpenAI
    except ImportError:
        return OpenAICompatibleChat(
            base_url=base_url, model=model, api_key=api_key, timeout=timeout
        )
    return ChatOpenAI(
        base_url=base_url,
        model=model,
        api_key=api_key,
        temperature=0,
        max_tokens=512,
        timeout=timeout,
    )


async def run(
    model: Any,
    *,
    gram_model: Any = None,
    question: str = DEFAULT_QUESTION,
    corpus: Path | str = TINY_CORPUS,
    budget: Budget | None = None,
    force_first: bool = True,
) -> dict[str, Any]:
    """Run a ``create_agent`` agent whose tools include GRAM.

    Args:
        model: The agent's LangChain chat model (with ``bind_tools``).
        gram_model: GRAM's model (an ``OpenAIEndpoint`` or a chat model); default ``model``.
        question: The user's question.
        corpus: The JSONL corpus GRAM's leaves search.
        budget: GRAM's budget (default :data:`DEFAULT_BUDGET`).
        force_first: Force the first model turn to call GRAM (see the module docstring).

    Returns:
        ``question``; ``answer`` (the agent's last message); ``gram_called`` and
        ``gram_calls`` (the questions the agent sent to GRAM); ``gram_answer`` (the tool's
        output); ``tree``, ``usage`` and ``stopped_by`` of GRAM's last run; ``messages`` (the
        conversation, as ``(type, text)`` pairs); ``seconds``.
    """
    gram = make_gram_tool(
        gram_model if gram_model is not None else model,
        tools=[corpus_search_tool(corpus, k=3)],
        budget=budget or DEFAULT_BUDGET,
    )
    middleware: list[AgentMiddleware] = [NonEmptyToolCallContent()]
    if force_first:
        middleware.insert(0, ForceToolFirst(gram.name))
    agent = create_agent(model, tools=[gram], system_prompt=SYSTEM_PROMPT, middleware=middleware)
    timer = Timer()
    state = await agent.ainvoke({"messages": [HumanMessage(question)]})
    seconds = timer.seconds
    messages = state["messages"]
    calls = [
        call["args"].get("question", "")
        for m in messages
        if isinstance(m, AIMessage)
        for call in m.tool_calls
        if call["name"] == gram.name
    ]
    results = [m for m in messages if isinstance(m, ToolMessage) and m.name == gram.name]
    gram_state = (results[-1].artifact or {}) if results else {}
    final = messages[-1]
    return {
        "question": question,
        "answer": final.text if isinstance(final, AIMessage) else "",
        "gram_called": bool(results),
        "gram_calls": calls,
        "gram_answer": results[-1].text if results else None,
        "tree": gram_state.get("tree", {}),
        "usage": gram_state.get("usage", {}),
        "stopped_by": gram_state.get("stopped_by"),
        "messages": [(m.type, m.text) for m in messages],
        "seconds": round(seconds, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    add_model_args(parser)
    parser.add_argument("--question", default=DEFAULT_QUESTION)
    parser.add_argument("--corpus", type=Path, default=TINY_CORPUS)
    parser.add_argument(
        "--no-force", action="store_true", help="let the model choose tools freely (auto)"
    )
    args = parser.parse_args(argv)
    console = Console()

    async def go() -> dict[str, Any]:
        async with open_backend(args, console) as backend:
            agent_model = chat_model(
                backend.base_url, backend.model_name, backend.api_key, args.timeout
            )
            console.print(f"[dim]agent model: {type(agent_model).__name__}[/dim]")
            return await run(
                agent_model,
                gram_model=backend.endpoint,
                question=args.question,
                corpus=args.corpus,
                force_first=not args.no_force,
            )

    result = asyncio.run(go())
    for kind, text in result["messages"]:
        console.print(Text.assemble((kind, "bold"), ": ", text))
    if result["tree"]:
        print_tree(console, result, result["seconds"])
    print_fields(
        console,
        "agent with GRAM as a tool",
        [
            ("question", result["question"]),
            ("GRAM called", f"{result['gram_called']} ({len(result['gram_calls'])} call(s))"),
            ("GRAM answer", result["gram_answer"]),
            ("agent answer", result["answer"]),
            ("seconds", result["seconds"]),
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
