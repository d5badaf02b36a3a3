"""Multi-hop QA accuracy of GRAM with BM25 retrieval, against any endpoint or the embedded model.

    python benchmarks/multihop_eval.py                      # fictional_multihop, embedded model
    python benchmarks/multihop_eval.py --limit 30 --method direct
    python benchmarks/multihop_eval.py --base-url http://127.0.0.1:8000/v1 --model M

Methods: ``gram`` (decompose, solve leaves with retrieval, aggregate) and ``direct`` (the same
graph at ``max_depth=0``: one search with the whole question, one answer call). Prints exact
match (normalised: lower case, no punctuation or articles) overall and per question type, with
LLM calls and seconds per question, and writes one JSON line per question to ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from langgraph_gram import Budget, create_gram_graph
from langgraph_gram.nodes import normalize_text
from langgraph_gram.tools import corpus_search_tool

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "fictional_multihop"


def exact_match(prediction: str, gold: str) -> bool:
    """Normalised exact match."""
    return normalize_text(prediction) == normalize_text(gold)


@contextlib.asynccontextmanager
async def endpoint(args: argparse.Namespace):
    from langgraph_gram.endpoint import OpenAIEndpoint

    if args.base_url:
        yield OpenAIEndpoint(args.base_url, args.model, max_concurrency=args.concurrency)
        return
    from langgraph_gram.local import LocalServer

    async with LocalServer(args.local_model) as server:
        yield server.endpoint(max_concurrency=args.concurrency)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=Path, default=DATA / "questions.jsonl")
    parser.add_argument("--corpus", type=Path, default=DATA / "corpus.jsonl")
    parser.add_argument("--method", choices=["gram", "direct"], default="gram")
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--max-depth", type=int, default=2)
    parser.add_argument("--max-calls", type=int, default=30)
    parser.add_argument("--top-k", type=int, default=4)
    parser.add_argument("--base-url")
    parser.add_argument("--model")
    parser.add_argument("--local-model")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    items = [json.loads(line) for line in args.questions.read_text().splitlines() if line.strip()]
    items = items[args.offset : None if args.limit is None else args.offset + args.limit]
    out = args.out or Path(f"/tmp/multihop_{args.method}.jsonl")
    console = Console(stderr=True)
    search = corpus_search_tool(args.corpus, k=args.top_k)
    budget = Budget(max_depth=args.max_depth, max_llm_calls=args.max_calls, max_tool_calls=2)
    depth = 0 if args.method == "direct" else args.max_depth
    rows: list[dict[str, Any]] = []
    async with endpoint(args) as model:
        graph = create_gram_graph(model, tools=[search], budget=budget)
        with out.open("w") as sink:
            for n, item in enumerate(items, 1):
                started = time.monotonic()
                try:
                    result = await graph.ainvoke(
                        {"question": item["question"]}, context={"max_depth": depth}
                    )
                    prediction, usage = result["answer"], result["usage"]
                    nodes, cited = len(result["tree"]), [c["id"] for c in result["citations"]]
                except Exception as exc:  # a benchmark records failures and goes on
                    prediction, usage, nodes, cited = f"ERROR {exc!r}", {}, 0, []
                row = {
                    "id": item["id"],
                    "type": item.get("type", "all"),
                    "question": item["question"],
                    "gold": item["answer"],
                    "prediction": prediction,
                    "em": exact_match(prediction, str(item["answer"])),
                    "llm_calls": usage.get("llm_calls", 0),
                    "tokens": usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0),
                    "nodes": nodes,
                    "citations": cited,
                    "seconds": round(time.monotonic() - started, 2),
                }
                rows.append(row)
                sink.write(json.dumps(row) + "\n")
                sink.flush()
                mark = "✓" if row["em"] else "✗"
                console.print(
                    f"{n}/{len(items)} {mark} {row['type']}: {prediction[:40]!r} "
                    f"(gold {item['answer']!r}, {row['llm_calls']} calls, {row['seconds']}s)"
                )
    table = Table(title=f"{args.method} on {args.questions} ({len(rows)} questions)")
    for column in ("type", "n", "EM", "calls/q", "s/q"):
        table.add_column(column, justify="right")
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[row["type"]].append(row)
    groups["ALL"] = rows
    for name, group in sorted(groups.items(), key=lambda kv: (kv[0] == "ALL", kv[0])):
        n = len(group)
        table.add_row(
            name,
            str(n),
            f"{sum(r['em'] for r in group) / n:.3f}",
            f"{sum(r['llm_calls'] for r in group) / n:.1f}",
            f"{sum(r['seconds'] for r in group) / n:.1f}",
        )
    Console().print(table)
    print(f"results: {out}")


if __name__ == "__main__":
    asyncio.run(main())
