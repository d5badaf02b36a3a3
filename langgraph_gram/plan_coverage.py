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
from fractions import Fraction

# "the founder of", and with one modifier "the birth city of" (captured as "birth city").
_OF = re.compile(
    r"\b(?:the|its|their|his|her|whose)\s+((?:(?!the\b|of\b)[a-z]{3,}\s+)?[a-z]{3,})\s+of\b"
)
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


def _head(relation: str) -> str:
    return relation.split()[-1]


def _covered(relation: str, asked: set[str]) -> bool:
    # "birth city" is asked about by "In which city..." as well as "Where was #2 born?"
    return any(_stem(w) in asked for w in relation.split())


def relation_words(question: str) -> list[str]:
    """Find the relation nouns a question chains through, in order of appearance.

    Args:
        question: A natural-language question.

    Returns:
        Lowercase nouns from "the <noun> of" and "'s <noun>", without generic words
        ("the name of", "the sum of") and without repeats. A noun with one modifier word
        ("the birth city of") is kept whole, as ``"birth city"``.

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
        word = " ".join(word.split())
        if _head(word) not in _GENERIC and word not in words:
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
    return [w for w in relations if not _covered(w, asked)]


_NAME = r"[A-Z0-9][\w'&.-]*(?:(?: (?:of|de|the|and))? [A-Z0-9&][\w'&.-]*)*"
_RELATION = r"(?:(?!the\b)[a-z]{3,} )?[a-z]{3,}"
_CHAIN = re.compile(r"\b[Tt]he ((?:" + _RELATION + r" of (?:the )?)+)(" + _NAME + ")")
_PERSON_SUFFIXES = ("er", "or", "ist", "ian", "ant", "ent")
_PEOPLE = frozenset(
    "spouse wife husband partner father mother parent son daughter child brother sister sibling "
    "ceo president king queen head chair chief leader coach captain heir successor predecessor "
    "mayor".split()
)
_BARE = re.compile(r"^\s*(?:who|what)\s+(?:is|was|are|were)\s+#\d+\s*\??\s*$", re.IGNORECASE)


def _asks_for(relation: str) -> str:
    relation = _head(relation)
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
    relations = re.findall(r"(" + _RELATION + r") of", match.group(1))
    name = match.group(2).rstrip(".")
    if len(relations) < 2 or any(_head(r) in _GENERIC for r in relations):
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


# Words that make a question more than one lookup: a choice, a comparison, a combination.
_COMBINES = re.compile(
    r"\b(?:or|and|than|both|either|neither|first|last|more|less|fewer|most|least|difference|"
    r"between|after|before|earlier|later|older|younger|each|every|all|total|sum|together)\b|[,;]",
    re.IGNORECASE,
)
# "the league where #3 plays", "the company that released #1": a relative clause is a hop.
_RELATIVE = re.compile(r"\b[a-z]{3,}\s+(?:where|that|which|who|whom|whose|when)\b")
_COPULA = re.compile(r"^\s*(?:who|what|which\s+\w+)\s+(?:is|was|are|were)\s+the\b", re.I)


def single_hop(question: str) -> bool:
    """Tell whether a question asks one relation of one thing, with nothing to combine.

    Lexical and deliberately narrow: no relation noun ("In which city was #2 born?", "Who
    founded #1?"), or one with a plain copula ("Who is the spouse of #1?"); and no relative
    clause, comparison, choice or combination word. Anything else counts as more than one hop.

    Args:
        question: A sub-question, ``#k`` references left in or resolved.

    Returns:
        ``True`` when one lookup answers it.

    Example:
        >>> single_hop("In which city was #2 born?"), single_hop("Who is the spouse of #1?")
        (True, True)
        >>> single_hop("Which river flows through the birth city of #1?")
        False
        >>> single_hop("What is the longest home run hit in the league where #3 plays?")
        False
    """
    if _COMBINES.search(question) or _RELATIVE.search(question):
        return False
    relations = relation_words(question)
    return not relations or (len(relations) == 1 and bool(_COPULA.match(question)))


_NUMBER = re.compile(r"(?<![\w#.])\d[\d,]*(?:\.\d+)?")
_NUMBER_WORDS = {
    word: str(value)
    for value, words in enumerate(
        [
            "zero",
            "one once",
            "two twice double pair couple both",
            "three thrice triple",
            "four quadruple",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve dozen",
        ]
    )
    for word in words.split()
}
_NUMBER_WORDS |= {
    "thirteen": "13",
    "fourteen": "14",
    "fifteen": "15",
    "sixteen": "16",
    "seventeen": "17",
    "eighteen": "18",
    "nineteen": "19",
    "twenty": "20",
    "thirty": "30",
    "forty": "40",
    "fifty": "50",
    "sixty": "60",
    "seventy": "70",
    "eighty": "80",
    "ninety": "90",
    "hundred": "100",
    "thousand": "1000",
}


def _value(number: str) -> str:
    value = number.replace(",", "").rstrip(".")
    return re.sub(r"\.0+$", "", value)


def _numbers(text: str) -> set[str]:
    found = {_value(n) for n in _NUMBER.findall(text)}
    words = re.findall(r"[a-z]+", text.lower())
    return found | {_NUMBER_WORDS[w] for w in words if w in _NUMBER_WORDS}


_ARITHMETIC = re.compile(
    r"[+×*/÷^=%]|(?<=\d)\s*-\s*(?=\d)|\b(?:plus|minus|times|divided|multiplied|sum|product|"
    r"difference|quotient|squared|cubed|percent|square root|subtract|add)\b",
    re.IGNORECASE,
)


def _one_step(values: set[str]) -> set[Fraction]:
    """Every number one operation on two given numbers makes (45 - 40, 16 / 2, 3 * 12)."""
    numbers = set()
    for value in values:
        try:
            numbers.add(Fraction(value))
        except (ValueError, ZeroDivisionError):
            continue
    made = set(numbers)
    for a in numbers:
        for b in numbers:
            made.update((a + b, a - b, a * b))
            if b:
                made.add(a / b)
    return made


def invented_numbers(sub_questions: Sequence[str], given: str) -> list[str]:
    """Find numbers a plan's lookups state that nothing it was given leads to.

    A planner that writes "Which band disbanded in 2014?" for "...a band that disbanded in
    what year?" has put its guess of the answer into the plan, and every later step trusts it.
    A number the given numbers make in one operation ("the extra 5 hours" of 45 worked and 40
    regular) is not a guess, and a sub-question that is a calculation ("What is 17 times
    20?", "What is #1 - 4?") may hold numbers of its own: splitting a calculation is planning.
    ``#k`` references are not numbers; numbers written as words in the given text ("three
    cups", "a dozen") count as given.

    Args:
        sub_questions: The plan's sub-questions.
        given: Everything the planner saw: the question and its context.

    Returns:
        The invented numbers, in order of appearance, without repeats.

    Example:
        >>> invented_numbers(["Which band disbanded in 2014?"], "It disbanded in what year?")
        ['2014']
        >>> invented_numbers(["How many eggs are in 3 boxes?"], "three boxes of a dozen eggs")
        []
        >>> invented_numbers(["What does she earn for the extra 5 hours?"], "45 hours, 40 paid")
        []
        >>> invented_numbers(["What is 17 times 20?"], "What is 17 times 23?")
        []
    """
    allowed = _numbers(given)
    made: set[Fraction] | None = None
    found: list[str] = []
    for question in sub_questions:
        if _ARITHMETIC.search(question):
            continue  # "What is 17 times 20?": splitting a calculation is planning
        for number in _NUMBER.findall(question):
            value = _value(number)
            if value in allowed or value in found:
                continue
            if made is None:
                made = _one_step(allowed)
            try:
                if Fraction(value) in made:
                    continue
            except (ValueError, ZeroDivisionError):
                pass
            found.append(value)
    return found
