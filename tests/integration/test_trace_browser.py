"""`gram ask --trace` and `gram trace` against the fault server, rendered in headless Chromium.

The page is loaded from a file:// URL with the network off; the DOM Chromium dumps after the
page's script ran must hold every node of the run. ``#expand-all`` makes the page click every
closed summary, so the dump shows whether clicking really opens the nodes. A screenshot is
taken as well. Without a ``chromium`` on PATH the browser tests are skipped, unless
``$GRAM_REQUIRE_CHROMIUM`` is set (as in CI), in which case they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fault_server import message_texts, request_schema

ROOT = "Which river flows through the birth city of the founder of <Qarvex> Labs?"
XSS = (
    "<script>document.title='pwned'</script>"
    "<img src=x onerror=\"document.body.setAttribute('data-pwned',1)\">"
)
PLANS = {
    ROOT: [
        ("Who founded Qarvex Labs, and when?", []),
        ("In which city was #1 born?", [0]),
        ("Which river flows through #2?", [1]),
    ],
    "Who founded Qarvex Labs, and when?": [
        ("When was Qarvex Labs founded?", []),
        ("Who founded Qarvex Labs in #1?", [0]),
    ],
}
FACTS = {
    "When was Qarvex Labs founded?": "1961",
    "Who founded Qarvex Labs in 1961?": "Ilmo Trastive",
    "In which city was Ilmo Trastive born?": "Pelvoran",
    "Which river flows through Pelvoran?": "the Ostra",
}
COMBINED = {ROOT: "the Ostra", "Who founded Qarvex Labs, and when?": "Ilmo Trastive"}


def responder(body: dict) -> str:
    """Plan the root into three hops, the first hop into two; answer from FACTS."""
    user = message_texts(body)[-1]
    if "subproblems" in (request_schema(body) or {}).get("properties", {}):
        question = user.rsplit("Question to plan: ", 1)[-1].strip()
        items = [{"question": q, "depends_on": d} for q, d in PLANS.get(question, [])]
        return json.dumps({"subproblems": items})
    question = user.rsplit("Question to answer now: ", 1)[-1].strip()
    if "Sub-questions and their answers" in user:
        return json.dumps({"reasoning": "from the sub-answers", "answer": COMBINED[question]})
    reasoning = XSS if question.startswith("Which river") else f"known: {question}"
    return json.dumps({"reasoning": reasoning, "answer": FACTS.get(question, "unknown")})


def gram(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "langgraph_gram.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


class Nodes(HTMLParser):
    """The tree's nodes of a page or DOM dump: id -> attributes, plus every tag seen."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.nodes: dict[str, dict] = {}
        self.details: list[dict] = []  # the <details> of the tree (after #tree starts)
        self._in_tree = False
        self.tags: list[tuple[str, dict]] = []
        self.title = ""
        self._in_title = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        self._in_tree = self._in_tree or attrs.get("id") == "tree"
        if tag == "details" and self._in_tree:
            self.details.append(attrs)
            if "data-node-id" in attrs:
                self.nodes[attrs["data-node-id"]] = attrs
        self._in_title = tag == "title"

    def handle_endtag(self, tag):
        self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


def chromium_or_skip() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    message = "chromium is not on PATH (apt-get install chromium)"
    if os.environ.get("GRAM_REQUIRE_CHROMIUM"):
        pytest.fail(f"GRAM_REQUIRE_CHROMIUM is set but {message}", pytrace=False)
    pytest.skip(message)


def chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    flags = [
        *("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"),
        *("--disable-background-networking", "--disable-component-update", "--disable-sync"),
        *("--no-first-run", "--no-default-browser-check", "--disable-extensions"),
        f"--user-data-dir={profile}",
    ]
    result = subprocess.run(
        [binary, *flags, *args], capture_output=True, text=True, timeout=90, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def png_pixels(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the decompressed scanlines of a PNG (stdlib only)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, size = 8, b"", (0, 0)
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, chunk = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            size = struct.unpack(">II", chunk[:8])
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    return size[0], size[1], zlib.decompress(idat)


@pytest.fixture
def run(fault_server_factory, tmp_path):
    """A real `gram ask --json --trace --thread` run against the fault server."""
    server = fault_server_factory(responder=responder, latency=0.05)
    db, out = tmp_path / "threads.sqlite", tmp_path / "out.html"
    done = gram(
        "ask", ROOT, "--json", "--trace", str(out), "--thread", "T", "--db", str(db),
        "--base-url", server.base_url, "--model", server.model, "--max-depth", "2",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout)
    assert state["answer"] == "the Ostra"
    assert set(state["tree"]) == {"0", "0.1", "0.1.1", "0.1.2", "0.2", "0.3"}
    return {"state": state, "db": db, "out": out, "dir": tmp_path}


def test_gram_ask_trace_writes_the_run(run):
    state, page = run["state"], run["out"].read_text(encoding="utf-8")
    nodes = Nodes(page).nodes
    assert set(nodes) == set(state["tree"])
    for node in state["tree"].values():
        assert node["answer"] in page.replace("&#x27;", "'")
    assert "http://" not in page and "https://" not in page
    # The budget the run had is shown next to what it used.
    assert f"{state['usage']['llm_calls']}" in page and "/ 120" in page


def test_gram_trace_of_the_persisted_thread_has_the_same_nodes(run):
    t2 = run["dir"] / "t2.html"
    done = gram("trace", "T", "--out", str(t2), "--db", str(run["db"]))
    assert done.returncode == 0, done.stderr
    assert set(Nodes(t2.read_text(encoding="utf-8")).nodes) == set(run["state"]["tree"])
    missing = gram("trace", "nope", "--out", str(run["dir"] / "x.html"), "--db", str(run["db"]))
    assert missing.returncode == 1
    assert "no thread 'nope'" in missing.stderr
    assert not (run["dir"] / "x.html").exists()


def test_page_renders_and_expands_in_headless_chromium(run):
    binary = chromium_or_skip()
    tree, profile = run["state"]["tree"], run["dir"] / "profile"
    url = run["out"].resolve().as_uri()

    # As loaded: every node is in the DOM, internal nodes open, leaves closed.
    dom = Nodes(chromium(binary, profile, "--dump-dom", url).stdout)
    assert set(dom.nodes) == set(tree)
    for node_id, node in tree.items():
        assert ("open" in dom.nodes[node_id]) == bool(node["children"]), node_id
    assert any("open" not in d for d in dom.details)
    # The model's markup stayed text: no element, no handler ran.
    assert dom.title.startswith("GRAM trace") and "pwned" not in dom.title
    assert not [t for t, a in dom.tags if t == "img" or "data-pwned" in a]

    # #expand-all clicks every closed summary: every <details> of the tree is then open.
    expanded = Nodes(chromium(binary, profile, "--dump-dom", url + "#expand-all").stdout)
    assert set(expanded.nodes) == set(tree)
    assert expanded.details and all("open" in d for d in expanded.details)

    # The persisted thread's page renders the same nodes.
    t2 = run["dir"] / "t2.html"
    assert gram("trace", "T", "--out", str(t2), "--db", str(run["db"])).returncode == 0
    assert set(Nodes(chromium(binary, profile, "--dump-dom", t2.as_uri()).stdout).nodes) == set(
        tree
    )

    shot = run["dir"] / "shot.png"
    chromium(binary, profile, f"--screenshot={shot}", "--window-size=1200,900", url + "#expand-all")
    width, height, pixels = png_pixels(shot)
    assert (width, height) == (1200, 900)
    assert shot.stat().st_size > 20_000
    assert len(set(pixels)) > 50  # text and colours, not a blank page
    if os.environ.get("GRAM_TRACE_SHOT"):  # keep a copy to look at
        shutil.copy(shot, os.environ["GRAM_TRACE_SHOT"])
