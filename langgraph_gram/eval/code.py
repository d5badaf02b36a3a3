"""Code-generation answers (HumanEval, MBPP): take the code out of an answer and test it.

A task (or an :class:`~langgraph_gram.eval.datasets.EvalItem`'s ``meta``) comes in one of two
forms:

- HumanEval: ``{"prompt", "test", "entry_point"}``. ``test`` defines ``check(candidate)``; the
  program run is the prompt (for its imports), the candidate, the test and
  ``check(<entry point>)``, as the HumanEval harness runs them.
- MBPP: ``{"tests", "test_imports", "entry_point"}`` (``tests`` may also be spelled
  ``test_list``, as in the raw rows). The program run is the test imports, the candidate and
  every ``assert`` line.

Programs run in a sandboxed subprocess (:func:`langgraph_gram.tools.run_python`) with a time
limit; a candidate passes when the program exits with status 0.

    meta = item.meta
    result = await run_tests(meta, extract_code(answer))
    result["passed"], result["stderr"]
"""

from __future__ import annotations

import ast
import doctest
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from langgraph_gram.errors import ConfigurationError
from langgraph_gram.tools import run_python
from langgraph_gram.tools.python_runner import PythonRunResult

TEST_SECONDS = 10.0
"""Default seconds a test program may run."""

STDERR_TAIL = 800
"""How many characters of the test program's stderr are kept (its end)."""

_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)


def extract_code(text: str) -> str:
    """Take the code out of a model's answer.

    Args:
        text: The answer.

    Returns:
        Its fenced code blocks joined, or else the whole text (an unclosed opening fence and
        stray fences removed; the indentation of a bare function body kept).
    """
    blocks = _FENCE.findall(text or "")
    if blocks:
        return "\n\n".join(block.strip("\n") for block in blocks)
    text = (text or "").rstrip().strip("\n")  # keep the indentation of a bare body
    if text.lstrip().startswith("```"):  # an unclosed fence
        text = text.split("\n", 1)[1] if "\n" in text else ""
    return text.replace("```", "").strip("\n")


def _defined_functions(code: str) -> set[str]:
    """Names of the functions ``code`` defines (a regex fallback when it does not parse)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return set(re.findall(r"^\s*def\s+(\w+)\s*\(", code, re.MULTILINE))
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


def _called_names(code: str) -> set[str]:
    """Names ``code`` calls (``name(``), found by a regex."""
    return set(re.findall(r"\b(\w+)\s*\(", code))


def assemble(
    task: Mapping[str, Any], answer: str, tree: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """Build the candidate solution from the final answer (and helpers written at other nodes).

    Args:
        task: The task (HumanEval or MBPP form, see :func:`program_for`); only HumanEval's
            ``prompt`` lets an indented body be completed.
        answer: The final answer.
        tree: GRAM's reasoning tree (node id -> node with an ``answer``), or ``{}``.

    Returns:
        ``code`` (the candidate) and ``how``: ``"answer"``, ``"answer+helpers"`` (functions the
        answer calls but does not define, taken from other nodes' answers), ``"completion"``
        (the answer is an indented body, appended to the prompt as HumanEval intends) or
        ``"missing"`` (no definition of the entry point anywhere; ``code`` is then the code of
        the answer as it is).
    """
    entry = task["entry_point"]
    code = extract_code(answer)
    defined = _defined_functions(code)
    if entry in defined:
        needed = (_called_names(code) - defined) - {entry}
        helpers = []
        for node_id in sorted(tree):
            if node_id == "0" or not needed:
                continue
            other = extract_code(tree[node_id].get("answer") or "")
            provided = _defined_functions(other) & needed
            if provided and entry not in _defined_functions(other):
                helpers.append(other)
                needed -= provided
        if helpers:
            return {"code": "\n\n".join([*helpers, code]), "how": "answer+helpers"}
        return {"code": code, "how": "answer"}
    completes = _mbpp_tests(task) is None and task.get("prompt")  # HumanEval only
    if completes and code and code.splitlines()[0].startswith((" ", "\t")):
        return {"code": task["prompt"] + code, "how": "completion"}
    # No definition in the final answer: look for one at another node (e.g. a failed combine).
    for node_id in sorted(tree):
        other = extract_code(tree[node_id].get("answer") or "")
        if entry in _defined_functions(other):
            return assemble(task, other, {})
    return {"code": code, "how": "missing"}


def code_ran(steps: Sequence[Mapping[str, Any]], tool: str = "python") -> dict[str, dict[str, str]]:
    """Return the code a tool-using method ran, as nodes :func:`assemble` takes code from.

    ReAct often writes the whole function in a ``python`` step, tests it, and then answers
    with a call (``is_prime(15)``) instead of the code. GRAM's answer gets code from its other
    nodes in that case, so ReAct's gets it from what it ran: the same rule for both.

    Args:
        steps: The method's tool steps (``{"action", "input"}``; a native tool call's
            ``input`` is its arguments, whose first text value is taken).
        tool: The name of the code-running tool.

    Returns:
        ``ran.001`` (the newest) ... -> ``{"answer": code}``; :func:`assemble` looks at them in
        that order, so the latest version of a function wins.
    """
    sources = []
    for step in steps:
        if step.get("action") != tool:
            continue
        text = step.get("input")
        if isinstance(text, Mapping):
            text = next((v for v in text.values() if isinstance(v, str)), "")
        if isinstance(text, str) and text.strip():
            sources.append(text)
    return {f"ran.{n:03d}": {"answer": code} for n, code in enumerate(reversed(sources), 1)}


def test_program(task: Mapping[str, Any], code: str) -> str:
    """Build HumanEval's checking program for ``code``.

    Args:
        task: A HumanEval task (``prompt``, ``test``, ``entry_point``).
        code: The candidate.

    Returns:
        The task's prompt (for its imports; its body made ``pass``), the candidate, the task's
        tests and ``check(<entry point>)``, as the HumanEval harness runs them.
    """
    return (
        f"{task['prompt']}\n    pass\n\n{code}\n\n{task['test']}\n\ncheck({task['entry_point']})\n"
    )


test_program.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def _mbpp_tests(meta: Mapping[str, Any]) -> list[str] | None:
    tests = meta.get("tests", meta.get("test_list"))
    return None if tests is None else [str(t) for t in tests]


def program_for(meta: Mapping[str, Any], code: str) -> str:
    """Build the program that checks ``code`` against a HumanEval or MBPP task.

    Args:
        meta: The task: MBPP's ``{"tests" (or "test_list"), "test_imports", "entry_point"}``
            or HumanEval's ``{"prompt", "test", "entry_point"}``.
        code: The candidate.

    Returns:
        For MBPP: the test imports, the candidate and every assert line; for HumanEval: see
        :func:`test_program`.

    Raises:
        ConfigurationError: ``meta`` is neither form.
    """
    tests = _mbpp_tests(meta)
    if tests is not None:
        imports = "\n".join(str(line) for line in meta.get("test_imports") or [])
        return f"{imports}\n\n{code}\n\n\n" + "\n".join(tests) + "\n"
    if all(key in meta for key in ("prompt", "test", "entry_point")):
        return test_program(meta, code)
    raise ConfigurationError(
        "a code task needs 'tests' (MBPP) or 'prompt', 'test' and 'entry_point' (HumanEval); "
        f"got {sorted(meta)}"
    )


async def run_tests(
    meta: Mapping[str, Any], code: str, time_limit: float = TEST_SECONDS
) -> dict[str, Any]:
    """Run a task's tests on ``code`` in a sandboxed subprocess (see :func:`program_for`).

    Args:
        meta: The task (HumanEval or MBPP form).
        code: The candidate.
        time_limit: Seconds before the program is killed (a time-out fails).

    Returns:
        ``passed`` (exit status 0), ``returncode`` (``None`` on a time-out), ``timed_out``,
        ``seconds`` and ``stderr`` (its last :data:`STDERR_TAIL` characters).

    Raises:
        ConfigurationError: ``meta`` is neither form.
    """
    result, passed = await run_to_the_end(program_for(meta, code), time_limit)
    return {
        "passed": passed,
        "returncode": result.returncode,
        "timed_out": result.timed_out,
        "seconds": result.seconds,
        "stderr": result.stderr[-STDERR_TAIL:],
    }


_RUN_VISIBLE_EXAMPLES = """
import doctest as _doctest, sys as _sys
_examples = _doctest.DocTestParser().get_doctest({text!r}, dict(globals()), "visible", None, 0)
_runner = _doctest.DocTestRunner(optionflags=_doctest.NORMALIZE_WHITESPACE)
if _runner.run(_examples).failed:
    _sys.exit(1)
"""


async def run_to_the_end(program: str, time_limit: float) -> tuple[PythonRunResult, bool]:
    """Run a checking program and tell whether it passed: exit status 0 *and* ran to its end.

    A candidate may end the program before the checks run (``unittest.main()`` or
    ``sys.exit(0)`` under ``if __name__ == "__main__":``) with status 0; the program
    therefore prints a mark of this run's own after the checks, and passing needs it.

    Args:
        program: The program (candidate, then checks).
        time_limit: Seconds before it is killed.

    Returns:
        The run's result and whether it passed.
    """
    mark = f"gram-checks-done-{secrets.token_hex(8)}"
    result = await run_python(f"{program}\nprint({mark!r})\n", time_limit=time_limit)
    return result, result.ok and mark in result.stdout


def visible_program(meta: Mapping[str, Any], code: str) -> str:
    """Build the program that checks ``code`` with only the tests its task's question shows.

    A model sees these checks in its question, so a scorer may run them without leaking the
    hidden tests a result is graded by.

    Args:
        meta: The task, as for :func:`program_for`.
        code: The candidate.

    Returns:
        For MBPP: the test imports, the candidate and the first assert line (the one the
        question shows); for HumanEval: the prompt (for its imports), the candidate and the
        prompt's ``>>>`` examples run by :mod:`doctest` (whitespace-insensitive), or only the
        candidate's definitions when the prompt has no such examples.

    Raises:
        ConfigurationError: ``meta`` is neither form.
    """
    tests = _mbpp_tests(meta)
    if tests is not None:
        imports = "\n".join(str(line) for line in meta.get("test_imports") or [])
        return f"{imports}\n\n{code}\n\n\n" + "\n".join(tests[:1]) + "\n"
    if "prompt" not in meta:
        raise ConfigurationError(
            f"a code task needs 'tests' (MBPP) or 'prompt' (HumanEval); got {sorted(meta)}"
        )
    prompt = str(meta["prompt"])
    program = f"{prompt}\n    pass\n\n{code}\n"
    docstring = _docstring(program, str(meta.get("entry_point", "")))
    try:
        examples = doctest.DocTestParser().get_examples(docstring)
    except ValueError:  # examples doctest cannot read (inconsistent indentation)
        examples = []
    if examples:
        program += _RUN_VISIBLE_EXAMPLES.format(text=docstring)
    return program


def _docstring(program: str, name: str) -> str:
    """Return the docstring of the first function ``name`` in ``program`` ("" if none)."""
    try:
        tree = ast.parse(program)
    except SyntaxError:
        return ""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return ast.get_docstring(node) or ""
    return ""


def make_scorer(
    task: Mapping[str, Any],
    log: list[dict[str, Any]],
    time_limit: float = TEST_SECONDS,
    *,
    visible_only: bool = False,
) -> Callable[[str, str], Awaitable[float]]:
    """Make a GRAM ``scorer`` that runs a task's tests on each candidate answer.

    Args:
        task: The task (HumanEval or MBPP form).
        log: Each call appends ``{"question" (its first 80 characters), "score"}`` here.
        time_limit: Seconds a test program may run.
        visible_only: Run only the checks the task's question shows (see
            :func:`visible_program`), never the tests a result is graded by: the fair
            verifier for an evaluation.

    Returns:
        ``scorer(question, answer)``: 1.0 when the answer passes the tests, 0.5 when it is
        code that runs but does not define the entry point (a helper), else 0.0.
    """
    if _mbpp_tests(task) is None:  # HumanEval: the prompt gives the imports
        prefix = f"{task['prompt']}\n    pass\n\n"
    else:
        prefix = "\n".join(str(line) for line in task.get("test_imports") or []) + "\n\n"

    async def scorer(question: str, answer: str) -> float:
        code = extract_code(answer)
        if task["entry_point"] in _defined_functions(code):
            if visible_only:
                _, passed = await run_to_the_end(visible_program(task, code), time_limit)
            else:
                passed = (await run_tests(task, code, time_limit))["passed"]
            score = 1.0 if passed else 0.0
        else:
            ran = await run_python(f"{prefix}{code}\n", time_limit=min(5.0, time_limit))
            score = 0.5 if ran.ok and _defined_functions(code) else 0.0
        log.append({"question": question[:80], "score": score})
        return score

    return scorer
