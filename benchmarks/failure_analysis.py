"""Sort a method's wrong multi-hop answers into failure kinds, item by item.

    python benchmarks/failure_analysis.py docs/results/fictional_multihop/items.jsonl \
        --questions ../shared/data/fictional_multihop/questions.jsonl --method gram

    python benchmarks/failure_analysis.py docs/results/musique/items.jsonl \
        --questions ../shared/data/musique/musique_ans_dev_100.jsonl --method gram

Needs questions with a gold ``chain`` (the entities from the question's subject to the
answer, as in fictional_multihop) or a gold ``question_decomposition`` (MuSiQue: the chain is
its hops' answers) and, for ``gram``, the compact tree ``gram eval`` stores in each row. For
MuSiQue it also prints how many sub-questions GRAM's root plan had against the gold hops.
Kinds, first match wins:

- ``aggregation``: some node found the gold answer, the root did not return it;
- ``comparison, entity missed``: a compared entity of the gold chain (e.g. one company's
  founder) appears in no node (a wrong hop before the comparison);
- ``comparison, values found`` / ``comparison, value missing``: a comparison answered
  wrongly with both compared numbers in the tree (compared wrongly, or a number misread), or
  without them;
- ``hop k missed``: no node's answer holds the chain's k-th entity (the hop that was never
  found: a retrieval or extraction miss, or a plan without that hop);
- ``final hop``: every intermediate entity was found, the final answer was not;
- ``no tree``: a baseline, or a row without a tree (only the prediction is shown).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

from langgraph_gram.eval.checks import normalize_answer
from langgraph_gram.number_facts import single_number


def _holds(text: str, entity: str) -> bool:
    return bool(entity) and normalize_answer(entity) in normalize_answer(text)


def classify(row: dict[str, Any], question: dict[str, Any]) -> str:
    """Name the failure kind of one wrong row (see the module docstring).

    Args:
        row: The ``items.jsonl`` row.
        question: The question with its gold ``chain`` and ``answer``.

    Returns:
        The kind.
    """
    tree = (row.get("detail") or {}).get("tree")
    if not tree:
        return "no tree"
    answers = [answer or "" for _, answer in tree.values()]
    gold = str(question["answer"])
    if any(_holds(a, gold) for node_id, (_, a) in tree.items() if node_id != "0"):
        return "aggregation"
    chain = [str(e) for e in question.get("chain") or []]
    if question.get("type", "").startswith("compare"):
        texts = [f"{q} {a}" for q, a in tree.values()]
        for entity in chain:  # a compared entity (e.g. a founder) that no node found
            if not any(_holds(t, entity) for t in texts):
                return "comparison, entity missed"
        found = sum(1 for a in answers if single_number(a) is not None)
        return "comparison, values found" if found >= 2 else "comparison, value missing"
    for k, entity in enumerate(chain[1:-1], start=1):
        if not any(_holds(a, entity) for a in answers):
            return f"hop {k} missed"
    return "final hop"


def gold_chain(question: dict[str, Any]) -> list[str]:
    """Return the entities from the question's subject to its answer.

    Args:
        question: A question with a ``chain`` (fictional_multihop) or a MuSiQue
            ``question_decomposition`` (whose subject is unnamed: the chain starts empty).

    Returns:
        The chain; its middle entries are the intermediate answers a tree must find.
    """
    if question.get("chain"):
        return [str(e) for e in question["chain"]]
    hops = question.get("question_decomposition") or []
    return ["", *(str(h["answer"]) for h in hops)] if hops else []


def _with_chain(question: dict[str, Any]) -> dict[str, Any]:
    question = dict(question)
    question["chain"] = gold_chain(question)
    if "question_decomposition" in question:  # MuSiQue: the type is the id's hop pattern
        question.setdefault("type", str(question["id"]).split("__")[0])
    return question


def plan_sizes(rows: list[dict[str, Any]], questions: dict[str, dict[str, Any]]) -> Counter:
    """Count root plans by their size against the gold number of hops.

    Args:
        rows: ``gram`` rows with trees.
        questions: Questions by id, with a gold ``question_decomposition``.

    Returns:
        ``(gold hops, root sub-questions)`` -> number of rows (0 sub-questions: solved whole).
    """
    sizes: Counter[tuple[int, int]] = Counter()
    for row in rows:
        tree = (row.get("detail") or {}).get("tree") or {}
        hops = len(questions[row["id"]].get("question_decomposition") or [])
        if tree and hops:
            sizes[(hops, sum(1 for node_id in tree if node_id.count(".") == 1))] += 1
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("items", type=Path, help="a gram eval items.jsonl")
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--method", default="gram")
    args = parser.parse_args()
    lines = args.questions.read_text().splitlines()
    questions = {q["id"]: _with_chain(q) for q in map(json.loads, lines) if q}
    rows = [json.loads(line) for line in args.items.read_text().splitlines() if line.strip()]
    latest = {(r["id"], r["method"]): r for r in rows}
    wrong = [
        r
        for (qid, method), r in latest.items()
        if method == args.method and r.get("correct") is False and qid in questions
    ]
    kinds: Counter[str] = Counter()
    for row in wrong:
        question = questions[row["id"]]
        kind = classify(row, question)
        kinds[kind] += 1
        print(
            f"{row['id']:6} {question.get('type', ''):18} {kind:15} "
            f"{str(row['prediction'])[:40]!r} (gold {question['answer']!r})"
        )
    scored = sum(1 for (_, m), r in latest.items() if m == args.method and r.get("error") is None)
    print(
        f"\n{len(wrong)} wrong of {scored} scored: "
        + ", ".join(f"{k} {n}" for k, n in kinds.most_common())
    )
    rows_of_method = [r for (qid, m), r in latest.items() if m == args.method and qid in questions]
    sizes = plan_sizes(rows_of_method, questions)
    if sizes:
        print("root plan size against gold hops (gold hops: sub-questions x rows):")
        for hops in sorted({h for h, _ in sizes}):
            cells = ", ".join(f"{n} x {c}" for (h, n), c in sorted(sizes.items()) if h == hops)
            print(f"  {hops} hops: {cells}")


if __name__ == "__main__":
    main()
