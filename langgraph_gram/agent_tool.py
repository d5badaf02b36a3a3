"""GRAM as a LangChain tool, so an existing agent can hand it hard sub-questions."""

from __future__ import annotations

from typing import Any

from langchain_core.tools import BaseTool, StructuredTool
from langgraph.graph.state import CompiledStateGraph
from pydantic import BaseModel, Field

from langgraph_gram.errors import ConfigurationError

DEFAULT_DESCRIPTION = (
    "Answer a hard, multi-step question by breaking it into sub-questions, answering each and "
    "combining the answers. Input: the full question in plain words."
)
"""The tool description an agent sees, unless ``description=`` is given."""


class DeepReasonInput(BaseModel):
    """Input of the GRAM tool."""

    question: str = Field(description="The full question, self-contained.")


def make_gram_tool(
    graph_or_model: Any,
    *,
    name: str = "deep_reason",
    description: str = DEFAULT_DESCRIPTION,
    context: dict[str, Any] | None = None,
    **graph_kwargs: Any,
) -> BaseTool:
    """Wrap a GRAM graph (or a model, for which one is built) as a LangChain tool.

    The tool runs the graph asynchronously under ``ainvoke`` and synchronously under
    ``invoke`` (for agents driven with ``agent.invoke``).

    Example:
        ```python
        from langchain.agents import create_agent

        agent = create_agent(model, tools=[make_gram_tool(endpoint, budget=Budget(max_depth=2))])
        ```

    Args:
        graph_or_model: A compiled GRAM graph, or a model accepted by
            :func:`~langgraph_gram.create_gram_graph`.
        name: The tool's name.
        description: What the calling agent is told the tool does.
        context: Per-call overrides (:class:`~langgraph_gram.GramContext` fields) for every run.
        **graph_kwargs: Passed to :func:`~langgraph_gram.create_gram_graph` when a model is
            given (``tools``, ``budget``, ``width``...).

    Returns:
        A ``StructuredTool`` whose output is the answer, followed by its sources when the
        graph retrieved any; its artifact is the final GRAM state (``response_format=
        "content_and_artifact"``), so callers can inspect the tree.

    Raises:
        ConfigurationError: Graph settings were given with an already compiled graph.
    """
    from langgraph_gram.graph import create_gram_graph

    if isinstance(graph_or_model, CompiledStateGraph):
        if graph_kwargs:
            raise ConfigurationError(
                f"make_gram_tool got a compiled graph and graph settings {sorted(graph_kwargs)}: "
                "pass them to create_gram_graph instead, or pass the model"
            )
        graph = graph_or_model
    else:
        graph = create_gram_graph(graph_or_model, **graph_kwargs)

    def with_sources(result: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        text = result["answer"]
        if result.get("citations"):
            text += "\nSources: " + "; ".join(
                f"[{c['id']}] {c['title']}" for c in result["citations"]
            )
        return text, result

    async def deep_reason(question: str) -> tuple[str, dict[str, Any]]:
        return with_sources(await graph.ainvoke({"question": question}, context=context or {}))

    def deep_reason_sync(question: str) -> tuple[str, dict[str, Any]]:
        return with_sources(graph.invoke({"question": question}, context=context or {}))

    return StructuredTool.from_function(
        func=deep_reason_sync,
        coroutine=deep_reason,
        name=name,
        description=description,
        args_schema=DeepReasonInput,
        response_format="content_and_artifact",
    )
