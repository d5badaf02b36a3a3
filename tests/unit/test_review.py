"""Human review of decompositions: interrupt, approve, edit, or answer directly."""

from __future__ import annotations

import pytest
from fakes import answer, scripted, subproblems
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.types import Command

from langgraph_gram import Budget, ConfigurationError, create_gram_graph


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


async def test_review_without_a_checkpointer_is_a_configuration_error():
    graph = create_gram_graph(
        scripted(script), review_decompositions=True, budget=Budget(max_depth=1)
    )
    with pytest.raises(ConfigurationError, match="checkpointer"):
        await graph.ainvoke({"question": "Root?"})


async def test_review_inside_a_parent_graph_uses_the_parents_checkpointer():
    gram = create_gram_graph(
        scripted(script), review_decompositions=True, budget=Budget(max_depth=1)
    )
    parent = StateGraph(MessagesState)
    parent.add_node("gram", gram)
    parent.add_edge(START, "gram")
    app = parent.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "p1"}}
    paused = await app.ainvoke({"messages": [HumanMessage("Root?")]}, config)
    assert paused["__interrupt__"]
    result = await app.ainvoke(Command(resume=True), config)
    assert result["messages"][-1].content == "combined"


@pytest.mark.parametrize(
    ("decision", "says"),
    [
        (False, "True or None"),
        ("reject", "True or None"),
        ({"0.1": ["X?", "Y?"]}, "not under review"),
        ({"0": "reject"}, '"approve" or a list'),
    ],
)
async def test_a_review_decision_it_cannot_read_is_asked_again_with_the_reason(decision, says):
    model = scripted(script)
    graph = graph_for(model)
    config = {"configurable": {"thread_id": f"bad-{says}-{decision!r}"}}
    first = await graph.ainvoke({"question": "Root?"}, config)
    again = await graph.ainvoke(Command(resume=decision), config)
    (pending,) = again["__interrupt__"]
    assert says in pending.value["error"]
    assert pending.value["reviews"] == first["__interrupt__"][0].value["reviews"]
    assert [c["kind"] for c in model.calls] == ["decompose"]  # nothing was worked on
    # A valid decision then resumes the run.
    result = await graph.ainvoke(Command(resume={"0": ["Good part?", "Other part?"]}), config)
    assert [result["tree"][c]["question"] for c in result["tree"]["0"]["children"]] == [
        "Good part?",
        "Other part?",
    ]
    assert result["answer"] == "combined"


def test_apply_review_refuses_a_decision_it_cannot_read():
    from langgraph_gram.review import apply_review

    tree = {"0": {"id": "0", "question": "Q?", "children": [], "depth": 0}}
    reviews = [{"node_id": "0", "question": "Q?", "subproblems": []}]
    with pytest.raises(ConfigurationError, match="not under review"):
        apply_review(tree, reviews, {"0.3": []}, max_children=3)


async def test_the_review_event_goes_out_once_per_pause():
    graph = graph_for(scripted(script))
    config = {"configurable": {"thread_id": "events"}}
    events = []
    async for chunk in graph.astream({"question": "Root?"}, config, stream_mode="custom"):
        events.append(chunk)
    async for chunk in graph.astream(Command(resume="no"), config, stream_mode="custom"):
        events.append(chunk)
    async for chunk in graph.astream(Command(resume=True), config, stream_mode="custom"):
        events.append(chunk)
    reviews = [e for e in events if e["event"] == "review"]
    # The first pause, then the pause that says why "no" was refused; none after approval.
    assert len(reviews) == 2
    assert "error" not in reviews[0] and "True or None" in reviews[1]["error"]
    assert reviews[0]["reviews"][0]["node_id"] == "0"
    assert events[-1]["event"] == "finished"
