"""Multi-hop question answering: GRAM with BM25 search over a document collection.

Every leaf of the tree searches the corpus with its own question (``corpus_search_tool`` is
prefetched), may search again through the JSON action protocol, and answers from the quoted
passages; the answer comes back with the passages it rests on.

    python examples/multihop_qa.py                        # tiny invented corpus, question 1
    python examples/multihop_qa.py --index 0              # another question of that corpus
    python examples/multihop_qa.py --question "Who founded Orrick & Tane?"
    python examples/multihop_qa.py --corpus ../shared/data/fictional_multihop/corpus.jsonl
    python examples/multihop_qa.py --hotpotqa --index 3   # one HotpotQA distractor question
    python examples/multihop_qa.py --base-url http://127.0.0.1:8000/v1 --model M

``--corpus`` takes any JSONL file of ``{"id", "title", "text"}``; its questions are read from
``--questions`` or, when that is not given, from a questions file beside it
(``tiny_questions.jsonl`` or ``questions.jsonl``: ``{"question", "answer"}`` per line).
``--hotpotqa`` builds a 10-paragraph corpus from one HotpotQA item's own context (2 gold and
8 distractor paragraphs, ``../shared/data/hotpotqa``) and asks that item's question.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import (
    EXAMPLE_DATA,
    SHARED_DATA,
    Timer,
    add_data_arg,
    add_model_args,
    open_backend,
    print_fields,
    print_tree,
    read_jsonl,
    require_file,
    summary,
)
from rich.console import Console

from langgraph_gram import Budget, create_gram_graph
from langgraph_gram.text import normalize_text
from langgraph_gram.tools import corpus_search_tool

TINY_CORPUS = EXAMPLE_DATA / "tiny_corpus.jsonl"
DEFAULT_QUESTION = "In which city was the founder of Brightwell Foods born?"
DEFAULT_GOLD = "Harrowgate"
HOTPOTQA_FILE = "hotpotqa/hotpotqa_dev_distractor_200.jsonl"
DEFAULT_BUDGET = Budget(max_depth=1, max_children=3, max_llm_calls=16, max_tool_calls=2)
"""One level of sub-questions (up to three hops), each leaf searching on its own."""


def matches(answer: str, gold: str | None) -> bool | None:
    """Exact match after normalisation, or the gold answer contained in the answer."""
    if gold is None:
        return None
    got, want = normalize_text(answer), normalize_text(gold)
    return bool(want) and (got == want or f" {want} " in f" {got} ")


def questions_for(corpus: Path, questions: Path | None = None) -> list[dict[str, Any]]:
    """The questions of a corpus: ``questions`` if given, else a questions file beside it."""
    if questions is not None:
        return read_jsonl(require_file(questions, "questions file"))
    for name in (corpus.stem.replace("corpus", "questions") + ".jsonl", "questions.jsonl"):
        candidate = corpus.with_name(name)
        if candidate.is_file():
            return read_jsonl(candidate)
    return []


def hotpotqa_corpus(item: dict[str, Any], folder: Path) -> Path:
    """Write one HotpotQA item's 10 context paragraphs as a JSONL corpus in ``folder``."""
    path = folder / f"hotpotqa-{item['_id']}.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for i, (title, sentences) in enumerate(item["context"]):
            text = "".join(sentences).strip()
            out.write(json.dumps({"id": f"h{i}", "title": title, "text": text}) + "\n")
    return path


async def run(
    model: Any,
    *,
    question: str | None = None,
    gold: str | None = None,
    corpus: Path | str = TINY_CORPUS,
    hotpotqa: bool = False,
    index: int = 0,
    data: Path | str = SHARED_DATA,
    budget: Budget | None = None,
    k: int = 3,
) -> dict[str, Any]:
    """Answer one question with GRAM and corpus search.

    Args:
        model: A LangChain chat model or an ``OpenAIEndpoint``.
        question: The question; default: the ``index``-th question of the corpus's questions
            file (the command line picks the tiny corpus's Brightwell Foods question, index 1).
        gold: The expected answer, when known (read from the questions file otherwise).
        corpus: The JSONL corpus.
        hotpotqa: Ask the ``index``-th HotpotQA item over its own 10 paragraphs instead.
        index: Which question of the file.
        data: The shared data folder (for ``hotpotqa``).
        budget: GRAM's budget (default :data:`DEFAULT_BUDGET`).
        k: Passages per search.

    Returns:
        ``question``, ``gold``, ``correct`` (``None`` without gold), ``sources`` (the cited
        passages), ``searches`` (every search a leaf made), plus ``answer``, ``citations``,
        ``tree``, ``usage``, ``stopped_by`` and ``seconds``.
    """
    with tempfile.TemporaryDirectory(prefix="gram-hotpotqa-") as scratch:
        corpus_path = Path(corpus)
        if hotpotqa:
            items = read_jsonl(require_file(Path(data) / HOTPOTQA_FILE, "HotpotQA"))
            item = items[index]
            corpus_path = hotpotqa_corpus(item, Path(scratch))
            question, gold = item["question"], item["answer"]
        elif question is None:
            rows = questions_for(corpus_path)
            if rows:
                row = rows[index]
                question, gold = row["question"], row.get("answer")
            else:
                question, gold = DEFAULT_QUESTION, DEFAULT_GOLD
        search = corpus_search_tool(corpus_path, k=k)
        graph = create_gram_graph(model, tools=[search], budget=budget or DEFAULT_BUDGET)
        timer = Timer()
        state = await graph.ainvoke({"question": question})
        seconds = timer.seconds
    tree = state["tree"]
    searches = [
        {"node": node_id, "query": node.get("resolved_question") or node["question"]}
        for node_id, node in sorted(tree.items())
        if node.get("kind") == "leaf" and node.get("status") in {"done", "failed"}
    ] + [
        {"node": node_id, "query": call["input"]}
        for node_id, node in sorted(tree.items())
        for call in node.get("tool_calls") or []
        if call["tool"] == search.name
    ]
    return {
        **summary(state, seconds),
        "question": question,
        "gold": gold,
        "correct": matches(state["answer"], gold),
        "sources": state.get("citations", []),
        "searches": searches,
        "corpus": str(corpus_path) if not hotpotqa else f"hotpotqa[{index}] (10 paragraphs)",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    add_model_args(parser)
    add_data_arg(parser)
    parser.add_argument("--corpus", type=Path, default=TINY_CORPUS, help="JSONL corpus")
    parser.add_argument("--questions", type=Path, default=None, help="JSONL questions file")
    parser.add_argument("--question", default=None, help="ask this instead of a listed question")
    parser.add_argument("--index", type=int, default=None, help="which listed question (0-based)")
    parser.add_argument("--hotpotqa", action="store_true", help="one HotpotQA distractor item")
    parser.add_argument("--max-depth", type=int, default=DEFAULT_BUDGET.max_depth)
    parser.add_argument("--max-calls", type=int, default=DEFAULT_BUDGET.max_llm_calls)
    args = parser.parse_args(argv)
    console = Console()
    budget = Budget(
        max_depth=args.max_depth,
        max_children=DEFAULT_BUDGET.max_children,
        max_llm_calls=args.max_calls,
        max_tool_calls=DEFAULT_BUDGET.max_tool_calls,
    )
    question, gold, index = args.question, None, args.index
    if args.questions is not None and question is None:
        row = questions_for(args.corpus, args.questions)[index or 0]
        question, gold = row["question"], row.get("answer")
    if index is None:
        # Default: the Brightwell Foods question of the tiny corpus (index 1), else the first.
        tiny = not args.hotpotqa and args.corpus.resolve() == TINY_CORPUS.resolve()
        index = 1 if tiny else 0

    async def go() -> dict[str, Any]:
        async with open_backend(args, console) as backend:
            return await run(
                backend.endpoint,
                question=question,
                gold=gold,
                corpus=args.corpus,
                hotpotqa=args.hotpotqa,
                index=index,
                data=args.data,
                budget=budget,
            )

    result = asyncio.run(go())
    print_tree(console, result, result["seconds"])
    sources = "; ".join(f"[{c['id']}] {c['title']}" for c in result["sources"]) or "(none)"
    print_fields(
        console,
        "multi-hop QA",
        [
            ("question", result["question"]),
            ("answer", result["answer"]),
            ("sources", sources),
            ("gold", result["gold"] if result["gold"] is not None else "(unknown)"),
            ("correct", result["correct"]),
            ("corpus", result["corpus"]),
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
