"""Blocksworld planning (PlanBench): GRAM writes a plan, a simulator checks it.

GRAM is asked for a plan from the instance's initial state to its goal, in PlanBench's words
("unstack the yellow block from on top of the orange block", ...). The actions are parsed out of
the answer and executed by the small simulator below, which applies the four operators of
``generated_domain.pddl`` (pick-up, put-down, stack, unstack) with their preconditions: the plan
is valid when every action is applicable in turn and the final state holds every goal fact.
Any valid plan counts, not only the gold one.

    python examples/blocksworld_plan.py                     # the first 2-step instance
    python examples/blocksworld_plan.py --length 4          # the first 4-step instance
    python examples/blocksworld_plan.py --id generated_basic/instance-131
    python examples/blocksworld_plan.py --gold              # check the gold plan (no model)
    python examples/blocksworld_plan.py --base-url http://127.0.0.1:8000/v1 --model M
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
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

BLOCKSWORLD_FILE = "blocksworld/blocksworld_602.jsonl"
DEFAULT_BUDGET = Budget(max_depth=1, max_children=3, max_llm_calls=8)

COLORS = "red blue orange yellow white magenta black cyan green violet silver gold".split()
"""PlanBench's block names: block ``a`` is red, ``b`` blue, and so on."""

QUESTION = """Blocksworld planning. I can do four actions, one at a time:
- pick up a block (only a clear block that is on the table, and only when my hand is empty);
- unstack a block from on top of another block (only a clear block that is on that other \
block, and only when my hand is empty);
- put down the block I am holding (it goes on the table);
- stack the block I am holding on top of another block (only on a clear block).
A block is clear when no block is on it and I am not holding it.
Initial state: {init}.
Goal: {goal}.
What is the plan? Answer with the actions in order, separated by ";", each written like \
"unstack the red block from on top of the blue block", "put down the red block", "pick up \
the red block", "stack the red block on top of the blue block"."""

Fact = tuple[str, ...]


@dataclass(frozen=True)
class Action:
    """One blocksworld action on block letters (``a`` = the red block ...)."""

    name: str  # pick-up | put-down | stack | unstack
    block: str
    target: str | None = None

    def pddl(self) -> str:
        args = " ".join(x for x in (self.block, self.target) if x)
        return f"({self.name} {args})"


@dataclass
class PlanCheck:
    """What simulating a plan found.

    Attributes:
        valid: Every action was applicable and the final state holds every goal fact.
        executable: Every action was applicable in turn.
        reached_goal: The final state (after the last applicable action) holds every goal.
        steps_ok: How many actions were applied before the first inapplicable one.
        error: Why the first inapplicable action failed, or what goal is missing.
        missing_goals: Goal facts the final state lacks.
        state: The final state's facts.
    """

    valid: bool
    executable: bool
    reached_goal: bool
    steps_ok: int
    error: str | None = None
    missing_goals: list[Fact] = field(default_factory=list)
    state: list[Fact] = field(default_factory=list)


def letter_names(blocks: Sequence[str] | None = None) -> dict[str, str]:
    """Colour -> block letter (``{"red": "a", ...}``) from an instance's ``blocks`` list."""
    names = [b.split()[0].lower() for b in blocks] if blocks else list(COLORS)
    return {name: chr(ord("a") + i) for i, name in enumerate(names)}


_PDDL = re.compile(r"\(\s*(pick-up|put-down|stack|unstack)\s+([a-z])(?:\s+([a-z]))?\s*\)", re.I)
_NL = re.compile(
    r"\b(?P<verb>unstack|stack|pick[\s_-]*up|put[\s_-]*down)\s+(?:the\s+)?(?P<x>[a-z]+)"
    r"(?:\s+block)?(?:\s+(?:from\s+)?(?:on\s+top\s+of|onto|on|from)\s+(?:the\s+)?"
    r"(?P<y>[a-z]+)(?:\s+block)?)?",
    re.I,
)


def parse_plan(text: str, blocks: Sequence[str] | None = None) -> list[Action]:
    """Parse the actions of a plan written in PlanBench's words or as PDDL, in order.

    Unknown block names and phrases that are not one of the four actions are skipped.
    """
    found = _PDDL.findall(text or "")
    if found:
        return [Action(n.lower(), x.lower(), (y or None) and y.lower()) for n, x, y in found]
    names = letter_names(blocks)
    actions = []
    for match in _NL.finditer(text or ""):
        verb = re.sub(r"[\s_-]+", "", match["verb"].lower())
        name = {"pickup": "pick-up", "putdown": "put-down"}.get(verb, verb)
        block = names.get(match["x"].lower())
        target = names.get((match["y"] or "").lower())
        if block is None:
            continue
        if name in {"stack", "unstack"} and target is None:
            continue
        actions.append(Action(name, block, target if name in {"stack", "unstack"} else None))
    return actions


def apply(state: set[Fact], action: Action) -> str | None:
    """Apply one action to ``state`` in place; return why it is not applicable, or ``None``."""
    x, y = action.block, action.target
    holding = [f[1] for f in state if f[0] == "holding"]
    if action.name == "pick-up":
        needs = [("clear", x), ("ontable", x), ("handempty",)]
        adds, dels = [("holding", x)], [("clear", x), ("ontable", x), ("handempty",)]
    elif action.name == "put-down":
        needs = [("holding", x)]
        adds, dels = [("clear", x), ("handempty",), ("ontable", x)], [("holding", x)]
    elif action.name == "stack":
        needs = [("clear", y), ("holding", x)]
        adds = [("handempty",), ("clear", x), ("on", x, y)]
        dels = [("clear", y), ("holding", x)]
    elif action.name == "unstack":
        needs = [("on", x, y), ("clear", x), ("handempty",)]
        adds = [("holding", x), ("clear", y)]
        dels = [("on", x, y), ("clear", x), ("handempty",)]
    else:
        return f"unknown action {action.name!r}"
    if x == y:
        return f"{action.pddl()}: a block cannot be stacked on itself"
    missing = [f for f in needs if f not in state]
    if missing:
        why = ", ".join("(" + " ".join(f) + ")" for f in missing)
        held = f" (holding {holding[0]})" if holding else ""
        return f"{action.pddl()} is not applicable: {why} is false{held}"
    state.difference_update(dels)
    state.update(adds)
    return None


def validate(
    init_facts: Iterable[Sequence[str]],
    goal_facts: Iterable[Sequence[str]],
    actions: Sequence[Action],
) -> PlanCheck:
    """Simulate ``actions`` from ``init_facts`` and check ``goal_facts`` (PDDL-style tuples)."""
    state: set[Fact] = {tuple(f) for f in init_facts}
    goals = [tuple(f) for f in goal_facts]
    error = None
    steps = 0
    for action in actions:
        error = apply(state, action)
        if error:
            error = f"step {steps + 1}: {error}"
            break
        steps += 1
    executable = error is None
    missing = [g for g in goals if g not in state]
    if executable and missing:
        error = "goal not reached: missing " + ", ".join("(" + " ".join(g) + ")" for g in missing)
    return PlanCheck(
        valid=executable and not missing,
        executable=executable,
        reached_goal=not missing,
        steps_ok=steps,
        error=error,
        missing_goals=missing,
        state=sorted(state),
    )


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
