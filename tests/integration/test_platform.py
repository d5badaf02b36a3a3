"""The deployable graphs of ``langgraph.json`` served by ``langgraph dev``, over real HTTP.

A module-scoped fixture starts a :class:`fault_server.FaultServer` whose responder splits the
root question into two independent sub-problems and answers everything else, then starts the
in-memory LangGraph server (``python -m langgraph_cli dev``) on the repository's graphs with
``GRAM_BASE_URL``/``GRAM_MODEL`` pointing at it. Nothing leaves the loopback interface: no
LangSmith key, tracing off, analytics and version checks off.

The tests drive the served graphs the ways a platform user would:

1. ``langgraph_sdk``: stream a ``gram`` run on a thread (custom events and final values), and
   wait for a ``multihop_qa`` run (BM25 over ``examples/data/tiny_corpus.jsonl``, citations);
2. ``RemoteGraph``: the served ``gram`` graph as a node of a local ``StateGraph(MessagesState)``;
3. per-run ``context`` reaches the served graph (``max_nodes=1`` gives a one-node tree).

The dev server keeps its state (threads, checkpoints, the store) in ``.langgraph_api/`` under its
working directory, a path fixed by ``langgraph-runtime-inmem``: it runs in a temporary directory,
with a copy of ``langgraph.json`` whose paths point into the repository.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fault_server import FaultServer, message_texts, request_kind, request_schema

pytest.importorskip("langgraph_api", reason='needs "langgraph-cli[inmem]"')
langgraph_sdk = pytest.importorskip("langgraph_sdk")

from langchain_core.messages import AIMessage, HumanMessage  # noqa: E402
from langgraph.graph import START, MessagesState, StateGraph  # noqa: E402
from langgraph.pregel.remote import RemoteGraph  # noqa: E402

from langgraph_gram.state import ROOT_ID  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.platform, pytest.mark.timeout(120)]

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 120.0
SUB_PREFIX = "Sub-question"

_ASKED = re.compile(r"Question to (?:answer now|plan): (.*)\Z", re.DOTALL)
_FIRST_PASSAGE = re.compile(r"<<<\s*\[[^\]]+\] ([^:\n]+):")


# -- the scripted model ----------------------------------------------------------------------


def _asked(body: dict[str, Any]) -> str:
    """The question a request is about (the prompt's last line, or the whole user message)."""
    users = [m for m in body.get("messages") or [] if m.get("role") == "user"]
    text = message_texts({"messages": users[-1:]})[0] if users else ""
    match = _ASKED.search(text)
    return (match.group(1) if match else text).strip()


def split_root(body: dict[str, Any]) -> str:
    """Split the root question into two independent sub-problems; answer everything else.

    * A plan request for the root gets two sub-questions with no dependencies; a plan request
      for a sub-question (they start with :data:`SUB_PREFIX`) gets ``[]`` (atomic).
    * A tool-using step (its schema has ``action``) answers at once, and an answer request is
      answered. With retrieved passages in the prompt the answer is the first passage's title
      (so the leaf cites it); otherwise ``"answer to: <question without its ?>"`` (an answer
      that ends like its question would count as restating it).
    """
    question = _asked(body)
    properties = (request_schema(body) or {}).get("properties") or {}
    user_text = "\n".join(message_texts(body)[1:])
    is_action = "action" in properties or (not properties and '"action"' in user_text)
    if not is_action and request_kind(body) == "decompose":
        if question.startswith(SUB_PREFIX):
            return json.dumps({"subproblems": []})
        subproblems = [
            {"question": f"{SUB_PREFIX} {c} of: {question}", "depends_on": []} for c in "AB"
        ]
        return json.dumps({"subproblems": subproblems})
    passage = _FIRST_PASSAGE.search(user_text)
    answer = passage.group(1).strip() if passage else f"answer to: {question.rstrip('?')}"
    if is_action:
        return json.dumps({"reasoning": "scripted", "action": "answer", "input": answer})
    return json.dumps({"reasoning": "scripted", "answer": answer})


# -- the served graphs -----------------------------------------------------------------------


@dataclass
class Platform:
    """A running ``langgraph dev`` server and the fault server behind its graphs."""

    url: str
    model: FaultServer
    process: subprocess.Popen[bytes]
    log_path: Path
    command: list[str]
    startup_seconds: float

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError as exc:
            return f"(no server log: {exc})"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_env(model: FaultServer) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        # No LangSmith: keys and endpoints from the caller's shell must not reach the server.
        if not key.startswith(("LANGSMITH_", "LANGCHAIN_", "GRAM_"))
    }
    env.update(
        GRAM_BASE_URL=model.base_url,
        GRAM_MODEL=model.model,
        GRAM_TIMEOUT="10",
        LANGGRAPH_CLI_NO_ANALYTICS="1",
        LANGGRAPH_NO_VERSION_CHECK="true",
        LANGSMITH_TRACING="false",
        LANGCHAIN_TRACING_V2="false",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
        LOG_COLOR="false",  # plain text in the log that failures quote
    )
    return env


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate the server's process group (uvicorn may have forked workers), then kill it."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait_ready(platform: Platform) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if platform.process.poll() is not None:
            raise RuntimeError(
                f"`{' '.join(platform.command)}` exited with {platform.process.returncode} "
                f"before answering; server log ({platform.log_path}):\n{platform.log_tail()}"
            )
        try:
            with urllib.request.urlopen(f"{platform.url}/ok", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last_error = str(exc)
        time.sleep(0.25)
    raise RuntimeError(
        f"`{' '.join(platform.command)}` did not answer {platform.url}/ok within "
        f"{STARTUP_TIMEOUT:.0f}s ({last_error}); server log ({platform.log_path}):\n"
        f"{platform.log_tail()}"
    )


def _dev_config(directory: Path) -> Path:
    """Copy the repository's ``langgraph.json`` into ``directory`` with absolute paths.

    ``langgraph dev`` keeps its state (threads, checkpoints, the store) in ``.langgraph_api/``
    under its working directory, a path that ``langgraph-runtime-inmem`` fixes. The server runs
    in a temporary directory so that every test session starts from an empty store and
    parallel sessions do not share one; graph files and dependencies, relative to the
    repository root in ``langgraph.json``, are made absolute for that.
    """
    config = json.loads((REPO_ROOT / "langgraph.json").read_text())

    def absolute(path: str) -> str:
        if path.startswith((".", "/")) or ".py" in path.split(":", 1)[0]:
            file, sep, attr = path.partition(":")
            return str((REPO_ROOT / file).resolve()) + sep + attr
        return path  # a module path ("package.module:graph") resolves through sys.path

    for graph_id, spec in config.get("graphs", {}).items():
        if isinstance(spec, str):
            config["graphs"][graph_id] = absolute(spec)
        elif isinstance(spec, dict) and isinstance(spec.get("path"), str):
            spec["path"] = absolute(spec["path"])
    config["dependencies"] = [
        absolute(dep) if dep.startswith(".") else dep for dep in config.get("dependencies", [])
    ]
    path = directory / "langgraph.json"
    path.write_text(json.dumps(config, indent=2))
    return path


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """``langgraph dev`` serving ``gram`` and ``multihop_qa`` against a scripted fault server."""
    workdir = tmp_path_factory.mktemp("langgraph-dev")
    config = _dev_config(workdir)
    model = FaultServer(responder=split_root).start()
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "langgraph_cli",
        "dev",
        "--config",
        str(config),
        "--no-browser",
        "--no-reload",
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
    ]
    log_path = workdir / "server.log"
    started = time.monotonic()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=_server_env(model),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as a whole
        )
    server = Platform(
        url=f"http://127.0.0.1:{port}",
        model=model,
        process=process,
        log_path=log_path,
        command=command,
        startup_seconds=0.0,
    )
    try:
        _wait_ready(server)
        server.startup_seconds = time.monotonic() - started
        print(f"\nlanggraph dev answered /ok after {server.startup_seconds:.1f}s", file=sys.stderr)
        yield server
    finally:
        _stop(process)
        model.stop()


def _check_platform_alive(platform: Platform) -> None:
    assert platform.process.poll() is None, f"langgraph dev died:\n{platform.log_tail()}"


# -- 1. the SDK ------------------------------------------------------------------------------


async def test_served_graphs_are_registered(platform: Platform) -> None:
    client = langgraph_sdk.get_client(url=platform.url)
    assistants = await client.assistants.search(limit=50)
    assert {"gram", "multihop_qa"} <= {a["graph_id"] for a in assistants}


async def test_stream_gram_run_with_custom_events(platform: Platform) -> None:
    question = "In which city was the founder of Brightwell Foods born?"
    client = langgraph_sdk.get_client(url=platform.url)
    thread = await client.threads.create()
    platform.model.reset_log()
    custom: list[dict[str, Any]] = []
    values: list[dict[str, Any]] = []
    errors: list[Any] = []
    async for part in client.runs.stream(
        thread["thread_id"],
        "gram",
        input={"question": question},
        context={"max_depth": 1, "max_llm_calls": 10},
        stream_mode=["custom", "values"],
    ):
        if part.event == "custom":
            custom.append(part.data)
        elif part.event == "values":
            values.append(part.data)
        elif part.event == "error":
            errors.append(part.data)
    assert not errors, f"{errors}\n{platform.log_tail()}"

    names = [event.get("event") for event in custom if isinstance(event, dict)]
    assert {"decomposed", "solved", "finished"} <= set(names), names
    assert names[-1] == "finished"
    decomposed = next(e for e in custom if e.get("event") == "decomposed")
    assert decomposed["node_id"] == ROOT_ID and len(decomposed["children"]) == 2
    assert names.count("solved") == 2

    assert len(values) > 1, "values should stream once per superstep"
    final = values[-1]
    assert final["answer"] == f"answer to: {question.rstrip('?')}"
    tree = final["tree"]
    root = tree[ROOT_ID]
    assert root["status"] == "done"
    assert len(root["children"]) == 2, root
    assert set(tree) == {ROOT_ID, *root["children"]}
    for child_id in root["children"]:
        child = tree[child_id]
        assert child["depth"] == 1 and child["status"] == "done", child
        assert child["answer"] == f"answer to: {child['question'].rstrip('?')}"
    assert final["stopped_by"] is None
    # One plan for the root, two answers (depth 1 = max_depth: no plans), one combination;
    # the model server saw exactly the calls the run counted.
    assert final["usage"]["llm_calls"] <= 10
    assert final["usage"]["llm_calls"] == 4 == len(platform.model.records)

    state = await client.threads.get_state(thread["thread_id"])
    assert state["values"]["answer"] == final["answer"]
    _check_platform_alive(platform)


async def test_wait_multihop_qa_run_returns_citations(platform: Platform) -> None:
    question = "Which river flows through the birth town of the founder of Velmora Instruments?"
    client = langgraph_sdk.get_client(url=platform.url)
    thread = await client.threads.create()
    result = await client.runs.wait(
        thread["thread_id"],
        "multihop_qa",
        input={"question": question},
        context={"max_depth": 1, "max_llm_calls": 12},
        raise_error=True,
    )
    assert isinstance(result, dict), result
    assert result["answer"] == f"answer to: {question.rstrip('?')}"
    assert "citations" in result
    # Each leaf searched the corpus, then answered with the title of its first passage, so it
    # cites that passage.
    leaves = [result["tree"][c] for c in result["tree"][ROOT_ID]["children"]]
    assert len(leaves) == 2
    assert result["usage"]["tool_calls"] >= 2, result["usage"]
    assert result["citations"], result
    assert all(set(c) == {"id", "title"} for c in result["citations"])
    assert {leaf["answer"] for leaf in leaves} <= {c["title"] for c in result["citations"]}
    _check_platform_alive(platform)


async def test_multihop_qa_does_not_reuse_answers_of_the_gram_graph(platform: Platform) -> None:
    question = "In which city was the spouse of the founder of Velmora Instruments born?"
    client = langgraph_sdk.get_client(url=platform.url)
    await client.runs.wait(None, "gram", input={"question": question}, raise_error=True)
    result = await client.runs.wait(
        None, "multihop_qa", input={"question": question}, raise_error=True
    )
    leaves = [result["tree"][c] for c in result["tree"][ROOT_ID]["children"]]
    assert not [leaf for leaf in leaves if leaf.get("memo_of")], leaves
    assert result["usage"]["tool_calls"] >= 2, result["usage"]


# -- 2. RemoteGraph as a node ----------------------------------------------------------------


async def test_remote_gram_graph_as_a_node(platform: Platform) -> None:
    question = "Which company did the founder of Kestrel Aeroworks work for before?"
    remote = RemoteGraph("gram", url=platform.url)
    outer = StateGraph(MessagesState)
    outer.add_node("gram", remote)
    outer.add_edge(START, "gram")
    app = outer.compile()

    result = await app.ainvoke({"messages": [HumanMessage(content=question)]})
    messages = result["messages"]
    assert len(messages) == 2, messages
    assert isinstance(messages[0], HumanMessage) and messages[0].content == question
    last = messages[-1]
    assert isinstance(last, AIMessage), messages
    assert last.content == f"answer to: {question.rstrip('?')}"
    _check_platform_alive(platform)


# -- 3. per-run context ----------------------------------------------------------------------


async def test_run_context_reaches_the_served_graph(platform: Platform) -> None:
    question = "Who founded Orrick & Tane, and where was each founder born?"
    client = langgraph_sdk.get_client(url=platform.url)
    thread = await client.threads.create()
    platform.model.reset_log()
    result = await client.runs.wait(
        thread["thread_id"],
        "gram",
        input={"question": question},
        context={"max_nodes": 1},
        raise_error=True,
    )
    assert list(result["tree"]) == [ROOT_ID], result["tree"]
    assert not result["tree"][ROOT_ID]["children"]
    assert result["answer"] == f"answer to: {question.rstrip('?')}"
    # No plan was asked for: the root could not have children, so it was answered directly.
    assert [record.kind for record in platform.model.records] == ["answer"]
    _check_platform_alive(platform)
