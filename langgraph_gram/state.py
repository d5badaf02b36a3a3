"""Graph state: the reasoning tree as plain, serializable data merged by reducers.

A node of the tree is a plain dict (see :class:`TreeNode`), keyed by a path-like id: the root is
``"0"``, its children ``"0.1"``, ``"0.2"``, their children ``"0.1.1"``... Parallel workers each
write their own nodes and the :func:`merge_tree` reducer merges the updates field by field, so the
whole tree is checkpointable and resumable.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

# typing_extensions' TypedDict: pydantic (LangGraph's input and output JSON schemas, which
# LangGraph Platform publishes) refuses typing.TypedDict before Python 3.12.
from typing_extensions import TypedDict

ROOT_ID = "0"
"""The id of the root node."""

RESET = "__reset__"
"""Key that makes :func:`merge_tree` and :func:`merge_usage` replace instead of merge."""

NodeStatus = Literal["pending", "expanded", "done", "failed", "cut"]
"""Lifecycle of a node: ``pending`` (waiting to be decomposed or solved), ``expanded`` (has
children, waits for them), then one of the terminal states ``done``, ``failed`` (the model's
output was unusable; the node still carries a fallback answer when one exists) or ``cut`` (a
budget closed it before it finished)."""

TERMINAL: frozenset[str] = frozenset({"done", "failed", "cut"})
"""Statuses after which a node never changes."""


class TreeNode(TypedDict, total=False):
    """One node of the reasoning tree (a plain dict in state).

    Attributes:
        id: Path-like id (``"0"``, ``"0.2"``, ``"0.2.1"``).
        parent: The parent's id, ``None`` for the root.
        depth: 0 for the root.
        index: 1-based position among its siblings (what ``#1``-style references point at).
        question: The sub-question as the model wrote it.
        resolved_question: The question with ``#k`` references replaced by the answers they name.
        depends_on: Ids of earlier siblings whose answers this node needs.
        children: Ids of the node's children, in order.
        status: See :data:`NodeStatus`.
        kind: ``"leaf"`` (solved directly) or ``"internal"`` (decomposed and aggregated).
        atomic: The model judged the question atomic (or it could not be decomposed).
        answer: The node's answer ("" until known).
        reasoning: The model's short justification of the answer.
        candidates: Sampled alternatives ``{"answer", "score", "votes"}`` when width > 1.
        error: Why the node failed or was cut, when it did.
        llm_calls: LLM calls spent on this node.
        tool_calls: Tool calls the model chose at this leaf (``{"tool", "input", "error"}``).
        citations: Retrieved passages the answer rests on (``{"id", "title"}``).
        memo_key: The normalised question and dependency answers, for memoization.
        memo_of: The id of the identical node whose answer this one reused.
        redecomposed: A scorer rejected every answer candidate, so the node was split again.
        plan_candidates: Sampled decompositions when width > 1 (``{"subproblems",
            "agreement"}``); the children come from the one the others agree on most.
        corrected_from: The model's aggregation answer, when the engine replaced it with the
            option a two-option comparison of the children's numbers decides
            (:mod:`langgraph_gram.comparison`).
        rejected_plan: Why the model's decomposition was not used and the node was solved
            directly instead (e.g. the plan stated numbers it was never given).
        reviewed: A person approved or edited this decomposition (``review_decompositions``).
        edited: The reviewer replaced the model's sub-problems.
        seconds: Wall time this node's workers took, summed.
        prompt_tokens: Prompt tokens of this node's calls.
        completion_tokens: Completion tokens of this node's calls.
        started_at: When work on the node first started (epoch seconds).
        finished_at: When its last worker finished (epoch seconds).
    """

    id: str
    parent: str | None
    depth: int
    index: int
    question: str
    resolved_question: str
    depends_on: list[str]
    children: list[str]
    status: NodeStatus
    kind: str
    atomic: bool
    answer: str
    reasoning: str
    candidates: list[dict[str, Any]]
    error: str | None
    llm_calls: int
    tool_calls: list[dict[str, Any]]
    citations: list[dict[str, str]]
    memo_key: str
    memo_of: str
    redecomposed: bool
    plan_candidates: list[dict[str, Any]]
    corrected_from: str
    rejected_plan: str
    reviewed: bool
    edited: bool
    seconds: float
    prompt_tokens: int
    completion_tokens: int
    started_at: float
    finished_at: float


def new_node(
    node_id: str,
    question: str,
    *,
    parent: str | None = None,
    depth: int = 0,
    index: int = 1,
    depends_on: list[str] | None = None,
) -> dict[str, Any]:
    """Create a pending node with every field set.

    Args:
        node_id: The node's id.
        question: Its question.
        parent: The parent's id (``None`` for the root).
        depth: Its depth.
        index: Its 1-based position among its siblings.
        depends_on: Ids of the earlier siblings it needs.

    Returns:
        A :class:`TreeNode` as a plain dict.
    """
    return {
        "id": node_id,
        "parent": parent,
        "depth": depth,
        "index": index,
        "question": question,
        "resolved_question": "",
        "depends_on": list(depends_on or []),
        "children": [],
        "status": "pending",
        "kind": "leaf",
        "atomic": False,
        "answer": "",
        "error": None,
        "llm_calls": 0,
    }


def merge_tree(
    left: dict[str, dict[str, Any]] | None, right: dict[str, Any] | None
) -> dict[str, dict[str, Any]]:
    """Merge node updates into the tree, field by field.

    Args:
        left: The current tree.
        right: Partial node dicts keyed by node id (``None`` removes the node); with
            ``{RESET: True}`` it replaces the tree.

    Returns:
        The merged tree (a new dict; inputs are not mutated).
    """
    if not right:
        return dict(left or {})
    if right.get(RESET):
        return {k: dict(v) for k, v in right.items() if k != RESET}
    merged = dict(left or {})
    for node_id, update in right.items():
        if update is None:  # a node removed (a decomposition replaced in review)
            merged.pop(node_id, None)
        else:
            merged[node_id] = {**merged.get(node_id, {}), **update}
    return merged


def merge_usage(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Add usage counters, recursively (``{"llm_calls": 1, "by_role": {"solve": {...}}}``).

    Args:
        left: Current counters.
        right: Increments; with ``{RESET: True}`` they replace the counters.

    Returns:
        The summed counters.
    """
    if not right:
        return dict(left or {})
    if right.get(RESET):
        return {k: v for k, v in right.items() if k != RESET}
    merged = dict(left or {})
    for key, value in right.items():
        if isinstance(value, dict):
            merged[key] = merge_usage(merged.get(key), value)
        else:
            merged[key] = merged.get(key, 0) + value
    return merged


def merge_hits(left: list[str] | None, right: list[str] | None) -> list[str]:
    """Append budget names that cut the tree, keeping first-seen order without repeats.

    Args:
        left: Names so far.
        right: New names; ``[RESET]`` clears the list.

    Returns:
        The combined list.
    """
    if right and right[0] == RESET:
        return [h for h in right[1:] if h != RESET]
    out = list(left or [])
    for name in right or []:
        if name not in out:
            out.append(name)
    return out


class GramInput(TypedDict, total=False):
    """What a run takes: a ``question``, or ``messages`` whose last human message is the question.

    Attributes:
        question: The question to answer.
        messages: A conversation; its last human message is the question when ``question`` is
            absent, and the answer is appended to it as an ``AIMessage``.
    """

    question: str
    messages: Annotated[list[AnyMessage], add_messages]


class GramOutput(TypedDict, total=False):
    """What a run returns.

    Attributes:
        answer: The final answer (always set, even when a budget cut the tree).
        tree: The reasoning tree, node id -> :class:`TreeNode`.
        usage: ``llm_calls``, ``prompt_tokens``, ``completion_tokens``, ``rounds``,
            ``work_seconds`` (the workers' seconds, summed over workers) and the same counters
            per role under ``by_role``.
        stopped_by: ``None``, or the name of the budget that was used up when the run ended
            (the hardest one when several were: ``max_seconds``, ``max_tokens``,
            ``max_llm_calls``, ``recursion_limit``, ``max_nodes``, ``max_children``). It
            limited the run: it cut nodes, samples or retries, or the tree finished on its
            last call.
        budget_hits: Every budget that cut something, in the order they were hit.
        citations: The retrieved passages the answer rests on (``{"id", "title"}``), when
            tools retrieved any.
        messages: The input conversation with the answer appended, followed by its sources
            (when messages came in).
    """

    answer: str
    citations: list[dict[str, str]]
    tree: dict[str, dict[str, Any]]
    usage: dict[str, Any]
    stopped_by: str | None
    budget_hits: list[str]
    messages: Annotated[list[AnyMessage], add_messages]


class GramState(TypedDict, total=False):
    """The full graph state (input and output fields plus the controller's bookkeeping).

    Attributes:
        question: The question a run was given; the run reads it into its root node and clears
            it, so that a later run on the same thread takes its own question.
        messages: See :class:`GramInput`.
        answer: See :class:`GramOutput`.
        citations: See :class:`GramOutput`.
        tree: See :class:`GramOutput`.
        usage: See :class:`GramOutput`.
        stopped_by: See :class:`GramOutput`.
        budget_hits: See :class:`GramOutput`.
        started_at: Wall-clock start of the run (seconds since the epoch).
        clock: The run's working time, kept by the controller (see
            :func:`~langgraph_gram.controller.advance_clock`): ``active`` seconds counted
            against ``max_seconds``, ``mark`` (epoch seconds) when the controller last looked
            and ``work`` the workers' seconds it had seen then. Time the run spent stopped (a
            crash before its resume, a human's review) is not counted.
        first_step: The LangGraph step at which the run began (a thread's steps go on from
            run to run, and ``recursion_limit`` counts a run's own steps).
    """

    question: str
    messages: Annotated[list[AnyMessage], add_messages]
    answer: str
    citations: list[dict[str, str]]
    tree: Annotated[dict[str, dict[str, Any]], merge_tree]
    usage: Annotated[dict[str, Any], merge_usage]
    stopped_by: str | None
    budget_hits: Annotated[list[str], merge_hits]
    started_at: float
    clock: dict[str, float]
    first_step: int
