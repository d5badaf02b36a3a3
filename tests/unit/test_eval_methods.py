"""The evaluation methods and the resumable runner, on fake chat models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes import answer, scripted, subproblems

from langgraph_gram import Budget
from langgraph_gram.errors import (
    ConfigurationError,
    EndpointUnreachableError,
    MalformedOutputError,
)
from langgraph_gram.eval.datasets import Dataset, EvalItem, load_questions, select
from langgraph_gram.eval.methods import METHODS, MethodEnv, vote_key
from langgraph_gram.eval.runner import (
    EvalRun,
    MethodSpec,
    default_tools,
    parse_method,
    parse_methods,
    parse_sweep,
    run_eval,
)
from langgraph_gram.llm import as_structured_llm

PASSAGES = [
    {"id": "p1", "title": "Qarvex Labs", "text": "Qarvex Labs was founded by Ilmo Trastive."},
    {"id": "p2", "title": "Ilmo Trastive", "text": "Ilmo Trastive was born in Pelvoran."},
    {"id": "p3", "title": "Ostra", "text": "The Ostra is a river."},
]
ITEM = EvalItem(
    id="x1",
    question="In which city was the founder of Qarvex Labs born?",
    answer="Pelvoran",
    passages=PASSAGES,
)


def user_text(messages) -> str:
    return str(messages[-1].content)


def env_for(model, item=ITEM, **kw):
    tools = default_tools(Dataset("t", [item]), item, top_k=2)
    return MethodEnv(as_structured_llm(model), tools, **kw)


async def test_direct_retrieves_then_answers_in_one_call():
    model = scripted(lambda kind, q, m: json.dumps({"answer": "Pelvoran"}))
    outcome = await METHODS["direct"](ITEM, env_for(model), {})
    assert outcome.prediction == "Pelvoran"
    assert outcome.llm_calls == 1 and outcome.tool_calls == 1
    prompt = user_text(model.calls[0]["messages"])
    assert "Qarvex Labs was founded by Ilmo Trastive" in prompt
    assert outcome.detail["retrieved"][0] == "p1"


async def test_direct_without_passages_makes_no_search():
    item = EvalItem(id="m", question="What is 6 times 7?", answer="42", kind="math")
    model = scripted(lambda kind, q, m: json.dumps({"answer": "42"}))
    env = MethodEnv(as_structured_llm(model), [])
    outcome = await METHODS["direct"](item, env, {})
    assert outcome.prediction == "42" and outcome.tool_calls == 0
    assert "Passages" not in user_text(model.calls[0]["messages"])


async def test_cot_keeps_reasoning_and_answer():
    model = scripted(lambda kind, q, m: answer("Pelvoran"))
    outcome = await METHODS["cot"](ITEM, env_for(model), {})
    assert outcome.prediction == "Pelvoran"
    assert outcome.detail["reasoning"] == "because"
    assert "step by step" in user_text(model.calls[0]["messages"])


async def test_self_consistency_votes_over_normalised_answers():
    replies = iter(["the Pelvoran", "Ostra", "Pelvoran.", "Ostra", "pelvoran"])
    model = scripted(lambda kind, q, m: answer(next(replies)))
    outcome = await METHODS["self_consistency"](ITEM, env_for(model), {"k": 5})
    assert outcome.llm_calls == 5
    assert vote_key(ITEM, outcome.prediction) == "pelvoran"
    assert outcome.detail["votes"]["pelvoran"] == 3


def test_vote_keys_by_kind():
    math = EvalItem(id="m", question="q", answer="18", kind="math")
    assert vote_key(math, "$18.00 in total") == vote_key(math, "18") == "18"
    assert vote_key(math, "1,494") == "1494"
    expr = EvalItem(id="g", question="q", answer="", kind="game24")
    assert vote_key(expr, "(1 + 3) * 6") == vote_key(expr, "(1+3)*6")


def react_script(plan):
    """Reply to each react step with the next scripted action."""
    steps = iter(plan)

    def script(kind, question, messages):
        action, value = next(steps)
        return json.dumps({"reasoning": "r", "action": action, "input": value})

    return scripted(script)


async def test_react_searches_until_it_answers():
    model = react_script(
        [("search", "Qarvex Labs"), ("search", "Ilmo Trastive"), ("answer", "Pelvoran")]
    )
    outcome = await METHODS["react"](ITEM, env_for(model), {})
    assert outcome.prediction == "Pelvoran"
    assert outcome.tool_calls == 2 and outcome.llm_calls == 3
    assert [s["input"] for s in outcome.detail["steps"]] == ["Qarvex Labs", "Ilmo Trastive"]
    last_prompt = user_text(model.calls[-1]["messages"])
    assert "Ilmo Trastive was born in Pelvoran" in last_prompt  # results are shown back


async def test_react_first_step_must_use_a_tool():
    model = react_script([("answer", "Ostra"), ("answer", "Pelvoran")])
    outcome = await METHODS["react"](ITEM, env_for(model), {})
    assert outcome.detail["forced_first_tool"] is True
    assert outcome.tool_calls == 1
    assert outcome.detail["steps"][0]["input"] == ITEM.question
    assert outcome.prediction == "Pelvoran"


async def test_react_stops_after_max_steps_with_an_answer_only_step():
    model = react_script([("search", f"q{i}") for i in range(3)] + [("answer", "Ostra")])
    outcome = await METHODS["react"](ITEM, env_for(model), {"max_steps": 3})
    assert outcome.tool_calls == 3 and outcome.llm_calls == 4
    assert outcome.prediction == "Ostra"
    assert "No tool calls are left" in user_text(model.calls[-1]["messages"])


async def test_gram_method_reports_tree_and_usage():
    def script(kind, question, messages):
        if kind == "decompose":
            if "Qarvex" in question and "founder" in question:
                return subproblems(("Who founded Qarvex Labs?", []), ("Where was #1 born?", [0]))
            return subproblems()
        if kind == "aggregate":
            return answer("Pelvoran")
        return answer("Ilmo Trastive" if "founded" in question else "Pelvoran")

    model = scripted(script)
    outcome = await METHODS["gram"](ITEM, env_for(model, budget=Budget(max_depth=2)), {})
    assert outcome.prediction == "Pelvoran"
    assert outcome.detail["nodes"] == 3
    assert outcome.llm_calls == len(model.calls)
    assert outcome.tool_calls >= 2  # each leaf searched its passages


def test_method_specs_parse_settings_and_sweeps():
    spec = parse_method("gram[width=3,max_depth=2]")
    assert spec.key == "gram[max_depth=2,width=3]"
    assert spec.options() == {"max_depth": 2, "width": 3}
    specs = parse_methods("direct,self_consistency[k=3,temperature=0.5],gram")
    assert [s.key for s in specs] == [
        "direct",
        "self_consistency[k=3,temperature=0.5]",
        "gram",
    ]
    grid = parse_sweep("max_depth=1,2,3 width=1,3")
    assert len(grid) == 6
    assert grid[0].key == "gram[max_depth=1,width=1]"
    assert grid[-1].options() == {"max_depth": 3, "width": 3}
    with pytest.raises(ConfigurationError):
        parse_method("magic")
    with pytest.raises(ConfigurationError):
        parse_method("gram[width]")
    with pytest.raises(ConfigurationError):
        parse_sweep("width")


def test_select_limits_per_type():
    items = [EvalItem(id=str(i), question="q", answer="a", type=f"t{i % 3}") for i in range(12)]
    chosen = select(items, per_type=2)
    assert [i.id for i in chosen] == ["0", "1", "2", "3", "4", "5"]
    assert [i.id for i in select(items, types=["t1"], limit=2)] == ["1", "4"]


def write_questions(tmp_path: Path) -> Path:
    path = tmp_path / "q.jsonl"
    rows = [
        {"id": "a", "question": "Where was Ilmo Trastive born?", "answer": "Pelvoran"},
        {"id": "b", "question": "Who founded Qarvex Labs?", "answer": "Ilmo Trastive"},
        {"id": "c", "question": "What is the Ostra?", "answer": "a river", "aliases": ["river"]},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("\n".join(json.dumps(p) for p in PASSAGES) + "\n")
    return path


class FlakyModel:
    """A StructuredLLM that fails for questions containing ``fail_on``."""

    def __init__(self, fail_on: str | None) -> None:
        self.fail_on = fail_on
        self.questions: list[str] = []

    async def generate_json(self, messages, *, schema, **kwargs):
        from langgraph_gram.llm import LLMReply

        user = messages[-1]["content"]
        self.questions.append(user)
        if self.fail_on and self.fail_on in user:
            raise EndpointUnreachableError("connection refused", url="http://127.0.0.1:9/v1")
        gold = {"Ilmo Trastive born": "Pelvoran", "Qarvex": "Ilmo Trastive", "Ostra": "river"}
        text = next((v for k, v in gold.items() if k in user), "?")
        return LLMReply({"answer": text}, json.dumps({"answer": text}), 1, 10, 2)


async def test_runner_appends_rows_and_retries_only_errors(tmp_path):
    dataset = load_questions(write_questions(tmp_path), corpus=tmp_path / "c.jsonl")
    out = tmp_path / "out"
    flaky = FlakyModel(fail_on="Question: Who founded Qarvex")
    rows = await run_eval(EvalRun(dataset, [MethodSpec("direct")], flaky, out))
    by_id = {r["id"]: r for r in rows}
    assert by_id["a"]["correct"] is True and by_id["a"]["em"] == 1.0
    assert by_id["c"]["correct"] is True  # an alias
    assert by_id["b"]["error"].startswith("EndpointUnreachableError")
    assert by_id["b"]["correct"] is None  # failed items are not scored
    assert by_id["a"]["tool_calls"] == 1 and by_id["a"]["prompt_tokens"] == 10

    healthy = FlakyModel(fail_on=None)
    rows = await run_eval(EvalRun(dataset, [MethodSpec("direct")], healthy, out))
    assert len(healthy.questions) == 1 and "Qarvex" in healthy.questions[0]
    assert {r["id"]: r["correct"] for r in rows} == {"a": True, "b": True, "c": True}
    lines = (out / "items.jsonl").read_text().splitlines()
    assert len(lines) == 4  # three first answers plus the retried one


async def test_runner_runs_every_method_and_sweep_point(tmp_path):
    dataset = load_questions(write_questions(tmp_path), corpus=tmp_path / "c.jsonl")

    def script(kind, question, messages):
        if "Task: ACT" in str(messages[-1].content):  # a leaf with tools: answer at once
            return json.dumps({"reasoning": "r", "action": "answer", "input": "Pelvoran"})
        return subproblems() if kind == "decompose" else answer("Pelvoran")

    model = scripted(script)
    specs = [parse_method("cot"), *parse_sweep("max_depth=0,1")]
    rows = await run_eval(EvalRun(dataset, specs, model, tmp_path / "o", concurrency=3))
    assert len(rows) == 9
    keys = {r["method"] for r in rows}
    assert keys == {"cot", "gram[max_depth=0]", "gram[max_depth=1]"}
    assert all(r["error"] is None for r in rows)
    sweep = [r for r in rows if r["method"] == "gram[max_depth=0]"]
    assert all(r["settings"] == {"max_depth": 0} for r in sweep)
    assert sum(r["correct"] for r in rows if r["id"] == "a") == 3


async def test_react_resamples_then_refuses_an_identical_call():
    model = react_script(
        [
            ("search", "Qarvex Labs"),
            ("search", "Qarvex Labs"),  # a repeat: asked again with sampling
            ("search", "Qarvex Labs"),  # still a repeat: noted, not run
            ("search", "Ilmo Trastive"),
            ("answer", "Pelvoran"),
        ]
    )
    outcome = await METHODS["react"](ITEM, env_for(model), {})
    assert outcome.tool_calls == 2 and outcome.detail["repeats"] == 1
    assert outcome.detail["resampled"] == 1
    assert outcome.llm_calls == 5
    assert "same call as step 1" in user_text(model.calls[-1]["messages"])
    assert outcome.prediction == "Pelvoran"


def test_unknown_settings_are_refused_before_anything_runs():
    with pytest.raises(ConfigurationError, match="depth"):
        parse_method("gram[depth=2]")
    with pytest.raises(ConfigurationError, match="n"):
        parse_method("self_consistency[n=9]")
    with pytest.raises(ConfigurationError):
        parse_sweep("widht=1,3")
    assert parse_method("gram[scorer=llm,width=3]").options() == {"scorer": "llm", "width": 3}
    assert [s.key for s in parse_methods("direct,direct,cot")] == ["direct", "cot"]


def test_numbers_vote_by_value():
    math = EvalItem(id="m", question="q", answer="10", kind="math")
    keys = {vote_key(math, a) for a in ["10", "100", "1", "$10.00"]}
    assert keys == {"10", "100", "1"}
    assert vote_key(math, "0") != vote_key(math, "no number")


async def test_react_answers_at_the_last_step_even_on_a_lax_backend():
    model = react_script([("search", f"q{i}") for i in range(5)])
    outcome = await METHODS["react"](ITEM, env_for(model), {"max_steps": 2})
    assert outcome.tool_calls == 2
    assert outcome.prediction == "q2"  # the last step's text is the answer


async def test_a_model_failure_is_a_wrong_answer_not_an_infrastructure_error(tmp_path):
    from langgraph_gram.errors import MalformedOutputError

    class Garbage:
        async def generate_json(self, messages, *, schema, **kwargs):
            raise MalformedOutputError("no JSON", text="...", calls=2, prompt_tokens=7)

    dataset = load_questions(write_questions(tmp_path), corpus=tmp_path / "c.jsonl")
    rows = await run_eval(EvalRun(dataset, [MethodSpec("direct")], Garbage(), tmp_path / "o"))
    assert all(r["error"] is None and r["correct"] is False for r in rows)
    assert all("MalformedOutputError" in r["detail"]["failure"] for r in rows)
    assert all(r["llm_calls"] == 2 and r["prompt_tokens"] == 7 for r in rows)


async def test_self_consistency_survives_an_unreadable_sample():
    replies = iter(["Ostra", '{"reasoning": "cut off at max_tok', "not json either", "Ostra"])

    def script(kind, q, m):
        text = next(replies)
        return answer(text) if text == "Ostra" else text

    model = scripted(script)
    outcome = await METHODS["self_consistency"](ITEM, env_for(model), {"k": 3})
    assert outcome.prediction == "Ostra"
    assert outcome.llm_calls == 4  # the unreadable sample's repair retry counts too
    assert len(outcome.detail["failed_samples"]) == 1
    assert outcome.detail["votes"] == {"ostra": 2}


async def test_self_consistency_fails_only_when_every_sample_fails():
    model = scripted(lambda kind, q, m: "no json at all")
    with pytest.raises(MalformedOutputError):
        await METHODS["self_consistency"](ITEM, env_for(model), {"k": 2})


def native_env(script):
    from fakes import ToolCallingChatModel

    model = ToolCallingChatModel(script=script, calls=[])
    env = env_for(model, chat=model)
    return model, env


async def test_react_runs_create_agent_where_native_tool_calls_work():
    from fakes import said, tool_call
    from langchain_core.messages import ToolMessage

    def script(messages, tools, choice):
        if "lookup" in tools:  # the once-per-run probe
            return tool_call("lookup", query="river")
        results = [m for m in messages if isinstance(m, ToolMessage)]
        if not results:
            return tool_call(tools[0], query="founder of Qarvex Labs")
        if len(results) == 1:
            return tool_call(tools[0], query="Ilmo Trastive")
        return said("Ilmo Trastive was born in Pelvoran.\nAnswer: Pelvoran")

    model, env = native_env(script)
    outcome = await METHODS["react"](ITEM, env, {})
    assert outcome.detail["protocol"] == "native"
    assert outcome.prediction == "Pelvoran"
    assert outcome.tool_calls == 2
    assert [s["input"]["query"] for s in outcome.detail["steps"]] == [
        "founder of Qarvex Labs",
        "Ilmo Trastive",
    ]
    assert outcome.llm_calls == 3 and outcome.completion_tokens == 25
    agent_calls = model.calls[1:]
    assert agent_calls[0]["tool_choice"] == "any"  # the first step must search
    assert "Ilmo Trastive was born in Pelvoran" in str(agent_calls[2]["messages"][-1].content)
    # The probe ran once for the run, not once per item.
    await METHODS["react"](ITEM, env, {})
    assert sum("lookup" in c["tools"] for c in model.calls) == 1


async def test_native_react_stops_calling_tools_after_max_steps():
    from fakes import said, tool_call

    def script(messages, tools, choice):
        if "lookup" in tools:
            return tool_call("lookup", query="river")
        if tools:  # a model that would search forever
            return tool_call(tools[0], query=f"query {len(messages)}")
        return said("Answer: Pelvoran")

    model, env = native_env(script)
    outcome = await METHODS["react"](ITEM, env, {"max_steps": 2})
    assert outcome.tool_calls == 2
    assert outcome.prediction == "Pelvoran"
    assert model.calls[-1]["tools"] == []


async def test_react_falls_back_to_json_actions_when_tool_calls_come_back_as_text():
    from fakes import said

    def script(messages, tools, choice):  # writes its tool calls as text, like llama-cpp-python
        if "lookup" in tools:
            return said('```json\n{"name": "lookup", "arguments": {"query": "river"}}\n```')
        text = str(messages[-1].content)
        if "Step 1" in text:
            return said(json.dumps({"reasoning": "r", "action": "answer", "input": "Pelvoran"}))
        return said(json.dumps({"reasoning": "r", "action": "search", "input": "Ilmo Trastive"}))

    _, env = native_env(script)
    outcome = await METHODS["react"](ITEM, env, {})
    assert env.shared["native_tool_calls"] is False
    assert outcome.detail["protocol"] == "json"
    assert outcome.prediction == "Pelvoran" and outcome.tool_calls == 1
    with pytest.raises(ConfigurationError, match="native"):
        await METHODS["react"](ITEM, env, {"protocol": "native"})
    with pytest.raises(ConfigurationError, match="protocol"):
        await METHODS["react"](ITEM, env, {"protocol": "xml"})


def test_final_answer_takes_the_last_answer_line():
    from langgraph_gram.eval.agent import final_answer

    assert final_answer("It is X.\nAnswer: **Pelvoran**") == "Pelvoran"
    assert final_answer("answer: a\nFinal answer: b") == "b"
    assert final_answer("  Pelvoran ") == "Pelvoran"


async def test_react_on_code_is_scored_with_the_code_it_ran():
    """A ReAct run that writes the function, runs it, then answers with a call passes.

    GRAM's answer takes code from its other nodes when it lacks the function; ReAct's takes it
    from the code it ran (the newest version), so both are scored by the same rule.
    """
    from langgraph_gram.eval.checks import check_prediction

    item = EvalItem(
        id="c1",
        question="Write add(a, b).",
        answer="",
        kind="code",
        meta={"tests": ["assert add(2, 3) == 5"], "test_imports": [], "entry_point": "add"},
    )
    model = react_script(
        [
            ("python", "def add(a, b):\n    return a - b"),
            ("python", "def add(a, b):\n    return a + b\nprint(add(2, 3))"),
            ("answer", "add(2, 3)"),
        ]
    )
    outcome = await METHODS["react"](item, env_for(model, item=item), {})
    assert outcome.prediction == "add(2, 3)" and outcome.tool_calls == 2
    verdict = await check_prediction(item, outcome.prediction, tree=outcome.tree)
    assert verdict.correct is True
    assert verdict.detail["code"].startswith("def add(a, b):\n    return a + b")
    # Without what it ran, the call alone is no solution.
    assert (await check_prediction(item, outcome.prediction)).correct is False


async def test_gram_with_the_tests_scorer_keeps_the_sample_that_passes_the_shown_test():
    """Voting alone would keep the wrong code (two samples of three); the shown test decides."""
    item = EvalItem(
        id="c2",
        question="Write inc(x).\nYour code should pass this test:\nassert inc(1) == 2",
        answer="",
        kind="code",
        meta={"tests": ["assert inc(1) == 2"], "test_imports": [], "entry_point": "inc"},
    )
    wrong, right = "def inc(x):\n    return x", "def inc(x):\n    return x + 1"
    samples = iter([wrong, right, wrong])

    def script(kind, question, messages):
        if user_text(messages).startswith("Task: ACT"):
            return json.dumps({"reasoning": "r", "action": "answer", "input": wrong})
        return answer(next(samples))

    settings = {"max_depth": 0, "width": 3, "scorer": "tests"}
    outcome = await METHODS["gram"](item, env_for(scripted(script), item=item), settings)
    assert outcome.prediction == right
    assert [c["score"] for c in outcome.detail["scorer_calls"]] == [0.0, 1.0, 0.0]
    samples = iter([wrong, right, wrong])
    unscored = settings | {"scorer": None}
    voted = await METHODS["gram"](item, env_for(scripted(script), item=item), unscored)
    assert voted.prediction == wrong


async def test_the_tests_scorer_is_refused_off_code_and_misspelled():
    with pytest.raises(ConfigurationError, match="scorer=tests checks code"):
        await METHODS["gram"](ITEM, env_for(scripted(lambda *a: answer("x"))), {"scorer": "tests"})
    with pytest.raises(ConfigurationError, match="scorer must be one of"):
        parse_method("gram[scorer=test]")
