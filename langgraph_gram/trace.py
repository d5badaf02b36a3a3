r"""Write the reasoning tree of a GRAM run as one self-contained HTML page (``gram ask --trace``).

:func:`render_html` turns a final state (what ``graph.ainvoke`` returns, ``gram ask --json``
prints, or a thread's checkpoint holds) into a single HTML document: inline CSS, a few lines of
vanilla JavaScript, no network, no external fonts. The page shows a header (question, final
answer, sources, budget usage, what cut the tree) and the tree as nested ``<details>`` elements,
one per node (``data-node-id`` and ``id="node-<id>"``), each with its status, questions, answer,
reasoning, candidates, plan candidates, citations, tool calls, memo reuse, error, tokens and
timings relative to the run's start.

Everything the model wrote is untrusted: all text is HTML-escaped, and the state embedded for
scripts (``<script type="application/json" id="gram-state">``) has ``<``, ``>`` and ``&``
escaped as ``\u003c``, ``\u003e`` and ``\u0026``, so nothing in it can close the element.

URL fragments: ``#expand-all`` opens every node (by clicking each closed summary, as a person
would), ``#collapse-all`` closes all but the root, ``#node-0.2`` opens and highlights one node.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

from langgraph_gram.state import ROOT_ID

STATUS_MARK = {
    "pending": "…",
    "expanded": "▸",
    "done": "✓",
    "failed": "✗",
    "cut": "✂",
}
"""Marker of each node status (as in the terminal view)."""

STATE_KEYS = (
    "question",
    "answer",
    "stopped_by",
    "budget_hits",
    "citations",
    "usage",
    "budget",
    "seconds",
    "started_at",
    "tree",
)
"""The state fields embedded in the page as JSON (``messages`` and bookkeeping are left out)."""

_CSS = """
:root{--fg:#1f2328;--muted:#656d76;--line:#d8dee4;--bg:#f6f8fa;--acc:#0969da;
--done:#1a7f37;--failed:#cf222e;--cut:#8250df;--pending:#9a6700;--expanded:#0a7ea4}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);
background:#fff}
main{max-width:1100px;margin:0 auto;padding:20px 24px 48px}
h1{font-size:18px;margin:0 0 4px}
h2{font-size:15px;margin:22px 0 8px}
.muted{color:var(--muted)}
.question{font-size:15px;margin:4px 0 12px}
.final{border:1px solid var(--line);border-left:4px solid var(--done);border-radius:6px;
padding:10px 14px;background:var(--bg);margin:10px 0}
.final.cut{border-left-color:var(--cut)}
.final .text{font-size:17px;font-weight:600;white-space:pre-wrap;overflow-wrap:anywhere}
.label{font-size:11px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted)}
.cards{display:flex;flex-wrap:wrap;gap:8px;margin:10px 0}
.card{border:1px solid var(--line);border-radius:6px;padding:6px 12px;min-width:110px}
.card b{display:block;font-size:16px}
.badge{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;font-weight:600;
color:#fff;background:var(--muted);white-space:nowrap}
.st-done{background:var(--done)}.st-failed{background:var(--failed)}.st-cut{background:var(--cut)}
.st-pending{background:var(--pending)}.st-expanded{background:var(--expanded)}
.hit{background:var(--cut)}.ok{background:var(--done)}
table{border-collapse:collapse;margin:4px 0 8px;font-size:13px}
td,th{border:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
th{background:var(--bg);font-weight:600}
.toolbar{margin:8px 0}
button{font:inherit;font-size:12px;border:1px solid var(--line);background:var(--bg);
border-radius:6px;padding:2px 10px;cursor:pointer}
details.node{border-left:2px solid var(--line);margin:3px 0 3px 6px;padding-left:10px}
details.node>summary{cursor:pointer;padding:3px 4px;border-radius:4px;list-style-position:outside}
details.node>summary:hover{background:var(--bg)}
details.node.hl>summary{background:#fff8c5}
.nid{font-family:ui-monospace,monospace;color:var(--muted);font-size:12px;margin:0 4px}
.a{font-weight:600}
.arrow{color:var(--muted)}
.meta{color:var(--muted);font-size:12px;margin-left:6px;white-space:nowrap}
.body{margin:2px 0 6px 4px;padding:6px 10px;background:var(--bg);border-radius:6px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0}
dt{color:var(--muted)}
dd{margin:0;white-space:pre-wrap;overflow-wrap:anywhere}
.err{color:var(--failed)}
.bar{position:relative;height:4px;background:#e6eaef;border-radius:2px;margin:2px 0 8px}
.bar span{position:absolute;top:0;height:4px;border-radius:2px;background:#54aeff;
min-width:2px}
details.sub>summary,details.info>summary{cursor:pointer;color:var(--acc);font-size:12px}
details.info{margin:0 0 2px 4px}
.body .label{display:block;margin-top:6px}
.chosen{font-weight:600}
ol,ul{margin:2px 0 6px;padding-left:22px}
"""

_JS = """
(function(){
function nodes(){return Array.prototype.slice.call(document.querySelectorAll('#tree details'));}
function summary(d){for(var c=d.firstElementChild;c;c=c.nextElementSibling)
if(c.tagName==='SUMMARY')return c;return null;}
function expandAll(){nodes().forEach(function(d){if(!d.open)summary(d).click();});}
function collapseAll(){nodes().reverse().forEach(function(d){
if(d.open&&d.getAttribute('data-node-id')!=='0')summary(d).click();});}
function reveal(id){var n=document.getElementById('node-'+id);if(!n)return;
nodes().forEach(function(d){d.classList.remove('hl');});
for(var d=n;d;d=d.parentElement){if(d.tagName==='DETAILS')d.open=true;}
n.classList.add('hl');n.scrollIntoView({block:'center'});}
function onHash(){var h=decodeURIComponent(location.hash.slice(1));
if(h==='expand-all')expandAll();else if(h==='collapse-all')collapseAll();
else if(h.indexOf('node-')===0)reveal(h.slice(5));}
function download(){var text=document.getElementById('gram-state').textContent;
var url=URL.createObjectURL(new Blob([text],{type:'application/json'}));
var a=document.createElement('a');a.href=url;a.download='gram-state.json';
document.body.appendChild(a);a.click();a.remove();URL.revokeObjectURL(url);}
document.getElementById('btn-expand').onclick=expandAll;
document.getElementById('btn-collapse').onclick=collapseAll;
document.getElementById('btn-json').onclick=download;
window.addEventListener('hashchange',onHash);onHash();
})();
"""


def _e(value: Any) -> str:
    """HTML-escape any value as text (``None`` gives ``""``)."""
    return "" if value is None else html.escape(str(value), quote=True)


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _int(value: Any) -> int:
    number = _num(value)
    return int(number) if number is not None else 0


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _secs(value: float) -> str:
    return f"{value:.3f}s" if abs(value) < 10 else f"{value:.1f}s"


def _badge(status: str) -> str:
    mark = STATUS_MARK.get(status, "?")
    return f'<span class="badge st-{_e(status)}">{mark} {_e(status or "unknown")}</span>'


def _node_link(node_id: str) -> str:
    return f'<a href="#node-{_e(node_id)}">{_e(node_id)}</a>'


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _citation_items(citations: Any) -> str:
    items = "".join(
        f"<li><code>[{_e(c.get('id'))}]</code> {_e(c.get('title'))}</li>" for c in _dicts(citations)
    )
    return f"<ul>{items}</ul>" if items else ""


class _Timeline:
    """Places node start and finish times relative to the run's first start."""

    def __init__(self, state: dict[str, Any], tree: dict[str, dict[str, Any]]) -> None:
        starts = [_num(state.get("started_at"))]
        ends: list[float | None] = []
        for node in tree.values():
            starts.append(_num(node.get("started_at")))
            ends.append(_num(node.get("finished_at")))
        known = [s for s in starts if s is not None]
        self.origin = min(known) if known else None
        finished = [e for e in ends if e is not None]
        last = max(finished) if finished else None
        self.span = (last - self.origin) if self.origin is not None and last is not None else None

    def rel(self, when: Any) -> float | None:
        when = _num(when)
        if when is None or self.origin is None:
            return None
        return when - self.origin

    def bar(self, node: dict[str, Any]) -> str:
        start, end = self.rel(node.get("started_at")), self.rel(node.get("finished_at"))
        if start is None or end is None or not self.span or self.span <= 0:
            return ""
        left = max(0.0, min(100.0, 100 * start / self.span))
        width = max(0.0, min(100.0 - left, 100 * (end - start) / self.span))
        return f'<div class="bar"><span style="left:{left:.1f}%;width:{width:.1f}%"></span></div>'


def _candidates(node: dict[str, Any]) -> str:
    rows = []
    if len(_dicts(node.get("candidates"))) < 2:
        return ""  # one candidate: its score is a row of the node's details
    for cand in _dicts(node.get("candidates")):
        score = _num(cand.get("score"))
        rows.append(
            f"<tr><td>{_e(cand.get('answer'))}</td><td>{_e(cand.get('votes', ''))}</td>"
            f"<td>{'—' if score is None else f'{score:.2f}'}</td>"
            f"<td>{_e(cand.get('reason', ''))}</td></tr>"
        )
    if not rows:
        return ""
    return (
        f'<div class="label">answer candidates ({len(rows)})</div><table>'
        "<tr><th>answer</th><th>votes</th><th>score</th><th>judge</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _plan_candidates(node: dict[str, Any], tree: dict[str, dict[str, Any]]) -> str:
    plans = _dicts(node.get("plan_candidates"))
    if not plans:
        return ""
    children = [str(tree.get(c, {}).get("question", "")) for c in node.get("children") or []]
    chosen_done = False
    items = []
    for plan in plans:
        subs = [
            str(s.get("question", "")) if isinstance(s, dict) else str(s)
            for s in plan.get("subproblems") or []
        ]
        chosen = not chosen_done and subs == children
        chosen_done = chosen_done or chosen
        agreement = _num(plan.get("agreement"))
        head = f"agreement {agreement:.2f}" if agreement is not None else "plan"
        if chosen:
            head += " · chosen"
        subs_html = "".join(f"<li>{_e(s)}</li>" for s in subs) or "<li><i>answer directly</i></li>"
        cls = ' class="chosen"' if chosen else ""
        items.append(f"<li{cls}>{_e(head)}<ol>{subs_html}</ol></li>")
    return (
        f'<details class="sub"><summary>{len(plans)} plan candidates</summary>'
        f"<ul>{''.join(items)}</ul></details>"
    )


def _tool_calls(node: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td><code>{_e(c.get('tool'))}</code></td><td>{_e(c.get('input'))}</td>"
        f'<td class="err">{_e(c.get("error") or "")}</td></tr>'
        for c in _dicts(node.get("tool_calls"))
    )
    if not rows:
        return ""
    return (
        '<div class="label">tool calls</div><table><tr><th>tool</th><th>input</th>'
        f"<th>error</th></tr>{rows}</table>"
    )


def _node_body(node: dict[str, Any], tree: dict[str, dict[str, Any]], clock: _Timeline) -> str:
    rows: list[tuple[str, str]] = []
    question = str(node.get("question") or "")
    resolved = str(node.get("resolved_question") or "")
    rows.append(("question", _e(resolved or question)))
    if resolved and resolved != question:
        rows.append(("as written", _e(question)))
    rows.append(("answer", _e(node.get("answer") or "") or '<i class="muted">none</i>'))
    if node.get("reasoning"):
        rows.append(("reasoning", _e(node["reasoning"])))
    deps = [str(d) for d in node.get("depends_on") or []]
    if deps:
        rows.append(("depends on", ", ".join(_node_link(d) for d in deps)))
    memo = node.get("memo_of")
    if memo == "store":
        rows.append(("reused", "a cached answer from an earlier run (store)"))
    elif memo:
        rows.append(("reused", f"the answer of {_node_link(str(memo))} (memoized)"))
    single = _dicts(node.get("candidates"))
    if len(single) == 1 and _num(single[0].get("score")) is not None:
        reason = f" ({_e(single[0]['reason'])})" if single[0].get("reason") else ""
        rows.append(("score", f"{_num(single[0]['score']):.2f}{reason}"))
    if "corrected_from" in node:
        rows.append(("corrected", f"the model answered {_e(repr(node['corrected_from']))}"))
    if node.get("rejected_plan"):
        rows.append(("plan rejected", _e(node["rejected_plan"])))
    if node.get("error"):
        rows.append(("error", f'<span class="err">{_e(node["error"])}</span>'))
    flags = [str(node.get("kind") or "")]
    for flag in ("atomic", "redecomposed", "reviewed", "edited"):
        if node.get(flag):
            flags.append(flag)
    rows.append(("kind", _e(" · ".join(f for f in flags if f))))
    start, end = clock.rel(node.get("started_at")), clock.rel(node.get("finished_at"))
    timing = []
    if start is not None:
        timing.append(f"started +{_secs(start)}")
    if end is not None:
        timing.append(f"finished +{_secs(end)}")
    seconds = _num(node.get("seconds"))
    if seconds is not None:
        timing.append(f"{_secs(seconds)} of work")
    if timing:
        rows.append(("time", " · ".join(timing)))
    rows.append(
        (
            "usage",
            f"{_plural(_int(node.get('llm_calls')), 'LLM call')} · "
            f"{_int(node.get('prompt_tokens')):,} prompt + "
            f"{_int(node.get('completion_tokens')):,} completion tokens",
        )
    )
    parts = [
        clock.bar(node),
        "<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>",
        _candidates(node),
        _plan_candidates(node, tree),
    ]
    citations = _citation_items(node.get("citations"))
    if citations:
        parts.append(f'<div class="label">citations</div>{citations}')
    parts.append(_tool_calls(node))
    return '<div class="body">' + "".join(p for p in parts if p) + "</div>"


def _node_open(node: dict[str, Any], tree: dict[str, dict[str, Any]], clock: _Timeline) -> str:
    node_id = str(node.get("id", ""))
    status = str(node.get("status") or "")
    question = str(node.get("resolved_question") or node.get("question") or "")
    answer = str(node.get("answer") or "")
    summary = [_badge(status), f'<span class="nid">[{_e(node_id)}]</span>']
    summary.append(f'<span class="q">{_e(_short(question))}</span>')
    if answer:
        summary.append(f' <span class="arrow">→</span> <span class="a">{_e(_short(answer))}</span>')
    elif node.get("error") and status in {"failed", "cut"}:
        summary.append(f' <span class="err">({_e(_short(str(node["error"]), 80))})</span>')
    if node.get("memo_of"):
        summary.append(f' <span class="muted">(reused {_e(node["memo_of"])})</span>')
    meta = _plural(_int(node.get("llm_calls")), "call")
    tokens = _int(node.get("prompt_tokens")) + _int(node.get("completion_tokens"))
    if tokens:
        meta += f" · {tokens:,} tok"
    seconds = _num(node.get("seconds"))
    if seconds is not None:
        meta += f" · {_secs(seconds)}"
    summary.append(f'<span class="meta">{meta}</span>')
    body = _node_body(node, tree, clock)
    if any(c in tree for c in node.get("children") or []):
        # An internal node starts open, so the whole tree shows at once; its own details
        # (reasoning, plans, timings) are one click away, as a leaf's are.
        return (
            f'<details class="node" id="node-{_e(node_id)}" data-node-id="{_e(node_id)}" '
            f'data-status="{_e(status)}" open><summary>{"".join(summary)}</summary>'
            f'<details class="info"><summary>node details</summary>{body}</details>'
        )
    return (
        f'<details class="node" id="node-{_e(node_id)}" data-node-id="{_e(node_id)}" '
        f'data-status="{_e(status)}"><summary>{"".join(summary)}</summary>{body}'
    )


def _render_tree(tree: dict[str, dict[str, Any]], clock: _Timeline) -> str:
    """Nested ``<details>``, depth first from the root, then any node the root does not reach."""
    out: list[str] = []
    seen: set[str] = set()

    def walk(start: str) -> None:
        stack: list[tuple[str, bool]] = [(start, False)]
        while stack:
            node_id, closing = stack.pop()
            if closing:
                out.append("</details>")
                continue
            if node_id in seen or node_id not in tree:
                continue
            seen.add(node_id)
            node = {"id": node_id, **tree[node_id]}
            out.append(_node_open(node, tree, clock))
            stack.append((node_id, True))
            for child in reversed(node.get("children") or []):
                stack.append((str(child), False))

    walk(ROOT_ID)
    rest = sorted((n for n in tree if n not in seen), key=_id_key)
    if rest:
        out.append('<h2 id="detached">Nodes not reachable from the root</h2>')
        for node_id in rest:
            walk(node_id)
    return "".join(out) or '<p class="muted">(empty tree)</p>'


def _id_key(node_id: str) -> tuple[int | str, ...]:
    return tuple(int(p) if p.isdigit() else p for p in str(node_id).split("."))


def _header(state: dict[str, Any], tree: dict[str, dict[str, Any]], clock: _Timeline) -> str:
    root = tree.get(ROOT_ID) or {}
    question = state.get("question") or root.get("question") or ""
    answer = state.get("answer") or root.get("answer") or ""
    raw_usage, raw_budget = state.get("usage"), state.get("budget")
    usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
    budget: dict[str, Any] = raw_budget if isinstance(raw_budget, dict) else {}
    stopped_by = state.get("stopped_by")
    hits = [str(h) for h in state.get("budget_hits") or []]

    def limit(name: str) -> str:
        value = budget.get(name)
        return f' <span class="muted">/ {_e(value)}</span>' if value is not None else ""

    seconds = _num(state.get("seconds"))
    if seconds is None:
        seconds = clock.span
    prompt, completion = _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens"))
    depth = max((_int(n.get("depth")) for n in tree.values()), default=0)
    statuses: dict[str, int] = {}
    for node in tree.values():
        status = str(node.get("status") or "")
        statuses[status] = statuses.get(status, 0) + 1
    cards = [
        ("LLM calls", f"{_int(usage.get('llm_calls'))}{limit('max_llm_calls')}"),
        ("tokens", f"{prompt:,} + {completion:,}{limit('max_tokens')}"),
        ("rounds", str(_int(usage.get("rounds")))),
        ("tool calls", str(_int(usage.get("tool_calls")))),
        ("nodes", f"{len(tree)}{limit('max_nodes')}"),
        ("depth", f"{depth}{limit('max_depth')}"),
    ]
    if seconds is not None:
        cards.append(("time", f"{_secs(seconds)}{limit('max_seconds')}"))
    cards_html = "".join(
        f'<div class="card"><span class="label">{k}</span><b>{v}</b></div>' for k, v in cards
    )
    if stopped_by:
        cut = f'<span class="badge hit">cut by {_e(stopped_by)}</span>'
    else:
        cut = '<span class="badge ok">finished within every budget</span>'
    if hits:
        cut += ' <span class="muted">budgets that cut something:</span> ' + " ".join(
            f'<span class="badge hit">{_e(h)}</span>' for h in hits
        )
    status_line = " ".join(f"{_badge(s)} ×{n}" for s, n in sorted(statuses.items()))
    raw_roles = usage.get("by_role")
    roles: dict[str, Any] = raw_roles if isinstance(raw_roles, dict) else {}
    role_rows = "".join(
        f"<tr><td>{_e(role)}</td><td>{_int(r.get('llm_calls'))}</td>"
        f"<td>{_int(r.get('prompt_tokens')):,}</td><td>{_int(r.get('completion_tokens')):,}</td>"
        "</tr>"
        for role, r in roles.items()
        if isinstance(r, dict)
    )
    sources = _citation_items(state.get("citations"))
    parts = [
        f'<p class="question"><span class="label">question</span><br>{_e(question)}</p>',
        f'<div class="final{" cut" if stopped_by else ""}"><span class="label">answer</span>'
        f'<div class="text" id="final-answer">{_e(answer)}</div></div>',
        f'<div class="cards">{cards_html}</div>',
        f'<p id="stopped-by">{cut}</p>',
        f"<p>{status_line}</p>" if status_line else "",
        f'<h2>Sources</h2><div id="sources">{sources}</div>' if sources else "",
        '<details class="sub"><summary>usage by role</summary><table><tr><th>role</th>'
        "<th>calls</th><th>prompt tokens</th><th>completion tokens</th></tr>"
        f"{role_rows}</table></details>"
        if role_rows
        else "",
    ]
    return "".join(p for p in parts if p)


def _state_json(state: dict[str, Any]) -> str:
    data = {k: state[k] for k in STATE_KEYS if k in state}
    text = json.dumps(data, ensure_ascii=False, default=str)
    # Inside <script>, only "</script" or "<!--" could end the element: escape every < (and > &).
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_html(state: dict[str, Any], *, title: str | None = None) -> str:
    """Render a GRAM state's reasoning tree as one self-contained HTML document.

    Args:
        state: A final (or checkpointed) state: ``answer``, ``tree``, ``usage``, ``stopped_by``,
            ``budget_hits``, ``citations``, and optionally ``question``, ``started_at``,
            ``seconds`` (the run's wall time) and ``budget`` (the limits, as
            ``dataclasses.asdict(Budget(...))``, shown next to the usage).
        title: The page title (default: "GRAM trace" and the question).

    Returns:
        The HTML text. It loads nothing from the network.
    """
    tree_value = state.get("tree")
    raw_tree: dict[Any, Any] = tree_value if isinstance(tree_value, dict) else {}
    tree = {str(k): v for k, v in raw_tree.items() if isinstance(v, dict)}
    clock = _Timeline(state, tree)
    question = state.get("question") or (tree.get(ROOT_ID) or {}).get("question") or ""
    if title is None:
        title = f"GRAM trace: {_short(str(question), 80)}" if question else "GRAM trace"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>"
        f"<h1>{_e(title)}</h1>{_header(state, tree, clock)}"
        '<h2>Reasoning tree</h2><div class="toolbar">'
        '<button id="btn-expand" type="button">expand all</button> '
        '<button id="btn-collapse" type="button">collapse all</button> '
        '<button id="btn-json" type="button">download JSON</button></div>'
        f'<div id="tree">{_render_tree(tree, clock)}</div></main>'
        f'<script type="application/json" id="gram-state">{_state_json(state)}</script>'
        f"<script>{_JS}</script></body></html>\n"
    )


def write_html(state: dict[str, Any], path: str | Path, *, title: str | None = None) -> Path:
    """Write :func:`render_html` of ``state`` to ``path`` (creating its folder).

    Args:
        state: See :func:`render_html`.
        path: The HTML file to write.
        title: See :func:`render_html`.

    Returns:
        The path written.
    """
    out = Path(path).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(state, title=title), encoding="utf-8")
    return out
