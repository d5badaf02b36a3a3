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

from langgraph_gram.tools.calculator import MAX_DIGITS, MAX_EXPONENT, calculate, calculator_tool
from langgraph_gram.tools.python_runner import PythonRunResult, python_tool, run_python
from langgraph_gram.tools.search import (
    CorpusIndex,
    corpus_search_tool,
    load_corpus,
    passages_search_tool,
)

__all__ = [
    "MAX_DIGITS",
    "MAX_EXPONENT",
    "CorpusIndex",
    "PythonRunResult",
    "calculate",
    "calculator_tool",
    "corpus_search_tool",
    "load_corpus",
    "passages_search_tool",
    "python_tool",
    "run_python",
]
