"""Prompts and output schemas, as data a user can override.

Fixed instructions sit in the system message and stay identical across calls, so servers with
a prefix cache (llama.cpp, vLLM, SGLang) reuse them; only the user message varies. Few-shot
examples are one line each: small local models follow them well and they are cheap to prefill.

Override any field with ``dataclasses.replace(DEFAULT_PROMPTS, solve_system=...)`` and pass
``prompts=`` to :func:`langgraph_gram.create_gram_graph`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DECOMPOSE_SYSTEM = """You plan how to answer a question. Decide whether it needs several steps.
If it can be answered in one step (a single fact, a single lookup or a single calculation), reply {"subproblems": []}.
Otherwise split it into 2 to {max_children} simpler sub-questions, in the order they must be answered. Each sub-question asks for exactly one thing. Write #1, #2 ... for the answer of sub-question 1, 2 ... and list in "depends_on" the 0-based positions of the earlier sub-questions it uses. Do not answer anything.
Reply with JSON only, in this shape.
Examples:
Q: What is the capital of the country where the inventor of dynamite was born? -> {"subproblems": [{"question": "Who invented dynamite?", "depends_on": []}, {"question": "In which country was #1 born?", "depends_on": [0]}, {"question": "What is the capital of #2?", "depends_on": [1]}]}
Q: Which river flows through the city where the author of Faust died? -> {"subproblems": [{"question": "Who wrote Faust?", "depends_on": []}, {"question": "In which city did #1 die?", "depends_on": [0]}, {"question": "Which river flows through #2?", "depends_on": [1]}]}
Q: Are the Nile and the Amazon longer than 6000 km each? -> {"subproblems": [{"question": "How long is the Nile in km?", "depends_on": []}, {"question": "How long is the Amazon in km?", "depends_on": []}, {"question": "Are #1 and #2 both longer than 6000 km?", "depends_on": [0, 1]}]}
Q: In which year was Marie Curie born? -> {"subproblems": []}
Q: What is 17 times 23? -> {"subproblems": []}"""
"""System message of a decomposition call; ``{max_children}`` is filled in."""

DECOMPOSE_USER = """{context}Question to plan: {question}"""
"""User message of a decomposition call."""

SOLVE_SYSTEM = """You answer one question as part of solving a larger problem. Use the known answers given to you; they are correct. If you cannot know the answer, give your best guess.
Reply with JSON only: {"reasoning": "<one or two short sentences>", "answer": "<the answer alone: a name, number, date or short phrase>"}"""
"""System message of a solve call."""

SOLVE_USER = """{context}Question to answer now: {question}"""
"""User message of a solve call."""

AGGREGATE_SYSTEM = """You combine the answers of sub-questions into the answer of a question. The sub-answers are correct; use them, do not invent other facts. The answer must answer the question itself.
Reply with JSON only: {"reasoning": "<one or two short sentences>", "answer": "<the answer alone: a name, number, date or short phrase>"}"""
"""System message of an aggregation call."""

AGGREGATE_USER = """{context}Sub-questions and their answers:
{children}
Question to answer now: {question}"""
"""User message of an aggregation call."""

CONTEXT_ROOT = "Main question: {root}\n"
"""How the root question is shown to a sub-problem's call."""

CONTEXT_PATH = "It is being solved through these steps:\n{path}\n"
"""How a node's ancestors are shown (one numbered line each)."""

CONTEXT_KNOWN = "Known answers:\n{known}\n"
"""How the answers a node depends on are shown (one ``- Q -> A`` line each)."""

NO_ANSWER = "(no answer)"
"""Shown in place of an answer that does not exist (a failed or cut node)."""


DECOMPOSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "subproblems": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "question": {"type": "string"},
                    "depends_on": {"type": "array", "items": {"type": "integer"}},
                },
                "required": ["question", "depends_on"],
            },
        }
    },
    "required": ["subproblems"],
}
"""JSON schema of a decomposition."""

ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reasoning": {"type": "string"},
        "answer": {"type": "string"},
    },
    "required": ["reasoning", "answer"],
}
"""JSON schema of a solve or aggregation answer."""


@dataclass(frozen=True)
class Prompts:
    """Every prompt the engine sends, as format strings.

    Attributes:
        decompose_system: See :data:`DECOMPOSE_SYSTEM`.
        decompose_user: See :data:`DECOMPOSE_USER`.
        solve_system: See :data:`SOLVE_SYSTEM`.
        solve_user: See :data:`SOLVE_USER`.
        aggregate_system: See :data:`AGGREGATE_SYSTEM`.
        aggregate_user: See :data:`AGGREGATE_USER`.
        context_root: See :data:`CONTEXT_ROOT`.
        context_path: See :data:`CONTEXT_PATH`.
        context_known: See :data:`CONTEXT_KNOWN`.
        no_answer: See :data:`NO_ANSWER`.
    """

    decompose_system: str = DECOMPOSE_SYSTEM
    decompose_user: str = DECOMPOSE_USER
    solve_system: str = SOLVE_SYSTEM
    solve_user: str = SOLVE_USER
    aggregate_system: str = AGGREGATE_SYSTEM
    aggregate_user: str = AGGREGATE_USER
    context_root: str = CONTEXT_ROOT
    context_path: str = CONTEXT_PATH
    context_known: str = CONTEXT_KNOWN
    no_answer: str = NO_ANSWER


DEFAULT_PROMPTS = Prompts()
"""The prompts used unless ``prompts=`` is given."""
