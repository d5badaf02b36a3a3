"""``benchmarks/failure_analysis.py``: each wrong GRAM tree gets the failure kind it shows."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "failure_analysis.py"
spec = importlib.util.spec_from_file_location("gram_benchmark_failure_analysis", SCRIPT)
fa = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fa)

CHAIN3 = {
    "answer": "Seld",
    "type": "chain3",
    "chain": ["Velmora Instruments", "Aster Quillon", "Lowen Ferry", "Seld"],
}
COMPARE = {
    "answer": "Bo Vale",
    "type": "compare_founders",
    "chain": ["Acme", "Ada Vale", "Zed Corp", "Bo Vale"],
}


def row(tree: dict) -> dict:
    return {"detail": {"tree": {k: list(v) for k, v in tree.items()}}}


@pytest.mark.parametrize(
    ("question", "tree", "kind"),
    [
        (
            CHAIN3,
            {"0": ("Q", "Ostra"), "0.1": ("q", "Aster Quillon"), "0.2": ("q", "Seld")},
            "aggregation",
        ),
        (CHAIN3, {"0": ("Q", "Ostra"), "0.1": ("q", "Someone Else")}, "hop 1 missed"),
        (CHAIN3, {"0": ("Q", "Ostra"), "0.1": ("q", "Aster Quillon")}, "hop 2 missed"),
        (
            CHAIN3,
            {"0": ("Q", "Ostra"), "0.1": ("q", "Aster Quillon"), "0.2": ("q", "Lowen Ferry")},
            "final hop",
        ),
        (
            {"type": "compare_founded", "answer": "Zed Corp", "chain": ["Acme", "Zed Corp"]},
            {
                "0": ("Q", "Acme"),
                "0.1": ("When was Acme founded?", "1950"),
                "0.2": ("When was Zed Corp founded?", "1940"),
            },
            "comparison, values found",
        ),
        (CHAIN3, {}, "no tree"),
    ],
)
def test_failure_kinds(question, tree, kind):
    assert fa.classify(row(tree), question) == kind


MUSIQUE = {
    "id": "2hop__1_2",
    "answer": "1931",
    "question_decomposition": [
        {"question": "who was the actress in the film", "answer": "Ada Vale"},
        {"question": "when was #1 born", "answer": "1931"},
    ],
}


def test_musique_chain_comes_from_the_gold_decomposition():
    question = fa._with_chain(MUSIQUE)
    assert question["chain"] == ["", "Ada Vale", "1931"]
    assert question["type"] == "2hop"
    assert fa.classify(row({"0": ("Q", "1940"), "0.1": ("q", "Bo Vale")}), question) == (
        "hop 1 missed"
    )
    assert fa.classify(row({"0": ("Q", "1940"), "0.1": ("q", "Ada Vale")}), question) == (
        "final hop"
    )


def test_plan_sizes_count_root_sub_questions_against_gold_hops():
    rows = [
        {"id": "2hop__1_2", **row({"0": ("Q", "a"), "0.1": ("q", "b"), "0.1.1": ("q", "c")})},
        {"id": "2hop__1_2", **row({"0": ("Q", "a"), "0.1": ("q", "b"), "0.2": ("q", "c")})},
        {"id": "2hop__1_2", **row({"0": ("Q", "a")})},
    ]
    sizes = fa.plan_sizes(rows, {"2hop__1_2": MUSIQUE})
    assert sizes == {(2, 1): 1, (2, 2): 1, (2, 0): 1}
