"""Built-in tools: BM25 corpus search, the exact calculator and the sandboxed Python runner."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest
from langchain_core.messages import ToolMessage

from langgraph_gram.errors import ConfigurationError
from langgraph_gram.tools import (
    CorpusIndex,
    calculate,
    calculator_tool,
    corpus_search_tool,
    load_corpus,
    python_runner,
    python_tool,
    run_python,
)

# ---------------------------------------------------------------------------------------------
# Corpus search
# ---------------------------------------------------------------------------------------------

DOCS = [
    {
        "id": "c1",
        "title": "Vorbex Holdings",
        "text": "Vorbex Holdings is a shipping company founded in 1961 by Quillan Drath.",
    },
    {
        "id": "p1",
        "title": "Quillan Drath",
        "text": "Quillan Drath (born 1930 in Maruvale) is an engineer. "
        "Quillan is married to Serra Ulm.",
    },
    {
        "id": "p2",
        "title": "Serra Ulm",
        "text": "Serra Ulm (born 1934 in Tessport) is a painter. Serra is married to "
        "Quillan Drath. Serra works for Vorbex Holdings.",
    },
    {
        "id": "p3",
        "title": "Mira Drath",
        "text": "Mira Drath (born 1958 in Maruvale) is a pilot. Mira has a sibling, "
        "Quillan Drath. Mira works for Vorbex Holdings.",
    },
    {
        "id": "t1",
        "title": "Maruvale",
        "text": "Maruvale is a city in Ostrenland on the river Kell.",
    },
    {
        "id": "t2",
        "title": "Tessport",
        "text": "Tessport is a city in Ostrenland on the river Kell. Quillan Drath visited it.",
    },
    {
        "id": "x1",
        "title": "Vorbex Holdings Annex",
        "text": "Vorbex Holdings Annex is a building owned by Vorbex Holdings in Tessport.",
    },
]


def write_corpus(path: Path, docs: list[dict]) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    return path


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "corpus.jsonl", DOCS)


def test_name_search_returns_the_entitys_own_document_first(corpus: Path) -> None:
    index = CorpusIndex.from_path(corpus)
    for doc in DOCS:
        hits = index.search(doc["title"], 4)
        assert hits[0]["id"] == doc["id"], (doc["title"], [h["id"] for h in hits])
    # a mention-heavy document does not outrank the page of the name
    assert index.search("Quillan Drath", 1)[0]["id"] == "p1"
    # an exact title beats a longer title that contains it
    assert index.search("vorbex holdings", 2)[0]["id"] == "c1"


def test_k_is_respected_and_artifact_has_ids_and_scores(corpus: Path) -> None:
    tool = corpus_search_tool(corpus, k=2)
    message = tool.invoke(
        {"type": "tool_call", "name": "search", "args": {"query": "Drath"}, "id": "call_1"}
    )
    assert isinstance(message, ToolMessage)
    artifact = message.artifact
    assert len(artifact) == 2
    assert {"id", "title", "text", "score"} <= set(artifact[0])
    assert all(a["id"] in {d["id"] for d in DOCS} for a in artifact)
    assert artifact[0]["score"] >= artifact[1]["score"] > 0
    lines = message.content.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"[{artifact[0]['id']}] {artifact[0]['title']}: ")


def test_search_tool_metadata_and_single_query_argument(corpus: Path) -> None:
    tool = corpus_search_tool(corpus, name="lookup")
    assert tool.name == "lookup"
    assert tool.metadata == {"gram_prefetch": True, "gram_kind": "retriever"}
    assert list(tool.args) == ["query"]
    assert tool.response_format == "content_and_artifact"


async def test_search_tool_async_and_cached(corpus: Path) -> None:
    tool = corpus_search_tool(corpus, k=3)
    message = await tool.ainvoke(
        {"type": "tool_call", "name": "search", "args": {"query": "Maruvale"}, "id": "c2"}
    )
    assert message.artifact[0]["id"] == "t1"
    assert CorpusIndex.from_path(corpus) is CorpusIndex.from_path(corpus)


def test_index_is_rebuilt_when_the_file_changes(corpus: Path) -> None:
    first = CorpusIndex.from_path(corpus)
    write_corpus(corpus, [*DOCS, {"id": "n1", "title": "Zelkov", "text": "Zelkov is new."}])
    os.utime(corpus, ns=(time.time_ns(), time.time_ns() + 10**9))
    second = CorpusIndex.from_path(corpus)
    assert second is not first
    assert second.search("Zelkov", 1)[0]["id"] == "n1"


def test_long_text_is_truncated_in_content_not_in_artifact(tmp_path: Path) -> None:
    long_text = "Plorvak " + "word " * 400
    path = write_corpus(tmp_path / "c.jsonl", [{"id": "a", "title": "Plorvak", "text": long_text}])
    message = corpus_search_tool(path).invoke(
        {"type": "tool_call", "name": "search", "args": {"query": "Plorvak"}, "id": "c3"}
    )
    assert len(message.content) < 500
    assert message.artifact[0]["text"] == long_text


@pytest.mark.parametrize("query", ["", "   ", "the of and", "zzzunknownzzz"])
def test_empty_or_unmatched_query_gives_empty_result(corpus: Path, query: str) -> None:
    message = corpus_search_tool(corpus).invoke(
        {"type": "tool_call", "name": "search", "args": {"query": query}, "id": "c4"}
    )
    assert message.artifact == []
    assert "No passages" in message.content


def test_plain_invoke_returns_content_text(corpus: Path) -> None:
    text = corpus_search_tool(corpus).invoke({"query": "Tessport"})
    assert text.startswith("[t2] Tessport: ")


def test_accents_and_case_are_folded(tmp_path: Path) -> None:
    path = write_corpus(
        tmp_path / "c.jsonl",
        [
            {"id": "a", "title": "Zoë Brändli", "text": "Zoë Brändli is a singer."},
            {"id": "b", "title": "Other", "text": "Nothing to see."},
        ],
    )
    assert CorpusIndex.from_path(path).search("zoe brandli", 1)[0]["id"] == "a"


def test_bad_jsonl_line_names_path_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(DOCS[0]) + "\n\n" + '{"id": "x", "title": "X", "text": \n')
    with pytest.raises(ConfigurationError, match=r"bad\.jsonl, line 3"):
        load_corpus(path)
    tool = corpus_search_tool(path)
    with pytest.raises(ConfigurationError, match="line 3"):
        tool.invoke({"query": "anything"})


def test_missing_fields_are_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "fields.jsonl"
    path.write_text(json.dumps({"id": "a", "title": "A"}) + "\n")
    with pytest.raises(ConfigurationError, match=r"line 1: missing or non-string 'text'"):
        load_corpus(path)


def test_missing_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"nope\.jsonl"):
        corpus_search_tool(tmp_path / "nope.jsonl")
    with pytest.raises(ConfigurationError, match=r"nope\.jsonl"):
        load_corpus(tmp_path / "nope.jsonl")


# ---------------------------------------------------------------------------------------------
# Calculator
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("0.1+0.2", "3/10 = 0.3"),
        ("7/3", "7/3 ≈ 2.3333333333"),
        ("-7/3", "-7/3 ≈ -2.3333333333"),
        ("2^10", "1024"),
        ("2**10", "1024"),
        ("2**-3", "1/8 = 0.125"),
        ("3 × 4 ÷ 6 =", "2"),
        ("1,234 + 1", "1235"),
        ("$1,234,567.5 * 2", "2469135"),
        ("(1 + 2) * 3 - 4 // 3 % 5", "8"),
        ("sqrt(144)", "12"),
        ("sqrt(9/4)", "3/2 = 1.5"),
        ("sqrt(2)", "≈ 1.4142135624"),
        ("8 ** (1/3)", "2"),
        ("abs(-2) + max(1, 5, 3) - min(4, 2)", "5"),
        ("round(2.5) + round(-2.5)", "0"),
        ("round(3.14159, 2)", "157/50 = 3.14"),
        ("15% * 80", "12"),
        ("10 % 4", "2"),
    ],
)
def test_calculator_is_exact(expression: str, expected: str) -> None:
    assert calculate(expression) == expected


def test_calculator_big_integers_are_exact() -> None:
    assert calculate("2**200") == str(2**200)
    assert calculate("123456789123456789 * 987654321987654321") == str(
        123456789123456789 * 987654321987654321
    )
    assert calculate("10**1000 + 1") == str(10**1000 + 1)


@pytest.mark.parametrize(
    ("expression", "needle"),
    [
        ("1/0", "division by zero"),
        ("5 % 0", "division by zero"),
        ("0 ** -1", "division by zero"),
        ("__import__('os')", "not allowed"),
        ("().__class__", "not allowed"),
        ("open('x')", "not allowed"),
        ("x + 1", "unknown name"),
        ("'a' * 3", "only numbers"),
        ("2 +", "invalid expression"),
        ("2 ** 100000", "exponent too large"),
        ("9 ** 9 ** 9", "exponent too large"),
        ("(10**999) ** 999", "too large"),
        ("1e-99999999", "too"),
        ("sqrt(-1)", "negative"),
        ("", "empty"),
    ],
)
def test_calculator_errors_are_text(expression: str, needle: str) -> None:
    result = calculate(expression)
    assert result.startswith("Error:")
    assert needle in result


def test_calculator_tool_returns_errors_as_output() -> None:
    tool = calculator_tool()
    assert tool.name == "calculator"
    assert list(tool.args) == ["expression"]
    assert tool.invoke({"expression": "1/0"}) == "Error: division by zero"
    assert tool.invoke({"expression": "6*7"}) == "42"


async def test_calculator_tool_async() -> None:
    assert await calculator_tool(name="calc").ainvoke({"expression": "7/3"}) == (
        "7/3 ≈ 2.3333333333"
    )


def test_calculator_is_fast_on_hostile_input() -> None:
    started = time.monotonic()
    for expression in ["9**999 * 9**999 * 9**999", "((" * 150 + "1" + "))" * 150, "2**0.5**0.5"]:
        calculate(expression)
    assert time.monotonic() - started < 2


# ---------------------------------------------------------------------------------------------
# Python
# ---------------------------------------------------------------------------------------------


async def test_python_stdout_and_exit_status() -> None:
    result = await run_python("print(6 * 7)")
    assert result.ok and result.returncode == 0
    assert result.stdout == "42"
    assert result.stderr == ""


async def test_python_stderr_and_nonzero_exit() -> None:
    result = await run_python("import sys\nprint('oops', file=sys.stderr)\nsys.exit(3)")
    assert result.returncode == 3
    assert "oops" in result.stderr


async def test_python_exception_traceback_points_at_the_snippet() -> None:
    result = await run_python("x = 1\nraise ValueError('bad value')")
    assert result.returncode == 1
    assert "ValueError: bad value" in result.stderr
    assert 'snippet.py", line 2' in result.stderr


async def test_python_memory_and_file_size_are_limited() -> None:
    big = await run_python("x = bytearray(4 * 1024**3)\nprint('allocated')", time_limit=20)
    assert big.returncode == 1 and "MemoryError" in big.stderr and not big.stdout
    wrote = await run_python("open('f', 'wb').write(b'0' * (100 * 1024**2))", time_limit=20)
    assert wrote.returncode == 1 and "File too large" in wrote.stderr


async def test_python_lone_surrogates_run_and_leave_no_folder() -> None:
    import glob
    import tempfile

    before = set(glob.glob(f"{tempfile.gettempdir()}/gram-python-*"))
    result = await run_python("print('ok \udc80')")
    assert result.returncode == 0 and result.stdout.startswith("ok")
    assert set(glob.glob(f"{tempfile.gettempdir()}/gram-python-*")) <= before


async def test_python_timeout_kills_an_infinite_loop() -> None:
    started = time.monotonic()
    result = await run_python("print('start', flush=True)\nwhile True:\n    pass", time_limit=1.0)
    assert time.monotonic() - started < 2.5
    assert result.timed_out and result.returncode is None
    assert "start" in result.stdout
    assert "timed out" in result.to_text()


async def test_python_timeout_kills_child_processes() -> None:
    code = (
        "import subprocess, sys\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "while True:\n    pass\n"
    )
    started = time.monotonic()
    result = await run_python(code, time_limit=1.0)
    assert result.timed_out
    assert time.monotonic() - started < 3.5


async def test_python_working_directory_is_temporary_and_removed() -> None:
    result = await run_python(
        "import os\nopen('scratch.txt', 'w').write('x')\nprint(os.getcwd())\n"
        "print(os.environ.get('HOME'))"
    )
    cwd, home = result.stdout.splitlines()
    assert cwd != os.getcwd()
    assert home == cwd
    assert "gram-python-" in cwd
    assert not await asyncio.to_thread(Path(cwd).exists)


async def test_python_environment_is_minimal() -> None:
    os.environ["GRAM_TEST_SECRET"] = "leak"
    try:
        result = await run_python("import os\nprint(sorted(os.environ))")
    finally:
        del os.environ["GRAM_TEST_SECRET"]
    assert "GRAM_TEST_SECRET" not in result.stdout


async def test_python_network_is_disabled() -> None:
    code = (
        "import socket\n"
        "for target in [('127.0.0.1', 9), ('93.184.216.34', 80)]:\n"
        "    try:\n"
        "        socket.create_connection(target, timeout=2)\n"
        "        print('connected')\n"
        "    except OSError as e:\n"
        "        print('blocked', e)\n"
        "try:\n"
        "    socket.getaddrinfo('example.com', 80)\n"
        "    print('resolved')\n"
        "except OSError as e:\n"
        "    print('blocked', e)\n"
    )
    result = await run_python(code)
    assert result.ok, result.stderr
    assert "connected" not in result.stdout
    assert "resolved" not in result.stdout
    assert result.stdout.count("blocked") == 3


async def test_python_stdin_and_long_output_truncated() -> None:
    result = await run_python(
        "import sys\nprint(sys.stdin.read().upper())\nprint('x' * 100000)\nprint('END')",
        stdin="hello",
        max_output=1000,
    )
    assert result.stdout.startswith("HELLO")
    assert result.stdout.endswith("END")
    assert "bytes cut" in result.stdout
    assert len(result.stdout) < 1200


async def test_python_tool_output_text_and_artifact() -> None:
    tool = python_tool(timeout=5)
    assert tool.name == "python"
    assert list(tool.args) == ["code"]
    message = await tool.ainvoke(
        {"type": "tool_call", "name": "python", "args": {"code": "print('hi')"}, "id": "p1"}
    )
    assert message.content.startswith("exit status: 0\n--- stdout ---\nhi\n")
    assert message.artifact["returncode"] == 0
    text = await tool.ainvoke({"code": "1/0"})
    assert text.startswith("exit status: 1")
    assert "ZeroDivisionError" in text


def test_python_tool_sync_invoke() -> None:
    assert "exit status: 0\n--- stdout ---\n5" in python_tool().invoke({"code": "print(2 + 3)"})


async def test_python_cancellation_kills_the_process(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    code = f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(30)"
    task = asyncio.create_task(run_python(code, time_limit=30))
    pid_text = ""
    for _ in range(100):
        await asyncio.sleep(0.05)
        pid_text = await asyncio.to_thread(lambda: pid_file.exists() and pid_file.read_text())
        if pid_text:
            break
    pid = int(pid_text)
    task.cancel()
    started = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 2
    await asyncio.sleep(0.2)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_python_socket_guard_works_without_namespace(monkeypatch) -> None:
    monkeypatch.setattr(python_runner, "_isolation", [])
    code = (
        "import socket, urllib.request\n"
        "for call in (lambda: socket.create_connection(('127.0.0.1', 9)),\n"
        "             lambda: socket.socket().connect(('127.0.0.1', 9)),\n"
        "             lambda: urllib.request.urlopen('http://example.com', timeout=2)):\n"
        "    try:\n"
        "        call()\n"
        "        print('connected')\n"
        "    except OSError as e:\n"
        "        print('blocked:', e)\n"
    )
    result = await run_python(code)
    assert not result.network_isolated
    assert result.stdout.count("network disabled") == 3, result.stdout + result.stderr


def test_python_tool_rejects_bad_timeout() -> None:
    with pytest.raises(ConfigurationError):
        python_tool(timeout=0)


def test_observations_are_filled_once_and_cannot_close_their_fence() -> None:
    from langgraph_gram.prompts import DEFAULT_PROMPTS
    from langgraph_gram.text import fill
    from langgraph_gram.toolbox import Observation, render_observations

    obs = Observation("python", {"code": "print(f'{output}')"}, ">>>>> done {tool} {input}")
    text = render_observations([obs], DEFAULT_PROMPTS.observation)
    assert "print(f'{output}')" in text  # the input is not filled with the output
    assert "> > > > > done {tool} {input}" in text
    assert text.count(">>>") == 1  # only the real closing fence
    assert fill("{a} and {b}", a="{b}", b="x") == "{b} and x"


def test_calculator_reads_float_literals_exactly_at_any_size() -> None:
    assert calculate("1e400 / 1e399").startswith("10")
    assert calculate("1e-10000").startswith("Error")  # refused, not rounded to 0


def test_a_corpus_without_index_terms_still_searches_by_title() -> None:
    from langgraph_gram.tools.search import CorpusIndex

    index = CorpusIndex([{"id": "x", "title": "The", "text": "the of and"}])
    assert [hit["id"] for hit in index.search("the")] == ["x"]
    assert index.search("anything") == []
