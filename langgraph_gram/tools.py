"""Built-in LangChain tools for the leaves: corpus search, an exact calculator and Python.

- :func:`corpus_search_tool`: BM25 search (``bm25s``) over a JSONL corpus of
  ``{"id", "title", "text"}`` documents. It is marked ``gram_prefetch``, so the engine calls it
  with each leaf's question before the leaf's first LLM step. :class:`CorpusIndex` and
  :func:`load_corpus` are the same search without LangChain, for benchmarks.
- :func:`calculator_tool`: exact rational arithmetic on a parsed expression (never ``eval``);
  :func:`calculate` is the same as a plain function.
- :func:`python_tool`: runs a Python program in a subprocess with a time limit, a throw-away
  working directory, a minimal environment and no network; :func:`run_python` is the same as a
  coroutine returning a :class:`PythonRunResult` (the checker for generated code).

Tool failures a model can act on (a bad expression, a crashing program) come back as the tool's
text output. Only misconfiguration (a missing or malformed corpus) raises
:class:`~langgraph_gram.errors.ConfigurationError`.
"""

from __future__ import annotations

import ast
import asyncio
import concurrent.futures
import json
import math
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import unicodedata
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal, localcontext
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from langgraph_gram.errors import ConfigurationError

__all__ = [
    "MAX_DIGITS",
    "MAX_EXPONENT",
    "CorpusIndex",
    "PythonRunResult",
    "calculate",
    "calculator_tool",
    "corpus_search_tool",
    "load_corpus",
    "python_tool",
    "run_python",
]

_T = TypeVar("_T")

# --------------------------------------------------------------------------------------------
# Corpus search
# --------------------------------------------------------------------------------------------

TITLE_WEIGHT = 3
"""How many times a document's title is indexed (its text once), so a name finds its own page."""

PASSAGE_CHARS = 400
"""Longest passage text shown in the search tool's content (the artifact keeps the full text)."""

_WORD = re.compile(r"[^\W_]+")


@cache
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    return frozenset(STOPWORDS_EN_PLUS)


def _words(text: str) -> list[str]:
    """Lower-case, fold accents and split on non-alphanumerics (no stemming)."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return _WORD.findall(folded)


def _tokenize(text: str) -> list[str]:
    """Index terms: :func:`_words` without English stopwords.

    No stemming: made-up proper names must stay intact to match exactly.
    """
    stop = _stopwords()
    return [token for token in _words(text) if token not in stop]


def load_corpus(path: str | Path) -> list[dict[str, str]]:
    """Read a JSONL corpus: one ``{"id", "title", "text"}`` object per line.

    Blank lines are skipped; ``title`` may be missing (empty), ``id`` may be a number (it is
    turned into a string).

    Args:
        path: The JSONL file.

    Returns:
        The documents, as ``{"id": str, "title": str, "text": str}`` dicts, in file order.

    Raises:
        ConfigurationError: The file is missing or unreadable, a line is not valid UTF-8 JSON,
            a line is not an object with a string ``text`` and an ``id``, or the file holds
            no document. The message names the path and the line number.
    """
    source = Path(path).expanduser()
    try:
        raw = source.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read corpus file {source}: {exc}") from exc
    documents: list[dict[str, str]] = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{source}, line {number}"
        try:
            item = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ConfigurationError(f"corpus {where}: not UTF-8 ({exc.reason})") from exc
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"corpus {where}: invalid JSON ({exc.msg})") from exc
        if not isinstance(item, dict):
            raise ConfigurationError(
                f"corpus {where}: expected a JSON object, got {type(item).__name__}"
            )
        doc_id, title, text = item.get("id"), item.get("title", ""), item.get("text")
        if isinstance(doc_id, bool) or not isinstance(doc_id, str | int) or str(doc_id) == "":
            raise ConfigurationError(f"corpus {where}: missing or invalid 'id'")
        if not isinstance(text, str):
            raise ConfigurationError(f"corpus {where}: missing or non-string 'text'")
        if title is None:
            title = ""
        if not isinstance(title, str):
            raise ConfigurationError(f"corpus {where}: non-string 'title'")
        documents.append({"id": str(doc_id), "title": title, "text": text})
    if not documents:
        raise ConfigurationError(f"corpus file {source} holds no documents")
    return documents


class CorpusIndex:
    """A BM25 index (``bm25s``) over titled documents; thread-safe, synchronous search.

    The title is indexed :data:`TITLE_WEIGHT` times and the text once, so searching an
    entity's name ranks the entity's own document above documents that merely mention it.
    """

    _cache: ClassVar[dict[Path, tuple[tuple[int, int], CorpusIndex]]] = {}
    _cache_locks: ClassVar[dict[Path, threading.Lock]] = {}
    _cache_guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self, documents: Iterable[Mapping[str, Any]], *, title_weight: int = TITLE_WEIGHT
    ) -> None:
        """Index the documents (CPU work: call it from a thread in async code).

        Args:
            documents: Mappings with ``id``, ``text`` and optionally ``title``.
            title_weight: How many times the title is indexed.

        Raises:
            ConfigurationError: ``bm25s`` is not installed, or ``title_weight`` < 1.
        """
        if title_weight < 1:
            raise ConfigurationError(f"title_weight must be >= 1, got {title_weight}")
        try:
            import bm25s
        except ImportError as exc:  # pragma: no cover - bm25s is a dependency
            raise ConfigurationError("corpus search needs bm25s: pip install bm25s") from exc
        self.documents: list[dict[str, str]] = [
            {
                "id": str(doc["id"]),
                "title": str(doc.get("title") or ""),
                "text": str(doc.get("text") or ""),
            }
            for doc in documents
        ]
        self._lock = threading.Lock()
        self._titles: dict[str, list[int]] = {}
        for position, doc in enumerate(self.documents):
            key = " ".join(_words(doc["title"]))
            if key:
                self._titles.setdefault(key, []).append(position)
        self._retriever = bm25s.BM25()
        if self.documents:
            tokens = [
                _tokenize(doc["title"]) * title_weight + _tokenize(doc["text"])
                for doc in self.documents
            ]
            self._retriever.index(tokens, show_progress=False)

    def __len__(self) -> int:
        """Return the number of indexed documents."""
        return len(self.documents)

    @classmethod
    def from_path(cls, path: str | Path) -> CorpusIndex:
        """Load and index a JSONL corpus once, cached by resolved path and modification time.

        Blocking (file read and indexing on a miss): call it from a thread in async code.

        Args:
            path: The JSONL corpus (see :func:`load_corpus`).

        Returns:
            The index; the same object while the file is unchanged.

        Raises:
            ConfigurationError: The file is missing or malformed.
        """
        resolved = Path(path).expanduser().resolve()
        try:
            stat = resolved.stat()
        except OSError as exc:
            raise ConfigurationError(f"cannot read corpus file {resolved}: {exc}") from exc
        key = (stat.st_mtime_ns, stat.st_size)
        with cls._cache_guard:
            lock = cls._cache_locks.setdefault(resolved, threading.Lock())
        with lock:
            hit = cls._cache.get(resolved)
            if hit is not None and hit[0] == key:
                return hit[1]
            index = cls(load_corpus(resolved))
            cls._cache[resolved] = (key, index)
            return index

    def search(self, query: str, k: int = 4) -> list[dict[str, Any]]:
        """Return the best ``k`` documents for a query, best first.

        Documents whose whole title equals the query (after lower-casing and splitting on
        non-alphanumerics) come first: a name finds its own page even when longer titles
        contain it ("Duke Energy" before "Duke Energy Florida"). The rest are ranked by BM25.

        Args:
            query: Free text (a name, keywords or a question).
            k: How many documents at most.

        Returns:
            ``{"id", "title", "text", "score"}`` dicts (``score``: BM25); only documents
            sharing a term with the query, or titled exactly as the query (an empty query
            returns ``[]``).
        """
        k = min(k, len(self.documents))
        if k < 1:
            return []
        exact = self._titles.get(" ".join(_words(query)), [])
        tokens = _tokenize(query)
        if not tokens and not exact:
            return []
        if tokens:
            with self._lock:
                scores = np.asarray(self._retriever.get_scores(tokens), dtype=np.float64)
        else:
            scores = np.zeros(len(self.documents))
        chosen = sorted(exact, key=lambda i: -scores[i])[:k]
        room = k - len(chosen)
        if room > 0:
            masked = scores.copy()
            masked[chosen] = 0.0
            top = np.argpartition(-masked, room - 1)[:room] if room < len(masked) else None
            candidates = np.arange(len(masked)) if top is None else top
            ranked = sorted(candidates.tolist(), key=lambda i: (-masked[i], i))
            chosen += [i for i in ranked if masked[i] > 0]
        return [{**self.documents[i], "score": round(float(scores[i]), 4)} for i in chosen[:k]]


def _format_hits(query: str, hits: list[dict[str, Any]], limit: int = PASSAGE_CHARS) -> str:
    if not hits:
        return f"No passages found for {query!r}."
    lines = []
    for hit in hits:
        text = " ".join(hit["text"].split())
        if len(text) > limit:
            text = text[: limit - 1].rstrip() + "…"
        lines.append(f"[{hit['id']}] {hit['title']}: {text}")
    return "\n".join(lines)


class _SearchInput(BaseModel):
    query: str = Field(description="What to look for: a name, a few keywords or a question.")


def corpus_search_tool(
    path: str | Path, *, k: int = 4, name: str = "search", description: str | None = None
) -> BaseTool:
    """Make a BM25 search tool over a JSONL corpus, prefetched by the engine at each leaf.

    The corpus is read and indexed on first use (in a worker thread when called async) and
    kept while the file is unchanged. The tool returns ``content_and_artifact``: the content
    lists passages one per line as ``[<id>] <title>: <text>`` (text cut to about 400
    characters), the artifact is the list of ``{"id", "title", "text", "score"}`` dicts.

    Args:
        path: The JSONL corpus of ``{"id", "title", "text"}`` objects.
        k: Passages per search.
        name: The tool's name.
        description: The tool's description (a default explains the input).

    Returns:
        The tool, with ``metadata={"gram_prefetch": True, "gram_kind": "retriever"}``.

    Raises:
        ConfigurationError: ``k`` < 1 or the file does not exist (a malformed file raises
            the same error on first search).
    """
    if k < 1:
        raise ConfigurationError(f"k must be >= 1, got {k}")
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_file():
        raise ConfigurationError(f"corpus file not found: {resolved}")
    return _search_tool(
        lambda: CorpusIndex.from_path(resolved), k=k, name=name, description=description
    )


def passages_search_tool(
    passages: Iterable[Mapping[str, Any]],
    *,
    k: int = 4,
    name: str = "search",
    description: str | None = None,
    passage_chars: int = PASSAGE_CHARS,
) -> BaseTool:
    """Make the same BM25 search tool over passages held in memory (e.g. one question's own).

    Args:
        passages: Mappings with ``id``, ``text`` and optionally ``title``.
        k: Passages per search.
        name: The tool's name.
        description: The tool's description (a default explains the input).
        passage_chars: Longest passage text shown (paragraph-length passages such as
            HotpotQA's need more than the default).

    Returns:
        The tool, prefetched at each leaf like :func:`corpus_search_tool`'s. The index is
        built on first use.

    Raises:
        ConfigurationError: ``k`` < 1.
    """
    if k < 1:
        raise ConfigurationError(f"k must be >= 1, got {k}")
    documents = [dict(p) for p in passages]
    built: list[CorpusIndex] = []
    guard = threading.Lock()

    def index() -> CorpusIndex:
        with guard:
            if not built:
                built.append(CorpusIndex(documents))
            return built[0]

    return _search_tool(index, k=k, name=name, description=description, passage_chars=passage_chars)


def _search_tool(
    index: Callable[[], CorpusIndex],
    *,
    k: int,
    name: str,
    description: str | None,
    passage_chars: int = PASSAGE_CHARS,
) -> BaseTool:
    def search(query: str) -> tuple[str, list[dict[str, Any]]]:
        hits = index().search(query, k)
        return _format_hits(query, hits, passage_chars), hits

    async def asearch(query: str) -> tuple[str, list[dict[str, Any]]]:
        return await asyncio.to_thread(search, query)

    return StructuredTool.from_function(
        func=search,
        coroutine=asearch,
        name=name,
        description=description
        or (
            f"Search the document collection; returns up to {k} passages as "
            "'[id] title: text'. Input: a name or a few keywords (e.g. a person's or "
            "company's full name)."
        ),
        args_schema=_SearchInput,
        response_format="content_and_artifact",
        metadata={"gram_prefetch": True, "gram_kind": "retriever"},
    )


# --------------------------------------------------------------------------------------------
# Calculator
# --------------------------------------------------------------------------------------------

MAX_EXPONENT = 1000
"""Largest absolute integer exponent the calculator accepts."""

MAX_DIGITS = 10_000
"""Most decimal digits any numerator or denominator may reach."""

_MAX_BITS = math.ceil(MAX_DIGITS * math.log2(10))
_MAX_INPUT_CHARS = 2000
_MAX_ROOT = 64
_APPROX_DIGITS = 20
_FUNCTIONS = ("abs", "round", "min", "max", "sqrt", "floor", "ceil")
_ALLOWED_HINT = "numbers, + - * / // % ** ( ) and " + ", ".join(_FUNCTIONS)


class _CalcError(ValueError):
    """An expression the calculator refuses; the message is shown to the model."""


_REPLACEMENTS = {
    "×": "*",
    "✕": "*",
    "∗": "*",
    "·": "*",
    "⋅": "*",
    "÷": "/",
    "∕": "/",
    "−": "-",
    "–": "-",
    "^": "**",
    "$": "",
    "€": "",
    "£": "",
}
_THOUSANDS = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?![\w,])")
_CALL = re.compile(r"[A-Za-z_]\w*\s*\(")
_PERCENT = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)%(?=\s*(?:$|[)*/+\-]))")
_EXPONENT = re.compile(r"[eE]([+-]?\d[\d_]*)")
_ROOT_SIGN = re.compile(r"√\s*(\d+(?:\.\d+)?|(?=\())")


def _normalize_expression(expression: str) -> str:
    text = expression.strip()
    text = re.sub(r"\s*=\s*\??\s*$", "", text)  # "2 + 2 =" or "2 + 2 = ?"
    for old, new in _REPLACEMENTS.items():
        text = text.replace(old, new)
    text = _ROOT_SIGN.sub(lambda m: f"sqrt({m.group(1)})" if m.group(1) else "sqrt", text)
    if not _CALL.search(text):  # with calls, "max(1,234)" is ambiguous: commas separate args
        text = _THOUSANDS.sub(lambda m: m.group(0).replace(",", ""), text)
    text = _PERCENT.sub(r"(\1/100)", text)  # "15%" at the end or before an operator
    return text


_DIGIT_LIMIT = 10**MAX_DIGITS


def _too_big(n: int) -> bool:
    bits = n.bit_length()
    return bits > _MAX_BITS or (bits == _MAX_BITS and abs(n) >= _DIGIT_LIMIT)


def _check(value: Fraction) -> Fraction:
    if _too_big(value.numerator) or _too_big(value.denominator):
        raise _CalcError(f"result too large (more than {MAX_DIGITS} digits)")
    return value


def _integer_root(n: int, q: int) -> int:
    """Floor of the q-th root of n >= 0 (integer Newton iteration)."""
    if n < 2:
        return n
    x = 1 << -(-n.bit_length() // q)
    while True:
        y = ((q - 1) * x + n // x ** (q - 1)) // q
        if y >= x:
            return x
        x = y


class _Evaluator:
    def __init__(self, source: str) -> None:
        self.source = source
        self.inexact = False

    def eval(self, node: ast.AST) -> Fraction:
        if isinstance(node, ast.Expression):
            return self.eval(node.body)
        if isinstance(node, ast.Constant):
            return self._constant(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
            value = self.eval(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp):
            return self._binop(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.Name):
            raise _CalcError(f"unknown name {node.id!r}; allowed: {_ALLOWED_HINT}")
        if isinstance(node, ast.Tuple):
            raise _CalcError("unexpected comma; write one expression (no thousands separators)")
        raise _CalcError(f"{type(node).__name__} is not allowed; allowed: {_ALLOWED_HINT}")

    def _constant(self, node: ast.Constant) -> Fraction:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _CalcError(f"only numbers are allowed, not {value!r}")
        if isinstance(value, int):
            return _check(Fraction(value))
        if not math.isfinite(value):
            raise _CalcError("number too large")
        literal = ast.get_source_segment(self.source, node) or ""
        exponent = _EXPONENT.search(literal)
        if exponent and abs(int(exponent.group(1))) > MAX_DIGITS:
            raise _CalcError(f"number too large or too small (more than {MAX_DIGITS} digits)")
        try:  # the literal as written is exact ("0.1000000000000000000001")
            return _check(Fraction(literal.replace("_", "")))
        except (ValueError, ZeroDivisionError):
            return _check(Fraction(str(value)))

    def _binop(self, node: ast.BinOp) -> Fraction:
        left = self.eval(node.left)
        right = self.eval(node.right)
        op = node.op
        if isinstance(op, ast.Pow):
            return self._power(left, right)
        if isinstance(op, ast.Add):
            return _check(left + right)
        if isinstance(op, ast.Sub):
            return _check(left - right)
        if isinstance(op, ast.Mult):
            return _check(left * right)
        if isinstance(op, ast.Div | ast.FloorDiv | ast.Mod) and right == 0:
            raise _CalcError("division by zero")
        if isinstance(op, ast.Div):
            return _check(left / right)
        if isinstance(op, ast.FloorDiv):
            return Fraction(left // right)
        if isinstance(op, ast.Mod):
            return _check(left % right)
        raise _CalcError(f"operator {type(op).__name__} is not allowed; allowed: {_ALLOWED_HINT}")

    def _power(self, base: Fraction, exponent: Fraction) -> Fraction:
        if abs(exponent) > MAX_EXPONENT:
            raise _CalcError(f"exponent too large (at most {MAX_EXPONENT} in absolute value)")
        p, q = exponent.numerator, exponent.denominator
        if base == 0 and p < 0:
            raise _CalcError("division by zero")
        if q == 1:
            size = max(base.numerator.bit_length(), base.denominator.bit_length())
            if abs(p) * (size - 1) >= _MAX_BITS:  # a lower bound of the result's bits
                raise _CalcError(f"result too large (more than {MAX_DIGITS} digits)")
            return _check(base**p)
        if base < 0:
            raise _CalcError("a negative number has no real fractional power")
        if q <= _MAX_ROOT:
            num = _integer_root(base.numerator, q)
            den = _integer_root(base.denominator, q)
            if num**q == base.numerator and den**q == base.denominator:
                return self._power(Fraction(num, den), Fraction(p))
        size = max(base.numerator.bit_length(), base.denominator.bit_length())
        if size * abs(exponent) > _MAX_BITS:
            raise _CalcError(f"result too large (more than {MAX_DIGITS} digits)")
        self.inexact = True
        with localcontext() as ctx:
            ctx.prec = _APPROX_DIGITS + 5
            value = (Decimal(base.numerator) / Decimal(base.denominator)) ** (
                Decimal(p) / Decimal(q)
            )
        return _check(Fraction(value))

    def _call(self, node: ast.Call) -> Fraction:
        func = node.func
        if not isinstance(func, ast.Name) or func.id not in _FUNCTIONS:
            shown = func.id if isinstance(func, ast.Name) else ast.unparse(func)
            raise _CalcError(f"function {shown!r} is not allowed; allowed: {_ALLOWED_HINT}")
        if node.keywords:
            raise _CalcError(f"{func.id}() takes no keyword arguments")
        args = [self.eval(arg) for arg in node.args]
        name = func.id
        if name in ("min", "max"):
            if not args:
                raise _CalcError(f"{name}() needs at least one number")
            return min(args) if name == "min" else max(args)
        if name == "round":
            if len(args) not in (1, 2):
                raise _CalcError("round() takes a number and optionally a number of digits")
            return self._round(*args)
        if len(args) != 1:
            raise _CalcError(f"{name}() takes exactly one number")
        (value,) = args
        if name == "abs":
            return abs(value)
        if name == "floor":
            return Fraction(math.floor(value))
        if name == "ceil":
            return Fraction(math.ceil(value))
        if value < 0:
            raise _CalcError("sqrt() of a negative number")
        return self._power(value, Fraction(1, 2))

    @staticmethod
    def _round(value: Fraction, digits: Fraction = Fraction(0)) -> Fraction:
        if digits.denominator != 1 or abs(digits) > 100:
            raise _CalcError("round() digits must be a whole number between -100 and 100")
        scale = Fraction(10) ** int(digits)
        scaled = abs(value) * scale
        rounded = math.floor(scaled + Fraction(1, 2))  # half away from zero, as people round
        return _check(Fraction(rounded if value >= 0 else -rounded) / scale)


def _int_text(n: int) -> str:
    return str(Decimal(n))  # no int->str digit limit (sys.get_int_max_str_digits)


def _decimal_text(value: Fraction, places: int = 10) -> str:
    """Approximate decimal: ``places`` decimals, or 10 significant digits for tiny numbers."""
    if value != 0 and abs(value) < Fraction(1, 10**4):
        with localcontext() as ctx:
            ctx.prec = 10
            return f"{Decimal(value.numerator) / Decimal(value.denominator):.9E}"
    sign = "-" if value < 0 else ""
    scaled = abs(value) * 10**places
    units = math.floor(scaled + Fraction(1, 2))
    whole, frac = divmod(units, 10**places)
    return f"{sign}{_int_text(whole)}.{frac:0{places}d}"


def _terminating_text(value: Fraction) -> str | None:
    """Return the exact decimal when the denominator is 2^a 5^b with at most 20 decimals."""
    den = value.denominator
    twos = (den & -den).bit_length() - 1
    rest = den >> twos
    fives = 0
    while rest % 5 == 0:
        rest //= 5
        fives += 1
    places = max(twos, fives)
    if rest != 1 or places > _APPROX_DIGITS:
        return None
    units = abs(value.numerator) * (10**places // den)
    whole, frac = divmod(units, 10**places)
    sign = "-" if value < 0 else ""
    return f"{sign}{_int_text(whole)}.{frac:0{places}d}"


def _format_value(value: Fraction, inexact: bool) -> str:
    if inexact:
        text = _decimal_text(value)
        if "." in text and "E" not in text:
            text = text.rstrip("0").rstrip(".")
        return f"≈ {text}"
    if value.denominator == 1:
        return _int_text(value.numerator)
    fraction = f"{_int_text(value.numerator)}/{_int_text(value.denominator)}"
    exact = _terminating_text(value)
    if exact is not None:
        return f"{fraction} = {exact}"
    return f"{fraction} ≈ {_decimal_text(value)}"


def calculate(expression: str) -> str:
    """Evaluate an arithmetic expression exactly; errors come back as ``"Error: ..."`` text.

    Numbers are exact rationals (``0.1`` is 1/10). Allowed: ``+ - * / // % **``, unary
    signs, parentheses and ``abs, round, min, max, sqrt, floor, ceil``. Also accepted: ``×``,
    ``÷``, ``−``, ``^`` (power), ``√``, thousands separators (``1,234``, when the expression has
    no function call), ``15%`` before an operator or at the end (= 15/100), currency signs
    and a trailing ``=``. ``round`` rounds halves away from zero. Exponents are bounded by
    :data:`MAX_EXPONENT` and every number by :data:`MAX_DIGITS` digits.

    Args:
        expression: The expression, e.g. ``"(3 + 4) × 2^10 / 3"``.

    Returns:
        An integer (``"1024"``); a reduced fraction with its decimal (``"3/10 = 0.3"``,
        ``"7/3 ≈ 2.3333333333"``); ``"≈ <decimal>"`` when an irrational root was involved;
        or ``"Error: <why>"``.
    """
    if len(expression) > _MAX_INPUT_CHARS:
        return f"Error: expression too long (at most {_MAX_INPUT_CHARS} characters)"
    source = _normalize_expression(expression)
    if not source:
        return "Error: empty expression"
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        return f"Error: invalid expression ({exc.msg}); allowed: {_ALLOWED_HINT}"
    except (ValueError, MemoryError, RecursionError):
        return "Error: expression too large or too deeply nested"
    evaluator = _Evaluator(source)
    try:
        value = evaluator.eval(tree)
    except _CalcError as exc:
        return f"Error: {exc}"
    except ZeroDivisionError:
        return "Error: division by zero"
    except (RecursionError, MemoryError, OverflowError, ArithmeticError):
        return "Error: expression too large or too deeply nested"
    return _format_value(value, evaluator.inexact)


class _CalculatorInput(BaseModel):
    expression: str = Field(description="An arithmetic expression, e.g. '(1234 - 56) * 3 / 7'.")


def calculator_tool(*, name: str = "calculator") -> BaseTool:
    """Make an exact calculator tool (see :func:`calculate`); errors are its text output.

    Args:
        name: The tool's name.

    Returns:
        The tool (one argument, ``expression``).
    """

    async def acalculate(expression: str) -> str:
        return calculate(expression)  # bounded CPU work (exponent and digit limits)

    return StructuredTool.from_function(
        func=calculate,
        coroutine=acalculate,
        name=name,
        description=(
            "Exact arithmetic. Input: one expression with numbers, + - * / // % ** (or ^), "
            "parentheses and abs, round, min, max, sqrt, floor, ceil. Fractions stay exact "
            "(7/3 gives '7/3 ≈ 2.3333333333')."
        ),
        args_schema=_CalculatorInput,
        metadata={"gram_kind": "calculator"},
    )


# --------------------------------------------------------------------------------------------
# Python
# --------------------------------------------------------------------------------------------

MAX_STREAM_CHARS = 3000
"""Default most characters kept of stdout and of stderr (head and tail, the middle cut)."""

_SNIPPET_NAME = "snippet.py"

# Runs first in the child: disables the network at the socket layer, then runs snippet.py as
# __main__ in fresh globals, and prints an exception's traceback without this launcher's frame.
_LAUNCHER = f"""\
import socket as _socket, sys as _sys
def _network_disabled(*args, **kwargs):
    raise OSError("network disabled")
for _name in ("connect", "connect_ex", "sendto", "sendmsg"):
    setattr(_socket.socket, _name, _network_disabled)
for _name in ("create_connection", "getaddrinfo", "gethostbyname", "gethostbyname_ex",
              "gethostbyaddr"):
    setattr(_socket, _name, _network_disabled)
_sys.argv = [{_SNIPPET_NAME!r}]
_sys.path.insert(0, "")
with open({_SNIPPET_NAME!r}, encoding="utf-8") as _file:
    _code = compile(_file.read(), {_SNIPPET_NAME!r}, "exec")
del _socket, _network_disabled, _name, _file
try:
    exec(_code, {{"__name__": "__main__", "__file__": {_SNIPPET_NAME!r},
                 "__builtins__": __builtins__}})
except SystemExit:
    raise
except BaseException as _error:
    import traceback as _traceback
    _traceback.print_exception(type(_error), _error, _error.__traceback__.tb_next)
    _sys.stderr.flush()
    _sys.exit(1)
"""


@dataclass(frozen=True)
class PythonRunResult:
    """What a Python run produced.

    Attributes:
        returncode: The exit status (negative: killed by that signal); ``None`` on timeout.
        stdout: Standard output (decoded, cut to the head and tail when long).
        stderr: Standard error (same).
        timed_out: Whether the time limit killed the program.
        seconds: Wall time of the run.
        network_isolated: Whether it ran in its own network namespace (besides the socket
            guard, which is always on).
    """

    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool
    seconds: float
    network_isolated: bool

    @property
    def ok(self) -> bool:
        """Whether the program exited with status 0."""
        return self.returncode == 0

    def to_text(self) -> str:
        """Render the result as the tool shows it to a model.

        Returns:
            ``exit status: ...`` followed by the stdout and stderr sections.
        """
        if self.timed_out:
            status = f"timed out after {self.seconds:.1f} s (killed)"
        else:
            status = str(self.returncode)
        return (
            f"exit status: {status}\n"
            f"--- stdout ---\n{self.stdout or '(empty)'}\n"
            f"--- stderr ---\n{self.stderr or '(empty)'}"
        )


class _Capture:
    """Keeps the first and last bytes of a stream (bounded memory), counting the rest."""

    def __init__(self, limit: int) -> None:
        self.half = max(limit // 2, 1)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > self.half:
                del self.tail[: len(self.tail) - self.half]

    def text(self) -> str:
        cut = self.total - len(self.head) - len(self.tail)
        head = self.head.decode("utf-8", errors="replace")
        tail = self.tail.decode("utf-8", errors="replace")
        if cut > 0:
            return f"{head}\n[... {cut} bytes cut ...]\n{tail}".strip("\n")
        return (head + tail).rstrip("\n")


async def _drain(stream: asyncio.StreamReader | None, capture: _Capture) -> None:
    if stream is None:
        return
    while chunk := await stream.read(65536):
        capture.feed(chunk)


_isolation: list[str] | None = None


async def _isolation_prefix() -> list[str]:
    """``unshare -n`` (root) or ``unshare -rn`` (user namespaces) if it works here, else []."""
    global _isolation
    if _isolation is not None:
        return _isolation
    unshare = await asyncio.to_thread(shutil.which, "unshare")
    found: list[str] = []
    for flags in ("-n", "-rn"):
        if unshare is None:
            break
        try:
            proc = await asyncio.create_subprocess_exec(
                unshare,
                flags,
                sys.executable,
                "-I",
                "-c",
                "pass",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            code = await asyncio.wait_for(proc.wait(), 10)
        except (OSError, TimeoutError):
            continue
        if code == 0:
            found = [unshare, flags]
            break
    _isolation = found
    return found


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _prepare(code: str, stdin: str | None) -> tuple[str, int | None]:
    workdir = tempfile.mkdtemp(prefix="gram-python-")
    Path(workdir, _SNIPPET_NAME).write_text(code, encoding="utf-8")
    if stdin is None:
        return workdir, None
    stdin_path = Path(workdir, ".stdin")
    stdin_path.write_text(stdin, encoding="utf-8")
    return workdir, os.open(stdin_path, os.O_RDONLY)


async def run_python(
    code: str,
    *,
    time_limit: float = 10.0,
    stdin: str | None = None,
    max_output: int = MAX_STREAM_CHARS,
) -> PythonRunResult:
    """Run a Python program in a sandboxed subprocess.

    The program runs as ``__main__`` under ``sys.executable -I`` (isolated mode) in a fresh
    temporary working directory (deleted afterwards), with a minimal environment (``PATH``,
    ``HOME`` and ``TMPDIR`` set to that directory, a UTF-8 locale), in a new process group
    that is killed when the time limit passes (or the caller is cancelled). The network is
    off: inside a network namespace when ``unshare`` works here (probed once), and always by a
    guard that makes socket connections and name lookups raise ``OSError("network
    disabled")``. This is isolation for well-meant code, not a security boundary.

    Args:
        code: The program's source.
        time_limit: Seconds before the process group is killed.
        stdin: Text for its standard input (none by default).
        max_output: Most bytes kept of stdout and of stderr each (head and tail).

    Returns:
        The exit status, outputs and timing.
    """
    prefix = await _isolation_prefix()
    workdir, stdin_fd = await asyncio.to_thread(_prepare, code, stdin)
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": workdir,
        "TMPDIR": workdir,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    }
    out, err = _Capture(max_output), _Capture(max_output)
    proc: asyncio.subprocess.Process | None = None
    readers: asyncio.Future[Any] | None = None
    timed_out = False
    returncode: int | None = None
    started = time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            *prefix,
            sys.executable,
            "-I",
            "-u",
            "-c",
            _LAUNCHER,
            cwd=workdir,
            env=env,
            stdin=stdin_fd if stdin_fd is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        readers = asyncio.gather(_drain(proc.stdout, out), _drain(proc.stderr, err))
        try:
            returncode = await asyncio.wait_for(proc.wait(), time_limit)
        except TimeoutError:
            timed_out = True
            _kill_group(proc.pid)
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                pass
        _kill_group(proc.pid)  # leftovers of the program's own children
        try:  # output still in the pipes; a detached grandchild may hold them open
            await asyncio.wait_for(readers, 1.0)
        except TimeoutError:
            pass
    finally:
        seconds = time.monotonic() - started
        if proc is not None and proc.returncode is None:
            _kill_group(proc.pid)
        if readers is not None and not readers.done():
            readers.cancel()
        if stdin_fd is not None:
            os.close(stdin_fd)
        await asyncio.shield(asyncio.to_thread(shutil.rmtree, workdir, ignore_errors=True))
    return PythonRunResult(
        returncode=None if timed_out else returncode,
        stdout=out.text(),
        stderr=err.text(),
        timed_out=timed_out,
        seconds=round(seconds, 3),
        network_isolated=bool(prefix),
    )


def _run_blocking(factory: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run a coroutine to completion from sync code, even under a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


class _PythonInput(BaseModel):
    code: str = Field(description="A complete Python program; print() what you want to see.")


def python_tool(
    *, timeout: float = 10.0, name: str = "python", max_output: int = MAX_STREAM_CHARS
) -> BaseTool:
    """Make a tool that runs a Python program (see :func:`run_python`) and reports back.

    Its content is ``exit status: <n>`` (or ``timed out ...``) followed by ``--- stdout ---``
    and ``--- stderr ---`` sections; its artifact is the :class:`PythonRunResult` as a dict.

    Args:
        timeout: Seconds a program may run before its process group is killed.
        name: The tool's name.
        max_output: Most bytes kept of stdout and of stderr each.

    Returns:
        The tool (one argument, ``code``).

    Raises:
        ConfigurationError: ``timeout`` is not positive.
    """
    if not timeout > 0:
        raise ConfigurationError(f"timeout must be > 0, got {timeout}")

    async def arun(code: str) -> tuple[str, dict[str, Any]]:
        result = await run_python(code, time_limit=timeout, max_output=max_output)
        return result.to_text(), asdict(result)

    def run(code: str) -> tuple[str, dict[str, Any]]:
        return _run_blocking(lambda: arun(code))

    return StructuredTool.from_function(
        func=run,
        coroutine=arun,
        name=name,
        description=(
            "Run a Python 3 program (standard library; no network, no files kept, "
            f"{timeout:g} s limit) and see its exit status, stdout and stderr. Print the "
            "values you need."
        ),
        args_schema=_PythonInput,
        response_format="content_and_artifact",
        metadata={"gram_kind": "python"},
    )
