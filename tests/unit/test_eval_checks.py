"""The evaluation harness's answer checkers (``langgraph_gram.eval.checks``, ``.code``,
``.blocksworld``): HotpotQA EM/F1, numbers, game of 24, last letters, code tests and plans.

Code items run their tests in real sandboxed subprocesses; the shared data sets beside the
repository (``../shared/data``) are used when present, else those tests are skipped.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from langgraph_gram.errors import ConfigurationError
from langgraph_gram.eval.blocksworld import parse_plan, validate
from langgraph_gram.eval.checks import (
    Check,
    check_prediction,
    evaluate_arithmetic,
    exact_match,
    extract_game24_expression,
    f1_score,
    last_number,
    normalize_answer,
)
from langgraph_gram.eval.code import assemble, extract_code, program_for, run_tests
from langgraph_gram.eval.datasets import EvalItem, load_dataset

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = ROOT.parent / "shared" / "data"


def needs_data(relative: str):
    return pytest.mark.skipif(
        not (SHARED_DATA / relative).is_file(), reason=f"shared data {relative} not present"
    )


def item(kind: str, answer: str = "", *, aliases=(), meta=None, question="q") -> EvalItem:
    return EvalItem("t-1", question, answer, list(aliases), kind=kind, meta=dict(meta or {}))


async def check(kind: str, prediction, answer: str = "", **kwargs) -> Check:
    return await check_prediction(item(kind, answer, **kwargs), prediction)


# --------------------------------------------------------------------------------------------
# QA: HotpotQA's official metrics
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("The Eiffel Tower", "eiffel tower"),
        ("  An  apple, a day!  ", "apple day"),
        ("Theatre of the Absurd", "theatre of absurd"),  # "the" only as a whole word
        ("U.S.A.", "usa"),
        ("Jean-Paul Sartre's", "jeanpaul sartres"),
        ("a an the", ""),
    ],
)
def test_normalize_answer_follows_hotpotqa(raw, normalized):
    assert normalize_answer(raw) == normalized


def test_exact_match_ignores_case_punctuation_and_articles():
    assert exact_match("The Beatles.", "beatles") == 1.0
    assert exact_match("an  Apple", "APPLE") == 1.0
    assert exact_match("Beatles band", "The Beatles") == 0.0
    assert isinstance(exact_match("x", "x"), float)


def test_f1_partial_overlap():
    # prediction tokens: barack obama jr (3); gold: barack obama (2); 2 shared
    # precision 2/3, recall 1 -> F1 = 2 * (2/3) / (5/3) = 0.8
    assert f1_score("Barack Obama Jr.", "Barack Obama") == pytest.approx(0.8)
    # repeated tokens count with multiplicity: "new new york" vs "new york": P 2/3, R 1
    assert f1_score("new new york", "New York") == pytest.approx(0.8)
    assert f1_score("Paris", "London") == 0.0
    assert f1_score("the", "the") == 0.0  # both normalise to nothing: no tokens, F1 0
    assert exact_match("the", "the") == 1.0


def test_f1_yes_no_special_case():
    assert f1_score("yes", "no") == 0.0
    assert f1_score("no", "no") == 1.0
    # "yes it is" vs "yes": would be 0.5 by tokens, but the gold is yes/no and they differ.
    assert f1_score("yes it is", "yes") == 0.0
    assert f1_score("yes", "yes it is") == 0.0
    assert f1_score("noanswer", "no answer") == 0.0


async def test_qa_takes_the_best_over_answer_and_aliases():
    result = await check("qa", "the Big Apple", "New York City", aliases=["Big Apple", "NYC"])
    assert result.em == 1.0 and result.f1 == 1.0 and result.correct is True
    assert result.detail["best_gold"] == "Big Apple"
    partial = await check("qa", "New York", "New York City", aliases=["Gotham"])
    assert partial.em == 0.0 and partial.correct is False
    assert partial.f1 == pytest.approx(0.8)  # P 1, R 2/3
    wrong = await check("qa", "Boston", "New York City", aliases=["Big Apple"])
    assert (wrong.em, wrong.f1, wrong.correct) == (0.0, 0.0, False)


# --------------------------------------------------------------------------------------------
# Math: the last number
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("She makes $1,494 in total.", Fraction(1494)),
        ("18.0", Fraction(18)),
        ("It is $18.", Fraction(18)),
        ("7/2 cups", Fraction(7, 2)),
        ("3.50 dollars", Fraction(7, 2)),
        ("from 5 to 12, 7 more", Fraction(7)),
        ("the change is -3", Fraction(-3)),
        ("10-4 = 6", Fraction(6)),
        ("1,2,3", Fraction(3)),  # a list, not a thousands group
        ("no digits here", None),
    ],
)
def test_last_number(text, number):
    assert last_number(text) == number


@pytest.mark.parametrize(
    ("prediction", "gold", "correct"),
    [
        ("Janet makes 9 * 2 = $18 every day. The answer is 18.", "18", True),
        ("#### 1,494", "1494", True),
        ("18.0", "18", True),
        ("The answer is 7/2.", "3.5", True),
        ("She has 18 apples, so 20 in total.", "18", False),
        ("18.5", "18", False),  # exact: no tolerance
        ("The answer is 17.", "18", False),
        ("I don't know.", "18", False),
        ("", "18", False),
    ],
)
async def test_math_compares_the_last_number(prediction, gold, correct):
    result = await check("math", prediction, gold)
    assert result.correct is correct
    assert result.em == result.f1 == float(correct)


async def test_math_detail_names_the_number():
    result = await check("math", "about 20.", "18")
    assert result.detail["number"] == "20" and result.detail["gold"] == "18"


@needs_data("gsm8k/test.jsonl")
async def test_gsm8k_gold_answers_check_against_themselves():
    dataset = load_dataset("gsm8k", SHARED_DATA / "gsm8k")
    for row in dataset.items[:20]:
        assert (await check_prediction(row, f"The answer is {row.answer}.")).correct
        wrong = str(Fraction(row.answer) + 1)
        assert not (await check_prediction(row, f"The answer is {wrong}.")).correct


# --------------------------------------------------------------------------------------------
# Game of 24
# --------------------------------------------------------------------------------------------


async def game24(prediction, numbers=(4, 5, 6, 10)) -> Check:
    return await check("game24", prediction, meta={"numbers": list(numbers)})


@pytest.mark.parametrize(
    ("prediction", "numbers"),
    [
        ("(5 * 4) + 10 - 6", (4, 5, 6, 10)),
        ("(10 - 4) * (13 - 9) = 24", (4, 9, 10, 13)),
        ("4 × (6 − 5) × ... no: 10 × 4 − 6 × 5 − 10\n(10 − 6) × 5 + 4 = 24", (4, 5, 6, 10)),
        ("24 = 8 / (3 - 8 / 3)", (3, 3, 8, 8)),  # 23.999999999999996 in floats
        ("8 ÷ (3 − 8 ÷ 3) = 24", (3, 3, 8, 8)),
        ("Answer: [(10 - 4) x (13 - 9)] = 24.", (4, 9, 10, 13)),
        ("1. 10 - 4 = 6\n2. 13 - 9 = 4\n3. (10 - 4) * (13 - 9) = 6 * 4 = 24", (4, 9, 10, 13)),
        ("$\\frac{8}{3 - \\frac{8}{3}} = 24$", (3, 3, 8, 8)),
    ],
)
async def test_game24_accepts_a_valid_expression(prediction, numbers):
    result = await game24(prediction, numbers)
    assert result.correct is True, result.detail
    assert result.detail["value"] == "24"
    assert sorted(result.detail["used"]) == sorted(numbers)


@pytest.mark.parametrize(
    ("prediction", "numbers", "why"),
    [
        ("4 * 6 = 24", (4, 5, 6, 10), "not each of"),  # numbers missing
        ("(10 - 4) * (6 - 5) * 4 = 24", (4, 5, 6, 10), "not each of"),  # 4 used twice
        ("(4 + 5 + 6) + 10 - 1 = 24", (4, 5, 6, 10), "not each of"),  # an extra number
        ("4 * 5 + 10 - 6 + 1 - 1", (4, 5, 6, 10), "not each of"),
        ("4 + 5 + 6 + 10 = 24", (4, 5, 6, 10), "equals 25"),  # a false claim
        ("23.999 + 0.001 = 24", (4, 5, 6, 10), "only integers"),  # decimals are not allowed
        # within a float tolerance of 24 (1e-7), but not exactly 24
        ("24 + 1 / 10000000 * 1 = 24", (24, 1, 10000000, 1), "equals 240000001/10000000"),
        ("(6 - 6) / 0 + 24", (6, 6, 0, 24), "division by zero"),
        ("4 ** 2 + 8 = 24", (4, 2, 8), "Pow is not allowed"),
        ("(10 // 4) * 6 + 5 = 24", (4, 5, 6, 10), "FloorDiv is not allowed"),
        ("I could not find a solution.", (4, 5, 6, 10), "no arithmetic expression"),
        ("__import__('os').system('exit 24') or 24", (4, 5, 6, 10), "no arithmetic"),
    ],
)
async def test_game24_rejects_invalid_answers(prediction, numbers, why):
    result = await game24(prediction, numbers)
    assert result.correct is False
    assert result.em == result.f1 == 0.0
    assert why in result.detail["error"], result.detail


def test_evaluate_arithmetic_is_exact_and_never_evaluates_code():
    assert evaluate_arithmetic("8 / (3 - 8 / 3)") == (Fraction(24), [8, 3, 8, 3])
    assert evaluate_arithmetic("-(1 - 5) * 6") == (Fraction(24), [1, 5, 6])
    for hostile in ("__import__('os')", "eval('24')", "(lambda: 24)()", "24 if 1 else 0", "0x18"):
        with pytest.raises(ValueError):
            evaluate_arithmetic(hostile)
    with pytest.raises(ZeroDivisionError):
        evaluate_arithmetic("1 / (2 - 2)")
    with pytest.raises(ValueError):
        evaluate_arithmetic("(" * 400 + "1" + ")" * 400)


def test_extract_game24_expression_prefers_the_claimed_solution():
    text = "Try 4 + 5 + 6 + 10 = 25, no.\n(10 - 6) * 5 + 4 = 24\nCheck: 20 + 4 = 24"
    assert extract_game24_expression(text, [4, 5, 6, 10]) == "(10 - 6) * 5 + 4"
    # Without the numbers, the last line claiming 24 wins.
    assert extract_game24_expression(text) == "20 + 4"
    assert extract_game24_expression("(10 - 6) * 5 + 4") == "(10 - 6) * 5 + 4"
    assert extract_game24_expression("24") is None
    assert extract_game24_expression("") is None


# --------------------------------------------------------------------------------------------
# Last letters
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prediction", "correct"),
    [
        ("nkrs", True),
        ('"nkrs".', True),
        ("NKRS", True),  # compared case-insensitively
        (" n k r s ", True),
        ("n, k, r, s", True),  # separators removed
        ("The answer is nkrs.", True),
        ('Last letters: n, k, r, s.\nSo the answer is "nkrs".', True),
        ("nkr", False),
        ("nkrss", False),
        ("srkn", False),
        ("", False),
    ],
)
async def test_letters(prediction, correct):
    result = await check("letters", prediction, "nkrs")
    assert result.correct is correct, result.detail
    assert result.detail["compared"] == "case-insensitive"


# --------------------------------------------------------------------------------------------
# Code: HumanEval and MBPP
# --------------------------------------------------------------------------------------------

TOY_HUMANEVAL = {
    "prompt": "def add(a: int, b: int) -> int:\n    " + '"""Add two numbers."""\n',
    "test": (
        "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(0, 0) == 0\n"
    ),
    "entry_point": "add",
}
TOY_MBPP = {
    "tests": ["assert add(2, 3) == 5", "assert math.isclose(add(0.1, 0.2), 0.3)"],
    "test_imports": ["import math"],
    "entry_point": "add",
}


def test_program_for_builds_both_forms():
    humaneval = program_for(TOY_HUMANEVAL, "def add(a, b):\n    return a + b")
    assert humaneval.endswith("check(add)\n")
    assert humaneval.index("def add(a, b)") < humaneval.index("def check(candidate)")
    mbpp = program_for(TOY_MBPP, "def add(a, b):\n    return a + b")
    assert mbpp.startswith("import math\n")
    assert mbpp.index("return a + b") < mbpp.index("assert add(2, 3) == 5")
    assert "check(" not in mbpp
    raw_row = {"test_list": TOY_MBPP["tests"], "test_imports": [], "entry_point": "add"}
    assert "assert add(2, 3) == 5" in program_for(raw_row, "pass")
    with pytest.raises(ConfigurationError):
        program_for({"entry_point": "add"}, "pass")


async def test_run_tests_reports_pass_failure_and_timeout():
    good = await run_tests(TOY_MBPP, "def add(a, b):\n    return a + b")
    assert good["passed"] is True and good["returncode"] == 0 and not good["timed_out"]
    bad = await run_tests(TOY_MBPP, "def add(a, b):\n    return a - b")
    assert bad["passed"] is False and "AssertionError" in bad["stderr"]
    slow = await run_tests(TOY_HUMANEVAL, "def add(a, b):\n    while True: pass", 1.0)
    assert slow["passed"] is False and slow["timed_out"] is True and slow["returncode"] is None


@pytest.mark.parametrize(
    "ending", ["import unittest\n    unittest.main()", "import sys\n    sys.exit(0)"]
)
@pytest.mark.parametrize("task", [TOY_HUMANEVAL, TOY_MBPP], ids=["humaneval", "mbpp"])
async def test_a_candidate_that_exits_before_the_checks_fails(task, ending):
    from langgraph_gram.eval.code import make_scorer

    wrong = f"def add(a, b):\n    return 0\n\nif __name__ == '__main__':\n    {ending}\n"
    result = await run_tests(task, wrong)
    assert result["returncode"] == 0 and result["passed"] is False
    assert await make_scorer(task, [])("Add?", wrong) == 0.0
    assert await make_scorer(task, [], visible_only=True)("Add?", wrong) == 0.0


def test_assemble_and_extract_code():
    assert extract_code("Sure:\n```python\nx = 1\n```") == "x = 1"
    body = "    return a + b"
    assert assemble(TOY_HUMANEVAL, body, {})["how"] == "completion"
    # MBPP has no prompt to complete: an indented body stays as it is.
    assert assemble(TOY_MBPP, body, {}) == {"code": body, "how": "missing"}


async def test_code_check_uses_helpers_from_the_tree():
    answer = "```python\ndef add(a, b):\n    return plus(a, b)\n```"
    tree = {"0": {"answer": answer}, "0.1": {"answer": "def plus(x, y):\n    return x + y"}}
    meta = TOY_HUMANEVAL
    with_tree = await check_prediction(item("code", meta=meta), answer, tree=tree)
    assert with_tree.correct is True and with_tree.detail["code_from"] == "answer+helpers"
    without = await check_prediction(item("code", meta=meta), answer)
    assert without.correct is False and "NameError" in without.detail["stderr"]


async def test_code_check_rejects_empty_and_timed_out_code():
    empty = await check_prediction(item("code", meta=TOY_MBPP), "")
    assert empty.correct is False and empty.detail["error"] == "no code in the prediction"
    loop = "def add(a, b):\n    while True:\n        pass"
    slow = await check_prediction(item("code", meta=TOY_MBPP), loop, time_limit=1.0)
    assert slow.correct is False and slow.detail["timed_out"] is True


@needs_data("humaneval/HumanEval.jsonl")
async def test_humaneval_canonical_solution_passes_and_a_wrong_one_fails():
    dataset = load_dataset("humaneval", SHARED_DATA / "humaneval")
    task = next(i for i in dataset.items if i.id == "HumanEval/2")  # truncate_number
    canonical = task.answer  # an indented body: completed with the prompt
    passed = await check_prediction(task, canonical)
    assert passed.correct is True, passed.detail
    assert passed.detail["code_from"] == "completion" and passed.em == 1.0
    full = f"```python\n{task.meta['prompt']}{canonical}```"
    assert (await check_prediction(task, full)).correct is True
    wrong = "def truncate_number(number: float) -> float:\n    return number // 1.0"
    failed = await check_prediction(task, wrong)
    assert failed.correct is False and failed.em == 0.0
    assert "AssertionError" in failed.detail["stderr"]


@needs_data("mbpp/mbpp_sanitized_427.jsonl")
async def test_mbpp_reference_code_passes_and_a_wrong_one_fails():
    dataset = load_dataset("mbpp", SHARED_DATA / "mbpp")
    task = next(i for i in dataset.items if i.meta["test_imports"])  # needs its test imports
    assert task.meta["entry_point"] in task.answer
    passed = await check_prediction(task, f"```python\n{task.answer}\n```")
    assert passed.correct is True, passed.detail
    entry = task.meta["entry_point"]
    failed = await check_prediction(task, f"def {entry}(*args):\n    return None")
    assert failed.correct is False
    assert failed.detail["returncode"] not in (0, None)


# --------------------------------------------------------------------------------------------
# Blocksworld plans
# --------------------------------------------------------------------------------------------

PLAN_META = {  # a = red, b = blue, c = orange; blue on red; goal: red on orange
    "blocks": ["red block", "blue block", "orange block"],
    "init_facts": [
        ["handempty"],
        ["ontable", "a"],
        ["ontable", "c"],
        ["on", "b", "a"],
        ["clear", "b"],
        ["clear", "c"],
    ],
    "goal_facts": [["on", "a", "c"]],
}
GOOD_PLAN = (
    "unstack the blue block from on top of the red block; put down the blue block; "
    "pick up the red block; stack the red block on top of the orange block"
)


async def test_plan_valid_and_invalid():
    good = await check("plan", GOOD_PLAN, meta=PLAN_META)
    assert good.correct is True and good.em == 1.0
    assert good.detail["plan"] == ["(unstack b a)", "(put-down b)", "(pick-up a)", "(stack a c)"]
    inapplicable = await check("plan", "pick up the red block", meta=PLAN_META)
    assert inapplicable.correct is False and "not applicable" in inapplicable.detail["error"]
    short = await check("plan", "(unstack b a) (put-down b)", meta=PLAN_META)
    assert short.correct is False and short.detail["error"].startswith("goal not reached")


@needs_data("blocksworld/blocksworld_602.jsonl")
async def test_blocksworld_gold_plan_is_valid_and_a_broken_one_is_not():
    dataset = load_dataset("blocksworld", SHARED_DATA / "blocksworld")
    for task in dataset.items[:30]:
        assert (await check_prediction(task, task.answer)).correct, task.id
        steps = task.answer.split("; ")
        broken = "; ".join(steps[1:])  # the first action skipped
        result = await check_prediction(task, broken)
        assert result.correct is False, task.id
        assert result.detail["error"]


@needs_data("blocksworld/blocksworld_602.jsonl")
def test_library_simulator_agrees_with_the_pddl_gold_plans():
    rows = [json.loads(line) for line in (SHARED_DATA / "blocksworld/blocksworld_602.jsonl").open()]
    for row in rows[::50]:
        actions = parse_plan(" ".join(row["gold_plan_pddl"]))
        assert [a.pddl() for a in actions] == row["gold_plan_pddl"]
        assert validate(row["init_facts"], row["goal_facts"], actions).valid


# --------------------------------------------------------------------------------------------
# Garbage never raises
# --------------------------------------------------------------------------------------------

GARBAGE = [None, "", "   ", 12345, "x" * 200_000, "(" * 50_000, "1," * 50_000, "\x00\x01\ufffd"]
KINDS = {
    "qa": {},
    "math": {},
    "game24": {"numbers": [4, 5, 6, 10]},
    "letters": {},
    "plan": PLAN_META,
    "code": TOY_MBPP,
}


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_garbage_predictions_are_wrong_not_errors(kind):
    answer = "18" if kind == "math" else "nkrs"
    for prediction in GARBAGE:
        if kind == "code" and prediction not in (None, "", "\x00\x01\ufffd"):
            continue  # each code check starts a subprocess; three cases are enough
        result = await check(kind, prediction, answer, meta=KINDS[kind])
        assert result.correct is False and result.em == 0.0 and result.f1 == 0.0


async def test_unknown_kind_and_missing_meta_are_configuration_errors():
    with pytest.raises(ConfigurationError):
        await check("poetry", "x")
    with pytest.raises(ConfigurationError):
        await check("game24", "4 * 6", meta={})
    with pytest.raises(ConfigurationError):
        await check("plan", "pick up the red block", meta={"blocks": []})


def test_code_ran_lists_the_newest_code_first():
    from langgraph_gram.eval.code import code_ran

    steps = [
        {"action": "python", "input": "def f():\n    return 1"},
        {"action": "search", "input": "def f(): no"},
        {"action": "python", "input": {"code": "def f():\n    return 2"}},
        {"action": "python", "input": "   "},
    ]
    nodes = code_ran(steps)
    assert nodes == {
        "ran.001": {"answer": "def f():\n    return 2"},
        "ran.002": {"answer": "def f():\n    return 1"},
    }
    assert assemble({"entry_point": "f", "tests": []}, "f()", nodes)["code"].endswith("return 2")


async def test_the_visible_scorer_runs_only_the_checks_the_question_shows():
    from langgraph_gram.eval.code import make_scorer

    mbpp = {
        "tests": ["assert inc(1) == 2", "assert inc(5) == 6"],  # the second is hidden
        "test_imports": [],
        "entry_point": "inc",
    }
    only_first = "def inc(x):\n    return 2"
    log: list = []
    visible = make_scorer(mbpp, log, visible_only=True)
    graded = make_scorer(mbpp, [])
    assert await visible("q", only_first) == 1.0
    assert await graded("q", only_first) == 0.0
    assert await visible("q", "def inc(x):\n    return x") == 0.0
    assert [entry["score"] for entry in log] == [1.0, 0.0]


async def test_the_visible_scorer_runs_a_humaneval_prompts_examples():
    from langgraph_gram.eval.code import make_scorer, visible_program

    prompt = 'def add(a: int, b: int) -> int:\n    """Add.\n    >>> add(2, 3)\n    5\n    """\n'
    test = "def check(f):\n    assert f(1, 1) == 2\n"
    task = {"prompt": prompt, "test": test, "entry_point": "add"}
    scorer = make_scorer(task, [], visible_only=True)
    assert await scorer("q", "def add(a, b):\n    return a + b") == 1.0
    assert await scorer("q", "def add(a, b):\n    return a * b") == 0.0  # 6, not 5
    assert "check(" not in visible_program(task, "def add(a, b):\n    return a + b")
    # No examples in the prompt: a definition that runs is all that can be checked.
    bare = {**task, "prompt": 'def add(a: int, b: int) -> int:\n    """Add."""\n'}
    bare_scorer = make_scorer(bare, [], visible_only=True)
    assert await bare_scorer("q", "def add(a, b):\n    return 0") == 1.0
    assert await bare_scorer("q", "def add(a, b):\n    return (") == 0.0
