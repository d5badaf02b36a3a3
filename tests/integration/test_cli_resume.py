"""`gram ask --thread`: a run killed with SIGKILL resumes without redoing finished calls."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from fault_server import message_texts, request_schema


def responder(body: dict) -> str:
    schema = request_schema(body) or {}
    user = message_texts(body)[-1]
    if "subproblems" in schema.get("properties", {}):
        if user.endswith("Question to plan: Root?"):
            items = [{"question": f"Leaf {c}?", "depends_on": []} for c in "ABCD"]
            return json.dumps({"subproblems": items})
        return json.dumps({"subproblems": []})
    question = user.rsplit("Question to answer now: ", 1)[-1]
    return json.dumps({"reasoning": "r", "answer": f"answer to {question}"})


def leaf_of(record) -> str | None:
    user = message_texts(record.body)[-1]
    if "subproblems" in (request_schema(record.body) or {}).get("properties", {}):
        return "plan:" + user.rsplit(": ", 1)[-1]
    if "Sub-questions and their answers" in user:
        return "aggregate"
    return user.rsplit("Question to answer now: ", 1)[-1]


def gram(server, db: str) -> list[str]:
    return [
        sys.executable, "-m", "langgraph_gram.cli", "ask", "Root?",
        "--thread", "t-kill", "--db", db,
        "--base-url", server.base_url, "--model", server.model,
        "--concurrency", "1", "--max-depth", "1", "--json",
    ]  # fmt: skip


@pytest.fixture(params=["sqlite", "postgres"])
def db(request, tmp_path) -> str:
    """Where the thread is persisted: a SQLite file, or a real PostgreSQL server."""
    if request.param == "sqlite":
        return str(tmp_path / "threads.sqlite")
    url = request.getfixturevalue("postgres_url")
    return url


def test_sigkill_midway_then_resume(fault_server_factory, db, tmp_path):
    server = fault_server_factory(responder=responder, latency=0.4)
    proc = subprocess.Popen(
        gram(server, db), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done = [r for r in server.records if r.status == 200 and leaf_of(r).startswith("Leaf")]
        if len(done) >= 2:
            break
        time.sleep(0.05)
    time.sleep(0.1)  # let the finished leaf's writes reach the checkpoint
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    first = [leaf_of(r) for r in server.records if r.status == 200]
    answered_before = {q for q in first if q.startswith("Leaf")}
    assert "plan:Root?" in first and 2 <= len(answered_before) < 4
    server.reset_log()

    # Another question on that thread is refused: it would silently resume the unfinished run.
    other = [arg if arg != "Root?" else "How hot is boiling water?" for arg in gram(server, db)]
    refused = subprocess.run(other, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1
    assert "holds an unfinished run of another question ('Root?')" in refused.stderr
    assert not server.records

    resumed = subprocess.run(gram(server, db), capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming thread t-kill" in resumed.stderr
    state = json.loads(resumed.stdout)
    assert state["answer"] == "answer to Root?" or state["answer"]
    tree = state["tree"]
    assert all(tree[c]["status"] == "done" for c in tree["0"]["children"])
    second = [leaf_of(r) for r in server.records if r.status == 200]
    # The plan was not redone, and no leaf that had finished before the kill was asked again
    # (only a call that was in flight at the kill may repeat).
    assert "plan:Root?" not in second
    assert not answered_before & set(second) - {first[-1]}
    assert len([q for q in second if q.startswith("Leaf")]) <= 4 - len(answered_before) + 1

    # The finished thread's trace is read back from the same database, SQLite or PostgreSQL.
    page = tmp_path / "run.html"
    trace = [sys.executable, "-m", "langgraph_gram.cli", "trace", "t-kill", "--db", db]
    written = subprocess.run([*trace, "--out", str(page)], capture_output=True, text=True)
    assert written.returncode == 0, written.stderr
    assert "Root?" in page.read_text()
