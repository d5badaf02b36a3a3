"""Exact facts about numeric answers, shown to steps that compare or subtract."""

from __future__ import annotations

from fractions import Fraction

from fakes import answer, scripted, subproblems

from langgraph_gram import create_gram_graph
from langgraph_gram.number_facts import number_facts, single_number


def test_single_number_accepts_one_number_with_a_short_label():
    assert single_number("1954") == 1954
    assert single_number("$1,200") == 1200
    assert single_number("founded in 1954") == 1954
    assert single_number("2.5 km") == Fraction(5, 2)
    assert single_number("between 1950 and 1960") is None
    assert single_number("Krirdim Nuxqualtquand") is None
    assert single_number("it was a long time ago, some say in the year 1954 or so") is None


def test_pairs_are_ordered_with_their_difference():
    facts = number_facts(["1994", "Ada", "1962"], ["When was A founded?", "Who?", "When B?"])
    assert facts == ["1962 (When B?) is less than 1994 (When was A founded?), by 32"]
    assert number_facts(["7", "7"], ["x", "y"]) == ["7 (x) equals 7 (y)"]
    assert number_facts(["1994", "Ada"]) == []


def test_three_numbers_name_the_smallest_and_largest():
    facts = number_facts(["5", "2", "9"])
    assert facts[-1] == "the smallest is 2 (#2), the largest 9 (#3)"
    assert len(facts) == 4


async def test_the_combine_step_sees_the_facts():
    seen = []

    def script(kind, question, messages):
        if kind == "decompose":
            if question.startswith("Which company"):
                return subproblems(
                    ("When was Alpha Corp founded?", []), ("When was Beta Corp founded?", [])
                )
            return subproblems()
        if kind == "aggregate":
            seen.append(messages[-1].content)
            return answer("Beta Corp")
        return answer("1994" if "Alpha" in question else "1962")

    result = await create_gram_graph(scripted(script)).ainvoke(
        {"question": "Which company was founded earlier, Alpha Corp or Beta Corp?"}
    )
    assert result["answer"] == "Beta Corp"
    assert (
        "Computed exactly from these answers: 1962 (When was Beta Corp founded?) is less "
        "than 1994 (When was Alpha Corp founded?), by 32." in seen[0]
    )


def test_magnitudes_units_and_sentence_ends():
    assert single_number("2.1 million") == 2_100_000
    assert single_number("800k") == single_number("800,000") == 800_000
    assert single_number("It has 1,200.") == 1200
    assert number_facts(["2.1 million", "800,000"]) == [
        "800000 (#2) is less than 2100000 (#1), by 1300000"
    ]
    assert number_facts(["5 km", "300 m"]) == []  # different units: nothing to say
    assert number_facts(["2 hours", "3 hours"]) == ["2 (#1) is less than 3 (#2), by 1"]
