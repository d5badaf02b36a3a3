"""Blocksworld plans (PlanBench): parse a plan out of an answer and simulate it.

The simulator applies the four operators of PlanBench's ``generated_domain.pddl`` (pick-up,
put-down, stack, unstack) with their preconditions to PDDL-style facts (``("on", "a", "b")``,
``("clear", "a")``, ``("handempty",)``...). A plan is valid when every action is applicable in
turn and the final state holds every goal fact; any valid plan counts, not only the gold one.

    actions = parse_plan(answer, blocks=["red block", "blue block", "orange block"])
    check = validate(init_facts, goal_facts, actions)
    check.valid, check.error
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import cast

COLORS = "red blue orange yellow white magenta black cyan green violet silver gold".split()
"""PlanBench's block names: block ``a`` is red, ``b`` blue, and so on."""

Fact = tuple[str, ...]
"""A ground fact: its predicate, then its block letters (``("on", "a", "b")``)."""


@dataclass(frozen=True)
class Action:
    """One blocksworld action on block letters (``a`` = the red block ...).

    Attributes:
        name: ``pick-up``, ``put-down``, ``stack`` or ``unstack``.
        block: The block moved.
        target: The block it is stacked on or unstacked from (``stack``/``unstack`` only).
    """

    name: str
    block: str
    target: str | None = None

    def pddl(self) -> str:
        """Write the action in PDDL.

        Returns:
            E.g. ``"(unstack b a)"`` or ``"(put-down b)"``.
        """
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
    """Map colour names to block letters.

    Args:
        blocks: An instance's ``blocks`` list (``["red block", "blue block", ...]``); by
            default PlanBench's twelve :data:`COLORS`.

    Returns:
        Colour -> block letter, e.g. ``{"red": "a", "blue": "b", ...}``.
    """
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

    When the text holds PDDL actions (``(unstack b a)``) only those are read; otherwise the
    natural-language ones (``unstack the blue block from on top of the red block``). Unknown
    block names and phrases that are not one of the four actions are skipped.

    Args:
        text: The answer holding the plan.
        blocks: The instance's ``blocks`` list, naming the colours (see :func:`letter_names`).

    Returns:
        The actions, in the order written.
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
    """Apply one action to ``state`` in place, if its preconditions hold.

    Args:
        state: The current facts; changed in place when the action applies.
        action: The action.

    Returns:
        ``None`` when it was applied, else why it is not applicable (``state`` unchanged).
    """
    # Only stack and unstack read ``y``, and parse_plan gives those two a target.
    x, y = action.block, cast(str, action.target)
    holding = [f[1] for f in state if f[0] == "holding"]
    needs: list[Fact]
    adds: list[Fact]
    dels: list[Fact]
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
    """Simulate a plan from the initial state and check the goal.

    The simulation stops at the first inapplicable action.

    Args:
        init_facts: The initial state (PDDL-style tuples such as ``["on", "a", "b"]``).
        goal_facts: The facts the final state must hold.
        actions: The plan.

    Returns:
        What the simulation found (see :class:`PlanCheck`).
    """
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
