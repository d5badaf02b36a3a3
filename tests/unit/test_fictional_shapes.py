"""``benchmarks/fictional_shapes.py``: parsing the fictional world and the held-out shapes.

A tiny hand-written corpus in the real corpus's sentence patterns pins every shape's answers and
every ambiguity rule; when the shared corpus is present, generation over it is checked too.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from langgraph_gram.eval.datasets import load_questions

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "fictional_multihop"
REAL_CORPUS = SHARED / "corpus.jsonl"
REAL_QUESTIONS = SHARED / "questions.jsonl"


def _load() -> ModuleType:
    name = "gram_benchmark_fictional_shapes"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / "fictional_shapes.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


fs = _load()

TEXTS = {
    # Cities: Betaburg and Gammaport tie on population.
    "Alphaville": "Alphaville is a city in Norland on the river Bluewater. "
    "It has a population of 105,000.",
    "Betaburg": "Betaburg is a city in Southia on the river Redrun. It has a population of 65,000.",
    "Gammaport": "Gammaport is a city in Norland on the river Greenflow. "
    "It has a population of 65,000.",
    # People. Ann and Bob are the only pair of siblings; Dan, Eve and Fay form a family of three.
    "Ann Smith": "Ann Smith (born 1950 in Alphaville) is a poet. Ann has a sibling, Bob Smith. "
    "Ann is married to Carl Jones. Ann works for Delta Labs. In 1980, Ann founded Omega Works.",
    "Bob Smith": "Bob Smith (born 1952 in Betaburg) is a pilot. Bob has a sibling, Ann Smith. "
    "In 1985, Bob founded Theta Ltd.",
    # Carl's marriage is only stated in Ann's document.
    "Carl Jones": "Carl Jones (born 1948 in Gammaport) is a engineer.",
    # Dan works for the company he founded.
    "Dan Brown": "Dan Brown (born 1960 in Betaburg) is a surgeon. Dan has a sibling, Eve Brown. "
    "Dan works for Delta Labs. In 1990, Dan founded Delta Labs.",
    "Eve Brown": "Eve Brown (born 1962 in Alphaville) is a chemist. Eve has a sibling, Fay Brown.",
    # Fay's birth city has no document.
    "Fay Brown": "Fay Brown (born 1965 in Nowhere) is a historian. Fay works for Omega Works.",
    # Gus is Dan's spouse but was born after Delta Labs was founded.
    "Gus Green": "Gus Green (born 1995 in Alphaville) is a architect. Gus is married to Dan Brown.",
    # Companies. Sigma's founder has no document; Zeta's headquarters city has none.
    "Omega Works": "Omega Works is a software company founded in 1980 by Ann Smith. "
    "Its headquarters are in Betaburg.",
    "Delta Labs": "Delta Labs is a mining company founded in 1990 by Dan Brown. "
    "Its headquarters are in Gammaport.",
    "Sigma Corp": "Sigma Corp is a optics company founded in 2000 by Hal White. "
    "Its headquarters are in Gammaport.",
    "Theta Ltd": "Theta Ltd is a brewing company founded in 1985 by Bob Smith. "
    "Its headquarters are in Alphaville.",
    "Zeta Group": "Zeta Group is a textiles company founded in 1970 by Fay Brown. "
    "Its headquarters are in Atlantis.",
}
DOCS = [{"id": f"d{i}", "title": t, "text": x} for i, (t, x) in enumerate(TEXTS.items())]


@pytest.fixture(scope="module")
def world():
    return fs.parse_corpus(DOCS)


def by_question(world, shape, **kwargs) -> dict[str, object]:
    return {c.question: c for c in fs.candidates(world, shape, **kwargs)}


def answers(world, shape) -> dict[tuple[str, ...], str]:
    return {c.chain: c.answer for c in fs.candidates(world, shape)}


# -- parsing ---------------------------------------------------------------------------------


def test_parse_reads_every_fact_of_the_three_kinds(world):
    assert world.unparsed == []
    assert set(world.people) == {t for t in TEXTS if " " in t and "(born" in TEXTS[t]}
    assert set(world.companies) == {
        "Omega Works",
        "Delta Labs",
        "Sigma Corp",
        "Theta Ltd",
        "Zeta Group",
    }
    assert set(world.cities) == {"Alphaville", "Betaburg", "Gammaport"}

    ann = world.people["Ann Smith"]
    assert (ann.birth_years, ann.birth_cities, ann.roles) == ({1950}, {"Alphaville"}, {"poet"})
    assert (ann.siblings, ann.spouses, ann.employers) == (
        {"Bob Smith"},
        {"Carl Jones"},
        {"Delta Labs"},
    )
    assert ann.founded == {"Omega Works": {1980}}
    assert world.role("Carl Jones") == "engineer"  # "is a engineer" as the corpus writes it

    omega = world.companies["Omega Works"]
    assert (omega.industries, omega.founded_years) == ({"software"}, {1980})
    assert (omega.founders, omega.headquarters) == ({"Ann Smith"}, {"Betaburg"})

    alpha = world.cities["Alphaville"]
    assert (alpha.countries, alpha.rivers, alpha.populations) == (
        {"Norland"},
        {"Bluewater"},
        {"105,000"},
    )
    assert world.population("Alphaville") == "105,000"
    assert fs.population_value("105,000") == 105000


def test_parse_keeps_unknown_sentences_and_documents_aside():
    docs = [
        {"id": "a", "title": "Ann Smith", "text": TEXTS["Ann Smith"] + " Ann likes tea."},
        {"id": "b", "title": "Moon", "text": "Moon is a rock."},
        # A first sentence about someone other than the title is not taken as this document.
        {"id": "c", "title": "Other Name", "text": TEXTS["Bob Smith"]},
    ]
    world = fs.parse_corpus(docs)
    assert set(world.people) == {"Ann Smith"}
    assert ("a", "Ann likes tea") in world.unparsed
    assert ("b", "Moon is a rock") in world.unparsed
    assert any(doc_id == "c" for doc_id, _ in world.unparsed)


def test_lookups_are_symmetric_transitive_and_refuse_ambiguity(world):
    assert world.spouse("Carl Jones") == "Ann Smith"  # stated only in Ann's document
    assert world.spouse("Dan Brown") == "Gus Green"  # stated only in Gus's document
    assert world.sibling("Ann Smith") == "Bob Smith"
    assert world.sibling_set("Dan Brown") == {"Eve Brown", "Fay Brown"}
    assert world.sibling_set("Fay Brown") == {"Dan Brown", "Eve Brown"}
    assert world.sibling("Dan Brown") is None
    assert world.founder("Sigma Corp") is None  # Hal White has no document
    assert world.headquarters("Zeta Group") is None  # Atlantis has no document
    assert world.birth_city("Fay Brown") is None  # Nowhere has no document
    assert world.founded_year("Omega Works") == 1980


def test_founding_year_clash_between_documents_is_ambiguous():
    docs = [
        *DOCS,
        {
            "id": "x",
            "title": "Kim Lee",
            "text": "Kim Lee (born 1940 in Betaburg) is a poet. "
            "Kim is married to Lou Park. In 1981, Kim founded Nova Corp.",
        },
        {"id": "y", "title": "Lou Park", "text": "Lou Park (born 1941 in Alphaville) is a poet."},
        {
            "id": "z",
            "title": "Nova Corp",
            "text": "Nova Corp is a optics company founded in 1980 "
            "by Kim Lee. Its headquarters are in Betaburg.",
        },
    ]
    world = fs.parse_corpus(docs)
    assert world.founder("Nova Corp") == "Kim Lee"
    assert world.founded_year("Nova Corp") is None
    assert all("Nova Corp" not in c.chain for c in fs.candidates(world, "age_at_founding_spouse"))


# -- each shape ------------------------------------------------------------------------------


def test_hq_country(world):
    assert answers(world, "hq_country") == {
        ("Omega Works", "Betaburg", "Southia"): "Southia",
        ("Delta Labs", "Gammaport", "Norland"): "Norland",
        ("Sigma Corp", "Gammaport", "Norland"): "Norland",
        ("Theta Ltd", "Alphaville", "Norland"): "Norland",
    }
    assert "In which country are the headquarters of Omega Works?" in by_question(
        world, "hq_country"
    )


def test_sibling_city_needs_exactly_one_sibling(world):
    assert answers(world, "sibling_city") == {
        ("Omega Works", "Ann Smith", "Bob Smith", "Betaburg"): "Betaburg",
        ("Theta Ltd", "Bob Smith", "Ann Smith", "Alphaville"): "Alphaville",
    }
    assert "In which city was the sibling of the founder of Omega Works born?" in by_question(
        world, "sibling_city"
    )


def test_founder_employer_hq_skips_founders_working_for_their_own_company(world):
    assert answers(world, "founder_employer_hq") == {
        ("Omega Works", "Ann Smith", "Delta Labs", "Gammaport"): "Gammaport",
        ("Zeta Group", "Fay Brown", "Omega Works", "Betaburg"): "Betaburg",
    }


def test_chain4_river_follows_spouse_stated_either_way(world):
    assert answers(world, "chain4_river") == {
        ("Omega Works", "Ann Smith", "Carl Jones", "Gammaport", "Greenflow"): "Greenflow",
        ("Delta Labs", "Dan Brown", "Gus Green", "Alphaville", "Bluewater"): "Bluewater",
    }


def test_founder_role(world):
    assert answers(world, "founder_role") == {
        ("Omega Works", "Ann Smith"): "poet",
        ("Delta Labs", "Dan Brown"): "surgeon",
        ("Theta Ltd", "Bob Smith"): "pilot",
        ("Zeta Group", "Fay Brown"): "historian",
    }


def test_hq_population_keeps_corpus_digits_with_comma_free_alias(world):
    found = {c.chain: (c.answer, c.aliases) for c in fs.candidates(world, "hq_population")}
    assert found[("Theta Ltd", "Alphaville")] == ("105,000", ("105000",))
    assert found[("Omega Works", "Betaburg")] == ("65,000", ("65000",))
    assert len(found) == 4


def test_compare_population_skips_ties_same_city_and_same_company(world):
    found = answers(world, "compare_population")
    assert found == {
        # Alphaville (105,000) against Gammaport (65,000): the birth city wins.
        ("Omega Works", "Ann Smith", "Alphaville", "Delta Labs", "Gammaport"): "Alphaville",
        ("Omega Works", "Ann Smith", "Alphaville", "Sigma Corp", "Gammaport"): "Alphaville",
        # Betaburg (65,000) against Alphaville (105,000): the headquarters city wins.
        ("Delta Labs", "Dan Brown", "Betaburg", "Theta Ltd", "Alphaville"): "Alphaville",
    }
    assert all(chain[0] != chain[3] for chain in found)  # never a company against itself
    assert all(chain[2] != chain[4] for chain in found)  # never a city against itself
    # Betaburg against Gammaport is a tie (65,000 each): never asked.
    assert not any({chain[2], chain[4]} == {"Betaburg", "Gammaport"} for chain in found)
    question = (
        "Which city has more people, the birth city of the founder of Delta Labs or the "
        "headquarters city of Theta Ltd?"
    )
    assert by_question(world, "compare_population")[question].answer == "Alphaville"


def test_age_at_founding_spouse_is_positive(world):
    found = {c.chain: (c.answer, c.aliases) for c in fs.candidates(world, "age_at_founding_spouse")}
    # Omega Works (1980) - Carl Jones (1948); Gus Green, born 1995, after Delta Labs (1990).
    assert found == {
        ("Omega Works", "Ann Smith", "Carl Jones"): ("32", ("32 years", "32 years old"))
    }


def test_employer_founder_skips_people_who_founded_their_employer(world):
    assert answers(world, "employer_founder") == {
        ("Ann Smith", "Delta Labs", "Dan Brown"): "Dan Brown",
        ("Fay Brown", "Omega Works", "Ann Smith"): "Ann Smith",
    }
    assert "Who founded the company that Ann Smith works for?" in by_question(
        world, "employer_founder"
    )


def test_shapes_avoid_the_development_templates():
    assert len(fs.SHAPES) >= 8
    assert not set(fs.SHAPES) & fs.DEV_TEMPLATES
    world = fs.parse_corpus(DOCS)
    dev_patterns = [
        r"^In which city was the founder of .+ born\?$",
        r"^Which river flows through the birth city of the founder of .+\?$",
        r"^In which city was the spouse of the founder of .+ born\?$",
        r"^Which company was founded earlier, .+ or .+\?$",
        r"^Who was born first: the founder of .+ or the founder of .+\?$",
        r"^How many years after its founder was born was .+ founded\?$",
    ]
    for row in fs.generate(world, per_shape=50):
        assert not any(re.match(p, row["question"]) for p in dev_patterns), row["question"]


def test_unknown_shape_or_scope_is_refused(world):
    with pytest.raises(ValueError, match="unknown shape"):
        fs.candidates(world, "chain2")
    with pytest.raises(ValueError, match="exclude_scope"):
        fs.candidates(world, "hq_country", exclude_scope="everything")
    with pytest.raises(ValueError, match="per_shape"):
        fs.generate(world, per_shape=-1)


# -- sampling and exclusion ------------------------------------------------------------------


def test_generate_rows_ids_counts_and_determinism(world):
    rows = fs.generate(world, per_shape=2, seed=7)
    assert rows == fs.generate(world, per_shape=2, seed=7)
    assert set(rows[0]) == {"id", "question", "answer", "aliases", "type", "hops", "chain"}
    counts = {shape: sum(r["type"] == shape for r in rows) for shape in fs.SHAPES}
    # Shapes with one candidate give one; the others give the two asked for.
    assert counts["age_at_founding_spouse"] == 1
    assert all(n == 2 for shape, n in counts.items() if shape != "age_at_founding_spouse")
    assert fs.shortfalls(rows, 2) == {"age_at_founding_spouse": 1}
    for row in rows:
        shape, i = row["id"].removeprefix("s-").rsplit("-", 1)
        assert shape == row["type"] and i in {"0", "1"}
        assert row["answer"] in row["chain"] or row["type"] in {
            "founder_role",
            "hq_population",
            "age_at_founding_spouse",
        }
    # Output order follows SHAPES.
    order = [r["type"] for r in rows]
    assert order == sorted(order, key=fs.SHAPES.index)
    assert [r["type"] for r in fs.generate(world, per_shape=1, shapes=["founder_role"])] == [
        "founder_role"
    ]


def test_exclusion_by_chain_or_by_named_entity(world):
    # Gammaport is on Omega's path (Ann's employer's headquarters) but is not named.
    on_chain = fs.candidates(world, "founder_employer_hq", exclude={"Gammaport"})
    assert [c.chain[0] for c in on_chain] == ["Zeta Group"]
    named = fs.candidates(
        world, "founder_employer_hq", exclude={"Gammaport"}, exclude_scope="named"
    )
    assert [c.chain[0] for c in named] == ["Omega Works", "Zeta Group"]
    # Excluding a company named in a comparison removes it from both sides.
    rows = fs.generate(world, per_shape=100, exclude={"Theta Ltd"})
    assert rows and all("Theta Ltd" not in r["chain"] for r in rows)


def test_load_excluded_reads_chain_fields(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text(
        json.dumps(
            {"id": "q0", "question": "?", "answer": "a", "chain": ["Omega Works", "Ann Smith"]}
        )
        + "\n\n"
        + json.dumps({"id": "q1", "question": "?", "answer": "b"})
        + "\n",
        encoding="utf-8",
    )
    assert fs.load_excluded(path) == {"Omega Works", "Ann Smith"}


def test_command_line_writes_rows_gram_eval_can_load(tmp_path, capsys):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(d) + "\n" for d in DOCS), encoding="utf-8")
    excluded = tmp_path / "dev.jsonl"
    excluded.write_text(
        json.dumps({"question": "?", "answer": "x", "chain": ["Omega Works"]}) + "\n"
    )
    out = tmp_path / "out" / "shapes.jsonl"
    argv = ["--corpus", str(corpus), "--per-shape", "1", "--seed", "3", "--out", str(out)]
    assert fs.main([*argv, "--exclude-questions", str(excluded), "--exclude-scope", "named"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows and all("Omega Works" not in r["question"] for r in rows)
    assert "questions ->" in capsys.readouterr().err

    dataset = load_questions(out, corpus=corpus)
    assert [item.id for item in dataset.items] == [r["id"] for r in rows]
    assert [item.answer for item in dataset.items] == [r["answer"] for r in rows]
    assert {item.type for item in dataset.items} == {r["type"] for r in rows}

    assert fs.main(["--corpus", str(tmp_path / "missing.jsonl")]) == 2
    with pytest.raises(SystemExit):
        fs.main([])  # --corpus is required: no baked-in path


# -- the shared corpus -----------------------------------------------------------------------


def _named(row) -> set[str]:
    chain = row["chain"]
    return {chain[0], chain[3]} if row["type"] == "compare_population" else {chain[0]}


def _mentions(text: str, name: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text) is not None


@pytest.mark.skipif(not REAL_CORPUS.is_file(), reason="shared fictional_multihop corpus absent")
def test_generation_over_the_shared_corpus():
    docs = [json.loads(line) for line in REAL_CORPUS.read_text(encoding="utf-8").splitlines()]
    text_of = {d["title"]: d["text"] for d in docs}
    all_text = "\n".join(text_of.values())
    world = fs.parse_corpus(docs)
    assert world.unparsed == []
    assert len(world.people) + len(world.companies) + len(world.cities) == len(docs)

    rows = fs.generate(world, per_shape=3, seed=0)
    counts = {s: sum(r["type"] == s for r in rows) for s in fs.SHAPES}
    full = [s for s, n in counts.items() if n == 3]
    assert len(full) >= 6, counts
    assert len({r["question"] for r in rows}) == len(rows)
    assert rows == fs.generate(world, per_shape=3, seed=0)
    assert rows != fs.generate(world, per_shape=3, seed=1)

    for row in rows:
        answer, chain = row["answer"], row["chain"]
        assert answer in all_text or answer.isdigit(), row
        # Only the entity (entities) the question starts from are named.
        named = _named(row)
        assert all(_mentions(row["question"], n) for n in named), row
        assert not any(_mentions(row["question"], e) for e in set(chain) - named), row
        # Every link of the chain is witnessed by one of its two documents.
        segments = [chain[:3], chain[3:]] if row["type"] == "compare_population" else [chain]
        for segment in segments:
            for a, b in itertools.pairwise(segment):
                assert b in text_of.get(a, "") or a in text_of.get(b, ""), (row, a, b)
        if row["type"] == "age_at_founding_spouse":
            company, _, spouse = chain
            founded = int(re.search(r"founded in (\d+)", text_of[company])[1])
            born = int(re.search(r"\(born (\d+)", text_of[spouse])[1])
            assert int(answer) == founded - born > 0
        if row["type"] == "hq_population":
            assert f"population of {answer}." in text_of[chain[1]]
            assert row["aliases"] == [answer.replace(",", "")]


@pytest.mark.skipif(
    not REAL_QUESTIONS.is_file(), reason="shared fictional_multihop questions absent"
)
def test_exclusion_of_the_development_questions_over_the_shared_corpus():
    world = fs.load_corpus(REAL_CORPUS)
    excluded = fs.load_excluded(REAL_QUESTIONS)
    rows = fs.generate(world, per_shape=5, exclude=excluded)
    assert rows
    assert all(not excluded.intersection(r["chain"]) for r in rows)
    named_rows = fs.generate(world, per_shape=5, exclude=excluded, exclude_scope="named")
    assert len(named_rows) >= len(rows)
    assert all(not excluded.intersection(_named(r)) for r in named_rows)
