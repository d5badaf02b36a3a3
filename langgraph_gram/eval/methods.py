"""The methods ``gram eval`` compares, all on the same model, endpoint and tools.

- ``direct``: one call for the answer alone; with passages to search, retrieve-then-answer
  (one search with the whole question, then one call).
- ``cot``: the same, but the model writes its reasoning before the answer.
- ``self_consistency``: ``k`` chain-of-thought samples (temperature > 0, distinct seeds), then
  a vote over normalised answers.
- ``react``: an agent loop that reasons and calls the same tools GRAM's leaves get. Where the
  endpoint returns native tool calls (asked once per run) it is ``langchain.agents.create_agent``
  (:mod:`langgraph_gram.eval.agent`); otherwise (llama-cpp-python's server writes tool calls as
  text) one JSON action per call (``{"reasoning", "action", "input"}``), the protocol GRAM's
  leaves use. ``react[protocol=json|native]`` fixes the choice. Either way its first step must
  call a tool, so it cannot answer without searching, and it stops when it answers or after
  ``max_steps`` tool calls.
- ``gram``: the recursive graph (:func:`langgraph_gram.create_gram_graph`); settings such as
  ``max_depth``, ``width`` or ``max_llm_calls`` go into the run's context, ``scorer`` into the
  build.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from langchain_core.tools import BaseTool

from langgraph_gram.context import Budget, GramContext
from langgraph_gram.errors import (
    ConfigurationError,
    EndpointResponseError,
    MalformedOutputError,
)
from langgraph_gram.eval import prompts as P
from langgraph_gram.eval.checks import last_number
from langgraph_gram.eval.code import code_ran, make_scorer
from langgraph_gram.eval.datasets import EvalItem
from langgraph_gram.llm import LLMReply, StructuredLLM
from langgraph_gram.prompts import action_schema
from langgraph_gram.text import normalize_text
from langgraph_gram.toolbox import Toolbox

MAX_OBSERVATION_CHARS = 2000
"""Longest tool result a ``react`` step shows the model."""


@dataclass
class Outcome:
    """What one method produced for one item, and what it cost.

    Attributes:
        prediction: The final answer text.
        llm_calls: LLM calls spent.
        tool_calls: Tool calls made (searches included).
        prompt_tokens: Prompt tokens spent.
        completion_tokens: Completion tokens spent.
        tree: GRAM's tree (for checkers that read helper answers), else ``None``.
        detail: Method-specific facts (votes, steps, nodes, ``stopped_by``...).
    """

    prediction: str
    llm_calls: int = 0
    tool_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tree: dict[str, Any] | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def add(self, reply: LLMReply) -> None:
        """Count one reply's cost."""
        self.llm_calls += reply.calls
        self.prompt_tokens += reply.prompt_tokens
        self.completion_tokens += reply.completion_tokens


@dataclass
class MethodEnv:
    """What every method gets for one item.

    Attributes:
        model: The model (an endpoint or an adapted LangChain chat model).
        tools: The item's tools (a search over its passages, a calculator...), the same for
            every method.
        top_k: Passages per search.
        seed: Base sampling seed.
        budget: GRAM's default budget (a method's settings override it per run).
        chat: A LangChain chat model on the same endpoint, for the ``create_agent`` ReAct
            path (``None``: JSON actions only).
        shared: What the run's items share (the endpoint's tool-calling probe).
    """

    model: StructuredLLM
    tools: list[BaseTool]
    top_k: int = 4
    seed: int = 0
    budget: Budget = field(default_factory=Budget)
    chat: Any = None
    shared: dict[str, Any] = field(default_factory=dict)

    @property
    def retriever(self) -> BaseTool | None:
        """The search tool, when the item has passages."""
        for tool in self.tools:
            if (tool.metadata or {}).get("gram_kind") == "retriever":
                return tool
        return None


MethodFn = Callable[[EvalItem, MethodEnv, dict[str, Any]], Awaitable[Outcome]]
"""A method: ``await method(item, env, settings) -> Outcome``."""


def _messages(item: EvalItem, user: str) -> list[dict[str, str]]:
    system = P.BASELINE_SYSTEM.format(answer_form=P.ANSWER_FORMS[item.kind])
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


async def _passages(item: EvalItem, env: MethodEnv, outcome: Outcome) -> str:
    tool = env.retriever
    if tool is None:
        return ""
    observation = await Toolbox([tool]).call(tool.name, item.question)
    outcome.tool_calls += 1
    outcome.detail["retrieved"] = [p["id"] for p in observation.passages]
    return P.PASSAGES.format(passages=observation.output)


def _answer(reply: LLMReply) -> str:
    value = reply.data.get("answer", "")
    return value if isinstance(value, str) else str(value)


async def direct(item: EvalItem, env: MethodEnv, settings: dict[str, Any]) -> Outcome:
    """One call for the answer alone (after one search with the question, when searchable).

    Args:
        item: The item.
        env: Model and tools.
        settings: Unused.

    Returns:
        The outcome.
    """
    outcome = Outcome("")
    passages = await _passages(item, env, outcome)
    user = P.DIRECT_USER.format(passages=passages, question=item.question)
    reply = await env.model.generate_json(
        _messages(item, user), schema=P.ANSWER_ONLY_SCHEMA, schema_name="answer", temperature=0
    )
    outcome.add(reply)
    outcome.prediction = _answer(reply)
    return outcome


async def _cot_sample(
    item: EvalItem, env: MethodEnv, passages: str, *, temperature: float, seed: int | None
) -> LLMReply:
    user = P.COT_USER.format(passages=passages, question=item.question)
    return await env.model.generate_json(
        _messages(item, user),
        schema=P.COT_SCHEMA,
        schema_name="answer",
        temperature=temperature,
        seed=seed,
    )


async def cot(item: EvalItem, env: MethodEnv, settings: dict[str, Any]) -> Outcome:
    """Reasoning, then the answer, in one call (after one search, when searchable).

    Args:
        item: The item.
        env: Model and tools.
        settings: Unused.

    Returns:
        The outcome (``detail["reasoning"]`` holds the reasoning).
    """
    outcome = Outcome("")
    passages = await _passages(item, env, outcome)
    reply = await _cot_sample(item, env, passages, temperature=0, seed=None)
    outcome.add(reply)
    outcome.prediction = _answer(reply)
    outcome.detail["reasoning"] = str(reply.data.get("reasoning", ""))[:1000]
    return outcome


def vote_key(item: EvalItem, answer: str) -> str:
    """Return the form under which answers are counted as the same vote.

    Args:
        item: The item (its kind decides the normalisation).
        answer: One sampled answer.

    Returns:
        The last number for math, the text without spaces for expressions, letters and code,
        the normalised text (lower case, no punctuation or articles) otherwise.
    """
    if item.kind == "math":
        value = last_number(answer)  # read as the checker reads it
        return "" if value is None else str(value)
    if item.kind in ("game24", "letters", "code", "plan"):
        return "".join(answer.split()).lower()
    return normalize_text(answer)


async def self_consistency(item: EvalItem, env: MethodEnv, settings: dict[str, Any]) -> Outcome:
    """``k`` chain-of-thought samples, then a majority vote (ties go to the earliest sample).

    A sample with no answer in it (empty, or no number for a math item) abstains; it wins
    only when every sample abstains.

    Args:
        item: The item.
        env: Model and tools.
        settings: ``k`` (default 3) and ``temperature`` (default 0.7).

    Returns:
        The outcome (``detail["votes"]``: each distinct answer's count).
    """
    k = int(settings.get("k", 3))
    temperature = float(settings.get("temperature", 0.7))
    if k < 1:
        raise ConfigurationError(f"self_consistency needs k >= 1, got {k}")
    outcome = Outcome("")
    passages = await _passages(item, env, outcome)
    answers: list[str] = []
    failures: list[str] = []
    for n in range(k):  # one request at a time: each is a full prompt on a CPU server anyway
        try:
            reply = await _cot_sample(
                item, env, passages, temperature=temperature, seed=env.seed + 1000 * n + 1
            )
        except (MalformedOutputError, EndpointResponseError) as exc:
            # One unreadable sample (e.g. reasoning cut at max_tokens) is one lost vote, not a
            # lost item; its calls and tokens still count.
            outcome.llm_calls += getattr(exc, "calls", 1)
            outcome.prompt_tokens += getattr(exc, "prompt_tokens", 0)
            outcome.completion_tokens += getattr(exc, "completion_tokens", 0)
            failures.append(f"{type(exc).__name__}: {exc}"[:300])
            if len(failures) == k:
                raise
            continue
        outcome.add(reply)
        answers.append(_answer(reply))
    if failures:
        outcome.detail["failed_samples"] = failures
    counts = Counter(vote_key(item, a) for a in answers)
    if len(counts) > 1:
        counts.pop("", None)  # a sample with no answer in it is an abstention, not a vote
    best = max(counts.values())
    winner = next(a for a in answers if counts.get(vote_key(item, a)) == best)
    outcome.prediction = winner
    outcome.detail["votes"] = {vote_key(item, a): counts.get(vote_key(item, a), 0) for a in answers}
    outcome.detail["samples"] = answers
    return outcome


def _react_user(item: EvalItem, steps: Sequence[dict[str, Any]], instruction: str) -> str:
    shown = []
    for n, step in enumerate(steps, 1):
        output = step["output"]
        if len(output) > MAX_OBSERVATION_CHARS:
            output = output[:MAX_OBSERVATION_CHARS] + " […cut]"
        shown.append(
            P.REACT_STEP.format(
                n=n,
                reasoning=step["reasoning"],
                action=step["action"],
                input=step["input"],
                output=output,
            )
        )
    return P.REACT_USER.format(
        question=item.question, steps="".join(shown), instruction=instruction
    )


async def react(item: EvalItem, env: MethodEnv, settings: dict[str, Any]) -> Outcome:
    """Reason and act: one JSON tool step per call, the first one a tool call.

    The first step's schema offers only tools; a backend that ignores it gets the first tool
    called with the question (``detail["forced_first_tool"]``). A step that repeats an
    earlier call is asked again once with sampling (greedy decoding loops otherwise); a
    repeat that persists is not run again but answered with a note pointing at the earlier
    result.

    Without tools this is chain of thought (``detail["tools"]`` is then empty).

    Args:
        item: The item.
        env: Model and tools.
        settings: ``max_steps``, the most tool calls (default 5).

    Returns:
        The outcome (``detail["steps"]``: the actions taken).
    """
    if not env.tools:
        outcome = await cot(item, env, settings)
        outcome.detail["tools"] = []
        return outcome
    max_steps = int(settings.get("max_steps", 5))
    protocol = str(settings.get("protocol", "auto"))
    if protocol not in REACT_PROTOCOLS:
        raise ConfigurationError(
            f"react protocol must be one of {REACT_PROTOCOLS}, got {protocol!r}"
        )
    if protocol != "json" and await native_tool_calls(env):
        from langgraph_gram.eval.agent import run_agent

        result = await run_agent(item, env.chat, env.tools, max_steps=max_steps)
        return Outcome(
            result["prediction"],
            llm_calls=result["llm_calls"],
            tool_calls=result["tool_calls"],
            prompt_tokens=result["prompt_tokens"],
            completion_tokens=result["completion_tokens"],
            detail={
                "tools": [t.name for t in env.tools],
                "protocol": "native",
                "steps": result["steps"],
            },
            tree=code_ran(result["steps"]) if item.kind == "code" else None,
        )
    if protocol == "native":
        raise ConfigurationError(
            "react[protocol=native]: the endpoint returns no native tool calls (or "
            "langchain / langchain-openai are not installed); use protocol=auto or json"
        )
    toolbox = Toolbox(env.tools)
    system = P.REACT_SYSTEM.format(answer_form=P.ANSWER_FORMS[item.kind], tools=toolbox.describe())
    outcome = Outcome("", detail={"tools": toolbox.names, "protocol": "json"})
    steps: list[dict[str, Any]] = []
    for n in range(max_steps + 1):
        if n == 0:
            names, instruction = toolbox.names, P.REACT_FIRST
        elif n == max_steps:
            names, instruction = [], P.REACT_LAST
        else:
            names, instruction = [*toolbox.names, "answer"], P.REACT_NEXT
        schema = action_schema([x for x in names if x != "answer"])
        if n == 0:
            schema["properties"]["action"]["enum"] = list(toolbox.names)
        messages = [
            {"role": "system", "content": system},
            {"role": "user", "content": _react_user(item, steps, instruction)},
        ]
        for attempt in range(1 + RESAMPLE_REPEATS):
            # Greedy decoding repeats itself: a call identical to an earlier one is asked
            # again with sampling before it is let through.
            reply = await env.model.generate_json(
                messages,
                schema=schema,
                schema_name="action",
                temperature=0 if attempt == 0 else 0.8,
                seed=None if attempt == 0 else env.seed + 100 * n + attempt,
            )
            outcome.add(reply)
            action = str(reply.data.get("action", "answer"))
            text = str(reply.data.get("input", ""))
            if attempt == RESAMPLE_REPEATS or not any(
                (s["action"], s["input"]) == (action, text) for s in steps
            ):
                break
            outcome.detail["resampled"] = outcome.detail.get("resampled", 0) + 1
        if n == 0 and action not in toolbox.names:
            # A backend without grammar-constrained output may skip the tool anyway: search
            # with the question, so the baseline never answers unsearched.
            action, text = toolbox.names[0], item.question
            outcome.detail["forced_first_tool"] = True
        if action == "answer" or action not in toolbox.names or n == max_steps:
            outcome.prediction = text  # the last step answers, whatever a lax backend says
            break
        earlier = next(
            (i for i, s in enumerate(steps, 1) if (s["action"], s["input"]) == (action, text)),
            None,
        )
        if earlier is not None:  # the same call again: say so instead of repeating it
            output = P.REACT_REPEAT.format(step=earlier)
            outcome.detail["repeats"] = outcome.detail.get("repeats", 0) + 1
        else:
            output = (await toolbox.call(action, text)).output
            outcome.tool_calls += 1
        steps.append(
            {
                "reasoning": str(reply.data.get("reasoning", ""))[:300],
                "action": action,
                "input": text,
                "output": output,
            }
        )
    outcome.detail["steps"] = [{"action": s["action"], "input": s["input"]} for s in steps]
    if item.kind == "code":  # the checker may take the code it ran, as it does GRAM's nodes
        outcome.tree = code_ran(steps)
    return outcome


REACT_PROTOCOLS = ("auto", "native", "json")
"""``react[protocol=...]``: ``auto`` uses ``create_agent`` when the endpoint's tool calls work."""


async def native_tool_calls(env: MethodEnv) -> bool:
    """Tell whether ``react`` can run as a ``create_agent`` loop on this endpoint.

    The endpoint is asked once per run (:func:`~langgraph_gram.eval.agent.supports_tool_calls`)
    and the answer is kept in ``env.shared``.

    Args:
        env: The item's environment.

    Returns:
        Whether ``env.chat`` exists, ``langchain`` is installed and the probe saw a tool call.
    """
    if env.chat is None:
        return False
    lock = env.shared.setdefault("probe_lock", asyncio.Lock())
    async with lock:
        if "native_tool_calls" not in env.shared:
            try:
                import langchain.agents  # noqa: F401

                from langgraph_gram.eval.agent import supports_tool_calls
            except ImportError:
                env.shared["native_tool_calls"] = False
            else:
                env.shared["native_tool_calls"] = await supports_tool_calls(env.chat)
    return bool(env.shared["native_tool_calls"])


RESAMPLE_REPEATS = 1
"""How many times a ``react`` step that repeats an earlier call is asked again (sampled)."""

BUILD_SETTINGS = frozenset({"scorer"})
"""GRAM settings that shape the graph (the rest go into each run's context)."""

SCORERS = frozenset({"llm", "tests"})
"""Values of ``gram[scorer=...]``: an LLM judge, or (code items) the question's own checks."""


async def gram(item: EvalItem, env: MethodEnv, settings: dict[str, Any]) -> Outcome:
    """Run the recursive graph, with the item's tools and the given settings.

    Args:
        item: The item.
        env: Model, tools and the default budget.
        settings: Context fields (``max_depth``, ``width``, ``max_llm_calls``...) and build
            options (``scorer``: ``"llm"`` for an LLM judge, or ``"tests"`` for code items: a
            verifier that runs only the checks the question shows, see
            :func:`~langgraph_gram.eval.code.visible_program`).

    Returns:
        The outcome (``tree`` set; ``detail`` has ``nodes``, ``stopped_by``, ``citations``
        and a compact ``tree``: node id -> ``[question, answer]``, for failure analysis; with
        ``scorer=tests`` also ``scorer_calls``).

    Raises:
        ConfigurationError: ``scorer=tests`` on an item that is not code.
    """
    from langgraph_gram.graph import create_gram_graph

    build = {k: v for k, v in settings.items() if k in BUILD_SETTINGS}
    scored: list[dict[str, Any]] = []
    if build.get("scorer") == "tests":
        if item.kind != "code":
            raise ConfigurationError(f"scorer=tests checks code; item {item.id} is {item.kind}")
        build["scorer"] = make_scorer(item.meta, scored, visible_only=True)
    context = {k: v for k, v in settings.items() if k not in BUILD_SETTINGS}
    graph = create_gram_graph(env.model, tools=env.tools, budget=env.budget, **build)
    context.setdefault("seed", env.seed)
    # LangGraph turns a dict context into the graph's GramContext.
    result = await graph.ainvoke({"question": item.question}, context=cast(GramContext, context))
    usage = result.get("usage") or {}
    return Outcome(
        prediction=str(result.get("answer") or ""),
        llm_calls=int(usage.get("llm_calls", 0)),
        tool_calls=int(usage.get("tool_calls", 0)),
        prompt_tokens=int(usage.get("prompt_tokens", 0)),
        completion_tokens=int(usage.get("completion_tokens", 0)),
        tree=result.get("tree"),
        detail={
            "nodes": len(result.get("tree") or {}),
            "tree": {
                node_id: [node.get("question", ""), node.get("answer", "")]
                for node_id, node in sorted((result.get("tree") or {}).items())
            },
            "stopped_by": result.get("stopped_by"),
            "citations": [c.get("id") for c in result.get("citations") or []],
        }
        | ({"scorer_calls": scored} if scored else {}),
    )


METHOD_SETTINGS: dict[str, frozenset[str] | None] = {
    "direct": frozenset(),
    "cot": frozenset(),
    "self_consistency": frozenset({"k", "temperature"}),
    "react": frozenset({"max_steps", "protocol"}),
    "gram": None,  # GramContext fields and BUILD_SETTINGS, checked against GramContext
}
"""The settings each method accepts."""

METHODS: dict[str, MethodFn] = {
    "direct": direct,
    "cot": cot,
    "self_consistency": self_consistency,
    "react": react,
    "gram": gram,
}
"""The methods by name."""
