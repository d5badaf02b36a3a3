"""Blocksworld planning (PlanBench): GRAM writes a plan, a simulator checks it.

GRAM is asked for a plan from the instance's initial state to its goal, in PlanBench's words
("unstack the yellow block from on top of the orange block", ...). The actions are parsed out of
the answer and executed by the small simulator of ``langgraph_gram.eval.blocksworld``, which
applies the four operators of ``generated_domain.pddl`` (pick-up, put-down, stack, unstack) with
their preconditions: the plan is valid when every action is applicable in turn and the final
state holds every goal fact. Any valid plan counts, not only the gold one.

    python examples/blocksworld_plan.py                     # the first 2-step instance
    python examples/blocksworld_plan.py --length 4          # the first 4-step instance
    python examples/blocksworld_plan.py --id generated_basic/instance-131
    python examples/blocksworld_plan.py --gold              # check the gold plan (no model)
    python examples/blocksworld_plan.py --base-url http://127.0.0.1:8000/v1 --model M
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from _common import (
    SHARED_DATA,
    Timer,
    add_data_arg,
    add_model_args,
    open_backend,
    print_fields,
    print_tree,
    read_jsonl,
    require_file,
    summary,
)
from rich.console import Console

from langgraph_gram import Budget, create_gram_graph
from langgraph_gram.eval.blocksworld import (  # noqa: F401 (re-exported for the tests)
    COLORS,
    Action,
    PlanCheck,
    apply,
    letter_names,
    parse_plan,
    validate,
)
from langgraph_gram.eval.datasets import BLOCKSWORLD_QUESTION as QUESTION

BLOCKSWORLD_FILE = "blocksworld/blocksworld_602.jsonl"
DEFAULT_BUDGET = Budget(max_depth=1, max_children=3, max_llm_calls=8)


def load_instance(
    data: Path, *, instance_id: str | None = None, length: int | None = None, index: int = 0
) -> dict[str, Any]:
    """One instance of ``blocksworld_602.jsonl``: by id, else the ``index``-th of ``length``."""
    rows = read_jsonl(require_file(Path(data) / BLOCKSWORLD_FILE, "Blocksworld"))
    if instance_id is not None:
        for row in rows:
            if row["id"] == instance_id:
                return row
        raise SystemExit(f"no instance {instance_id!r}")
    if length is not None:
        rows = [r for r in rows if r["optimal_plan_length"] == length]
    return rows[index]


async def run(
    model: Any,
    *,
    instance: dict[str, Any] | None = None,
    instance_id: str | None = None,
    length: int | None = 2,
    index: int = 0,
    data: Path | str = SHARED_DATA,
    budget: Budget | None = None,
) -> dict[str, Any]:
    """Ask GRAM for a plan and validate it.

    Args:
        model: A LangChain chat model or an ``OpenAIEndpoint``.
        instance: An instance with ``blocks``, ``init``, ``goal`` (text), ``init_facts`` and
            ``goal_facts``; default: one read from the shared data.
        instance_id: Read this instance.
        length: Else the ``index``-th instance whose optimal plan has this many steps.
        index: See ``length``.
        data: The shared data folder.
        budget: GRAM's budget (default :data:`DEFAULT_BUDGET`).

    Returns:
        ``instance_id``, ``plan`` (the parsed actions, PDDL), ``valid``, ``check`` (see
        :class:`PlanCheck`, as a dict), ``optimal_length``, plus ``answer``, ``tree``,
        ``usage``, ``stopped_by`` and ``seconds``.
    """
    if instance is None:
        instance = load_instance(Path(data), instance_id=instance_id, length=length, index=index)
    graph = create_gram_graph(model, budget=budget or DEFAULT_BUDGET)
    question = QUESTION.format(init=instance["init"], goal=instance["goal"])
    timer = Timer()
    state = await graph.ainvoke({"question": question})
    seconds = timer.seconds
    actions = parse_plan(state["answer"], instance.get("blocks"))
    checked = validate(instance["init_facts"], instance["goal_facts"], actions)
    return {
        **summary(state, seconds),
        "instance_id": instance.get("id"),
        "optimal_length": instance.get("optimal_plan_length"),
        "plan": [a.pddl() for a in actions],
        "valid": checked.valid,
        "check": {
            "valid": checked.valid,
            "executable": checked.executable,
            "reached_goal": checked.reached_goal,
            "steps_ok": checked.steps_ok,
            "error": checked.error,
        },
    }


def _report(console: Console, instance: dict[str, Any], result: dict[str, Any]) -> None:
    check = result["check"]
    print_fields(
        console,
        f"blocksworld {result['instance_id']}",
        [
            ("init", instance["init"]),
            ("goal", instance["goal"]),
            ("plan", " ".join(result["plan"]) or "(no actions parsed)"),
            ("steps", f"{len(result['plan'])} (optimal {result['optimal_length']})"),
            ("reaches the goal", "VALID" if check["valid"] else "INVALID"),
            ("why", check["error"] or "every action applicable, every goal fact holds"),
        ],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    add_model_args(parser)
    add_data_arg(parser)
    parser.add_argument("--id", default=None, help="instance id, e.g. generated_basic/instance-131")
    parser.add_argument("--length", type=int, default=2, help="optimal plan length to pick from")
    parser.add_argument("--index", type=int, default=0, help="which instance of that length")
    parser.add_argument("--gold", action="store_true", help="validate the gold plan, no model")
    parser.add_argument("--max-depth", type=int, default=DEFAULT_BUDGET.max_depth)
    parser.add_argument("--max-calls", type=int, default=DEFAULT_BUDGET.max_llm_calls)
    args = parser.parse_args(argv)
    console = Console()
    instance = load_instance(args.data, instance_id=args.id, length=args.length, index=args.index)
    if args.gold:
        actions = parse_plan("\n".join(instance["gold_plan_nl"]), instance["blocks"])
        checked = validate(instance["init_facts"], instance["goal_facts"], actions)
        result = {
            "instance_id": instance["id"],
            "optimal_length": instance["optimal_plan_length"],
            "plan": [a.pddl() for a in actions],
            "check": {"valid": checked.valid, "error": checked.error},
        }
        _report(console, instance, result)
        return 0 if checked.valid else 1
    budget = Budget(max_depth=args.max_depth, max_children=3, max_llm_calls=args.max_calls)

    async def go() -> dict[str, Any]:
        async with open_backend(args, console) as backend:
            return await run(backend.endpoint, instance=instance, budget=budget)

    result = asyncio.run(go())
    print_tree(console, result, result["seconds"])
    console.print(f"answer: {result['answer']}", markup=False)
    _report(console, instance, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
