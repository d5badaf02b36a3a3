"""The results side of ``gram eval``: summaries, paired bootstrap, Markdown tables and plots.

An evaluation run appends one JSON object per (item, method) to ``DIR/items.jsonl``::

    {"id", "dataset", "method", "type", "question", "gold", "prediction", "em", "f1", "correct",
     "llm_calls", "tool_calls", "prompt_tokens", "completion_tokens", "seconds", "error",
     "settings"}

``method`` is a plain name (``direct``, ``cot``, ``self_consistency``, ``react``, ``gram``) or a
sweep entry such as ``gram[max_depth=2,width=3]`` whose ``settings`` are
``{"max_depth": 2, "width": 3}``. A row whose ``error`` is set (endpoint down, crash) is counted
apart and never scored. An item is identified by ``(dataset, id)``.

    rows = load_rows("runs/exp1/items.jsonl")
    paths = write_reports("runs/exp1", rows, title="fictional_multihop, qwen2.5-0.5b")

The plots need matplotlib (``pip install "langgraph-gram[eval]"``); they are drawn on the Agg
canvas, so no display is needed.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from langgraph_gram.errors import ConfigurationError

__all__ = [
    "BASELINES",
    "by_type",
    "depth_width_table",
    "errors",
    "grid_cell",
    "load_rows",
    "markdown",
    "paired_bootstrap",
    "plot_accuracy_vs_tokens",
    "plot_depth_width",
    "summarize",
    "tool_use",
    "write_reports",
]

logger = logging.getLogger(__name__)

Row = Mapping[str, Any]

BASELINES = ("direct", "cot", "self_consistency", "react")
"""The methods every ``gram`` entry is compared with by default in :func:`markdown`."""

_COST_FIELDS = ("llm_calls", "prompt_tokens", "completion_tokens", "seconds")
_METRICS = {"em": "em", "f1": "f1", "accuracy": "correct", "correct": "correct"}
_SWEEP_NAME = re.compile(r"^(?P<base>[^\[\]]+)\[(?P<args>[^\[\]]*)\]$")
# Bootstrap resamples are drawn in blocks of at most this many indices, to bound memory.
_BOOTSTRAP_BLOCK = 2_000_000


# --------------------------------------------------------------------------------------------
# Reading and grouping rows


def load_rows(path: str | Path) -> list[dict[str, Any]]:
    """Read an ``items.jsonl`` file, keeping the last line of each (item, method).

    Reruns append to the file, so when the same ``(dataset, id, method)`` appears several times
    the last line wins, except that an error never replaces an answer; it keeps the position of
    the first occurrence, so methods stay in the order they were first run. Blank lines are
    ignored, and lines that are not a JSON object (a write cut short by a crash) are skipped
    with a logged warning.

    Args:
        path: The ``items.jsonl`` file.

    Returns:
        The rows, one per (item, method).

    Raises:
        ConfigurationError: When the file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigurationError(f"no such results file: {path}")
    latest: dict[tuple[Any, Any, Any], dict[str, Any]] = {}
    skipped = 0
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                skipped += 1
                continue
            if not isinstance(row, dict):
                skipped += 1
                continue
            key = (row.get("dataset"), row.get("id"), row.get("method"))
            if row.get("error") and key in latest and not latest[key].get("error"):
                continue  # an answer stands: a later error for it (a repeated run) is dropped
            latest[key] = row
    if skipped:
        logger.warning("%s: skipped %d line(s) that are not JSON objects", path, skipped)
    return list(latest.values())


def _failed(row: Row) -> bool:
    return bool(row.get("error"))


def _item_key(row: Row) -> tuple[Any, Any]:
    return (row.get("dataset"), row.get("id"))


def _methods(rows: Iterable[Row]) -> list[str]:
    return list(dict.fromkeys(str(row.get("method")) for row in rows))


def _scored(rows: Iterable[Row]) -> dict[str, list[Row]]:
    """Rows without error grouped by method; every method seen is a key, in first-seen order."""
    rows = list(rows)
    grouped: dict[str, list[Row]] = {method: [] for method in _methods(rows)}
    for row in rows:
        if not _failed(row):
            grouped[str(row.get("method"))].append(row)
    return grouped


def _mean(values: Iterable[Any]) -> float | None:
    """Average the values that are not ``None`` (booleans count as 0/1); ``None`` if none."""
    present = [float(value) for value in values if value is not None]
    return sum(present) / len(present) if present else None


# --------------------------------------------------------------------------------------------
# Summaries


def summarize(rows: Iterable[Row]) -> dict[str, dict[str, float | int | None]]:
    """Mean scores and costs per item, for each method.

    Only rows without error count (see :func:`errors` for the others). A field that is ``None``
    in a row (e.g. token counts an endpoint did not report) is left out of that field's mean.

    Args:
        rows: Result rows, one per (item, method).

    Returns:
        ``{method: {"n", "em", "f1", "accuracy", "llm_calls", "prompt_tokens",
        "completion_tokens", "seconds"}}`` with methods in first-seen order: ``n`` is the number
        of rows without error, ``accuracy`` the mean of ``correct`` and the others means per
        item. A method whose rows all failed has ``n == 0`` and ``None`` means.
    """
    summary: dict[str, dict[str, float | int | None]] = {}
    for method, scored in _scored(rows).items():
        summary[method] = {
            "n": len(scored),
            "em": _mean(row.get("em") for row in scored),
            "f1": _mean(row.get("f1") for row in scored),
            "accuracy": _mean(row.get("correct") for row in scored),
            **{name: _mean(row.get(name) for row in scored) for name in _COST_FIELDS},
        }
    return summary


def errors(rows: Iterable[Row]) -> dict[str, int]:
    """Count the failed rows (``error`` set) of each method.

    Args:
        rows: Result rows, one per (item, method).

    Returns:
        ``{method: count}`` for the methods with at least one failed row, in first-seen order;
        empty when nothing failed.
    """
    counts: dict[str, int] = {}
    for row in rows:
        if _failed(row):
            method = str(row.get("method"))
            counts[method] = counts.get(method, 0) + 1
    return counts


def by_type(rows: Iterable[Row]) -> dict[str, dict[str, dict[str, float | int | None]]]:
    """Accuracy and exact match per item type, for each method (rows without error only).

    Args:
        rows: Result rows; a row without ``type`` counts as type ``"all"``.

    Returns:
        ``{method: {type: {"n", "accuracy", "em"}}}``, methods and types in first-seen order. A
        method whose rows all failed maps to ``{}``.
    """
    result: dict[str, dict[str, dict[str, float | int | None]]] = {}
    for method, scored in _scored(rows).items():
        groups: dict[str, list[Row]] = {}
        for row in scored:
            groups.setdefault(str(row.get("type") or "all"), []).append(row)
        result[method] = {
            kind: {
                "n": len(group),
                "accuracy": _mean(row.get("correct") for row in group),
                "em": _mean(row.get("em") for row in group),
            }
            for kind, group in groups.items()
        }
    return result


def tool_use(rows: Iterable[Row]) -> dict[str, dict[str, float]]:
    """How much each method calls tools, over its rows without error.

    Args:
        rows: Result rows; ``tool_calls`` missing or ``None`` counts as 0.

    Returns:
        ``{method: {"mean_tool_calls", "share_with_tool_call"}}`` for every method with at least
        one row without error: the mean number of tool calls per item and the share (0..1) of
        items with at least one.
    """
    result: dict[str, dict[str, float]] = {}
    for method, scored in _scored(rows).items():
        if not scored:
            continue
        calls = [float(row.get("tool_calls") or 0) for row in scored]
        result[method] = {
            "mean_tool_calls": sum(calls) / len(calls),
            "share_with_tool_call": sum(1 for c in calls if c > 0) / len(calls),
        }
    return result


# --------------------------------------------------------------------------------------------
# Paired bootstrap


def paired_bootstrap(
    rows: Iterable[Row],
    a: str,
    b: str,
    *,
    metric: str = "em",
    samples: int = 10000,
    seed: int = 0,
) -> dict[str, float | int | None]:
    """Difference between two methods on the items both answered, with a bootstrap CI.

    Items are paired by ``(dataset, id)``; only items where both methods have a row without
    error (and a value for the metric) count. The items are resampled with replacement
    ``samples`` times and the 2.5th and 97.5th percentiles of the resampled mean differences
    give the 95% interval.

    Args:
        rows: Result rows, one per (item, method).
        a: The first method.
        b: The method subtracted from ``a``.
        metric: ``"em"``, ``"f1"`` or ``"accuracy"`` (also spelled ``"correct"``).
        samples: The number of bootstrap resamples.
        seed: The seed of the resampling; the same seed gives the same interval.

    Returns:
        ``{"diff", "low", "high", "n"}``: ``diff`` is mean(a) - mean(b) over the ``n`` paired
        items, ``low`` and ``high`` the 95% percentile interval of that difference. With no
        paired item, ``n`` is 0 and the others are ``None``.

    Raises:
        ConfigurationError: For an unknown metric or ``samples < 1``.
    """
    if metric not in _METRICS:
        raise ConfigurationError(f"unknown metric {metric!r}; use one of {', '.join(_METRICS)}")
    if samples < 1:
        raise ConfigurationError(f"samples must be at least 1, got {samples}")
    field = _METRICS[metric]
    values: dict[str, dict[tuple[Any, Any], float]] = {a: {}, b: {}}
    for row in rows:
        method = str(row.get("method"))
        if method in values and not _failed(row) and row.get(field) is not None:
            values[method][_item_key(row)] = float(row[field])
    paired = [key for key in values[a] if key in values[b]]
    if not paired:
        return {"diff": None, "low": None, "high": None, "n": 0}
    diffs = np.array([values[a][key] - values[b][key] for key in paired], dtype=np.float64)
    n = len(diffs)
    rng = np.random.default_rng(seed)
    means = np.empty(samples, dtype=np.float64)
    block = max(1, _BOOTSTRAP_BLOCK // n)
    for start in range(0, samples, block):
        stop = min(samples, start + block)
        indices = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = diffs[indices].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {"diff": float(diffs.mean()), "low": float(low), "high": float(high), "n": n}


# --------------------------------------------------------------------------------------------
# Markdown


def _is_gram(method: str) -> bool:
    return method == "gram" or method.startswith("gram[")


def _default_pairs(methods: Sequence[str]) -> list[tuple[str, str]]:
    baselines = [m for m in methods if m in BASELINES]
    pairs = [(m, base) for m in methods if _is_gram(m) for base in baselines]
    if "gram" in methods:  # settings against the default: gram[width=3] - gram
        pairs += [(m, "gram") for m in methods if _is_gram(m) and m != "gram"]
    return pairs


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _pp(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:+.1f}"


def _table(header: Sequence[str], body: Iterable[Sequence[str]], right: int = 1) -> list[str]:
    """Render a Markdown table; the columns from index ``right`` on are right-aligned."""
    align = ["---" if i < right else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in body]
    return lines


def _type_cell(stats: Mapping[str, Any], items: int) -> str:
    """Show a type's accuracy, with the method's own n where it answered fewer items."""
    text = _pct(stats.get("accuracy"))
    n = stats.get("n")
    return f"{text} (n={n})" if n and n != items else text


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _first_line(error: Any, limit: int = 160) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:limit] if lines else ""


def _ci(result: Mapping[str, Any]) -> str:
    if result["n"] == 0:
        return "—"
    return f"{_pp(result['diff'])} [{_pp(result['low'])}, {_pp(result['high'])}]"


def markdown(
    rows: Iterable[Row],
    *,
    title: str,
    command: str | None = None,
    notes: str | Sequence[str] | None = None,
    baseline_pairs: Sequence[tuple[str, str]] | None = None,
) -> str:
    """Render the results as a Markdown report.

    The report holds a main table (per method: scored items, EM, F1, accuracy, and per item LLM
    calls, tool calls, prompt and completion tokens and seconds; plus failed items), a per-type
    accuracy table (methods × types), a tool-use line for the methods that call tools, a table
    of paired differences (accuracy and EM, in percentage points with 95% bootstrap intervals)
    and, when some rows failed, their most frequent errors.

    Args:
        rows: Result rows, one per (item, method).
        title: The report's heading.
        command: The command that produced the results, shown in a code block.
        notes: Free text shown under the heading, or lines shown as a bullet list.
        baseline_pairs: The ``(a, b)`` method pairs to compare (``a - b``). By default each
            ``gram`` entry (``gram`` or ``gram[...]``) against each of ``direct``, ``cot``,
            ``self_consistency`` and ``react`` present, and each ``gram[...]`` entry against
            plain ``gram`` when both are present.

    Returns:
        The Markdown text, ending with a newline.
    """
    rows = list(rows)
    summary = summarize(rows)
    failed = errors(rows)
    tools = tool_use(rows)
    types = by_type(rows)
    methods = list(summary)

    lines = [f"# {title}", ""]
    if isinstance(notes, str):
        if notes.strip():
            lines += [notes.strip(), ""]
    elif notes:
        lines += [f"- {note}" for note in notes] + [""]
    if command:
        lines += ["```", command.strip(), "```", ""]
    scored = sum(int(stats["n"] or 0) for stats in summary.values())
    items = len({_item_key(row) for row in rows})
    lines += [
        f"{_count(items, 'item')}, {_count(len(methods), 'method')}, "
        f"{_count(scored, 'scored row')}, {_count(sum(failed.values()), 'failed row')} "
        "(not scored).",
        "",
    ]
    if not methods:
        return "\n".join(lines)

    lines += ["## Results", ""]
    header = [
        "method",
        "n",
        "EM",
        "F1",
        "accuracy",
        "LLM calls",
        "tool calls",
        "prompt tokens",
        "completion tokens",
        "seconds",
        "errors",
    ]
    body = []
    for method, stats in summary.items():
        tool_calls = tools.get(method, {}).get("mean_tool_calls")
        body.append(
            [
                method,
                str(stats["n"]),
                _pct(stats["em"]),
                _pct(stats["f1"]),
                _pct(stats["accuracy"]),
                _num(stats["llm_calls"]),
                _num(tool_calls),
                _num(stats["prompt_tokens"], 0),
                _num(stats["completion_tokens"], 0),
                _num(stats["seconds"], 2),
                str(failed.get(method, 0)),
            ]
        )
    lines += _table(header, body)
    lines += [
        "",
        "EM, F1 and accuracy over the scored items; calls, tokens and seconds are means per item.",
        "",
    ]

    type_names = list(dict.fromkeys(kind for per in types.values() for kind in per))
    if type_names:
        type_items = Counter(
            str(row.get("type") or "all") for row in {_item_key(row): row for row in rows}.values()
        )
        lines += ["## Accuracy by type", ""]
        header = ["method"] + [f"{kind} (n={type_items[kind]})" for kind in type_names]
        body = [
            [method]
            + [_type_cell(types[method].get(kind, {}), type_items[kind]) for kind in type_names]
            for method in methods
        ]
        lines += _table(header, body)
        lines.append("")

    grid_table = depth_width_table(rows)
    if grid_table:
        lines += ["## Depth × width", "", grid_table]

    using = [(m, t) for m, t in tools.items() if t["mean_tool_calls"] > 0]
    if using:
        parts = [
            f"{m} {t['mean_tool_calls']:.1f} calls per item, "
            f"{_pct(t['share_with_tool_call'])} of items with a tool call"
            for m, t in using
        ]
        lines += ["**Tool use:** " + "; ".join(parts) + ".", ""]

    pairs = list(baseline_pairs) if baseline_pairs is not None else _default_pairs(methods)
    if pairs:
        lines += ["## Differences", ""]
        header = ["A", "B", "n", "Δ accuracy (pp) [95% CI]", "Δ EM (pp) [95% CI]"]
        body = []
        for a, b in pairs:
            acc = paired_bootstrap(rows, a, b, metric="accuracy")
            em = paired_bootstrap(rows, a, b, metric="em")
            body.append([a, b, str(acc["n"]), _ci(acc), _ci(em)])
        lines += _table(header, body, right=2)
        lines += [
            "",
            "A − B over the items both answered without error; paired bootstrap, "
            "10000 resamples, percentile interval.",
            "",
        ]

    if failed:
        lines += ["## Failed rows", ""]
        for method, count in failed.items():
            messages = Counter(
                _first_line(row.get("error"))
                for row in rows
                if _failed(row) and str(row.get("method")) == method
            )
            top = "; ".join(f"{n}× `{msg}`" for msg, n in messages.most_common(3))
            lines.append(f"- {method}: {count} — {top}")
        lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Plots


def _figure(**kwargs: Any) -> Any:
    """Create a matplotlib figure on the Agg canvas (no pyplot, no display)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            'the eval plots need matplotlib: pip install "langgraph-gram[eval]"'
        ) from exc
    figure = Figure(**kwargs)
    FigureCanvasAgg(figure)
    return figure


def plot_accuracy_vs_tokens(summary: Mapping[str, Mapping[str, Any]], path: str | Path) -> None:
    """Plot accuracy against the mean tokens per item, one labelled point per method (PNG).

    Where methods were scored on different numbers of items, each label gives its ``n``. The x
    axis (log scale) is prompt + completion tokens per item; methods without scored items
    or without token counts are left out, and a method reporting 0 tokens is drawn at 1.

    Args:
        summary: The result of :func:`summarize`.
        path: The PNG file to write.

    Raises:
        ImportError: When matplotlib is not installed.
    """
    figure = _figure(figsize=(7, 4.5), layout="constrained")
    axes = figure.add_subplot()
    points = []
    for method, stats in summary.items():
        accuracy = stats.get("accuracy")
        prompt, completion = stats.get("prompt_tokens"), stats.get("completion_tokens")
        if not stats.get("n") or accuracy is None or (prompt is None and completion is None):
            continue
        tokens = max(1.0, float(prompt or 0) + float(completion or 0))
        points.append((method, tokens, 100 * float(accuracy)))
    sizes = {method: stats.get("n") for method, stats in summary.items() if stats.get("n")}
    uneven = len(set(sizes.values())) > 1  # then each point says how many items it averages
    for method, tokens, accuracy in points:
        color = "tab:red" if _is_gram(method) else "tab:blue"
        axes.scatter([tokens], [accuracy], color=color, s=40, zorder=3)
        label = f"{method} (n={sizes[method]})" if uneven else method
        axes.annotate(
            label, (tokens, accuracy), xytext=(5, 4), textcoords="offset points", fontsize=8
        )
    axes.set_xscale("log")
    if points:
        low, high = min(p[1] for p in points), max(p[1] for p in points)
        axes.set_xlim(low / 1.6, high * 2.5)
    else:
        axes.text(0.5, 0.5, "no scored methods", ha="center", va="center", transform=axes.transAxes)
    axes.set_ylim(-3, 103)
    axes.set_xlabel("tokens per item (prompt + completion, log scale)")
    axes.set_ylabel("accuracy (%)")
    axes.set_title("Accuracy vs tokens")
    axes.grid(True, which="both", alpha=0.3)
    figure.savefig(Path(path), format="png", dpi=120)


def _parse_value(text: str) -> Any:
    text = text.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _settings_from_name(method: str) -> dict[str, Any]:
    """``gram[max_depth=2,width=3]`` -> ``{"max_depth": 2, "width": 3}``; ``{}`` otherwise."""
    match = _SWEEP_NAME.match(method)
    if not match:
        return {}
    settings = {}
    for part in match["args"].split(","):
        key, sep, value = part.partition("=")
        if sep:
            settings[key.strip()] = _parse_value(value)
    return settings


def _sort_key(value: Any) -> tuple[int, float, str]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return (1, 0.0, str(value))
    return (0, float(value), "")


_GRID_KEYS = frozenset({"max_depth", "width"})


def grid_cell(row: Row) -> tuple[Any, Any] | None:
    """Place a row of a ``gram`` entry on the depth × width grid.

    An entry counts when its settings are only ``max_depth`` and ``width``; the one it leaves
    out is the run's (``max_depth`` from the row's recorded budget, width 1). So ``gram`` and
    ``gram[width=3]``, run with ``--max-depth 2``, are the cells (2, 1) and (2, 3) beside a
    ``--sweep max_depth=1 width=1,3``.

    Args:
        row: One row.

    Returns:
        ``(max_depth, width)``, or ``None`` when the row is no such entry or its depth is
        unknown.
    """
    method = str(row.get("method"))
    match = _SWEEP_NAME.match(method)
    if (match["base"] if match else method) != "gram":
        return None
    setting = dict(row.get("settings") or _settings_from_name(method))
    if not set(setting) <= _GRID_KEYS:
        return None
    budget = (row.get("config") or {}).get("budget") or {}
    depth = setting.get("max_depth", budget.get("max_depth"))
    return None if depth is None else (depth, setting.get("width", 1))


def _sweep_grid(
    source: Sequence[Row] | Mapping[str, Mapping[str, Any]],
) -> dict[tuple[Any, Any], tuple[float | None, int, int]]:
    """``{(depth, width): (accuracy, n, entries)}`` over the sweep entries in rows or a summary.

    From rows, every cell is scored on the items that all cells answered (so cells run on
    different numbers of items stay comparable), and a grid needs two cells or more. From a
    summary, only entries named with both settings count.
    """
    if isinstance(source, Mapping):
        cells: dict[tuple[Any, Any], list[tuple[float | None, int]]] = {}
        for method, stats in source.items():
            setting = _settings_from_name(method)
            if "max_depth" in setting and "width" in setting:
                accuracy = stats.get("accuracy")
                cells.setdefault((setting["max_depth"], setting["width"]), []).append(
                    (None if accuracy is None else float(accuracy), int(stats.get("n") or 0))
                )
        grid = {}
        for key, entries in cells.items():
            weighted = [(acc, n) for acc, n in entries if acc is not None and n > 0]
            total = sum(n for _, n in weighted)
            accuracy = sum(acc * n for acc, n in weighted) / total if total else None
            grid[key] = (accuracy, total, len(entries))
        return grid
    by_cell: dict[tuple[Any, Any], dict[str, dict[tuple[Any, Any], Row]]] = {}
    for row in source:
        cell = grid_cell(row)
        if cell is not None and not _failed(row):
            entry = by_cell.setdefault(cell, {}).setdefault(str(row.get("method")), {})
            entry[_item_key(row)] = row
    if len(by_cell) < 2:
        return {}
    common = set.intersection(
        *(set(items) for entries in by_cell.values() for items in entries.values())
    )
    grid = {}
    for cell, methods in by_cell.items():
        scored = [items[key] for items in methods.values() for key in common]
        total = len(scored)
        correct = sum(bool(r.get("correct")) for r in scored)
        grid[cell] = (correct / total if total else None, total, len(methods))
    return grid


def depth_width_table(rows: Sequence[Row]) -> str:
    """Render the depth × width grid of ``rows`` as a markdown table (empty without one).

    Args:
        rows: Result rows.

    Returns:
        Accuracy per cell on the items every cell answered, with the number of items.
    """
    grid = _sweep_grid(rows)
    if not grid:
        return ""
    depths = sorted({d for d, _ in grid}, key=_sort_key)
    widths = sorted({w for _, w in grid}, key=_sort_key)
    n = max(total for _, total, _ in grid.values())
    lines = [
        f"Accuracy by max_depth (rows) and width (columns), on the {n} items every cell answered:",
        "",
        "| max_depth | " + " | ".join(f"width {w}" for w in widths) + " |",
        "| --- | " + " | ".join("---" for _ in widths) + " |",
    ]
    for depth in depths:
        cells = []
        for width in widths:
            accuracy = grid.get((depth, width), (None, 0, 0))[0]
            cells.append("" if accuracy is None else f"{100 * accuracy:.1f}%")
        lines.append(f"| {depth} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_depth_width(
    source: Sequence[Row] | Mapping[str, Mapping[str, Any]], path: str | Path
) -> bool:
    """Plot accuracy over a ``max_depth`` × ``width`` sweep (PNG), if the results hold one.

    The left panel is a heat map (depth rows × width columns) with the accuracy written in each
    cell; when the sweep has two widths or more, the right panel draws accuracy against width,
    one line per depth. Entries sharing a (depth, width) but differing in other settings are
    pooled (accuracy weighted by scored items).

    Args:
        source: Result rows (their ``settings`` are read) or a :func:`summarize` result (the
            settings are parsed from names like ``gram[max_depth=2,width=3]``).
        path: The PNG file to write.

    Returns:
        ``True`` when the plot was written; ``False``, writing nothing, when no entry has both
        ``max_depth`` and ``width`` settings.

    Raises:
        ImportError: When there is a sweep but matplotlib is not installed.
    """
    grid = _sweep_grid(source)
    if not grid:
        return False
    depths = sorted({d for d, _ in grid}, key=_sort_key)
    widths = sorted({w for _, w in grid}, key=_sort_key)
    values = np.full((len(depths), len(widths)), np.nan)
    for (depth, width), (accuracy, _, _) in grid.items():
        if accuracy is not None:
            values[depths.index(depth), widths.index(width)] = 100 * accuracy
    lines = len(widths) >= 2
    figure = _figure(figsize=(11 if lines else 6, 4.5), layout="constrained")
    heat = figure.add_subplot(1, 2 if lines else 1, 1)
    image = heat.imshow(
        np.ma.masked_invalid(values), cmap="viridis", vmin=0, vmax=100, aspect="auto"
    )
    heat.set_xticks(range(len(widths)), [str(w) for w in widths])
    heat.set_yticks(range(len(depths)), [str(d) for d in depths])
    heat.set_xlabel("width")
    heat.set_ylabel("max_depth")
    heat.set_title("Accuracy (%) by max_depth × width")
    for i in range(len(depths)):
        for j in range(len(widths)):
            value = values[i, j]
            missing = math.isnan(value)
            text = "—" if missing else f"{value:.1f}"
            # Dark text on viridis' light (high) end and on blank cells, light text elsewhere.
            color = "black" if missing or value > 60 else "white"
            heat.text(j, i, text, ha="center", va="center", color=color, fontsize=10)
    figure.colorbar(image, ax=heat, label="accuracy (%)")
    if lines:
        axes = figure.add_subplot(1, 2, 2)
        positions = list(range(len(widths)))
        for i, depth in enumerate(depths):
            axes.plot(positions, values[i], marker="o", label=f"max_depth={depth}")
        axes.set_xticks(positions, [str(w) for w in widths])
        axes.set_xlabel("width")
        axes.set_ylabel("accuracy (%)")
        axes.set_ylim(-3, 103)
        axes.set_title("Accuracy vs width")
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=8)
    figure.savefig(Path(path), format="png", dpi=120)
    return True


# --------------------------------------------------------------------------------------------
# All reports


def write_reports(
    out_dir: str | Path,
    rows: Iterable[Row],
    *,
    title: str,
    command: str | None = None,
    notes: str | Sequence[str] | None = None,
) -> dict[str, Path]:
    """Write every report of a run into a folder.

    Writes ``summary.json`` (the :func:`summarize` dict, indent 2), ``summary.md``
    (:func:`markdown`), ``accuracy_vs_tokens.png`` and, when the rows hold a depth × width
    sweep, ``depth_width.png``. Without matplotlib the plots are skipped with a logged warning
    and the text reports are still written.

    Args:
        out_dir: The folder (created if missing).
        rows: Result rows, one per (item, method).
        title: The Markdown report's heading.
        command: The command that produced the results, for the Markdown report.
        notes: Free text, or lines, for the Markdown report.

    Returns:
        The files written, by key: ``"summary_json"``, ``"summary_md"``,
        ``"accuracy_vs_tokens"`` and ``"depth_width"`` (the last two only when written).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = list(rows)
    summary = summarize(rows)
    paths = {"summary_json": out / "summary.json", "summary_md": out / "summary.md"}
    paths["summary_json"].write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    paths["summary_md"].write_text(
        markdown(rows, title=title, command=command, notes=notes), encoding="utf-8"
    )
    try:
        plot_accuracy_vs_tokens(summary, out / "accuracy_vs_tokens.png")
        paths["accuracy_vs_tokens"] = out / "accuracy_vs_tokens.png"
        if plot_depth_width(rows, out / "depth_width.png"):
            paths["depth_width"] = out / "depth_width.png"
    except ImportError as exc:
        logger.warning("plots skipped: %s", exc)
    return paths
