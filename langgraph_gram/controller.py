"""The controller's planning step: a pure function from the tree and the budget to the next round.

Each round the controller closes what can be closed, then picks the ready work: aggregations of
nodes whose children have all finished, and decisions (decompose or solve) for pending nodes
whose dependencies have finished. It reserves LLM calls and nodes for every task *before*
dispatching it, so a round can never overshoot ``max_llm_calls`` or ``max_nodes``, and it keeps
enough calls back to finish what is already open (one call per open node). When a hard budget
(calls, tokens, seconds, recursion) is spent, it dispatches nothing and closes every open node
from what exists, so the run always ends with an answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from langgraph_gram.context import Settings
from langgraph_gram.plan_coverage import single_hop
from langgraph_gram.prompts import Prompts
from langgraph_gram.state import ROOT_ID, TERMINAL
from langgraph_gram.subproblems import names_nothing
from langgraph_gram.text import match_key, normalize_text

HIT_PRIORITY = (
    "max_seconds",
    "max_tokens",
    "max_llm_calls",
    "recursion_limit",
    "max_nodes",
    "max_children",
)
"""Budget names, hardest first: ``stopped_by`` reports the first of these that was hit."""

ROUND_SLACK_SECONDS = 1.0
"""Seconds a round may take beyond its workers' own (LangGraph's step, checkpoint writes)."""

_REF = re.compile(r"#(\d+)")


def first_call_tokens(prompts: Prompts, task: dict[str, Any]) -> int:
    """Guess a task's per-call tokens before any call was measured.

    The controller predicts later calls from the run's measured average; the first round has
    none, so its width samples are bounded by this guess: the prompt's fixed instructions and
    the question, at about four characters a token (answers and tool descriptions not
    counted, so it guesses low).

    Args:
        prompts: The run's prompts.
        task: A ``decompose`` or ``solve`` task with its ``context``.

    Returns:
        The guessed prompt tokens of one call, at least 1.
    """
    user = prompts.decompose_user if task["kind"] == "decompose" else prompts.solve_user
    text = prompts.system + user + task["context"]["question"]
    return max(1, len(text) // 4)


def advance_clock(clock: dict[str, float], *, now: float, work_seconds: float) -> dict[str, float]:
    """Count the working time since the controller last looked, leaving out stopped time.

    Between two controller passes a run either worked (its workers ran, then LangGraph took
    its step) or stood still: the process crashed and was resumed later, or a human took
    their time over a review. Wall time alone would charge a resumed run its downtime
    against ``max_seconds``; the workers' own seconds alone would miss the time they waited
    on ``max_concurrency``. The pass counts the wall time, but never more than the workers
    reported since the last pass plus :data:`ROUND_SLACK_SECONDS`.

    Args:
        clock: ``{"active", "mark", "work"}`` from the last pass (see ``GramState.clock``).
        now: The current wall time (epoch seconds).
        work_seconds: The run's ``usage["work_seconds"]`` now.

    Returns:
        The clock to store: ``active`` advanced, ``mark`` set to ``now``.
    """
    gap = max(0.0, now - clock.get("mark", now))
    worked = max(0.0, work_seconds - clock.get("work", 0.0))
    active = clock.get("active", 0.0) + min(gap, worked + ROUND_SLACK_SECONDS)
    return {"active": active, "mark": now, "work": work_seconds}


@dataclass
class Plan:
    """What one controller round decided.

    Attributes:
        updates: Node updates to write (node id -> partial node).
        tasks: Work to dispatch, each a dict with ``kind`` (``decompose``, ``solve`` or
            ``aggregate``), ``node_id``, the node's prompt ``context`` and its allowances.
        hits: Budgets that cut something this round.
        finished: The root is terminal: finalize.
    """

    updates: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    hits: list[str] = field(default_factory=list)
    finished: bool = False


def stopped_by(hits: list[str]) -> str | None:
    """Pick the hardest budget among those hit.

    Args:
        hits: Budget names that cut the tree.

    Returns:
        The name to report, or ``None``.
    """
    for name in HIT_PRIORITY:
        if name in hits:
            return name
    return hits[0] if hits else None


def hard_stop(
    settings: Settings,
    usage: dict[str, Any],
    elapsed: float,
    *,
    rounds_left: int | None = None,
) -> str | None:
    """Name the hard budget that forbids any further LLM call, if one does.

    Args:
        settings: The run's settings.
        usage: Usage so far.
        elapsed: Seconds since the run started.
        rounds_left: Controller rounds LangGraph's recursion limit still allows, when known.

    Returns:
        The budget's name, or ``None`` when calls may still start.
    """
    budget = settings.budget
    if budget.max_seconds is not None and elapsed >= budget.max_seconds:
        return "max_seconds"
    tokens = usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)
    if budget.max_tokens is not None and tokens >= budget.max_tokens:
        return "max_tokens"
    if usage.get("llm_calls", 0) >= budget.max_llm_calls:
        return "max_llm_calls"
    if rounds_left is not None and rounds_left < 1:
        return "recursion_limit"
    return None


def resolve_refs(question: str, answers: dict[int, str], no_answer: str) -> str:
    """Replace ``#k`` references with the answer of sibling ``k`` (1-based).

    Args:
        question: Question text that may hold ``#1``-style references.
        answers: Sibling index -> answer, for the siblings this node depends on.
        no_answer: Text for a reference whose answer does not exist.

    Returns:
        The question with every known reference replaced.
    """

    def sub(match: re.Match[str]) -> str:
        k = int(match.group(1))
        if k in answers:
            return answers[k] or no_answer
        return match.group(0)

    return _REF.sub(sub, question)


def fallback_answer(children: list[dict[str, Any]], no_answer: str) -> str:
    """Close an internal node without a call: the answer of its last answered child.

    A decomposition lists sub-questions in the order they are answered, so the last answered
    one is the closest to the node's own question (the final hop of a chain).

    Args:
        children: The node's children, in order.
        no_answer: Text when no child has an answer.

    Returns:
        The fallback answer.
    """
    for child in reversed(children):
        if child.get("answer"):
            return str(child["answer"])
    return no_answer


class _View:
    """The tree with this round's updates applied on top (copy-on-write)."""

    def __init__(self, tree: dict[str, dict[str, Any]], updates: dict[str, dict[str, Any]]):
        self.tree = tree
        self.updates = updates

    def get(self, node_id: str) -> dict[str, Any]:
        base = self.tree[node_id]
        upd = self.updates.get(node_id)
        return {**base, **upd} if upd else base

    def set(self, node_id: str, **fields: Any) -> None:
        self.updates.setdefault(node_id, {}).update(fields)

    def ids(self) -> list[str]:
        # Deepest first, then sibling order: children close before parents in one sweep.
        return sorted(self.tree, key=lambda i: (-i.count("."), [int(p) for p in i.split(".")]))


def _questions_around(view: _View, node: dict[str, Any]) -> list[str]:
    """Questions of a node's ancestors and siblings: a decomposition must not re-ask them."""
    out: list[str] = []
    parent_id = node.get("parent")
    if parent_id is not None:
        for sibling_id in view.get(parent_id).get("children", []):
            if sibling_id != node["id"]:
                sibling = view.get(sibling_id)
                out.append(sibling.get("resolved_question") or sibling["question"])
    while parent_id is not None:
        parent = view.get(parent_id)
        out.append(parent.get("resolved_question") or parent["question"])
        parent_id = parent.get("parent")
    return out


def _stats(node: dict[str, Any]) -> dict[str, Any]:
    """Return what a node has spent so far (for the worker to add to)."""
    keys = ("seconds", "prompt_tokens", "completion_tokens", "started_at")
    return {k: node[k] for k in keys if node.get(k) is not None}


def memo_key(ctx: dict[str, Any]) -> str:
    """Identify a sub-problem for memoization: its resolved question and dependency answers.

    The answers its ancestors depended on, and its path of ancestor questions, count only for
    a question that names nothing of its own ("When was the founder born?" under "When was
    Apple founded?" is not the same problem as under "When was Zeta founded?"): "Who founded
    Apple?" is the same problem whatever its parent knew. Numbers and arithmetic signs count
    ("What is 12+4?" is not "What is 12*4?").

    Args:
        ctx: The node's context (see :func:`node_context`).

    Returns:
        A key equal for sub-problems of one run that must have the same answer.
    """
    vague = names_nothing(ctx["question"])
    deps = sorted(
        match_key(k["answer"]) for k in ctx.get("known", []) if vague or not k.get("inherited")
    )
    key = match_key(ctx["question"]) + "||" + "|".join(deps)
    if vague:  # "Who founded the company?" means what its path makes it mean
        key += "||" + "|".join(normalize_text(q) for q in ctx.get("path", []))
    return key


def store_key(ctx: dict[str, Any]) -> str:
    """Identify a sub-problem across runs (``cache_answers``): :func:`memo_key`, plus context.

    A question that names nothing of its own ("In which year was the company founded?") means
    what its root and path make it mean, so under another root question it is another
    problem; one that names its subject ("In which year was Qarvex Labs founded?") is the same
    problem in any run.

    Args:
        ctx: The node's context (see :func:`node_context`).

    Returns:
        The key of the node's answer in the store.
    """
    key = memo_key(ctx)
    if names_nothing(ctx["question"]):
        where = [ctx.get("root") or "", *ctx.get("path", [])]
        key += "||" + "|".join(normalize_text(q) for q in where)
    return key


def _repeats_an_ancestor(view: _View, node: dict[str, Any], question: str) -> bool:
    """Tell whether a node's resolved question is one of its ancestors' questions."""
    norm = match_key(question)
    parent_id = node.get("parent")
    while parent_id is not None:
        parent = view.get(parent_id)
        if match_key(parent.get("resolved_question") or parent["question"]) == norm:
            return True
        parent_id = parent.get("parent")
    return False


def node_context(view: _View, node: dict[str, Any], prompts: Prompts) -> dict[str, Any]:
    """Select what a node's call may see: root, ancestors' path, and the answers it depends on.

    Args:
        view: The tree.
        node: The node.
        prompts: Prompts (for the no-answer text).

    Returns:
        ``root``, ``path`` (ancestor questions below the root, top-down), ``known`` (question and
        answer of each dependency, the ancestors' first and marked ``inherited``: a part of
        "When was the founder born?" still knows who the founder is) and ``question``
        (references resolved).
    """
    root = view.get(ROOT_ID)
    path: list[str] = []
    inherited: list[str] = []  # what the ancestors depend on, nearest ancestor last
    parent_id = node.get("parent")
    while parent_id is not None and parent_id != ROOT_ID:
        parent = view.get(parent_id)
        path.append(parent.get("resolved_question") or parent["question"])
        inherited[:0] = parent.get("depends_on", [])
        parent_id = parent.get("parent")
    path.reverse()
    known = []
    answers: dict[int, str] = {}
    own = node.get("depends_on", [])
    for dep_id in dict.fromkeys([*inherited, *own]):
        dep = view.get(dep_id)
        if dep_id in own:
            answers[dep["index"]] = dep.get("answer", "")
        known.append(
            {
                "question": dep.get("resolved_question") or dep["question"],
                "answer": dep.get("answer") or prompts.no_answer,
            }
            | ({} if dep_id in own else {"inherited": True})
        )
    question = resolve_refs(node["question"], answers, prompts.no_answer)
    return {
        "root": root["question"] if node["id"] != ROOT_ID else None,
        "path": path,
        "known": known,
        "question": question,
    }


def plan_round(
    tree: dict[str, dict[str, Any]],
    settings: Settings,
    usage: dict[str, Any],
    elapsed: float,
    prompts: Prompts,
    *,
    rounds_left: int | None = None,
    force_stop: str | None = None,
    wait_for_twins: bool = True,
) -> Plan:
    """Decide the next round.

    Args:
        tree: The current tree.
        settings: The run's settings.
        usage: Usage so far.
        elapsed: Seconds since the run started.
        prompts: Prompts (for the no-answer text).
        rounds_left: Controller rounds the recursion limit still allows, when known.
        force_stop: Close everything as if this budget were spent.
        wait_for_twins: Let a sub-problem identical to one in flight wait for its answer;
            ``False`` solves it anyway (for rounds where every such sub-problem waits on
            another that waits in turn).

    Returns:
        The round's plan.
    """
    budget = settings.budget
    plan = Plan()
    view = _View(tree, plan.updates)
    stop = force_stop or hard_stop(settings, usage, elapsed, rounds_left=rounds_left)

    def terminal(node_id: str) -> bool:
        return view.get(node_id).get("status") in TERMINAL

    # 1. Close what can be closed without a call; with a hard stop, that is everything open.
    changed = True
    while changed:
        changed = False
        for node_id in view.ids():
            node = view.get(node_id)
            status = node.get("status")
            if status == "expanded" and all(terminal(c) for c in node.get("children", [])):
                if stop:
                    kids = [view.get(c) for c in node["children"]]
                    view.set(
                        node_id,
                        status="cut",
                        # "" when no child answered: an ancestor then takes a real answer
                        # of another child, and the root says why there is none.
                        answer=fallback_answer(kids, ""),
                        error=f"aggregation skipped: {stop} reached",
                    )
                    changed = True
            elif status == "pending" and stop:
                if all(terminal(d) for d in node.get("depends_on", [])):
                    view.set(node_id, status="cut", answer="", error=f"not solved: {stop} reached")
                    changed = True
    if stop:
        plan.hits.append(stop)
    if terminal(ROOT_ID):
        plan.finished = True
        return plan

    # 2. Collect ready work: aggregations first (they finish branches), then pending nodes.
    aggregates, pending = [], []
    open_nodes = 0
    for node_id in view.ids():
        node = view.get(node_id)
        status = node.get("status")
        if status not in TERMINAL:
            open_nodes += 1
        if status == "expanded" and all(terminal(c) for c in node.get("children", [])):
            aggregates.append(node)
        elif status == "pending" and all(terminal(d) for d in node.get("depends_on", [])):
            pending.append(node)
    pending.sort(key=lambda n: [int(p) for p in n["id"].split(".")])

    calls_left = budget.max_llm_calls - usage.get("llm_calls", 0)
    calls_limit = "max_llm_calls"
    if budget.max_tokens is not None and usage.get("llm_calls", 0) > 0:
        # Predict how many more calls the token budget affords from the average call so far.
        # Later calls (deeper context, aggregations) cost more than the average: keep a margin.
        spent = usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)
        per_call = max(1, (spent * 5) // (usage["llm_calls"] * 4))
        by_tokens = (budget.max_tokens - spent) // per_call
        if by_tokens < calls_left:
            calls_left, calls_limit = by_tokens, "max_tokens"
    if calls_left < 1:
        # Not even one more average call fits the token budget: close the tree now.
        return plan_round(
            tree, settings, usage, elapsed, prompts, rounds_left=rounds_left, force_stop=calls_limit
        )
    # Calls beyond the one each open node needs to finish: what decompositions, width samples
    # and repair retries may use.
    slack = calls_left - open_nodes
    nodes_left = budget.max_nodes - len(tree)
    width = settings.width

    for node in aggregates:
        if calls_left < 1:
            break
        kids = [view.get(c) for c in node["children"]]
        ctx = node_context(view, node, prompts)
        position = {c: i for i, c in enumerate(node["children"])}
        ctx["children"] = [
            {
                "question": k.get("resolved_question") or k["question"],
                "answer": k.get("answer") or prompts.no_answer,
                "depends_on": [position[d] for d in k.get("depends_on", []) if d in position],
            }
            for k in kids
        ]
        plan.tasks.append(
            {
                "kind": "aggregate",
                "node_id": node["id"],
                "context": ctx,
                "calls": 1,
                "node_depth": node["depth"],
                "node_calls": node.get("llm_calls", 0),
                "node_stats": _stats(node),
            }
        )
        calls_left -= 1

    # Memoization: a sub-problem identical to one already answered in this run (same resolved
    # question, same dependency answers) takes that answer; one identical to a sub-problem in
    # flight waits for it instead of being solved twice.
    memo: dict[str, str] = {}
    busy: dict[str, set[str]] = {}
    for node_id in view.ids():
        other = view.get(node_id)
        key = other.get("memo_key")
        if not key:
            continue
        if other.get("status") == "done" and other.get("answer") and not other.get("memo_of"):
            memo.setdefault(key, node_id)
        elif other.get("status") not in TERMINAL:
            busy.setdefault(key, set()).add(node_id)

    for node in pending:
        if calls_left < 1:
            break
        ctx = node_context(view, node, prompts)
        if ctx["question"] != node["question"] and not node.get("resolved_question"):
            view.set(node["id"], resolved_question=ctx["question"])
        key = memo_key(ctx)
        if key in memo:
            source = view.get(memo[key])
            view.set(
                node["id"],
                status="done",
                answer=source["answer"],
                reasoning=source.get("reasoning", ""),
                citations=source.get("citations", []),
                memo_key=key,
                memo_of=source["id"],
            )
            continue
        # An identical sub-problem elsewhere is being solved: reuse its answer when it is done.
        # (An ancestor with the same question never counts: it waits for this node.)
        holders = busy.get(key, set()) - {node["id"]}
        if (
            wait_for_twins
            and not node.get("memo_key")
            and any(not node["id"].startswith(h + ".") for h in holders)
        ):
            continue
        busy.setdefault(key, set()).add(node["id"])
        view.set(node["id"], memo_key=key)
        task: dict[str, Any] = {"node_id": node["id"], "context": ctx, "calls": 1}
        task.update(
            node_depth=node["depth"],
            node_calls=node.get("llm_calls", 0),
            node_stats=_stats(node),
            memo_key=key,
            store_key=store_key(ctx),
        )
        wants_split = node["depth"] < budget.max_depth and not node.get("atomic")
        if wants_split and _repeats_an_ancestor(view, node, ctx["question"]):
            # "#1"-style references resolved into an ancestor's own question: splitting it again
            # would recurse on the same problem, so it is answered directly.
            wants_split = False
            view.set(node["id"], atomic=True)
        elif wants_split and node["depth"] > 0 and node.get("depends_on"):
            # A sub-problem one relation away from an answer its plan already found ("In which
            # city was #2 born?") is one lookup: planning it again only adds detours. The
            # answer filled in must be one thing too: "the assassination of A, B and C" is not.
            if single_hop(node["question"]) and single_hop(ctx["question"]):
                wants_split = False
                view.set(node["id"], atomic=True)
        elif (
            wants_split
            and node["depth"] > 0
            and single_hop(node["question"])
            and single_hop(ctx["question"])
        ):
            # The same kind of step with nothing to start from ("Who founded Kriondhind
            # Ltd?"): the planning call is still made, and a plan it returns is refused, so a
            # tree whose planner calls such a step atomic is the same as before this rule.
            task["one_lookup"] = True
        if wants_split:
            by_calls = slack - 1  # the decomposition call itself comes out of the slack
            cap = min(budget.max_children, nodes_left, by_calls)
            if cap >= 2:
                task.update(
                    kind="decompose",
                    max_children=cap,
                    known_questions=_questions_around(view, node),
                )
                task["cut_by"] = (
                    "max_children"
                    if cap == budget.max_children
                    else ("max_nodes" if cap == nodes_left else calls_limit)
                )
                slack -= 1 + cap
                nodes_left -= cap
            else:
                plan.hits.append(
                    "max_children"
                    if budget.max_children < 2
                    else ("max_nodes" if nodes_left < 2 else calls_limit)
                )
                view.set(node["id"], atomic=True)
                task["kind"] = "solve"
        else:
            task["kind"] = "solve"
        plan.tasks.append(task)
        calls_left -= 1

    # 3. Hand what slack is left to tool steps, width samples, then one repair retry per task.
    for task in plan.tasks:
        task["tool_steps"] = 0
        if task["kind"] == "solve" and settings.tools and slack > 0:
            extra = min(budget.max_tool_calls, slack)
            task["tool_steps"] = extra
            task["calls"] += extra
            slack -= extra
    for task in plan.tasks:
        # Width: more samples of a leaf answer (and, with an LLM judge, one judge call for
        # each). Depth was served first: the slack left here is what decompositions did not
        # need, so width is what a tight budget cuts back.
        task["samples"], task["judge_calls"] = 1, 0
        task["halt_after"] = settings.halt_agreement
        # Before any call was measured, the token budget bounds the samples by a guess.
        fits = width
        if budget.max_tokens is not None and not usage.get("llm_calls"):
            fits = max(1, budget.max_tokens // first_call_tokens(prompts, task))
        if task["kind"] == "decompose" and width > 1 and slack > 0:
            extra = min(width - 1, slack, fits - 1)  # sampled plans, chosen by agreement
            task["samples"] = 1 + extra
            task["calls"] += extra
            slack -= extra
            continue
        if task["kind"] != "solve":
            continue
        node = view.get(task["node_id"])
        task["can_redecompose"] = node["depth"] < budget.max_depth and not node.get("redecomposed")
        per_extra = 2 if settings.judge else 1
        first = 1 if settings.judge else 0  # the first sample's judge call
        if width > 1 and slack >= first + per_extra and fits > 1:
            extra = min(width - 1, (slack - first) // per_extra, fits - 1)
            task["samples"] = 1 + extra
        elif settings.judge and slack >= 1:
            task["samples"] = 1
        else:
            continue
        judges = task["samples"] if settings.judge else 0
        task["judge_calls"] = judges
        task["calls"] += task["samples"] - 1 + judges
        slack -= task["samples"] - 1 + judges
    for task in plan.tasks:
        if slack > 0:
            task["calls"] += 1
            slack -= 1
    if plan.tasks and elapsed is not None and budget.max_seconds is not None:
        for task in plan.tasks:
            task["seconds_left"] = max(0.0, budget.max_seconds - elapsed)
    return plan
