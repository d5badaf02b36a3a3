"""docs/results.md's summary table says what the committed summary.json files say."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "results.md"
FOLDERS = {
    "fictional_multihop": "fictional_multihop",
    "held-out shapes": "fictional_shapes",
    "HotpotQA distractor": "hotpotqa",
    "MuSiQue-Ans": "musique",
    "GSM8K": "gsm8k",
    "last letters": "last_letters",
    "game24": "game24",
}
COLUMNS = ["direct", "cot", "self_consistency", "react", "gram"]
ROW = re.compile(r"^\| (?P<set>[^|(]+?) \((?P<n>\d+)\) \|(?P<cells>.*)\|$")
CELL = re.compile(r"^\**(?P<pct>\d+\.\d)%\**(?: \((?P<n>\d+)\))?$")


def summary_rows() -> list[tuple[str, int, list[str]]]:
    text = DOC.read_text(encoding="utf-8")
    table = text.split("## Summary", 1)[1].split("\n\n", 2)[1]
    rows = []
    for line in table.splitlines():
        match = ROW.match(line)
        if match and match["set"] in FOLDERS:
            cells = [c.strip() for c in match["cells"].split("|")]
            rows.append((match["set"], int(match["n"]), cells))
    return rows


def test_the_summary_table_lists_every_set():
    assert {name for name, _, _ in summary_rows()} == set(FOLDERS)


@pytest.mark.parametrize(("name", "n", "cells"), summary_rows(), ids=lambda v: str(v)[:20])
def test_each_summary_cell_is_the_committed_result(name, n, cells):
    summary = json.loads((ROOT / "docs" / "results" / FOLDERS[name] / "summary.json").read_text())
    for method, cell in zip(COLUMNS, cells, strict=True):
        if cell == "—":
            assert method not in summary or not summary[method]["n"], (name, method)
            continue
        match = CELL.match(cell)
        assert match, (name, method, cell)
        stats = summary[method]
        assert stats["n"] == int(match["n"] or n), (name, method, stats["n"])
        assert f"{100 * stats['accuracy']:.1f}" == match["pct"], (name, method, stats["accuracy"])
