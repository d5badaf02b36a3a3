"""How ``gram eval`` tells a wrong answer from a failure, and keeps every row across crashes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes import answer, scripted

from langgraph_gram.errors import ConfigurationError, EndpointResponseError, MalformedOutputError
from langgraph_gram.eval.checks import last_number
from langgraph_gram.eval.datasets import Dataset, EvalItem, load_questions
from langgraph_gram.eval.methods import METHODS, MethodEnv
from langgraph_gram.eval.report import load_rows
from langgraph_gram.eval.runner import (
    EvalRun,
    MethodSpec,
    parse_method,
    parse_methods,
    parse_sweep,
    run_eval,
    unique_methods,
)
from langgraph_gram.llm import LLMReply, as_structured_llm

URL = "http://127.0.0.1:9/v1"


def questions(tmp_path: Path, rows: list[dict] | None = None) -> Dataset:
    rows = rows or [
        {"id": "a", "question": "Where was Ilmo Trastive born?", "answer": "Pelvoran"},
        {"id": "b", "question": "Who founded Qarvex Labs?", "answer": "Ilmo Trastive"},
    ]
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return load_questions(path)


class Replies:
    """A StructuredLLM whose n-th call returns (or raises) the n-th scripted item."""

    def __init__(self, *script: object) -> None:
        self.script = list(script)
        self.calls = 0

    async def generate_json(self, messages, *, schema, **kwargs):
        step = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        if isinstance(step, BaseException):
            raise step
        data = step if isinstance(step, dict) else {"answer": step, "reasoning": "r"}
        return LLMReply(data, json.dumps(data), 1, 10, 3)


def search_tools(dataset, item, top_k):
    from langchain_core.tools import tool

    @tool
    def search(query: str) -> str:
        """Search."""
        return "nothing"

    return [search]


def outage() -> EndpointResponseError:
    return EndpointResponseError(f"{URL} answered HTTP 503", url=URL, status_code=503)


async def test_a_refused_request_is_a_wrong_answer_but_an_outage_is_an_error(tmp_path):
    dataset = questions(tmp_path)
    refused = EndpointResponseError(f"{URL} answered HTTP 400", url=URL, status_code=400)
    rows = await run_eval(
        EvalRun(dataset, [MethodSpec("direct")], Replies(refused), tmp_path / "r")
    )
    assert all(r["error"] is None and r["correct"] is False for r in rows)

    rows = await run_eval(
        EvalRun(dataset, [MethodSpec("direct")], Replies(outage()), tmp_path / "o")
    )
    assert all(r["error"].startswith("endpoint failed") and "503" in r["error"] for r in rows)
    assert all(r["correct"] is None and r["em"] is None for r in rows)
    assert all(r["llm_calls"] == 1 for r in rows)


async def test_an_outage_absorbed_by_self_consistency_still_makes_an_error_row(tmp_path):
    dataset = questions(tmp_path, [{"id": "a", "question": "Q?", "answer": "Pelvoran"}])
    model = Replies("Pelvoran", outage(), "Pelvoran")  # one vote lost to the server
    rows = await run_eval(
        EvalRun(dataset, [parse_method("self_consistency[k=3]")], model, tmp_path / "o")
    )
    (row,) = rows
    assert row["error"].startswith("endpoint failed")
    assert row["correct"] is None and row["prediction"] == "Pelvoran"
    assert row["llm_calls"] == 3


async def test_a_failure_part_way_keeps_the_cost_spent_before_it(tmp_path):
    dataset = questions(tmp_path, [{"id": "a", "question": "Q?", "answer": "Pelvoran"}])
    broken = MalformedOutputError("no JSON", text="...", calls=2, prompt_tokens=7)
    step = {"reasoning": "r", "action": "search", "input": "x"}
    model = Replies(step, {**step, "input": "y"}, broken)

    rows = await run_eval(
        EvalRun(
            dataset,
            [parse_method("react[protocol=json]")],
            model,
            tmp_path / "o",
            tools=search_tools,
        )
    )
    (row,) = rows
    assert row["error"] is None and row["correct"] is False
    assert "MalformedOutputError" in row["detail"]["failure"]
    assert row["llm_calls"] == 4  # two steps, then the failed one with its repair retry
    assert row["prompt_tokens"] == 27


async def test_a_failed_call_is_never_scored_right_even_against_an_empty_gold(tmp_path):
    # "The" normalises to "" (articles go), as does the empty prediction of a failed call.
    dataset = questions(tmp_path, [{"id": "a", "question": "Q?", "answer": "The"}])
    broken = MalformedOutputError("no JSON", text="...", calls=2)
    rows = await run_eval(EvalRun(dataset, [MethodSpec("direct")], Replies(broken), tmp_path / "o"))
    assert rows[0]["correct"] is False and rows[0]["em"] == 0.0


async def test_a_line_cut_by_a_crash_does_not_swallow_the_next_row(tmp_path):
    dataset = questions(tmp_path)
    out = tmp_path / "o"
    await run_eval(EvalRun(dataset, [MethodSpec("direct")], Replies("Pelvoran"), out))
    path = out / "items.jsonl"
    first, second = path.read_text().splitlines()
    path.write_text(first + "\n" + second[:40])  # the crash cut b's row short

    model = Replies("Ilmo Trastive")
    rows = await run_eval(EvalRun(dataset, [MethodSpec("direct")], model, out))
    assert model.calls == 1  # only b again
    assert sorted(r["id"] for r in rows) == ["a", "b"]
    assert all(r["correct"] for r in rows)


def test_an_error_line_never_replaces_an_answer(tmp_path):
    path = tmp_path / "items.jsonl"
    answered = {"dataset": "d", "id": "a", "method": "gram", "error": None, "correct": True}
    failed = {**answered, "error": "endpoint failed", "correct": None}
    retried = {**answered, "correct": False}
    path.write_text("".join(json.dumps(r) + "\n" for r in (answered, failed)))
    assert load_rows(path)[0]["correct"] is True
    path.write_text("".join(json.dumps(r) + "\n" for r in (failed, answered, retried)))
    assert load_rows(path)[0]["correct"] is False  # a later answer still wins


async def test_a_cell_named_twice_runs_once(tmp_path):
    dataset = questions(tmp_path, [{"id": "a", "question": "Q?", "answer": "Pelvoran"}])
    specs = [parse_method("gram[max_depth=0,width=1]"), *parse_sweep("max_depth=0 width=1,1")]
    assert [s.key for s in unique_methods(specs)] == ["gram[max_depth=0,width=1]"]
    model = Replies("Pelvoran")
    rows = await run_eval(EvalRun(dataset, specs, model, tmp_path / "o"))
    assert len(rows) == 1 and model.calls == 1
    assert len((tmp_path / "o" / "items.jsonl").read_text().splitlines()) == 1


async def test_samples_without_an_answer_abstain_from_the_vote():
    item = EvalItem(id="m", question="How many?", answer="18", kind="math")
    replies = iter(["I cannot tell", "18", "unknown"])
    model = scripted(lambda kind, q, m: answer(next(replies)))
    outcome = await METHODS["self_consistency"](item, MethodEnv(as_structured_llm(model), []), {})
    assert outcome.prediction == "18"
    assert outcome.detail["votes"] == {"": 0, "18": 1}

    replies = iter(["", "", ""])
    model = scripted(lambda kind, q, m: answer(next(replies)))
    qa = EvalItem(id="q", question="Who?", answer="Ilmo")
    outcome = await METHODS["self_consistency"](qa, MethodEnv(as_structured_llm(model), []), {})
    assert outcome.prediction == ""  # every sample abstained


async def test_settings_an_item_cannot_take_stop_the_run(tmp_path):
    dataset = questions(tmp_path)
    with pytest.raises(ConfigurationError, match="scorer=tests"):
        await run_eval(
            EvalRun(dataset, [parse_method("gram[scorer=tests]")], Replies("x"), tmp_path / "o")
        )
    assert not (tmp_path / "o" / "items.jsonl").exists()  # no error row to retry forever
    for text in ("self_consistency[k=0]", "react[max_steps=0]", "react[max_steps=1.5]"):
        with pytest.raises(ConfigurationError, match=">= 1"):
            parse_methods(text)


def test_repeated_ids_in_a_questions_file_are_refused(tmp_path):
    rows = [
        {"id": "a", "question": "Q1?", "answer": "x"},
        {"id": "a", "question": "Q2?", "answer": "y"},
    ]
    with pytest.raises(ConfigurationError, match="rows 1 and 2 share the id 'a'"):
        questions(tmp_path, rows)


@pytest.mark.parametrize(
    ("text", "value"),
    [("−18", -18), ("a drop of \u201318", -18), (".5", 0.5), ("3-4", 4), ("is 18.", 18)],
)
def test_numbers_read_with_unicode_minus_and_bare_decimals(text, value):
    assert last_number(text) == value


class Refusing:
    """A chat model whose tool-calling probe fails with an HTTP status."""

    def __init__(self, status: int) -> None:
        self.status = status

    def bind_tools(self, tools):
        return self

    async def ainvoke(self, messages):
        import httpx
        import openai

        request = httpx.Request("POST", URL + "/chat/completions")
        response = httpx.Response(self.status, request=request)
        raise openai.APIStatusError(f"HTTP {self.status}", response=response, body=None)


async def test_a_failing_tool_call_probe_is_asked_again_but_a_refusal_settles_it():
    from langgraph_gram.eval.methods import native_tool_calls

    env = MethodEnv(as_structured_llm(Replies("x")), [], chat=Refusing(503))
    with pytest.raises(EndpointResponseError, match="HTTP 503") as caught:
        await native_tool_calls(env)
    assert caught.value.transient
    assert "native_tool_calls" not in env.shared  # not settled: the next item asks again
    env.chat = Refusing(400)
    assert await native_tool_calls(env) is False
    assert env.shared["native_tool_calls"] is False


async def test_an_outage_met_by_the_agent_probe_is_an_error_row(tmp_path):
    dataset = questions(tmp_path, [{"id": "a", "question": "Q?", "answer": "Pelvoran"}])
    run = EvalRun(dataset, [MethodSpec("react")], Replies("x"), tmp_path / "o", tools=search_tools)
    run.shared["chat"] = Refusing(503)
    (row,) = await run_eval(run)
    assert row["error"].startswith("endpoint failed") and row["correct"] is None


async def test_another_completion_cap_is_refused_but_rows_from_before_it_was_recorded_are_not(
    tmp_path,
):
    dataset = questions(tmp_path)
    out = tmp_path / "o"
    path = out / "items.jsonl"
    capped = Replies("Pelvoran")
    capped.max_tokens = 1024
    (first, _) = await run_eval(EvalRun(dataset, [MethodSpec("direct")], capped, out))
    assert first["config"]["max_tokens"] == 1024

    other = Replies("Pelvoran")
    other.max_tokens = 256
    with pytest.raises(ConfigurationError, match="another configuration"):
        await run_eval(EvalRun(dataset, [MethodSpec("direct")], other, out))

    # A row written before the cap was recorded: the same run resumes it.
    old = [json.loads(line) for line in path.read_text().splitlines()]
    for row in old:
        del row["config"]["max_tokens"]
    old[1]["error"] = "endpoint failed"
    path.write_text("".join(json.dumps(r) + "\n" for r in old))
    rows = await run_eval(EvalRun(dataset, [MethodSpec("direct")], capped, out))
    assert len(rows) == 2 and capped.calls == 3  # b again
