"""Run methods over a dataset, one JSON line per (item, method), resumably.

    rows = await run_eval(EvalRun(dataset, parse_methods("direct,react,gram"), endpoint,
                                  Path("runs/fictional")))

Each finished (item, method) is appended to ``out_dir/items.jsonl`` as soon as it is scored, so
a crash or Ctrl-C loses at most the items in flight. A rerun skips the pairs already answered
and retries those that ended in an error (endpoint down, crash): errors are recorded apart and
never scored as wrong answers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.tools import BaseTool

from langgraph_gram.context import Budget, GramContext
from langgraph_gram.errors import ConfigurationError, EndpointResponseError, MalformedOutputError
from langgraph_gram.eval.agent import agent_chat_model
from langgraph_gram.eval.checks import check_prediction
from langgraph_gram.eval.datasets import Dataset, EvalItem
from langgraph_gram.eval.methods import (
    BUILD_SETTINGS,
    METHOD_SETTINGS,
    METHODS,
    SCORERS,
    MethodEnv,
    Outcome,
)
from langgraph_gram.eval.report import load_rows
from langgraph_gram.llm import LLMReply, Message, StructuredLLM, as_structured_llm

ITEMS_FILE = "items.jsonl"
"""The per-item results file inside an output folder."""


@dataclass(frozen=True)
class MethodSpec:
    """A method with its settings, e.g. ``gram[max_depth=2,width=3]``.

    Attributes:
        name: The method's name (a key of :data:`~langgraph_gram.eval.methods.METHODS`).
        settings: Its settings (context fields for ``gram``; ``k`` for self-consistency...).
    """

    name: str
    settings: tuple[tuple[str, Any], ...] = ()

    @property
    def key(self) -> str:
        """The name results are filed under: ``gram`` or ``gram[max_depth=2,width=3]``."""
        if not self.settings:
            return self.name
        inner = ",".join(f"{k}={v}" for k, v in self.settings)
        return f"{self.name}[{inner}]"

    def options(self) -> dict[str, Any]:
        """Return the settings as a dict."""
        return dict(self.settings)


def _value(text: str) -> Any:
    text = text.strip()
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


_SPEC = re.compile(r"^(\w+)(?:\[(.*)\])?$")


def parse_method(text: str) -> MethodSpec:
    """Parse ``name`` or ``name[key=value,...]``.

    Args:
        text: The method text.

    Returns:
        The spec (settings sorted by key).

    Raises:
        ConfigurationError: Unknown method or malformed settings.
    """
    match = _SPEC.match(text.strip())
    if not match or match.group(1) not in METHODS:
        raise ConfigurationError(f"unknown method {text!r}; known: {', '.join(METHODS)}")
    settings = []
    for part in filter(None, (match.group(2) or "").split(",")):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ConfigurationError(f"malformed setting {part!r} in {text!r} (want key=value)")
        settings.append((key.strip(), _value(value)))
    name = match.group(1)
    _check_settings(name, dict(settings), text)
    return MethodSpec(name, tuple(sorted(settings)))


def _check_settings(name: str, settings: dict[str, Any], text: str) -> None:
    """Refuse settings a method does not know, before anything runs."""
    allowed = METHOD_SETTINGS[name]
    if allowed is None:  # gram: context fields and build options
        allowed = frozenset(f.name for f in dataclasses.fields(GramContext)) | BUILD_SETTINGS
    unknown = sorted(set(settings) - allowed)
    if unknown:
        raise ConfigurationError(
            f"{text!r}: unknown setting(s) {unknown} for {name}; known: {sorted(allowed)}"
        )
    if name == "gram" and settings.get("scorer", "llm") not in SCORERS:
        raise ConfigurationError(f"{text!r}: scorer must be one of {sorted(SCORERS)}")
    for key in ("k", "max_steps"):  # self_consistency's samples, react's tool calls
        if key in settings and (not isinstance(settings[key], int) or settings[key] < 1):
            raise ConfigurationError(f"{text!r}: {key} must be a whole number >= 1")


def parse_methods(text: str) -> list[MethodSpec]:
    """Parse a comma-separated method list; commas inside ``[...]`` belong to settings.

    Args:
        text: E.g. ``"direct,cot,self_consistency[k=3],gram"``.

    Returns:
        The specs, in order.
    """
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    specs: dict[str, MethodSpec] = {}
    for part in parts:
        if part.strip():
            spec = parse_method(part)
            specs.setdefault(spec.key, spec)  # the same method twice runs once
    return list(specs.values())


def parse_sweep(text: str | Sequence[str], *, base: MethodSpec | None = None) -> list[MethodSpec]:
    """Expand a grid of GRAM settings: ``"max_depth=1,2,3 width=1,3"`` gives six specs.

    Args:
        text: Space-separated ``key=v1,v2`` axes (or a list of them).
        base: Settings every grid point starts from (default: plain ``gram``).

    Returns:
        One ``gram[...]`` spec per grid point, the first axis varying slowest.

    Raises:
        ConfigurationError: A malformed axis.
    """
    axes = text.split() if isinstance(text, str) else list(text)
    keys, values = [], []
    for axis in axes:
        key, sep, listed = axis.partition("=")
        if not sep or not listed:
            raise ConfigurationError(f"malformed sweep axis {axis!r} (want key=v1,v2,...)")
        keys.append(key.strip())
        values.append([_value(v) for v in listed.split(",") if v.strip()])
    start = dict(base.settings) if base else {}
    specs = []
    for point in itertools.product(*values):
        settings = {**start, **dict(zip(keys, point, strict=True))}
        _check_settings("gram", settings, " ".join(axes))
        specs.append(MethodSpec("gram", tuple(sorted(settings.items()))))
    return specs


ToolFactory = Callable[[Dataset, EvalItem, int], list[BaseTool]]
"""Builds one item's tools (the same for every method) from the dataset, item and top-k."""


def default_tools(dataset: Dataset, item: EvalItem, *, top_k: int = 4) -> list[BaseTool]:
    """Build the tools every method gets for an item.

    Args:
        dataset: The dataset (its shared corpus, if any).
        item: The item (its own passages, if any).
        top_k: Passages per search.

    Returns:
        A search over the item's passages or the dataset's corpus for QA with passages; a
        calculator for math and game24; a Python runner for code; nothing otherwise.
    """
    from langgraph_gram.tools import (
        calculator_tool,
        corpus_search_tool,
        passages_search_tool,
        python_tool,
    )

    if item.kind == "qa":
        if item.passages:  # paragraphs (HotpotQA, MuSiQue): show them whole
            return [passages_search_tool(item.passages, k=top_k, passage_chars=1500)]
        if dataset.corpus is not None:
            return [corpus_search_tool(dataset.corpus, k=top_k)]
        return []
    if item.kind in ("math", "game24"):
        return [calculator_tool()]
    if item.kind == "code":
        return [python_tool()]
    return []


def _default_tools(dataset: Dataset, item: EvalItem, top_k: int) -> list[BaseTool]:
    return default_tools(dataset, item, top_k=top_k)


@dataclass
class EvalRun:
    """The configuration of one evaluation run.

    Attributes:
        dataset: The items (already selected) and their corpus.
        methods: The methods, each with its settings.
        model: The model every method uses (an endpoint or a LangChain chat model).
        out_dir: Where ``items.jsonl`` and the reports go.
        concurrency: Items in flight at once (the endpoint bounds requests separately).
        top_k: Passages per search.
        seed: Base sampling seed.
        budget: GRAM's default budget.
        tools: Builds each item's tools (default: :func:`default_tools`).
        shared: What the run's items share: the agent chat model and its tool-calling probe
            (filled by the run).
    """

    dataset: Dataset
    methods: list[MethodSpec]
    model: StructuredLLM | Any
    out_dir: Path
    concurrency: int = 1
    top_k: int = 4
    seed: int = 0
    budget: Budget = field(default_factory=Budget)
    tools: ToolFactory | None = None
    shared: dict[str, Any] = field(default_factory=dict, repr=False)


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


class _MeteredModel:
    """The item's model: counts what every call cost, and notes server-side failures.

    A method that fails part-way still reports the calls it spent, and a server failure a
    method absorbed (a lost self-consistency vote, a failed GRAM node) still marks the item as
    an error to retry rather than a wrong answer.
    """

    def __init__(self, model: StructuredLLM) -> None:
        self._model = model
        self.calls = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.outages: list[str] = []

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._model, name)  # model name, base URL: the cache fingerprint

    async def generate_json(self, messages: Sequence[Message], **kwargs: Any) -> LLMReply:
        try:
            reply = await self._model.generate_json(messages, **kwargs)
        except Exception as exc:
            # A refused or failed request counts as a call (as in GRAM's budget); a server
            # that never answered (unreachable) was not called.
            self.calls += getattr(exc, "calls", int(isinstance(exc, EndpointResponseError)))
            self.prompt_tokens += getattr(exc, "prompt_tokens", 0)
            self.completion_tokens += getattr(exc, "completion_tokens", 0)
            if isinstance(exc, EndpointResponseError) and exc.transient:
                self.outages.append(_error_text(exc))
            raise
        self.calls += reply.calls
        self.prompt_tokens += reply.prompt_tokens
        self.completion_tokens += reply.completion_tokens
        return reply


async def run_item(run: EvalRun, item: EvalItem, spec: MethodSpec) -> dict[str, Any]:
    """Run one method on one item and score it.

    The model's own failure (output that stays unparseable, a request the server refuses) is
    a wrong answer, as it is inside GRAM's nodes. A failure of the server (5xx, 429, no
    reply), a crash or a bad item is an error row instead: reported apart, never scored, and
    retried by the next run, with the calls spent before it. A configuration mistake (a
    setting the item cannot take) stops the run.

    Args:
        run: The run's configuration.
        item: The item.
        spec: The method.

    Returns:
        The result row (``error`` set, and nothing scored, when the method failed).

    Raises:
        ConfigurationError: The method's settings do not fit the item.
    """
    row: dict[str, Any] = {
        "id": item.id,
        "dataset": run.dataset.name,
        "method": spec.key,
        "settings": spec.options(),
        "type": item.type,
        "question": item.question,
        "gold": item.answer,
    }
    meter = _MeteredModel(as_structured_llm(run.model))
    started = time.monotonic()

    def finish(cost: Outcome, score: tuple[Any, Any, Any], error: str | None) -> dict[str, Any]:
        em, f1, correct = score
        row.update(
            prediction=cost.prediction,
            em=em,
            f1=f1,
            correct=correct,
            llm_calls=cost.llm_calls,
            tool_calls=cost.tool_calls,
            prompt_tokens=cost.prompt_tokens,
            completion_tokens=cost.completion_tokens,
            seconds=round(time.monotonic() - started, 2),
            error=error,
            detail=cost.detail,
        )
        return row

    def spent(prediction: Any = None, **detail: Any) -> Outcome:  # what the meter counted
        return Outcome(
            prediction,
            llm_calls=meter.calls,
            prompt_tokens=meter.prompt_tokens,
            completion_tokens=meter.completion_tokens,
            detail=detail,
        )

    unscored = (None, None, None)
    try:
        tools = (run.tools or _default_tools)(run.dataset, item, run.top_k)
        if "chat" not in run.shared:
            run.shared["chat"] = agent_chat_model(run.model)
        env = MethodEnv(
            meter,
            tools,
            top_k=run.top_k,
            seed=run.seed,
            budget=run.budget,
            chat=run.shared["chat"],
            shared=run.shared,
        )
        outcome = await METHODS[spec.name](item, env, spec.options())
    except ConfigurationError:
        raise
    except (MalformedOutputError, EndpointResponseError) as exc:
        if isinstance(exc, EndpointResponseError) and exc.transient:
            meter.outages.append(_error_text(exc))  # e.g. the agent's probe, past the meter
        if meter.outages:
            return finish(spent(), unscored, f"endpoint failed: {meter.outages[-1]}")
        # The model's own failure: a wrong answer with what it cost, not a scored guess.
        return finish(spent("", failure=_error_text(exc)), (0.0, 0.0, False), None)
    except Exception as exc:  # recorded as an error row and retried by the next run
        return finish(spent(), unscored, _error_text(exc))
    if meter.outages:  # absorbed by the method (a lost vote, a failed node): not its answer
        return finish(spent(outcome.prediction), unscored, f"endpoint failed: {meter.outages[-1]}")
    try:
        check = await check_prediction(item, outcome.prediction, tree=outcome.tree)
    except Exception as exc:  # a bad gold answer or item: an error row, not a crashed run
        return finish(
            dataclasses.replace(outcome, detail={}),
            unscored,
            f"checking failed: {_error_text(exc)}",
        )
    outcome.detail = {**outcome.detail, **({"check": check.detail} if check.detail else {})}
    return finish(outcome, (check.em, check.f1, check.correct), None)


def pending_pairs(
    items: Iterable[EvalItem], methods: Sequence[MethodSpec], done: set[tuple[str, str]]
) -> list[tuple[EvalItem, MethodSpec]]:
    """List the (item, method) pairs still to run, item by item (so a cut run stays paired).

    Args:
        items: The items.
        methods: The methods.
        done: ``(id, method key)`` pairs already answered without error.

    Returns:
        The pairs to run, in order.
    """
    unique = unique_methods(methods)
    return [(i, m) for i in items for m in unique if (i.id, m.key) not in done]


def unique_methods(methods: Iterable[MethodSpec]) -> list[MethodSpec]:
    """Drop repeated methods (``--methods`` and ``--sweep`` may name the same cell twice).

    Args:
        methods: The methods, possibly with repeats.

    Returns:
        Each method once, by :attr:`MethodSpec.key`, in first-seen order.
    """
    return list({m.key: m for m in methods}.values())


async def run_eval(
    run: EvalRun,
    *,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every method on every item not yet answered, appending rows to ``items.jsonl``.

    Args:
        run: The configuration.
        on_row: Called with each new row (a progress display).

    Returns:
        Every row of the output file for these items and methods (earlier runs' included),
        the last one per (item, method).

    Raises:
        ConfigurationError: A method name is unknown or the output folder cannot be made.
    """
    for spec in run.methods:
        if spec.name not in METHODS:
            raise ConfigurationError(f"unknown method {spec.name!r}")
    try:
        run.out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"cannot create {run.out_dir}: {exc}") from exc
    path = run.out_dir / ITEMS_FILE
    previous = load_rows(path) if path.exists() else []
    config = run_config(run)
    ids = {i.id for i in run.dataset.items}
    keys = {m.key for m in run.methods}
    clash = next(
        (
            r
            for r in previous
            if r["id"] in ids and r["method"] in keys and _differs(r.get("config"), config)
        ),
        None,
    )
    if clash is not None:
        raise ConfigurationError(
            f"{path} holds {clash['method']} results made with another configuration "
            f"({clash['config']}, now {config}): choose another --out"
        )
    done = {(r["id"], r["method"]) for r in previous if not r.get("error")}
    pairs = pending_pairs(run.dataset.items, run.methods, done)
    _end_last_line(path)
    gate = asyncio.Semaphore(max(1, run.concurrency))
    write_lock = asyncio.Lock()

    async def one(item: EvalItem, spec: MethodSpec) -> None:
        async with gate:
            row = await run_item(run, item, spec)
        row["config"] = config
        async with write_lock:
            with path.open("a", encoding="utf-8") as sink:
                sink.write(json.dumps(row, default=str) + "\n")
        if on_row is not None:
            on_row(row)

    await asyncio.gather(*(one(item, spec) for item, spec in pairs))
    return [r for r in load_rows(path) if r["id"] in ids and r["method"] in keys]


def _end_last_line(path: Path) -> None:
    """End a line cut short by a crash, so the next row starts on its own line."""
    try:
        with path.open("rb+") as handle:
            if handle.seek(0, 2) and (handle.seek(-1, 2), handle.read(1))[1] != b"\n":
                handle.write(b"\n")
    except FileNotFoundError:
        pass


def run_config(run: EvalRun) -> dict[str, Any]:
    """Describe what a result depends on besides the item and method.

    Rows record it, and a rerun into the same folder with another configuration (another
    model, budget, top-k, seed or completion cap) is refused instead of mixing results.

    Args:
        run: The configuration.

    Returns:
        ``dataset``, ``model`` (the endpoint's model name), ``top_k``, ``seed``, ``budget`` and,
        when the endpoint has one, ``max_tokens``.
    """
    config = {
        "dataset": run.dataset.name,
        "model": str(getattr(run.model, "model", None) or type(run.model).__name__),
        "top_k": run.top_k,
        "seed": run.seed,
        "budget": {k: v for k, v in dataclasses.asdict(run.budget).items() if v is not None},
    }
    max_tokens = getattr(run.model, "max_tokens", None)
    if isinstance(max_tokens, int):
        config["max_tokens"] = max_tokens
    return config


def _differs(recorded: dict[str, Any] | None, config: dict[str, Any]) -> bool:
    """Tell whether a row was made under another configuration.

    Only what both record is compared: a row written before a field was recorded is not a
    clash for lacking it.
    """
    return recorded is not None and any(
        recorded[key] != config[key] for key in recorded.keys() & config.keys()
    )


def plan_rows(
    items: Sequence[EvalItem], methods: Sequence[MethodSpec], rows: Iterable[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Say, per method, how much of a run is done and how long the rest should take.

    The estimate is the mean ``seconds`` of the method's answered rows among ``rows`` (any
    item, so a folder's earlier runs size its next one) times the pairs still to run; it is
    ``None`` where the method has no answered row yet.

    Args:
        items: The run's items.
        methods: The run's methods.
        rows: The rows already in the output folder (see
            :func:`~langgraph_gram.eval.report.load_rows`).

    Returns:
        One dict per method: ``method``, ``done`` (of these items), ``errored`` (of these items,
        to be retried), ``pending``, ``seconds_per_item`` and ``estimated_seconds``.
    """
    rows = list(rows)
    ids = {i.id for i in items}
    plan = []
    for spec in methods:
        mine = [r for r in rows if r.get("method") == spec.key]
        answered = [r for r in mine if not r.get("error")]
        done = {r["id"] for r in answered if r["id"] in ids}
        errored = {r["id"] for r in mine if r.get("error") and r["id"] in ids} - done
        pending = len(ids - done)
        seconds = [float(r.get("seconds") or 0.0) for r in answered]
        per_item = sum(seconds) / len(seconds) if seconds else None
        plan.append(
            {
                "method": spec.key,
                "done": len(done),
                "errored": len(errored),
                "pending": pending,
                "seconds_per_item": per_item,
                "estimated_seconds": per_item * pending if per_item is not None else None,
            }
        )
    return plan


def count_pending(run: EvalRun) -> int:
    """How many (item, method) pairs a :func:`run_eval` call would run.

    Args:
        run: The configuration.

    Returns:
        The number of pairs not yet answered without error.
    """
    path = run.out_dir / ITEMS_FILE
    previous = load_rows(path) if path.exists() else []
    done = {(r["id"], r["method"]) for r in previous if not r.get("error")}
    return len(pending_pairs(run.dataset.items, run.methods, done))
