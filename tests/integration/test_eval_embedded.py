"""`gram eval` against the embedded model: the baselines are real and ReAct really searches."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.embedded, pytest.mark.timeout(1200)]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "data"


def test_every_method_answers_a_multi_hop_question_from_the_corpus(local_server, tmp_path):
    out = tmp_path / "eval"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "langgraph_gram.cli",
            "eval",
            "--questions",
            str(EXAMPLES / "tiny_questions.jsonl"),
            "--corpus",
            str(EXAMPLES / "tiny_corpus.jsonl"),
            "--types",
            "all",
            "--offset",
            "1",
            "--limit",
            "1",
            "--methods",
            "direct,react,gram[max_depth=1]",
            "--out",
            str(out),
            "--base-url",
            local_server.base_url,
            "--model",
            local_server.model_name,
        ],
        capture_output=True,
        text=True,
        timeout=1100,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {r["method"]: r for r in map(json.loads, (out / "items.jsonl").open())}
    assert set(rows) == {"direct", "react", "gram[max_depth=1]"}
    assert all(r["error"] is None and r["prediction"] for r in rows.values()), rows
    assert rows["direct"]["tool_calls"] == 1 and rows["direct"]["llm_calls"] == 1
    assert rows["react"]["tool_calls"] >= 1  # the baseline searched before answering
    assert rows["gram[max_depth=1]"]["tool_calls"] >= 1
    assert all(r["prompt_tokens"] > 0 for r in rows.values())
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) == set(rows)
    assert (out / "accuracy_vs_tokens.png").stat().st_size > 1000
