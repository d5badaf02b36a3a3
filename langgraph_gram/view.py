"""Render a reasoning tree for people, with ``rich`` (the CLI's live view and final tree)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from rich.tree import Tree

from langgraph_gram.state import ROOT_ID

STATUS_STYLE = {
    "pending": ("…", "yellow"),
    "expanded": ("▸", "cyan"),
    "done": ("✓", "green"),
    "failed": ("✗", "red"),
    "cut": ("✂", "magenta"),
}
"""Marker and colour of each node status."""


def _label(node: dict[str, Any], max_len: int) -> Text:
    mark, style = STATUS_STYLE.get(node.get("status", ""), ("?", "white"))
    question = node.get("resolved_question") or node.get("question", "")
    if len(question) > max_len:
        question = question[: max_len - 1] + "…"
    label = Text()
    label.append(f"{mark} ", style=style)
    label.append(f"[{node['id']}] ", style="dim")
    label.append(question)
    if node.get("answer"):
        answer = str(node["answer"])
        if len(answer) > max_len:
            answer = answer[: max_len - 1] + "…"
        label.append("  → ", style="dim")
        label.append(answer, style="bold " + style)
        if node.get("memo_of"):
            label.append(f"  (reused [{node['memo_of']}])", style="dim")
        if node.get("rejected_plan"):
            label.append("  (plan rejected: solved directly)", style="dim")
        if "corrected_from" in node:
            label.append("  (decided exactly)", style="dim")
    elif node.get("error") and node.get("status") in {"failed", "cut"}:
        label.append(f"  ({node['error'][:60]})", style="dim " + style)
    return label


def render_tree(tree: dict[str, dict[str, Any]], *, max_len: int = 90) -> Tree:
    """Build a ``rich`` tree of the reasoning tree.

    Args:
        tree: The ``tree`` field of the graph state.
        max_len: Longest question or answer shown before it is shortened.

    Returns:
        A renderable ``rich.tree.Tree``.
    """
    if ROOT_ID not in tree:
        return Tree(Text("(empty tree)", style="dim"))
    root = Tree(_label(tree[ROOT_ID], max_len))
    stack = [(ROOT_ID, root)]
    while stack:
        node_id, branch = stack.pop()
        for child_id in tree[node_id].get("children", []):
            if child_id in tree:
                stack.append((child_id, branch.add(_label(tree[child_id], max_len))))
    return root


def usage_line(usage: dict[str, Any], stopped_by: str | None, seconds: float) -> Text:
    """One line of usage: calls, tokens, rounds, time and the budget that cut the tree.

    Args:
        usage: The ``usage`` field of the graph state.
        stopped_by: The ``stopped_by`` field.
        seconds: Wall-clock seconds so far.

    Returns:
        A ``rich`` text line.
    """
    text = Text(
        f"{usage.get('llm_calls', 0)} LLM calls · "
        f"{usage.get('prompt_tokens', 0)}+{usage.get('completion_tokens', 0)} tokens · "
        f"{usage.get('rounds', 0)} rounds · {seconds:.1f}s",
        style="dim",
    )
    if stopped_by:
        text.append(f" · cut by {stopped_by}", style="magenta")
    return text
