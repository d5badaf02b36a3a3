"""What the engine makes of a model's plan: safe sub-problems, their dependencies, a vote.

A decomposition from a small model is cleaned before it becomes nodes
(:func:`normalize_subproblems`): repeats, self-references and cycles go, ``#k`` references
and forgotten dependencies are filled in, and a last step that only combines earlier answers
is left to the aggregation. With width, :func:`choose_plan` picks the plan the samples agree
on most.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from langgraph_gram.text import match_key

_REF = re.compile(r"#(\d+)")
_NAMING = re.compile(r"\d|[\"“”]|(?<!\w)'|'(?!\w)")


def normalize_subproblems(
    data: dict[str, Any],
    *,
    parent_question: str,
    limit: int,
    known_questions: Sequence[str] = (),
) -> tuple[list[tuple[str, list[int]]], int]:
    """Turn a model's decomposition into safe sub-problems.

    Accepts ``{"subproblems": [...]}`` or a bare list, items as objects or strings. Drops empty
    items, repeated items, and items that repeat the parent question or a question already
    being solved elsewhere on the path (an ancestor or a sibling: re-asking it could recurse
    forever or redo work), cuts the list to ``limit``, and keeps only
    dependencies on *earlier* items (self, later, missing or cyclic ones are dropped). ``#k``
    references in a question add a dependency on item ``k`` when it is earlier. A last item
    that only combines earlier answers is dropped (see :func:`only_combines`). Fewer than two
    items means the question is atomic.

    Args:
        data: The parsed reply.
        parent_question: The question being decomposed.
        limit: The most sub-problems allowed.
        known_questions: Questions of the node's ancestors and siblings.

    Returns:
        ``(items, cut)``: each item is ``(question, depends_on)`` with 0-based indices, and
        ``cut`` counts the items dropped for exceeding ``limit``.
    """
    raw = data.get("subproblems", data.get("__list__", []))
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        return [], 0
    seen = {match_key(parent_question)} | {match_key(q) for q in known_questions}
    items: list[tuple[str, Any]] = []
    for entry in raw:
        if isinstance(entry, str):
            question, deps = entry, []
        elif isinstance(entry, dict):
            question = entry.get("question") or entry.get("subquestion") or entry.get("q") or ""
            deps = entry.get("depends_on", [])
        else:
            continue
        question = str(question).strip()
        norm = match_key(question)
        if not norm or norm in seen:
            continue
        seen.add(norm)
        items.append((question, deps))
    cut = max(0, len(items) - limit)
    items = items[:limit]
    if len(items) < 2:
        return [], cut
    clean: list[tuple[str, list[int]]] = []
    for i, (question, deps) in enumerate(items):
        if not isinstance(deps, list):
            deps = [deps]
        valid: set[int] = set()
        for dep in deps:
            try:
                j = int(dep)
            except (TypeError, ValueError, OverflowError):  # "1e400", Infinity
                continue
            if 0 <= j < i:
                valid.add(j)
        for ref in _REF.findall(question):
            j = int(ref) - 1
            if 0 <= j < i:
                valid.add(j)
        if not valid and i > 0 and names_nothing(question):
            valid.update(range(i))  # "When was the founder born?" needs what came before
        clean.append((question, sorted(valid)))
    if len(clean) > 2 and only_combines(*clean[-1]):
        clean.pop()  # "Which was founded first, #1 or #2?" is the aggregation's own job
    return clean, cut


def only_combines(question: str, depends_on: Sequence[int]) -> bool:
    """Tell whether a sub-question only combines earlier answers ("Which came first, #1 or #2?").

    Such a step, answered as a leaf, sees numbers without the names they belong to and its
    guess then misleads the aggregation, which sees every sub-question with its answer anyway.
    A plan's last sub-question is dropped when this holds (two or more items stay).

    Args:
        question: The sub-question.
        depends_on: The earlier items it uses.

    Returns:
        True when it refers to two earlier answers or more by ``#k`` and names nothing besides
        them ("In which year was the founder born?" refers to none: it is a lookup).
    """
    refs = set(_REF.findall(question))
    return len(refs) >= 2 and len(depends_on) >= 2 and names_nothing(_REF.sub("", question))


def names_nothing(question: str) -> bool:
    """Tell whether a question names no entity of its own (so it must refer to earlier answers).

    A question names something when a word after its first is capitalised, or it holds a
    number or a quotation: "When was the founder born?" names nothing; "When was Ada Lovelace
    born?" and "What is 17 times 23?" do. A sub-question that names nothing and declares no
    dependency gets the earlier sub-questions' answers, which small models forget to declare.

    Args:
        question: A sub-question.

    Returns:
        Whether it names nothing.
    """
    words = question.split()[1:]
    if any(w[:1].isupper() for w in words):
        return False
    return not _NAMING.search(question)


def choose_plan(plans: Sequence[list[tuple[str, list[int]]]]) -> tuple[int, list[dict]]:
    """Pick the decomposition the sampled ones agree on most.

    Each plan is compared with the others by the overlap (Jaccard) of its normalised
    sub-questions; "atomic" (no sub-problems) counts as a plan too. Ties go to the earlier one.

    Args:
        plans: Normalised decompositions, one per sample.

    Returns:
        The index of the chosen plan, and every plan as ``{"subproblems", "agreement"}``.
    """
    sets = [frozenset(match_key(q) for q, _ in plan) for plan in plans]

    def similarity(a: frozenset[str], b: frozenset[str]) -> float:
        if not a and not b:
            return 1.0
        return len(a & b) / len(a | b)

    agreement = [
        sum(similarity(sets[i], sets[j]) for j in range(len(sets)) if j != i)
        for i in range(len(sets))
    ]
    best = max(range(len(plans)), key=lambda i: (agreement[i], -i))
    candidates = [
        {"subproblems": [q for q, _ in plan], "agreement": round(agreement[i], 3)}
        for i, plan in enumerate(plans)
    ]
    return best, candidates
