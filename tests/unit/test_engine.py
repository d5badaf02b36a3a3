"""Engine behaviour with scripted fake models: budgets, tree shape, context, halting, resume."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from fakes import answer, scripted, subproblems
from fault_server import letters_label
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph

from langgraph_gram import (
    Budget,
    ConfigurationError,
    EndpointUnreachableError,
    InputError,
    Prompts,
    build_gram_graph,
    create_gram_graph,
)
from langgraph_gram.state import ROOT_ID, TERMINAL

IPHONE = "In which city was the founder of the company that makes the iPhone born?"


def assert_is_tree(tree: dict, budget: Budget) -> None:
    """Every node is reachable from the root exactly once, and every limit holds."""
    assert len(tree) <= budget.max_nodes
    seen = set()
    stack = [ROOT_ID]
    while stack:
        node_id = stack.pop()
        assert node_id not in seen
        seen.add(node_id)
        node = tree[node_id]
        assert node["depth"] <= budget.max_depth
        assert len(node["children"]) <= budget.max_children
        assert node["status"] in TERMINAL
        for child in node["children"]:
            assert tree[child]["parent"] == node_id
            assert tree[child]["depth"] == node["depth"] + 1
            stack.append(child)
        for dep in node["depends_on"]:
            # Dependencies point at earlier siblings only.
            assert tree[dep]["parent"] == node["parent"]
            assert tree[dep]["index"] < node["index"]
    assert seen == set(tree)


def chain_script(kind, question, messages):
    if kind == "decompose":
        if question == IPHONE:
            return subproblems(
                ("Which company makes the iPhone?", []),
                ("Who founded #1?", [0]),
                ("In which city was #2 born?", [1]),
            )
        return subproblems()
    if kind == "solve":
        facts = {
            "Which company makes the iPhone?": "Apple",
            "Who founded Apple?": "Steve Jobs",
            "In which city was Steve Jobs born?": "San Francisco",
        }
        return answer(facts.get(question, "unknown"))
    user = messages[-1].content
    return answer(user.split("-> ")[-1].split("\n")[0])


async def test_chain_passes_dependency_answers_and_aggregates():
    model = scripted(chain_script)
    graph = create_gram_graph(model)
    result = await graph.ainvoke({"question": IPHONE})
    assert result["answer"] == "San Francisco"
    assert result["stopped_by"] is None
    tree = result["tree"]
    assert_is_tree(tree, Budget())
    assert tree[ROOT_ID]["children"] == ["0.1", "0.2", "0.3"]
    assert tree["0.3"]["depends_on"] == ["0.2"]
    assert tree["0.3"]["resolved_question"] == "In which city was Steve Jobs born?"
    # The dependent hop saw the earlier answer in its prompt, and the root question.
    third = [c for c in model.calls if c["question"] == "In which city was Steve Jobs born?"]
    prompt = third[-1]["messages"][-1].content
    assert "Who founded Apple? -> Steve Jobs" in prompt
    assert f"Main question: {IPHONE}" in prompt
    # Context management: a leaf never sees unrelated siblings' answers.
    second = [c for c in model.calls if c["question"] == "Who founded Apple?"][-1]
    assert "San Francisco" not in second["messages"][-1].content
    usage = result["usage"]
    # 1 plan, 3 leaves, 1 aggregation, and 1 planning call for the first hop: the two
    # dependent hops are one relation from a known answer and are never planned again.
    assert usage["llm_calls"] == len(model.calls) == 6
    assert usage["by_role"]["aggregate"]["llm_calls"] == 1
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0


def always_decompose(n):
    def script(kind, question, messages):
        if kind == "decompose":
            return subproblems(
                *[
                    (f"part {letters_label(i)} of <{question}>", [i - 1] if i else [])
                    for i in range(n)
                ]
            )
        return answer(f"ans({question[:20]})")

    return script


@pytest.mark.parametrize(
    "budget",
    [
        Budget(),
        Budget(max_depth=5, max_children=8, max_nodes=12, max_llm_calls=200),
        Budget(max_depth=4, max_children=50, max_nodes=500, max_llm_calls=15),
        Budget(max_depth=2, max_children=3, max_nodes=40, max_llm_calls=1),
    ],
)
async def test_always_decomposing_model_respects_every_budget(budget):
    model = scripted(always_decompose(50))
    result = await create_gram_graph(model, budget=budget).ainvoke({"question": "Q?"})
    assert result["answer"]
    assert_is_tree(result["tree"], budget)
    assert result["usage"]["llm_calls"] == len(model.calls) <= budget.max_llm_calls
    assert result["stopped_by"] is not None


async def test_node_budget_cuts_tree_and_says_so():
    model = scripted(always_decompose(10))
    budget = Budget(max_nodes=6)
    result = await create_gram_graph(model, budget=budget).ainvoke({"question": "Q?"})
    assert len(result["tree"]) <= 6
    assert result["stopped_by"] == "max_nodes"
    assert "max_children" in result["budget_hits"]
    assert result["answer"]


async def test_llm_call_budget_closes_open_nodes_with_an_answer():
    model = scripted(always_decompose(3))
    result = await create_gram_graph(model, budget=Budget(max_llm_calls=4)).ainvoke(
        {"question": "Q?"}
    )
    assert len(model.calls) <= 4
    assert result["answer"]
    assert result["stopped_by"] == "max_llm_calls"
    assert_is_tree(result["tree"], Budget(max_llm_calls=4))


async def test_token_budget_stops_new_calls():
    model = scripted(always_decompose(3))
    budget = Budget(max_tokens=1500, max_nodes=200, max_children=3)
    result = await create_gram_graph(model, budget=budget).ainvoke({"question": "Q?"})
    usage = result["usage"]
    assert result["stopped_by"] == "max_tokens"
    # The controller predicts per-call cost, so it overshoots by less than one round's calls.
    per_call = (usage["prompt_tokens"] + usage["completion_tokens"]) / usage["llm_calls"]
    assert usage["prompt_tokens"] + usage["completion_tokens"] < 1500 + 4 * per_call
    assert result["answer"]


@pytest.mark.parametrize("max_depth", [0, 2])
async def test_first_round_width_samples_fit_a_small_token_budget(max_depth):
    def script(kind, question, messages):
        if kind == "decompose":
            return subproblems(("Part A?", []), ("Part B?", [0]))
        return answer(f"x{len(messages)}")

    model = scripted(script)
    budget = Budget(max_depth=max_depth, max_tokens=1000)
    result = await create_gram_graph(model, width=3, budget=budget).ainvoke({"question": "Q?"})
    # One call costs about 900 tokens here: width 3 would spend three before anything was
    # measured; the first round's guess allows one.
    assert len(model.calls) == 1
    assert model.calls[0]["kind"] == ("solve" if max_depth == 0 else "decompose")
    assert result["answer"]


def test_bad_dependencies_are_dropped_never_followed():
    from langgraph_gram.subproblems import normalize_subproblems

    data = {
        "subproblems": [
            {"question": "What is Qa?", "depends_on": [0, 1, 5]},  # self, later, missing
            {"question": "What is Qb?", "depends_on": [1, -1, "x", None]},  # self, negative, junk
            {"question": "What is Qc, given #3 and #1?", "depends_on": [2, 0]},  # #3 is itself
            {"question": "What is Qd?", "depends_on": 1},  # a bare int
            {"question": "Q?", "depends_on": []},  # repeats the parent: dropped
            {"question": "What is Qa?", "depends_on": []},  # repeats a sibling: dropped
            "What is Qe?",
        ]
    }
    items, cut = normalize_subproblems(data, parent_question="Q?", limit=4)
    assert cut == 1
    assert items == [
        ("What is Qa?", []),
        ("What is Qb?", []),
        ("What is Qc, given #3 and #1?", [0]),
        ("What is Qd?", [1]),
    ]


def test_a_subquestion_naming_nothing_depends_on_the_earlier_ones():
    from langgraph_gram.subproblems import names_nothing, normalize_subproblems

    assert names_nothing("In which year was the founder born?")
    assert not names_nothing("In which year was Ada Lovelace born?")
    assert not names_nothing("What is 17 times 23?")
    data = {
        "subproblems": [
            {"question": "Who founded Qarvex Labs?", "depends_on": []},
            {"question": "Who founded Ostra Corp?", "depends_on": []},
            {"question": "In which year was the founder born?", "depends_on": []},
        ]
    }
    items, _ = normalize_subproblems(data, parent_question="Q?", limit=4)
    assert [deps for _, deps in items] == [[], [], [0, 1]]


def test_prefetch_query_adds_the_answers_a_leaf_depends_on():
    from langgraph_gram.evidence import prefetch_query

    known = [
        {"question": "Who founded Qarvex Labs?", "answer": "Ilmo Trastive"},
        {"question": "When?", "answer": "1961"},
    ]
    assert prefetch_query("In which year was the founder born?", known) == (
        "In which year was the founder born? Ilmo Trastive 1961"
    )
    assert prefetch_query("Where was Ilmo Trastive born?", known[:1]) == (
        "Where was Ilmo Trastive born?"
    )


async def test_cyclic_and_self_dependencies_do_not_hang():
    def script(kind, question, messages):
        if kind == "decompose" and question == "Q?":
            return json.dumps(
                {
                    "subproblems": [
                        {"question": "x #2", "depends_on": [1]},
                        {"question": "y #1", "depends_on": [0, 1]},
                        {"question": "What is Z?", "depends_on": [2, 3, 99]},
                    ]
                }
            )
        if kind == "decompose":
            return subproblems()
        return answer("ok")

    result = await create_gram_graph(scripted(script)).ainvoke({"question": "Q?"})
    tree = result["tree"]
    assert tree["0.1"]["depends_on"] == []
    assert tree["0.2"]["depends_on"] == ["0.1"]
    assert tree["0.3"]["depends_on"] == []
    assert result["answer"] == "ok"


@pytest.mark.parametrize("garbage", ["", "   ", "no json here at all", "{{{{", "[1, 2", "null"])
async def test_garbage_output_still_returns_an_answer(garbage):
    model = scripted(lambda kind, q, m: garbage)
    budget = Budget(max_llm_calls=20)
    result = await create_gram_graph(model, budget=budget).ainvoke({"question": "Q?"})
    assert isinstance(result["answer"], str) and result["answer"]
    assert result["usage"]["llm_calls"] == len(model.calls) <= 20
    assert_is_tree(result["tree"], budget)
    assert result["tree"][ROOT_ID]["status"] in {"failed", "done", "cut"}


async def test_repairable_output_is_repaired():
    def script(kind, question, messages):
        if kind == "decompose":
            return '```json\n{"subproblems": []}\n```'
        return 'Sure! {"reasoning": "r", "answer": "Paris",'  # truncated

    result = await create_gram_graph(scripted(script)).ainvoke({"question": "Capital of France?"})
    assert result["answer"] == "Paris"


async def test_one_repair_retry_after_unparseable_output():
    seen = []

    def script(kind, question, messages):
        seen.append(kind)
        if kind == "decompose":
            return subproblems()
        if "not a valid JSON object" in messages[-1].content:
            return answer("fixed")
        return "I think the answer is Paris"

    result = await create_gram_graph(scripted(script)).ainvoke({"question": "Q?"})
    assert result["answer"] == "fixed"
    assert seen == ["decompose", "solve", "solve"]


async def test_max_depth_zero_solves_root_directly_via_context():
    model = scripted(chain_script)
    graph = create_gram_graph(model)
    result = await graph.ainvoke({"question": IPHONE}, context={"max_depth": 0})
    assert [c["kind"] for c in model.calls] == ["solve"]
    assert len(result["tree"]) == 1


def test_sync_invoke_with_context_override():
    model = scripted(always_decompose(10))
    graph = create_gram_graph(model)
    result = graph.invoke({"question": "Q?"}, context={"max_depth": 1, "max_children": 2})
    tree = result["tree"]
    assert len(tree) == 3
    assert max(n["depth"] for n in tree.values()) == 1


async def test_unknown_context_key_is_a_typed_error():
    graph = create_gram_graph(scripted(chain_script))
    with pytest.raises(ConfigurationError):
        await graph.ainvoke({"question": "Q?"}, context={"max_dept": 1})


def test_invalid_budget_is_a_typed_error():
    with pytest.raises(ConfigurationError):
        Budget(max_depth=-1)
    with pytest.raises(ConfigurationError):
        create_gram_graph(object())


async def test_missing_question_is_a_typed_error():
    with pytest.raises(InputError):
        await create_gram_graph(scripted(chain_script)).ainvoke({"messages": []})


async def test_messages_in_answer_appended():
    graph = create_gram_graph(scripted(chain_script))
    result = await graph.ainvoke({"messages": [HumanMessage(content=IPHONE)]})
    assert result["answer"] == "San Francisco"
    assert isinstance(result["messages"][-1], AIMessage)
    assert result["messages"][-1].content == "San Francisco"
    assert result["messages"][0].content == IPHONE


async def test_drops_into_a_messages_state_graph_as_a_node():
    gram = create_gram_graph(scripted(chain_script))
    outer = StateGraph(MessagesState)
    outer.add_node("gram", gram)
    outer.add_edge(START, "gram")
    app = outer.compile()
    result = await app.ainvoke({"messages": [HumanMessage(content=IPHONE)]})
    assert result["messages"][-1].content == "San Francisco"


async def test_independent_siblings_run_concurrently():
    active = {"now": 0, "max": 0}

    class Slow(type(scripted(chain_script))):
        async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs):
            active["now"] += 1
            active["max"] = max(active["max"], active["now"])
            await asyncio.sleep(0.05)
            active["now"] -= 1
            return self._generate(messages)

    def script(kind, question, messages):
        if kind == "decompose" and question == "Q?":
            return subproblems(
                ("Where is A?", []), ("Where is B?", []), ("Where is C?", []), ("Where is D?", [])
            )
        if kind == "decompose":
            return subproblems()
        return answer("x")

    result = await create_gram_graph(Slow(script=script)).ainvoke({"question": "Q?"})
    assert result["answer"] == "x"
    assert active["max"] == 4


async def test_wall_time_budget_cuts_slow_calls():
    class Slow(type(scripted(chain_script))):
        async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs):
            await asyncio.sleep(0.3)
            return self._generate(messages)

    graph = create_gram_graph(Slow(script=always_decompose(3)), budget=Budget(max_seconds=1.0))
    started = time.monotonic()
    result = await graph.ainvoke({"question": "Q?"})
    assert time.monotonic() - started < 3.0
    assert result["stopped_by"] == "max_seconds"
    assert result["answer"]


@pytest.mark.parametrize("limit", [4, 5, 9])
async def test_small_recursion_limit_never_raises(limit):
    graph = create_gram_graph(scripted(always_decompose(4)))
    result = await graph.ainvoke({"question": "Q?"}, config={"recursion_limit": limit})
    assert result["stopped_by"] == "recursion_limit"
    assert result["answer"]


@pytest.mark.parametrize(("limit", "calls"), [(4, 0), (5, 0), (6, 1)])
async def test_the_first_llm_round_needs_a_recursion_limit_of_six(limit, calls):
    def script(kind, question, messages):
        return subproblems() if kind == "decompose" else answer("42")

    graph = create_gram_graph(scripted(script), budget=Budget(max_depth=0))
    result = await graph.ainvoke({"question": "Q?"}, config={"recursion_limit": limit})
    assert result["usage"]["llm_calls"] == calls
    assert (result["answer"] == "42") == (calls == 1)


@pytest.mark.parametrize("limit", [2, 3])
async def test_a_recursion_limit_too_small_to_answer_is_a_configuration_error(limit):
    graph = create_gram_graph(scripted(always_decompose(4)))
    with pytest.raises(ConfigurationError, match="at least 4 supersteps"):
        await graph.ainvoke({"question": "Q?"}, config={"recursion_limit": limit})


async def test_width_samples_and_votes():
    counter = {"n": 0}

    def script(kind, question, messages):
        if kind == "decompose":
            return subproblems()
        counter["n"] += 1
        return answer(["Paris", "paris.", "Lyon"][(counter["n"] - 1) % 3])

    model = scripted(script)
    graph = create_gram_graph(model, width=3)
    result = await graph.ainvoke({"question": "Capital of France?"}, context={"halt_agreement": 0})
    root = result["tree"][ROOT_ID]
    assert len(root["candidates"]) == 3
    assert result["answer"] in {"Paris", "paris."}
    assert [c["votes"] for c in root["candidates"]] == [2, 2, 1]


async def test_width_halts_early_when_first_samples_agree():
    def script(kind, question, messages):
        if kind == "decompose":
            return subproblems(("Capital of France?", []), ("Capital of #1's rival?", [0]))
        return answer("Paris" if "France" in question else f"guess {len(messages[-1].content)}")

    model = scripted(script)
    counts = {}
    for width in (1, 3):
        model.calls.clear()
        result = await create_gram_graph(model, width=width, budget=Budget(max_depth=1)).ainvoke(
            {"question": "Q?"}
        )
        counts[width] = [c["question"] for c in model.calls if c["kind"] == "solve"]
        tree = result["tree"]
    # The first two samples agree, so sampling halts: width 3 costs 2 calls a leaf, not 3.
    assert counts[1].count("Capital of France?") == 1
    assert counts[3].count("Capital of France?") == 2
    assert len(tree["0.1"]["candidates"]) == 2


async def test_scorer_picks_best_candidate():
    counter = {"n": 0}

    def script(kind, question, messages):
        if kind == "decompose":
            return subproblems()
        counter["n"] += 1
        return answer(str(counter["n"]))

    result = await create_gram_graph(
        scripted(script), width=3, scorer=lambda q, a: float(a == "2")
    ).ainvoke({"question": "Pick?"})
    assert result["answer"] == "2"
    assert [c["score"] for c in result["tree"][ROOT_ID]["candidates"]] == [0.0, 1.0, 0.0]


async def test_crash_midway_resumes_without_redoing_finished_calls():
    state = {"down": True}

    def script(kind, question, messages):
        if question == "In which city was Steve Jobs born?" and state["down"]:
            raise EndpointUnreachableError("connection refused", url="http://127.0.0.1:9/v1")
        return chain_script(kind, question, messages)

    model = scripted(script)
    graph = create_gram_graph(model, checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t1"}}
    with pytest.raises(EndpointUnreachableError) as info:
        await graph.ainvoke({"question": IPHONE}, config)
    assert "http://127.0.0.1:9/v1" in str(info.value)
    done_before = [c["question"] for c in model.calls]
    state["down"] = False
    model.calls.clear()
    result = await graph.ainvoke(None, config)
    assert result["answer"] == "San Francisco"
    redone = [c["question"] for c in model.calls]
    assert "Which company makes the iPhone?" in done_before
    assert "Which company makes the iPhone?" not in redone
    assert "Who founded Apple?" not in redone


def test_build_returns_uncompiled_graph():
    builder = build_gram_graph(scripted(chain_script))
    assert isinstance(builder, StateGraph)
    assert {"controller", "decompose", "solve", "aggregate"} <= set(builder.nodes)


async def test_decomposition_may_not_re_ask_ancestor_or_sibling_questions():
    def script(kind, question, messages):
        if kind == "decompose" and question == IPHONE:
            return subproblems(("Who founded the iPhone maker?", []), ("Where was #1 born?", [0]))
        if kind == "decompose":
            # A small model often re-plans the main question inside a sub-problem.
            return subproblems(("Who founded the iPhone maker?", []), (IPHONE, []), ("Where?", []))
        return answer("x")

    result = await create_gram_graph(scripted(script)).ainvoke({"question": IPHONE})
    tree = result["tree"]
    # Only "Where?" survives for each child: one item is not a decomposition, so both are atomic.
    assert set(tree) == {"0", "0.1", "0.2"}
    assert all(tree[c]["atomic"] for c in ("0.1", "0.2"))


async def test_reference_that_resolves_to_an_ancestor_question_is_solved_directly():
    def script(kind, question, messages):
        if kind == "decompose" and question == "Where was Jobs or Wozniak born?":
            return subproblems(("Which Jobs?", []), ("Where was #1 born?", [0]))
        if kind == "decompose" and question == "Q?":
            return subproblems(("Who is meant?", []), ("Where was Jobs or Wozniak born?", []))
        if kind == "decompose":
            return subproblems(("again?", []), ("and again #1?", [0]))
        return answer("Jobs or Wozniak" if question in {"Who is meant?", "Which Jobs?"} else "x")

    model = scripted(script)
    result = await create_gram_graph(model).ainvoke({"question": "Q?"})
    tree = result["tree"]
    # (A choice, so the step is planned: a one-lookup step below the root would not be.)
    # 0.2.2 resolved to its parent's question: it is answered, never decomposed again.
    assert tree["0.2.2"]["resolved_question"] == "Where was Jobs or Wozniak born?"
    assert tree["0.2.2"]["atomic"] and not tree["0.2.2"]["children"]
    planned = [c["question"] for c in model.calls if c["kind"] == "decompose"]
    assert planned.count("Where was Jobs or Wozniak born?") == 1


async def test_identical_sub_problems_are_solved_once():
    def script(kind, question, messages):
        if kind == "decompose" and question == "Compare?":
            return subproblems(
                ("Who leads Apple and since when?", []),
                ("Where and since when is Apple based?", []),
            )
        if kind == "decompose" and question == "Who leads Apple and since when?":
            return subproblems(("Who founded Apple?", []), ("Is #1 still at Apple?", [0]))
        if kind == "decompose" and question == "Where and since when is Apple based?":
            return subproblems(("Who founded  Apple", []), ("Where does #1 live?", [0]))
        if kind == "decompose":
            return subproblems()
        return answer("Steve Jobs" if "founded" in question else "no")

    model = scripted(script)
    result = await create_gram_graph(model).ainvoke({"question": "Compare?"})
    tree = result["tree"]
    solves = [c["question"] for c in model.calls if c["kind"] == "solve"]
    assert solves.count("Who founded Apple?") == 1
    reused = [n for n in tree.values() if n.get("memo_of")]
    assert len(reused) == 1 and reused[0]["answer"] == "Steve Jobs"
    assert tree[reused[0]["memo_of"]]["question"] == "Who founded Apple?"


async def test_a_round_settled_by_memoized_answers_alone_does_not_stall_the_run():
    # The second branch's sub-problems were all answered in the first branch: its round makes
    # no call. The run goes on to aggregate it and the root instead of closing the tree.
    def script(kind, question, messages):
        if kind == "decompose" and question == "Compare?":
            return subproblems(
                ("Who leads Apple and since when?", []), ("Where and since when does #1 live?", [0])
            )
        if kind == "decompose" and question in (
            "Who leads Apple and since when?",
            "Where and since when does Tim live?",
        ):
            return subproblems(("Who founded Apple?", []), ("Who runs Apple now?", []))
        if kind == "decompose":
            return subproblems()
        if kind == "solve":
            return answer("Steve Jobs" if "founded" in question else "Tim")
        return answer("Tim" if question == "Who leads Apple and since when?" else "Cupertino")

    model = scripted(script)
    result = await create_gram_graph(model).ainvoke({"question": "Compare?"})
    tree = result["tree"]
    assert result["stopped_by"] is None
    assert result["answer"] == "Cupertino"
    assert [tree[c].get("memo_of") for c in ("0.2.1", "0.2.2")] == ["0.1.1", "0.1.2"]
    assert tree["0.2"]["status"] == "done" and tree["0.2"]["answer"] == "Cupertino"
    assert_is_tree(tree, Budget())


async def test_llm_judge_scores_candidates_and_picks_best():
    counter = {"n": 0}

    def script(kind, question, messages):
        user = messages[-1].content
        if kind == "decompose":
            return subproblems()
        if user.startswith("Task: JUDGE"):
            proposed = user.rsplit("Proposed answer: ", 1)[1]
            return json.dumps({"reason": "checked", "score": 0.9 if proposed == "B" else 0.2})
        counter["n"] += 1
        return answer("ABC"[(counter["n"] - 1) % 3])

    model = scripted(script)
    result = await create_gram_graph(model, width=3, scorer="llm").ainvoke({"question": "Pick?"})
    root = result["tree"][ROOT_ID]
    assert result["answer"] == "B"
    assert [c["score"] for c in root["candidates"]] == [0.2, 0.9, 0.2]
    assert all(c["reason"] == "checked" for c in root["candidates"])
    assert result["usage"]["by_role"]["score"]["llm_calls"] == 3
    assert result["usage"]["llm_calls"] == len(model.calls)


async def test_scorer_rejecting_every_candidate_redecomposes_once():
    def script(kind, question, messages):
        if kind == "decompose" and question == "Hard?":
            return (
                subproblems() if not script.split else subproblems(("Part A?", []), ("Part B?", []))
            )
        if kind == "decompose":
            return subproblems()
        script.split = True  # after the first (rejected) answer, the planner splits
        return answer(f"ans {question}")

    script.split = False
    model = scripted(script)
    result = await create_gram_graph(
        model, scorer=lambda q, a: 0.0, budget=Budget(max_depth=1)
    ).ainvoke({"question": "Hard?"})
    root = result["tree"][ROOT_ID]
    assert root["redecomposed"] is True
    assert root["children"] == ["0.1", "0.2"]
    # Children at max_depth cannot be split: they keep their best (rejected) candidate.
    assert result["tree"]["0.1"]["answer"] == "ans Part A?"
    assert result["answer"]


async def test_width_samples_decompositions_and_keeps_the_consensus_plan():
    counter = {"n": 0}

    def script(kind, question, messages):
        if kind == "decompose" and question == "Root?":
            counter["n"] += 1
            if counter["n"] == 2:  # one odd plan out of three
                return subproblems(("Odd one?", []), ("Odder?", []))
            return subproblems(("Part A?", []), ("Part B?", []))
        if kind == "decompose":
            return subproblems()
        return answer("x")

    result = await create_gram_graph(scripted(script), width=3, budget=Budget(max_depth=1)).ainvoke(
        {"question": "Root?"}
    )
    root = result["tree"][ROOT_ID]
    assert counter["n"] == 3
    assert [result["tree"][c]["question"] for c in root["children"]] == ["Part A?", "Part B?"]
    assert [p["agreement"] for p in root["plan_candidates"]] == [1.0, 0.0, 1.0]


async def test_store_caches_leaf_answers_across_runs():
    from langgraph.store.memory import InMemoryStore

    model = scripted(chain_script)
    store = InMemoryStore()
    uncached = create_gram_graph(model, store=store)
    await uncached.ainvoke({"question": IPHONE})
    assert not await store.asearch(("langgraph_gram",))  # off unless asked for
    model.calls.clear()
    graph = create_gram_graph(model, store=store, cache_answers=True)
    first = await graph.ainvoke({"question": IPHONE})
    solves_first = sum(c["kind"] == "solve" for c in model.calls)
    model.calls.clear()
    second = await graph.ainvoke({"question": IPHONE})
    assert second["answer"] == first["answer"] == "San Francisco"
    assert solves_first == 3
    assert not [c for c in model.calls if c["kind"] == "solve"]
    assert all(second["tree"][c]["memo_of"] == "store" for c in ("0.1", "0.2", "0.3"))
    # Another graph (other prompts) on the same store never sees those answers.
    other = create_gram_graph(
        model, store=store, cache_answers=True, prompts=Prompts(no_answer="(none)")
    )
    model.calls.clear()
    third = await other.ainvoke({"question": IPHONE})
    assert not any(n.get("memo_of") == "store" for n in third["tree"].values())


async def test_nodes_record_their_tokens_and_time():
    result = await create_gram_graph(scripted(chain_script)).ainvoke({"question": IPHONE})
    tree = result["tree"]
    assert sum(n["prompt_tokens"] for n in tree.values()) == result["usage"]["prompt_tokens"]
    assert (
        sum(n["completion_tokens"] for n in tree.values()) == result["usage"]["completion_tokens"]
    )
    assert all(n["finished_at"] >= n["started_at"] > 0 for n in tree.values())


async def test_sub_problem_repeating_its_ancestor_does_not_stall():
    def script(kind, question, messages):
        if kind == "decompose" and question == "Where was the founder of Brightwell born?":
            return subproblems(
                ("Who founded Brightwell?", []), ("In which city and year was #1 born?", [0])
            )
        if kind == "decompose" and question == "In which city and year was Corin Vale born?":
            return subproblems(
                ("Who was Corin Vale?", []), ("In which city and year was #1 born?", [0])
            )
        if kind == "decompose":
            return subproblems()
        if kind == "aggregate":
            return answer("Harrowgate")
        return answer(
            "Corin Vale" if "Brightwell" in question or "Who was" in question else "Harrowgate"
        )

    result = await create_gram_graph(scripted(script), budget=Budget(max_depth=2)).ainvoke(
        {"question": "Where was the founder of Brightwell born?"}
    )
    assert result["stopped_by"] is None
    assert result["answer"] == "Harrowgate"
    assert result["tree"]["0.2.2"]["status"] == "done"


def test_an_answer_that_restates_the_question_is_not_an_answer():
    from langgraph_gram.text import restates

    q = "In which city was Quiltnoul Moltprovquaev born?"
    assert restates("In which city did Quiltnoul Moltprovquaev born?", q)
    assert restates(q.lower(), q)
    assert not restates("Triondgreamarsh", q)
    assert not restates("Is it?", q)
    assert not restates("Who's Afraid of Virginia Woolf?", "Which play did Edward Albee write?")
    assert not restates("answer to Leaf 1?", "Leaf 1?")


async def test_a_leaf_that_only_restates_its_question_fails_visibly():
    def script(kind, question, messages):
        if kind == "decompose":
            return subproblems()
        return answer(question)

    result = await create_gram_graph(scripted(script)).ainvoke(
        {"question": "In which city was Ada Lovelace born?"}
    )
    assert result["tree"]["0"]["status"] == "failed"
    assert "restated the question" in result["tree"]["0"]["error"]


SPOUSE = "In which city was the spouse of the founder of Acme Ltd born?"
MAKER = "In which city was the spouse of the founder of the maker of zephyr phones born?"


def spouse_script(replan_fixes: bool):
    """A model whose first plan drops the spouse hop; its re-plan fixes it (or not)."""

    def script(kind, question, messages):
        if kind == "decompose":
            if "never asks about" in str(messages[-1].content):
                if replan_fixes:
                    return subproblems(
                        ("Who makes zephyr phones?", []),
                        ("Who founded #1?", [0]),
                        ("Who is the spouse of #2?", [1]),
                        ("In which city was #3 born?", [2]),
                    )
                return subproblems(("Who sells zephyr phones?", []), ("Where was #1 born?", [0]))
            if question in (SPOUSE, MAKER):
                first = [("Who founded Acme Ltd?", [])]
                if question == MAKER:
                    first = [("Who makes zephyr phones?", []), ("Who founded #1?", [0])]
                return subproblems(
                    *first, (f"In which city was #{len(first)} born?", [len(first) - 1])
                )
            return subproblems()
        if kind == "solve":
            facts = {
                "Who makes zephyr phones?": "Acme Ltd",
                "Who founded Acme Ltd?": "Ada Vale",
                "Who is the founder of Acme Ltd?": "Ada Vale",
                "Who is the spouse of Ada Vale?": "Bo Vale",
                "In which city was Bo Vale born?": "Lunport",
                "In which city was Ada Vale born?": "Tarn",
            }
            return answer(facts.get(question, "unknown"))
        return answer(str(messages[-1].content).split("-> ")[-1].split("\n")[0])

    return script


def replans_of(model) -> list:
    return [c for c in model.calls if "never asks about" in str(c["messages"][-1].content)]


async def test_a_chain_question_whose_plan_drops_a_hop_gets_the_chain_plan():
    model = scripted(spouse_script(replan_fixes=False))
    result = await create_gram_graph(model).ainvoke({"question": SPOUSE})
    assert replans_of(model) == []  # written from the question, no call spent
    root = result["tree"][ROOT_ID]
    questions = [result["tree"][c]["question"] for c in root["children"]]
    assert questions == [
        "Who is the founder of Acme Ltd?",
        "Who is the spouse of #1?",
        "In which city was #2 born?",
    ]
    assert result["answer"] == "Lunport"


async def test_a_plan_that_drops_a_relation_is_replanned_once():
    model = scripted(spouse_script(replan_fixes=True))
    result = await create_gram_graph(model).ainvoke({"question": MAKER})
    replans = replans_of(model)
    assert len(replans) == 1
    assert "spouse" in str(replans[0]["messages"][-1].content)
    root = result["tree"][ROOT_ID]
    questions = [result["tree"][c]["question"] for c in root["children"]]
    assert questions[2] == "Who is the spouse of #2?"
    assert result["answer"] == "Lunport"
    # The re-plan is an LLM call like any other: counted under decompose.
    plans = [c for c in model.calls if c["kind"] == "decompose"]
    assert result["usage"]["by_role"]["decompose"]["llm_calls"] == len(plans)
    assert result["usage"]["llm_calls"] == len(model.calls)


async def test_a_replan_that_is_no_better_keeps_the_first_plan():
    model = scripted(spouse_script(replan_fixes=False))
    result = await create_gram_graph(model).ainvoke({"question": MAKER})
    assert len(replans_of(model)) == 1  # asked once, never in a loop
    root = result["tree"][ROOT_ID]
    questions = [result["tree"][c]["question"] for c in root["children"]]
    assert questions == [
        "Who makes zephyr phones?",
        "Who founded #1?",
        "In which city was #2 born?",
    ]


async def test_a_plan_that_paraphrases_every_hop_is_not_questioned():
    def script(kind, question, messages):
        if kind == "decompose" and question == SPOUSE:
            return subproblems(
                ("Who started Acme Ltd?", []),
                ("Who is #1 married to?", [0]),
                ("Where was #2 born?", [1]),
            )
        if kind == "decompose":
            return subproblems()
        return answer("x")

    model = scripted(script)
    result = await create_gram_graph(model).ainvoke({"question": SPOUSE})
    assert replans_of(model) == []
    root = result["tree"][ROOT_ID]
    assert result["tree"][root["children"][1]]["question"] == "Who is #1 married to?"


async def test_no_replan_without_a_spare_call():
    model = scripted(spouse_script(replan_fixes=True))
    # 5 calls: the plan, three leaves and the aggregation; nothing left for a re-plan.
    result = await create_gram_graph(model, budget=Budget(max_llm_calls=5)).ainvoke(
        {"question": MAKER}
    )
    assert result["usage"]["llm_calls"] <= 5
    assert replans_of(model) == []


def test_single_hop_questions_are_told_apart_from_compound_ones():
    from langgraph_gram.plan_coverage import single_hop

    for one in (
        "In which city was #2 born?",
        "Who founded #1?",
        "Who is the spouse of #1?",
        "Which rocket launched #1?",
        "How many employees does #1 have?",
    ):
        assert single_hop(one), one
    for more in (
        "Which river flows through the birth city of #1?",  # a relation, then a verb
        "What is the capital of the country of #1?",  # two relations
        "What is the longest home run hit in the league where #3 plays?",  # a relative clause
        "What is the record company that released #1?",
        "Which was founded first, #1 or #2?",  # a choice
        "How many years after #1 was #2 founded?",  # a combination
        "Is #1 older than #2?",
        "What is the total of #1 and #2?",
    ):
        assert not single_hop(more), more


async def test_a_dependent_one_hop_sub_problem_is_solved_without_planning_it_again():
    # The model splits whatever it is asked to plan. The second hop, one relation away from
    # the first hop's answer, is answered directly: no planning call, no detour.
    def script(kind, question, messages):
        if kind == "decompose" and question == IPHONE:
            return subproblems(
                ("Who founded the company that makes the iPhone?", []),
                ("In which city was #1 born?", [0]),
            )
        if kind == "decompose":
            return subproblems(("Who is #1 really?", []), ("Where did #1 live?", [0]))
        if kind == "solve":
            return answer("Steve Jobs" if "Who" in question else "San Francisco")
        return answer("Steve Jobs" if "founded" in question else "San Francisco")

    model = scripted(script)
    result = await create_gram_graph(model, budget=Budget(max_depth=2)).ainvoke(
        {"question": IPHONE}
    )
    tree = result["tree"]
    planned = [c["question"] for c in model.calls if c["kind"] == "decompose"]
    # The first hop has no answer to start from and is still planned (and split).
    assert planned == [IPHONE, "Who founded the company that makes the iPhone?"]
    assert tree["0.2"]["atomic"] and not tree["0.2"]["children"]
    assert tree["0.2"]["resolved_question"] == "In which city was Steve Jobs born?"
    assert result["answer"] == "San Francisco"


KRIONDHIND = "Where was the founder of Kriondhind Ltd born?"


async def run_kriondhind(sub_plan: list[tuple[str, list[int]]]) -> tuple[dict, list[str]]:
    """Plan the root into two hops; every later planning call returns ``sub_plan``."""

    def script(kind, question, messages):
        if kind == "decompose" and question == KRIONDHIND:
            return subproblems(("Who founded Kriondhind Ltd?", []), ("Where was #1 born?", [0]))
        if kind == "decompose":
            return subproblems(*sub_plan)
        return answer("Ada Vell" if kind == "solve" and "Kriondhind" in question else "Tarnholm")

    model = scripted(script)
    graph = create_gram_graph(model, budget=Budget(max_depth=2))
    result = await graph.ainvoke({"question": KRIONDHIND})
    return result, [c["question"] for c in model.calls if c["kind"] == "decompose"]


async def test_a_first_hop_asking_one_relation_keeps_no_sub_plan():
    # The model splits whatever it is asked to plan. "Who founded Kriondhind Ltd?" has no
    # earlier answer to start from, so it is still put to the planner, but the sub-plan it
    # comes back with is refused and the step is solved directly.
    result, planned = await run_kriondhind([("What is Kriondhind?", []), ("Who runs #1?", [0])])
    tree = result["tree"]
    assert planned == [KRIONDHIND, "Who founded Kriondhind Ltd?"]
    assert tree["0.1"]["children"] == [] and "0.1.1" not in tree
    assert "one relation" in tree["0.1"]["rejected_plan"]
    assert tree["0.1"]["answer"] == "Ada Vell"
    assert result["answer"] == "Tarnholm"
    # The rule is for steps below the root: the root's own plan is kept.
    assert tree["0"]["children"] == ["0.1", "0.2"]


async def test_a_first_hop_asking_one_relation_keeps_an_atomic_verdict_as_it_was():
    # When the planner calls such a step atomic, nothing changes: one planning call, then
    # the answer, and no rejected plan.
    result, planned = await run_kriondhind([])
    assert planned == [KRIONDHIND, "Who founded Kriondhind Ltd?"]
    assert "rejected_plan" not in result["tree"]["0.1"]
    assert result["answer"] == "Tarnholm"


async def test_a_one_hop_sub_problem_about_several_earlier_answers_is_still_planned():
    # "#1" stands for three people here: the resolved question is about each of them.
    def script(kind, question, messages):
        if kind == "decompose" and question == "Q?":
            return subproblems(
                ("Who signed it?", []), ("What was the assassination of #1 part of?", [0])
            )
        if kind == "decompose" and "Dollfuss" in question:
            return subproblems(
                ("Who was assassinated: A, B or C?", []),
                ("What was #1's assassination part of?", [0]),
            )
        if kind == "decompose":
            return subproblems()
        return answer(
            "Mussolini, Dollfuss and Gombos" if question == "Who signed it?" else "a coup"
        )

    model = scripted(script)
    result = await create_gram_graph(model, budget=Budget(max_depth=2)).ainvoke({"question": "Q?"})
    planned = [c["question"] for c in model.calls if c["kind"] == "decompose"]
    assert "What was the assassination of Mussolini, Dollfuss and Gombos part of?" in planned
    assert result["tree"]["0.2"]["children"] == ["0.2.1", "0.2.2"]


def test_relation_words_and_plan_gaps():
    from langgraph_gram.plan_coverage import chain_plan, plan_gaps, relation_words

    assert relation_words("Who is the director's spouse, the sum of the ages?") == ["spouse"]
    assert relation_words("What is the capital of the country where the author of Faust died?") == [
        "capital",
        "author",
    ]
    q = "Which river flows through the city where the author of Faust died?"
    assert plan_gaps(q, ["Who wrote Faust?", "Where did #1 die?", "Which river is in #2?"]) == []
    assert plan_gaps(q, ["Which river flows through the city where Goethe died?"]) == ["author"]
    assert chain_plan(q) is None  # "the city where" is no chain ending in a name
    assert chain_plan("Who founded the company that makes the iPhone?") is None
    assert [
        x for x, _ in chain_plan("When was the wife of the director of The Godfather born?")
    ] == [
        "Who is the director of The Godfather?",
        "Who is the wife of #1?",
        "When was #2 born?",
    ]
    assert chain_plan("What is the capital of the country of the mother of Louis XIV?") == [
        ("Who is the mother of Louis XIV?", []),
        ("What is the country of #1?", [0]),
        ("What is the capital of #2?", [1]),
    ]


def test_a_relation_with_a_modifier_is_one_hop():
    from langgraph_gram.plan_coverage import chain_plan, plan_gaps, relation_words

    q = "Which river flows through the birth city of the spouse of the founder of Acme Ltd?"
    assert relation_words(q) == ["birth city", "spouse", "founder"]
    # Three sub-questions for three relations and the river: the spouse was dropped.
    short = [
        "Who founded Acme Ltd?",
        "What is the birth city of #1?",
        "Which river flows through #2?",
    ]
    assert plan_gaps(q, short) == ["spouse"]
    # A plan with a step per hop is never questioned, whatever its words.
    covered = [*short[:1], "Who is #1 married to?", "Where was #2 born?", "Which river is in #3?"]
    assert plan_gaps(q, covered) == []
    # "In which city was #2 born?" covers the birth city by either of its words.
    assert plan_gaps(q, ["Who is the founder's spouse?", "In which city was #1 born?"]) == []
    assert chain_plan(q) == [
        ("Who is the founder of Acme Ltd?", []),
        ("Who is the spouse of #1?", [0]),
        ("What is the birth city of #2?", [1]),
        ("Which river flows through #3?", [2]),
    ]


def test_invented_numbers():
    from langgraph_gram.plan_coverage import invented_numbers

    given = "A band that disbanded in what year? She bought three boxes of a dozen eggs for $4.50."
    assert invented_numbers(["What band disbanded in 2014?"], given) == ["2014"]
    assert invented_numbers(["What is 3 times 12?", "What is #1 times 4.50?"], given) == []
    assert invented_numbers(["How much are 37 eggs?", "And 4.7 more?"], given) == ["37", "4.7"]
    # One operation on given numbers is not a guess: 36 = 3 x 12, 5 = 45 - 40.
    assert invented_numbers(["How much are 36 eggs?"], given) == []
    assert invented_numbers(["Pay for the extra 5 hours?"], "45 hours; 40 at $10") == []
    # A calculation may hold numbers of its own; a lookup may not.
    assert invented_numbers(["What is 17 times 20?", "What is 340 + 51?"], "17 * 23?") == []
    assert invented_numbers(["What is 2004 - 1950?"], "") == []
    assert invented_numbers(["Who founded #1 in #2?"], "") == []  # references, not numbers
    assert invented_numbers(["Population above 1,200?"], "more than 1200 people") == []


async def test_a_plan_that_states_a_guessed_number_is_solved_directly():
    question = "Jo Vale is married to the frontman of a band that split up in what year?"

    def script(kind, question_, messages):
        if kind == "decompose":
            return subproblems(
                ("Which band split up in 2014?", []), ("Who was the frontman of #1?", [0])
            )
        return answer("2004")

    model = scripted(script)
    result = await create_gram_graph(model).ainvoke({"question": question})
    root = result["tree"][ROOT_ID]
    assert root["children"] == [] and root["atomic"]
    assert "2014" in root["rejected_plan"]
    assert result["answer"] == "2004"
    assert [c["kind"] for c in model.calls] == ["decompose", "solve"]


async def test_a_plan_with_given_numbers_is_kept():
    question = "Ann buys three boxes of 12 eggs and eats 5. How many eggs are left?"

    def script(kind, question_, messages):
        if kind == "decompose" and question_ == question:
            return subproblems(
                ("How many eggs are in 3 boxes of 12?", []), ("What is #1 minus 5?", [0])
            )
        if kind == "decompose":
            return subproblems()
        return answer({"How many eggs are in 3 boxes of 12?": "36"}.get(question_, "31"))

    result = await create_gram_graph(scripted(script)).ainvoke({"question": question})
    root = result["tree"][ROOT_ID]
    assert len(root["children"]) == 2 and "rejected_plan" not in root
    assert result["answer"] == "31"


def test_a_last_step_that_only_compares_earlier_answers_is_left_to_aggregation():
    from langgraph_gram.subproblems import normalize_subproblems

    def plan(*questions):
        data = {"subproblems": [{"question": q, "depends_on": []} for q in questions]}
        return [q for q, _ in normalize_subproblems(data, parent_question="Q?", limit=4)[0]]

    founded = ["What year was Ziogrou Works founded?", "What year was Grurpresh Corp founded?"]
    assert plan(*founded, "Which company was founded first, #1 or #2?") == founded
    # Kept: it names something of its own, or it is a lookup, or only two items would remain.
    assert len(plan(*founded, "Are #1 and #2 both later than 1950?")) == 3
    assert len(plan(*founded, "In which year was the founder born?")) == 3
    assert plan("Who founded Acme?", "Which is older, #1 or #1?") == [
        "Who founded Acme?",
        "Which is older, #1 or #1?",
    ]


def _two_part_script(kind, question, messages):
    if kind == "decompose" and question in ("Root?", "Other question?"):
        return subproblems(("Bad part?", []), ("Worse part?", [0]))
    if kind == "decompose":
        return subproblems()
    if kind == "aggregate":
        return answer(f"combined for {messages[-1].content.count('Root?')}")
    return answer(f"ans {question.rstrip('?')}")


async def test_a_new_message_on_a_thread_whose_run_stopped_is_the_new_question():
    graph = create_gram_graph(
        scripted(_two_part_script),
        checkpointer=InMemorySaver(),
        review_decompositions=True,
        budget=Budget(max_depth=1),
    )
    config = {"configurable": {"thread_id": "stale"}}
    paused = await graph.ainvoke({"messages": [HumanMessage("Root?")]}, config)
    assert paused["__interrupt__"]
    # The person moves on without answering the review: the new message is the question.
    again = await graph.ainvoke({"messages": [HumanMessage("Other question?")]}, config)
    assert again["tree"]["0"]["question"] == "Other question?"
    assert again["__interrupt__"][0].value["reviews"][0]["question"] == "Other question?"


def test_an_explicit_recursion_limit_holds_for_every_run_of_a_thread():
    graph = create_gram_graph(
        scripted(_two_part_script), checkpointer=InMemorySaver(), budget=Budget(max_depth=1)
    )
    config = {"configurable": {"thread_id": "reused"}, "recursion_limit": 15}
    for _ in range(4):
        result = graph.invoke({"question": "Root?"}, config)
        assert result["stopped_by"] is None, result["answer"]
        assert result["answer"].startswith("combined")
        assert result["usage"]["llm_calls"] == 4


def test_the_input_and_output_json_schemas_can_be_built():
    # LangGraph Platform publishes them (Studio's input form); pydantic builds them.
    graph = create_gram_graph(scripted(chain_script))
    given = graph.get_input_jsonschema()
    assert {"question", "messages"} <= set(given["properties"])
    returned = graph.get_output_jsonschema()
    assert {"answer", "tree", "usage", "stopped_by"} <= set(returned["properties"])


@pytest.mark.parametrize(
    ("context", "says"),
    [
        ({"max_depth": "2"}, "max_depth must be an integer, got '2'"),
        ({"max_llm_calls": 2.5}, "max_llm_calls must be an integer"),
        ({"max_nodes": True}, "max_nodes must be an integer"),
        ({"width": "2"}, "width must be an integer"),
        ({"temperature": "hot"}, "temperature must be a number"),
        ({"max_seconds": "10"}, "max_seconds must be a number or None"),
    ],
)
async def test_a_context_value_of_the_wrong_type_is_a_configuration_error(context, says):
    graph = create_gram_graph(scripted(chain_script))
    with pytest.raises(ConfigurationError, match=says):
        await graph.ainvoke({"question": IPHONE}, context=context)


def test_a_budget_of_the_wrong_type_is_refused_when_built():
    with pytest.raises(ConfigurationError, match="max_tokens must be an integer or None"):
        Budget(max_tokens="1000")
    assert Budget(max_seconds=5).max_seconds == 5  # an int is a number of seconds
