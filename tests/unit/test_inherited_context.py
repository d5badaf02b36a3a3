"""A part of a dependent sub-problem still sees what that sub-problem depended on."""

from __future__ import annotations

import json

from fakes import answer, scripted, subproblems
from langgraph.store.memory import InMemoryStore

from langgraph_gram import Budget, create_gram_graph

SPLIT = "When was the founder born, and in which city did the founder study?"
BIRTH = {"Alice Zed": "1950", "Bob Yu": "1980"}


def script(kind, question, messages):
    text = str(messages[-1].content)
    if kind == "decompose":
        if question.startswith("Who founded") and "Corp," in question:
            company = question.split()[2]
            return subproblems((f"Who founded {company} Corp?", []), (SPLIT, [0]))
        if question == SPLIT:
            return subproblems(
                ("When was the founder born?", []), ("In which city did the founder study?", [])
            )
        return json.dumps({"subproblems": []})
    if kind == "solve":
        if "Acme Corp?" in question:
            return answer("Alice Zed")
        if "Beta Corp?" in question:
            return answer("Bob Yu")
        # "the founder": only the known answers in the prompt say who that is.
        founder = next((name for name in BIRTH if name in text), None)
        if founder is None:
            return answer("unknown")
        return answer(BIRTH[founder] if "born" in question else f"{founder.split()[0]}ville")
    return answer("combined")


def question(company: str) -> str:
    return f"Who founded {company} Corp, when was that person born and where did they study?"


async def test_the_parts_of_a_dependent_node_know_its_dependency_answers():
    model = scripted(script)
    result = await create_gram_graph(model, budget=Budget(max_depth=2)).ainvoke(
        {"question": question("Acme")}
    )
    tree = result["tree"]
    assert tree["0.2"]["children"] == ["0.2.1", "0.2.2"]
    assert tree["0.2.1"]["answer"] == "1950"
    assert tree["0.2.2"]["answer"] == "Aliceville"
    prompt = next(c for c in model.calls if c["question"] == "When was the founder born?")
    assert "Who founded Acme Corp? -> Alice Zed" in str(prompt["messages"][-1].content)


async def test_a_vague_question_cached_under_one_root_is_not_reused_under_another():
    store = InMemoryStore()
    graph = create_gram_graph(
        scripted(script), budget=Budget(max_depth=2), store=store, cache_answers=True
    )
    acme = await graph.ainvoke({"question": question("Acme")})
    beta = await graph.ainvoke({"question": question("Beta")})
    assert acme["tree"]["0.2.1"]["answer"] == "1950"
    assert beta["tree"]["0.2.1"]["answer"] == "1980"  # not Acme's cached year
    assert beta["tree"]["0.2.1"].get("memo_of") is None
    again = await graph.ainvoke({"question": question("Beta")})
    assert again["tree"]["0.2.1"].get("memo_of") == "store"  # the same run's own answer is
    assert again["tree"]["0.2.1"]["answer"] == "1980"
