"""``benchmarks/halting_signals.py``: halting rules scored on stored rows, offline."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "halting_signals.py"
spec = importlib.util.spec_from_file_location("gram_benchmark_halting_signals", SCRIPT)
hs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(hs)

PASSAGES = {
    "p1": {"id": "p1", "title": "Ostra", "text": "Ostra was founded by Aster Quillon."},
    "p2": {"id": "p2", "title": "Seld", "text": "Seld lies on the Lowen river."},
}


def rows(item_id, *, sc_answer, votes, sc_em, gram_em, retrieved=("p1",)):
    sc = {
        "id": item_id,
        "method": "self_consistency",
        "prediction": sc_answer,
        "em": sc_em,
        "error": None,
        "detail": {"votes": {sc_answer.lower(): votes}, "retrieved": list(retrieved)},
    }
    return [
        sc,
        {"id": item_id, "method": "direct", "prediction": sc_answer, "em": sc_em, "error": None},
        {"id": item_id, "method": "gram", "prediction": "g", "em": gram_em, "error": None},
    ]


def table(all_rows):
    items = hs.paired_rows(all_rows)
    return {r["rule"]: r for r in hs.evaluate(items, lambda _id: PASSAGES)}


def test_grounded_needs_the_answer_in_the_retrieved_text():
    assert hs.grounded("Aster Quillon", [PASSAGES["p1"]])
    assert hs.grounded("the Ostra", [PASSAGES["p1"]])  # articles are normalised away
    assert not hs.grounded("Lowen", [PASSAGES["p1"]])
    assert not hs.grounded("", [PASSAGES["p1"]])


def test_a_sure_wrong_first_answer_costs_the_hybrid_what_gram_had():
    # Item a: three samples agree on an answer found in the passages, wrongly; GRAM was right.
    # Item b: the samples split; GRAM was wrong. Item c: agreed and right; GRAM wrong.
    got = table(
        [
            *rows("a", sc_answer="Aster Quillon", votes=3, sc_em=0.0, gram_em=1.0),
            *rows("b", sc_answer="Lowen", votes=1, sc_em=0.0, gram_em=0.0),
            *rows("c", sc_answer="Ostra", votes=3, sc_em=1.0, gram_em=0.0),
        ]
    )
    assert got["never halt (GRAM)"]["em"] == 1 / 3
    assert got["agree 3/3"]["halted"] == 2
    assert got["agree 3/3"]["halted_right"] == 1
    assert got["agree 3/3"]["em"] == 1 / 3  # a lost, c gained
    assert got["grounded"]["halted"] == 2  # "Lowen" is not in p1
    assert got["oracle (best of both)"]["em"] == 2 / 3


def test_items_without_all_three_methods_or_with_errors_are_left_out():
    partial = rows("a", sc_answer="Ostra", votes=3, sc_em=1.0, gram_em=0.0)[:2]
    errored = rows("b", sc_answer="Ostra", votes=3, sc_em=1.0, gram_em=0.0)
    errored[2] = {**errored[2], "error": "endpoint down", "em": None}
    assert hs.paired_rows([*partial, *errored]) == {}
