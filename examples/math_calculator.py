"""A math word problem, derived step by step with an exact calculator at the leaves.

GRAM splits the problem into steps; each leaf may call ``calculator_tool`` (exact rational
arithmetic, never ``eval``) through the JSON action protocol before it answers, and later steps
see the earlier steps' results. The final number is compared with the gold answer when known.

    python examples/math_calculator.py                    # a built-in word problem
    python examples/math_calculator.py --gsm8k 0          # GSM8K test item 0 (../shared/data)
    python examples/math_calculator.py --question "What is 17% of 2,340 plus 12?"
    python examples/math_calculator.py --base-url http://127.0.0.1:8000/v1 --model M
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

from _common import (
    SHARED_DATA,
    Timer,
    add_data_arg,
    add_model_args,
    gram_tool_calls,
    last_number,
    open_backend,
    print_fields,
    print_tree,
    read_jsonl,
    require_file,
    summary,
)
from rich.console import Console

from langgraph_gram import DEFAULT_PROMPTS, Budget, create_gram_graph
from langgraph_gram.tools import calculator_tool

DEFAULT_QUESTION = (
    "A bakery sells 48 muffins every morning and 35 muffins every afternoon, at $3 per muffin. "
    "How many dollars does the bakery take in over 6 days?"
)
DEFAULT_GOLD = "1494"
GSM8K_FILE = "gsm8k/test.jsonl"
DEFAULT_BUDGET = Budget(max_depth=1, max_children=3, max_llm_calls=16, max_tool_calls=2)

PROMPTS = dataclasses.replace(
    DEFAULT_PROMPTS,
    act_section=(
        "For arithmetic, call calculator with the expression (numbers only) instead of "
        "computing it yourself; then answer with the number it gave.\n"
        + DEFAULT_PROMPTS.act_section
    ),
)
"""The default prompts, with one line steering leaves to the calculator for arithmetic."""


def gsm8k_item(data: Path, index: int) -> tuple[str, str]:
    """Question and gold number of GSM8K test item ``index`` (gold: the text after ``####``)."""
    rows = read_jsonl(require_file(Path(data) / GSM8K_FILE, "GSM8K"))
    row = rows[index]
    return row["question"], row["answer"].rsplit("####", 1)[1].strip().replace(",", "")


async def run(
    model: Any,
    *,
    question: str | None = None,
    gold: str | None = None,
    gsm8k: int | None = None,
    data: Path | str = SHARED_DATA,
    budget: Budget | None = None,
) -> dict[str, Any]:
    """Solve one word problem with GRAM and the calculator.

    Args:
        model: A LangChain chat model or an ``OpenAIEndpoint``.
        question: The problem (default: the built-in bakery problem, gold 1494).
        gold: The expected final number, when known.
        gsm8k: Take GSM8K test item ``gsm8k`` instead (question and gold).
        data: The shared data folder (for ``gsm8k``).
        budget: GRAM's budget (default :data:`DEFAULT_BUDGET`).

    Returns:
        ``question``, ``gold``, ``number`` (the last number of the answer, as text),
        ``correct`` (``None`` without gold), ``calculator_calls`` (every calculator call:
        node, input and whether it failed), plus ``answer``, ``tree``, ``usage``,
        ``stopped_by`` and ``seconds``.
    """
    if gsm8k is not None:
        question, gold = gsm8k_item(Path(data), gsm8k)
    elif question is None:
        question, gold = DEFAULT_QUESTION, DEFAULT_GOLD
    calculator = calculator_tool()
    graph = create_gram_graph(
        model, tools=[calculator], budget=budget or DEFAULT_BUDGET, prompts=PROMPTS
    )
    timer = Timer()
    state = await graph.ainvoke({"question": question})
    seconds = timer.seconds
    number = last_number(state["answer"])
    correct = None
    if gold is not None:
        correct = number is not None and number == Fraction(str(gold).replace(",", ""))
    calls = [c for c in gram_tool_calls(state["tree"]) if c["tool"] == calculator.name]
    return {
        **summary(state, seconds),
        "question": question,
        "gold": gold,
        "number": None if number is None else str(number),
        "correct": correct,
        "calculator_calls": calls,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    add_model_args(parser)
    add_data_arg(parser)
    parser.add_argument("--gsm8k", type=int, default=None, help="GSM8K test item (0-based)")
    parser.add_argument("--question", default=None, help="a word problem of your own")
    parser.add_argument("--gold", default=None, help="its expected final number")
    parser.add_argument("--max-depth", type=int, default=DEFAULT_BUDGET.max_depth)
    parser.add_argument("--max-calls", type=int, default=DEFAULT_BUDGET.max_llm_calls)
    args = parser.parse_args(argv)
    console = Console()
    budget = dataclasses.replace(
        DEFAULT_BUDGET, max_depth=args.max_depth, max_llm_calls=args.max_calls
    )

    async def go() -> dict[str, Any]:
        async with open_backend(args, console) as backend:
            return await run(
                backend.endpoint,
                question=args.question,
                gold=args.gold,
                gsm8k=args.gsm8k,
                data=args.data,
                budget=budget,
            )

    result = asyncio.run(go())
    print_tree(console, result, result["seconds"])
    calls = ", ".join(f"{c['input']!r} at [{c['node']}]" for c in result["calculator_calls"])
    print_fields(
        console,
        "math with a calculator",
        [
            ("question", result["question"]),
            ("answer", result["answer"]),
            ("calculator calls", calls or "(none)"),
            ("gold", result["gold"] if result["gold"] is not None else "(unknown)"),
            ("correct", result["correct"]),
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
