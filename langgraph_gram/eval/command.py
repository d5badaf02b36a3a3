r"""``gram eval``: run methods over a dataset and write the results and plots.

Examples:
    gram eval --dataset fictional_multihop --data ../shared/data/fictional_multihop \\
        --methods direct,react,gram --limit 50 --out runs/fictional
    gram eval --questions my.jsonl --corpus corpus.jsonl --methods direct,gram --out runs/mine
    gram eval --dataset fictional_multihop --data DIR --sweep max_depth=1,2 width=1,3 \\
        --methods "" --limit 20 --out runs/sweep
    gram eval --report-only --out runs/fictional
    gram eval --dataset fictional_multihop --data DIR --limit 150 --plan --out runs/fictional
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from langgraph_gram.context import Budget
from langgraph_gram.errors import ConfigurationError, GramError

DEFAULT_METHODS = "direct,cot,self_consistency,react,gram"
"""Every method, with its default settings."""

DEFAULT_BUDGET = Budget(max_depth=2, max_llm_calls=30, max_tool_calls=2, max_seconds=600)
"""GRAM's budget in evaluations unless overridden (depth 2 covers three-hop questions)."""


def add_eval_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``eval`` sub-command to the ``gram`` parser.

    Args:
        sub: The sub-parsers object of the ``gram`` parser.

    Returns:
        The ``eval`` parser.
    """
    from langgraph_gram.eval.datasets import LOADERS

    parser = sub.add_parser(
        "eval",
        help="compare GRAM with direct, CoT, self-consistency and ReAct on a dataset",
        description=__doc__.split("\n")[0],
    )
    source = parser.add_argument_group("data")
    source.add_argument("--dataset", choices=sorted(LOADERS), help="a built-in dataset")
    source.add_argument("--data", type=Path, help="the built-in dataset's file or folder")
    source.add_argument(
        "--questions", type=Path, help='a JSONL file of {"id", "question", "answer", "aliases"?}'
    )
    source.add_argument("--corpus", type=Path, help='a JSONL corpus of {"id", "title", "text"}')
    source.add_argument("--limit", type=int, default=None, help="the first N items")
    source.add_argument("--offset", type=int, default=0, help="skip the first N items")
    source.add_argument("--per-type", type=int, default=None, help="the first N of each type")
    source.add_argument("--types", default=None, help="only these types (comma-separated)")
    runs = parser.add_argument_group("methods")
    runs.add_argument(
        "--methods",
        default=DEFAULT_METHODS,
        help=f"comma-separated, each optionally with settings: name[key=value,...] "
        f"(default {DEFAULT_METHODS})",
    )
    runs.add_argument(
        "--sweep",
        nargs="+",
        default=None,
        metavar="KEY=V1,V2",
        help="a grid of gram settings, e.g. --sweep max_depth=1,2,3 width=1,3 (added to --methods)",
    )
    runs.add_argument("--top-k", type=int, default=4, help="passages per search")
    runs.add_argument("--seed", type=int, default=0)
    runs.add_argument("--max-depth", type=int, default=DEFAULT_BUDGET.max_depth)
    runs.add_argument("--max-llm-calls", type=int, default=DEFAULT_BUDGET.max_llm_calls)
    runs.add_argument("--max-tool-calls", type=int, default=DEFAULT_BUDGET.max_tool_calls)
    out = parser.add_argument_group("output")
    out.add_argument("--out", type=Path, required=True, help="the results folder")
    out.add_argument("--title", default=None, help="the report's title")
    out.add_argument(
        "--report-only", action="store_true", help="rewrite the reports from items.jsonl"
    )
    out.add_argument(
        "--plan",
        action="store_true",
        help="call no model: show per method what is done, what is left and its estimated "
        "time (from the folder's own rows)",
    )
    model = parser.add_argument_group("model")
    model.add_argument(
        "--base-url",
        default=os.environ.get("GRAM_BASE_URL"),
        help="OpenAI-compatible endpoint (default: start the embedded local model)",
    )
    model.add_argument("--model", default=os.environ.get("GRAM_MODEL"))
    model.add_argument("--api-key", default=os.environ.get("GRAM_API_KEY", "EMPTY"))
    model.add_argument("--local-model", default=None, help="embedded model name or GGUF path")
    model.add_argument(
        "--concurrency", type=int, default=1, help="items and requests in flight at once"
    )
    model.add_argument(
        "--max-tokens", type=int, default=1024, help="completion-token cap of each request"
    )
    return parser


def _dataset(args: argparse.Namespace) -> Any:
    from langgraph_gram.eval.datasets import load_dataset, load_questions, select

    if args.dataset:
        if args.data is None:
            raise ConfigurationError("--dataset needs --data (the dataset's file or folder)")
        dataset = load_dataset(args.dataset, args.data)
    elif args.questions:
        dataset = load_questions(args.questions, corpus=args.corpus)
    else:
        raise ConfigurationError("give --dataset NAME --data PATH, or --questions FILE")
    items = dataset.items[args.offset :]
    types = args.types.split(",") if args.types else None
    dataset.items = select(items, limit=args.limit, per_type=args.per_type, types=types)
    return dataset


@contextlib.asynccontextmanager
async def _model(args: argparse.Namespace, console: Console) -> AsyncIterator[Any]:
    from langgraph_gram.endpoint import OpenAIEndpoint

    if args.base_url:
        if not args.model:
            raise GramError("--model (or GRAM_MODEL) is required with --base-url")
        async with OpenAIEndpoint(
            args.base_url,
            args.model,
            api_key=args.api_key,
            max_concurrency=args.concurrency,
            max_tokens=args.max_tokens,
        ) as endpoint:
            yield endpoint, {"base_url": args.base_url, "model": args.model}
        return
    if args.model:
        raise GramError("--model names a model at --base-url; use --local-model otherwise")
    from langgraph_gram.local import LocalServer

    server = LocalServer(args.local_model, progress=lambda m: console.print(m, style="dim"))
    async with server:
        console.print(f"embedded model {server.model_name} at {server.base_url}", style="dim")
        # One slot: more requests in flight would only wait inside the server.
        async with server.endpoint(max_tokens=args.max_tokens) as endpoint:
            yield endpoint, {"model": server.model_name, "file": str(server.model_path)}


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def _print_plan(console: Console, name: str, plan: list[dict[str, Any]]) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{name}: what a run would do", title_justify="left")
    for header in ("method", "done", "errored", "to run", "s / item", "estimate"):
        table.add_column(header, justify="left" if header == "method" else "right")
    for entry in plan:
        per_item = entry["seconds_per_item"]
        table.add_row(
            Text(entry["method"]),  # not markup: "gram[max_depth=1]" prints as written
            str(entry["done"]),
            str(entry["errored"]),
            str(entry["pending"]),
            "?" if per_item is None else f"{per_item:.1f}",
            _duration(entry["estimated_seconds"]),
        )
    known = [e["estimated_seconds"] for e in plan if e["estimated_seconds"] is not None]
    unknown = [e["method"] for e in plan if e["estimated_seconds"] is None and e["pending"]]
    total = _duration(sum(known)) + (f" + {', '.join(unknown)} (no rows yet)" if unknown else "")
    console.print(table)
    pending = sum(e["pending"] for e in plan)
    console.print(f"to run: {pending} item-method pairs, about {total}", markup=False)


def _command_line() -> str:
    return "gram " + " ".join(shlex.quote(a) for a in sys.argv[1:])


async def run_eval_command(args: argparse.Namespace) -> int:
    """Run ``gram eval``.

    Args:
        args: The parsed arguments.

    Returns:
        The exit status (0; 2 when some items ended in an error).
    """
    from langgraph_gram.eval.report import load_rows, write_reports
    from langgraph_gram.eval.runner import (
        ITEMS_FILE,
        EvalRun,
        count_pending,
        parse_methods,
        parse_sweep,
        plan_rows,
        run_eval,
        unique_methods,
    )

    console = Console(stderr=True)
    items_path = args.out / ITEMS_FILE
    if args.report_only:
        rows = load_rows(items_path) if items_path.exists() else []
        if not rows:
            raise ConfigurationError(f"no results in {items_path}")
        models = sorted({str(m) for r in rows if (m := (r.get("config") or {}).get("model"))})
        paths = write_reports(
            args.out,
            rows,
            title=args.title or args.out.name,
            notes=[f"Model: {', '.join(models) or 'not recorded'}", f"Rows: {items_path}"],
        )
        console.print("wrote " + ", ".join(str(p) for p in paths.values()))
        return 0
    dataset = _dataset(args)
    methods = parse_methods(args.methods) if args.methods else []
    if args.sweep:
        methods += parse_sweep(args.sweep)
    methods = unique_methods(methods)
    if not methods:
        raise ConfigurationError("no methods: give --methods and/or --sweep")
    if args.plan:
        rows = load_rows(items_path) if items_path.exists() else []
        _print_plan(console, dataset.name, plan_rows(dataset.items, methods, rows))
        return 0
    budget = Budget(
        max_depth=args.max_depth,
        max_llm_calls=args.max_llm_calls,
        max_tool_calls=args.max_tool_calls,
        max_seconds=DEFAULT_BUDGET.max_seconds,
    )
    async with _model(args, console) as (model, model_info):
        run = EvalRun(
            dataset=dataset,
            methods=methods,
            model=model,
            out_dir=args.out,
            concurrency=args.concurrency,
            top_k=args.top_k,
            seed=args.seed,
            budget=budget,
        )
        total = count_pending(run)
        console.print(
            f"{dataset.name}: {len(dataset.items)} items x {len(methods)} methods, "
            f"{total} to run -> {items_path}"
        )
        scores: dict[str, list[float]] = {}
        failed = 0
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
            console=console,
        ) as progress:
            task = progress.add_task(dataset.name, total=total, status="")

            def on_row(row: dict[str, Any]) -> None:
                nonlocal failed
                if row.get("error"):
                    failed += 1
                else:
                    scores.setdefault(row["method"], []).append(float(row["correct"]))
                status = "  ".join(f"{m} {sum(v) / len(v):.2f}" for m, v in scores.items() if v) + (
                    f"  errors {failed}" if failed else ""
                )
                progress.update(task, advance=1, status=status)

            try:
                await run_eval(run, on_row=on_row)
            finally:  # Ctrl-C or a crash: the reports still cover every row written
                if items_path.exists():
                    write_reports(
                        args.out, load_rows(items_path), title=args.title or args.out.name
                    )
    rows = load_rows(items_path)
    notes = [f"Model: {model_info}", f"Dataset source: {dataset.source}"]
    paths = write_reports(
        args.out,
        rows,
        title=args.title or f"{dataset.name} ({args.out.name})",
        command=_command_line(),
        notes=notes,
    )
    # Not rich markup: method labels like "gram[max_depth=1,width=1]" must print as written.
    console.print((args.out / "summary.md").read_text(encoding="utf-8"), markup=False)
    console.print("wrote " + ", ".join(str(p) for p in paths.values()), markup=False)
    return 2 if failed else 0
