"""Check that a plan asks about every relation its question names.

Small models shorten chains: "In which city was the spouse of the founder of X born?" becomes
"Who founded X?" then "Where was #1 born?", and the spouse is gone. No later step can bring a
dropped hop back, so the decomposition node checks its plan here and, when a hop is missing and
a call is left, asks once more with the gap named (see ``Prompts.plan_gap``).

The check is lexical and deliberately narrow. A question's relations are the lowercase nouns
in "the <noun> of ..." and "...'s <noun>" (the spouse of, the founder of, the company's
founder), plus its main verb. A plan has a gap when it has fewer sub-questions than that, and
some relation noun appears in none of them (compared by a 5-letter prefix, so "founder" is
covered by "founded"). Both conditions must hold, so a plan that paraphrases ("Who wrote
Faust?" for "the author of Faust") but keeps every hop is never questioned.

When a gap is found and the question holds a plain chain of relations ending in a name ("the
spouse of the founder of Acme Ltd"), :func:`chain_plan` writes the plan itself, one hop per
sub-question from the name outward; no call is spent. Otherwise the model is asked again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_OF = re.compile(r"\b(?:the|its|their|his|her|whose)\s+([a-z]{3,})\s+of\b")
_POSSESSIVE = re.compile(r"[A-Za-z]'s\s+([a-z]{3,})\b")
_GENERIC = frozenset(
    {
        "name",
        "names",
        "number",
        "total",
        "sum",
        "rest",
        "kind",
        "type",
        "part",
        "one",
        "ones",
        "same",
        "end",
        "beginning",
        "start",
        "middle",
        "top",
        "bottom",
        "most",
        "least",
        "first",
        "last",
        "value",
        "result",
        "answer",
        "difference",
        "average",
        "product",
        "ratio",
    }
)
_PREFIX = 5


def _stem(word: str) -> str:
    return word.lower()[:_PREFIX]


def relation_words(question: str) -> list[str]:
    """Find the relation nouns a question chains through, in order of appearance.

    Args:
        question: A natural-language question.

    Returns:
        Lowercase nouns from "the <noun> of" and "'s <noun>", without generic words
        ("the name of", "the sum of") and without repeats.

    Example:
        >>> relation_words("In which city was the spouse of the founder of Acme born?")
        ['spouse', 'founder']
    """
    found: list[tuple[int, str]] = [
        (m.start(1), m.group(1))
        for pattern in (_OF, _POSSESSIVE)
        for m in pattern.finditer(question)
    ]
    words: list[str] = []
    for _, word in sorted(found):
        if word not in _GENERIC and word not in words:
            words.append(word)
    return words


def plan_gaps(question: str, sub_questions: Sequence[str]) -> list[str]:
    """Find the relations of ``question`` that a plan of ``sub_questions`` never asks about.

    Args:
        question: The question that was planned.
        sub_questions: The plan's sub-questions, in order.

    Returns:
        The missing relation nouns; empty when the plan is long enough for every relation
        (one sub-question per relation noun plus one for the main verb) or mentions them all.

    Example:
        >>> q = "In which city was the spouse of the founder of Acme born?"
        >>> plan_gaps(q, ["Who founded Acme?", "In which city was #1 born?"])
        ['spouse']
        >>> plan_gaps(q, ["Who founded Acme?", "Who is #1 married to?", "Where was #2 born?"])
        []
    """
    relations = relation_words(question)
    if not sub_questions or len(sub_questions) >= len(relations) + 1:
        return []
    asked = {_stem(w) for q in sub_questions for w in re.findall(r"[A-Za-z]+", q)}
    return [w for w in relations if _stem(w) not in asked]


_NAME = r"[A-Z0-9][\w'&.-]*(?:(?: (?:of|de|the|and))? [A-Z0-9&][\w'&.-]*)*"
_CHAIN = re.compile(r"\b[Tt]he ((?:[a-z]{3,} of (?:the )?)+)(" + _NAME + ")")
_PERSON_SUFFIXES = ("er", "or", "ist", "ian", "ant", "ent")
_PEOPLE = frozenset(
    "spouse wife husband partner father mother parent son daughter child brother sister sibling "
    "ceo president king queen head chair chief leader coach captain heir successor predecessor "
    "mayor".split()
)
_BARE = re.compile(r"^\s*(?:who|what)\s+(?:is|was|are|were)\s+#\d+\s*\??\s*$", re.IGNORECASE)


def _asks_for(relation: str) -> str:
    people = relation in _PEOPLE or relation.endswith(_PERSON_SUFFIXES)
    return "Who" if people else "What"


def chain_plan(question: str) -> list[tuple[str, list[int]]] | None:
    """Write the plan of a question built on one chain of relations that ends in a name.

    "In which city was the spouse of the founder of Acme Ltd born?" becomes "Who is the
    founder of Acme Ltd?", "Who is the spouse of #1?", "In which city was #2 born?": one
    sub-question per relation, from the name outward, then the question with the chain
    replaced by the last answer.

    Args:
        question: The question.

    Returns:
        ``(question, depends_on)`` items, or ``None`` when the question has no chain of two
        relations or more ending in a capitalised name (nothing is guessed).

    Example:
        >>> [q for q, _ in chain_plan("Where was the spouse of the founder of Acme Ltd born?")]
        ['Who is the founder of Acme Ltd?', 'Who is the spouse of #1?', 'Where was #2 born?']
    """
    match = _CHAIN.search(question)
    if not match:
        return None
    relations = re.findall(r"([a-z]{3,}) of", match.group(1))
    name = match.group(2).rstrip(".")
    if len(relations) < 2 or any(r in _GENERIC for r in relations):
        return None
    items: list[tuple[str, list[int]]] = []
    subject = name
    for i, relation in enumerate(reversed(relations)):
        asked = f"{_asks_for(relation)} is the {relation} of {subject}?"
        items.append((asked, [i - 1] if i else []))
        subject = f"#{i + 1}"
    end = match.start(2) + len(name)
    rest = question[: match.start()] + subject + question[end:]
    if not _BARE.match(rest):  # "What is #3?" would only repeat the last hop
        items.append((rest, [len(items) - 1]))
    return items
