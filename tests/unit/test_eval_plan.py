"""`gram eval --plan`: what a run would do and how long it should take, with no model call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from langgraph_gram.cli import main
from langgraph_gram.eval.datasets import EvalItem
from langgraph_gram.eval.runner import parse_methods, plan_rows

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "data"


def row(item: str, method: str, seconds: float, error: str | None = None) -> dict:
    return {"id": item, "method": method, "seconds": seconds, "error": error}


def test_the_plan_counts_done_errored_and_pending_pairs_and_sizes_the_rest():
    items = [EvalItem(id=f"q{i}", question="?", answer="a") for i in range(4)]
    methods = parse_methods("direct,gram[width=3],react")
    rows = [
        row("q0", "direct", 2.0),
        row("q1", "direct", 4.0),
        row("q9", "direct", 6.0),  # outside this run's items: still sizes the method
        row("q0", "gram[width=3]", 100.0),
        row("q1", "gram[width=3]", 0.0, error="endpoint down"),  # retried, not done
        row("q0", "gram", 999.0),  # another method key
    ]

    plan = {p["method"]: p for p in plan_rows(items, methods, rows)}

    assert plan["direct"] == {
        "method": "direct",
        "done": 2,
        "errored": 0,
        "pending": 2,
        "seconds_per_item": 4.0,
        "estimated_seconds": 8.0,
    }
    assert plan["gram[width=3]"]["done"] == 1
    assert plan["gram[width=3]"]["errored"] == 1
    assert plan["gram[width=3]"]["pending"] == 3
    assert plan["gram[width=3]"]["estimated_seconds"] == 300.0
    assert plan["react"]["seconds_per_item"] is None
    assert plan["react"]["estimated_seconds"] is None
    assert plan["react"]["pending"] == 4


def test_gram_eval_plan_reads_the_folder_and_calls_no_model(tmp_path, capsys):
    ids = [json.loads(line)["id"] for line in (EXAMPLES / "tiny_questions.jsonl").open()][:2]
    out = tmp_path / "run"
    out.mkdir()
    rows = [row(ids[0], "direct", 3.0), row(ids[0], "gram", 90.0)]
    (out / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    before = (out / "items.jsonl").read_text()

    status = main(
        [
            "eval",
            "--questions",
            str(EXAMPLES / "tiny_questions.jsonl"),
            "--limit",
            "2",
            "--methods",
            "direct,gram",
            "--plan",
            "--out",
            str(out),
            "--base-url",
            "http://127.0.0.1:9/v1",  # nothing listens: a call would fail the run
            "--model",
            "m",
        ]
    )

    assert status == 0
    text = capsys.readouterr().err
    assert "to run: 2 item-method pairs, about 2 min" in text
    assert (out / "items.jsonl").read_text() == before
    assert sorted(p.name for p in out.iterdir()) == ["items.jsonl"]  # no report rewritten


@pytest.mark.parametrize("methods", ["direct", "gram[width=3]"])
def test_a_plan_for_a_method_with_no_rows_says_its_time_is_unknown(tmp_path, capsys, methods):
    status = main(
        [
            "eval",
            "--questions",
            str(EXAMPLES / "tiny_questions.jsonl"),
            "--limit",
            "1",
            "--methods",
            methods,
            "--plan",
            "--out",
            str(tmp_path / "fresh"),
        ]
    )

    assert status == 0
    text = capsys.readouterr().err
    assert f"about 0 min + {methods} (no rows yet)" in text
    assert not (tmp_path / "fresh").exists()
