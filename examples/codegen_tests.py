"""Code generation checked by tests: GRAM writes a HumanEval function, the task's tests judge it.

GRAM gets the task's signature and docstring. Leaves may split the work into helper
functions (the aggregation combines them) and may run code with ``python_tool`` before they
answer. A ``scorer`` runs each sampled candidate against the task's own tests in a sandboxed
subprocess (``run_python``) and keeps the one that passes. Finally the code is taken out of the
answer (helpers written at other leaves are added when the answer calls them without defining
them) and the HumanEval ``check`` runs once more: the printed pass/fail is that run's result.

    python examples/codegen_tests.py                          # HumanEval/0
    python examples/codegen_tests.py --task-id HumanEval/12
    python examples/codegen_tests.py --no-python-tool --width 3
    python examples/codegen_tests.py --base-url http://127.0.0.1:8000/v1 --model M

Where the scorer runs: on the sampled candidates of leaves without tools (``width`` of them)
and on every combined (aggregated) answer. Leaves with tools answer through the act loop in one
trajectory, which is not sampled or scored, so with ``python_tool`` among the tools (the
default here) the scorer judges the combined code; ``--no-python-tool`` makes the leaves sample
``width`` candidates for it to choose from. ``scorer_calls`` in the result lists every call. A
candidate scoring below 0.5 is rejected by the engine (its node may then be split again), which
is why code that runs but is only a helper scores 0.5, not 0.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from pathlib import Path
from typing import Any

from _common import (
    SHARED_DATA,
    Timer,
    add_data_arg,
    add_model_args,
    gram_tool_calls,
    open_backend,
    print_fields,
    print_tree,
    read_jsonl,
    require_file,
    summary,
)
from rich.console import Console
from rich.syntax import Syntax

from langgraph_gram import Budget, create_gram_graph
from langgraph_gram.eval.code import (  # noqa: F401 (re-exported for the tests)
    _called_names,
    _defined_functions,
    assemble,
    extract_code,
    make_scorer,
    test_program,
)
from langgraph_gram.eval.code import run_tests as check
from langgraph_gram.tools import python_tool

HUMANEVAL_FILE = "humaneval/HumanEval.jsonl"
DEFAULT_TASK_ID = "HumanEval/0"
DEFAULT_BUDGET = Budget(max_depth=1, max_children=3, max_llm_calls=12, max_tool_calls=1)
TEST_SECONDS = 10.0

QUESTION = """Write the complete Python code of the function `{entry_point}` specified below: \
its imports, the function itself and any helper function it calls. Answer with the code only.

{prompt}"""


def humaneval_task(data: Path, task_id: str) -> dict[str, Any]:
    """One HumanEval task (``task_id``, ``prompt``, ``test``, ``entry_point``...)."""
    for row in read_jsonl(require_file(Path(data) / HUMANEVAL_FILE, "HumanEval")):
        if row["task_id"] == task_id:
            return row
    raise SystemExit(f"no task {task_id!r} in {Path(data) / HUMANEVAL_FILE}")


async def run(
    model: Any,
    *,
    task: dict[str, Any] | None = None,
    task_id: str = DEFAULT_TASK_ID,
    data: Path | str = SHARED_DATA,
    width: int = 2,
    with_python_tool: bool = True,
    budget: Budget | None = None,
) -> dict[str, Any]:
    """Ask GRAM for a HumanEval solution and run the task's tests on it.

    Args:
        model: A LangChain chat model or an ``OpenAIEndpoint``.
        task: A task in HumanEval's format (``task_id``, ``prompt``, ``test``,
            ``entry_point``); default: ``task_id`` read from the shared data.
        task_id: Which HumanEval task.
        data: The shared data folder.
        width: Candidates sampled per leaf (picked by the test-running scorer).
        with_python_tool: Give the leaves ``python_tool``.
        budget: GRAM's budget (default :data:`DEFAULT_BUDGET`).

    Returns:
        ``task_id``, ``code`` (the candidate tested), ``code_from`` (see :func:`assemble`),
        ``passed`` and ``test`` (the test run: ``passed``, ``returncode``, ``timed_out``,
        ``seconds``, ``stderr``), ``scorer_calls``, ``python_calls``, plus ``answer``,
        ``tree``, ``usage``, ``stopped_by`` and ``seconds``.
    """
    task = task or humaneval_task(Path(data), task_id)
    scores: list[dict[str, Any]] = []
    tools = [python_tool(timeout=TEST_SECONDS)] if with_python_tool else None
    graph = create_gram_graph(
        model,
        tools=tools,
        budget=budget or DEFAULT_BUDGET,
        width=width,
        scorer=make_scorer(task, scores),
    )
    question = QUESTION.format(entry_point=task["entry_point"], prompt=task["prompt"].strip("\n"))
    timer = Timer()
    state = await graph.ainvoke({"question": question})
    seconds = timer.seconds
    candidate = assemble(task, state["answer"], state["tree"])
    if candidate["how"] == "missing":
        test = {"passed": False, "returncode": None, "timed_out": False, "seconds": 0.0}
        test["stderr"] = f"no definition of {task['entry_point']} in the answer"
    else:
        test = await check(task, candidate["code"])
    return {
        **summary(state, seconds),
        "task_id": task["task_id"],
        "code": candidate["code"],
        "code_from": candidate["how"],
        "passed": test["passed"],
        "test": test,
        "scorer_calls": scores,
        "python_calls": [c for c in gram_tool_calls(state["tree"]) if c["tool"] == "python"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    add_model_args(parser)
    add_data_arg(parser)
    parser.add_argument("--task-id", default=DEFAULT_TASK_ID, help="e.g. HumanEval/12")
    parser.add_argument("--width", type=int, default=2, help="candidates per leaf")
    parser.add_argument("--no-python-tool", action="store_true", help="leaves without tools")
    parser.add_argument("--max-depth", type=int, default=DEFAULT_BUDGET.max_depth)
    parser.add_argument("--max-calls", type=int, default=DEFAULT_BUDGET.max_llm_calls)
    args = parser.parse_args(argv)
    console = Console()
    budget = dataclasses.replace(
        DEFAULT_BUDGET, max_depth=args.max_depth, max_llm_calls=args.max_calls
    )
    task = humaneval_task(args.data, args.task_id)

    async def go() -> dict[str, Any]:
        async with open_backend(args, console) as backend:
            return await run(
                backend.endpoint,
                task=task,
                width=args.width,
                with_python_tool=not args.no_python_tool,
                budget=budget,
            )

    result = asyncio.run(go())
    print_tree(console, result, result["seconds"])
    console.print(Syntax(result["code"] or "# (no code)", "python", line_numbers=False))
    test = result["test"]
    outcome = "PASS" if result["passed"] else "FAIL"
    if test["timed_out"]:
        outcome += " (timed out)"
    print_fields(
        console,
        f"{result['task_id']}: tests",
        [
            ("result", outcome),
            ("code from", result["code_from"]),
            ("scorer calls", len(result["scorer_calls"])),
            ("python tool calls", len(result["python_calls"])),
            ("stderr", ((test.get("stderr") or "").strip().splitlines() or ["(empty)"])[-1]),
        ],
    )
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
