"""Could GRAM stop at the root when a first, undecomposed answer looks sure? Measured offline.

    python benchmarks/halting_signals.py docs/results/hotpotqa/items.jsonl \
        --dataset hotpotqa --data ../shared/data/hotpotqa

Adaptive halting would answer the root directly (retrieve, then answer) and decompose only
when that first answer looks unsure, saving the tree's calls where one search suffices. This
script asks, from rows ``gram eval`` already stored, whether the signals a local endpoint
offers without log-probabilities tell a sure first answer from a wrong one:

- ``agree k/3``: at least k of the three ``self_consistency`` samples (same model, same
  passages as ``direct``) give the voted answer;
- ``grounded``: the voted answer occurs in the passages that search retrieved;
- both together.

For each rule it prints how many items would halt, how many of those halted answers are
right, and the exact match of the hybrid (halted items take the voted answer, the others
GRAM's stored answer), beside GRAM alone and the best of both per item (an upper bound).
Only items with ``self_consistency``, ``direct`` and ``gram`` rows count.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langgraph_gram.eval.checks import normalize_answer
from langgraph_gram.eval.datasets import load_dataset, read_jsonl

Rule = Callable[[dict[str, Any], bool], bool]
"""Whether an item halts: ``rule(self_consistency_row, grounded)``."""

RULES: dict[str, Rule] = {
    "never halt (GRAM)": lambda sc, grounded: False,
    "agree 2/3": lambda sc, grounded: top_votes(sc) >= 2,
    "agree 3/3": lambda sc, grounded: top_votes(sc) >= 3,
    "grounded": lambda sc, grounded: grounded,
    "agree 2/3 and grounded": lambda sc, grounded: top_votes(sc) >= 2 and grounded,
    "agree 3/3 and grounded": lambda sc, grounded: top_votes(sc) >= 3 and grounded,
}
"""The halting rules compared."""


def top_votes(row: dict[str, Any]) -> int:
    """Votes of the most voted answer of a ``self_consistency`` row (0 without votes)."""
    votes = (row.get("detail") or {}).get("votes") or {}
    return max(votes.values(), default=0)


def grounded(answer: str, passages: list[dict[str, Any]]) -> bool:
    """Whether a normalised answer occurs in the normalised text of some passages."""
    needle = normalize_answer(answer)
    if not needle:
        return False
    text = normalize_answer(" ".join(f"{p.get('title', '')} {p['text']}" for p in passages))
    return needle in text


def paired_rows(rows: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Group scored rows by item id, then method, keeping items that have all three methods."""
    by_item: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for row in rows:
        if row.get("error") is None and row.get("em") is not None:
            by_item[row["id"]][row["method"]] = row
    need = {"self_consistency", "direct", "gram"}
    return {k: v for k, v in by_item.items() if need <= set(v)}


def evaluate(
    items: dict[str, dict[str, dict[str, Any]]],
    passages_of: Callable[[str], dict[str, dict[str, Any]]],
) -> list[dict[str, Any]]:
    """Score every rule on the paired items.

    Args:
        items: ``paired_rows`` output.
        passages_of: Item id -> ``{passage id: passage}`` the item's searches ran over.

    Returns:
        One ``{"rule", "n", "halted", "halted_right", "em"}`` per rule, then an ``oracle`` row.
    """
    flags = {}
    for item_id, methods in items.items():
        sc = methods["self_consistency"]
        pool = passages_of(item_id)
        seen = [pool[i] for i in (sc.get("detail") or {}).get("retrieved", []) if i in pool]
        flags[item_id] = grounded(sc.get("prediction") or "", seen)
    n = len(items)
    out = []
    for name, rule in RULES.items():
        halted = [k for k, m in items.items() if rule(m["self_consistency"], flags[k])]
        right = sum(items[k]["self_consistency"]["em"] for k in halted)
        kept = sum(m["gram"]["em"] for k, m in items.items() if k not in halted)
        out.append(
            {
                "rule": name,
                "n": n,
                "halted": len(halted),
                "halted_right": int(right),
                "em": (right + kept) / n if n else 0.0,
            }
        )
    best = sum(max(m["gram"]["em"], m["self_consistency"]["em"]) for m in items.values())
    out.append(
        {
            "rule": "oracle (best of both)",
            "n": n,
            "halted": None,
            "halted_right": None,
            "em": best / n if n else 0.0,
        }
    )
    return out


def main() -> None:
    """Print the table for one ``items.jsonl``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("items", type=Path, help="a gram eval items.jsonl")
    parser.add_argument("--dataset", required=True, help="built-in dataset name")
    parser.add_argument("--data", required=True, help="the dataset's folder or file")
    args = parser.parse_args()
    dataset = load_dataset(args.dataset, args.data)
    shared = {p["id"]: p for p in read_jsonl(dataset.corpus)} if dataset.corpus else {}
    own = {i.id: {p["id"]: p for p in i.passages or []} for i in dataset.items}
    items = paired_rows(read_jsonl(args.items))
    table = evaluate(items, lambda item_id: own.get(item_id) or shared)
    print(f"{args.items} ({len(items)} items with self_consistency, direct and gram rows)")
    print("| rule | halted | halted right | EM |")
    print("|---|---|---|---|")
    for r in table:
        halted = "–" if r["halted"] is None else str(r["halted"])
        right = "–" if r["halted_right"] is None else str(r["halted_right"])
        print(f"| {r['rule']} | {halted} | {right} | {100 * r['em']:.1f} |")


if __name__ == "__main__":
    main()
