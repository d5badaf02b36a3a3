"""What a tool-using leaf searches for, and which retrieved passages its answer rests on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langgraph_gram.text import normalize_text
from langgraph_gram.toolbox import Observation

_NOT_SEARCHABLE = frozenset({"yes", "no", "no answer", "unknown", "none"})


def prefetch_query(question: str, known: Sequence[dict[str, Any]]) -> str:
    """Build the search query a leaf's retriever is called with.

    The question, plus the short answers it depends on that it does not already contain:
    "In which year was the founder born?" with the known answer "Shaelbram Nontrersha"
    searches for both, so the retriever can find the founder's own page.

    Args:
        question: The leaf's question (references resolved).
        known: The ``{"question", "answer"}`` dependencies the leaf sees.

    Returns:
        The query.
    """
    extra = [
        str(k["answer"]).strip()
        for k in known
        if k.get("answer")
        and len(str(k["answer"])) <= 60
        and normalize_text(str(k["answer"])) not in _NOT_SEARCHABLE
        and normalize_text(str(k["answer"])) not in normalize_text(question)
    ]
    return " ".join([question, *extra])


def cite(
    answer: str, observations: Sequence[Observation], question: str = ""
) -> list[dict[str, str]]:
    """Pick the retrieved passages an answer rests on.

    A passage supports the answer when it contains it as whole words. When several do (other
    cities on the same river, other people born in the same year), only those that also
    mention the question's subject are kept: the passages with the most question words in
    their title or text.

    Args:
        answer: The leaf's answer.
        observations: The tool results the leaf saw.
        question: The leaf's (resolved) question.

    Returns:
        ``{"id", "title"}`` of each supporting passage, in retrieval order, without repeats.
    """
    target = normalize_text(answer)
    if not target:
        return []
    words = {w for w in normalize_text(question).split() if len(w) > 3}
    found: list[tuple[int, dict[str, str]]] = []
    for obs in observations:
        for passage in obs.passages:
            text = normalize_text(f"{passage.get('title', '')} {passage.get('text', '')}")
            pid = str(passage["id"])
            # Whole words only: "no" is not in "not", nor "10" in "1910".
            if f" {target} " in f" {text} " and all(c["id"] != pid for _, c in found):
                overlap = len(words & set(text.split()))
                found.append((overlap, {"id": pid, "title": str(passage.get("title", ""))}))
    best = max((overlap for overlap, _ in found), default=0)
    return [c for overlap, c in found if overlap == best]
