"""Two-option comparisons: decided exactly from the children's numbers, or left alone."""

from __future__ import annotations

from fakes import answer, scripted, subproblems

from langgraph_gram import create_gram_graph
from langgraph_gram.comparison import (
    comparison_direction,
    comparison_options,
    decide_comparison,
    names_option,
)
from langgraph_gram.state import ROOT_ID

BANDS = "Which of Jo Craig and Pete Doe has been a member of more bands?"


def kid(question: str, answer_: str, *deps: int) -> dict:
    return {"question": question, "answer": answer_, "depends_on": list(deps)}


def test_options_and_direction():
    assert comparison_options(BANDS) == ("Jo Craig", "Pete Doe")
    assert comparison_options("Who was born first: the founder of A Ltd or the founder of B?") == (
        "founder of A Ltd",
        "founder of B",
    )
    assert comparison_options("Where was the first governor after the Compromise from?") is None
    assert comparison_direction(BANDS) == "larger"
    assert comparison_direction("Which was founded earlier, A or B?") == "earlier"
    assert comparison_direction("Which is younger, A or B?") == "later"
    assert comparison_direction("Which has fewer members, A or B?") == "smaller"
    assert comparison_direction("Which was more recently founded, A or B?") is None  # two ways
    assert comparison_direction("Who founded A?") is None


def test_decides_in_each_direction():
    counts = [kid("How many bands was Jo Craig in?", "10"), kid("Pete Doe's bands?", "2")]
    assert decide_comparison(BANDS, counts).answer == "Jo Craig"
    fewer = BANDS.replace("more", "fewer")
    assert decide_comparison(fewer, counts).answer == "Pete Doe"
    years = [kid("When was Acme Ltd founded?", "1974"), kid("When was Zeta Corp founded?", "1962")]
    assert decide_comparison("Which was founded first, Acme Ltd or Zeta Corp?", years).answer == (
        "Zeta Corp"
    )
    assert decide_comparison("Which was founded later, Acme Ltd or Zeta Corp?", years).answer == (
        "Acme Ltd"
    )
    ages = [kid("How old is Ann Lee?", "41"), kid("How old is Bo Kim?", "39")]
    assert decide_comparison("Who is older, Ann Lee or Bo Kim?", ages).answer == "Ann Lee"


def test_a_described_option_is_answered_with_its_name():
    children = [
        kid("Who founded Acme Ltd?", "Ada Vale"),
        kid("Who founded Zeta Corp?", "Bo Kim"),
        kid("In which year was Ada Vale born?", "1950", 0),
        kid("In which year was Bo Kim born?", "1941", 1),
    ]
    q = "Who was born first: the founder of Acme Ltd or the founder of Zeta Corp?"
    decision = decide_comparison(q, children)
    assert (decision.answer, decision.other) == ("Bo Kim", "Ada Vale")
    assert "1941" in decision.reason


def test_left_alone_when_anything_is_unclear():
    counts = [kid("How many bands was Jo Craig in?", "10"), kid("Pete Doe's bands?", "2")]
    assert decide_comparison(BANDS, counts[:1]) is None  # one option has no number
    assert decide_comparison(BANDS, [counts[0], kid("Pete Doe's bands?", "10")]) is None  # tie
    both = [kid("Jo Craig and Pete Doe, bands?", "10"), kid("Pete Doe's bands?", "2")]
    assert decide_comparison(BANDS, both) is None  # the first number belongs to both
    words = [kid("How many bands was Jo Craig in?", "ten or so, maybe more"), counts[1]]
    assert decide_comparison(BANDS, words) is None  # not a single number
    years = [kid("Acme Ltd?", "41"), kid("Zeta Corp?", "39")]
    assert decide_comparison("Which was founded first, Acme Ltd or Zeta Corp?", years) is None
    assert decide_comparison("Who founded Acme Ltd?", counts) is None


def test_magnitude_words_scale_and_different_units_are_left_alone():
    q = "Which city has more people, Avora or Belt?"
    people = [
        kid("How many people live in Avora?", "2.1 million"),
        kid("Belt's people?", "800,000"),
    ]
    assert decide_comparison(q, people).answer == "Avora"
    q = "Which trail is longer, Avora or Belt?"
    lengths = [kid("How long is the Avora trail?", "5 km"), kid("Belt trail length?", "300 m")]
    assert decide_comparison(q, lengths) is None  # 5 km vs 300 m: not bare numbers
    same = [kid("How long is the Avora trail?", "5 km"), kid("Belt trail length?", "12 km")]
    assert decide_comparison(q, same).answer == "Belt"


def test_places_ranks_and_death_years_are_left_alone():
    q = "Who finished higher in the Oslo marathon, Mara Quin or Lio Dett?"
    places = [kid("Mara Quin's place in Oslo?", "1st"), kid("Lio Dett's place in Oslo?", "4th")]
    assert decide_comparison(q, places) is None
    q = "Who died younger, Mara Quin or Lio Dett?"
    deaths = [kid("When did Mara Quin die?", "1990"), kid("When did Lio Dett die?", "1975")]
    assert decide_comparison(q, deaths) is None  # age at death is not in these years
    q = "Who died first, Mara Quin or Lio Dett?"
    assert decide_comparison(q, deaths).answer == "Lio Dett"
    q = "Who is younger, Mara Quin or Lio Dett?"
    births = [kid("When was Mara Quin born?", "1990"), kid("When was Lio Dett born?", "1975")]
    assert decide_comparison(q, births).answer == "Mara Quin"


def test_names_option():
    assert names_option("Jo Craig", "Jo Craig", "Pete Doe")
    assert names_option("It is Jo Craig.", "Jo Craig", "Pete Doe")
    assert not names_option("Pete Doe", "Jo Craig", "Pete Doe")
    assert not names_option("Jo Craig and Pete Doe", "Jo Craig", "Pete Doe")


def comparing_model(aggregate_answer: str):
    def script(kind, question, messages):
        if kind == "decompose" and question == BANDS:
            return subproblems(
                ("How many bands has Jo Craig been a member of?", []),
                ("How many bands has Pete Doe been a member of?", []),
            )
        if kind == "decompose":
            return subproblems()
        if kind == "aggregate":
            return answer(aggregate_answer)
        return answer("10" if "Jo Craig" in question else "2")

    return scripted(script)


async def test_an_aggregation_that_names_the_losing_option_is_corrected():
    model = comparing_model("Pete Doe")
    result = await create_gram_graph(model).ainvoke({"question": BANDS})
    root = result["tree"][ROOT_ID]
    assert result["answer"] == root["answer"] == "Jo Craig"
    assert root["corrected_from"] == "Pete Doe"
    assert "10" in root["reasoning"] and "2" in root["reasoning"]
    assert [c["kind"] for c in model.calls].count("aggregate") == 1  # no extra call


async def test_an_aggregation_that_is_right_is_kept_as_written():
    model = comparing_model("Jo Craig has been in more bands.")
    result = await create_gram_graph(model).ainvoke({"question": BANDS})
    root = result["tree"][ROOT_ID]
    assert root["answer"] == "Jo Craig has been in more bands."
    assert "corrected_from" not in root
