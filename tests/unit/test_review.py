"""Human review of decompositions: interrupt, approve, edit, or answer directly."""

from __future__ import annotations

from fakes import answer, scripted, subproblems
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from langgraph_gram import Budget, create_gram_graph


def script(kind, question, messages):
    if kind == "decompose" and question == "Root?":
        return subproblems(("Bad part?", []), ("Worse part?", [0]))
    if kind == "decompose":
        return subproblems()
    if kind == "aggregate":
        return answer("combined")
    return answer(f"ans {question.rstrip('?')}")


def graph_for(model):
    return create_gram_graph(
        model,
        checkpointer=InMemorySaver(),
        review_decompositions=True,
        budget=Budget(max_depth=1),
    )


async def test_review_pauses_before_sub_problems_are_worked_on_and_approves():
    model = scripted(script)
    graph = graph_for(model)
    config = {"configurable": {"thread_id": "r1"}}
    paused = await graph.ainvoke({"question": "Root?"}, config)
    (pending,) = paused["__interrupt__"]
    review = pending.value["reviews"][0]
    assert review["node_id"] == "0"
    assert review["subproblems"] == [
        {"question": "Bad part?", "depends_on": []},
        {"question": "Worse part?", "depends_on": [0]},
    ]
    assert [c["kind"] for c in model.calls] == ["decompose"]  # nothing solved yet
    result = await graph.ainvoke(Command(resume=True), config)
    assert result["answer"] == "combined"
    assert result["tree"]["0"]["reviewed"] is True


async def test_review_edits_replace_the_sub_problems():
    model = scripted(script)
    graph = graph_for(model)
    config = {"configurable": {"thread_id": "r2"}}
    await graph.ainvoke({"question": "Root?"}, config)
    edited = ["Good part?", {"question": "Uses #1?", "depends_on": [0]}]
    result = await graph.ainvoke(Command(resume={"0": edited}), config)
    tree = result["tree"]
    assert [tree[c]["question"] for c in tree["0"]["children"]] == ["Good part?", "Uses #1?"]
    assert tree["0.2"]["resolved_question"] == "Uses ans Good part?"
    solved = [c["question"] for c in model.calls if c["kind"] == "solve"]
    assert "Bad part?" not in solved and "Good part?" in solved
    assert tree["0"]["edited"] is True


async def test_review_can_make_a_node_atomic():
    model = scripted(script)
    graph = graph_for(model)
    config = {"configurable": {"thread_id": "r3"}}
    await graph.ainvoke({"question": "Root?"}, config)
    result = await graph.ainvoke(Command(resume={"0": []}), config)
    assert set(result["tree"]) == {"0"}
    assert result["answer"] == "ans Root"


async def test_an_edit_keeps_the_tree_within_max_nodes():
    model = scripted(script)
    graph = create_gram_graph(
        model,
        checkpointer=InMemorySaver(),
        review_decompositions=True,
        budget=Budget(max_depth=1, max_nodes=3),
    )
    config = {"configurable": {"thread_id": "r4"}}
    await graph.ainvoke({"question": "Root?"}, config)
    edited = ["One?", "Two?", "Three?", "Four?"]
    result = await graph.ainvoke(Command(resume={"0": edited}), config)
    tree = result["tree"]
    assert len(tree) <= 3
    assert [tree[c]["question"] for c in tree["0"]["children"]] == ["One?", "Two?"]
