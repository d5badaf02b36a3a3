"""How many bytes the checkpoints of a GRAM run take, as the tree grows.

Usage: ``python benchmarks/checkpoint_size.py [--sizes 10 50 200] [--k 3] [--postgres]``
(about 5 s; 15 s with ``--postgres``, which also runs ``AsyncPostgresSaver`` on a throwaway
server from ``tests/pg.py``; or pass ``--postgres-url``). No network: a scripted model.

A scripted model always splits a question into ``k`` distinct sub-problems; ``max_depth`` is
the smallest depth whose full tree reaches the requested size and ``max_nodes`` stops the tree
at that size (so ``stopped_by`` reads ``max_nodes``). Leaves and aggregations answer with short
fixed-size JSON. Each run uses ``AsyncSqliteSaver`` on a fresh file; numbers are read back
from the saver's own tables:

* ``ckpts``: rows of ``checkpoints`` (one per superstep; a controller round is two);
* ``tree copies``: checkpoints whose stored values include the tree (sqlite: decoded from each
  checkpoint blob; postgres: rows of ``checkpoint_blobs`` for the ``tree`` channel);
* ``largest B``: the largest checkpoint (sqlite: ``checkpoint`` blob plus ``metadata``;
  postgres: the row plus the blobs it points at, as read back);
* ``ckpt bytes``: the sum over all checkpoints (postgres: rows plus all blobs);
  ``writes bytes``: the sum over pending writes (every task's output, kept per checkpoint);
  ``total bytes``: both;
* ``tree B/node``: the final tree alone, serialized as the savers do, per node.

Two shapes: ``parallel`` (siblings are independent, so one round runs a whole level: rounds
grow with the depth, i.e. with log(nodes)) and ``chain`` (each sub-problem depends on the
previous sibling, so siblings run one round after another: rounds grow with the nodes).
The largest checkpoint is also broken down by channel.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import sqlite3
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fakes import answer, scripted, subproblems
from fault_server import letters_digest, letters_label
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from langgraph_gram import Budget, create_gram_graph
from langgraph_gram.state import ROOT_ID


def digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def splitting_model(k: int, chain: bool) -> Any:
    """Split every question into ``k`` distinct sub-problems; answer with a short digest."""

    def script(kind: str, question: str, messages: list[Any]) -> str:
        if kind == "decompose":
            tag = letters_digest(question)  # no digits: plans may not state new numbers
            return subproblems(
                *(
                    (
                        f"What is part {letters_label(i)} of item {tag}?",
                        [i - 1] if chain and i else [],
                    )
                    for i in range(k)
                )
            )
        return answer(f"value {digest(question + kind)}")

    return scripted(script)


def depth_for(size: int, k: int) -> int:
    """The smallest depth whose full ``k``-ary tree has at least ``size`` nodes."""
    depth, nodes, level = 0, 1, 1
    while nodes < size:
        depth += 1
        level *= k
        nodes += level
    return depth


def read_sqlite(path: Path, thread_id: str) -> dict[str, Any]:
    """Sizes from ``AsyncSqliteSaver``'s tables: each checkpoint row embeds every channel."""
    serde = JsonPlusSerializer()
    with sqlite3.connect(path) as conn:
        ckpts, ckpt_bytes = conn.execute(
            "SELECT count(*), sum(length(checkpoint) + length(metadata))"
            " FROM checkpoints WHERE thread_id = ?",
            (thread_id,),
        ).fetchone()
        rows = conn.execute(
            "SELECT type, checkpoint, metadata FROM checkpoints WHERE thread_id = ?",
            (thread_id,),
        ).fetchall()
        writes, write_bytes = conn.execute(
            "SELECT count(*), coalesce(sum(length(value)), 0) FROM writes WHERE thread_id = ?",
            (thread_id,),
        ).fetchone()
    decoded = [serde.loads_typed((type_, blob))["channel_values"] for type_, blob, _ in rows]
    type_, blob, metadata = max(rows, key=lambda row: len(row[1]) + len(row[2]))
    values = serde.loads_typed((type_, blob))["channel_values"]
    parts = {k: len(serde.dumps_typed(v)[1]) for k, v in values.items()}
    return {
        "ckpts": ckpts,
        "ckpt_bytes": ckpt_bytes,
        "largest": len(blob) + len(metadata),
        "parts": parts,
        "tree_copies": sum("tree" in values for values in decoded),
        "writes": writes,
        "write_bytes": write_bytes,
    }


def read_postgres(url: str, thread_id: str) -> dict[str, Any]:
    """Sizes from ``AsyncPostgresSaver``'s tables (uncompressed lengths).

    A checkpoint row holds the small channels inline (JSONB); other channel values go to
    ``checkpoint_blobs`` once per (channel, version), only for channels whose version moved.
    ``largest`` is the biggest checkpoint as read back: its row plus the blobs it points at.
    """
    import psycopg

    with psycopg.connect(url) as conn:
        ckpts, row_bytes = conn.execute(
            "SELECT count(*), sum(octet_length(checkpoint::text) + octet_length(metadata::text))"
            " FROM checkpoints WHERE thread_id = %s",
            (thread_id,),
        ).fetchone()
        blob_bytes, tree_copies = conn.execute(
            "SELECT coalesce(sum(octet_length(blob)), 0),"
            " count(*) FILTER (WHERE channel = 'tree')"
            " FROM checkpoint_blobs WHERE thread_id = %s",
            (thread_id,),
        ).fetchone()
        (largest,) = conn.execute(
            "SELECT max(octet_length(c.checkpoint::text) + octet_length(c.metadata::text)"
            " + coalesce((SELECT sum(octet_length(b.blob)) FROM"
            " jsonb_each_text(c.checkpoint->'channel_versions') v JOIN checkpoint_blobs b"
            " ON b.thread_id = c.thread_id AND b.checkpoint_ns = c.checkpoint_ns"
            " AND b.channel = v.key AND b.version = v.value), 0))"
            " FROM checkpoints c WHERE c.thread_id = %s",
            (thread_id,),
        ).fetchone()
        writes, write_bytes = conn.execute(
            "SELECT count(*), coalesce(sum(octet_length(blob)), 0)"
            " FROM checkpoint_writes WHERE thread_id = %s",
            (thread_id,),
        ).fetchone()
    return {
        "ckpts": ckpts,
        "ckpt_bytes": row_bytes + blob_bytes,
        "largest": largest,
        "parts": {},
        "tree_copies": tree_copies,
        "writes": writes,
        "write_bytes": write_bytes,
    }


async def run_one(
    size: int, k: int, chain: bool, directory: Path, postgres_url: str | None = None
) -> dict[str, Any]:
    depth = depth_for(size, k)
    budget = Budget(
        max_depth=depth,
        max_children=k,
        max_nodes=size,
        max_llm_calls=10 * size,
    )
    shape = "chain" if chain else "parallel"
    model = splitting_model(k, chain)
    thread_id = f"{shape}-{size}-{uuid.uuid4().hex[:8]}"
    config = {"configurable": {"thread_id": thread_id}}
    question = {"question": "What is the value of the whole item?"}
    if postgres_url is None:
        path = directory / f"{shape}-{size}.sqlite"
        async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
            graph = create_gram_graph(model, budget=budget, checkpointer=saver)
            result = await graph.ainvoke(question, config)
        sizes = read_sqlite(path, thread_id)
    else:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

        async with AsyncPostgresSaver.from_conn_string(postgres_url) as saver:
            await saver.setup()
            graph = create_gram_graph(model, budget=budget, checkpointer=saver)
            result = await graph.ainvoke(question, config)
        sizes = read_postgres(postgres_url, thread_id)
    tree = result["tree"]
    assert ROOT_ID in tree and result["answer"]
    _, tree_blob = JsonPlusSerializer().dumps_typed(tree)
    row = {
        "saver": "sqlite" if postgres_url is None else "postgres",
        "shape": shape,
        "target": size,
        "nodes": len(tree),
        "depth": max(node["depth"] for node in tree.values()),
        "rounds": result["usage"]["rounds"],
        "llm_calls": result["usage"]["llm_calls"],
        "stopped_by": result["stopped_by"],
        "tree_bytes": len(tree_blob),
        **sizes,
    }
    row["total"] = row["ckpt_bytes"] + row["write_bytes"]
    row["largest_per_node"] = row["largest"] / row["nodes"]
    row["total_per_node"] = row["total"] / row["nodes"]
    row["tree_per_node"] = row["tree_bytes"] / row["nodes"]
    return row


COLUMNS = [
    ("saver", "saver", "{}"),
    ("shape", "shape", "{}"),
    ("nodes", "nodes", "{}"),
    ("depth", "depth", "{}"),
    ("rounds", "rounds", "{}"),
    ("ckpts", "ckpts", "{}"),
    ("tree_copies", "tree copies", "{}"),
    ("largest", "largest B", "{:,}"),
    ("largest_per_node", "largest B/node", "{:,.0f}"),
    ("ckpt_bytes", "ckpt bytes", "{:,}"),
    ("writes", "writes", "{}"),
    ("write_bytes", "writes bytes", "{:,}"),
    ("total", "total bytes", "{:,}"),
    ("total_per_node", "total B/node", "{:,.0f}"),
    ("tree_per_node", "tree B/node", "{:,.0f}"),
    ("stopped_by", "stopped_by", "{}"),
]


def print_table(rows: list[dict[str, Any]]) -> None:
    cells = [[title for _, title, _ in COLUMNS]]
    for row in rows:
        cells.append([fmt.format(row[key]) for key, _, fmt in COLUMNS])
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    for line in cells:
        print("  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)))


def print_parts(rows: list[dict[str, Any]]) -> None:
    """Break the largest sqlite checkpoint down by channel (serialized bytes of each value)."""
    for row in rows:
        if not row["parts"]:
            continue
        big = sorted(row["parts"].items(), key=lambda item: -item[1])[:4]
        text = ", ".join(f"{name} {size:,}" for name, size in big)
        print(f"{row['shape']:>8} {row['nodes']:>4} nodes: largest checkpoint holds {text}")


def growth(rows: list[dict[str, Any]]) -> None:
    """Fit the exponent of ``largest`` and ``total`` against ``nodes`` between the extremes."""
    for saver in ("sqlite", "postgres"):
        for shape in ("parallel", "chain"):
            runs = [r for r in rows if r["shape"] == shape and r["saver"] == saver]
            if len(runs) < 2:
                continue
            a, b = runs[0], runs[-1]
            log_nodes = math.log(b["nodes"] / a["nodes"])
            print(
                f"{saver:>8} {shape:>8}: nodes x{b['nodes'] / a['nodes']:.1f}, "
                f"largest checkpoint x{b['largest'] / a['largest']:.1f} "
                f"(exponent {math.log(b['largest'] / a['largest']) / log_nodes:.2f}), "
                f"checkpoints x{b['ckpts'] / a['ckpts']:.1f}, "
                f"total x{b['total'] / a['total']:.1f} "
                f"(exponent {math.log(b['total'] / a['total']) / log_nodes:.2f})"
            )


async def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--k", type=int, default=3, help="sub-problems per decomposition")
    parser.add_argument("--shape", choices=["parallel", "chain", "both"], default="both")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="also run with AsyncPostgresSaver on a throwaway server (tests/pg.py)",
    )
    parser.add_argument("--postgres-url", help="also run with AsyncPostgresSaver on this database")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON too")
    args = parser.parse_args()
    shapes = [False, True] if args.shape == "both" else [args.shape == "chain"]
    with contextlib.ExitStack() as stack:
        urls: list[str | None] = [None]
        if args.postgres_url:
            urls.append(args.postgres_url)
        elif args.postgres:
            from pg import PostgresServer, find_pg_bin

            bin_dir = find_pg_bin()
            if bin_dir is None:
                print("PostgreSQL binaries not found (apt-get install postgresql)")
                return 1
            urls.append(stack.enter_context(PostgresServer(bin_dir)).url)
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gram-ckpt-")))
        rows = [
            await run_one(size, args.k, chain, tmp, url)
            for url in urls
            for chain in shapes
            for size in args.sizes
        ]
    print(f"k={args.k} sub-problems per split, scripted model, sizes in bytes")
    print_table(rows)
    print()
    print_parts(rows)
    print()
    growth(rows)
    if args.json:
        print(json.dumps(rows, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
