"""The whole GRAM graph against the fault-injecting server, over real HTTP on loopback.

Three "done when" lines of the issue, end to end (``create_gram_graph(OpenAIEndpoint(...))``):

1. Budgets hold against a model that always decomposes into 10 sub-problems: the tree stays a
   tree, within ``max_nodes``/``max_depth``/``max_children``/``max_llm_calls``, the server's
   log agrees with the run's usage, an answer comes back and ``stopped_by`` says which budget
   cut the tree; ``max_tokens`` is never overshot on these runs
   (:func:`test_max_tokens_is_never_exceeded`).
2. Independent siblings run concurrently: with 250 ms added to every call, requests of one
   round overlap on the server (up to ``max_concurrency``), and the wall time is close to
   (rounds of calls) x 250 ms, far below (requests) x 250 ms.
3. Faults (500, 429, hangs, malformed / truncated / empty JSON) injected at seeded random rates:
   every run ends with an answer or a typed :class:`~langgraph_gram.errors.GramError`, and
   most runs answer; a closed port raises :class:`EndpointUnreachableError` naming the URL.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from fault_server import FaultKind, FaultServer, RequestRecord, always_decompose, max_overlap

from langgraph_gram import Budget, create_gram_graph
from langgraph_gram.endpoint import OpenAIEndpoint
from langgraph_gram.errors import EndpointUnreachableError, GramError
from langgraph_gram.prompts import DEFAULT_PROMPTS
from langgraph_gram.state import ROOT_ID

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

Factory = Callable[..., FaultServer]

LATENCY = 0.25
FAULT_KINDS: tuple[FaultKind, ...] = ("500", "429", "hang", "malformed", "truncated", "empty")
_QUESTION = re.compile(r"Question to (?:answer now|plan): (.*)\Z", re.DOTALL)
_DIGEST = re.compile(r"sub-problem [A-Z]+ of \[([A-P]{8})\]")


def endpoint(url: str, model: str = "fault-model", **kwargs: Any) -> OpenAIEndpoint:
    """An endpoint with fast test defaults: short timeout, few retries, tiny backoff."""
    settings: dict[str, Any] = {
        "max_concurrency": 4,
        "timeout": 5,
        "max_retries": 2,
        "retry_backoff": 0.01,
        "retry_backoff_max": 0.05,
    }
    settings.update(kwargs)
    return OpenAIEndpoint(url, model, **settings)


async def run_graph(llm: OpenAIEndpoint, budget: Budget, question: str) -> dict[str, Any]:
    graph = create_gram_graph(llm, budget=budget)
    return await graph.ainvoke({"question": question})


def check_tree(tree: dict[str, dict[str, Any]]) -> None:
    """Assert that ``tree`` is a tree: every node reachable exactly once from the root."""
    assert ROOT_ID in tree
    root = tree[ROOT_ID]
    assert root["parent"] is None and root["depth"] == 0
    seen: list[str] = []
    stack = [ROOT_ID]
    while stack:
        node_id = stack.pop()
        seen.append(node_id)
        node = tree[node_id]
        assert node["id"] == node_id
        children = node.get("children") or []
        assert len(children) == len(set(children)), f"{node_id} lists a child twice"
        for index, child_id in enumerate(children, 1):
            assert child_id in tree, f"{node_id} has an unknown child {child_id}"
            child = tree[child_id]
            assert child["parent"] == node_id
            assert child["depth"] == node["depth"] + 1
            assert child["index"] == index
            for dep in child.get("depends_on") or []:
                assert dep in children[: index - 1], f"{child_id} depends on {dep}"
            stack.append(child_id)
    assert len(seen) == len(set(seen)), "a node is reachable twice"
    assert sorted(seen) == sorted(tree), f"unreachable nodes: {set(tree) - set(seen)}"
    for node in tree.values():
        if node["parent"] is not None:
            assert node["id"] in tree[node["parent"]]["children"]
        assert node["status"] in {"done", "failed", "cut"}, f"{node['id']} left {node['status']}"


def check_budget(result: dict[str, Any], budget: Budget) -> None:
    """Assert that the structural and call limits of ``budget`` hold for a finished run.

    ``max_tokens`` is checked on its own by :func:`test_max_tokens_is_never_exceeded`, which
    fails today (the controller lets a call start without the tokens for it).
    """
    tree, usage = result["tree"], result["usage"]
    assert len(tree) <= budget.max_nodes
    assert max(node["depth"] for node in tree.values()) <= budget.max_depth
    assert max(len(node["children"]) for node in tree.values()) <= budget.max_children
    assert usage["llm_calls"] <= budget.max_llm_calls


def spent_tokens(result: dict[str, Any]) -> int:
    return result["usage"]["prompt_tokens"] + result["usage"]["completion_tokens"]


def answered(result: dict[str, Any]) -> bool:
    """A real answer: a non-empty string that is not the "(no answer)" placeholder."""
    answer = result["answer"]
    return (
        isinstance(answer, str)
        and bool(answer.strip())
        and not answer.startswith(DEFAULT_PROMPTS.no_answer)
    )


def sequential_rounds(records: Sequence[RequestRecord]) -> int:
    """Count the sequential rounds of LLM calls: the longest chain of requests each of which
    arrived only after the one before it had been answered.

    A request that had to wait for another answer (the next controller round, or a free slot
    under ``max_concurrency``) arrives after that answer was sent; requests sent together do
    not, however late the event loop dispatches them within the server's latency. So the
    count does not depend on how busy the machine running the test is.
    """
    ordered = sorted(records, key=lambda r: r.arrived)
    depth: dict[int, int] = {}
    for record in ordered:
        before = [
            depth[e.index] for e in ordered if e.ended is not None and e.ended <= record.arrived
        ]
        depth[record.index] = 1 + max(before, default=0)
    return max(depth.values(), default=0)


def parent_digest(record: RequestRecord) -> str | None:
    """The digest naming a request's node's parent (``always_decompose``'s sub-problem text)."""
    for message in reversed(record.body.get("messages") or []):
        if message.get("role") == "user":
            found = _QUESTION.search(message.get("content") or "")
            if found:
                digest = _DIGEST.search(found.group(1))
                return digest.group(1) if digest else None
    return None


def overlap(a: RequestRecord, b: RequestRecord) -> bool:
    assert a.ended is not None and b.ended is not None
    return a.arrived < b.ended and b.arrived < a.ended


# -- 1. budgets hold against a model that always decomposes --------------------------------


@pytest.mark.parametrize(
    ("budget", "expected_stop"),
    [
        (Budget(), "max_nodes"),
        (Budget(max_depth=2, max_children=10, max_nodes=30), "max_nodes"),
        (Budget(max_llm_calls=7), "max_llm_calls"),
        (Budget(max_tokens=3000), "max_tokens"),
    ],
    ids=["default", "depth2-children10-nodes30", "calls7", "tokens3000"],
)
async def test_budgets_hold_against_endless_decomposition(
    fault_server_factory: Factory, budget: Budget, expected_stop: str
) -> None:
    server = fault_server_factory(responder=always_decompose(10))
    llm = endpoint(server.base_url, server.model, max_concurrency=8)

    result = await run_graph(llm, budget, "How do I answer a question that never ends?")

    tree, usage = result["tree"], result["usage"]
    check_tree(tree)
    check_budget(result, budget)
    assert answered(result), result["answer"]
    if budget.max_tokens is None:
        # One call per open node is kept back, so the root is aggregated, not cut. (A token
        # budget is predicted from the average call, so it may close the root from a child.)
        assert tree[ROOT_ID]["status"] == "done"
    assert result["stopped_by"] == expected_stop
    assert expected_stop in result["budget_hits"]
    if budget.max_tokens is not None:
        # Overshot by up to a call or so today (see test_max_tokens_is_never_exceeded).
        assert spent_tokens(result) <= 1.5 * budget.max_tokens
    # The server's log agrees with the run's usage: no faults, so one answered request per call.
    records = server.records
    assert all(record.ok for record in records)
    assert len(records) == usage["llm_calls"] == llm.total_requests
    assert sum(node["llm_calls"] for node in tree.values()) == usage["llm_calls"]
    assert sum(r.prompt_tokens for r in records) == usage["prompt_tokens"]
    assert sum(r.completion_tokens for r in records) == usage["completion_tokens"]
    by_kind = Counter(record.kind for record in records)
    by_role = usage["by_role"]
    assert by_kind["decompose"] == by_role.get("decompose", {}).get("llm_calls", 0)
    assert by_kind["answer"] == usage["llm_calls"] - by_kind["decompose"]


async def test_max_tokens_is_never_exceeded(fault_server_factory: Factory) -> None:
    server = fault_server_factory(responder=always_decompose(10))
    over: dict[int, int] = {}
    for max_tokens in (1500, 2000, 3000, 4000, 6000, 10000, 20000):
        server.reset_log()
        budget = Budget(max_children=10, max_nodes=400, max_tokens=max_tokens)
        result = await run_graph(endpoint(server.base_url, server.model), budget, "Tokens?")
        assert result["stopped_by"] == "max_tokens"
        assert spent_tokens(result) == sum(
            r.prompt_tokens + r.completion_tokens for r in server.records
        )
        if spent_tokens(result) > max_tokens:
            over[max_tokens] = spent_tokens(result)
    assert not over, f"max_tokens -> tokens spent: {over}"


async def test_max_nodes_stops_the_tree(fault_server_factory: Factory) -> None:
    server = fault_server_factory(responder=always_decompose(10))
    budget = Budget(max_nodes=6)

    result = await run_graph(endpoint(server.base_url, server.model), budget, "Split me forever")

    check_tree(result["tree"])
    check_budget(result, budget)
    assert len(result["tree"]) <= 6
    assert result["stopped_by"] == "max_nodes"
    assert answered(result), result["answer"]
    assert server.count(status=200) == result["usage"]["llm_calls"]


# -- 2. independent siblings overlap; wall time follows rounds, not requests ---------------


@pytest.mark.parametrize("max_concurrency", [4, 16])
async def test_independent_siblings_run_concurrently(
    fault_server_factory: Factory, max_concurrency: int
) -> None:
    # 1 root + 4 children + 16 grandchildren, all independent (depends_on: []).
    server = fault_server_factory(responder=always_decompose(4), latency=LATENCY)
    budget = Budget(max_depth=2, max_children=4, max_nodes=21)
    llm = endpoint(server.base_url, server.model, max_concurrency=max_concurrency)

    started = time.monotonic()
    result = await run_graph(llm, budget, "Which four things, each of four parts?")
    wall = time.monotonic() - started

    check_tree(result["tree"])
    check_budget(result, budget)
    assert answered(result)
    records = server.records
    requests = len(records)
    assert requests == result["usage"]["llm_calls"] == 1 + 4 + 16 + 4 + 1
    # Requests were in flight together, never more than the endpoint's bound.
    assert 2 <= max_overlap(records) <= max_concurrency
    assert server.max_in_flight == max_concurrency  # the widest round has 16 requests
    # Siblings (same parent digest) overlapped in time.
    siblings: dict[str, list[RequestRecord]] = {}
    for record in records:
        digest = parent_digest(record)
        if digest is not None:
            siblings.setdefault(digest, []).append(record)
    assert siblings
    for group in siblings.values():
        assert any(overlap(a, b) for a in group for b in group if a is not b)
    # Wall time follows the rounds of calls, not the number of calls.
    rounds = sequential_rounds(records)
    # decompose root, decompose 4, solve 16 (in ceil(16 / bound) waves), aggregate 4, root.
    assert rounds == 4 + -(-16 // max_concurrency)
    sequential = requests * LATENCY
    assert rounds < requests
    assert wall <= rounds * LATENCY * 1.5 + 1.0, (wall, rounds)
    assert wall <= 0.6 * sequential, (wall, sequential)


# -- 3. faults end in an answer or a typed error ------------------------------------------


@pytest.mark.parametrize("fault_rate", [0.1, 0.25])
async def test_random_faults_end_in_answer_or_typed_error(
    fault_server_factory: Factory, fault_rate: float
) -> None:
    server = fault_server_factory(
        responder=always_decompose(3),
        fault_rate=fault_rate,
        fault_kinds=FAULT_KINDS,
        hang_seconds=3,
    )
    budget = Budget(max_depth=2, max_children=3, max_nodes=13, max_llm_calls=40)
    outcomes: Counter[str] = Counter()
    faults: Counter[str] = Counter()
    for seed in range(10):
        server.configure(seed=seed)
        server.reset_log()
        llm = endpoint(server.base_url, server.model, timeout=1)
        try:
            result = await run_graph(llm, budget, f"Fault run {seed}: what holds?")
        except GramError as exc:  # typed: the run may end this way
            outcomes[type(exc).__name__] += 1
            continue
        # Anything else escapes and fails the test.
        finally:
            faults.update(r.fault for r in server.records if r.fault)
        check_tree(result["tree"])
        check_budget(result, budget)
        assert isinstance(result["answer"], str) and result["answer"].strip()
        usage = result["usage"]
        assert server.count(status=200) <= usage["llm_calls"] <= len(server.records)
        outcomes["answered" if answered(result) else "placeholder"] += 1
    assert sum(faults.values()) > 0, "no fault was injected"
    assert outcomes["answered"] > 5, outcomes


async def test_hangs_are_retried_then_answered(fault_server_factory: Factory) -> None:
    server = fault_server_factory(
        responder=always_decompose(2), schedule=["hang", None, "hang"], hang_seconds=3
    )
    llm = endpoint(server.base_url, server.model, timeout=1)

    result = await run_graph(llm, Budget(max_depth=1), "Is a hang survivable?")

    assert answered(result)
    assert llm.total_retries == 2
    assert [r.fault for r in server.records].count("hang") == 2


async def test_hang_every_time_raises_unreachable(fault_server_factory: Factory) -> None:
    server = fault_server_factory(schedule=["hang"] * 3, hang_seconds=3)
    llm = endpoint(server.base_url, server.model, timeout=1, max_retries=2)

    with pytest.raises(EndpointUnreachableError) as info:
        await run_graph(llm, Budget(), "Anyone there?")

    assert info.value.url == server.base_url
    assert server.base_url in str(info.value)


async def test_closed_port_raises_unreachable_naming_the_url(closed_port_url: str) -> None:
    llm = endpoint(closed_port_url)

    with pytest.raises(EndpointUnreachableError) as info:
        await run_graph(llm, Budget(), "Is anybody listening?")

    assert info.value.url == closed_port_url
    assert closed_port_url in str(info.value)
