"""Decide "which of the two" questions exactly when the tree found one number for each.

"Which of Jonny Craig and Pete Doherty has been a member of more bands?" decomposes into one
count per person; the aggregation then only has to say which count is larger. A 1.5B model,
shown "10 (Jonny Craig) > 2 (Pete Doherty)", still names Pete Doherty. The engine checks the
aggregation's answer against the comparison it can compute and corrects an answer that names
the other option (see ``Workers.aggregate``).

The check is narrow on purpose; it decides only when all of this holds, and otherwise leaves
the model's answer alone:

* the question offers exactly two options ("..., A or B?", "Which of A and B ...");
* it asks in one direction: larger ("more", "most", "larger", "higher", "longer", ...),
  smaller ("fewer", "less", "smaller", "lower", ...), earlier ("first", "earlier", "older",
  ...) or later ("last", "later", "newer", "younger", ...);
* exactly one child with a single-number answer belongs to each option: the option's own
  words appear in that child's question or in a question it depends on;
* an option that describes ("the founder of Acme") is answered with what the description
  resolved to: the answer of the one child it depends on that asks about that option;
* for earlier/later, both numbers are years (``older`` with two ages means the larger age),
  and ``older``/``younger`` decided on years needs birth years ("born", "birth");
* nothing is a place or a rank (no "1st"/"4th" answer, no "place", "rank" or "position");
* the numbers differ, in the same unit where both give one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

from langgraph_gram.number_facts import comparable, read_quantity, single_number

Direction = Literal["larger", "smaller", "earlier", "later"]

_DIRECTIONS: dict[Direction, tuple[str, ...]] = {
    "larger": (
        "more", "most", "larger", "largest", "bigger", "biggest", "higher", "highest",
        "greater", "greatest", "longer", "longest", "taller", "tallest", "heavier", "wider",
    ),
    "smaller": (
        "fewer", "fewest", "less", "least", "smaller", "smallest", "lower", "lowest",
        "shorter", "shortest", "lighter", "narrower",
    ),
    "earlier": ("first", "earlier", "earliest", "older", "oldest", "sooner"),
    "later": ("last", "later", "latest", "newer", "newest", "younger", "youngest", "recently"),
}  # fmt: skip
_WORD_DIRECTION = {w: d for d, words in _DIRECTIONS.items() for w in words}
_AGE_WORDS = frozenset({"older", "oldest", "younger", "youngest"})
_ORDINAL = re.compile(r"\b\d+(?:st|nd|rd|th)\b|\b(?:place|rank|ranked|position|seed)\b", re.I)
_BIRTH = re.compile(r"\b(?:born|birth|birthday)\b", re.I)

_TAIL_OPTIONS = re.compile(
    r"[,:]\s*(?:the\s+)?(?P<a>[^,:?]+?),?\s+or\s+(?:the\s+)?(?P<b>[^,?]+?)\s*\?\s*$"
)
_OF_OPTIONS = re.compile(
    r"\b(?:of|between)\s+(?:the\s+)?(?P<a>[^,?]+?)\s+(?:and|or)\s+(?:the\s+)?(?P<b>[^,?]+?)"
    r"(?:\s*,|\s+(?:has|have|had|is|was|were|are|did|does|do|came|comes|got|won|wrote|lived)\b)"
)
_WORD = re.compile(r"[A-Za-z0-9]+")
_STOP = frozenset(
    "the a an of and or in on at to for by with from who which what whose when where was were "
    "is are has have had did does founder founded company born".split()
)


@dataclass(frozen=True)
class Decision:
    """A comparison the engine decided.

    Attributes:
        answer: The winning option, as the question writes it (or, for an option that
            describes something, "the founder of Acme", the name it resolved to).
        other: The losing option, the same way.
        reason: The numbers and the rule, for the node's reasoning.
    """

    answer: str
    other: str
    reason: str


def comparison_options(question: str) -> tuple[str, str] | None:
    """Find the two options a "which of the two" question offers.

    Args:
        question: The question.

    Returns:
        The two options, or ``None``.

    Example:
        >>> comparison_options("Which company was founded first, Acme Ltd or Zeta Corp?")
        ('Acme Ltd', 'Zeta Corp')
        >>> comparison_options("Which of Jo Craig and Pete Doe has been in more bands?")
        ('Jo Craig', 'Pete Doe')
    """
    for pattern in (_TAIL_OPTIONS, _OF_OPTIONS):
        match = pattern.search(question)
        if match:
            a, b = match.group("a").strip(), match.group("b").strip()
            if a and b and a.lower() != b.lower() and len(a) <= 80 and len(b) <= 80:
                return a, b
    return None


def comparison_direction(question: str) -> Direction | None:
    """Tell which way a comparison question asks, if it asks one way only.

    Args:
        question: The question.

    Returns:
        ``"larger"``, ``"smaller"``, ``"earlier"`` or ``"later"``, or ``None`` when it names
        no direction or several.
    """
    words = re.findall(r"[a-z]+", question.lower())
    found = {_WORD_DIRECTION[w] for w in words if w in _WORD_DIRECTION}
    return found.pop() if len(found) == 1 else None


def _key_words(option: str, other: str) -> set[str]:
    words = {w.lower() for w in _WORD.findall(option)} - _STOP
    return words - ({w.lower() for w in _WORD.findall(other)} - _STOP) or words


def _is_year(value: Fraction) -> bool:
    return value.denominator == 1 and 1000 <= value <= 2100


def decide_comparison(question: str, children: Sequence[dict[str, Any]]) -> Decision | None:
    """Decide a two-option comparison from the children's numeric answers.

    Args:
        question: The node's question.
        children: The node's children in order, as ``{"question", "answer", "depends_on"}``
            (``depends_on``: 0-based indices of earlier children; optional).

    Returns:
        The decision, or ``None`` when any condition of the module's list fails.

    Example:
        >>> kids = [
        ...     {"question": "How many bands has Jo Craig been in?", "answer": "10"},
        ...     {"question": "How many bands has Pete Doe been in?", "answer": "2"},
        ... ]
        >>> decision = decide_comparison("Which of Jo Craig and Pete Doe was in more bands?", kids)
        >>> decision.answer, decision.reason
        ('Jo Craig', 'Jo Craig: 10, Pete Doe: 2; more means larger')
    """
    options = comparison_options(question)
    direction = comparison_direction(question)
    if options is None or direction is None or _ORDINAL.search(question):
        return None  # a place or rank: 1st is "higher" than 4th

    def about(i: int, seen: frozenset[int] = frozenset()) -> str:
        child = children[i]
        texts = [str(child.get("question", ""))]
        for j in child.get("depends_on") or []:
            if isinstance(j, int) and 0 <= j < i and j not in seen:
                texts.append(str(children[j].get("answer", "")))
                texts.append(about(j, seen | {i}))
        return " ".join(texts)

    values: list[Fraction] = []
    asked: list[str] = []
    units: list[str | None] = []
    names: list[str] = []
    for k, option in enumerate(options):
        keys = _key_words(option, options[1 - k])
        owners = [
            i
            for i, child in enumerate(children)
            if single_number(str(child.get("answer", ""))) is not None
            and keys <= {w.lower() for w in _WORD.findall(about(i))}
        ]
        if len(owners) != 1 or _ORDINAL.search(str(children[owners[0]].get("answer", ""))):
            return None
        asked.append(about(owners[0]))
        quantity = read_quantity(str(children[owners[0]]["answer"]))
        assert quantity is not None
        values.append(quantity[0])
        units.append(quantity[1])
        name = option if " of " not in option else _named(children, owners[0], keys)
        if not name:
            return None
        names.append(name)
    a, b = values
    if a == b or not comparable(*units):
        return None
    word = next(
        w for w in re.findall(r"[a-z]+", question.lower()) if _WORD_DIRECTION.get(w) == direction
    )
    if direction in ("earlier", "later"):
        if not (_is_year(a) and _is_year(b)):
            if word not in _AGE_WORDS:
                return None
            direction = "larger" if direction == "earlier" else "smaller"  # older = more years
        elif word in _AGE_WORDS and not all(_BIRTH.search(text) for text in asked):
            return None  # years of death (or of anything but birth) do not tell age
    pick_larger = direction in ("larger", "later")
    first_wins = (a > b) == pick_larger
    winner, loser = names if first_wins else names[::-1]
    shown = ", ".join(f"{o}: {_show(v)}" for o, v in zip(options, values, strict=True))
    return Decision(answer=winner, other=loser, reason=f"{shown}; {word} means {direction}")


def _named(children: Sequence[dict[str, Any]], owner: int, keys: set[str]) -> str:
    """Find what a described option ("the founder of Acme") resolved to, if one child says."""
    stack, seen, found = [owner], set(), []
    while stack:
        i = stack.pop()
        for j in children[i].get("depends_on") or []:
            if not isinstance(j, int) or not 0 <= j < i or j in seen:
                continue
            seen.add(j)
            stack.append(j)
            answer = str(children[j].get("answer", ""))
            words = {w.lower() for w in _WORD.findall(str(children[j].get("question", "")))}
            if keys <= words and single_number(answer) is None and answer.strip():
                found.append(answer.strip())
    return found[0] if len(found) == 1 else ""


def _show(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{float(value):.6g}"


def names_option(answer: str, option: str, other: str) -> bool:
    """Tell whether an answer names ``option`` and not ``other``.

    Args:
        answer: The model's answer.
        option: One option.
        other: The other option.

    Returns:
        True when the answer holds the option's own words and not all of the other's.
    """
    words = {w.lower() for w in _WORD.findall(answer)}
    return _key_words(option, other) <= words and not _key_words(other, option) <= words
