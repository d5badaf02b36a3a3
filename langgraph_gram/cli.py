"""The ``gram`` command line: ask a question and watch the tree grow, or serve the local model.

Examples:
    gram ask "In which city was the founder of the company that makes the iPhone born?"
    gram ask --base-url http://127.0.0.1:8000/v1 --model Qwen/Qwen2.5-7B-Instruct "..."
    gram ask --json --max-depth 2 "..." > run.json
    gram ask --trace run.html "..."
    gram trace THREAD --out run.html
    gram eval --dataset fictional_multihop --data ../shared/data/fictional_multihop --limit 20 \
        --methods direct,react,gram --out runs/fictional
    gram serve-local
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.text import Text

from langgraph_gram.context import Budget, GramContext
from langgraph_gram.errors import GramError, InputError
from langgraph_gram.graph import create_gram_graph
from langgraph_gram.state import GramInput
from langgraph_gram.text import normalize_text
from langgraph_gram.view import render_tree, usage_line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gram", description="Recursive tree-structured reasoning (GRAM) on LangGraph."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    ask = sub.add_parser("ask", help="answer a question, showing the reasoning tree")
    ask.add_argument("question", help="the question to answer")
    ask.add_argument(
        "--base-url",
        default=os.environ.get("GRAM_BASE_URL"),
        help="OpenAI-compatible endpoint (env GRAM_BASE_URL); "
        "default: start the embedded local model",
    )
    ask.add_argument(
        "--model",
        default=os.environ.get("GRAM_MODEL"),
        help="model name at the endpoint (env GRAM_MODEL)",
    )
    ask.add_argument(
        "--api-key",
        default=os.environ.get("GRAM_API_KEY", "EMPTY"),
        help="API key (env GRAM_API_KEY)",
    )
    ask.add_argument(
        "--local-model",
        default=None,
        help="embedded model name or GGUF path (env GRAM_LOCAL_MODEL)",
    )
    defaults = Budget()
    ask.add_argument("--max-depth", type=int, default=defaults.max_depth)
    ask.add_argument("--max-children", type=int, default=defaults.max_children)
    ask.add_argument("--max-nodes", type=int, default=defaults.max_nodes)
    ask.add_argument(
        "--max-calls", type=int, default=defaults.max_llm_calls, help="most LLM calls in the run"
    )
    ask.add_argument("--max-tokens", type=int, default=None, help="most tokens in the run")
    ask.add_argument("--max-seconds", type=float, default=None, help="most seconds in the run")
    ask.add_argument("--width", type=int, default=1, help="samples per leaf answer")
    ask.add_argument("--temperature", type=float, default=None)
    ask.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="most requests in flight at the endpoint (default: 1 for the embedded model, "
        "which serves one request at a time; 4 for --base-url)",
    )
    ask.add_argument(
        "--corpus",
        default=os.environ.get("GRAM_CORPUS"),
        help="JSONL corpus ({id, title, text} per line) that the leaves search with BM25 "
        "(env GRAM_CORPUS); answers then cite their sources",
    )
    ask.add_argument("--top-k", type=int, default=4, help="passages per search with --corpus")
    ask.add_argument(
        "--calculator", action="store_true", help="give the leaves an exact calculator tool"
    )
    ask.add_argument(
        "--thread",
        default=None,
        help="persist the run under this thread id (SQLite); rerunning with the same id "
        "resumes an unfinished run without redoing finished sub-problems",
    )
    ask.add_argument(
        "--db",
        default=os.environ.get("GRAM_DB", "~/.cache/langgraph-gram/threads.sqlite"),
        help="where --thread runs are kept: a SQLite file, or a postgresql:// URL (env GRAM_DB)",
    )
    ask.add_argument(
        "--json",
        action="store_true",
        help="print only the final state as one JSON document on stdout",
    )
    ask.add_argument(
        "--trace",
        default=None,
        metavar="PATH",
        help="write the reasoning tree as a self-contained HTML page to PATH at the end",
    )
    trace = sub.add_parser(
        "trace", help="write the reasoning tree of a persisted thread as an HTML page"
    )
    trace.add_argument("thread", help="the thread id given to `gram ask --thread`")
    trace.add_argument("--out", required=True, metavar="PATH", help="the HTML file to write")
    trace.add_argument(
        "--db",
        default=os.environ.get("GRAM_DB", "~/.cache/langgraph-gram/threads.sqlite"),
        help="SQLite file of the thread (env GRAM_DB)",
    )
    from langgraph_gram.eval.command import add_eval_parser

    add_eval_parser(sub)
    serve = sub.add_parser("serve-local", help="serve the embedded model in the foreground")
    serve.add_argument("--model", default=None, help="model name or GGUF path")
    serve.add_argument("--port", type=int, default=None)
    return parser


@contextlib.asynccontextmanager
async def _endpoint(args: argparse.Namespace, console: Console) -> AsyncIterator[Any]:
    from langgraph_gram.endpoint import OpenAIEndpoint

    if args.base_url:
        if not args.model:
            raise GramError("--model (or GRAM_MODEL) is required with --base-url")
        yield OpenAIEndpoint(
            args.base_url,
            args.model,
            api_key=args.api_key,
            max_concurrency=4 if args.concurrency is None else args.concurrency,
        )
        return
    from langgraph_gram.local import LocalServer

    server = LocalServer(args.local_model, progress=lambda m: console.print(Text(m, style="dim")))
    console.print(Text("starting the embedded model (first run assembles it)…", style="dim"))
    async with server:
        console.print(Text(f"embedded model {server.model_name} at {server.base_url}", style="dim"))
        limit = {} if args.concurrency is None else {"max_concurrency": args.concurrency}
        yield server.endpoint(**limit)  # one request at a time unless asked otherwise


def _is_postgres(db: str) -> bool:
    return db.startswith(("postgres://", "postgresql://"))


def _postgres_saver(url: str) -> Any:
    """Return ``AsyncPostgresSaver.from_conn_string(url)``, or say what to install."""
    try:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    except ImportError as exc:
        raise GramError(
            "a PostgreSQL --db needs: pip install langgraph-checkpoint-postgres "
            '"psycopg[binary]" psycopg-pool'
        ) from exc
    return AsyncPostgresSaver.from_conn_string(url)


@contextlib.asynccontextmanager
async def _checkpointer(args: argparse.Namespace) -> AsyncIterator[Any]:
    """Open a checkpointer when ``--thread`` is given: SQLite, or PostgreSQL for a URL."""
    if not args.thread:
        yield None
        return
    if _is_postgres(args.db):
        async with _postgres_saver(args.db) as saver:
            await saver.setup()
            yield saver
        return
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    path = await asyncio.to_thread(lambda: Path(args.db).expanduser())
    await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
    async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
        yield saver


def _final_json(state: dict[str, Any], seconds: float) -> str:
    return json.dumps(
        {
            "answer": state.get("answer", ""),
            "stopped_by": state.get("stopped_by"),
            "budget_hits": state.get("budget_hits", []),
            "citations": state.get("citations", []),
            "usage": state.get("usage", {}),
            "seconds": round(seconds, 3),
            "tree": state.get("tree", {}),
        },
        ensure_ascii=False,
        indent=2,
    )


async def _ask(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    budget = Budget(
        max_depth=args.max_depth,
        max_children=args.max_children,
        max_nodes=args.max_nodes,
        max_llm_calls=args.max_calls,
        max_tokens=args.max_tokens,
        max_seconds=args.max_seconds,
    )
    tools = []
    if args.corpus:
        from langgraph_gram.tools import corpus_search_tool

        tools.append(corpus_search_tool(args.corpus, k=args.top_k))
    if args.calculator:
        from langgraph_gram.tools import calculator_tool

        tools.append(calculator_tool())
    async with _endpoint(args, console) as model, _checkpointer(args) as saver:
        graph = create_gram_graph(
            model, tools=tools, budget=budget, width=args.width, checkpointer=saver
        )
        context = {"temperature": args.temperature} if args.temperature is not None else {}
        config: RunnableConfig = {}
        run_input: GramInput | None = {"question": args.question}
        if args.thread:
            config = {"configurable": {"thread_id": args.thread}}
            snapshot = await graph.aget_state(config)
            if snapshot.next:
                # An unfinished run on this thread (crashed or killed): resume it. Finished
                # sub-problems are kept; only the interrupted round runs again.
                asked = (snapshot.values.get("tree") or {}).get("0", {}).get("question")
                if asked and normalize_text(asked) != normalize_text(args.question):
                    raise InputError(
                        f"thread {args.thread} holds an unfinished run of another question "
                        f"({asked!r}): ask that question again to resume it, or use a new "
                        "--thread"
                    )
                run_input = None
                console.print(Text(f"resuming thread {args.thread}", style="dim"))
        started = time.monotonic()
        state: dict[str, Any] = {}
        live = None if args.json else Live(console=console, refresh_per_second=4, transient=False)

        def view() -> Group:
            return Group(
                render_tree(state.get("tree", {})),
                usage_line(
                    state.get("usage", {}), state.get("stopped_by"), time.monotonic() - started
                ),
            )

        with live if live is not None else contextlib.nullcontext():
            async for mode, chunk in graph.astream(
                run_input,
                config,
                # LangGraph turns a dict context into the graph's GramContext.
                context=cast(GramContext, context),
                stream_mode=["values", "custom"],
                # With a thread, every finished task is on disk before the next starts, so a
                # killed run loses at most the calls in flight (None is the default).
                durability="sync" if args.thread else None,
            ):
                if mode == "values":
                    # A (mode, chunk) pair, and a "values" chunk is the whole state; LangGraph
                    # types each streamed item only as ``dict[str, Any] | Any``.
                    state = cast(dict[str, Any], chunk)
                if live is not None:
                    live.update(view())
        seconds = time.monotonic() - started
    if args.trace:
        from langgraph_gram.trace import write_html

        path = await asyncio.to_thread(
            write_html,
            {**state, "budget": dataclasses.asdict(budget), "seconds": seconds},
            args.trace,
        )
        console.print(Text(f"trace written to {path}", style="dim"))
    if args.json:
        print(_final_json(state, seconds))
    else:
        console.print(
            Panel(Text(state.get("answer", ""), style="bold"), title="answer", expand=False)
        )
        if state.get("citations"):
            sources = "; ".join(f"[{c['id']}] {c['title']}" for c in state["citations"])
            console.print(Text(f"Sources: {sources}", style="dim"))
        # The answer alone on stdout, so `gram ask ... > answer.txt` works too.
        if not sys.stdout.isatty():
            print(state.get("answer", ""))
    return 0


async def _trace(args: argparse.Namespace) -> int:
    """Write the HTML trace of a thread persisted by ``gram ask --thread``."""
    from langgraph_gram.trace import write_html

    found, where = await _read_thread(args.db, args.thread)
    if found is None:
        raise GramError(f"no thread {args.thread!r} in {where}")
    values = dict(found.checkpoint.get("channel_values") or {})
    path = await asyncio.to_thread(write_html, values, args.out)
    print(f"trace of thread {args.thread} written to {path}", file=sys.stderr)
    return 0


async def _read_thread(db_arg: str, thread: str) -> tuple[Any, str]:
    """Read a thread's latest checkpoint from SQLite (read-only) or PostgreSQL, changing nothing.

    Returns:
        The checkpoint tuple (``None`` when the thread is not there) and where it was looked
        for.
    """
    import sqlite3
    import urllib.parse

    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    config: Any = {"configurable": {"thread_id": thread}}
    if _is_postgres(db_arg):
        try:
            async with _postgres_saver(db_arg) as saver:
                return await saver.aget_tuple(config), db_arg
        except GramError:
            raise
        except Exception as exc:  # psycopg's errors: unreachable server, no tables yet
            raise GramError(f"cannot read threads from {db_arg}: {exc}") from exc
    db = await asyncio.to_thread(lambda: Path(db_arg).expanduser().resolve())
    if not await asyncio.to_thread(db.is_file):
        raise GramError(f"no thread {thread!r}: the database {db} does not exist")
    # Read-only, so a mistyped --db is never changed.
    uri = f"file:{urllib.parse.quote(str(db))}?mode=ro"
    try:
        async with aiosqlite.connect(uri, uri=True) as conn:
            return await AsyncSqliteSaver(conn).aget_tuple(config), str(db)
    except sqlite3.Error as exc:
        raise GramError(f"cannot read threads from {db}: {exc}") from exc


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``gram`` command.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 1 on a typed error, 130 on Ctrl-C.
    """
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve-local":
            from langgraph_gram.local import serve_forever

            serve_forever(args.model, port=args.port)
            return 0
        if args.command == "trace":
            return asyncio.run(_trace(args))
        if args.command == "eval":
            from langgraph_gram.eval.command import run_eval_command

            return asyncio.run(run_eval_command(args))
        return asyncio.run(_ask(args))
    except GramError as exc:
        print(f"gram: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
