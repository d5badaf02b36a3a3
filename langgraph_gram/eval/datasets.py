"""Evaluation items and the loaders of the built-in datasets.

Every dataset becomes a list of :class:`EvalItem`: a question, its gold answer (and aliases),
the kind of checking it needs and, for retrieval sets, the passages it may search. The loaders
take a path (a file, or the dataset's folder holding its usual file): no path is baked in.

    items = load_dataset("fictional_multihop", "../shared/data/fictional_multihop")
    items = load_questions("my_questions.jsonl", corpus="my_corpus.jsonl")
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from langgraph_gram.errors import ConfigurationError

Kind = Literal["qa", "math", "game24", "letters", "code", "plan"]
"""How an item's prediction is checked: ``qa`` (EM/F1 against the answer and aliases), ``math``
(the last number equals the gold number), ``game24`` (a valid expression for 24), ``letters``
(exact string), ``code`` (the item's tests pass), ``plan`` (a blocksworld simulator reaches the
goal)."""


@dataclass
class EvalItem:
    """One question of an evaluation set.

    Attributes:
        id: The item's identifier, unique within its dataset.
        question: The question as the methods see it.
        answer: The gold answer ("" when any valid answer counts, as in game24).
        aliases: Other accepted answers.
        kind: How a prediction is checked (see :data:`Kind`).
        type: A sub-type for per-type results (a question template, a length...).
        passages: This item's own corpus (``{"id", "title", "text"}``), e.g. HotpotQA's ten
            paragraphs; ``None`` when it shares the dataset's corpus or has none.
        meta: What the checker needs beyond the answer (tests, entry point, plan facts...).
    """

    id: str
    question: str
    answer: str
    aliases: list[str] = field(default_factory=list)
    kind: Kind = "qa"
    type: str = "all"
    passages: list[dict[str, str]] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Dataset:
    """A loaded evaluation set.

    Attributes:
        name: The dataset's name (``fictional_multihop``, ``gsm8k``, ``questions``...).
        items: Its items, in file order.
        corpus: The path of a corpus shared by every item, or ``None``.
        source: The file the items were read from.
    """

    name: str
    items: list[EvalItem]
    corpus: Path | None = None
    source: Path | None = None

    @property
    def retrieval(self) -> bool:
        """Whether the items are answered by searching passages."""
        return self.corpus is not None or any(i.passages for i in self.items)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read a JSON Lines file.

    Args:
        path: The file.

    Returns:
        One dict per non-empty line.

    Raises:
        ConfigurationError: The file is missing or a line is not JSON.
    """
    rows = []
    for number, line in enumerate(_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError as exc:
            raise ConfigurationError(f"{path}:{number}: not JSON ({exc})") from exc
    return rows


def _text(path: Path) -> str:
    if not path.is_file():
        raise ConfigurationError(f"no such file: {path}")
    return path.read_text(encoding="utf-8")


def _resolve(path: str | Path, default_name: str) -> Path:
    """Resolve a dataset argument: the file itself, or its folder holding ``default_name``."""
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / default_name
    if not path.is_file():
        raise ConfigurationError(f"no such dataset file: {path}")
    return path


def load_questions(
    questions: str | Path, *, corpus: str | Path | None = None, kind: Kind = "qa"
) -> Dataset:
    """Load a generic question file (``{"id", "question", "answer", "aliases"?, "type"?}``).

    Args:
        questions: The JSON Lines file of questions.
        corpus: An optional corpus (``{"id", "title", "text"}`` lines) every item may search.
        kind: How predictions are checked.

    Returns:
        The dataset.

    Raises:
        ConfigurationError: A file is missing, a row lacks ``question``/``answer``, or two
            rows share an ``id`` (their results would overwrite each other).
    """
    path = Path(questions)
    items = []
    seen: dict[str, int] = {}
    for n, row in enumerate(read_jsonl(path)):
        if "question" not in row or "answer" not in row:
            raise ConfigurationError(f"{path}: row {n + 1} needs 'question' and 'answer'")
        item_id = str(row.get("id", n))
        if item_id in seen:
            raise ConfigurationError(
                f"{path}: rows {seen[item_id]} and {n + 1} share the id {item_id!r}"
            )
        seen[item_id] = n + 1
        items.append(
            EvalItem(
                id=item_id,
                question=row["question"],
                answer=str(row["answer"]),
                aliases=[str(a) for a in row.get("aliases") or []],
                kind=kind,
                type=str(row.get("type", "all")),
            )
        )
    corpus_path = Path(corpus) if corpus else None
    if corpus_path is not None and not corpus_path.is_file():
        raise ConfigurationError(f"no such corpus file: {corpus_path}")
    return Dataset(path.stem, items, corpus=corpus_path, source=path)


def _fictional_multihop(path: str | Path) -> Dataset:
    folder = Path(path)
    questions = _resolve(folder, "questions.jsonl")
    corpus = questions.parent / "corpus.jsonl"
    dataset = load_questions(questions, corpus=corpus if corpus.is_file() else None)
    dataset.name = "fictional_multihop"
    return dataset


def _hotpotqa(path: str | Path) -> Dataset:
    source = _resolve(path, "hotpotqa_dev_distractor_200.jsonl")
    items = []
    for row in read_jsonl(source):
        passages = [
            {"id": f"p{n}", "title": title, "text": "".join(sentences).strip()}
            for n, (title, sentences) in enumerate(row["context"])
        ]
        items.append(
            EvalItem(
                id=row["_id"],
                question=row["question"],
                answer=row["answer"],
                type=row.get("type", "all"),
                passages=passages,
                meta={"supporting": sorted({t for t, _ in row.get("supporting_facts", [])})},
            )
        )
    return Dataset("hotpotqa", items, source=source)


def _musique(path: str | Path) -> Dataset:
    source = _resolve(path, "musique_ans_dev_100.jsonl")
    items = []
    for row in read_jsonl(source):
        passages = [
            {"id": f"p{p['idx']}", "title": p["title"], "text": p["paragraph_text"]}
            for p in row["paragraphs"]
        ]
        items.append(
            EvalItem(
                id=row["id"],
                question=row["question"],
                answer=row["answer"],
                aliases=list(row.get("answer_aliases") or []),
                type=row["id"].split("__")[0],
                passages=passages,
            )
        )
    return Dataset("musique", items, source=source)


def _bamboogle(path: str | Path) -> Dataset:
    source = _resolve(path, "bamboogle.jsonl")
    dataset = load_questions(source)
    dataset.name = "bamboogle"
    return dataset


def _gsm8k(path: str | Path) -> Dataset:
    source = _resolve(path, "test.jsonl")
    items = []
    for n, row in enumerate(read_jsonl(source)):
        gold = row["answer"].rsplit("####", 1)[-1].strip().replace(",", "")
        items.append(EvalItem(id=f"gsm8k-{n}", question=row["question"], answer=gold, kind="math"))
    return Dataset("gsm8k", items, source=source)


GAME24_QUESTION = (
    "Use the numbers {numbers} and the operations + - * / (with parentheses) to make 24. "
    "Use each number exactly once. Answer with one arithmetic expression, e.g. (1 + 3) * (2 + 4)."
)
"""How a game-of-24 puzzle is asked."""


def _game24(path: str | Path) -> Dataset:
    source = _resolve(path, "game24_tot_test_100.jsonl")
    items = []
    rows: list[dict[str, Any]]
    if source.suffix == ".csv":
        with source.open(encoding="utf-8") as handle:
            rows = [
                {"index": n, "numbers": [int(x) for x in r["Puzzles"].split()]}
                for n, r in enumerate(csv.DictReader(handle))
            ]
    else:
        rows = read_jsonl(source)
    for row in rows:
        numbers = [int(x) for x in row["numbers"]]
        items.append(
            EvalItem(
                id=f"game24-{row['index']}",
                question=GAME24_QUESTION.format(numbers=", ".join(map(str, numbers))),
                answer="",
                kind="game24",
                meta={"numbers": numbers},
            )
        )
    return Dataset("game24", items, source=source)


def _last_letters(path: str | Path) -> Dataset:
    source = _resolve(path, "generated_last_letters_L4-12.jsonl")
    items = []
    if source.suffix == ".json":  # Kojima's {"examples": [...]}
        for n, row in enumerate(json.loads(_text(source))["examples"]):
            items.append(
                EvalItem(f"kojima-{n}", row["question"], row["answer"], kind="letters", type="L4")
            )
    else:
        for row in read_jsonl(source):
            items.append(
                EvalItem(
                    id=row["id"],
                    question=row["question"],
                    answer=row["answer"],
                    kind="letters",
                    type=f"L{row['length']}",
                    meta={"words": row.get("words", [])},
                )
            )
    return Dataset("last_letters", items, source=source)


CODE_QUESTION = """Write a Python function for the task below. Give the complete code: \
its imports, the function itself and any helper function it calls. Answer with the code only.

{prompt}"""
"""How a code-generation task is asked (HumanEval and MBPP)."""


def _humaneval(path: str | Path) -> Dataset:
    source = _resolve(path, "HumanEval.jsonl")
    items = [
        EvalItem(
            id=row["task_id"],
            question=CODE_QUESTION.format(prompt=row["prompt"]),
            answer=row["canonical_solution"],
            kind="code",
            meta={"prompt": row["prompt"], "test": row["test"], "entry_point": row["entry_point"]},
        )
        for row in read_jsonl(source)
    ]
    return Dataset("humaneval", items, source=source)


def _mbpp(path: str | Path) -> Dataset:
    source = _resolve(path, "mbpp_sanitized_427.jsonl")
    items = []
    for row in read_jsonl(source):
        tests = list(row["test_list"])
        prompt = f"{row['prompt']}\nYour code should pass this test:\n{tests[0]}"
        items.append(
            EvalItem(
                id=f"mbpp-{row['task_id']}",
                question=CODE_QUESTION.format(prompt=prompt),
                answer=row["code"],
                kind="code",
                meta={
                    "tests": tests,
                    "test_imports": list(row.get("test_imports") or []),
                    "entry_point": row["entry_point"],
                },
            )
        )
    return Dataset("mbpp", items, source=source)


BLOCKSWORLD_QUESTION = """Blocksworld planning. I can do four actions, one at a time:
- pick up a block (only a clear block that is on the table, and only when my hand is empty);
- unstack a block from on top of another block (only a clear block that is on that other \
block, and only when my hand is empty);
- put down the block I am holding (it goes on the table);
- stack the block I am holding on top of another block (only on a clear block).
A block is clear when no block is on it and I am not holding it.
Initial state: {init}.
Goal: {goal}.
What is the plan? Answer with the actions in order, separated by ";", each written like \
"unstack the red block from on top of the blue block", "put down the red block", "pick up \
the red block", "stack the red block on top of the blue block"."""
"""How a blocksworld instance is asked (PlanBench's natural-language actions)."""


def _blocksworld(path: str | Path) -> Dataset:
    source = _resolve(path, "blocksworld_602.jsonl")
    items = [
        EvalItem(
            id=row["id"],
            question=BLOCKSWORLD_QUESTION.format(init=row["init"], goal=row["goal"]),
            answer="; ".join(row.get("gold_plan_nl", [])),
            kind="plan",
            type=f"len{row.get('optimal_plan_length', '?')}",
            meta={
                "blocks": row["blocks"],
                "init_facts": row["init_facts"],
                "goal_facts": row["goal_facts"],
            },
        )
        for row in read_jsonl(source)
    ]
    return Dataset("blocksworld", items, source=source)


LOADERS: dict[str, Callable[[str | Path], Dataset]] = {
    "fictional_multihop": _fictional_multihop,
    "hotpotqa": _hotpotqa,
    "musique": _musique,
    "bamboogle": _bamboogle,
    "gsm8k": _gsm8k,
    "game24": _game24,
    "last_letters": _last_letters,
    "humaneval": _humaneval,
    "mbpp": _mbpp,
    "blocksworld": _blocksworld,
}
"""The built-in datasets by name; each loader takes the dataset's file or folder."""


def load_dataset(name: str, path: str | Path) -> Dataset:
    """Load a built-in dataset.

    Args:
        name: One of :data:`LOADERS`.
        path: The dataset's file, or the folder holding its usual file.

    Returns:
        The dataset.

    Raises:
        ConfigurationError: Unknown name, missing file or malformed rows.
    """
    loader = LOADERS.get(name)
    if loader is None:
        raise ConfigurationError(f"unknown dataset {name!r}; built in: {', '.join(LOADERS)}")
    try:
        return loader(path)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigurationError(f"{name}: malformed dataset file under {path}: {exc!r}") from exc


def select(
    items: Iterable[EvalItem],
    *,
    limit: int | None = None,
    per_type: int | None = None,
    types: Iterable[str] | None = None,
) -> list[EvalItem]:
    """Choose the items to run, in file order.

    Args:
        items: All items.
        limit: Keep the first ``limit`` (after the filters), or all.
        per_type: Keep the first ``per_type`` of each type (e.g. 30 per last-letters length).
        types: Keep only these types.

    Returns:
        The chosen items.
    """
    wanted = set(types) if types else None
    counts: dict[str, int] = {}
    chosen = []
    for item in items:
        if wanted is not None and item.type not in wanted:
            continue
        if per_type is not None:
            if counts.get(item.type, 0) >= per_type:
                continue
            counts[item.type] = counts.get(item.type, 0) + 1
        chosen.append(item)
    return chosen[:limit] if limit is not None else chosen
