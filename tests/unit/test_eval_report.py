"""The eval report: summaries, last-wins loading, paired bootstrap, Markdown and PNG plots."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest

from langgraph_gram.errors import ConfigurationError
from langgraph_gram.eval.report import (
    by_type,
    depth_width_table,
    errors,
    grid_cell,
    load_rows,
    markdown,
    paired_bootstrap,
    plot_accuracy_vs_tokens,
    plot_depth_width,
    summarize,
    tool_use,
    write_reports,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SUMMARY_KEYS = [
    "n",
    "em",
    "f1",
    "accuracy",
    "llm_calls",
    "prompt_tokens",
    "completion_tokens",
    "seconds",
]


def row(
    item: str,
    method: str,
    *,
    em: float | None = 1.0,
    f1: float | None = None,
    correct: bool | None = None,
    kind: str = "bridge",
    llm_calls: int = 1,
    tool_calls: int = 0,
    prompt_tokens: int | None = 100,
    completion_tokens: int | None = 20,
    seconds: float = 1.0,
    error: str | None = None,
    settings: dict | None = None,
) -> dict:
    """One result row as the runner appends it to items.jsonl."""
    failed = error is not None
    return {
        "id": item,
        "dataset": "toy",
        "method": method,
        "type": kind,
        "question": f"question {item}?",
        "gold": "gold",
        "prediction": None if failed else "prediction",
        "em": None if failed else em,
        "f1": None if failed else (em if f1 is None else f1),
        "correct": None if failed else (bool(em) if correct is None else correct),
        "llm_calls": llm_calls,
        "tool_calls": tool_calls,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "seconds": seconds,
        "error": error,
        "settings": settings or {},
    }


@pytest.fixture
def rows() -> list[dict]:
    """Two methods on four items, one of direct's rows failed."""
    failure = "EndpointUnreachableError: connection refused"
    return [
        row("1", "direct", em=1.0, f1=1.0, prompt_tokens=100, completion_tokens=10, seconds=1.0),
        row("2", "direct", em=0.0, f1=0.5, prompt_tokens=200, completion_tokens=30, seconds=2.0),
        row("3", "direct", error=failure, kind="comparison", llm_calls=0),
        row("4", "direct", em=0.0, f1=0.0, kind="comparison", prompt_tokens=300, seconds=3.0),
        row("1", "react", em=1.0, llm_calls=3, tool_calls=2, prompt_tokens=900),
        row("2", "react", em=1.0, llm_calls=4, tool_calls=1, prompt_tokens=1100),
        row("3", "react", em=0.0, kind="comparison", llm_calls=2, tool_calls=0),
        row("4", "react", em=1.0, kind="comparison", llm_calls=3, tool_calls=3),
    ]


def sweep_rows() -> list[dict]:
    """A 2×2 max_depth × width sweep of gram, plus a direct baseline, on ten items."""
    rows = []
    accuracy = {(1, 2): 0.2, (1, 3): 0.4, (2, 2): 0.6, (2, 3): 0.8}
    for (depth, width), share in accuracy.items():
        method = f"gram[max_depth={depth},width={width}]"
        for i in range(10):
            em = 1.0 if i < share * 10 else 0.0
            settings = {"max_depth": depth, "width": width}
            rows.append(row(str(i), method, em=em, prompt_tokens=500 * depth, settings=settings))
    rows += [row(str(i), "direct", em=float(i < 3)) for i in range(10)]
    return rows


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG file's IHDR chunk, after checking the signature."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


# --- summaries -----------------------------------------------------------------------------


def test_summarize_has_exactly_the_documented_keys_and_excludes_errors(rows):
    summary = summarize(rows)
    assert list(summary) == ["direct", "react"]
    for stats in summary.values():
        assert list(stats) == SUMMARY_KEYS
    direct = summary["direct"]
    assert direct["n"] == 3
    assert direct["em"] == pytest.approx(1 / 3)
    assert direct["f1"] == pytest.approx(0.5)
    assert direct["accuracy"] == pytest.approx(1 / 3)
    assert direct["llm_calls"] == pytest.approx(1.0)  # the failed row's 0 calls do not count
    assert direct["prompt_tokens"] == pytest.approx(200.0)
    assert direct["completion_tokens"] == pytest.approx(20.0)
    assert direct["seconds"] == pytest.approx(2.0)
    react = summary["react"]
    assert react["n"] == 4
    assert react["accuracy"] == pytest.approx(0.75)
    assert react["llm_calls"] == pytest.approx(3.0)
    assert react["prompt_tokens"] == pytest.approx((900 + 1100 + 100 + 100) / 4)


def test_errors_are_counted_apart(rows):
    assert errors(rows) == {"direct": 1}
    assert errors([r for r in rows if not r["error"]]) == {}


def test_a_method_whose_rows_all_failed_has_n_zero_and_no_means():
    rows = [row("1", "gram", error="boom"), row("2", "gram", error="boom"), row("1", "direct")]
    summary = summarize(rows)
    assert list(summary) == ["gram", "direct"]
    assert summary["gram"] == {key: (0 if key == "n" else None) for key in SUMMARY_KEYS}
    assert errors(rows) == {"gram": 2}


def test_summarize_leaves_unreported_token_counts_out_of_the_mean():
    rows = [row("1", "direct", prompt_tokens=None), row("2", "direct", prompt_tokens=40)]
    assert summarize(rows)["direct"]["prompt_tokens"] == pytest.approx(40.0)
    assert summarize(rows)["direct"]["n"] == 2


def test_summary_is_json_serialisable(rows):
    assert json.loads(json.dumps(summarize(rows))) == summarize(rows)


def test_by_type_splits_scored_rows_per_type(rows):
    result = by_type(rows)
    assert result["react"] == {
        "bridge": {"n": 2, "accuracy": 1.0, "em": 1.0},
        "comparison": {"n": 2, "accuracy": 0.5, "em": 0.5},
    }
    assert result["direct"] == {  # the failed item 3 is left out
        "bridge": {"n": 2, "accuracy": 0.5, "em": 0.5},
        "comparison": {"n": 1, "accuracy": 0.0, "em": 0.0},
    }


def test_tool_use_means_and_share(rows):
    result = tool_use(rows)
    assert result["react"] == {"mean_tool_calls": 1.5, "share_with_tool_call": 0.75}
    assert result["direct"] == {"mean_tool_calls": 0.0, "share_with_tool_call": 0.0}


# --- loading -------------------------------------------------------------------------------


def test_load_rows_keeps_the_last_line_of_each_item_and_method(tmp_path):
    path = tmp_path / "items.jsonl"
    lines = [
        row("1", "direct", em=0.0),
        row("1", "gram", error="endpoint down"),
        row("2", "direct", em=0.0),
        row("1", "gram", em=1.0),  # the rerun of the failed row
        row("1", "direct", em=1.0),  # a rerun of a scored row
    ]
    text = "\n".join(json.dumps(line) for line in lines)
    path.write_text(text + '\n\n{"id": "3", "method": "dir', encoding="utf-8")  # cut-short line
    loaded = load_rows(path)
    assert [(r["id"], r["method"]) for r in loaded] == [
        ("1", "direct"),
        ("1", "gram"),
        ("2", "direct"),
    ]
    assert loaded[0]["em"] == 1.0
    assert loaded[1]["error"] is None
    assert loaded[1]["em"] == 1.0
    assert errors(loaded) == {}
    assert summarize(loaded)["direct"]["em"] == pytest.approx(0.5)


def test_load_rows_of_a_missing_file_raises(tmp_path):
    with pytest.raises(ConfigurationError):
        load_rows(tmp_path / "nope.jsonl")


# --- paired bootstrap ----------------------------------------------------------------------


def paired(a_scores: list[float], b_scores: list[float]) -> list[dict]:
    return [row(str(i), "a", em=s) for i, s in enumerate(a_scores)] + [
        row(str(i), "b", em=s) for i, s in enumerate(b_scores)
    ]


def test_paired_bootstrap_sign_interval_and_determinism():
    rng = np.random.default_rng(1)
    b = (rng.random(200) < 0.3).astype(float).tolist()
    a = [1.0 if x == 1.0 or rng.random() < 0.4 else 0.0 for x in b]  # a never worse than b
    rows = paired(a, b)
    result = paired_bootstrap(rows, "a", "b")
    assert set(result) == {"diff", "low", "high", "n"}
    assert result["n"] == 200
    assert result["diff"] == pytest.approx(np.mean(a) - np.mean(b))
    assert 0 < result["low"] < result["diff"] < result["high"]
    # Close to the normal approximation of the paired difference's 95% interval.
    d = np.array(a) - np.array(b)
    half = 1.96 * d.std(ddof=1) / math.sqrt(len(d))
    assert result["low"] == pytest.approx(result["diff"] - half, abs=0.015)
    assert result["high"] == pytest.approx(result["diff"] + half, abs=0.015)
    assert paired_bootstrap(rows, "a", "b") == result
    reverse = paired_bootstrap(rows, "b", "a")
    assert reverse["diff"] == pytest.approx(-result["diff"])
    assert reverse["high"] < 0


def test_paired_bootstrap_is_deterministic_for_a_seed():
    rng = np.random.default_rng(2)
    f1_a, f1_b = rng.random(50), rng.random(50)
    rows = [row(str(i), "a", f1=float(v)) for i, v in enumerate(f1_a)]
    rows += [row(str(i), "b", f1=float(v)) for i, v in enumerate(f1_b)]
    first = paired_bootstrap(rows, "a", "b", metric="f1", seed=3)
    assert paired_bootstrap(rows, "a", "b", metric="f1", seed=3) == first
    other = paired_bootstrap(rows, "a", "b", metric="f1", seed=4)
    assert other["diff"] == first["diff"]
    assert (other["low"], other["high"]) != (first["low"], first["high"])
    assert first["diff"] == pytest.approx(f1_a.mean() - f1_b.mean())
    assert first["low"] < first["diff"] < first["high"]


def test_paired_bootstrap_of_identical_methods_is_zero():
    scores = [1.0, 0.0, 1.0, 1.0, 0.0, 0.5]
    result = paired_bootstrap(paired(scores, scores), "a", "b", metric="f1", samples=500)
    assert result == {"diff": 0.0, "low": 0.0, "high": 0.0, "n": 6}


def test_paired_bootstrap_uses_only_items_both_answered():
    rows = paired([1.0, 1.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0])
    rows[1] = row("1", "a", error="timeout")  # a failed item 1
    rows.append(row("9", "a", em=0.0))  # only a answered item 9
    result = paired_bootstrap(rows, "a", "b", metric="accuracy", samples=2000)
    assert result["n"] == 3
    assert result["diff"] == pytest.approx(2 / 3)
    assert result["low"] <= result["diff"] <= result["high"]


def test_paired_bootstrap_without_common_items_and_bad_arguments():
    rows = [row("1", "a"), row("2", "b")]
    assert paired_bootstrap(rows, "a", "b") == {"diff": None, "low": None, "high": None, "n": 0}
    with pytest.raises(ConfigurationError):
        paired_bootstrap(rows, "a", "b", metric="bleu")
    with pytest.raises(ConfigurationError):
        paired_bootstrap(rows, "a", "b", samples=0)


# --- markdown ------------------------------------------------------------------------------


def test_markdown_holds_the_main_type_tool_and_difference_tables(rows):
    rows = [*rows, row("1", "gram", em=1.0), row("2", "gram", em=1.0)]
    rows += [row("3", "gram", em=1.0, kind="comparison")]
    rows += [row("4", "gram", em=0.0, kind="comparison")]
    text = markdown(rows, title="Toy run", command="gram eval --dataset toy", notes="A note.")
    lines = text.splitlines()
    assert lines[0] == "# Toy run"
    assert "A note." in lines
    assert "gram eval --dataset toy" in lines
    header = next(line for line in lines if line.startswith("| method | n |"))
    for column in ["EM", "F1", "accuracy", "LLM calls", "tool calls", "prompt tokens", "seconds"]:
        assert f"| {column} |" in header
    assert header.endswith("| errors |")
    direct = next(line for line in lines if line.startswith("| direct | 3 |"))
    assert "| 33.3% | 50.0% | 33.3% |" in direct
    assert direct.endswith("| 1 |")  # one failed row
    assert "| react | 4 | 75.0% |" in text
    # Per-type accuracy: methods × types.
    assert "## Accuracy by type" in text
    assert "| method | bridge (n=2) | comparison (n=2) |" in text
    assert "| react | 100.0% | 50.0% |" in text
    assert "| direct | 50.0% | 0.0% (n=1) |" in text  # its other comparison item failed
    assert "| gram | 100.0% | 50.0% |" in text
    # Only react calls tools.
    tool_line = next(line for line in lines if line.startswith("**Tool use:**"))
    assert "react 1.5 calls per item, 75.0% of items with a tool call" in tool_line
    assert "direct" not in tool_line
    # Default pairs: gram against each baseline present, in first-seen order.
    assert "## Differences" in text
    differences = lines[lines.index("## Differences") :]
    pairs = [line for line in differences if line.startswith("| gram | ")]
    assert [line.split(" | ")[1] for line in pairs] == ["direct", "react"]
    assert pairs[0].startswith("| gram | direct | 3 | +33.3 [")
    assert "## Failed rows" in text
    assert "EndpointUnreachableError: connection refused" in text


def test_markdown_with_explicit_pairs_list_notes_and_no_errors():
    rows = [row("1", "direct"), row("1", "cot", em=0.0), row("2", "direct"), row("2", "cot")]
    text = markdown(
        rows, title="T", notes=["Model: toy", "Seed: 0"], baseline_pairs=[("cot", "direct")]
    )
    assert "- Model: toy\n- Seed: 0" in text
    assert "| cot | direct | 2 | -50.0 [" in text
    assert "## Failed rows" not in text
    assert "Tool use" not in text
    # Without gram and without explicit pairs there is nothing to compare.
    assert "## Differences" not in markdown(rows, title="T")


# --- plots and files -----------------------------------------------------------------------


def test_plot_accuracy_vs_tokens_writes_a_png(rows, tmp_path):
    path = tmp_path / "acc.png"
    plot_accuracy_vs_tokens(summarize(rows), path)
    width, height = png_size(path)
    assert width > 300 and height > 200
    assert path.stat().st_size > 5000


def test_points_say_their_n_when_methods_were_scored_on_different_items(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    labels: list[str] = []
    real = Axes.annotate
    monkeypatch.setattr(
        Axes,
        "annotate",
        lambda self, text, *a, **k: labels.append(text) or real(self, text, *a, **k),
    )
    even = [row(str(i), m) for i in range(3) for m in ("direct", "gram")]
    plot_accuracy_vs_tokens(summarize(even), tmp_path / "even.png")
    assert labels == ["direct", "gram"]
    labels.clear()
    plot_accuracy_vs_tokens(summarize([*even, row("9", "direct")]), tmp_path / "uneven.png")
    assert labels == ["direct (n=4)", "gram (n=3)"]


def test_plot_depth_width_without_sweep_writes_nothing(rows, tmp_path):
    path = tmp_path / "dw.png"
    assert plot_depth_width(rows, path) is False
    assert plot_depth_width(summarize(rows), path) is False
    assert not path.exists()


@pytest.mark.parametrize("from_summary", [False, True])
def test_plot_depth_width_with_sweep_writes_a_png(tmp_path, from_summary):
    rows = sweep_rows()
    path = tmp_path / "dw.png"
    assert plot_depth_width(summarize(rows) if from_summary else rows, path) is True
    width, height = png_size(path)
    assert width > 300 and height > 200
    assert path.stat().st_size > 5000


def test_write_reports_writes_every_file(tmp_path):
    rows = sweep_rows()
    out = tmp_path / "run"
    paths = write_reports(out, rows, title="Sweep", command="gram eval --sweep ...")
    assert set(paths) == {"summary_json", "summary_md", "accuracy_vs_tokens", "depth_width"}
    assert all(path.parent == out and path.is_file() for path in paths.values())
    summary = json.loads(paths["summary_json"].read_text(encoding="utf-8"))
    assert summary == summarize(rows)
    assert summary["gram[max_depth=2,width=3]"]["accuracy"] == pytest.approx(0.8)
    assert paths["summary_md"].read_text(encoding="utf-8").startswith("# Sweep\n")
    for key in ("accuracy_vs_tokens", "depth_width"):
        assert paths[key].read_bytes()[:8] == PNG_SIGNATURE


def test_write_reports_without_sweep_has_no_depth_width(rows, tmp_path):
    paths = write_reports(tmp_path, rows, title="T")
    assert set(paths) == {"summary_json", "summary_md", "accuracy_vs_tokens"}
    assert not (tmp_path / "depth_width.png").exists()


def test_default_differences_compare_settings_against_plain_gram():
    from langgraph_gram.eval.report import _default_pairs

    pairs = _default_pairs(["direct", "gram", "gram[width=3]"])
    assert ("gram[width=3]", "gram") in pairs
    assert ("gram", "direct") in pairs and ("gram[width=3]", "direct") in pairs
    assert ("gram", "gram") not in pairs


def test_plain_gram_entries_fill_the_grid_from_the_run_budget():
    config = {"budget": {"max_depth": 2}}
    rows = []
    for i in range(40):  # gram at the run's depth 2 on 40 items, 30 right
        rows.append({**row(str(i), "gram", em=float(i < 30)), "config": config})
    for i in range(12):  # width 3 and the depth-1 sweep on the first 12 only
        rows.append({**row(str(i), "gram[width=3]", em=float(i < 11)), "config": config})
        for width in (1, 3):
            method = f"gram[max_depth=1,width={width}]"
            settings = {"max_depth": 1, "width": width}
            rows.append(
                {**row(str(i), method, em=float(i < 6), settings=settings), "config": config}
            )
    rows.append({**row("0", "gram[scorer=llm]", em=1.0), "config": config})  # not a grid entry
    rows.append(row("0", "direct", em=1.0))
    assert grid_cell(rows[0]) == (2, 1)
    assert grid_cell(rows[40]) == (2, 3)
    assert grid_cell(rows[-2]) is None and grid_cell(rows[-1]) is None
    assert grid_cell(row("0", "gram")) is None  # depth unknown without the run's budget
    table = depth_width_table(rows)
    # Every cell on the 12 shared items: depth 2 width 1 is 12/12 there, not 30/40.
    assert "on the 12 items" in table
    assert "| 2 | 100.0% | 91.7% |" in table
    assert "| 1 | 50.0% | 50.0% |" in table
    assert "## Depth × width" in markdown(rows, title="T")
    assert depth_width_table(rows[:40]) == ""  # one cell is no grid
