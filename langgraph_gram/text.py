"""Text helpers the engine shares: answer normalisation, prompt filling, restated answers."""

from __future__ import annotations

import re

_SPACE = re.compile(r"\s+")
_PUNCT = re.compile(r"[^\w\s]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_text(text: str) -> str:
    """Normalise text for comparison: lower case, no punctuation, articles or extra spaces.

    Args:
        text: Any text.

    Returns:
        The normalised text.
    """
    text = _PUNCT.sub(" ", str(text).lower())
    return _SPACE.sub(" ", _ARTICLES.sub(" ", text)).strip()


_MATH = re.compile(r"\d+(?:\.\d+)?|[-+*/^%=<>]")


def match_key(text: str) -> str:
    """Key under which two questions or answers count as the same.

    :func:`normalize_text` plus, when the text holds a number, its numbers and arithmetic
    signs in order: "What is 12+4?" and "What is 12*4?", or "-5" and "5", differ, while the
    wording around them still compares loosely.

    Args:
        text: A question or an answer.

    Returns:
        The key.
    """
    text = str(text)
    norm = normalize_text(text)
    if not any(c.isdigit() for c in text):
        return norm
    return norm + " |" + "".join(_MATH.findall(text.replace(",", "")))


def fill(template: str, **values: str) -> str:
    """Fill ``{name}`` placeholders without touching other braces (JSON examples stay intact).

    One pass: a value that itself holds ``{name}`` text (a tool's output quoting an f-string)
    is inserted as it is, never filled again.

    Args:
        template: A prompt template.
        **values: Placeholder values.

    Returns:
        The filled template.
    """
    if not values:
        return template
    names = "|".join(re.escape(key) for key in values)
    return re.sub(r"\{(" + names + r")\}", lambda m: values[m.group(1)], template)


RESTATE_OVERLAP = 0.6
"""Word overlap (Jaccard) above which a question-shaped answer counts as the question again."""


def restates(answer: str, question: str) -> bool:
    """Tell whether an "answer" is the question again (small models copy prompt text).

    Args:
        answer: The proposed answer.
        question: The question it should answer.

    Returns:
        True when the answer equals the question once normalised, or is itself a question
        sharing most of its words (a title that ends in "?" is still an answer).
    """
    text, asked = normalize_text(answer), normalize_text(question)
    if not text:
        return False
    if text == asked:
        return True
    if not answer.rstrip().endswith("?"):
        return False
    words, question_words = set(text.split()), set(asked.split())
    overlap = len(words & question_words) / max(1, len(words | question_words))
    return overlap >= RESTATE_OVERLAP  # a question, mostly the same words
