"""Build the GRAM graph: ``prepare -> controller <-> {decompose, solve, aggregate} -> finalize``.

The controller is the only node that decides. Each round it closes what it can, then fans the
ready work out with ``Send``; every worker reports back to it, and LangGraph runs the workers of
one round concurrently. The tree lives in state as plain data, so every round is a checkpoint.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import dataclasses
import functools
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph._internal._constants import CONFIG_KEY_CHECKPOINTER
from langgraph._internal._runnable import RunnableCallable
from langgraph.errors import GraphInterrupt
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command, Send, interrupt

from langgraph_gram.context import Budget, GramContext, Settings
from langgraph_gram.controller import advance_clock, fallback_answer, plan_round, stopped_by
from langgraph_gram.errors import ConfigurationError, InputError
from langgraph_gram.llm import as_structured_llm
from langgraph_gram.nodes import (
    MEMO_NAMESPACE,
    Scorer,
    Workers,
    accounted,
    emit,
    graph_fingerprint,
)
from langgraph_gram.prompts import DEFAULT_PROMPTS, Prompts
from langgraph_gram.review import apply_review, decision_problem, pending_reviews
from langgraph_gram.state import (
    RESET,
    ROOT_ID,
    GramInput,
    GramOutput,
    GramState,
    merge_hits,
    merge_tree,
    new_node,
)
from langgraph_gram.toolbox import Toolbox

STEPS_PER_ROUND = 2
"""LangGraph supersteps one controller round takes (controller, then its workers)."""


MIN_RECURSION_LIMIT = 4
"""The smallest ``recursion_limit`` a run accepts; a smaller one is refused with a
:class:`~langgraph_gram.errors.ConfigurationError`. At 4 or 5 the run only closes: it makes no
LLM call and answers "(no answer) (recursion_limit)"; from 6 on it makes its first round of
LLM calls (prepare, controller, workers, controller, finalize, with room kept for the workers)."""


def default_recursion_limit(budget: Budget) -> int:
    """Derive LangGraph's ``recursion_limit`` from a budget.

    Every round dispatches at least one task and every task spends at least one LLM call, so a
    run takes at most ``max_llm_calls`` rounds of LLM work plus the rounds that only close nodes
    (at most one per node). The controller also watches the limit itself, so a smaller limit
    passed by a caller (at least :data:`MIN_RECURSION_LIMIT`) ends the run with
    ``stopped_by="recursion_limit"``, never with ``GraphRecursionError``.

    Args:
        budget: The graph's budget.

    Returns:
        A limit that the budget can never reach, and at least :data:`RUN_OVERRIDE_LIMIT`, so
        a run whose ``context`` raises the budget is not cut by the build-time one.
    """
    return max(STEPS_PER_ROUND * (budget.max_llm_calls + budget.max_nodes) + 10, RUN_OVERRIDE_LIMIT)


RUN_OVERRIDE_LIMIT = 100_000
"""The least default ``recursion_limit``: the controller, not LangGraph, enforces the budgets."""


_SYNC_LOOP: asyncio.AbstractEventLoop | None = None
_SYNC_LOOP_LOCK = threading.Lock()


def _sync_loop() -> asyncio.AbstractEventLoop:
    """Return the one event loop (on a daemon thread) that runs nodes for ``graph.invoke``.

    One loop for every synchronous node, rather than a fresh ``asyncio.run`` per node, so the
    limits an endpoint keeps per loop (``max_concurrency``, the structured-mode probe) hold
    across the nodes LangGraph runs in parallel threads.
    """
    global _SYNC_LOOP
    with _SYNC_LOOP_LOCK:
        if _SYNC_LOOP is None or _SYNC_LOOP.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="gram-sync-loop", daemon=True).start()
            _SYNC_LOOP = loop
        return _SYNC_LOOP


def _run_sync(coro: Awaitable[Any]) -> Any:
    """Run a coroutine to completion from synchronous code (``graph.invoke``)."""
    loop = _sync_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:  # cannot block the loop on its own work: finish on a fresh loop
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, coro).result()  # type: ignore[arg-type]
    # Run it in the caller's context: LangGraph's config, runtime and stream writer live in
    # context variables of the thread that called the node.
    context = contextvars.copy_context()
    done: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def finish(task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            done.cancel()
        elif (error := task.exception()) is not None:
            done.set_exception(error)
        else:
            done.set_result(task.result())

    def start() -> None:
        loop.create_task(coro, context=context).add_done_callback(finish)  # type: ignore[arg-type]

    loop.call_soon_threadsafe(start)
    return done.result()


def _dual(afunc: Callable[..., Awaitable[Any]], name: str) -> RunnableCallable:
    """Make an async node usable from both ``ainvoke`` (natively) and ``invoke`` (on a loop)."""

    @functools.wraps(afunc)
    def func(*args: Any, **kwargs: Any) -> Any:
        return _run_sync(afunc(*args, **kwargs))

    return RunnableCallable(func, afunc, name=name)


def _ask_reviewer(asked: dict[str, Any]) -> Any:
    """Pause for a review; the ``review`` event goes out only when the run really pauses.

    A resumed run re-executes the controller, and ``interrupt`` then returns the decision: an
    event sent before it would announce the same review a second time.
    """
    try:
        return interrupt(asked)
    except GraphInterrupt:
        emit("review", **{k: v for k, v in asked.items() if k != "type"})
        raise


def _question_from(state: GramState) -> str:
    question = (state.get("question") or "").strip()
    if question:
        return question
    for message in reversed(state.get("messages") or []):
        if isinstance(message, HumanMessage) or getattr(message, "type", "") == "human":
            content = message.content
            if isinstance(content, list):
                content = " ".join(
                    part.get("text", "") if isinstance(part, dict) else str(part)
                    for part in content
                )
            if str(content).strip():
                return str(content).strip()
    raise InputError("the input has no question: pass {'question': ...} or a human message")


def build_gram_graph(
    model: Any,
    *,
    tools: Sequence[Any] | None = None,
    budget: Budget | None = None,
    width: int = 1,
    scorer: Scorer | str | None = None,
    prompts: Prompts | None = None,
    review_decompositions: bool = False,
    cache_answers: bool = False,
) -> StateGraph[GramState, GramContext, GramInput, GramOutput]:
    """Build the uncompiled GRAM ``StateGraph``, for callers who compile it themselves.

    Args:
        model: A LangChain ``BaseChatModel`` or an :class:`~langgraph_gram.OpenAIEndpoint`.
        tools: LangChain tools for the leaves. Retrievers marked ``gram_prefetch`` in their
            metadata run on every leaf's question first; any tool may then be called through
            the JSON action protocol, at most ``Budget.max_tool_calls`` times per leaf.
        budget: Limits of every run (defaults: :class:`Budget`). Runs may override fields
            through ``context=`` (:class:`GramContext`).
        width: Samples per leaf answer (1 = one deterministic trajectory).
        scorer: Scores candidate answers (a process reward): ``"llm"`` for an LLM judge (one
            call per candidate, 0 to 1 with a short reason), or a callable
            ``scorer(question, answer) -> float``, sync or async (e.g. a verifier that runs
            tests). The best-scored candidate wins; without a scorer, the most common
            normalised answer. When every candidate of a leaf scores below 0.5, the leaf is
            decomposed once instead, within the budget.
        prompts: Prompt templates (defaults: :data:`~langgraph_gram.prompts.DEFAULT_PROMPTS`).
        review_decompositions: Pause after each round that decomposed a node so a person can
            approve or edit the sub-problems (see :mod:`langgraph_gram.review`); needs a
            checkpointer (a run without one raises ``ConfigurationError`` at its first review).
        cache_answers: Cache leaf answers across runs in the LangGraph store the graph runs
            with (namespaced by model, endpoint, tools and prompts).

    Returns:
        The graph builder, with ``GramContext`` as its context schema.

    Raises:
        ConfigurationError: An argument is invalid.
    """
    if width < 1:
        raise ConfigurationError("width must be >= 1")
    if scorer is not None and scorer != "llm" and not callable(scorer):
        raise ConfigurationError(
            'scorer must be "llm" or a callable scorer(question, answer) -> float'
        )
    llm = as_structured_llm(model)
    prompts = prompts or DEFAULT_PROMPTS
    toolbox = Toolbox(list(tools)) if tools else None
    defaults = Settings(
        budget=budget or Budget(),
        width=width,
        tools=toolbox is not None,
        judge=scorer == "llm",
    )
    namespace = (*MEMO_NAMESPACE, graph_fingerprint(llm, toolbox, prompts))
    workers = Workers(llm, prompts, scorer, toolbox, namespace if cache_answers else None)

    def settings_for(runtime: Runtime[GramContext]) -> Settings:
        return defaults.apply(own_context(runtime.context))

    async def prepare(
        state: GramState, config: RunnableConfig, runtime: Runtime[GramContext]
    ) -> dict[str, Any]:
        settings_for(runtime)  # validate the run's overrides before any work starts
        question = _question_from(state)
        root = new_node(ROOT_ID, question)
        emit("node_created", node_id=ROOT_ID, parent=None, depth=0, question=question)
        step = (config.get("metadata") or {}).get("langgraph_step")
        return {
            # Read into the root: a later run on this thread must not find it again (a run
            # that stopped before finalize would otherwise answer its question twice).
            "question": "",
            "first_step": step if isinstance(step, int) else 0,
            "tree": {RESET: True, ROOT_ID: root},
            "usage": {
                RESET: True,
                "llm_calls": 0,
                "prompt_tokens": 0,
                "completion_tokens": 0,
                "rounds": 0,
                "tool_calls": 0,
                "by_role": {},
            },
            "budget_hits": [RESET],
            "stopped_by": None,
            "answer": "",
            "citations": [],
            "started_at": time.time(),
            "clock": {"active": 0.0, "mark": time.time(), "work": 0.0},
        }

    async def controller(
        state: GramState, config: RunnableConfig, runtime: Runtime[GramContext]
    ) -> Command:
        settings = settings_for(runtime)
        usage = state.get("usage") or {}
        now, work = time.time(), usage.get("work_seconds", 0.0)
        last = state.get("clock")
        if last is None:  # a checkpoint from before runs kept a clock: wall time, as then
            last = {"active": max(0.0, now - state.get("started_at", now)), "mark": now}
        clock = advance_clock({"work": work, **last}, now=now, work_seconds=work)
        elapsed = clock["active"]
        step = (config.get("metadata") or {}).get("langgraph_step")
        limit = config.get("recursion_limit")
        rounds_left = None
        if isinstance(limit, int) and limit < MIN_RECURSION_LIMIT:
            raise ConfigurationError(
                f"recursion_limit={limit} leaves no room to answer: a GRAM run needs at least "
                f"{MIN_RECURSION_LIMIT} supersteps (it derives its own limit from the budget; "
                "use the budget to make runs shorter)"
            )
        if isinstance(step, int) and isinstance(limit, int):
            # Leave room for this round's workers, the next controller pass and finalize.
            # LangGraph counts the limit from the run's start (a resume counts from its own
            # start, so this is on the safe side then).
            step -= state.get("first_step", 0)
            rounds_left = (limit - step - 3) // STEPS_PER_ROUND
        tree = state["tree"]
        reviewed: dict[str, Any] = {}
        if review_decompositions:
            reviews = pending_reviews(tree)
            if reviews:
                if not (config.get("configurable") or {}).get(CONFIG_KEY_CHECKPOINTER):
                    # Checked here, not at build time: LangGraph Platform attaches its
                    # checkpointer to the compiled graph later.
                    raise ConfigurationError(
                        "review_decompositions pauses the run for a person and resumes it from "
                        "a checkpoint: compile the graph with a checkpointer (create_gram_graph("
                        "..., checkpointer=InMemorySaver())) or run it where one is attached "
                        "(LangGraph Platform, `langgraph dev`)"
                    )
                asked: dict[str, Any] = {"type": "review_decompositions", "reviews": reviews}
                decision = _ask_reviewer(asked)
                while (problem := decision_problem(decision, reviews)) is not None:
                    # Ask again, saying why: the refused value stays recorded for this
                    # interrupt, so raising here would refuse every later resume too.
                    decision = _ask_reviewer({**asked, "error": problem})
                reviewed = apply_review(
                    tree,
                    reviews,
                    decision,
                    max_children=settings.budget.max_children,
                    max_nodes=settings.budget.max_nodes,
                )
                tree = merge_tree(tree, reviewed)
        plan = plan_round(tree, settings, usage, elapsed, prompts, rounds_left=rounds_left)
        settled: dict[str, Any] = {}
        settled_hits: list[str] = []
        while not plan.tasks and not plan.finished and plan.updates:
            # The round settled nodes without a call (memoized answers, closed branches): plan
            # again on the settled tree before deciding that nothing can move. Each pass
            # changes the tree, which is finite, so this ends.
            settled = merge_tree(settled, plan.updates)
            settled_hits += plan.hits
            following = merge_tree(tree, plan.updates)
            if following == tree:
                break
            tree = following
            plan = plan_round(tree, settings, usage, elapsed, prompts, rounds_left=rounds_left)
        if not plan.tasks and not plan.finished:
            # Nothing is ready: identical sub-problems in two branches may be waiting on each
            # other. Solve them anyway; if still nothing moves, close the tree.
            plan = plan_round(
                tree,
                settings,
                usage,
                elapsed,
                prompts,
                rounds_left=rounds_left,
                wait_for_twins=False,
            )
        if not plan.tasks and not plan.finished:
            plan = plan_round(tree, settings, usage, elapsed, prompts, force_stop="stalled")
        if settled:
            plan.updates = merge_tree(settled, plan.updates)
            plan.hits = [*settled_hits, *plan.hits]
        for task in plan.tasks:
            task["temperature"] = settings.temperature
            task["seed"] = settings.seed
        hits = merge_hits(state.get("budget_hits"), plan.hits)
        if plan.hits:
            emit("budget", hits=plan.hits, usage=usage)
        for node_id, node_update in plan.updates.items():
            if node_update.get("status") == "cut":
                emit("cut", node_id=node_id, reason=node_update.get("error"))
        update: dict[str, Any] = {
            "budget_hits": plan.hits,
            "stopped_by": stopped_by(hits),
            "usage": {"rounds": 1},
            "clock": clock,
        }
        tree_update = merge_tree(reviewed, plan.updates) if reviewed else plan.updates
        if tree_update:  # an unchanged tree is not written again (no new channel version)
            update["tree"] = tree_update
        # The round's work goes out as Sends straight from the command, not through state,
        # so checkpoints do not carry the task list twice.
        goto: list[Send] | str = [Send(t["kind"], t) for t in plan.tasks] or "finalize"
        return Command(update=update, goto=goto)

    async def finalize(state: GramState) -> dict[str, Any]:
        tree = state["tree"]
        root = tree[ROOT_ID]
        answer = root.get("answer") or ""
        if not answer and root.get("children"):
            answer = fallback_answer([tree[c] for c in root["children"]], "")
        if not answer:
            reason = state.get("stopped_by") or root.get("error") or "the model gave none"
            answer = f"{prompts.no_answer} ({reason})"
        citations = collect_citations(tree)
        emit("finished", answer=answer, stopped_by=state.get("stopped_by"), citations=citations)
        out: dict[str, Any] = {
            "answer": answer,
            "citations": citations,
            "question": "",
        }
        if state.get("messages"):
            content = answer
            if citations:
                content += "\n\nSources: " + "; ".join(
                    f"[{c['id']}] {c['title']}".strip() for c in citations
                )
            out["messages"] = [AIMessage(content=content, name="gram")]
        return out

    builder = StateGraph(
        GramState,
        context_schema=GramContext,
        input_schema=GramInput,
        output_schema=GramOutput,
    )
    nodes: dict[str, Callable[..., Awaitable[Any]]] = {
        "prepare": prepare,
        "controller": controller,
        "decompose": accounted(workers.decompose),
        "solve": accounted(workers.solve),
        "aggregate": accounted(workers.aggregate),
        "finalize": finalize,
    }
    for node_name, afunc in nodes.items():
        destinations = ("decompose", "solve", "aggregate", "finalize")
        builder.add_node(
            node_name,
            _dual(afunc, node_name),
            destinations=destinations if node_name == "controller" else None,
        )
    builder.add_edge(START, "prepare")
    builder.add_edge("prepare", "controller")
    for worker in ("decompose", "solve", "aggregate"):
        builder.add_edge(worker, "controller")
    builder.add_edge("finalize", END)
    return builder


def own_context(context: Any) -> GramContext | dict[str, Any] | None:
    """Keep a run's context only if it is GRAM's own.

    Added as a node of a parent graph, GRAM receives the parent's runtime context (LangGraph
    passes it down to subgraphs). A context that is not a :class:`GramContext` or a dict of
    its fields belongs to the parent and is ignored, so the parent's schema never breaks the
    run. (GRAM's own dict contexts reach the nodes as ``GramContext``: LangGraph builds it,
    and it rejects unknown keys.)

    Args:
        context: ``runtime.context``.

    Returns:
        The context to apply, or ``None``.
    """
    if isinstance(context, GramContext):
        return context
    names = {f.name for f in dataclasses.fields(GramContext)}
    if isinstance(context, dict) and set(context) <= names:
        return context
    return None


def collect_citations(tree: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    """Gather the sources of an answer: the citations of the leaves under the root, in order.

    Args:
        tree: The final tree.

    Returns:
        ``{"id", "title"}`` per cited passage, first citation first, without repeats.
    """
    out: list[dict[str, str]] = []
    stack = [ROOT_ID]
    while stack:
        node = tree.get(stack.pop(), {})
        for citation in node.get("citations") or []:
            if all(c["id"] != citation["id"] for c in out):
                out.append(citation)
        stack.extend(reversed(node.get("children", [])))
    return out


def create_gram_graph(
    model: Any,
    *,
    tools: Sequence[Any] | None = None,
    budget: Budget | None = None,
    width: int = 1,
    scorer: Scorer | str | None = None,
    checkpointer: Any = None,
    store: Any = None,
    name: str = "gram",
    prompts: Prompts | None = None,
    review_decompositions: bool = False,
    cache_answers: bool = False,
) -> CompiledStateGraph[GramState, GramContext, GramInput, GramOutput]:
    """Create a compiled GRAM graph.

    Example:
        ```python
        from langgraph_gram import Budget, create_gram_graph
        from langgraph_gram.endpoint import OpenAIEndpoint

        model = OpenAIEndpoint("http://127.0.0.1:8000/v1", "qwen2.5-coder-1.5b")
        graph = create_gram_graph(model, budget=Budget(max_depth=2))
        result = await graph.ainvoke({"question": "..."}, context={"max_llm_calls": 30})
        print(result["answer"], result["stopped_by"])
        ```

    Args:
        model: A LangChain ``BaseChatModel`` or an :class:`~langgraph_gram.OpenAIEndpoint`.
        tools: LangChain tools for the leaves (see :func:`build_gram_graph`).
        budget: Limits of every run; runs may override fields through ``context=``.
        width: Samples per leaf answer.
        scorer: Picks among sampled answers (see :func:`build_gram_graph`).
        checkpointer: A LangGraph checkpointer, for persistence and resume.
        store: A LangGraph store.
        name: The graph's name (shown when it is used as a node or a subgraph).
        prompts: Prompt templates.
        review_decompositions: Pause for a person to approve or edit each decomposition
            (see :mod:`langgraph_gram.review`); needs a checkpointer.
        cache_answers: Cache leaf answers across runs in ``store`` (see
            :func:`build_gram_graph`).

    Returns:
        The compiled graph, with a ``recursion_limit`` derived from the budget.
    """
    builder = build_gram_graph(
        model,
        tools=tools,
        budget=budget,
        width=width,
        scorer=scorer,
        prompts=prompts,
        review_decompositions=review_decompositions,
        cache_answers=cache_answers,
    )
    graph = builder.compile(checkpointer=checkpointer, store=store, name=name)
    return graph.with_config(recursion_limit=default_recursion_limit(budget or Budget()))
