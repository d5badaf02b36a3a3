"""When two sub-problems or two answers count as the same: memoization, plan cleaning, votes."""

from __future__ import annotations

from fakes import answer, scripted, subproblems

from langgraph_gram import Budget, create_gram_graph
from langgraph_gram.subproblems import normalize_subproblems
from langgraph_gram.text import match_key

ROOT = "Which company is older, Qarvex Labs or Zentro Corp?"
# Each asks two things, so it is planned (a one-lookup step below the root would not be).
FOUNDED = ("When and by whom was Qarvex Labs founded?", "When and by whom was Zentro Corp founded?")


def test_numbers_and_signs_tell_questions_and_answers_apart():
    assert match_key("What is 12+4?") != match_key("What is 12*4?")
    assert match_key("-5") != match_key("5")
    assert match_key("Who founded the company?") == match_key("who founded company")
    kept, _ = normalize_subproblems(
        {"subproblems": ["What is 12+4?", "What is 12*4?", "What is 12-4?"]},
        parent_question="What is (12+4)*(12*4)-(12-4)?",
        limit=4,
    )
    assert [q for q, _ in kept] == ["What is 12+4?", "What is 12*4?", "What is 12-4?"]


async def test_a_vague_question_under_another_parent_is_asked_again():
    def script(kind, question, messages):
        if kind == "decompose" and question == ROOT:
            return subproblems((FOUNDED[0], []), (FOUNDED[1], []))
        if kind == "decompose" and question in FOUNDED:
            return subproblems(
                ("Who founded the company?", []), ("In which year did #1 start it?", [0])
            )
        if kind == "decompose":
            return subproblems()
        if kind == "solve" and question == "Who founded the company?":
            path = messages[-1].content.split("Question to answer now")[0]
            return answer("Ada Qarvex" if FOUNDED[0] in path else "Zed Zentro")
        if kind == "solve":
            return answer("1990" if "Ada Qarvex" in question else "1970")
        return answer("Zentro Corp")

    model = scripted(script)
    result = await create_gram_graph(model, budget=Budget(max_depth=2)).ainvoke({"question": ROOT})
    tree = result["tree"]
    assert (tree["0.1.1"]["answer"], tree["0.2.1"]["answer"]) == ("Ada Qarvex", "Zed Zentro")
    assert tree["0.2.2"]["answer"] == "1970" and not tree["0.2.1"].get("memo_of")


async def test_votes_count_a_sign():
    samples = iter(["-5", "5", "5"])

    def script(kind, question, messages):
        if kind == "decompose":
            return subproblems()
        return answer(next(samples))

    graph = create_gram_graph(scripted(script), width=3, budget=Budget(max_depth=0))
    result = await graph.ainvoke({"question": "What is 2 - 7 + 10?"}, context={"halt_agreement": 0})
    assert result["answer"] == "5"


async def test_twins_waiting_on_each_other_across_branches_are_solved_not_stalled():
    root, kelp, zorn = (
        "Is Mount Kelp taller than Mount Zorn?",
        "How tall is Mount Kelp?",
        "How tall is Mount Zorn?",
    )
    plans = {
        root: [(kelp, []), (zorn, [])],
        kelp: [("Which range is Mount Kelp in?", []), ("How tall is #1's highest peak?", [0])],
        zorn: [("Which range is Mount Zorn in?", []), ("How tall is #1's highest peak?", [0])],
        # one level down, each branch asks the other branch's own question
        "Which range is Mount Kelp in?": [(zorn, []), ("Which range is higher than #1?", [0])],
        "Which range is Mount Zorn in?": [(kelp, []), ("Which range is lower than #1?", [0])],
    }

    def script(kind, question, messages):
        if kind == "decompose":
            return subproblems(*plans.get(question, []))
        if kind == "solve":
            return answer({kelp: "3000 m", zorn: "2000 m"}.get(question, "Zorn Range"))
        return answer("Yes")

    graph = create_gram_graph(scripted(script), budget=Budget(max_depth=3))
    result = await graph.ainvoke({"question": root})
    assert result["stopped_by"] is None and result["answer"] == "Yes"
    assert all(node["status"] == "done" for node in result["tree"].values())
