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
import ast
import asyncio
import dataclasses
import re
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
from langgraph_gram.tools import python_tool, run_python

HUMANEVAL_FILE = "humaneval/HumanEval.jsonl"
DEFAULT_TASK_ID = "HumanEval/0"
DEFAULT_BUDGET = Budget(max_depth=1, max_children=3, max_llm_calls=12, max_tool_calls=1)
TEST_SECONDS = 10.0

QUESTION = """Write the complete Python code of the function `{entry_point}` specified below: \
its imports, the function itself and any helper function it calls. Answer with the code only.

{prompt}"""

_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)


def humaneval_task(data: Path, task_id: str) -> dict[str, Any]:
    """One HumanEval task (``task_id``, ``prompt``, ``test``, ``entry_point``...)."""
    for row in read_jsonl(require_file(Path(data) / HUMANEVAL_FILE, "HumanEval")):
        if row["task_id"] == task_id:
            return row
    raise SystemExit(f"no task {task_id!r} in {Path(data) / HUMANEVAL_FILE}")


def extract_code(text: str) -> str:
    """The code in a model's answer: its fenced blocks joined, or the whole text."""
    blocks = _FENCE.findall(text or "")
    if blocks:
        return "\n\n".join(block.strip("\n") for block in blocks)
    text = (text or "").rstrip().strip("\n")  # keep the indentation of a bare body
    if text.lstrip().startswith("```"):  # an unclosed fence
        text = text.split("\n", 1)[1] if "\n" in text else ""
    return text.replace("```", "").strip("\n")


def _defined_functions(code: str) -> set[str]:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set(re.findall(r"^\s*def\s+(\w+)\s*\(", code, re.MULTILINE))
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


def _called_names(code: str) -> set[str]:
    return set(re.findall(r"\b(\w+)\s*\(", code))


def assemble(task: dict[str, Any], answer: str, tree: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Build the candidate solution from the final answer (and helpers written at other nodes).

    Returns:
        ``code`` (the candidate) and ``how``: ``"answer"``, ``"answer+helpers"`` (functions the
        answer calls but does not define, taken from other nodes' answers), ``"completion"``
        (the answer is an indented body, appended to the prompt as HumanEval intends) or
        ``"missing"`` (no definition of the entry point anywhere).
    """
    entry = task["entry_point"]
    code = extract_code(answer)
    defined = _defined_functions(code)
    if entry in defined:
        needed = (_called_names(code) - defined) - {entry}
        helpers = []
        for node_id in sorted(tree):
            if node_id == "0" or not needed:
                continue
            other = extract_code(tree[node_id].get("answer") or "")
            provided = _defined_functions(other) & needed
            if provided and entry not in _defined_functions(other):
                helpers.append(other)
                needed -= provided
        if helpers:
            return {"code": "\n\n".join([*helpers, code]), "how": "answer+helpers"}
        return {"code": code, "how": "answer"}
    if code and code.splitlines()[0].startswith((" ", "\t")):
        return {"code": task["prompt"] + code, "how": "completion"}
    # No definition in the final answer: look for one at another node (e.g. a failed combine).
    for node_id in sorted(tree):
        other = extract_code(tree[node_id].get("answer") or "")
        if entry in _defined_functions(other):
            return assemble(task, other, {})
    return {"code": code, "how": "missing"}


def test_program(task: dict[str, Any], code: str) -> str:
    """The program that checks ``code``: the task's prompt (for its imports), the candidate,
    the task's tests and ``check(<entry point>)``, as the HumanEval harness runs them."""
    return (
        f"{task['prompt']}\n    pass\n\n{code}\n\n{task['test']}\n\ncheck({task['entry_point']})\n"
    )


async def check(task: dict[str, Any], code: str, time_limit: float = TEST_SECONDS) -> dict:
    """Run the task's tests on ``code`` in a sandboxed subprocess.

    Returns:
        ``passed``, ``returncode``, ``timed_out``, ``seconds`` and the end of ``stderr``.
    """
    result = await run_python(test_program(task, code), time_limit=time_limit)
    return {
        "passed": result.ok,
        "returncode": result.returncode,
        "timed_out": result.timed_out,
        "seconds": result.seconds,
        "stderr": result.stderr[-800:],
    }


def make_scorer(task: dict[str, Any], log: list[dict[str, Any]]):
    """``scorer(question, answer)``: 1.0 when the answer passes the task's tests, 0.5 when it
    is code that runs but does not define the entry point (a helper), else 0.0."""

    async def scorer(question: str, answer: str) -> float:
        code = extract_code(answer)
        if task["entry_point"] in _defined_functions(code):
            score = 1.0 if (await check(task, code))["passed"] else 0.0
        else:
            ran = await run_python(f"{task['prompt']}\n    pass\n\n{code}\n", time_limit=5)
            score = 0.5 if ran.ok and _defined_functions(code) else 0.0
        log.append({"question": question[:80], "score": score})
        return score

    return scorer


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
