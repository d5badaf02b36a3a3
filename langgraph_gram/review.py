"""Human review of decompositions (``review_decompositions=True``).

After a node is decomposed, the controller pauses the run with a LangGraph ``interrupt``
before any of the new sub-problems is worked on. The interrupt's value lists every new
decomposition of the round::

    {"type": "review_decompositions",
     "reviews": [{"node_id": "0", "question": "...",
                  "subproblems": [{"question": "...", "depends_on": []}, ...]}]}

Resume with ``Command(resume=...)``: ``True`` (or ``None``) approves everything; a dict maps
node ids to ``"approve"``, to an edited list of sub-problems (strings or
``{"question", "depends_on"}`` dicts, cut and cleaned like a model's), or to ``[]`` to answer
that node directly instead. Nodes left out of the dict are approved. Any other value (a
``False``, a string, a dict naming a node that is not under review, a choice that is neither
``"approve"`` nor a list) is refused: the run pauses again with the same reviews and an
``"error"`` that says what was wrong, and is resumed like the first time.
"""

from __future__ import annotations

from typing import Any

from langgraph_gram.errors import ConfigurationError
from langgraph_gram.state import new_node
from langgraph_gram.subproblems import normalize_subproblems


def pending_reviews(tree: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """List the decompositions nobody has reviewed yet.

    Args:
        tree: The current tree.

    Returns:
        One review item per expanded, unreviewed node, in tree order.
    """
    reviews = []
    for node_id in sorted(tree, key=lambda i: [int(p) for p in i.split(".")]):
        node = tree[node_id]
        if node.get("status") != "expanded" or node.get("reviewed"):
            continue
        children = [tree[c] for c in node.get("children", []) if c in tree]
        index = {c["id"]: i for i, c in enumerate(children)}
        reviews.append(
            {
                "node_id": node_id,
                "question": node.get("resolved_question") or node["question"],
                "subproblems": [
                    {
                        "question": c["question"],
                        "depends_on": [index[d] for d in c.get("depends_on", []) if d in index],
                    }
                    for c in children
                ],
            }
        )
    return reviews


def decision_problem(decision: Any, reviews: list[dict[str, Any]]) -> str | None:
    """Say what is wrong with a reviewer's resume value, if anything.

    Args:
        decision: The resume value (see the module docstring).
        reviews: What was shown (from :func:`pending_reviews`).

    Returns:
        ``None`` for a valid decision, otherwise one sentence that says what to send instead.
    """
    shown = [review["node_id"] for review in reviews]
    if decision is True or decision is None:
        return None
    if not isinstance(decision, dict):
        return (
            "a review is resumed with True or None (approve all) or a dict of node id -> "
            f'"approve" or a list of sub-problems; got {decision!r}'
        )
    for node_id, choice in decision.items():
        if node_id not in shown:
            return (
                f"the review decision names node {node_id!r}, which is not under review "
                f"(under review: {', '.join(shown)})"
            )
        if choice != "approve" and not isinstance(choice, list):
            return (
                f'the review decision for node {node_id!r} must be "approve" or a list of '
                f"sub-problems ([] to answer it directly); got {choice!r}"
            )
    return None


def apply_review(
    tree: dict[str, dict[str, Any]],
    reviews: list[dict[str, Any]],
    decision: Any,
    *,
    max_children: int,
    max_nodes: int | None = None,
) -> dict[str, dict[str, Any] | None]:
    """Turn a reviewer's decision into tree updates.

    Args:
        tree: The current tree.
        reviews: What was shown (from :func:`pending_reviews`).
        decision: The resume value (see the module docstring).
        max_children: The budget's cap on sub-problems per node.
        max_nodes: The budget's cap on the tree's size: an edit that would pass it keeps only
            the sub-problems that fit (none, when fewer than two fit: the node is then answered
            directly).

    Returns:
        Updates for the tree reducer (``None`` removes a replaced child).

    Raises:
        ConfigurationError: The decision is none of the forms above.
    """
    problem = decision_problem(decision, reviews)
    if problem is not None:
        raise ConfigurationError(problem)
    decisions = decision if isinstance(decision, dict) else {}
    updates: dict[str, dict[str, Any] | None] = {}
    size = len(tree)
    for review in reviews:
        node_id = review["node_id"]
        node = tree[node_id]
        choice = decisions.get(node_id, "approve")
        updates[node_id] = {"reviewed": True}
        if not isinstance(choice, list):
            continue
        for child in node.get("children", []):
            updates[child] = None
        size -= len(node.get("children", []))
        room = max_children if max_nodes is None else min(max_children, max_nodes - size)
        items, _ = normalize_subproblems(
            {"subproblems": choice}, parent_question=review["question"], limit=max(0, room)
        )
        size += len(items)
        if not items:
            updates[node_id] = {
                "reviewed": True,
                "status": "pending",
                "kind": "leaf",
                "atomic": True,
                "children": [],
            }
            continue
        ids = [f"{node_id}.{i}" for i in range(1, len(items) + 1)]
        for i, (question, deps) in enumerate(items):
            updates[ids[i]] = new_node(
                ids[i],
                question,
                parent=node_id,
                depth=node["depth"] + 1,
                index=i + 1,
                depends_on=[ids[j] for j in deps],
            )
        updates[node_id] = {"reviewed": True, "children": ids, "edited": True}
    return updates
