"""Tools at the leaves: calling LangChain tools safely and turning results into observations.

A :class:`Toolbox` wraps the tools given to :func:`langgraph_gram.create_gram_graph`. Tools
whose ``metadata`` has ``gram_prefetch`` (retrievers such as
:func:`langgraph_gram.tools.corpus_search_tool`) are called with every leaf's question before
its first LLM step, so a small model starts from the relevant passages instead of having to
decide to search. Any tool may then be called by the model through the JSON action protocol
(``{"action": <tool>, "input": ...}``), which small local models follow more reliably than
native tool calling (llama-cpp-python returns ``tool_choice="auto"`` calls as plain text). A tool
error or timeout becomes an observation, never a crash; tool output is shown to the model as
quoted data.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool

from langgraph_gram.errors import ConfigurationError
from langgraph_gram.text import fill

_FENCE_RUN = re.compile(r">{3,}")

MAX_OBSERVATION_CHARS = 2000
"""Longest tool output shown to the model (the rest is cut, with a note)."""


@dataclass
class Observation:
    """One tool call and what came back.

    Attributes:
        tool: The tool's name.
        input: The input it was called with.
        output: Its text output (or the error, as text).
        passages: Retrieved passages (``{"id", "title", ...}``) when the tool returned them.
        error: Whether the call failed.
    """

    tool: str
    input: str
    output: str
    passages: list[dict[str, Any]] = field(default_factory=list)
    error: bool = False


class Toolbox:
    """The tools of one graph, with safe invocation."""

    def __init__(self, tools: Sequence[BaseTool], *, timeout: float = 60.0) -> None:
        """Wrap the tools.

        Args:
            tools: LangChain tools (``BaseTool`` instances, e.g. from ``@tool``).
            timeout: Seconds one tool call may take before it becomes an error observation.

        Raises:
            ConfigurationError: A tool is not a ``BaseTool``, or two share a name.
        """
        self.tools: dict[str, BaseTool] = {}
        for tool in tools:
            if not isinstance(tool, BaseTool):
                raise ConfigurationError(
                    f"tools must be LangChain BaseTool instances, got {type(tool).__name__}"
                )
            if tool.name in self.tools or tool.name == "answer":
                raise ConfigurationError(f"duplicate or reserved tool name: {tool.name!r}")
            self.tools[tool.name] = tool
        self.timeout = timeout

    @property
    def names(self) -> list[str]:
        """Names of the tools the model may call."""
        return list(self.tools)

    @property
    def prefetch(self) -> list[BaseTool]:
        """Tools called automatically with each leaf's question."""
        return [t for t in self.tools.values() if (t.metadata or {}).get("gram_prefetch")]

    def describe(self) -> str:
        """One line per tool for the system prompt: ``- name: description``.

        Returns:
            The tool list.
        """
        lines = []
        for tool in self.tools.values():
            description = " ".join((tool.description or "").split())[:300]
            lines.append(f"- {tool.name}: {description}")
        return "\n".join(lines)

    def _args(self, tool: BaseTool, text: str) -> dict[str, Any]:
        names = list(tool.args)
        if len(names) == 1:
            return {names[0]: text}
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return value
        return {names[0]: text} if names else {}

    async def call(self, name: str, text: str) -> Observation:
        """Call a tool; errors and timeouts come back as error observations.

        Args:
            name: The tool's name.
            text: The model's input for it (a JSON object for multi-argument tools).

        Returns:
            The observation.
        """
        tool = self.tools.get(name)
        if tool is None:
            return Observation(name, text, f"error: no tool named {name!r}", error=True)
        call = {
            "type": "tool_call",
            "name": tool.name,
            "args": self._args(tool, text),
            "id": f"call_{uuid.uuid4().hex[:12]}",
        }
        try:
            result = await asyncio.wait_for(tool.ainvoke(call), timeout=self.timeout)
        except TimeoutError:
            return Observation(name, text, f"error: timed out after {self.timeout:g} s", error=True)
        except Exception as exc:  # a tool's failure is an observation, not a crash
            return Observation(name, text, f"error: {type(exc).__name__}: {exc}", error=True)
        content = result.content if isinstance(result, ToolMessage) else result
        artifact = getattr(result, "artifact", None)
        passages = (
            [p for p in artifact if isinstance(p, dict) and "id" in p]
            if isinstance(artifact, list)
            else []
        )
        output = content if isinstance(content, str) else json.dumps(content, default=str)
        failed = isinstance(result, ToolMessage) and result.status == "error"
        return Observation(name, text, output, passages=passages, error=failed)


def render_observations(observations: Sequence[Observation], template: str) -> str:
    """Render tool results for a prompt, each as quoted data.

    Args:
        observations: The results so far.
        template: The observation template (``{tool}``, ``{input}``, ``{output}``).

    Returns:
        The rendered block ("" when there are none).
    """
    parts = []
    for obs in observations:
        output = obs.output
        if len(output) > MAX_OBSERVATION_CHARS:
            output = output[:MAX_OBSERVATION_CHARS] + " […cut]"
        # The closing fence cannot be forged from inside the data: every run of three or
        # more ">" is spaced out (">>>>>" becomes "> > > > >").
        output = _FENCE_RUN.sub(lambda m: " ".join(m.group()), output)
        parts.append(
            fill(
                template,
                tool=obs.tool,
                input=json.dumps(obs.input, ensure_ascii=False),
                output=output,
            )
        )
    return "".join(parts)
