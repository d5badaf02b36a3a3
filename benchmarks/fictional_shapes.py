r"""Held-out question shapes over the fictional multi-hop world, to check we are not template-tuned.

The development set ``fictional_multihop/questions.jsonl`` uses six templates (chain2, chain3,
chain3_spouse, compare_founded, compare_founders, years_after). This script parses the same
corpus into a small knowledge graph and writes questions of *other* shapes, so a prompt or a
decomposition that only works for those six templates shows up as a drop in accuracy here.

Shapes (the ``type`` of each row):

- ``hq_country``: "In which country are the headquarters of X?" (company → HQ city → country)
- ``sibling_city``: "In which city was the sibling of the founder of X born?"
- ``founder_employer_hq``: "In which city are the headquarters of the company that the founder
  of X works for?"
- ``chain4_river``: "Which river flows through the birth city of the spouse of the founder of
  X?"
- ``founder_role``: "What is the profession of the founder of X?"
- ``hq_population``: "What is the population of the city where X has its headquarters?"
- ``compare_population``: "Which city has more people, the birth city of the founder of X or the
  headquarters city of Y?"
- ``age_at_founding_spouse``: "How old was the spouse of the founder of X when X was founded?"
- ``employer_founder``: "Who founded the company that NAME works for?"

Every gold answer is read off (or, for ages, computed from) the corpus, and a question is only
written when its answer is unambiguous: a relation used on the way must have exactly one value
(one founder, one sibling, one spouse, one employer), every entity on the path must have its own
document, comparisons must not tie, and degenerate paths (a founder working for the company in
question, someone founding their own employer) are skipped. A question names only the first
entity of its ``chain`` (for ``compare_population``: the two companies compared).

Usage::

    python benchmarks/fictional_shapes.py --corpus PATH/corpus.jsonl --out /tmp/shapes.jsonl
    python benchmarks/fictional_shapes.py --corpus PATH/corpus.jsonl --per-shape 10 --seed 1 \\
        --exclude-questions PATH/questions.jsonl --out /tmp/shapes.jsonl
    gram eval --questions /tmp/shapes.jsonl --corpus PATH/corpus.jsonl

Rows are ``{"id": "s-<shape>-<i>", "question", "answer", "aliases", "type", "hops", "chain"}``.
``--exclude-questions`` drops every candidate whose chain touches an entity used in that file's
``chain`` fields (``--exclude-scope named``: only the entities the question names).

Importable API: :func:`parse_corpus` / :func:`load_corpus` build a :class:`World`;
:func:`generate` returns the rows; :func:`load_excluded` reads the entities to avoid;
:data:`SHAPES` lists the shape names.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SHAPES: tuple[str, ...] = (
    "hq_country",
    "sibling_city",
    "founder_employer_hq",
    "chain4_river",
    "founder_role",
    "hq_population",
    "compare_population",
    "age_at_founding_spouse",
    "employer_founder",
)
"""The generated question shapes, in output order; none of them is a development-set template."""

DEV_TEMPLATES: frozenset[str] = frozenset(
    {"chain2", "chain3", "chain3_spouse", "compare_founded", "compare_founders", "years_after"}
)
"""The development set's six templates, which :data:`SHAPES` must avoid."""

_NAME = r"[^.()]+?"
_PERSON = re.compile(
    rf"^(?P<name>{_NAME}) \(born (?P<year>\d{{1,4}}) in (?P<city>{_NAME})\) "
    rf"is an? (?P<role>{_NAME})$"
)
_SIBLING = re.compile(rf"^(?P<subject>{_NAME}) has an? sibling, (?P<other>{_NAME})$")
_SPOUSE = re.compile(rf"^(?P<subject>{_NAME}) is married to (?P<other>{_NAME})$")
_WORKS = re.compile(rf"^(?P<subject>{_NAME}) works for (?P<company>{_NAME})$")
_FOUNDED = re.compile(
    rf"^In (?P<year>\d{{1,4}}), (?P<subject>{_NAME}) founded (?P<company>{_NAME})$"
)
_COMPANY = re.compile(
    rf"^(?P<name>{_NAME}) is an? (?P<industry>{_NAME}) company founded in (?P<year>\d{{1,4}}) "
    rf"by (?P<founder>{_NAME})$"
)
_HQ = re.compile(rf"^(?:Its|(?P<subject>{_NAME})'s?) headquarters are in (?P<city>{_NAME})$")
_CITY = re.compile(
    rf"^(?P<name>{_NAME}) is a city in (?P<country>{_NAME}) on the river (?P<river>{_NAME})$"
)
_POPULATION = re.compile(r"^It has a population of (?P<population>\d[\d,]*)$")
_SENTENCE_END = re.compile(r"(?<=\.)\s+")


@dataclass
class Person:
    """A person document: facts as stated, with every stated value kept (so clashes show)."""

    name: str
    doc_id: str
    birth_years: set[int] = field(default_factory=set)
    birth_cities: set[str] = field(default_factory=set)
    roles: set[str] = field(default_factory=set)
    siblings: set[str] = field(default_factory=set)
    spouses: set[str] = field(default_factory=set)
    employers: set[str] = field(default_factory=set)
    founded: dict[str, set[int]] = field(default_factory=dict)


@dataclass
class Company:
    """A company document: industry, founding year(s), founder(s) and headquarters as stated."""

    name: str
    doc_id: str
    industries: set[str] = field(default_factory=set)
    founded_years: set[int] = field(default_factory=set)
    founders: set[str] = field(default_factory=set)
    headquarters: set[str] = field(default_factory=set)


@dataclass
class City:
    """A city document: country, river and population (as written, e.g. ``"105,000"``)."""

    name: str
    doc_id: str
    countries: set[str] = field(default_factory=set)
    rivers: set[str] = field(default_factory=set)
    populations: set[str] = field(default_factory=set)


def _one(values: Iterable[Any]) -> Any | None:
    """Return the only element of ``values``, or None when there are none or several."""
    values = set(values)
    return next(iter(values)) if len(values) == 1 else None


def population_value(text: str) -> int:
    """Turn a population as written (``"105,000"``) into an integer."""
    return int(text.replace(",", ""))


@dataclass
class World:
    """The knowledge graph parsed from a corpus, with unambiguous look-ups.

    Each look-up returns None unless the corpus gives exactly one value and, where the value is an
    entity, that entity has its own document. Relations between people (siblings, spouses) are
    read in both directions; siblings are closed transitively (a sibling's sibling is a sibling).

    Attributes:
        people: Person documents by full name (the document title).
        companies: Company documents by name.
        cities: City documents by name.
        unparsed: ``(doc id, sentence)`` for every sentence no pattern recognised.
    """

    people: dict[str, Person] = field(default_factory=dict)
    companies: dict[str, Company] = field(default_factory=dict)
    cities: dict[str, City] = field(default_factory=dict)
    unparsed: list[tuple[str, str]] = field(default_factory=list)

    # -- relations read in both directions ------------------------------------------------------

    def sibling_set(self, name: str) -> set[str]:
        """All siblings of ``name``: stated either way, closed transitively, without ``name``."""
        seen = {name}
        todo = [name]
        while todo:
            current = todo.pop()
            linked = set(self.people[current].siblings) if current in self.people else set()
            linked |= {p.name for p in self.people.values() if current in p.siblings}
            for other in linked - seen:
                seen.add(other)
                todo.append(other)
        return seen - {name}

    def spouse_set(self, name: str) -> set[str]:
        """Everyone married to ``name``, stated in either person's document."""
        spouses = set(self.people[name].spouses) if name in self.people else set()
        return spouses | {p.name for p in self.people.values() if name in p.spouses}

    def founder_set(self, company: str) -> set[str]:
        """Everyone said to have founded ``company``, in its document or their own."""
        founders = set(self.companies[company].founders) if company in self.companies else set()
        return founders | {p.name for p in self.people.values() if company in p.founded}

    # -- unambiguous single-valued look-ups -----------------------------------------------------

    def _person(self, name: str | None) -> str | None:
        return name if name is not None and name in self.people else None

    def _city(self, name: str | None) -> str | None:
        return name if name is not None and name in self.cities else None

    def _company(self, name: str | None) -> str | None:
        return name if name is not None and name in self.companies else None

    def sibling(self, name: str) -> str | None:
        """Return the only sibling of ``name`` (None when there are zero or several)."""
        return self._person(_one(self.sibling_set(name)))

    def spouse(self, name: str) -> str | None:
        """Return the only spouse of ``name``."""
        return self._person(_one(self.spouse_set(name)))

    def founder(self, company: str) -> str | None:
        """Return the only founder of ``company``."""
        return self._person(_one(self.founder_set(company)))

    def employer(self, name: str) -> str | None:
        """Return the only company ``name`` works for."""
        person = self.people.get(name)
        return self._company(_one(person.employers)) if person else None

    def birth_city(self, name: str) -> str | None:
        """Where ``name`` was born (a city with its own document)."""
        person = self.people.get(name)
        return self._city(_one(person.birth_cities)) if person else None

    def birth_year(self, name: str) -> int | None:
        """Return the year ``name`` was born."""
        person = self.people.get(name)
        return _one(person.birth_years) if person else None

    def role(self, name: str) -> str | None:
        """Return what ``name`` does (``"poet"``, ``"engineer"`` ...)."""
        person = self.people.get(name)
        return _one(person.roles) if person else None

    def founded_year(self, company: str) -> int | None:
        """Return the year ``company`` was founded, agreed by its document and its founder's."""
        item = self.companies.get(company)
        if item is None:
            return None
        years = set(item.founded_years)
        for person in self.people.values():
            years |= person.founded.get(company, set())
        return _one(years)

    def headquarters(self, company: str) -> str | None:
        """Return the city of ``company``'s headquarters (a city with its own document)."""
        item = self.companies.get(company)
        return self._city(_one(item.headquarters)) if item else None

    def country(self, city: str) -> str | None:
        """Return the country ``city`` is in."""
        item = self.cities.get(city)
        return _one(item.countries) if item else None

    def river(self, city: str) -> str | None:
        """Return the river ``city`` is on."""
        item = self.cities.get(city)
        return _one(item.rivers) if item else None

    def population(self, city: str) -> str | None:
        """``city``'s population as written in the corpus (e.g. ``"105,000"``)."""
        item = self.cities.get(city)
        if item is None or len({population_value(p) for p in item.populations}) != 1:
            return None
        return sorted(item.populations)[0]


def _first_name_matches(subject: str, title: str) -> bool:
    """Whether a sentence's subject refers to the document's person (full or first name)."""
    return subject in (title, title.split()[0])


def parse_corpus(docs: Iterable[dict[str, Any]]) -> World:
    """Parse corpus documents (``{"id", "title", "text"}``) into a :class:`World`.

    A document's kind is decided by its first sentence (a person's "NAME (born YEAR in CITY) is
    a ROLE.", a company's "NAME is a INDUSTRY company founded in YEAR by PERSON.", a city's "NAME
    is a city in COUNTRY on the river RIVER."), whose NAME must be the document's title. Later
    sentences add facts; anything not recognised lands in :attr:`World.unparsed`.

    Args:
        docs: The corpus rows.

    Returns:
        The parsed world.
    """
    world = World()
    for doc in docs:
        doc_id, title = str(doc.get("id", "")), str(doc.get("title", "")).strip()
        sentences = [
            s.strip().removesuffix(".")
            for s in _SENTENCE_END.split(str(doc.get("text", "")).strip())
            if s.strip()
        ]
        if not sentences:
            continue
        head, rest = sentences[0], sentences[1:]
        if (m := _PERSON.match(head)) and m["name"] == title:
            person = world.people.setdefault(title, Person(title, doc_id))
            person.birth_years.add(int(m["year"]))
            person.birth_cities.add(m["city"])
            person.roles.add(m["role"])
            for sentence in rest:
                if (m := _SIBLING.match(sentence)) and _first_name_matches(m["subject"], title):
                    person.siblings.add(m["other"])
                elif (m := _SPOUSE.match(sentence)) and _first_name_matches(m["subject"], title):
                    person.spouses.add(m["other"])
                elif (m := _WORKS.match(sentence)) and _first_name_matches(m["subject"], title):
                    person.employers.add(m["company"])
                elif (m := _FOUNDED.match(sentence)) and _first_name_matches(m["subject"], title):
                    person.founded.setdefault(m["company"], set()).add(int(m["year"]))
                else:
                    world.unparsed.append((doc_id, sentence))
        elif (m := _COMPANY.match(head)) and m["name"] == title:
            company = world.companies.setdefault(title, Company(title, doc_id))
            company.industries.add(m["industry"])
            company.founded_years.add(int(m["year"]))
            company.founders.add(m["founder"])
            for sentence in rest:
                if (m := _HQ.match(sentence)) and m["subject"] in (None, title):
                    company.headquarters.add(m["city"])
                else:
                    world.unparsed.append((doc_id, sentence))
        elif (m := _CITY.match(head)) and m["name"] == title:
            city = world.cities.setdefault(title, City(title, doc_id))
            city.countries.add(m["country"])
            city.rivers.add(m["river"])
            for sentence in rest:
                if m := _POPULATION.match(sentence):
                    city.populations.add(m["population"])
                else:
                    world.unparsed.append((doc_id, sentence))
        else:
            world.unparsed.extend((doc_id, s) for s in sentences)
    return world


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSON Lines file, skipping blank lines."""
    with Path(path).open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def load_corpus(path: str | Path) -> World:
    """Parse the corpus file at ``path`` (``{"id", "title", "text"}`` lines) into a World."""
    return parse_corpus(read_jsonl(path))


def load_excluded(path: str | Path) -> set[str]:
    """Every entity named in the ``chain`` fields of a question file (e.g. the dev set's)."""
    return {str(entity) for row in read_jsonl(path) for entity in row.get("chain") or []}


@dataclass(frozen=True)
class Candidate:
    """One possible question before sampling.

    Attributes:
        question: The question text.
        answer: The gold answer.
        aliases: Other accepted spellings of the answer.
        chain: The gold path of entities, from the entity the question names to the answer.
        named: The entities the question states by name (a subset of ``chain``).
    """

    question: str
    answer: str
    aliases: tuple[str, ...]
    chain: tuple[str, ...]
    named: tuple[str, ...]


def _hq_country(world: World) -> Iterable[Candidate]:
    for company in sorted(world.companies):
        city = world.headquarters(company)
        country = city and world.country(city)
        if country:
            yield Candidate(
                f"In which country are the headquarters of {company}?",
                country,
                (),
                (company, city, country),
                (company,),
            )


def _sibling_city(world: World) -> Iterable[Candidate]:
    for company in sorted(world.companies):
        founder = world.founder(company)
        sibling = founder and world.sibling(founder)
        city = sibling and world.birth_city(sibling)
        if city:
            yield Candidate(
                f"In which city was the sibling of the founder of {company} born?",
                city,
                (),
                (company, founder, sibling, city),
                (company,),
            )


def _founder_employer_hq(world: World) -> Iterable[Candidate]:
    for company in sorted(world.companies):
        founder = world.founder(company)
        employer = founder and world.employer(founder)
        if not employer or employer == company:
            continue
        city = world.headquarters(employer)
        if city:
            yield Candidate(
                "In which city are the headquarters of the company that the founder of "
                f"{company} works for?",
                city,
                (),
                (company, founder, employer, city),
                (company,),
            )


def _chain4_river(world: World) -> Iterable[Candidate]:
    for company in sorted(world.companies):
        founder = world.founder(company)
        spouse = founder and world.spouse(founder)
        city = spouse and world.birth_city(spouse)
        river = city and world.river(city)
        if river:
            yield Candidate(
                "Which river flows through the birth city of the spouse of the founder of "
                f"{company}?",
                river,
                (),
                (company, founder, spouse, city, river),
                (company,),
            )


def _founder_role(world: World) -> Iterable[Candidate]:
    for company in sorted(world.companies):
        founder = world.founder(company)
        role = founder and world.role(founder)
        if role:
            yield Candidate(
                f"What is the profession of the founder of {company}?",
                role,
                (),
                (company, founder),
                (company,),
            )


def _hq_population(world: World) -> Iterable[Candidate]:
    for company in sorted(world.companies):
        city = world.headquarters(company)
        population = city and world.population(city)
        if population:
            plain = str(population_value(population))
            yield Candidate(
                f"What is the population of the city where {company} has its headquarters?",
                population,
                (plain,) if plain != population else (),
                (company, city),
                (company,),
            )


def _compare_population(world: World) -> Iterable[Candidate]:
    birth = {}
    for company in sorted(world.companies):
        founder = world.founder(company)
        city = founder and world.birth_city(founder)
        if city and world.population(city):
            birth[company] = (founder, city)
    hq = {}
    for company in sorted(world.companies):
        city = world.headquarters(company)
        if city and world.population(city):
            hq[company] = city
    for first, (founder, city_a) in birth.items():
        for second, city_b in hq.items():
            if first == second or city_a == city_b:
                continue
            pop_a = population_value(world.population(city_a))
            pop_b = population_value(world.population(city_b))
            if pop_a == pop_b:
                continue
            yield Candidate(
                "Which city has more people, the birth city of the founder of "
                f"{first} or the headquarters city of {second}?",
                city_a if pop_a > pop_b else city_b,
                (),
                (first, founder, city_a, second, city_b),
                (first, second),
            )


def _age_at_founding_spouse(world: World) -> Iterable[Candidate]:
    for company in sorted(world.companies):
        founder = world.founder(company)
        spouse = founder and world.spouse(founder)
        year = world.founded_year(company)
        born = spouse and world.birth_year(spouse)
        if not (spouse and year and born) or year - born <= 0:
            continue
        age = year - born
        yield Candidate(
            f"How old was the spouse of the founder of {company} when {company} was founded?",
            str(age),
            (f"{age} years", f"{age} years old"),
            (company, founder, spouse),
            (company,),
        )


def _employer_founder(world: World) -> Iterable[Candidate]:
    for person in sorted(world.people):
        employer = world.employer(person)
        founder = employer and world.founder(employer)
        if founder and founder != person:
            yield Candidate(
                f"Who founded the company that {person} works for?",
                founder,
                (),
                (person, employer, founder),
                (person,),
            )


_BUILDERS: dict[str, Callable[[World], Iterable[Candidate]]] = {
    "hq_country": _hq_country,
    "sibling_city": _sibling_city,
    "founder_employer_hq": _founder_employer_hq,
    "chain4_river": _chain4_river,
    "founder_role": _founder_role,
    "hq_population": _hq_population,
    "compare_population": _compare_population,
    "age_at_founding_spouse": _age_at_founding_spouse,
    "employer_founder": _employer_founder,
}


_HOPS = {  # relation steps from the named entity (entities) to the answer
    "hq_country": 2,
    "sibling_city": 3,
    "founder_employer_hq": 3,
    "chain4_river": 4,
    "founder_role": 2,
    "hq_population": 2,
    "compare_population": 4,
    "age_at_founding_spouse": 3,
    "employer_founder": 2,
}


def candidates(
    world: World,
    shape: str,
    *,
    exclude: Iterable[str] = (),
    exclude_scope: str = "chain",
) -> list[Candidate]:
    """Every unambiguous question of one shape, in a deterministic order.

    Args:
        world: The parsed corpus.
        shape: One of :data:`SHAPES`.
        exclude: Entities to avoid.
        exclude_scope: ``"chain"`` drops a candidate when any entity on its chain is excluded;
            ``"named"`` only when an entity its question names is.

    Returns:
        The candidates.

    Raises:
        ValueError: ``shape`` or ``exclude_scope`` is unknown.
    """
    if shape not in _BUILDERS:
        raise ValueError(f"unknown shape {shape!r}; expected one of {', '.join(SHAPES)}")
    if exclude_scope not in ("chain", "named"):
        raise ValueError(f"unknown exclude_scope {exclude_scope!r}; expected 'chain' or 'named'")
    avoid = set(exclude)
    out = []
    for candidate in _BUILDERS[shape](world):
        touched = candidate.chain if exclude_scope == "chain" else candidate.named
        if not avoid.intersection(touched):
            out.append(candidate)
    return out


def generate(
    world: World,
    *,
    per_shape: int = 5,
    seed: int = 0,
    shapes: Sequence[str] = SHAPES,
    exclude: Iterable[str] = (),
    exclude_scope: str = "chain",
) -> list[dict[str, Any]]:
    """Sample up to ``per_shape`` questions of each shape, deterministically for a seed.

    A shape with fewer candidates than ``per_shape`` yields all it has (see :func:`shortfalls`).

    Args:
        world: The parsed corpus.
        per_shape: How many questions to draw per shape.
        seed: The seed of the ``random.Random`` that draws them.
        shapes: Which shapes, in output order.
        exclude: Entities to avoid (e.g. :func:`load_excluded` of the dev questions).
        exclude_scope: ``"chain"`` or ``"named"`` (see :func:`candidates`).

    Returns:
        Rows ``{"id", "question", "answer", "aliases", "type", "hops", "chain"}``.

    Raises:
        ValueError: A shape is unknown or ``per_shape`` is negative.
    """
    if per_shape < 0:
        raise ValueError("per_shape must be >= 0")
    exclude = set(exclude)
    rng = random.Random(seed)
    rows = []
    for shape in shapes:
        pool = candidates(world, shape, exclude=exclude, exclude_scope=exclude_scope)
        picked = rng.sample(pool, min(per_shape, len(pool)))
        for i, candidate in enumerate(picked):
            rows.append(
                {
                    "id": f"s-{shape}-{i}",
                    "question": candidate.question,
                    "answer": candidate.answer,
                    "aliases": list(candidate.aliases),
                    "type": shape,
                    "hops": _HOPS[shape],
                    "chain": list(candidate.chain),
                }
            )
    return rows


def shortfalls(
    rows: Iterable[dict[str, Any]], per_shape: int, shapes: Sequence[str] = SHAPES
) -> dict[str, int]:
    """Shapes that got fewer than ``per_shape`` rows, as ``{shape: count}``."""
    counts = Counter(row["type"] for row in rows)
    return {shape: counts[shape] for shape in shapes if counts[shape] < per_shape}


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Write held-out question shapes over the fictional multi-hop corpus."
    )
    parser.add_argument("--corpus", type=Path, required=True, help="corpus.jsonl to read")
    parser.add_argument("--out", type=Path, help="JSONL file to write (default: stdout)")
    parser.add_argument("--per-shape", type=int, default=5, help="questions per shape (5)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (0)")
    parser.add_argument(
        "--shapes", nargs="+", choices=SHAPES, default=list(SHAPES), help="shapes to write"
    )
    parser.add_argument(
        "--exclude-questions",
        type=Path,
        help="a question file whose chain entities must not appear (e.g. the dev questions)",
    )
    parser.add_argument(
        "--exclude-scope",
        choices=("chain", "named"),
        default="chain",
        help="avoid excluded entities anywhere on the chain (default) or only where named",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parse_args(argv)
    if not args.corpus.is_file():
        print(f"no such corpus file: {args.corpus}", file=sys.stderr)
        return 2
    world = load_corpus(args.corpus)
    if world.unparsed:
        print(f"warning: {len(world.unparsed)} sentences not understood, e.g.", file=sys.stderr)
        for doc_id, sentence in world.unparsed[:3]:
            print(f"  {doc_id}: {sentence}", file=sys.stderr)
    exclude = load_excluded(args.exclude_questions) if args.exclude_questions else set()
    rows = generate(
        world,
        per_shape=args.per_shape,
        seed=args.seed,
        shapes=args.shapes,
        exclude=exclude,
        exclude_scope=args.exclude_scope,
    )
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    counts = Counter(row["type"] for row in rows)
    print(
        f"{len(world.people)} people, {len(world.companies)} companies, {len(world.cities)} "
        f"cities; {len(rows)} questions" + (f" -> {args.out}" if args.out else ""),
        file=sys.stderr,
    )
    for shape in args.shapes:
        short = " (fewer candidates than asked)" if counts[shape] < args.per_shape else ""
        print(f"  {shape}: {counts[shape]}{short}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
