"""Budgets and per-run settings.

:class:`Budget` is fixed when a graph is built; :class:`GramContext` overrides any of its fields
for one run through LangGraph's ``context=`` (so a LangGraph Platform assistant can carry them).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any

from langgraph_gram.errors import ConfigurationError


def _check_number(name: str, value: Any, *, integer: bool, optional: bool = False) -> None:
    """Refuse a setting of the wrong type (JSON from a client can carry ``"2"`` or ``true``)."""
    if value is None and optional:
        return
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        kind = "an integer" if integer else "a number"
        raise ConfigurationError(
            f"{name} must be {kind}{' or None' if optional else ''}, got {value!r} "
            f"({type(value).__name__})"
        )


@dataclass(frozen=True)
class Budget:
    """Hard limits on one run. The controller enforces them; nothing the model says can break them.

    Attributes:
        max_depth: Deepest level that may exist. The root is depth 0; a node at ``max_depth`` is
            never decomposed.
        max_children: Most sub-problems one decomposition may create; extra items are cut.
        max_nodes: Most nodes in the whole tree, root included.
        max_llm_calls: Most LLM calls in the run (repair retries and width samples included).
        max_tokens: Most prompt + completion tokens in the run, or ``None`` for no limit.
        max_seconds: Most wall-clock seconds for the run, or ``None`` for no limit.
        max_tool_calls: Most tool calls one leaf may make (each costs one LLM call, taken from
            ``max_llm_calls``); tools called automatically before the first step (retrievers)
            are not counted here.
    """

    max_depth: int = 3
    max_children: int = 4
    max_nodes: int = 40
    max_llm_calls: int = 120
    max_tokens: int | None = None
    max_seconds: float | None = None
    max_tool_calls: int = 3

    def __post_init__(self) -> None:
        """Validate the limits."""
        for name in ("max_depth", "max_children", "max_nodes", "max_llm_calls", "max_tool_calls"):
            _check_number(name, getattr(self, name), integer=True)
        _check_number("max_tokens", self.max_tokens, integer=True, optional=True)
        _check_number("max_seconds", self.max_seconds, integer=False, optional=True)
        if self.max_depth < 0:
            raise ConfigurationError("max_depth must be >= 0")
        if self.max_children < 1:
            raise ConfigurationError("max_children must be >= 1")
        if self.max_nodes < 1:
            raise ConfigurationError("max_nodes must be >= 1")
        if self.max_llm_calls < 1:
            raise ConfigurationError("max_llm_calls must be >= 1")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ConfigurationError("max_tokens must be >= 1 or None")
        if self.max_seconds is not None and self.max_seconds <= 0:
            raise ConfigurationError("max_seconds must be > 0 or None")
        if self.max_tool_calls < 0:
            raise ConfigurationError("max_tool_calls must be >= 0")


BUDGET_FIELDS = tuple(f.name for f in fields(Budget))
"""The names of the :class:`Budget` limits, in declaration order."""


@dataclass(init=False)
class GramContext:
    """Per-run overrides, passed as ``graph.invoke(..., context={...})``.

    Every field defaults to ``None``, meaning "use what the graph was built with".

    Attributes:
        max_depth: Overrides :attr:`Budget.max_depth`.
        max_children: Overrides :attr:`Budget.max_children`.
        max_nodes: Overrides :attr:`Budget.max_nodes`.
        max_llm_calls: Overrides :attr:`Budget.max_llm_calls`.
        max_tokens: Overrides :attr:`Budget.max_tokens`.
        max_seconds: Overrides :attr:`Budget.max_seconds`.
        max_tool_calls: Overrides :attr:`Budget.max_tool_calls`.
        width: Samples per decision (1 = one deterministic trajectory).
        temperature: Sampling temperature of every call (width > 1 samples use at least 0.7).
        seed: Base sampling seed; sample ``i`` of a node uses a seed derived from it.
        halt_agreement: With width > 1, stop sampling a node once this many first samples
            agree (0 or 1: always take the full width).
    """

    max_depth: int | None = None
    max_children: int | None = None
    max_nodes: int | None = None
    max_llm_calls: int | None = None
    max_tokens: int | None = None
    max_seconds: float | None = None
    max_tool_calls: int | None = None
    width: int | None = None
    temperature: float | None = None
    seed: int | None = None
    halt_agreement: int | None = None

    def __init__(self, **overrides: Any) -> None:
        """Set the given overrides; the rest stay ``None``.

        Args:
            **overrides: Any of the fields above.

        Raises:
            ConfigurationError: A key is not a field (a typo such as ``max_dept``).
        """
        names = [f.name for f in fields(self)]
        unknown = sorted(set(overrides) - set(names))
        if unknown:
            raise ConfigurationError(f"unknown context keys {unknown}; known keys: {names}")
        for name in names:
            setattr(self, name, overrides.get(name))


@dataclass(frozen=True)
class Settings:
    """The settings in force for one run: the built budget with the run's overrides applied.

    Attributes:
        budget: The effective budget.
        width: Samples per decision.
        temperature: Sampling temperature, or ``None`` for the backend's default.
        seed: Base sampling seed.
        tools: Whether leaves may call tools.
        judge: Whether candidates are scored by an LLM judge (``scorer="llm"``).
        halt_agreement: See :attr:`GramContext.halt_agreement`.
    """

    budget: Budget = field(default_factory=Budget)
    width: int = 1
    temperature: float | None = None
    seed: int = 0
    tools: bool = False
    judge: bool = False
    halt_agreement: int = 2

    def apply(self, context: GramContext | dict | None) -> Settings:
        """Return these settings with a run's overrides applied.

        Args:
            context: A :class:`GramContext`, an equivalent dict, or ``None``.

        Returns:
            The effective settings.

        Raises:
            ConfigurationError: An override is unknown or out of range.
        """
        if context is None:
            return self
        values = context if isinstance(context, dict) else dataclasses.asdict(context)
        known = {f.name for f in fields(GramContext)}
        unknown = set(values) - known
        if unknown:
            raise ConfigurationError(f"unknown context keys: {sorted(unknown)}")
        budget_over = {k: values[k] for k in BUDGET_FIELDS if values.get(k) is not None}
        budget = dataclasses.replace(self.budget, **budget_over) if budget_over else self.budget
        for name, integer in (("width", True), ("seed", True), ("halt_agreement", True)):
            _check_number(name, values.get(name), integer=integer, optional=True)
        _check_number("temperature", values.get("temperature"), integer=False, optional=True)
        width = self.width if values.get("width") is None else values["width"]
        if width < 1:
            raise ConfigurationError("width must be >= 1")
        temperature = values.get("temperature")
        seed = values.get("seed")
        return Settings(
            budget=budget,
            width=int(width),
            temperature=self.temperature if temperature is None else float(temperature),
            seed=self.seed if seed is None else int(seed),
            tools=self.tools,
            judge=self.judge,
            halt_agreement=(
                self.halt_agreement
                if values.get("halt_agreement") is None
                else int(values["halt_agreement"])
            ),
        )
