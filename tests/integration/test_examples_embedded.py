"""One real run of each example against the embedded model (small budgets; slow on CPU).

These check that every example completes against a real OpenAI-compatible server and reports
what it promises (an answer, the test or validator verdict), not that the 1.5B model is right,
except for one easy two-hop question over the tiny corpus.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from langgraph_gram import Budget

pytestmark = [pytest.mark.integration, pytest.mark.embedded]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
TIMEOUT = 300.0  # seconds per request: the CPU model is slow when the machine is busy


def load(name: str) -> ModuleType:
    if str(EXAMPLES) not in sys.path:
        sys.path.append(str(EXAMPLES))
    module_name = f"gram_example_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def check_state(result: dict) -> None:
    assert isinstance(result["answer"], str) and result["answer"].strip()
    assert "0" in result["tree"]
    assert result["usage"]["llm_calls"] >= 1
    assert result["seconds"] > 0


async def test_multihop_qa_answers_the_brightwell_question(local_server):
    multihop = load("multihop_qa")
    result = await multihop.run(
        local_server.endpoint(timeout=TIMEOUT),
        question=multihop.DEFAULT_QUESTION,
        gold=multihop.DEFAULT_GOLD,
        budget=Budget(max_depth=1, max_children=2, max_llm_calls=8, max_tool_calls=1),
    )
    check_state(result)
    print(f"\nmultihop: {result['answer']!r} in {result['seconds']}s, sources {result['sources']}")
    assert result["correct"] is True, result["answer"]
    assert "p4" in [s["id"] for s in result["sources"]]  # Corin Vale's page


async def test_math_calculator_completes(local_server):
    math = load("math_calculator")
    result = await math.run(
        local_server.endpoint(timeout=TIMEOUT),
        budget=Budget(max_depth=1, max_children=2, max_llm_calls=8, max_tool_calls=1),
    )
    check_state(result)
    print(
        f"\nmath: {result['answer']!r} (gold {result['gold']}, correct {result['correct']}) "
        f"calculator calls {[c['input'] for c in result['calculator_calls']]} "
        f"in {result['seconds']}s"
    )
    assert isinstance(result["correct"], bool)
    assert isinstance(result["calculator_calls"], list)


async def test_codegen_reports_the_test_result(local_server):
    codegen = load("codegen_tests")
    path = SHARED_DATA / codegen.HUMANEVAL_FILE
    task = codegen.humaneval_task(SHARED_DATA, "HumanEval/0") if path.is_file() else None
    if task is None:
        pytest.skip(f"HumanEval not found at {path}")
    result = await codegen.run(
        local_server.endpoint(timeout=TIMEOUT),
        task=task,
        width=2,
        budget=Budget(max_depth=1, max_children=2, max_llm_calls=6, max_tool_calls=1),
    )
    check_state(result)
    print(
        f"\ncodegen {result['task_id']}: passed={result['passed']} ({result['code_from']}) "
        f"in {result['seconds']}s; stderr tail {result['test']['stderr'][-200:]!r}"
    )
    assert isinstance(result["passed"], bool)
    assert result["passed"] == result["test"]["passed"]
    assert {"returncode", "timed_out", "stderr"} <= set(result["test"])


async def test_blocksworld_reports_the_validator_verdict(local_server):
    bw = load("blocksworld_plan")
    if not (SHARED_DATA / bw.BLOCKSWORLD_FILE).is_file():
        pytest.skip("shared blocksworld data not present")
    instance = bw.load_instance(SHARED_DATA, length=2)
    result = await bw.run(
        local_server.endpoint(timeout=TIMEOUT),
        instance=instance,
        budget=Budget(max_depth=1, max_children=2, max_llm_calls=4),
    )
    check_state(result)
    print(
        f"\nblocksworld {result['instance_id']}: valid={result['valid']} plan={result['plan']} "
        f"error={result['check']['error']!r} in {result['seconds']}s"
    )
    assert isinstance(result["valid"], bool)
    assert result["valid"] == result["check"]["valid"]
    assert result["valid"] or result["check"]["error"]


async def test_agent_calls_the_gram_tool(local_server):
    agent = load("agent_with_gram_tool")
    model = agent.chat_model(local_server.base_url, local_server.model_name, timeout=TIMEOUT)
    result = await agent.run(
        model,
        gram_model=local_server.endpoint(timeout=TIMEOUT),
        budget=Budget(max_depth=1, max_children=2, max_llm_calls=6, max_tool_calls=1),
    )
    print(
        f"\nagent ({type(model).__name__}): GRAM called {result['gram_calls']} -> "
        f"{result['gram_answer']!r}; agent says {result['answer']!r} in {result['seconds']}s"
    )
    assert result["gram_called"] is True
    assert result["gram_answer"]
    assert "0" in result["tree"]
    assert [kind for kind, _ in result["messages"]][:3] == ["human", "ai", "tool"]


async def test_gram_as_node_appends_the_answer(local_server):
    node = load("gram_as_node")
    result = await node.run(
        local_server.endpoint(timeout=TIMEOUT),
        budget=Budget(max_depth=1, max_children=2, max_llm_calls=6, max_tool_calls=1),
    )
    check_state(result)
    print(f"\ngram_as_node: {result['reply']!r} in {result['seconds']}s")
    assert result["route"] == "gram"
    assert [name for _, name, _ in result["messages"]] == [None, "gram", "formatter"]
    assert result["reply"].startswith(f"Answer: {result['answer']}")
