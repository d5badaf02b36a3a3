"""Recall of the built-in BM25 corpus search (``langgraph_gram.tools.CorpusIndex``).

fictional_multihop: every entity name in every question's gold ``chain`` that has its own
document (title == name; answer values such as years have none) is searched on its own; a hit
at k is its own document in the top k. The same for the question text itself, against the
first entity of the chain (what the engine's prefetch sees at the root).

hotpotqa (distractor, 200 questions): per question, an index of its 10 context paragraphs;
every supporting-fact title is searched on its own (own paragraph in the top k), and the
question is searched (fraction of the supporting titles in the top k).

musique (answerable dev, 100 questions): per question, an index of its 20 paragraphs; the
question is searched (fraction of the supporting paragraphs in the top k | all of them), and
so is every gold sub-question with its ``#k`` references replaced by the gold answers, the
query a leaf of a right plan searches with (its own supporting paragraph in the top k).

Usage: python benchmarks/retrieval_recall.py [DATA_DIR]   (default: ../shared/data from the
repository root)
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

from langgraph_gram.tools import CorpusIndex

KS = (1, 2, 4, 8)
DEFAULT_K = 4


def rank_of(index: CorpusIndex, query: str, wanted: set[str], k: int = max(KS)) -> list[int]:
    """1-based ranks of the wanted ids within the top k (missing ones are left out)."""
    hits = index.search(query, k)
    return [i for i, hit in enumerate(hits, start=1) if hit["id"] in wanted]


def recall_line(label: str, ranks: list[int | None]) -> str:
    n = len(ranks)
    cells = []
    for k in KS:
        found = sum(1 for r in ranks if r is not None and r <= k)
        cells.append(f"R@{k}={found / n:.3f}" if n else f"R@{k}=n/a")
    return f"  {label:<22} n={n:<5} " + "  ".join(cells)


def print_question_recall(
    asked: dict[str, dict[int, list[float]]], both: dict[str, dict[int, list[int]]]
) -> None:
    """Print, per label and k, the mean fraction of supporting paragraphs found | all found."""
    print("question text -> supporting paragraphs (mean fraction found | all found):")
    for label in ["all", *sorted(k for k in asked if k != "all")]:
        n = len(asked[label][KS[0]])
        cells = "  ".join(
            f"R@{k}={sum(asked[label][k]) / n:.3f}|{sum(both[label][k]) / n:.3f}" for k in KS
        )
        print(f"  {label:<22} n={n:<5} {cells}")


def fictional(data_dir: Path) -> None:
    folder = data_dir / "fictional_multihop"
    started = time.perf_counter()
    index = CorpusIndex.from_path(folder / "corpus.jsonl")
    built = time.perf_counter() - started
    by_title: dict[str, set[str]] = defaultdict(set)
    for doc in index.documents:
        by_title[doc["title"]].add(doc["id"])
    questions = [
        json.loads(line) for line in (folder / "questions.jsonl").read_text().splitlines() if line
    ]
    names: dict[str, list[int | None]] = defaultdict(list)
    asked: dict[str, list[int | None]] = defaultdict(list)
    skipped = 0
    unique: set[str] = set()
    started = time.perf_counter()
    searches = 0
    for q in questions:
        for name in q["chain"]:
            if name not in by_title:
                skipped += 1  # an answer value without its own document (a year, ...)
                continue
            unique.add(name)
            ranks = rank_of(index, name, by_title[name])
            searches += 1
            rank = ranks[0] if ranks else None
            names["all"].append(rank)
            names[q["type"]].append(rank)
        first = q["chain"][0]
        ranks = rank_of(index, q["question"], by_title.get(first, set()))
        searches += 1
        asked["all"].append(ranks[0] if ranks else None)
        asked[q["type"]].append(ranks[0] if ranks else None)
    per_search = (time.perf_counter() - started) / max(searches, 1)
    print(
        f"fictional_multihop: {len(index)} documents (indexed in {built:.2f} s), "
        f"{len(questions)} questions, {per_search * 1000:.2f} ms per search"
    )
    print(
        f"entity name -> own document: {len(names['all'])} names checked "
        f"({len(unique)} distinct), {skipped} chain values without a document skipped"
    )
    for label in ["all", *sorted(k for k in names if k != "all")]:
        print(recall_line(label, names[label]))
    print("question text -> document of the chain's first entity:")
    for label in ["all", *sorted(k for k in asked if k != "all")]:
        print(recall_line(label, asked[label]))
    misses = [
        (name, rank_of(index, name, by_title[name]))
        for name in sorted(unique)
        if not any(r <= DEFAULT_K for r in rank_of(index, name, by_title[name]))
    ]
    if misses:
        print(f"  names missed at k={DEFAULT_K}: {misses[:10]}")


def hotpotqa(data_dir: Path) -> None:
    path = data_dir / "hotpotqa" / "hotpotqa_dev_distractor_200.jsonl"
    if not path.is_file():
        print(f"hotpotqa: {path} not found, skipped")
        return
    items = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    titles: dict[str, list[int | None]] = defaultdict(list)
    asked: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    both: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for item in items:
        docs = [
            {"id": str(i), "title": title, "text": " ".join(sentences)}
            for i, (title, sentences) in enumerate(item["context"])
        ]
        index = CorpusIndex(docs)
        ids_of: dict[str, set[str]] = defaultdict(set)
        for doc in docs:
            ids_of[doc["title"]].add(doc["id"])
        gold = sorted({title for title, _ in item["supporting_facts"] if title in ids_of})
        for title in gold:
            ranks = rank_of(index, title, ids_of[title])
            for label in ("all", item["type"]):
                titles[label].append(ranks[0] if ranks else None)
        gold_ids = set().union(*(ids_of[t] for t in gold)) if gold else set()
        found = rank_of(index, item["question"], gold_ids)
        for k in KS:
            in_top = sum(1 for r in found if r <= k)
            for label in ("all", item["type"]):
                asked[label][k].append(in_top / len(gold_ids) if gold_ids else 0.0)
                both[label][k].append(int(bool(gold_ids) and in_top == len(gold_ids)))
    print(f"hotpotqa distractor: {len(items)} questions, 10 paragraphs each (per-question index)")
    print(f"supporting title -> own paragraph: {len(titles['all'])} titles checked")
    for label in ["all", *sorted(k for k in titles if k != "all")]:
        print(recall_line(label, titles[label]))
    print_question_recall(asked, both)


def musique(data_dir: Path) -> None:
    path = data_dir / "musique" / "musique_ans_dev_100.jsonl"
    if not path.is_file():
        print(f"musique: {path} not found, skipped")
        return
    items = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    hops: dict[str, list[int | None]] = defaultdict(list)
    asked: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    both: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for item in items:
        kind = item["id"].split("__")[0]
        docs = [
            {"id": str(p["idx"]), "title": p["title"], "text": p["paragraph_text"]}
            for p in item["paragraphs"]
        ]
        index = CorpusIndex(docs)
        gold_ids = {str(p["idx"]) for p in item["paragraphs"] if p["is_supporting"]}
        found = rank_of(index, item["question"], gold_ids)
        for k in KS:
            in_top = sum(1 for r in found if r <= k)
            for label in ("all", kind):
                asked[label][k].append(in_top / len(gold_ids))
                both[label][k].append(int(in_top == len(gold_ids)))
        answers: list[str] = []
        for step in item["question_decomposition"]:
            query = step["question"]
            for n, answer in enumerate(answers, start=1):
                query = query.replace(f"#{n}", answer)
            answers.append(str(step["answer"]))
            ranks = rank_of(index, query, {str(step["paragraph_support_idx"])})
            for label in ("all", kind):
                hops[label].append(ranks[0] if ranks else None)
    print(f"musique: {len(items)} questions, 20 paragraphs each (per-question index)")
    print_question_recall(asked, both)
    print("gold sub-question (earlier answers filled in) -> its supporting paragraph:")
    for label in ["all", *sorted(k for k in hops if k != "all")]:
        print(recall_line(label, hops[label]))


def main() -> None:
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?", type=Path, default=repo / ".." / "shared" / "data")
    args = parser.parse_args()
    data_dir = args.data_dir.resolve()
    print(f"data: {data_dir}; default k = {DEFAULT_K}")
    fictional(data_dir)
    hotpotqa(data_dir)
    musique(data_dir)


if __name__ == "__main__":
    main()
