"""The examples under ``examples/``: each ``run(...)`` with a scripted fake model.

Real tools run here (BM25 search over ``examples/data``, the exact calculator, sandboxed Python
subprocesses); only the model is fake. The blocksworld validator is also tested on its own.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import re
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
from fakes import answer, scripted, subproblems
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, HumanMessage

from langgraph_gram import Budget

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def load(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` under a private module name (``_common`` from its folder)."""
    if str(EXAMPLES) not in sys.path:
        sys.path.append(str(EXAMPLES))
    module_name = f"gram_example_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def act(action: str, value: str) -> str:
    return json.dumps({"reasoning": "r", "action": action, "input": value})


def is_act(messages) -> bool:
    return str(messages[-1].content).startswith("Task: ACT")


def observations(messages) -> list[str]:
    """The quoted tool outputs in the last user message."""
    return re.findall(r"<<<\n(.*?)\n>>>", str(messages[-1].content), re.DOTALL)


def reader(kind, question, messages):
    """Plans the founder -> birth city question in two hops; reads answers from passages."""
    user = str(messages[-1].content)
    if kind == "decompose":
        if question.startswith("In which city was the founder of"):
            company = re.search(r"founder of (.+?) born", question).group(1)
            return subproblems((f"Who founded {company}?", []), ("In which city was #1 born?", [0]))
        return subproblems()
    if kind == "aggregate":
        return answer(user.split("-> ")[-1].split("\n")[0])
    if "founded" in question:
        found = re.search(r"founded in \d+ by ([A-Z]\w+ [A-Z]\w+)", user)
    else:
        found = re.search(r"born \d+ in ([A-Z]\w+)", user)
    value = found.group(1) if found else "unknown"
    return act("answer", value) if is_act(messages) else answer(value)


# --------------------------------------------------------------------------------------------
# multihop_qa
# --------------------------------------------------------------------------------------------


async def test_multihop_answers_from_the_tiny_corpus_with_citations():
    multihop = load("multihop_qa")
    model = scripted(reader)
    result = await multihop.run(model, question=multihop.DEFAULT_QUESTION, gold="Harrowgate")
    assert result["answer"] == "Harrowgate"
    assert result["correct"] is True
    ids = [s["id"] for s in result["sources"]]
    assert ids[:2] == ["c3", "p4"]  # Brightwell Foods, then Corin Vale
    # The second hop searched with the first hop's answer substituted in.
    assert [s["query"] for s in result["searches"]] == [
        "Who founded Brightwell Foods?",
        "In which city was Corin Vale born?",
    ]
    assert result["tree"]["0"]["children"] == ["0.1", "0.2"]
    assert result["stopped_by"] is None
    assert result["usage"]["llm_calls"] == len(model.calls)


async def test_multihop_reads_the_question_and_gold_from_the_questions_file():
    multihop = load("multihop_qa")
    result = await multihop.run(scripted(reader), index=1)
    assert result["question"] == "In which city was the founder of Brightwell Foods born?"
    assert result["gold"] == "Harrowgate"
    assert result["correct"] is True


async def test_multihop_reports_a_wrong_answer_as_incorrect():
    multihop = load("multihop_qa")

    def guesser(kind, question, messages):
        if kind == "decompose":
            return subproblems()
        return act("answer", "Saltreach") if is_act(messages) else answer("Saltreach")

    result = await multihop.run(
        scripted(guesser), question=multihop.DEFAULT_QUESTION, gold="Harrowgate"
    )
    assert result["answer"] == "Saltreach"
    assert result["correct"] is False


async def test_multihop_hotpotqa_mode_searches_the_items_own_paragraphs(tmp_path):
    multihop = load("multihop_qa")
    item = {
        "_id": "x1",
        "question": "In which city was the founder of Zorvane Mills born?",
        "answer": "Quellport",
        "context": [
            ["Zorvane Mills", ["Zorvane Mills is a mill ", "founded in 1901 by Tibor Anselm."]],
            ["Tibor Anselm", ["Tibor Anselm (born 1870 in Quellport) was a miller."]],
            ["Distractor", ["Nothing to see here."]],
        ],
    }
    folder = tmp_path / "hotpotqa"
    folder.mkdir()
    (folder / "hotpotqa_dev_distractor_200.jsonl").write_text(json.dumps(item) + "\n")
    result = await multihop.run(scripted(reader), hotpotqa=True, index=0, data=tmp_path)
    assert result["question"] == item["question"]
    assert result["answer"] == "Quellport"
    assert result["correct"] is True
    assert [s["title"] for s in result["sources"]][:2] == ["Zorvane Mills", "Tibor Anselm"]


# --------------------------------------------------------------------------------------------
# math_calculator
# --------------------------------------------------------------------------------------------


def bakery(kind, question, messages):
    """Two steps, each computed by calling the calculator and answering with its output."""
    user = str(messages[-1].content)
    if kind == "decompose":
        if "bakery take in" in question:
            return subproblems(
                ("How many muffins does the bakery sell per day?", []),
                ("How many dollars does it take in over 6 days at $3 per muffin?", [0]),
            )
        return subproblems()
    if kind == "aggregate":
        return answer(user.split("-> ")[-1].split("\n")[0])
    seen = observations(messages)
    if seen:
        return act("answer", seen[-1].strip())
    if "per day" in question:
        return act("calculator", "48 + 35")
    per_day = re.search(r"-> (\d+)", user).group(1)
    return act("calculator", f"{per_day} * 3 * 6")


async def test_math_uses_the_calculator_for_each_step():
    math = load("math_calculator")
    result = await math.run(scripted(bakery))
    assert result["question"] == math.DEFAULT_QUESTION
    assert result["answer"] == "1494"
    assert result["correct"] is True
    assert [(c["node"], c["input"]) for c in result["calculator_calls"]] == [
        ("0.1", "48 + 35"),
        ("0.2", "83 * 3 * 6"),
    ]
    assert not any(c["error"] for c in result["calculator_calls"])
    # The system prompt steers leaves to the calculator.
    assert "call calculator" in str(math.PROMPTS.act_section)


async def test_math_without_the_calculator_is_checked_against_gold():
    math = load("math_calculator")

    def guesser(kind, question, messages):
        if kind == "decompose":
            return subproblems()
        return act("answer", "$1,500") if is_act(messages) else answer("$1,500")

    result = await math.run(scripted(guesser))
    assert result["calculator_calls"] == []
    assert result["number"] == "1500"
    assert result["correct"] is False


async def test_math_reads_a_gsm8k_item(tmp_path):
    math = load("math_calculator")
    folder = tmp_path / "gsm8k"
    folder.mkdir()
    row = {"question": "Tom has 3 bags of 12 apples. How many apples?", "answer": "x\n#### 36"}
    (folder / "test.jsonl").write_text(json.dumps(row) + "\n")

    def script(kind, question, messages):
        if kind == "decompose":
            return subproblems()
        seen = observations(messages)
        if seen:
            return act("answer", f"{seen[-1].strip()} apples")
        return act("calculator", "3 * 12")

    result = await math.run(scripted(script), gsm8k=0, data=tmp_path)
    assert result["gold"] == "36"
    assert result["answer"] == "36 apples"
    assert result["correct"] is True
    assert [c["input"] for c in result["calculator_calls"]] == ["3 * 12"]


def test_last_number_reads_formatted_numbers():
    common = load("_common")
    assert common.last_number("It makes $1,494.") == 1494
    assert common.last_number("7/2 = 3.5") == 3.5
    assert common.last_number("no digits") is None


# --------------------------------------------------------------------------------------------
# codegen_tests
# --------------------------------------------------------------------------------------------

TASK = {
    "task_id": "Toy/0",
    "entry_point": "sum_of_squares",
    "prompt": (
        "from typing import List\n\n\n"
        "def sum_of_squares(numbers: List[int]) -> int:\n"
        '    """Return the sum of the squares of the numbers.\n'
        "    >>> sum_of_squares([1, 2])\n"
        "    5\n"
        '    """\n'
    ),
    "test": (
        "def check(candidate):\n"
        "    assert candidate([1, 2]) == 5\n"
        "    assert candidate([]) == 0\n"
        "    assert candidate([-3, 4]) == 25\n"
    ),
}
HELPER = "def square(x):\n    return x * x"
RIGHT = "def sum_of_squares(numbers):\n    return sum(square(n) for n in numbers)"
WRONG = "def sum_of_squares(numbers):\n    return sum(numbers)"
INLINE_RIGHT = "def sum_of_squares(numbers):\n    return sum(n * n for n in numbers)"


def coder(final: str, *, helper: str = HELPER, run_helper: bool = True):
    """Plans a helper and the main function; the combine step answers ``final``."""

    def script(kind, question, messages):
        if kind == "decompose":
            if "Write the complete Python code" in question:
                return subproblems(
                    ("Write a helper function square(x) that returns x * x.", []),
                    ("Write sum_of_squares(numbers) using square from #1.", [0]),
                )
            return subproblems()
        if kind == "aggregate":
            return answer(f"```python\n{final}\n```")
        if "helper" in question:
            if is_act(messages) and run_helper and not observations(messages):
                return act("python", helper + "\nprint(square(3))")
            return act("answer", helper) if is_act(messages) else answer(helper)
        return act("answer", RIGHT) if is_act(messages) else answer(RIGHT)

    return scripted(script)


async def test_codegen_passes_when_the_model_writes_a_correct_function():
    codegen = load("codegen_tests")
    result = await codegen.run(coder(HELPER + "\n\n\n" + RIGHT), task=TASK)
    assert result["passed"] is True
    assert result["test"]["returncode"] == 0
    assert result["code_from"] == "answer"
    assert "def square" in result["code"]
    # The helper leaf ran its code with the python tool first.
    assert [c["node"] for c in result["python_calls"]] == ["0.1"]


async def test_codegen_adds_helpers_written_at_other_leaves():
    codegen = load("codegen_tests")
    result = await codegen.run(coder(RIGHT), task=TASK)  # the combine step forgot the helper
    assert result["code_from"] == "answer+helpers"
    assert result["passed"] is True


async def test_codegen_fails_when_the_model_writes_a_wrong_function():
    codegen = load("codegen_tests")
    result = await codegen.run(coder(WRONG), task=TASK)
    assert result["passed"] is False
    assert result["test"]["returncode"] == 1
    assert "AssertionError" in result["test"]["stderr"]


async def test_codegen_fails_without_any_definition():
    codegen = load("codegen_tests")
    result = await codegen.run(coder("I cannot do that."), task=TASK)
    assert result["code_from"] == "missing" or result["passed"] is False
    assert result["passed"] is False


async def test_codegen_scorer_picks_the_candidate_that_passes_the_tests():
    codegen = load("codegen_tests")
    solves = []

    def script(kind, question, messages):
        if kind == "decompose":
            return subproblems()
        solves.append(question)
        # Two samples per leaf: the first is wrong, the second right.
        return answer(WRONG if len(solves) % 2 else INLINE_RIGHT)

    result = await codegen.run(scripted(script), task=TASK, width=2, with_python_tool=False)
    assert len(solves) == 2
    assert sorted(s["score"] for s in result["scorer_calls"]) == [0.0, 1.0]
    assert result["tree"]["0"]["answer"] == INLINE_RIGHT
    assert result["passed"] is True


def test_extract_code_and_assemble():
    codegen = load("codegen_tests")
    assert codegen.extract_code("Here:\n```python\nx = 1\n```\nDone") == "x = 1"
    assert codegen.extract_code("```python\nx = 1") == "x = 1"
    body = "    return sum(n * n for n in numbers)"
    built = codegen.assemble(TASK, body, {})
    assert built["how"] == "completion" and built["code"].startswith(TASK["prompt"])


async def test_codegen_check_runs_the_tests_in_a_subprocess():
    codegen = load("codegen_tests")
    assert (await codegen.check(TASK, INLINE_RIGHT))["passed"] is True
    failing = await codegen.check(TASK, WRONG)
    assert failing["passed"] is False and "AssertionError" in failing["stderr"]
    slow = await codegen.check(TASK, "def sum_of_squares(n):\n    while True: pass", 1.0)
    assert slow["passed"] is False and slow["timed_out"] is True


# --------------------------------------------------------------------------------------------
# blocksworld_plan
# --------------------------------------------------------------------------------------------

# Three blocks (a = red, b = blue, c = orange): the blue block is on the red block; the red and
# orange blocks are on the table. Goal: the red block on top of the orange block.
INSTANCE = {
    "id": "toy-1",
    "blocks": ["red block", "blue block", "orange block"],
    "init": "the blue block is clear, the orange block is clear, the hand is empty, the blue "
    "block is on top of the red block, the red block is on the table and the orange block is "
    "on the table",
    "goal": "the red block is on top of the orange block",
    "init_facts": [
        ["handempty"],
        ["ontable", "a"],
        ["ontable", "c"],
        ["on", "b", "a"],
        ["clear", "b"],
        ["clear", "c"],
    ],
    "goal_facts": [["on", "a", "c"]],
    "optimal_plan_length": 4,
}
VALID_PLAN = (
    "unstack the blue block from on top of the red block; put down the blue block; "
    "pick up the red block; stack the red block on top of the orange block"
)


def test_validator_accepts_a_valid_plan():
    bw = load("blocksworld_plan")
    actions = bw.parse_plan(VALID_PLAN, INSTANCE["blocks"])
    assert [a.pddl() for a in actions] == [
        "(unstack b a)",
        "(put-down b)",
        "(pick-up a)",
        "(stack a c)",
    ]
    check = bw.validate(INSTANCE["init_facts"], INSTANCE["goal_facts"], actions)
    assert check.valid and check.executable and check.reached_goal
    assert check.steps_ok == 4 and check.error is None
    assert ("on", "a", "c") in check.state and ("handempty",) in check.state


def test_validator_rejects_an_inapplicable_action():
    bw = load("blocksworld_plan")
    # The red block is under the blue one: it cannot be picked up first.
    actions = bw.parse_plan("pick up the red block, stack the red block on the orange block")
    check = bw.validate(INSTANCE["init_facts"], INSTANCE["goal_facts"], actions)
    assert not check.valid and not check.executable
    assert check.steps_ok == 0
    assert check.error.startswith("step 1: (pick-up a) is not applicable: (clear a)")


def test_validator_rejects_a_plan_that_stops_short_of_the_goal():
    bw = load("blocksworld_plan")
    actions = bw.parse_plan("(unstack b a) (put-down b)")
    check = bw.validate(INSTANCE["init_facts"], INSTANCE["goal_facts"], actions)
    assert check.executable and not check.reached_goal and not check.valid
    assert check.missing_goals == [("on", "a", "c")]


@pytest.mark.parametrize(
    ("plan", "error"),
    [
        ("(unstack b a) (stack b b)", "cannot be stacked on itself"),
        ("(unstack b a) (pick-up c)", "(handempty) is false (holding b)"),
        ("(put-down a)", "(holding a) is false"),
        ("(unstack a b)", "(on a b), (clear a) is false"),
    ],
)
def test_validator_checks_every_precondition(plan, error):
    bw = load("blocksworld_plan")
    check = bw.validate(INSTANCE["init_facts"], INSTANCE["goal_facts"], bw.parse_plan(plan))
    assert not check.valid and error in check.error


def test_parser_reads_plan_variants():
    bw = load("blocksworld_plan")
    text = (
        "1. Unstack the blue block from the red block\n2. Put-down the blue block\n"
        "3. PICKUP the red block\n4. stack the red block onto the orange block\n5. dance"
    )
    assert [a.pddl() for a in bw.parse_plan(text)] == [
        "(unstack b a)",
        "(put-down b)",
        "(pick-up a)",
        "(stack a c)",
    ]
    assert bw.parse_plan("stack the purple block on the red block") == []


@pytest.mark.skipif(
    not (SHARED_DATA / "blocksworld" / "blocksworld_602.jsonl").is_file(),
    reason="shared blocksworld data not present",
)
def test_validator_accepts_every_gold_plan_and_rejects_truncated_ones():
    bw = load("blocksworld_plan")
    rows = [json.loads(line) for line in (SHARED_DATA / bw.BLOCKSWORLD_FILE).open()]
    for row in rows[:100]:
        actions = bw.parse_plan("\n".join(row["gold_plan_nl"]), row["blocks"])
        assert len(actions) == row["optimal_plan_length"]
        assert bw.validate(row["init_facts"], row["goal_facts"], actions).valid, row["id"]
        assert not bw.validate(row["init_facts"], row["goal_facts"], actions[:-1]).valid


async def test_blocksworld_run_validates_the_models_plan():
    bw = load("blocksworld_plan")

    def planner(plan):
        def script(kind, question, messages):
            if kind == "decompose":
                return subproblems()
            assert "Initial state: the blue block is clear" in question
            return answer(plan)

        return scripted(script)

    good = await bw.run(planner(VALID_PLAN), instance=INSTANCE)
    assert good["valid"] is True and good["check"]["error"] is None
    assert good["plan"] == ["(unstack b a)", "(put-down b)", "(pick-up a)", "(stack a c)"]
    bad_plan = "pick up the red block; stack the red block on the orange block"
    bad = await bw.run(planner(bad_plan), instance=INSTANCE)
    assert bad["valid"] is False
    assert "not applicable" in bad["check"]["error"]


# --------------------------------------------------------------------------------------------
# agent_with_gram_tool
# --------------------------------------------------------------------------------------------


class RecordingAgentModel(FakeMessagesListChatModel):
    """Scripted agent turns; records each turn's ``tool_choice`` and messages."""

    choices: list = []
    seen: list = []

    def bind_tools(self, tools, *, tool_choice=None, **kwargs):
        self.choices.append(tool_choice)
        return self

    def bind(self, **kwargs):  # a turn without tools
        self.choices.append("(no tools)")
        return self

    async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs):
        self.seen.append(list(messages))
        return await super()._agenerate(messages, stop=stop, run_manager=run_manager, **kwargs)


def agent_model():
    call = {
        "name": "deep_reason",
        "args": {"question": "In which city was the founder of Brightwell Foods born?"},
        "id": "t1",
    }
    return RecordingAgentModel(
        responses=[AIMessage("", tool_calls=[call]), AIMessage("Harrowgate, per [p4].")],
        choices=[],
        seen=[],
    )


async def test_agent_calls_the_gram_tool_first():
    agent = load("agent_with_gram_tool")
    model = agent_model()
    gram_model = scripted(reader)
    result = await agent.run(model, gram_model=gram_model)
    assert result["gram_called"] is True
    assert result["gram_calls"] == ["In which city was the founder of Brightwell Foods born?"]
    assert result["gram_answer"].startswith("Harrowgate\nSources: [c3] Brightwell Foods")
    assert result["answer"] == "Harrowgate, per [p4]."
    assert result["tree"]["0"]["children"] == ["0.1", "0.2"]
    assert gram_model.calls, "GRAM's own model was used"
    # The first turn was forced to the GRAM tool; the reply after its answer had no tools.
    assert model.choices == ["deep_reason", "(no tools)"]
    assert [kind for kind, _ in result["messages"]] == ["human", "ai", "tool", "ai"]
    # The tool-call turn is sent back with non-empty content (llama-cpp-python rejects null).
    sent_back = model.seen[1]
    assert [m.type for m in sent_back] == ["system", "human", "ai", "tool"]
    assert sent_back[2].content == " " and sent_back[2].tool_calls
    assert sent_back[3].content.startswith("Harrowgate")


async def test_agent_without_forcing_leaves_tool_choice_to_the_model():
    agent = load("agent_with_gram_tool")
    model = agent_model()
    result = await agent.run(model, gram_model=scripted(reader), force_first=False)
    assert model.choices == [None, None]
    assert result["gram_called"] is True


def test_stand_in_chat_model_binds_forced_tool_calls_and_reads_them():
    agent = load("agent_with_gram_tool")
    chat = agent.OpenAICompatibleChat(base_url="http://127.0.0.1:9/v1", model="m")
    from langgraph_gram import make_gram_tool

    gram = make_gram_tool(scripted(reader))
    bound = chat.bind_tools([gram], tool_choice="deep_reason")
    assert bound.kwargs["tool_choice"] == {"type": "function", "function": {"name": "deep_reason"}}
    assert bound.kwargs["tools"][0]["function"]["name"] == "deep_reason"
    response = SimpleNamespace(
        choices=[
            SimpleNamespace(
                message=SimpleNamespace(
                    content=None,
                    tool_calls=[
                        SimpleNamespace(
                            id="call_1",
                            function=SimpleNamespace(
                                name="deep_reason", arguments='{"question": "Q?"'
                            ),
                        )
                    ],
                )
            )
        ],
        usage=SimpleNamespace(prompt_tokens=10, completion_tokens=5, total_tokens=15),
    )
    message = chat._result(response).generations[0].message
    assert message.tool_calls[0]["name"] == "deep_reason"
    assert message.tool_calls[0]["args"] == {"question": "Q?"}  # repaired JSON
    assert message.usage_metadata["total_tokens"] == 15


# --------------------------------------------------------------------------------------------
# gram_as_node
# --------------------------------------------------------------------------------------------


async def test_gram_as_a_node_appends_its_answer_then_the_formatted_reply():
    node = load("gram_as_node")
    result = await node.run(scripted(reader))
    assert result["route"] == "gram"
    assert result["answer"] == "Harrowgate"
    kinds = [(kind, name) for kind, name, _ in result["messages"]]
    assert kinds == [("human", None), ("ai", "gram"), ("ai", "formatter")]
    gram_message = result["messages"][1][2]
    assert gram_message.startswith("Harrowgate\n\nSources: [c3] Brightwell Foods")
    assert result["reply"].startswith("Answer: Harrowgate\nSources: [c3] Brightwell Foods")
    assert "(GRAM: 3 nodes, 4 calls)" in result["reply"]
    assert result["stopped_by"] is None


async def test_gram_as_a_node_routes_arithmetic_to_the_calculator():
    node = load("gram_as_node")
    model = scripted(reader)
    result = await node.run(model, question="(17 + 4) * 3")
    assert result["route"] == "calculator"
    assert result["answer"] == "63"
    assert result["reply"] == "Answer: 63\n(calculator)"
    assert model.calls == []  # GRAM was not run


async def test_gram_node_keeps_its_budget_derived_recursion_limit():
    node = load("gram_as_node")

    def wide(kind, question, messages):
        if kind == "decompose":
            return subproblems(*((f"{question} part{i}", [i - 1] if i else []) for i in range(3)))
        return act("answer", "x") if is_act(messages) else answer("x")

    budget = Budget(max_depth=2, max_children=3, max_llm_calls=60, max_tool_calls=0)
    result = await node.run(scripted(wide), budget=budget)
    assert len(result["tree"]) == 13  # 1 + 3 + 9 nodes, one after the other
    assert result["usage"]["rounds"] * 2 > 25  # more steps than LangGraph's default limit
    assert result["stopped_by"] is None
    # A recursion_limit the caller sets on the parent binds GRAM's steps too.
    graph = node.build_graph(scripted(wide), budget=budget)
    state = await graph.ainvoke(
        {"messages": [HumanMessage(node.DEFAULT_QUESTION)]}, config={"recursion_limit": 25}
    )
    assert state["stopped_by"] == "recursion_limit"
    assert state["messages"][-1].name == "formatter"


# --------------------------------------------------------------------------------------------
# every example
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "multihop_qa",
        "math_calculator",
        "codegen_tests",
        "blocksworld_plan",
        "agent_with_gram_tool",
        "gram_as_node",
    ],
)
def test_every_example_has_run_and_main(name):
    module = load(name)
    assert callable(module.main)
    assert inspect.iscoroutinefunction(module.run)
    assert next(iter(inspect.signature(module.run).parameters)) == "model"
    with pytest.raises(SystemExit) as stop:
        module.main(["--help"])
    assert stop.value.code == 0
