"""Evaluation harness: GRAM against direct, CoT, self-consistency and ReAct on one model.

Run it as ``gram eval`` (see :mod:`langgraph_gram.eval.command`) or from Python::

    from langgraph_gram.eval import EvalRun, load_dataset, parse_methods, run_eval

    dataset = load_dataset("fictional_multihop", "../shared/data/fictional_multihop")
    rows = await run_eval(EvalRun(dataset, parse_methods("direct,gram"), endpoint, Path("out")))
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Dataset": "datasets",
    "EvalItem": "datasets",
    "load_dataset": "datasets",
    "load_questions": "datasets",
    "EvalRun": "runner",
    "MethodSpec": "runner",
    "parse_methods": "runner",
    "parse_sweep": "runner",
    "run_eval": "runner",
}

__all__ = [
    "Dataset",
    "EvalItem",
    "EvalRun",
    "MethodSpec",
    "load_dataset",
    "load_questions",
    "parse_methods",
    "parse_sweep",
    "run_eval",
]


def __getattr__(name: str) -> Any:
    """Import the public names on first use (``gram ask`` never loads the harness)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
