"""The compiled GRAM graph as one node of a bigger ``MessagesState`` graph.

    START -> router -> gram (the compiled GRAM graph, with corpus search) -> formatter -> END
                    \\-> calculator (plain arithmetic needs no tree) ------/

The router sends a message that is plain arithmetic to a calculator node and every other
question to GRAM. GRAM takes the conversation (its last human message is the question) and
appends its answer as an ``AIMessage``; its ``answer``, ``citations``, ``tree``, ``usage`` and
``stopped_by`` land in the parent state's keys of the same names. The formatter appends the
final reply.

    python examples/gram_as_node.py
    python examples/gram_as_node.py --question "(17 + 4) * 3"
    python examples/gram_as_node.py --base-url http://127.0.0.1:8000/v1 --model M

Recursion limit: inside the parent, GRAM keeps the ``recursion_limit`` that
``create_gram_graph`` derived from its budget, unless the caller passes one in the parent's
config (``config={"recursion_limit": 25}``): that one then applies to GRAM's steps too, and a
tree that needs more rounds is cut (``stopped_by="recursion_limit"``). Pass at least
``default_recursion_limit(budget)`` plus the parent's own steps when you set one.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from pathlib import Path
from typing import Any, Literal

from _common import EXAMPLE_DATA, Timer, add_model_args, open_backend, print_fields, print_tree
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from rich.console import Console
from rich.text import Text

from langgraph_gram import Budget, create_gram_graph
from langgraph_gram.graph import default_recursion_limit
from langgraph_gram.tools import calculate, corpus_search_tool

TINY_CORPUS = EXAMPLE_DATA / "tiny_corpus.jsonl"
DEFAULT_QUESTION = "In which city was the founder of Brightwell Foods born?"
DEFAULT_BUDGET = Budget(max_depth=1, max_children=3, max_llm_calls=12, max_tool_calls=1)
_ARITHMETIC = re.compile(r"^[\d\s.,+\-*/×÷^()%=?]+$")


class State(MessagesState):
    """The parent graph's state: the conversation plus what GRAM reports back."""

    route: str
    answer: str
    citations: list[dict[str, str]]
    tree: dict[str, dict[str, Any]]
    usage: dict[str, Any]
    stopped_by: str | None


def _last_human(state: State) -> str:
    for message in reversed(state["messages"]):
        if isinstance(message, HumanMessage):
            return message.text.strip()
    return ""


def router(state: State) -> dict[str, Any]:
    text = _last_human(state)
    return {
        "route": "calculator"
        if _ARITHMETIC.match(text) and any(c.isdigit() for c in text)
        else "gram"
    }


def pick_route(state: State) -> Literal["calculator", "gram"]:
    return "calculator" if state.get("route") == "calculator" else "gram"


def calculator(state: State) -> dict[str, Any]:
    value = calculate(_last_human(state))
    return {"answer": value, "messages": [AIMessage(value, name="calculator")]}


def formatter(state: State) -> dict[str, Any]:
    answer = state.get("answer") or state["messages"][-1].text
    lines = [f"Answer: {answer}"]
    if state.get("citations"):
        lines.append(
            "Sources: " + "; ".join(f"[{c['id']}] {c['title']}" for c in state["citations"])
        )
    if state.get("route") == "gram":
        usage = state.get("usage") or {}
        detail = f"(GRAM: {len(state.get('tree') or {})} nodes, {usage.get('llm_calls', 0)} calls"
        if state.get("stopped_by"):
            detail += f", cut by {state['stopped_by']}"
        lines.append(detail + ")")
    else:
        lines.append("(calculator)")
    return {"messages": [AIMessage("\n".join(lines), name="formatter")]}


def build_graph(model: Any, *, corpus: Path | str = TINY_CORPUS, budget: Budget | None = None):
    """Compile the parent graph with GRAM (corpus search at its leaves) as its ``gram`` node."""
    budget = budget or DEFAULT_BUDGET
    gram = create_gram_graph(model, tools=[corpus_search_tool(corpus, k=3)], budget=budget)
    builder = StateGraph(State)
    builder.add_node("router", router)
    builder.add_node("calculator", calculator)
    builder.add_node("gram", gram)
    builder.add_node("formatter", formatter)
    builder.add_edge(START, "router")
    builder.add_conditional_edges("router", pick_route, ["calculator", "gram"])
    builder.add_edge("calculator", "formatter")
    builder.add_edge("gram", "formatter")
    builder.add_edge("formatter", END)
    return builder.compile(name="assistant")


async def run(
    model: Any,
    *,
    question: str = DEFAULT_QUESTION,
    corpus: Path | str = TINY_CORPUS,
    budget: Budget | None = None,
) -> dict[str, Any]:
    """Send one message through the composed graph.

    Returns:
        ``question``, ``route`` (``gram`` or ``calculator``), ``answer`` (GRAM's or the
        calculator's), ``reply`` (the formatter's message), ``messages`` (``(type, name,
        text)`` triples), ``citations``, ``tree``, ``usage``, ``stopped_by`` and ``seconds``.
    """
    graph = build_graph(model, corpus=corpus, budget=budget)
    timer = Timer()
    # A recursion_limit set here would bind GRAM's steps too (see the module docstring).
    config = {"recursion_limit": default_recursion_limit(budget or DEFAULT_BUDGET) + 10}
    state = await graph.ainvoke({"messages": [HumanMessage(question)]}, config=config)
    seconds = timer.seconds
    return {
        "question": question,
        "route": state.get("route"),
        "answer": state.get("answer", ""),
        "reply": state["messages"][-1].text,
        "messages": [(m.type, m.name, m.text) for m in state["messages"]],
        "citations": state.get("citations", []),
        "tree": state.get("tree", {}),
        "usage": state.get("usage", {}),
        "stopped_by": state.get("stopped_by"),
        "seconds": round(seconds, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    add_model_args(parser)
    parser.add_argument("--question", default=DEFAULT_QUESTION)
    parser.add_argument("--corpus", type=Path, default=TINY_CORPUS)
    args = parser.parse_args(argv)
    console = Console()

    async def go() -> dict[str, Any]:
        async with open_backend(args, console) as backend:
            return await run(backend.endpoint, question=args.question, corpus=args.corpus)

    result = asyncio.run(go())
    if result["tree"]:
        print_tree(console, result, result["seconds"])
    for kind, name, text in result["messages"]:
        console.print(Text.assemble((kind, "bold"), f" ({name})" if name else "", ": ", text))
    print_fields(
        console,
        "GRAM as a node",
        [("route", result["route"]), ("answer", result["answer"]), ("seconds", result["seconds"])],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
