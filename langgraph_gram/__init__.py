"""langgraph-gram: recursive, tree-structured reasoning (GRAM) for LangGraph agents."""

from langgraph_gram.agent_tool import make_gram_tool
from langgraph_gram.context import Budget, GramContext
from langgraph_gram.errors import (
    ConfigurationError,
    EndpointError,
    EndpointResponseError,
    EndpointUnreachableError,
    GramError,
    InputError,
    LocalModelError,
    MalformedOutputError,
)
from langgraph_gram.graph import build_gram_graph, create_gram_graph
from langgraph_gram.prompts import DEFAULT_PROMPTS, Prompts

__all__ = [
    "DEFAULT_PROMPTS",
    "Budget",
    "ConfigurationError",
    "EndpointError",
    "EndpointResponseError",
    "EndpointUnreachableError",
    "GramContext",
    "GramError",
    "InputError",
    "LocalModelError",
    "MalformedOutputError",
    "Prompts",
    "build_gram_graph",
    "create_gram_graph",
    "make_gram_tool",
]
