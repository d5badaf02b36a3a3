"""The HTML trace (langgraph_gram.trace) of real runs with scripted models, and `gram trace`."""

from __future__ import annotations

import asyncio
import json
import re
from html.parser import HTMLParser
from itertools import count

import pytest
from fakes import answer, scripted, subproblems
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from langgraph_gram import Budget, create_gram_graph
from langgraph_gram.cli import main
from langgraph_gram.state import ROOT_ID
from langgraph_gram.tools import calculator_tool
from langgraph_gram.trace import render_html, write_html

ROOT = "Compare <Apple> & Qarvex?"
XSS = (
    "<script>document.title='pwned'</script>"
    '<img src=x onerror="document.body.dataset.pwned=1"></details></summary>'
)


def tree_script():
    """Three sub-problems, one decomposed again, an identical sub-problem (memo), a 4th cut,
    answers that vary between samples (candidates), and one answer that is an XSS attempt."""
    samples = count()

    def script(kind, question, messages):
        if kind == "decompose":
            if question == ROOT:
                return subproblems(
                    ("Who leads Apple and since when?", []),
                    ("What about </script> Qarvex and its founder?", []),
                    ("How do #1 and #2 compare in Cupertino?", [0, 1]),
                    ("A fourth question over max_children?", []),
                )
            if question == "Who leads Apple and since when?":
                return subproblems(("Who founded Apple?", []), ("Is #1 still at Apple?", [0]))
            if question.startswith("What about"):
                return subproblems(("Who founded  Apple", []), ("Where is #1 based?", [0]))
            return subproblems()
        user = messages[-1].content
        if kind == "aggregate":
            return answer("combined: " + user.split("-> ")[-1].split("\n")[0])
        if "founded" in question:
            return answer("Steve Jobs")
        if question.startswith("Where is"):
            return answer(XSS)
        return answer(f"about equal #{next(samples) % 2}")

    return script


def run_tree(**kwargs) -> dict:
    graph = create_gram_graph(
        scripted(tree_script()),
        budget=Budget(max_children=3),
        width=2,
        scorer=lambda q, a: 0.9 if a.endswith("#0") else 0.6,
        **kwargs,
    )
    return graph


def tool_script(kind, question, messages):
    if kind == "decompose":
        return subproblems()
    user = messages[-1].content
    if user.startswith("Task: ACT"):
        if "<<<" in user:  # the calculator's result is quoted back
            return json.dumps({"reasoning": "computed", "action": "answer", "input": "42"})
        return json.dumps({"reasoning": "r", "action": "calculator", "input": "6*7"})
    return answer("42")


@pytest.fixture(scope="module")
def tree_state() -> dict:
    state = asyncio.run(run_tree().ainvoke({"question": ROOT}))
    state.pop("messages", None)
    return state


@pytest.fixture(scope="module")
def tool_state() -> dict:
    graph = create_gram_graph(scripted(tool_script), tools=[calculator_tool()])
    return asyncio.run(graph.ainvoke({"question": "What is 6*7?"}))


class Dom(HTMLParser):
    """Collect the tree's nodes (attributes, text) and every tag and src/href of a page."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.nodes: dict[str, dict] = {}
        self.tags: list[tuple[str, dict]] = []
        self.open_nodes: list[str] = []
        self.scripts: list[tuple[dict, str]] = []
        self._in_script: dict | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "details" and "data-node-id" in attrs:
            node_id = attrs["data-node-id"]
            self.nodes[node_id] = {"attrs": attrs, "text": "", "parent": self._current()}
            self.open_nodes.append(node_id)
        elif tag == "details":
            self.open_nodes.append("")
        if tag == "script":
            self._in_script = attrs
            self.scripts.append((attrs, ""))

    def _current(self) -> str | None:
        return next((n for n in reversed(self.open_nodes) if n), None)

    def handle_endtag(self, tag):
        if tag == "details":
            self.open_nodes.pop()
        if tag == "script":
            self._in_script = None

    def handle_data(self, data):
        if self._in_script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)
            return
        for node_id in self.open_nodes:
            if node_id:
                self.nodes[node_id]["text"] += data


def state_json(dom: Dom) -> dict:
    [text] = [t for a, t in dom.scripts if a.get("type") == "application/json"]
    return json.loads(text)


def test_every_node_is_rendered_with_its_question_and_answer(tree_state):
    tree = tree_state["tree"]
    assert len(tree) == 8 and tree[ROOT_ID]["children"] == ["0.1", "0.2", "0.3"]
    dom = Dom(render_html(tree_state))
    assert set(dom.nodes) == set(tree)
    for node_id, node in tree.items():
        rendered = dom.nodes[node_id]
        assert rendered["parent"] == node["parent"]  # nested as in the tree
        assert rendered["attrs"]["data-status"] == node["status"]
        assert rendered["attrs"]["id"] == f"node-{node_id}"
        text = rendered["text"]
        assert (node.get("resolved_question") or node["question"]) in text
        assert node["question"] in text
        assert node["answer"] and node["answer"] in text
        calls = node["llm_calls"]
        assert f"{calls} LLM call{'' if calls == 1 else 's'} · " in text
        if node.get("reasoning"):
            assert node["reasoning"] in text
    # Internal nodes start open, leaves closed (they open on a click).
    for node_id, node in tree.items():
        assert ("open" in dom.nodes[node_id]["attrs"]) == bool(node["children"])


def test_node_details_candidates_memo_timings_and_header(tree_state):
    tree = tree_state["tree"]
    html_text = render_html(tree_state, title="My run")
    dom = Dom(html_text)
    # Width: sampled candidates with their scores; plans with their agreement.
    sampled = next(n for n in tree.values() if len(n.get("candidates") or []) > 1)
    text = dom.nodes[sampled["id"]]["text"]
    assert "answer candidates" in text
    for cand in sampled["candidates"]:
        assert cand["answer"] in text and f"{cand['score']:.2f}" in text
    assert "plan candidates" in dom.nodes[ROOT_ID]["text"] and "chosen" in html_text
    # Memoization: the reused node links to the one it reused.
    [reused] = [n for n in tree.values() if n.get("memo_of")]
    assert f"(reused {reused['memo_of']})" in dom.nodes[reused["id"]]["text"]
    assert f'<a href="#node-{reused["memo_of"]}">' in html_text
    # Dependencies link to the earlier siblings.
    assert '<a href="#node-0.1">0.1</a>, <a href="#node-0.2">0.2</a>' in html_text
    # Timings relative to the run's first start, tokens.
    root_text = dom.nodes[ROOT_ID]["text"]
    assert "started +0.0" in root_text and "finished +" in root_text
    root = tree[ROOT_ID]
    assert f"{root['prompt_tokens']:,} prompt + {root['completion_tokens']:,} completion" in (
        root_text
    )
    # Header: title, answer, usage, what cut the tree.
    assert "<title>My run</title>" in html_text
    usage = tree_state["usage"]
    assert tree_state["stopped_by"] == "max_children"
    [cut_line] = re.findall(r'<p id="stopped-by">(.*?)</p>', html_text)
    assert "cut by max_children" in cut_line
    for hit in tree_state["budget_hits"]:
        assert hit in cut_line
    cards = re.sub(
        r"<[^>]+>", " ", html_text.split('<div class="cards">')[1].split("</div></div>")[0]
    )
    assert f"LLM calls {usage['llm_calls']}" in " ".join(cards.split())
    assert f"rounds {usage['rounds']}" in " ".join(cards.split())
    # The embedded JSON is the state.
    assert state_json(dom)["tree"] == json.loads(json.dumps(tree))


def test_budget_limits_are_shown_when_given(tree_state):
    page = render_html({**tree_state, "budget": {"max_llm_calls": 77, "max_nodes": 9}})
    assert '<span class="muted">/ 77</span>' in page and '<span class="muted">/ 9</span>' in page


def test_model_output_is_escaped_and_inert(tree_state):
    page = render_html(tree_state)
    assert any(XSS in n["answer"] for n in tree_state["tree"].values())
    assert "<script>document.title" not in page
    assert "<img" not in page
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;" in page
    assert "&lt;/details&gt;&lt;/summary&gt;" in page
    dom = Dom(page)
    # Only our two script elements, and no element came from model text.
    assert [a.get("type") for a, _ in dom.scripts] == ["application/json", None]
    assert {tag for tag, _ in dom.tags} <= {
        *("html", "head", "meta", "title", "style", "body", "main", "h1", "h2", "p", "br"),
        *("div", "span", "b", "i", "code", "button", "details", "summary", "dl", "dt", "dd"),
        *("table", "tr", "th", "td", "ul", "ol", "li", "a", "script"),
    }
    assert not [a for _, attrs in dom.tags for a in attrs if a.startswith("on")]
    # The embedded JSON cannot end its element early and still reads back exactly.
    [json_text] = [t for a, t in dom.scripts if a.get("type") == "application/json"]
    assert "<" not in json_text and ">" not in json_text
    assert state_json(dom)["answer"] == tree_state["answer"]


def test_page_is_self_contained(tree_state, tool_state):
    for state in (tree_state, tool_state):
        page = render_html(state)
        assert "http://" not in page and "https://" not in page
        assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:[a-z]+:)?//""", page, re.I)
        assert "@import" not in page and "url(" not in page
        for tag, attrs in Dom(page).tags:
            assert "src" not in attrs, tag
            assert attrs.get("href", "#").startswith("#"), tag
            assert tag not in {"link", "iframe", "img", "object", "embed"}


def test_tool_calls_and_citations_are_shown(tool_state):
    leaf = tool_state["tree"][ROOT_ID]
    assert leaf["tool_calls"] == [{"tool": "calculator", "input": "6*7", "error": False}]
    text = Dom(render_html(tool_state)).nodes[ROOT_ID]["text"]
    assert "tool calls" in text and "calculator" in text and "6*7" in text
    # Citations (of a node and of the run): id and title, escaped.
    cited = {
        **tool_state,
        "citations": [{"id": "d1", "title": "Qarvex <Labs>"}],
        "tree": {ROOT_ID: {**leaf, "citations": [{"id": "d2", "title": "Ilmo & co"}]}},
    }
    page = render_html(cited)
    assert '<div id="sources"><ul><li><code>[d1]</code> Qarvex &lt;Labs&gt;</li>' in page
    assert "<code>[d2]</code> Ilmo &amp; co" in Dom(page).nodes[ROOT_ID]["text"] or (
        "[d2] Ilmo & co" in Dom(page).nodes[ROOT_ID]["text"]
    )


def test_partial_and_odd_states_render():
    assert 'id="tree"><p class="muted">(empty tree)</p>' in render_html({})
    odd = {
        "answer": None,
        "usage": "nonsense",
        "tree": {
            "0": {"status": "pending", "question": "Q?", "children": ["0.1", "0.9"]},
            "0.1": {"status": "failed", "error": "bad <json>", "seconds": float("nan")},
            "5": {"status": "cut", "question": "orphan", "candidates": [None, {"answer": "a"}]},
        },
    }
    page = render_html(odd)
    dom = Dom(page)
    assert set(dom.nodes) == {"0", "0.1", "5"}
    assert dom.nodes["0.1"]["parent"] == "0" and dom.nodes["5"]["parent"] is None
    assert "Nodes not reachable from the root" in page and "bad &lt;json&gt;" in page


def test_write_html(tree_state, tmp_path):
    path = write_html(tree_state, tmp_path / "sub" / "run.html")
    assert path.read_text(encoding="utf-8") == render_html(tree_state)


def test_gram_trace_writes_a_persisted_thread(tmp_path, capsys):
    db = tmp_path / "threads.sqlite"

    async def persist() -> dict:
        async with AsyncSqliteSaver.from_conn_string(str(db)) as saver:
            graph = run_tree(checkpointer=saver)
            config = {"configurable": {"thread_id": "t1"}}
            return await graph.ainvoke({"question": ROOT}, config)

    state = asyncio.run(persist())
    out = tmp_path / "t1.html"
    assert main(["trace", "t1", "--out", str(out), "--db", str(db)]) == 0
    dom = Dom(out.read_text(encoding="utf-8"))
    assert set(dom.nodes) == set(state["tree"])
    assert state_json(dom)["answer"] == state["answer"]
    assert "written to" in capsys.readouterr().err


def test_gram_trace_of_a_missing_thread_exits_1(tmp_path, capsys):
    db = tmp_path / "threads.sqlite"
    out = tmp_path / "x.html"
    assert main(["trace", "nope", "--out", str(out), "--db", str(db)]) == 1
    assert "no thread 'nope'" in capsys.readouterr().err
    assert not db.exists() and not out.exists()  # a mistyped --db is not created

    async def make_empty_db() -> None:
        async with AsyncSqliteSaver.from_conn_string(str(db)) as saver:
            await saver.setup()

    asyncio.run(make_empty_db())
    assert main(["trace", "nope", "--out", str(out), "--db", str(db)]) == 1
    assert f"no thread 'nope' in {db}" in capsys.readouterr().err
    assert not out.exists()

    junk = tmp_path / "junk.sqlite"
    junk.write_text("not a database")
    assert main(["trace", "nope", "--out", str(out), "--db", str(junk)]) == 1
    assert "cannot read threads from" in capsys.readouterr().err
