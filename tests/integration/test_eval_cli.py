"""`gram eval` end to end over HTTP: every built-in dataset and method, errors, resume, sweeps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from langgraph_gram.cli import main
from langgraph_gram.eval.datasets import LOADERS, load_dataset

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = ROOT.parent / "shared" / "data"
EXAMPLES = ROOT / "examples" / "data"
SUMMARY_KEYS = {
    "n",
    "em",
    "f1",
    "accuracy",
    "llm_calls",
    "prompt_tokens",
    "completion_tokens",
    "seconds",
}
METHODS = ["direct", "cot", "self_consistency", "react", "gram"]


def rows_of(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]


def endpoint_args(server) -> list[str]:
    return ["--base-url", server.base_url, "--model", server.model]


def tiny_eval(out: Path, methods: str, *extra: str) -> list[str]:
    """``gram eval`` arguments for the first two tiny example questions and their corpus."""
    return [
        "eval",
        "--questions",
        str(EXAMPLES / "tiny_questions.jsonl"),
        "--corpus",
        str(EXAMPLES / "tiny_corpus.jsonl"),
        "--methods",
        methods,
        "--limit",
        "2",
        "--out",
        str(out),
        *extra,
    ]


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data not present")
@pytest.mark.parametrize("dataset", sorted(LOADERS))
def test_every_method_runs_on_every_builtin_dataset(dataset, fault_server, tmp_path):
    out = tmp_path / dataset
    status = main(
        [
            "eval",
            "--dataset",
            dataset,
            "--data",
            str(SHARED_DATA / dataset),
            "--limit",
            "1",
            "--max-depth",
            "1",
            "--out",
            str(out),
            *endpoint_args(fault_server),
        ]
    )
    assert status == 0
    rows = rows_of(out)
    assert sorted(r["method"] for r in rows) == sorted(METHODS)
    assert all(r["error"] is None for r in rows), [r["error"] for r in rows]
    assert all(isinstance(r["correct"], bool) for r in rows)
    item = load_dataset(dataset, SHARED_DATA / dataset).items[0]
    assert {r["id"] for r in rows} == {item.id}
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) == set(METHODS)
    assert all(set(v) == SUMMARY_KEYS for v in summary.values())
    assert (out / "summary.md").read_text().count("|") > 20
    assert (out / "accuracy_vs_tokens.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    react = next(r for r in rows if r["method"] == "react")
    has_tools = (
        item.kind != "plan"
        and item.kind != "letters"
        and (item.kind != "qa" or dataset not in ("bamboogle",))
    )
    assert (react["tool_calls"] >= 1) == has_tools


def test_unreachable_endpoint_gives_error_rows_then_a_rerun_retries_them(
    closed_port_url, fault_server, tmp_path
):
    out = tmp_path / "out"
    common = tiny_eval(out, "direct,react")
    status = main([*common, "--base-url", closed_port_url, "--model", fault_server.model])
    assert status == 2
    failed = rows_of(out)
    assert len(failed) == 4
    assert all(closed_port_url in r["error"] for r in failed)
    assert all(r["correct"] is None for r in failed)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["direct"]["n"] == 0  # failures are never scored as wrong answers

    assert main([*common, *endpoint_args(fault_server)]) == 0
    rows = rows_of(out)
    assert len(rows) == 8  # four failures, then four answers
    assert all(r["error"] is None for r in rows[4:])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["direct"]["n"] == 2 and summary["react"]["n"] == 2
    requests_before = len(fault_server.requests)
    assert main([*common, *endpoint_args(fault_server)]) == 0  # nothing left to run
    assert len(fault_server.requests) == requests_before
    assert len(rows_of(out)) == 8
    # Another model into the same folder is refused rather than mixed with these results.
    assert main([*common, "--base-url", fault_server.base_url, "--model", "other"]) == 1
    assert len(rows_of(out)) == 8


def test_a_server_outage_is_an_error_row_for_every_method_then_retried(fault_server, tmp_path):
    # HTTP 429 on every request, after the endpoint's own retries: GRAM's nodes and
    # self-consistency's votes absorb a failed call, yet the item is an error, not a wrong answer.
    fault_server.configure(fault_rate=1.0, fault_kinds=("429",))
    out = tmp_path / "out"
    common = [*tiny_eval(out, "direct,self_consistency,gram"), *endpoint_args(fault_server)]
    assert main(common) == 2
    failed = rows_of(out)
    assert len(failed) == 6
    assert all("endpoint failed" in r["error"] and "HTTP 429" in r["error"] for r in failed)
    assert all(r["correct"] is None and r["em"] is None for r in failed)
    assert all(r["llm_calls"] >= 1 for r in failed)  # what was spent before the failure
    summary = json.loads((out / "summary.json").read_text())
    assert all(summary[m]["n"] == 0 for m in ("direct", "self_consistency", "gram"))

    fault_server.configure(fault_rate=0.0)
    assert main(common) == 0
    rows = rows_of(out)[6:]
    assert len(rows) == 6 and all(r["error"] is None for r in rows)
    summary = json.loads((out / "summary.json").read_text())
    assert all(summary[m]["n"] == 2 for m in ("direct", "self_consistency", "gram"))


def test_report_only_rewrites_the_reports_from_the_rows_alone(fault_server, tmp_path):
    out = tmp_path / "out"
    assert main([*tiny_eval(out, "direct"), *endpoint_args(fault_server)]) == 0
    (out / "summary.md").unlink()
    (out / "summary.json").unlink()
    requests = len(fault_server.requests)
    assert main(["eval", "--report-only", "--out", str(out), "--title", "again"]) == 0
    assert len(fault_server.requests) == requests  # no model call
    text = (out / "summary.md").read_text()
    assert text.startswith("# again")
    assert f"- Model: {fault_server.model}" in text
    assert json.loads((out / "summary.json").read_text())["direct"]["n"] == 2


def test_sweep_writes_one_entry_per_grid_point_and_the_grid_plot(fault_server, tmp_path, capsys):
    out = tmp_path / "sweep"
    sweep = ["--sweep", "max_depth=0,1", "width=1,2"]
    status = main(tiny_eval(out, "", *sweep, *endpoint_args(fault_server)))
    assert status == 0
    assert "| gram[max_depth=1,width=2] |" in capsys.readouterr().err  # printed as written
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) == {
        "gram[max_depth=0,width=1]",
        "gram[max_depth=0,width=2]",
        "gram[max_depth=1,width=1]",
        "gram[max_depth=1,width=2]",
    }
    wide = summary["gram[max_depth=0,width=2]"]["llm_calls"]
    narrow = summary["gram[max_depth=0,width=1]"]["llm_calls"]
    assert wide > narrow  # width samples more
    assert (out / "depth_width.png").read_bytes()[:4] == b"\x89PNG"


def test_react_uses_create_agent_on_an_endpoint_with_native_tool_calls(
    fault_server_factory, tmp_path
):
    from fault_server import ToolCalls, echo_answer

    def respond(body):
        if not body.get("tools"):
            return echo_answer(body)
        names = [t["function"]["name"] for t in body["tools"]]
        messages = body["messages"]
        results = [m for m in messages if m.get("role") == "tool"]
        if "lookup" in names:  # the once-per-run probe
            return ToolCalls((("lookup", {"query": "river"}),))
        if not results:
            question = next(m["content"] for m in messages if m["role"] == "user")
            return ToolCalls(((names[0], {"query": question}),))
        return "The passages say so.\nAnswer: " + results[-1]["content"].split()[0]

    server = fault_server_factory(responder=respond)
    out = tmp_path / "agent"
    status = main(tiny_eval(out, "react", *endpoint_args(server)))
    assert status == 0
    rows = rows_of(out)
    assert [r["detail"]["protocol"] for r in rows] == ["native", "native"]
    assert all(r["tool_calls"] == 1 and r["llm_calls"] == 2 for r in rows)
    assert all(r["prediction"] and not r["prediction"].startswith("Answer") for r in rows)
    bodies = [r.body for r in server.requests]
    probes = [
        b for b in bodies if any(t["function"]["name"] == "lookup" for t in b.get("tools", []))
    ]
    assert len(probes) == 1  # asked once per run
    first_steps = [
        b for b in bodies if b.get("tools") and b not in probes and len(b["messages"]) == 2
    ]
    assert first_steps and all(b.get("tool_choice") == "required" for b in first_steps)
