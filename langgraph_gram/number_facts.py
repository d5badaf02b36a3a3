"""Deterministic facts about the numbers among known answers.

Small models compare and subtract badly (asked which of 1994 and 1962 is earlier, a 1.5B model
picks the first-named one), while the engine can do both exactly. When two or more of the
answers a step sees are single numbers (years, counts, amounts), the step is also shown their
order and differences, computed here, as plain facts: ``1962 (When was B founded?) is less
than 1994 (When was A founded?), by 32``. Nothing is decided for the model; it still writes
the answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from fractions import Fraction

MAX_NUMBERS = 4
"""Most numeric answers compared (facts grow with the square of this)."""

MAX_WORDS = 8
"""Most words around the number ("Keashios Labs was founded in 1956." still counts)."""

_NUMBER = re.compile(
    r"(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\w|\.\d)|(?<![\w.])-?\d+(?:\.\d+)?"
)
_WORDS = re.compile(r"[^\W\d_]+")
_AFTER = re.compile(r"\s*([^\W\d_]+)")

SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}
"""Magnitude words after a number ("2.1 million"), and their abbreviations below."""
_SHORT_SCALES = {"k": 10**3, "K": 10**3, "M": 10**6, "mn": 10**6, "bn": 10**9, "B": 10**9}

_UNITS = {
    "length": "mm cm m meter metre km kilometer kilometre mile ft foot feet inch yard",
    "time": "second sec minute min hour hr day week month year decade century",
    "mass": "mg g gram kg kilogram lb pound ton tonne ounce oz",
    "volume": "ml l liter litre gallon",
}
UNIT_WORDS = {word: family for family, words in _UNITS.items() for word in words.split()}
"""Measurement units by family: two answers in different units of these are not compared."""


def read_quantity(text: str) -> tuple[Fraction, str | None] | None:
    """Return the number an answer consists of, scaled, and its measurement unit.

    Accepts a bare number with optional thousands separators, a magnitude word, a unit, a
    label or a short sentence around it (``"1954"``, ``"$1,200"``, ``"2.1 million"``,
    ``"800k"``, ``"45 years"``, ``"X was founded in 1954."``); rejects answers with several
    numbers or none, and long sentences.

    Args:
        text: An answer.

    Returns:
        ``(value, unit)``: ``unit`` is the measurement unit right after the number (singular,
        lower case: ``"year"``, ``"km"``) or ``None``; or ``None`` when the answer is not one
        number.
    """
    text = text or ""
    found = list(_NUMBER.finditer(text))
    if len(found) != 1 or len(_WORDS.findall(text)) > MAX_WORDS:
        return None
    match = found[0]
    try:
        value = Fraction(match.group().replace(",", ""))
    except (ValueError, ZeroDivisionError):
        return None
    after = _AFTER.match(text, match.end())
    word = after.group(1) if after else ""
    attached = after is not None and after.start(1) == match.end()
    if word.lower() in SCALES:
        return value * SCALES[word.lower()], None
    if attached and word in _SHORT_SCALES:
        return value * _SHORT_SCALES[word], None
    unit = word.lower()
    if unit not in UNIT_WORDS and unit.endswith("s") and unit[:-1] in UNIT_WORDS:
        unit = unit[:-1]
    return value, (unit if unit in UNIT_WORDS else None)


def single_number(text: str) -> Fraction | None:
    """Return the number an answer consists of, if it is just one number.

    See :func:`read_quantity`: "2.1 million" is 2,100,000.

    Args:
        text: An answer.

    Returns:
        The number, or ``None``.
    """
    quantity = read_quantity(text)
    return None if quantity is None else quantity[0]


def comparable(a: str | None, b: str | None) -> bool:
    """Tell whether two units allow comparing their numbers: the same, or one not given."""
    return a is None or b is None or a == b


def _show(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):.6g}"


def number_facts(answers: Sequence[str], labels: Sequence[str] | None = None) -> list[str]:
    """Order and differences of the answers that are single numbers.

    Args:
        answers: Answers in the order the step sees them.
        labels: What each answer answers (its question), shown beside the number (default
            ``#1``, ``#2``...).

    Returns:
        One fact per pair of numeric answers (``"1962 (When was B founded?) is less than 1994
        (When was A founded?), by 32"``), and, with three or more, which is the smallest and
        the largest. Empty when fewer than two answers are numbers.
    """
    names = list(labels) if labels is not None else [f"#{i}" for i in range(1, len(answers) + 1)]
    quantities = [
        (names[i], quantity)
        for i, answer in enumerate(answers)
        if (quantity := read_quantity(answer)) is not None
    ][:MAX_NUMBERS]
    if len(quantities) < 2:
        return []
    units = {unit for _, (_, unit) in quantities if unit is not None}
    numbers = [(name, value) for name, (value, _) in quantities]
    facts = []
    for i, (name_a, a) in enumerate(numbers):
        for j, (name_b, b) in enumerate(numbers[i + 1 :], start=i + 1):
            if not comparable(quantities[i][1][1], quantities[j][1][1]):
                continue  # 5 km and 300 m: not comparable as bare numbers
            if a == b:
                facts.append(f"{_show(a)} ({name_a}) equals {_show(b)} ({name_b})")
                continue
            (low_name, low), (high_name, high) = sorted(
                [(name_a, a), (name_b, b)], key=lambda pair: pair[1]
            )
            facts.append(
                f"{_show(low)} ({low_name}) is less than {_show(high)} ({high_name}), "
                f"by {_show(high - low)}"
            )
    if len(numbers) >= 3 and len(units) <= 1:
        smallest = min(numbers, key=lambda pair: pair[1])
        largest = max(numbers, key=lambda pair: pair[1])
        facts.append(
            f"the smallest is {_show(smallest[1])} ({smallest[0]}), "
            f"the largest {_show(largest[1])} ({largest[0]})"
        )
    return facts
