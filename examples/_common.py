"""Helpers shared by the examples: choosing a model, locating data sets, printing a run.

Not an example itself. Every example imports it as ``_common`` (``python examples/NAME.py``
puts ``examples/`` on ``sys.path``; the tests load the examples the same way).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from langgraph_gram.view import render_tree, usage_line

EXAMPLES_DIR = Path(__file__).resolve().parent
"""This folder."""

EXAMPLE_DATA = EXAMPLES_DIR / "data"
"""The tiny invented corpus shipped with the examples."""

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
"""The data sets beside the repository (``../shared/data``); read in place, never copied."""


@dataclass
class Backend:
    """The model an example talks to.

    Attributes:
        endpoint: The :class:`~langgraph_gram.endpoint.OpenAIEndpoint` GRAM uses.
        base_url: The server's OpenAI base URL (for examples that build a chat model too).
        model_name: The model name at that server.
        api_key: The API key sent to it.
        embedded: Whether it is the embedded model this process started.
    """

    endpoint: Any
    base_url: str
    model_name: str
    api_key: str = "EMPTY"
    embedded: bool = False


def add_model_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--base-url``, ``--model``, ``--api-key``, ``--local-model`` and ``--timeout``."""
    parser.add_argument(
        "--base-url",
        default=os.environ.get("GRAM_BASE_URL"),
        help="OpenAI-compatible endpoint (env GRAM_BASE_URL); default: the embedded model",
    )
    parser.add_argument(
        "--model", default=os.environ.get("GRAM_MODEL"), help="model name (env GRAM_MODEL)"
    )
    parser.add_argument("--api-key", default=os.environ.get("GRAM_API_KEY", "EMPTY"))
    parser.add_argument(
        "--local-model", default=None, help="embedded model name or GGUF path (GRAM_LOCAL_MODEL)"
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds per request (CPU models are slow)"
    )


def add_data_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--data``: the folder holding the shared data sets."""
    parser.add_argument(
        "--data",
        type=Path,
        default=SHARED_DATA,
        help=f"folder of the shared data sets (default: {SHARED_DATA})",
    )


@contextlib.asynccontextmanager
async def open_backend(args: argparse.Namespace, console: Console) -> AsyncIterator[Backend]:
    """Yield the endpoint named on the command line, or start the embedded model for the run."""
    from langgraph_gram.endpoint import OpenAIEndpoint

    if args.base_url:
        if not args.model:
            raise SystemExit("--model (or GRAM_MODEL) is required with --base-url")
        endpoint = OpenAIEndpoint(
            args.base_url, args.model, api_key=args.api_key, timeout=args.timeout
        )
        yield Backend(endpoint, args.base_url, args.model, args.api_key)
        return
    from langgraph_gram.local import LocalServer

    console.print(Text("starting the embedded model (the first run assembles it)…", style="dim"))
    server = LocalServer(args.local_model, progress=lambda m: console.print(Text(m, style="dim")))
    async with server:
        console.print(Text(f"embedded model {server.model_name} at {server.base_url}", style="dim"))
        yield Backend(
            server.endpoint(timeout=args.timeout),
            server.base_url,
            server.model_name,
            embedded=True,
        )


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read a JSON-lines file (blank lines skipped)."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def require_file(path: Path, what: str) -> Path:
    """Return ``path``, or exit with a message naming it and the ``--data`` option."""
    if not path.is_file():
        raise SystemExit(f"{what} not found at {path} (point --data at the shared data folder)")
    return path


def gram_tool_calls(tree: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every tool call the model chose in the tree, with the node it was made at."""
    return [
        {"node": node_id, **call}
        for node_id, node in sorted(tree.items())
        for call in node.get("tool_calls") or []
    ]


def summary(state: dict[str, Any], seconds: float) -> dict[str, Any]:
    """The fields of a final GRAM state every example reports."""
    return {
        "answer": state.get("answer", ""),
        "citations": state.get("citations", []),
        "tree": state.get("tree", {}),
        "usage": state.get("usage", {}),
        "stopped_by": state.get("stopped_by"),
        "seconds": round(seconds, 2),
    }


class Timer:
    """Wall-clock seconds since creation."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?")


def last_number(text: str) -> Fraction | None:
    """The last number written in a text (``1,494`` -> 1494; ``7/2`` -> 7/2), or ``None``."""
    found = _NUMBER.findall(str(text))
    if not found:
        return None
    try:
        return Fraction(found[-1].replace(",", "").rstrip("."))
    except (ValueError, ZeroDivisionError):
        return None


def print_tree(console: Console, state: dict[str, Any], seconds: float) -> None:
    """Print the reasoning tree and its usage line."""
    console.print(render_tree(state.get("tree") or {}))
    console.print(usage_line(state.get("usage") or {}, state.get("stopped_by"), seconds))


def print_fields(console: Console, title: str, fields: Iterable[tuple[str, Any]]) -> None:
    """Print ``name: value`` lines in a panel."""
    text = Text()
    for i, (name, value) in enumerate(fields):
        if i:
            text.append("\n")
        text.append(f"{name}: ", style="dim")
        text.append(str(value), style="bold")
    console.print(Panel(text, title=title, expand=False))
