"""The worker nodes: ``decompose``, ``solve`` and ``aggregate``.

Each worker receives one task from the controller (through ``Send``) holding only the context its
prompt may see, makes its LLM call(s) within the task's allowance, and reports node updates and
usage back. A worker never raises on bad model output: the node fails cleanly and the tree goes
on. Only an unreachable endpoint stops the run (with a typed error naming its URL); the
checkpoint keeps every finished node, so the run can be resumed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import inspect
import json
import time
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from langgraph.config import get_stream_writer
from langgraph.runtime import Runtime

from langgraph_gram.comparison import decide_comparison, names_option
from langgraph_gram.errors import EndpointResponseError, MalformedOutputError
from langgraph_gram.evidence import cite, prefetch_query
from langgraph_gram.llm import LLMReply, Message, StructuredLLM
from langgraph_gram.number_facts import number_facts
from langgraph_gram.plan_coverage import chain_plan, invented_numbers, plan_gaps
from langgraph_gram.prompts import (
    ANSWER_SCHEMA,
    DECOMPOSE_SCHEMA,
    JUDGE_SCHEMA,
    Prompts,
    action_schema,
)
from langgraph_gram.state import merge_usage, new_node
from langgraph_gram.subproblems import choose_plan, normalize_subproblems
from langgraph_gram.text import fill, match_key, restates
from langgraph_gram.toolbox import Observation, Toolbox, render_observations

T = TypeVar("T")

Scorer = Callable[[str, str], float | Awaitable[float]]
"""A step scorer: ``scorer(question, answer) -> float`` in [0, 1], sync or async."""

MEMO_NAMESPACE = ("langgraph_gram", "answers")
"""Prefix of the store namespace of cached leaf answers; the graph's fingerprint (model,
endpoint, tools, prompts) completes it, so graphs never share answers."""

REJECT_BELOW = 0.5
"""A scorer rejects a candidate whose score is below this."""

ONE_LOOKUP = "a step that asks one relation of one thing is solved directly, not split again"
"""Why a sub-plan for a one-lookup step below the root was refused (``rejected_plan``)."""


def _clamp(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return min(1.0, max(0.0, number))


def render_context(ctx: dict[str, Any], prompts: Prompts) -> str:
    """Render the context the controller selected for a node into prompt text.

    Args:
        ctx: ``root``, ``path`` and ``known`` as chosen by the controller.
        prompts: The prompt templates.

    Returns:
        The context block (empty for the root).
    """
    parts = []
    if ctx.get("root"):
        parts.append(fill(prompts.context_root, root=ctx["root"]))
    if ctx.get("path"):
        lines = "\n".join(f"{i}. {q}" for i, q in enumerate(ctx["path"], 1))
        parts.append(fill(prompts.context_path, path=lines))
    if ctx.get("known"):
        known = ctx["known"]
        lines = "\n".join(f"{i}. {k['question']} -> {k['answer']}" for i, k in enumerate(known, 1))
        parts.append(fill(prompts.context_known, known=lines))
        parts.append(facts_text([(k["question"], k["answer"]) for k in known], prompts))
    return "".join(parts)


def facts_text(answers: Sequence[tuple[str, str]], prompts: Prompts) -> str:
    """Render the exact order and differences of numeric answers, as a prompt line (or "").

    Args:
        answers: ``(question, answer)`` pairs a step sees.
        prompts: The prompt templates (``number_facts``; empty disables the line).

    Returns:
        The line, or "" when fewer than two answers are numbers.
    """
    if not prompts.number_facts:
        return ""
    facts = number_facts([a for _, a in answers], [q for q, _ in answers])
    return fill(prompts.number_facts, facts="; ".join(facts)) if facts else ""


def graph_fingerprint(llm: Any, toolbox: Toolbox | None, prompts: Prompts) -> str:
    """Identify what a cached answer depends on: model, endpoint, tools and prompts.

    Args:
        llm: The model backend.
        toolbox: The graph's tools.
        prompts: The graph's prompts.

    Returns:
        A short hex digest.
    """
    model = getattr(llm, "model", None)
    if not isinstance(model, str):  # a LangChain chat model wrapped by ChatModelAdapter
        inner = getattr(llm, "model", llm)
        model = (
            f"{type(inner).__name__}:{getattr(inner, 'model_name', getattr(inner, 'model', ''))}"
        )
    parts = {
        "model": model,
        "base_url": getattr(llm, "base_url", ""),
        "tools": sorted(toolbox.names) if toolbox else [],
        "prompts": dataclasses.asdict(prompts),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def usage_delta(role: str, calls: int, prompt_tokens: int, completion_tokens: int) -> dict:
    """Build a usage increment for one role.

    Args:
        role: ``decompose``, ``solve``, ``aggregate`` or ``score``.
        calls: LLM calls spent.
        prompt_tokens: Prompt tokens spent.
        completion_tokens: Completion tokens spent.

    Returns:
        An increment for the ``usage`` reducer.
    """
    counts = {
        "llm_calls": calls,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
    }
    return {**counts, "by_role": {role: dict(counts)}}


def spent_usage(role: str, results: Sequence[object]) -> dict:
    """Build the usage increment of a batch of calls, the failed ones included.

    A reply counts its calls (repair retries included) and tokens; a failure counts what it
    carries (``calls``, ``prompt_tokens``, ``completion_tokens``), or one call when it carries
    nothing (the server answered with an error), or none for a timeout. So a budget is charged
    for every request made, answered or not.

    Args:
        role: ``decompose``, ``solve``, ``aggregate`` or ``score``.
        results: Replies and exceptions, as ``asyncio.gather(..., return_exceptions=True)``
            returns them.

    Returns:
        An increment for the ``usage`` reducer.
    """
    return usage_delta(
        role,
        sum(getattr(r, "calls", 0 if isinstance(r, TimeoutError) else 1) for r in results),
        sum(getattr(r, "prompt_tokens", 0) for r in results),
        sum(getattr(r, "completion_tokens", 0) for r in results),
    )


def charged(exc: BaseException, usage: dict[str, Any]) -> BaseException:
    """Make a worker's failure carry everything its attempts cost, for :meth:`Workers._failure`.

    Args:
        exc: The failure to raise.
        usage: What all of the worker's attempts cost (a ``usage`` increment).

    Returns:
        ``exc``, with ``calls``, ``prompt_tokens`` and ``completion_tokens`` set to the totals.
    """
    exc.calls = usage["llm_calls"]  # type: ignore[attr-defined]
    exc.prompt_tokens = usage["prompt_tokens"]  # type: ignore[attr-defined]
    exc.completion_tokens = usage["completion_tokens"]  # type: ignore[attr-defined]
    return exc


def accounted(
    worker: Callable[..., Awaitable[dict[str, Any]]],
) -> Callable[..., Awaitable[dict[str, Any]]]:
    """Add per-node timing and tokens to what a worker reports about its node.

    The node accumulates ``seconds`` (wall time of its workers), ``prompt_tokens`` and
    ``completion_tokens`` over all its calls, and keeps ``started_at`` / ``finished_at``
    (epoch seconds) of its first and last work; the trace viewer shows them. The run's usage
    gains the worker's seconds as ``work_seconds`` (the controller's clock reads it).

    Args:
        worker: A worker coroutine taking the controller's task first.

    Returns:
        The wrapped worker (same signature, so LangGraph still injects ``runtime``).
    """

    @functools.wraps(worker)
    async def wrapper(task: dict[str, Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        started, wall = time.monotonic(), time.time()
        if task.get("seconds_left") is not None:  # one deadline for all of the worker's calls
            task = {**task, "deadline": started + max(0.01, task["seconds_left"])}
        result = await worker(task, *args, **kwargs)
        spent = time.monotonic() - started
        usage = {**(result.get("usage") or {}), "work_seconds": round(spent, 3)}
        result = {**result, "usage": usage}
        update = (result.get("tree") or {}).get(task["node_id"])
        if update is not None:
            before = task.get("node_stats") or {}
            update["seconds"] = round(before.get("seconds", 0.0) + spent, 3)
            update["prompt_tokens"] = before.get("prompt_tokens", 0) + usage.get("prompt_tokens", 0)
            update["completion_tokens"] = before.get("completion_tokens", 0) + usage.get(
                "completion_tokens", 0
            )
            update["started_at"] = before.get("started_at") or wall
            update["finished_at"] = time.time()
        return result

    return wrapper


async def within_deadline(task: dict[str, Any], work: Awaitable[T]) -> T:
    """Await ``work``, cut at the worker's deadline (the run's ``max_seconds``), if it has one.

    Args:
        task: The controller's task, with ``deadline`` (monotonic seconds) set by
            :func:`accounted` when the run has a time budget.
        work: A model or tool call.

    Returns:
        What ``work`` returns.

    Raises:
        TimeoutError: The deadline passed first.
    """
    deadline = task.get("deadline")
    if deadline is None:
        return await work
    return await asyncio.wait_for(work, timeout=max(0.01, deadline - time.monotonic()))


def emit(event: str, **data: Any) -> None:
    """Send a custom stream event (``stream_mode="custom"``); a no-op outside a stream.

    Args:
        event: The event name (see the README's event schema).
        **data: The event's fields.
    """
    try:
        writer = get_stream_writer()
    except Exception:  # outside a runnable context
        return
    writer({"event": event, **data})


class Workers:
    """The three worker nodes, bound to one model, prompt set and optional scorer."""

    def __init__(
        self,
        llm: StructuredLLM,
        prompts: Prompts,
        scorer: Scorer | str | None = None,
        toolbox: Toolbox | None = None,
        cache_namespace: tuple[str, ...] | None = None,
    ) -> None:
        """Bind the workers.

        Args:
            llm: The model backend.
            prompts: Prompt templates.
            scorer: Picks among sampled answers: a callable ``scorer(question, answer)``, or
                ``"llm"`` for an LLM judge (one call per candidate, from the budget).
            toolbox: Tools the leaves may use.
            cache_namespace: Store namespace for cross-run answer caching, or ``None`` to
                cache nothing across runs.
        """
        self.llm = llm
        self.prompts = prompts
        self.judge = scorer == "llm"
        self.scorer = None if isinstance(scorer, str) else scorer
        self.toolbox = toolbox if toolbox and toolbox.tools else None
        self.cache_namespace = cache_namespace
        # One system message for every call of the graph (the server's prefix cache reuses it).
        self.system = prompts.system
        if self.toolbox is not None:
            self.system += "\n\n" + fill(prompts.act_section, tools=self.toolbox.describe())

    async def _call(
        self,
        task: dict[str, Any],
        messages: list[Message],
        schema: dict,
        *,
        sample: int = 0,
        max_calls: int | None = None,
    ) -> LLMReply:
        seed = task.get("seed", 0) + zlib.crc32(task["node_id"].encode()) % 100_000 + sample
        temperature = task.get("temperature")
        if task.get("samples", 1) > 1:
            temperature = max(temperature or 0.0, 0.7)
        elif temperature is None:
            temperature = 0.0  # one trajectory: the deterministic one
        coro = self.llm.generate_json(
            messages,
            schema=schema,
            schema_name=task["kind"],
            temperature=temperature,
            seed=seed,
            max_calls=max_calls or task["calls"],
        )
        return await within_deadline(task, coro)

    def _failure(self, task: dict, role: str, exc: BaseException) -> tuple[dict, dict, list]:
        """Turn a worker failure into a node update, a usage increment and budget hits."""
        calls = getattr(exc, "calls", 1 if not isinstance(exc, TimeoutError) else 0)
        usage = usage_delta(
            role, calls, getattr(exc, "prompt_tokens", 0), getattr(exc, "completion_tokens", 0)
        )
        if isinstance(exc, TimeoutError):
            return {"status": "cut", "error": "max_seconds reached"}, usage, ["max_seconds"]
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:500]}, usage, []

    async def decompose(self, task: dict[str, Any]) -> dict[str, Any]:
        """Ask the model to split a node, or to call it atomic; create the children.

        Args:
            task: The controller's task (``node_id``, ``context``, ``max_children``, ``calls``).

        Returns:
            State updates: the node (and its new children), usage and budget hits.
        """
        ctx, node_id = task["context"], task["node_id"]
        limit = task["max_children"]
        messages: list[Message] = [
            {"role": "system", "content": self.system},
            {
                "role": "user",
                "content": fill(
                    self.prompts.decompose_user,
                    max_children=str(limit),
                    context=render_context(ctx, self.prompts),
                    note=self.prompts.subplan_note if task["node_depth"] > 0 else "",
                    question=ctx["question"],
                ),
            },
        ]
        samples = task.get("samples", 1)
        per_sample = max(1, task["calls"] // samples)
        replies, errors = await self._sample(
            task, messages, range(samples), per_sample, DECOMPOSE_SCHEMA
        )
        usage = spent_usage("decompose", [*replies, *errors])
        if not replies:
            update, _, hits = self._failure(task, "decompose", errors[0])
            if update["status"] == "failed":
                # Could not decompose: solve it directly instead.
                update = {"atomic": True, "error": update["error"]}
            emit("failed", node_id=node_id, role="decompose", error=update.get("error"))
            return {"tree": {node_id: update}, "usage": usage, "budget_hits": hits}
        plans = [
            normalize_subproblems(
                r.data,
                parent_question=ctx["question"],
                limit=limit,
                known_questions=task.get("known_questions", ()),
            )
            for r in replies
        ]
        chosen, plan_candidates = choose_plan([items for items, _ in plans])
        items, cut = plans[chosen]
        if items and task.get("one_lookup"):
            # A sub-problem that asks one relation of one thing is one lookup: a sub-plan for
            # it only adds detours, whatever it says (and is not re-planned either).
            items, cut, rejected = [], 0, ONE_LOOKUP
        else:
            replan = await self._close_plan_gaps(task, messages, replies[chosen], items, usage)
            if replan is not None:
                items, cut = replan
                plan_candidates = []
            items, cut, rejected = self._without_guesses(ctx, items, cut, plans)
        if rejected:
            plan_candidates = []
            emit("plan_rejected", node_id=node_id, reason=rejected)
        calls_spent = usage["llm_calls"]
        hits = [task.get("cut_by", "max_children")] if cut else []
        parent = task["node_depth"]
        if not items:
            emit("decomposed", node_id=node_id, children=[], atomic=True)
            node = {"atomic": True, "llm_calls": task.get("node_calls", 0) + calls_spent}
            if rejected:
                node["rejected_plan"] = rejected
            return {"tree": {node_id: node}, "usage": usage, "budget_hits": hits}
        updates: dict[str, dict[str, Any]] = {}
        child_ids = [f"{node_id}.{i}" for i in range(1, len(items) + 1)]
        for i, (question, deps) in enumerate(items):
            updates[child_ids[i]] = new_node(
                child_ids[i],
                question,
                parent=node_id,
                depth=parent + 1,
                index=i + 1,
                depends_on=[child_ids[j] for j in deps],
            )
        if len(plan_candidates) > 1:
            updates.setdefault(node_id, {})["plan_candidates"] = plan_candidates
        updates[node_id] = {
            **updates.get(node_id, {}),
            "status": "expanded",
            "kind": "internal",
            "children": child_ids,
            "llm_calls": task.get("node_calls", 0) + calls_spent,
        }
        emit(
            "decomposed",
            node_id=node_id,
            children=[{"id": c, "question": updates[c]["question"]} for c in child_ids],
            cut=cut,
        )
        return {"tree": updates, "usage": usage, "budget_hits": hits}

    def _without_guesses(
        self,
        ctx: dict[str, Any],
        items: list[tuple[str, list[int]]],
        cut: int,
        plans: Sequence[tuple[list[tuple[str, list[int]]], int]],
    ) -> tuple[list[tuple[str, list[int]]], int, str]:
        """Refuse a plan that states numbers nothing gave it (a guessed answer, a sum).

        Another sampled plan without such numbers is used when there is one; otherwise the
        node is solved directly (no plan), which every budget allows.

        Returns:
            ``(items, cut, reason)``; ``reason`` is "" when the plan was kept.
        """
        if not items:
            return items, cut, ""
        given = "\n".join([ctx["question"], render_context(ctx, self.prompts)])
        invented = invented_numbers([q for q, _ in items], given)
        if not invented:
            return items, cut, ""
        reason = "the plan stated numbers it was not given: " + ", ".join(invented)
        for other, other_cut in plans:
            if other and not invented_numbers([q for q, _ in other], given):
                return other, other_cut, reason + " (another sampled plan was used)"
        return [], 0, reason

    async def _close_plan_gaps(
        self,
        task: dict[str, Any],
        messages: list[Message],
        reply: LLMReply,
        items: list[tuple[str, list[int]]],
        usage: dict[str, Any],
    ) -> tuple[list[tuple[str, list[int]]], int] | None:
        """Re-plan once when the plan drops a relation its question names.

        A question that is one chain of relations ending in a name gets the chain's plan
        written for it (:func:`~langgraph_gram.plan_coverage.chain_plan`, no call). Otherwise
        the model is asked again, only when a call of the task's reservation is left, so it
        never exceeds the budget; the new plan is kept only when it misses fewer relations.
        ``usage`` is updated in place with what the call cost.

        Returns:
            The new ``(items, cut)``, or ``None`` to keep the plan.
        """
        ctx = task["context"]
        gaps = plan_gaps(ctx["question"], [q for q, _ in items]) if items else []
        if not gaps:
            return None
        written = chain_plan(ctx["question"])
        if written and not plan_gaps(ctx["question"], [q for q, _ in written]):
            chained = normalize_subproblems(
                {"subproblems": [{"question": q, "depends_on": d} for q, d in written]},
                parent_question=ctx["question"],
                limit=task["max_children"],
                known_questions=task.get("known_questions", ()),
            )
            if len(chained[0]) == len(written):  # nothing dropped or cut
                emit("replanned", node_id=task["node_id"], missing=gaps, by="chain")
                return chained
        calls_left = task["calls"] - usage["llm_calls"]
        if calls_left < 1 or not self.prompts.plan_gap:
            return None
        retry = [
            *messages,
            {"role": "assistant", "content": json.dumps(reply.data, ensure_ascii=False)},
            {
                "role": "user",
                "content": fill(
                    self.prompts.plan_gap,
                    missing=", ".join(gaps),
                    max_children=str(task["max_children"]),
                ),
            },
        ]
        sample = task.get("samples", 1)
        result = await self._sample(
            task, retry, range(sample, sample + 1), calls_left, DECOMPOSE_SCHEMA
        )
        cost = spent_usage("decompose", [*result[0], *result[1]])["by_role"]["decompose"]
        for counts in (usage, usage["by_role"]["decompose"]):
            for key, value in cost.items():
                counts[key] += value
        emit("replanned", node_id=task["node_id"], missing=gaps, by="model")
        if not result[0]:
            return None
        new_items, cut = normalize_subproblems(
            result[0][0].data,
            parent_question=ctx["question"],
            limit=task["max_children"],
            known_questions=task.get("known_questions", ()),
        )
        still = plan_gaps(ctx["question"], [q for q, _ in new_items])
        if len(new_items) < 2 or len(still) >= len(gaps):
            return None
        return new_items, cut

    async def _sample(
        self,
        task: dict[str, Any],
        messages: list[Message],
        indices: range,
        per_sample: int,
        schema: dict[str, Any] = ANSWER_SCHEMA,
    ) -> tuple[list[LLMReply], list[BaseException]]:
        results = await asyncio.gather(
            *(self._call(task, messages, schema, sample=i, max_calls=per_sample) for i in indices),
            return_exceptions=True,
        )
        replies = [r for r in results if isinstance(r, LLMReply)]
        errors = [r for r in results if not isinstance(r, LLMReply)]
        for err in errors:
            if not isinstance(err, MalformedOutputError | EndpointResponseError | TimeoutError):
                raise err
        return replies, errors

    async def _answer(
        self, task: dict[str, Any], messages: list[Message], role: str
    ) -> dict[str, Any]:
        """Sample answers (width), halt early on agreement, score, and pick one.

        With ``samples`` > 1 the first ``halt_after`` samples run concurrently; if they agree
        (normalised), sampling stops there, so easy nodes cost two calls and only disputed ones
        get the full width. A scorer (callable or LLM judge) then scores every candidate; when
        it rejects them all (best score below :data:`REJECT_BELOW`) and the node may still be
        split, it goes back to ``pending`` to be decomposed once instead.
        """
        node_id = task["node_id"]
        samples = task.get("samples", 1)
        ctx = task["context"]
        answer_calls = max(1, task["calls"] - task.get("judge_calls", 0))
        if samples <= 1:
            replies, errors = await self._sample(task, messages, range(1), answer_calls)
        else:
            per_sample = max(1, answer_calls // samples)
            halt = task.get("halt_after", 2)
            first = samples if halt < 2 else min(samples, halt)
            replies, errors = await self._sample(task, messages, range(first), per_sample)
            agreed = (
                len(replies) == first
                and len({match_key(r.data.get("answer", "")) for r in replies}) == 1
            )
            if not agreed and first < samples:
                more, more_errors = await self._sample(
                    task, messages, range(first, samples), per_sample
                )
                replies += more
                errors += more_errors
        usage = spent_usage(role, [*replies, *errors])
        if not replies:
            raise charged(errors[0], usage)
        kept = [r for r in replies if not restates(str(r.data.get("answer", "")), ctx["question"])]
        if not kept:
            raise charged(
                MalformedOutputError(
                    "every answer restated the question instead of answering it",
                    text=str(replies[0].data.get("answer", "")),
                ),
                usage,
            )
        replies = kept
        answers = [str(r.data.get("answer", "")).strip() for r in replies]
        reasons = [str(r.data.get("reasoning", "")).strip() for r in replies]
        chosen, candidates, judge_usage = await self._select(task, ctx, answers)
        if judge_usage:
            usage = merge_usage(usage, judge_usage)
        update: dict[str, Any] = {
            "status": "done",
            "answer": answers[chosen],
            "reasoning": reasons[chosen],
            "llm_calls": task.get("node_calls", 0) + usage["llm_calls"],
            "error": None,
        }
        if len(candidates) > 1 or candidates[0]["score"] is not None:
            update["candidates"] = candidates
        best = candidates[chosen]["score"]
        if best is not None and best < REJECT_BELOW and task.get("can_redecompose"):
            update.update(
                status="pending",
                answer="",
                atomic=False,
                redecomposed=True,
                error=f"every candidate rejected by the scorer (best {best:.2f})",
            )
            emit("rejected", node_id=node_id, candidates=candidates)
            return {"tree": {node_id: update}, "usage": usage}
        if not update["answer"]:
            update.update(status="failed", error="empty answer")
        emit(
            "solved" if role == "solve" else "aggregated",
            node_id=node_id,
            answer=update["answer"],
            candidates=len(candidates),
        )
        return {"tree": {node_id: update}, "usage": usage}

    async def _judge(self, task: dict[str, Any], ctx: dict[str, Any], answer: str) -> LLMReply:
        messages: list[Message] = [
            {"role": "system", "content": self.system},
            {
                "role": "user",
                "content": fill(
                    self.prompts.judge_user,
                    context=render_context(ctx, self.prompts),
                    question=ctx["question"],
                    answer=answer,
                ),
            },
        ]
        return await self._call(
            {**task, "samples": 1, "kind": "judge"}, messages, JUDGE_SCHEMA, max_calls=1
        )

    async def _select(
        self, task: dict[str, Any], ctx: dict[str, Any], answers: list[str]
    ) -> tuple[int, list[dict[str, Any]], dict[str, Any] | None]:
        """Score the candidates (scorer or LLM judge) and pick the best, else the most voted."""
        votes = Counter(match_key(a) for a in answers)
        scores: list[float | None] = [None] * len(answers)
        reasons: list[str | None] = [None] * len(answers)
        judge_usage = None
        if self.judge and task.get("judge_calls", 0) >= len(answers):
            results = await asyncio.gather(
                *(self._judge(task, ctx, a) for a in answers), return_exceptions=True
            )
            for result in results:  # a model's failure loses a score; anything else is raised
                if not isinstance(result, LLMReply | MalformedOutputError | EndpointResponseError):
                    if not isinstance(result, TimeoutError):
                        raise result
            done = [r for r in results if isinstance(r, LLMReply)]
            judge_usage = spent_usage("score", results)
            for i, result in enumerate(results):
                if isinstance(result, LLMReply):
                    scores[i] = _clamp(result.data.get("score"))
                    reasons[i] = str(result.data.get("reason", ""))[:300]
            if not done:
                scores = [None] * len(answers)
        elif self.scorer is not None:
            scorer = self.scorer
            for i, answer in enumerate(answers):
                value: Any
                if inspect.iscoroutinefunction(scorer) or inspect.iscoroutinefunction(
                    getattr(scorer, "__call__", None)  # noqa: B004 - an async callable object
                ):
                    value = scorer(ctx["question"], answer)
                else:  # a plain function may block (a verifier running tests): off the loop
                    value = await asyncio.to_thread(scorer, ctx["question"], answer)
                if inspect.isawaitable(value):
                    value = await value
                scores[i] = _clamp(value)
        candidates = [
            {"answer": a, "votes": votes[match_key(a)], "score": s} | ({"reason": r} if r else {})
            for a, s, r in zip(answers, scores, reasons, strict=True)
        ]
        if any(score is not None for score in scores):
            best = max(
                range(len(answers)),
                key=lambda i: (scores[i] or 0.0, votes[match_key(answers[i])], -i),
            )
        else:
            best = max(range(len(answers)), key=lambda i: (votes[match_key(answers[i])], -i))
        return best, candidates, judge_usage

    async def solve(self, task: dict[str, Any], runtime: Runtime | None = None) -> dict[str, Any]:
        """Answer an atomic node directly.

        With ``cache_answers=True`` and a LangGraph ``store``, answers are also cached across
        runs under the graph's own namespace, keyed by the sub-problem's normalised question
        and dependency answers: a leaf answered in an earlier run costs no call.

        Args:
            task: The controller's task (``node_id``, ``context``, ``calls``, ``samples``).
            runtime: LangGraph's runtime (for the store), injected by LangGraph.

        Returns:
            State updates: the node's answer and usage.
        """
        store = getattr(runtime, "store", None) if self.cache_namespace else None
        namespace = self.cache_namespace or MEMO_NAMESPACE
        key = task.get("store_key") or task.get("memo_key")
        if store is not None and key:
            item = await store.aget(namespace, key)
            if item is not None and item.value.get("answer"):
                emit("solved", node_id=task["node_id"], answer=item.value["answer"], cached=True)
                return {
                    "tree": {
                        task["node_id"]: {
                            "status": "done",
                            "answer": item.value["answer"],
                            "reasoning": item.value.get("reasoning", ""),
                            "citations": item.value.get("citations", []),
                            "memo_of": "store",
                            "error": None,
                        }
                    }
                }
        result = await self._solve(task)
        node = result["tree"][task["node_id"]]
        if store is not None and key and node.get("status") == "done" and node.get("answer"):
            value = {k: node[k] for k in ("answer", "reasoning", "citations") if k in node}
            await store.aput(namespace, key, value)
        return result

    async def _solve(self, task: dict[str, Any]) -> dict[str, Any]:
        if self.toolbox is not None:
            return await self._solve_with_tools(task)
        ctx = task["context"]
        messages = self._solve_messages(ctx, "")
        try:
            return await self._answer(task, messages, "solve")
        except (MalformedOutputError, EndpointResponseError, TimeoutError) as exc:
            update, usage, hits = self._failure(task, "solve", exc)
            emit("failed", node_id=task["node_id"], role="solve", error=update.get("error"))
            update["answer"] = ""
            return {"tree": {task["node_id"]: update}, "usage": usage, "budget_hits": hits}

    def _solve_messages(self, ctx: dict[str, Any], observations: str) -> list[Message]:
        return [
            {"role": "system", "content": self.system},
            {
                "role": "user",
                "content": fill(
                    self.prompts.solve_user,
                    context=render_context(ctx, self.prompts),
                    observations=observations,
                    question=ctx["question"],
                ),
            },
        ]

    async def _solve_with_tools(self, task: dict[str, Any]) -> dict[str, Any]:
        """Answer a leaf with tools: prefetch, then a bounded act loop, then a forced answer.

        The loop takes at most ``task["tool_steps"]`` model-chosen tool calls and always keeps
        one call back for the answer, so the leaf ends within its allowance whatever the model
        does (repeating a call, naming an unknown tool, never answering).
        """
        assert self.toolbox is not None
        toolbox = self.toolbox
        ctx, node_id = task["context"], task["node_id"]
        question = ctx["question"]
        query = prefetch_query(question, ctx.get("known") or [])
        observations: list[Observation] = []
        spent = {"calls": 0, "prompt": 0, "completion": 0}
        calls_left, steps_left = task["calls"], task.get("tool_steps", 0)
        schema = action_schema(toolbox.names)
        answer: str | None = None
        reasoning = ""
        made: list[dict[str, Any]] = []

        def account(reply: LLMReply) -> None:
            spent["calls"] += reply.calls
            spent["prompt"] += reply.prompt_tokens
            spent["completion"] += reply.completion_tokens

        try:
            for tool in toolbox.prefetch:
                observations.append(await within_deadline(task, toolbox.call(tool.name, query)))
            while answer is None and steps_left > 0 and calls_left > 1:
                observed = render_observations(observations, self.prompts.observation)
                messages: list[Message] = [
                    {"role": "system", "content": self.system},
                    {
                        "role": "user",
                        "content": fill(
                            self.prompts.act_user,
                            context=render_context(ctx, self.prompts),
                            observations=observed,
                            question=question,
                        ),
                    },
                ]
                reply = await self._call(task, messages, schema, max_calls=1)
                account(reply)
                calls_left -= reply.calls
                action = str(reply.data.get("action", "answer"))
                value = str(reply.data.get("input", "")).strip()
                if action not in toolbox.tools:
                    if not restates(value, question):  # else: ask for the answer below
                        answer, reasoning = value, str(reply.data.get("reasoning", ""))
                    break
                if any(o.tool == action and o.input == value for o in observations):
                    break  # the same call again: answer from what is known
                observations.append(await within_deadline(task, toolbox.call(action, value)))
                made.append({"tool": action, "input": value, "error": observations[-1].error})
                emit("tool", node_id=node_id, tool=action, input=value)
                steps_left -= 1
            if task.get("samples", 1) > 1 or task.get("judge_calls", 0):
                return await self._sample_with_observations(
                    task, observations, made, spent, calls_left
                )
            if not answer:
                observed = render_observations(observations, self.prompts.observation)
                reply = await self._call(
                    task, self._solve_messages(ctx, observed), ANSWER_SCHEMA, max_calls=calls_left
                )
                account(reply)
                answer = str(reply.data.get("answer", "")).strip()
                reasoning = str(reply.data.get("reasoning", "")).strip()
                if restates(answer, question):
                    answer = ""  # a question is not an answer: the node fails visibly
        except (MalformedOutputError, EndpointResponseError, TimeoutError) as exc:
            update, usage, hits = self._failure(task, "solve", exc)
            usage = merge_usage(
                usage, usage_delta("solve", spent["calls"], spent["prompt"], spent["completion"])
            )
            update.update(answer="", tool_calls=made)
            emit("failed", node_id=node_id, role="solve", error=update.get("error"))
            return {
                "tree": {node_id: update},
                "usage": {**usage, "tool_calls": len(made) + len(toolbox.prefetch)},
                "budget_hits": hits,
            }
        usage = usage_delta("solve", spent["calls"], spent["prompt"], spent["completion"])
        usage["tool_calls"] = len(made) + len(toolbox.prefetch)
        update = {
            "status": "done" if answer else "failed",
            "answer": answer,
            "reasoning": reasoning,
            "llm_calls": task.get("node_calls", 0) + spent["calls"],
            "error": None if answer else "empty answer",
            "tool_calls": made,
            "citations": cite(answer, observations, question),
        }
        emit("solved", node_id=node_id, answer=answer, citations=update["citations"])
        return {"tree": {node_id: update}, "usage": usage}

    async def _sample_with_observations(
        self,
        task: dict[str, Any],
        observations: list[Observation],
        made: list[dict[str, Any]],
        spent: dict[str, int],
        calls_left: int,
    ) -> dict[str, Any]:
        """Finish a tool-using leaf with width: sample its answer from what the tools returned.

        The act loop gathered the observations; the answer is then sampled, voted and scored
        like a tool-less leaf's (:meth:`_answer`), within the calls the leaf has left.
        """
        ctx, node_id = task["context"], task["node_id"]
        judges = task.get("judge_calls", 0)
        samples = max(1, min(task.get("samples", 1), calls_left - judges))
        observed = render_observations(observations, self.prompts.observation)
        result = await self._answer(
            {**task, "calls": max(1, calls_left), "samples": samples},
            self._solve_messages(ctx, observed),
            "solve",
        )
        update = result["tree"][node_id]
        update["tool_calls"] = made
        update["llm_calls"] = update.get("llm_calls", 0) + spent["calls"]
        if update.get("answer"):
            update["citations"] = cite(update["answer"], observations, ctx["question"])
        usage = merge_usage(
            result["usage"],
            usage_delta("solve", spent["calls"], spent["prompt"], spent["completion"]),
        )
        usage["tool_calls"] = len(made) + len(self.toolbox.prefetch if self.toolbox else [])
        return {**result, "usage": usage}

    async def aggregate(self, task: dict[str, Any]) -> dict[str, Any]:
        """Combine a node's children's answers into its own.

        Args:
            task: The controller's task (``node_id``, ``context`` with ``children``, ``calls``).

        Returns:
            State updates: the node's answer and usage. When the call fails, the node is marked
            failed and keeps the answer of its last answered child.
        """
        ctx = task["context"]
        children = "\n".join(
            f"{i}. {c['question']} -> {c['answer']}" for i, c in enumerate(ctx["children"], 1)
        )
        facts = facts_text([(c["question"], c["answer"]) for c in ctx["children"]], self.prompts)
        if facts:
            children += "\n" + facts.rstrip("\n")
        messages: list[Message] = [
            {"role": "system", "content": self.system},
            {
                "role": "user",
                "content": fill(
                    self.prompts.aggregate_user,
                    context=render_context(ctx, self.prompts),
                    children=children,
                    question=ctx["question"],
                ),
            },
        ]
        try:
            result = await self._answer({**task, "samples": 1}, messages, "aggregate")
        except (MalformedOutputError, EndpointResponseError, TimeoutError) as exc:
            update, usage, hits = self._failure(task, "aggregate", exc)
            answered = [
                c["answer"] for c in ctx["children"] if c["answer"] != self.prompts.no_answer
            ]
            update["answer"] = answered[-1] if answered else ""
            emit("failed", node_id=task["node_id"], role="aggregate", error=update.get("error"))
            result = {"tree": {task["node_id"]: update}, "usage": usage, "budget_hits": hits}
        return self._check_comparison(task, result)

    def _check_comparison(self, task: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
        """Correct an aggregation that names the losing option of a comparison it was given.

        See :mod:`langgraph_gram.comparison`: only two-option comparisons whose children hold
        one number per option are decided; any other answer is left as the model wrote it.
        """
        ctx, node_id = task["context"], task["node_id"]
        decision = decide_comparison(ctx["question"], ctx["children"])
        node = result["tree"].get(node_id)
        if decision is None or node is None or node.get("redecomposed"):
            return result
        said = str(node.get("answer") or "")
        if names_option(said, decision.answer, decision.other):
            return result
        node.update(
            answer=decision.answer,
            corrected_from=said,
            reasoning=f"decided exactly: {decision.reason}",
        )
        if node.get("status") == "failed":
            node.update(status="done", error=None)
        emit("corrected", node_id=node_id, answer=decision.answer, model_answer=said)
        return result
