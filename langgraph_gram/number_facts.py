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

_NUMBER = re.compile(r"(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w.])|(?<![\w.])-?\d+(?:\.\d+)?")
_WORDS = re.compile(r"[^\W\d_]+")


def single_number(text: str) -> Fraction | None:
    """Return the number an answer consists of, if it is just one number.

    Accepts a bare number with optional thousands separators, a unit, a label or a short
    sentence around it (``"1954"``, ``"$1,200"``, ``"45 years"``, ``"X was founded in 1954."``);
    rejects answers with several numbers or none, and long sentences.

    Args:
        text: An answer.

    Returns:
        The number, or ``None``.
    """
    found = _NUMBER.findall(text or "")
    if len(found) != 1 or len(_WORDS.findall(text)) > MAX_WORDS:
        return None
    try:
        return Fraction(found[0].replace(",", ""))
    except (ValueError, ZeroDivisionError):
        return None


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
    numbers = [
        (names[i], value)
        for i, answer in enumerate(answers)
        if (value := single_number(answer)) is not None
    ][:MAX_NUMBERS]
    if len(numbers) < 2:
        return []
    facts = []
    for i, (name_a, a) in enumerate(numbers):
        for name_b, b in numbers[i + 1 :]:
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
    if len(numbers) >= 3:
        smallest = min(numbers, key=lambda pair: pair[1])
        largest = max(numbers, key=lambda pair: pair[1])
        facts.append(
            f"the smallest is {_show(smallest[1])} ({smallest[0]}), "
            f"the largest {_show(largest[1])} ({largest[0]})"
        )
    return facts
