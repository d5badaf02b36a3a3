"""Answer checkers: how a prediction is scored against an :class:`EvalItem`, by its ``kind``.

- ``qa``: exact match and token F1 as the official HotpotQA evaluation script computes them
  (:func:`normalize_answer`, :func:`exact_match`, :func:`f1_score`), the best over the answer
  and its aliases; correct when the exact match is 1.
- ``math``: the last number of the prediction equals the gold number (exact rationals).
- ``game24``: one arithmetic expression taken from the prediction uses the puzzle's numbers,
  each exactly once, and equals 24 in exact rational arithmetic (never ``eval``).
- ``letters``: the concatenated letters equal the answer, ignoring case.
- ``code``: the item's tests (HumanEval or MBPP) pass on the prediction's code.
- ``plan``: the prediction's blocksworld plan is executable and reaches the goal.

    check = await check_prediction(item, prediction, tree=state.get("tree"))
    check.em, check.f1, check.correct, check.detail

For every kind but ``qa``, ``em`` and ``f1`` are ``float(correct)``. A checker never raises on a
bad prediction (empty, ``None``, huge, hostile): it returns an incorrect :class:`Check` whose
``detail`` says why.
"""

from __future__ import annotations

import ast
import re
import string
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from langgraph_gram.errors import ConfigurationError
from langgraph_gram.eval.blocksworld import parse_plan, validate
from langgraph_gram.eval.code import TEST_SECONDS, assemble, run_tests
from langgraph_gram.eval.datasets import EvalItem

# --------------------------------------------------------------------------------------------
# QA: the official HotpotQA metrics (hotpot_evaluate_v1.py)
# --------------------------------------------------------------------------------------------

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_YES_NO = ("yes", "no", "noanswer")


def normalize_answer(s: str) -> str:
    """Normalise an answer as the official HotpotQA (and SQuAD) evaluation does.

    Lower case, remove ASCII punctuation, remove the articles *a*, *an* and *the*, then collapse
    whitespace to single spaces.

    Args:
        s: The answer.

    Returns:
        The normalised answer (``"The  Eiffel-Tower!"`` -> ``"eiffeltower"``).
    """
    text = str(s).lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
    """HotpotQA's exact match.

    Args:
        prediction: The predicted answer.
        gold: The gold answer.

    Returns:
        1.0 when both normalise (:func:`normalize_answer`) to the same text, else 0.0.
    """
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1_score(prediction: str, gold: str) -> float:
    """HotpotQA's token F1 between the normalised prediction and gold answer.

    When either normalised side is ``yes``, ``no`` or ``noanswer`` and the two differ, the F1
    is 0 (HotpotQA's special case); otherwise it is the harmonic mean of the token precision
    and recall, counting shared tokens with multiplicity.

    Args:
        prediction: The predicted answer.
        gold: The gold answer.

    Returns:
        The F1 in ``[0, 1]``.
    """
    pred = normalize_answer(prediction)
    truth = normalize_answer(gold)
    if (pred in _YES_NO or truth in _YES_NO) and pred != truth:
        return 0.0
    pred_tokens = pred.split()
    truth_tokens = truth.split()
    same = sum((Counter(pred_tokens) & Counter(truth_tokens)).values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(truth_tokens)
    return (2 * precision * recall) / (precision + recall)


@dataclass
class Check:
    """The verdict on one prediction.

    Attributes:
        em: Exact match (``qa``), else ``float(correct)``.
        f1: Token F1 (``qa``), else ``float(correct)``.
        correct: Whether the prediction counts as right.
        detail: What the checker found (parsed number, expression, test stderr, plan error...).
    """

    em: float
    f1: float
    correct: bool
    detail: dict[str, Any] = field(default_factory=dict)


def _verdict(correct: bool, detail: dict[str, Any]) -> Check:
    return Check(float(correct), float(correct), correct, detail)


def _check_qa(item: EvalItem, prediction: str) -> Check:
    golds = [item.answer, *item.aliases]
    scored = [(exact_match(prediction, g), f1_score(prediction, g), g) for g in golds]
    best = max(scored, key=lambda s: (s[0], s[1]))
    em = max(s[0] for s in scored)
    f1 = max(s[1] for s in scored)
    detail = {"normalized": normalize_answer(prediction)[:300], "best_gold": best[2]}
    return Check(em, f1, em == 1.0, detail)


# --------------------------------------------------------------------------------------------
# Math: the last number
# --------------------------------------------------------------------------------------------

# An optional sign (not after a word or ")": "x-5", "3-4" are not negative numbers), thousands
# groups ("1,494") or plain digits, a decimal part, a "/denominator".
_NUMBER = re.compile(
    r"(?:(?<![\w)])-)?(?:(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|\.\d+)(?:/\d+)?"
)
_MINUS = str.maketrans({"\u2212": "-", "\u2013": "-"})  # the minus sign and the en dash


def last_number(text: str) -> Fraction | None:
    """Read the last number written in a text.

    Thousands separators, currency signs, decimals and fractions are understood: ``"$1,494"``
    -> 1494, ``"18.0"`` -> 18, ``".5"`` -> 1/2, ``"7/2"`` -> 7/2, ``"-3"`` and ``"−3"`` -> -3.

    Args:
        text: The text.

    Returns:
        The number as an exact fraction, or ``None`` when there is none (or it cannot be read,
        e.g. more digits than Python converts).
    """
    found = _NUMBER.findall(str(text or "").translate(_MINUS))
    if not found:
        return None
    try:
        return Fraction(found[-1].replace(",", ""))
    except (ValueError, ZeroDivisionError, OverflowError):
        return None


def _check_math(item: EvalItem, prediction: str) -> Check:
    try:
        gold: Fraction | None = Fraction(item.answer.strip().replace(",", ""))
    except (ValueError, ZeroDivisionError):
        gold = last_number(item.answer)
    if gold is None:
        raise ConfigurationError(f"{item.id}: the gold answer {item.answer!r} is not a number")
    number = last_number(prediction)
    detail = {"number": None if number is None else str(number), "gold": str(gold)}
    if number is None:
        detail["error"] = "no (readable) number in the prediction"
    return _verdict(number == gold, detail)


# --------------------------------------------------------------------------------------------
# Game of 24: one expression, exact arithmetic, no eval
# --------------------------------------------------------------------------------------------

MAX_EXPRESSION_CHARS = 300
"""Longest expression :func:`evaluate_arithmetic` reads (a game-of-24 answer is short)."""

_SYMBOLS = {
    "×": "*",
    "✕": "*",
    "✖": "*",
    "∗": "*",
    "·": "*",
    "⋅": "*",
    "÷": "/",
    "∕": "/",
    "−": "-",
    "–": "-",
    "—": "-",
    "＋": "+",
    "＝": "=",
    "[": "(",
    "]": ")",
    "{": "(",
    "}": ")",
}
_LATEX = (
    (re.compile(r"\\times"), " * "),
    (re.compile(r"\\cdot"), " * "),
    (re.compile(r"\\div"), " / "),
    (re.compile(r"\\(?:left|right)\b"), ""),
)
_LATEX_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_X_TIMES = re.compile(r"(?<=[\d)])\s*[xX]\s*(?=[\d(])")  # "4 x 6"
_LIST_MARKER = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+")  # "1. ", "2) ", "- "
_ARITHMETIC_RUN = re.compile(r"[\d \t+\-*/().=]+")
_ALLOWED_CHARS = re.compile(r"[\d\s+\-*/()]+")
_TWENTY_FOUR = re.compile(r"24(?:\.0+)?")


def _normalize_symbols(text: str) -> str:
    for pattern, replacement in _LATEX:
        text = pattern.sub(replacement, text)
    for _ in range(5):  # nested \frac, innermost first
        text, count = _LATEX_FRAC.subn(r"(\1)/(\2)", text)
        if not count:
            break
    for old, new in _SYMBOLS.items():
        text = text.replace(old, new)
    return _X_TIMES.sub(" * ", text)


def _trim(part: str) -> str:
    return part.strip(" \t").lstrip("*/+.").rstrip("*/+-.").strip(" \t")


def _is_expression(part: str) -> bool:
    return len(re.findall(r"\d+", part)) >= 2 and bool(re.search(r"[+\-*/]", part))


def extract_game24_expression(text: str, numbers: Sequence[int] | None = None) -> str | None:
    r"""Take the one arithmetic expression a game-of-24 answer gives.

    The text is read as chains of arithmetic separated by ``=`` (``(10 - 4) * (13 - 9) = 6 * 4
    = 24``); ``×``, ``÷``, ``x`` between numbers, unicode minus signs, brackets, LaTeX
    (``\times``, ``\div``, ``\frac{a}{b}``) and list markers (``1.``, ``-``) are understood.
    The chain chosen is the last one that claims ``= 24`` and uses exactly ``numbers``, else
    the last one that claims ``= 24``, else the last chain holding an expression. From that
    chain the first expression (the text before the first ``=``, unless that is ``24``) is
    taken, preferring one whose numbers are exactly ``numbers``.

    Args:
        text: The answer.
        numbers: The puzzle's numbers (used only to choose between candidates).

    Returns:
        The expression, or ``None`` when the text holds none.
    """
    wanted = Counter(int(n) for n in numbers) if numbers is not None else None

    def uses_numbers(part: str) -> bool:
        return wanted is not None and Counter(int(n) for n in re.findall(r"\d+", part)) == wanted

    chains: list[tuple[bool, list[str]]] = []  # (claims 24, its expressions)
    for line in _normalize_symbols(str(text or "")).splitlines():
        line = _LIST_MARKER.sub("", line, count=1)
        for run in _ARITHMETIC_RUN.findall(line):
            parts = [_trim(p) for p in run.split("=")]
            exprs = [p for p in parts if len(p) <= MAX_EXPRESSION_CHARS and _is_expression(p)]
            if exprs:
                claims = len(parts) > 1 and any(_TWENTY_FOUR.fullmatch(p) for p in parts)
                chains.append((claims, exprs))
    if not chains:
        return None
    claiming = [c for c in chains if c[0]]
    chosen = next(
        (c for c in reversed(claiming) if any(uses_numbers(e) for e in c[1])),
        claiming[-1] if claiming else chains[-1],
    )
    return next((e for e in chosen[1] if uses_numbers(e)), chosen[1][0])


def evaluate_arithmetic(expression: str) -> tuple[Fraction, list[int]]:
    """Evaluate an expression of integers, ``+ - * /`` and parentheses with exact fractions.

    The expression is parsed with :mod:`ast` and walked: only integer literals, the binary
    operators ``+ - * /``, unary ``+``/``-`` and parentheses are accepted; nothing is
    executed. ``**``, ``//``, decimals, names and calls are rejected.

    Args:
        expression: E.g. ``"8 / (3 - 8 / 3)"``.

    Returns:
        The exact value and the integer literals in the order written.

    Raises:
        ValueError: The expression has anything else, is malformed or too long.
        ZeroDivisionError: It divides by zero.
    """
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ValueError(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    if not _ALLOWED_CHARS.fullmatch(expression):
        raise ValueError("only integers, + - * / and parentheses are allowed")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        raise ValueError(f"not a valid expression: {expression!r}") from exc
    literals: list[int] = []

    def walk(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            literals.append(node.value)
            return Fraction(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            value = walk(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp):
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Add):
                return left + right
            if isinstance(node.op, ast.Sub):
                return left - right
            if isinstance(node.op, ast.Mult):
                return left * right
            if isinstance(node.op, ast.Div):
                return left / right  # ZeroDivisionError on 0
        what = type(node.op if isinstance(node, ast.BinOp | ast.UnaryOp) else node).__name__
        raise ValueError(f"{what} is not allowed (only integers and + - * /)")

    return walk(tree.body), literals


def _check_game24(item: EvalItem, prediction: str) -> Check:
    numbers = [int(n) for n in _need(item, "numbers")["numbers"]]
    expression = extract_game24_expression(prediction, numbers)
    detail: dict[str, Any] = {"expression": expression, "numbers": numbers}
    if expression is None:
        detail["error"] = "no arithmetic expression in the prediction"
        return _verdict(False, detail)
    try:
        value, literals = evaluate_arithmetic(expression)
    except ZeroDivisionError:
        detail["error"] = "division by zero"
        return _verdict(False, detail)
    except ValueError as exc:
        detail["error"] = str(exc)
        return _verdict(False, detail)
    detail.update(value=str(value), used=literals)
    if Counter(literals) != Counter(numbers):
        detail["error"] = f"uses {sorted(literals)}, not each of {sorted(numbers)} once"
        return _verdict(False, detail)
    if value != 24:
        detail["error"] = f"equals {value}, not 24"
        return _verdict(False, detail)
    return _verdict(True, detail)


# --------------------------------------------------------------------------------------------
# Last letters
# --------------------------------------------------------------------------------------------

_QUOTES = "\"'`“”‘’«»*"
_TRIGGER = re.compile(r"\banswer\b(?:\s+is)?\s*[:=]?", re.IGNORECASE)
_QUOTED = re.compile(r"[\"“'‘`]([^\"”'’`\n]{1,200})[\"”'’`]")


def _letters_form(text: str) -> str:
    text = "".join(ch for ch in text if ch not in _QUOTES and not ch.isspace())
    return text.rstrip(".").casefold()


def _letters_only(text: str) -> str:
    return re.sub(r"[\W\d_]+", "", text).casefold()


def _letters_candidates(prediction: str) -> list[str]:
    text = prediction.strip()
    candidates = [text]
    triggers = list(_TRIGGER.finditer(text))
    if triggers:
        candidates.append(text[triggers[-1].end() :].strip())
    quoted = _QUOTED.findall(text)
    if quoted:
        candidates.append(quoted[-1])
    lines = [line for line in text.splitlines() if line.strip()]
    if lines:
        candidates.append(lines[-1])
    return candidates


def _check_letters(item: EvalItem, prediction: str) -> Check:
    gold = item.answer
    candidates = _letters_candidates(prediction[-5000:])
    detail: dict[str, Any] = {"gold": gold, "compared": "case-insensitive"}
    for candidate in candidates:
        if _letters_form(candidate) == _letters_form(gold):
            return _verdict(True, {**detail, "letters": candidate, "how": "exact"})
    for candidate in candidates:
        if _letters_only(candidate) and _letters_only(candidate) == _letters_only(gold):
            return _verdict(True, {**detail, "letters": candidate, "how": "separators removed"})
    detail["letters"] = _letters_form(candidates[-1])[:200]
    return _verdict(False, detail)


# --------------------------------------------------------------------------------------------
# Code and plans
# --------------------------------------------------------------------------------------------


async def _check_code(
    item: EvalItem, prediction: str, tree: Mapping[str, Any] | None, time_limit: float
) -> Check:
    meta = _need(item, "entry_point")
    nodes = tree if isinstance(tree, Mapping) else {}
    try:
        built = assemble(meta, prediction, nodes)
    except (AttributeError, KeyError, TypeError):  # a malformed tree
        built = assemble(meta, prediction, {})
    code = built["code"]
    detail: dict[str, Any] = {"code_from": built["how"], "code": code[:10_000]}
    if not code.strip():
        detail["error"] = "no code in the prediction"
        return _verdict(False, detail)
    result = await run_tests(meta, code, time_limit)
    detail.update(result)
    return _verdict(bool(result["passed"]), detail)


def _check_plan(item: EvalItem, prediction: str) -> Check:
    meta = _need(item, "init_facts", "goal_facts")
    actions = parse_plan(prediction, meta.get("blocks"))
    checked = validate(meta["init_facts"], meta["goal_facts"], actions)
    detail = {
        "plan": [a.pddl() for a in actions[:100]],
        "steps": len(actions),
        "executable": checked.executable,
        "reached_goal": checked.reached_goal,
        "steps_ok": checked.steps_ok,
        "error": checked.error,
    }
    return _verdict(checked.valid, detail)


# --------------------------------------------------------------------------------------------
# Dispatch
# --------------------------------------------------------------------------------------------


def _need(item: EvalItem, *keys: str) -> dict[str, Any]:
    missing = [k for k in keys if k not in item.meta]
    if missing:
        raise ConfigurationError(f"{item.id}: a {item.kind} item needs meta {missing}")
    return item.meta


async def check_prediction(
    item: EvalItem,
    prediction: str,
    *,
    tree: dict[str, Any] | None = None,
    time_limit: float = TEST_SECONDS,
) -> Check:
    """Score one prediction against an item, by the item's ``kind``.

    - ``qa``: ``em``/``f1`` are the best HotpotQA exact match / F1 over the answer and its
      aliases; correct when ``em == 1``.
    - ``math``: the last number in the prediction (``"1,494"``, ``"$18"``, ``"18.0"``,
      ``"7/2"``) equals the gold number exactly.
    - ``game24``: the expression of :func:`extract_game24_expression` uses the numbers of
      ``meta["numbers"]`` each exactly once and equals 24 (see :func:`evaluate_arithmetic`).
    - ``letters``: the prediction, with quotes and whitespace removed and a trailing period
      dropped, equals the answer **case-insensitively** (the originals are case-sensitive; a
      lower-case answer counts here). Also accepted: the text after the last "answer is", the
      last quoted string or the last line, and any of these with separators (commas, spaces,
      hyphens...) removed (``"n, k, r, s"`` for ``"nkrs"``).
    - ``code``: the candidate (:func:`~langgraph_gram.eval.code.assemble` with ``tree``, so
      helpers written at other GRAM nodes are added) passes the item's tests (HumanEval or
      MBPP ``meta``, see :func:`~langgraph_gram.eval.code.run_tests`).
    - ``plan``: the plan parsed from the prediction is executable from ``meta["init_facts"]``
      and reaches ``meta["goal_facts"]`` (:mod:`langgraph_gram.eval.blocksworld`).

    Args:
        item: The item.
        prediction: The predicted answer (``None`` and non-strings are read as text).
        tree: GRAM's reasoning tree, for ``code`` items (helpers at other nodes).
        time_limit: Seconds a ``code`` item's tests may run.

    Returns:
        The verdict. For every kind but ``qa``, ``em`` and ``f1`` equal ``float(correct)``.
        ``detail`` holds what was parsed (``number``, ``expression``, ``letters``, ``plan``,
        ``code``...) and, for a wrong prediction, usually an ``error`` saying why.

    Raises:
        ConfigurationError: The item's kind is unknown or its ``meta`` lacks what the kind
            needs. A bad prediction never raises.
    """
    text = "" if prediction is None else str(prediction)
    kind = item.kind
    if kind not in _CHECKERS and kind != "code":
        raise ConfigurationError(f"{item.id}: unknown kind {kind!r}")
    try:
        if kind == "code":
            return await _check_code(item, text, tree, time_limit)
        return _CHECKERS[kind](item, text)
    except ConfigurationError:
        raise
    except Exception as exc:  # a hostile prediction must not stop an evaluation run
        return _verdict(False, {"error": f"checker failed: {exc!r}"[:500]})


_CHECKERS = {
    "qa": _check_qa,
    "math": _check_math,
    "game24": _check_game24,
    "letters": _check_letters,
    "plan": _check_plan,
}
