"""A :class:`~langgraph_gram.llm.StructuredLLM` backed by any OpenAI-compatible server.

:class:`OpenAIEndpoint` talks to vLLM, SGLang, llama.cpp's ``llama-server``, llama-cpp-python's
server, Ollama's ``/v1`` or LM Studio through the ``openai`` SDK, and adds what local servers
need:

* **Structured output that degrades gracefully.** The first request probes the server:
  ``response_format={"type": "json_schema", ...}`` (vLLM, llama-server, recent Ollama), then
  ``{"type": "json_object", "schema": ...}`` (llama-cpp-python, which rejects ``json_schema``
  with an HTTP 500 that carries a validation error), then plain prompting. The mode that works is
  remembered for the life of the endpoint, so the probe costs at most two extra requests once.
* **Transport retries** (``tenacity``, exponential backoff with jitter, ``Retry-After`` honoured)
  on connection errors, timeouts, 429 and 5xx, turned into typed
  :class:`~langgraph_gram.errors.EndpointError` subclasses that name the URL when they persist.
* **One concurrency bound per endpoint**, shared by every node of a run, so a tree that fans out
  to dozens of sub-problems never floods a single-slot CPU server.
* **Malformed JSON handling** through :func:`~langgraph_gram.llm.generate_with_repair`: repaired
  when possible, retried once within the call allowance, else
  :class:`~langgraph_gram.errors.MalformedOutputError`.
* **Usage accounting**: per reply (:class:`~langgraph_gram.llm.LLMReply`) and cumulative counters
  on the endpoint (``total_requests``, ``total_prompt_tokens``, ``total_completion_tokens``).
"""

from __future__ import annotations

import asyncio
import os
import re
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, get_args

import openai
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from langgraph_gram.errors import (
    ConfigurationError,
    EndpointError,
    EndpointResponseError,
    EndpointUnreachableError,
)
from langgraph_gram.llm import (
    THINK_BLOCK,
    LLMReply,
    Message,
    RawCompletion,
    estimate_tokens,
    generate_with_repair,
)

StructuredMode = Literal["json_schema", "json_object", "prompt"]
"""How an endpoint asks for JSON: a ``response_format`` type, or the prompt alone."""

StructuredSetting = Literal["auto", "json_schema", "json_object", "prompt"]
"""The ``structured`` constructor argument: a fixed :data:`StructuredMode`, or ``"auto"``."""

_PROBE_ORDER: tuple[StructuredMode, ...] = ("json_schema", "json_object", "prompt")

# While probing, a 400/422/5xx whose message looks like this refuses the response_format: it is
# not a transient failure (llama-cpp-python answers {"type": "json_schema"} with HTTP 500 and a
# pydantic validation error).
_FORMAT_REJECTION = re.compile(
    r"response_format|json_schema|json_object|\bschema\b|grammar|guided|structured output",
    re.IGNORECASE,
)
# A 5xx whose message looks like this is a request validation error: retrying cannot help.
_VALIDATION_ERROR = re.compile(
    r"validation error|literal_error|input should be|field required|extra_forbidden",
    re.IGNORECASE,
)
_RETRY_AFTER_CAP = 30.0

_T = TypeVar("_T")


class _FormatRejectedError(Exception):
    """The server refused the ``response_format`` of a probe request."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(f"HTTP {status_code}: {message}")
        self.status_code = status_code


@dataclass
class _LoopResources:
    """What must be created per event loop: the HTTP client and the asyncio primitives."""

    client: openai.AsyncOpenAI
    semaphore: asyncio.Semaphore
    probe_lock: asyncio.Lock
    closer: AsyncGenerator[None, None] | None = None


def _status_text(exc: openai.APIStatusError) -> str:
    return f"{exc.message} {exc.body!r}"


def _is_validation_error(exc: openai.APIStatusError) -> bool:
    return exc.status_code >= 500 and bool(_VALIDATION_ERROR.search(_status_text(exc)))


def _is_format_rejection(exc: openai.APIStatusError) -> bool:
    """Tell whether an error status refuses the ``response_format`` of a probe request.

    It does when the status is 400, 422 or 5xx and the message talks about the response format
    (``response_format``, ``json_schema``, ``schema``, ``grammar``...), as llama-cpp-python's
    HTTP 500 pydantic error, LM Studio's and TGI's 400/422 and FastAPI-based servers' 422 do. Any
    other error status is a real failure, not a reason to step down.
    """
    if exc.status_code not in (400, 422) and exc.status_code < 500:
        return False
    return bool(_FORMAT_REJECTION.search(_status_text(exc)))


def _is_transient(exc: BaseException) -> bool:
    """Whether a transport error is worth another attempt."""
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code in (408, 409, 429):
            return True
        return exc.status_code >= 500 and not _is_validation_error(exc)
    return False


def _retry_after(exc: BaseException | None) -> float | None:
    """Read ``Retry-After`` (seconds) or ``retry-after-ms`` from an error response."""
    if not isinstance(exc, openai.APIStatusError):
        return None
    headers = exc.response.headers
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            continue  # an HTTP date: not worth parsing, fall back to backoff
        if seconds >= 0:
            return min(seconds, _RETRY_AFTER_CAP)
    return None


def _clone_error(err: EndpointError) -> EndpointError:
    """Copy an endpoint error so several tasks can raise it without sharing tracebacks."""
    new = err.__class__.__new__(err.__class__)
    new.args = err.args
    new.__dict__.update(err.__dict__)
    return new


class OpenAIEndpoint:
    """An OpenAI-compatible chat-completions server as a :class:`~langgraph_gram.llm.StructuredLLM`.

    One instance is meant to be shared by every node of a run (and by concurrent runs): it owns
    the concurrency bound, the learned structured-output mode and the usage counters.

    Example:
        >>> llm = OpenAIEndpoint("http://127.0.0.1:8000/v1", "Qwen2.5-1.5B-Instruct")
        >>> reply = await llm.generate_json(messages, schema=schema)  # doctest: +SKIP

    Attributes:
        base_url: The server's base URL (usually ending in ``/v1``).
        model: The model name sent with every request.
        max_concurrency: The most requests in flight at once (per event loop).
        timeout: Seconds to wait for each HTTP request.
        max_retries: Extra attempts after a transient failure (0 means a single attempt).
        max_tokens: The completion-token cap sent with each request, or ``None``.
        extra_body: Extra JSON fields merged into each request body.
        total_requests: HTTP requests actually sent, probes and retries included.
        total_retries: Transport retries spent (attempts after a transient failure).
        total_prompt_tokens: Prompt tokens over all successful requests.
        total_completion_tokens: Completion tokens over all successful requests.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str = "EMPTY",
        max_concurrency: int = 4,
        timeout: float = 120,
        structured: StructuredSetting = "auto",
        extra_body: dict[str, Any] | None = None,
        max_retries: int = 4,
        max_tokens: int | None = 512,
        retry_backoff: float = 0.25,
        retry_backoff_max: float = 4.0,
    ) -> None:
        """Configure the endpoint; nothing is sent until the first request.

        Args:
            base_url: The server's OpenAI base URL, e.g. ``http://127.0.0.1:8000/v1``.
            model: The model name to request.
            api_key: The API key (local servers accept anything).
            max_concurrency: The most requests in flight at once.
            timeout: Seconds to wait for each HTTP request (connect, read and write).
            structured: ``"auto"`` to probe the server once, or a fixed mode.
            extra_body: Extra JSON fields for every request (e.g. ``{"top_k": 20}``).
            max_retries: Extra attempts after a transient failure (connection error, timeout,
                429, 5xx).
            max_tokens: Completion-token cap per request, or ``None`` for the server's default.
            retry_backoff: Multiplier of the randomized exponential backoff, in seconds.
            retry_backoff_max: The longest backoff between two attempts, in seconds.

        Raises:
            ConfigurationError: An argument is out of range.
        """
        if not base_url:
            raise ConfigurationError("base_url must not be empty")
        if not model:
            raise ConfigurationError("model must not be empty")
        if max_concurrency < 1:
            raise ConfigurationError(f"max_concurrency must be at least 1, got {max_concurrency}")
        if timeout <= 0:
            raise ConfigurationError(f"timeout must be positive, got {timeout}")
        if max_retries < 0:
            raise ConfigurationError(f"max_retries must not be negative, got {max_retries}")
        if max_tokens is not None and max_tokens < 1:
            raise ConfigurationError(f"max_tokens must be at least 1 or None, got {max_tokens}")
        if structured not in get_args(StructuredSetting):
            raise ConfigurationError(
                f"structured must be one of {get_args(StructuredSetting)}, got {structured!r}"
            )
        if retry_backoff < 0 or retry_backoff_max < 0:
            raise ConfigurationError("retry_backoff and retry_backoff_max must not be negative")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.max_concurrency = max_concurrency
        self.timeout = float(timeout)
        self.structured: StructuredSetting = structured
        self.extra_body = dict(extra_body) if extra_body else None
        self.max_retries = max_retries
        self.max_tokens = max_tokens
        self.retry_backoff = retry_backoff
        self.retry_backoff_max = retry_backoff_max
        self.total_requests = 0
        self.total_retries = 0
        self.total_prompt_tokens = 0
        self.total_completion_tokens = 0
        self._mode: StructuredMode | None = None if structured == "auto" else structured
        self._probe_failures = 0
        self._probe_error: EndpointUnreachableError | None = None
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopResources] = (
            weakref.WeakKeyDictionary()
        )
        self._backoff = wait_random_exponential(multiplier=retry_backoff, max=retry_backoff_max)

    @classmethod
    def from_env(
        cls, *, defaults: dict[str, Any] | None = None, **overrides: Any
    ) -> OpenAIEndpoint:
        """Build an endpoint from environment variables.

        Reads ``GRAM_BASE_URL`` and ``GRAM_MODEL`` (both required unless given), ``GRAM_API_KEY``
        (default ``"EMPTY"``) and, when set, ``GRAM_MAX_CONCURRENCY``, ``GRAM_TIMEOUT`` and
        ``GRAM_STRUCTURED``.

        Args:
            defaults: Constructor keyword arguments used where the environment sets nothing
                (e.g. ``{"base_url": ..., "max_concurrency": 1}`` for ``gram serve-local``).
            **overrides: Constructor keyword arguments that win over the environment.

        Returns:
            The endpoint.

        Raises:
            ConfigurationError: A required variable is missing or a value is invalid.
        """
        kwargs: dict[str, Any] = dict(defaults or {})
        for key, var in (("base_url", "GRAM_BASE_URL"), ("model", "GRAM_MODEL")):
            value = os.environ.get(var, "").strip()
            if key not in overrides and key not in kwargs and not value:
                raise ConfigurationError(f"{var} is not set (e.g. {var}=...)")
            if value:
                kwargs[key] = value
        if api_key := os.environ.get("GRAM_API_KEY"):
            kwargs["api_key"] = api_key
        numbers: tuple[tuple[str, str, type], ...] = (
            ("max_concurrency", "GRAM_MAX_CONCURRENCY", int),
            ("timeout", "GRAM_TIMEOUT", float),
        )
        for key, var, kind in numbers:
            raw = os.environ.get(var, "").strip()
            if raw:
                try:
                    kwargs[key] = kind(raw)
                except ValueError as exc:
                    raise ConfigurationError(f"{var} must be a number, got {raw!r}") from exc
        if structured := os.environ.get("GRAM_STRUCTURED", "").strip():
            kwargs["structured"] = structured
        kwargs.update(overrides)
        base_url = kwargs.pop("base_url")
        model = kwargs.pop("model")
        return cls(base_url, model, **kwargs)

    def __repr__(self) -> str:
        """Show the URL, model and structured-output mode."""
        return (
            f"OpenAIEndpoint(base_url={self.base_url!r}, model={self.model!r}, "
            f"structured_mode={self.structured_mode!r})"
        )

    @property
    def structured_mode(self) -> StructuredMode | None:
        """The structured-output mode in use, or ``None`` until ``"auto"`` has probed."""
        return self._mode

    async def generate_json(
        self,
        messages: Sequence[Message],
        *,
        schema: dict[str, Any],
        schema_name: str = "reply",
        temperature: float | None = None,
        seed: int | None = None,
        max_calls: int = 2,
    ) -> LLMReply:
        """Ask the server for one JSON object that matches ``schema``.

        Args:
            messages: Chat messages (``role``/``content`` dicts).
            schema: The JSON schema of the expected object.
            schema_name: A short name for the schema (sent to ``json_schema`` servers).
            temperature: Sampling temperature, or ``None`` for the server's default.
            seed: Sampling seed, or ``None``.
            max_calls: The most completions to spend, the repair retry included (transport
                retries of one completion do not count).

        Returns:
            The parsed reply and its cost.

        Raises:
            MalformedOutputError: The output stayed unparseable within ``max_calls``.
            EndpointUnreachableError: The server could not be reached or kept timing out.
            EndpointResponseError: The server kept answering with an error status.
        """

        async def complete(history: list[Message]) -> RawCompletion:
            return await self._complete(
                history,
                schema=schema,
                schema_name=schema_name,
                temperature=temperature,
                seed=seed,
            )

        return await generate_with_repair(complete, messages, schema=schema, max_calls=max_calls)

    async def list_models(self) -> list[str]:
        """List the model ids the server offers (``GET /models``).

        Returns:
            The model ids, in the server's order.

        Raises:
            EndpointUnreachableError: The server could not be reached.
            EndpointResponseError: The server answered with an error status.
        """
        resources = await self._resources()

        async def call() -> list[str]:
            async with resources.semaphore:
                self.total_requests += 1
                page = await resources.client.models.list()
            return [model.id for model in page.data]

        return await self._with_retries(call)

    async def aclose(self) -> None:
        """Close the HTTP client of the running event loop.

        Optional: each loop's client is also closed when ``asyncio.run`` (or any
        ``asyncio.Runner``) shuts that loop down.
        """
        resources = self._loops.pop(asyncio.get_running_loop(), None)
        if resources is not None and resources.closer is not None:
            await resources.closer.aclose()  # runs _close_with_loop's cleanup

    async def __aenter__(self) -> OpenAIEndpoint:
        """Use the endpoint as an async context manager that closes its client on exit."""
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close the client of the running loop."""
        await self.aclose()

    # -- internals ------------------------------------------------------------------------------

    async def _resources(self) -> _LoopResources:
        """Return the client, semaphore and probe lock of the running event loop.

        ``AsyncOpenAI`` clients and asyncio primitives are bound to the loop that first uses
        them, so each loop gets its own; the learned mode and the counters stay shared.
        """
        loop = asyncio.get_running_loop()
        resources = self._loops.get(loop)
        if resources is None:
            # A loop closed without ``shutdown_asyncgens`` (plain ``run_until_complete``)
            # never ran its closer, and its entry holds the loop: drop such entries here.
            for closed in [other for other in self._loops if other.is_closed()]:
                del self._loops[closed]
            client = openai.AsyncOpenAI(
                base_url=self.base_url,
                api_key=self.api_key,
                timeout=self.timeout,
                max_retries=0,
            )
            resources = _LoopResources(
                client=client,
                semaphore=asyncio.Semaphore(self.max_concurrency),
                probe_lock=asyncio.Lock(),
            )
            self._loops[loop] = resources
            resources.closer = self._close_with_loop(loop, resources)
            await anext(resources.closer)
        return resources

    async def _close_with_loop(
        self, loop: asyncio.AbstractEventLoop, resources: _LoopResources
    ) -> AsyncGenerator[None, None]:
        """Close a loop's client while that loop shuts down.

        Started once, this async generator is registered with its loop, whose
        ``shutdown_asyncgens()`` (called by ``asyncio.run`` and ``asyncio.Runner``) resumes it
        into ``finally`` while the loop still runs. Without it, a client garbage-collected after
        its loop closed would try to close its connections on another loop and log errors.
        """
        try:
            yield
        finally:
            if self._loops.get(loop) is resources:
                del self._loops[loop]
            try:
                await resources.client.close()
            except Exception:  # closing is best effort: the loop is going away
                pass

    async def _complete(
        self,
        history: list[Message],
        *,
        schema: dict[str, Any],
        schema_name: str,
        temperature: float | None,
        seed: int | None,
    ) -> RawCompletion:
        """Send one completion request in the learned mode, probing first when needed."""

        def send(mode: StructuredMode, probing: bool) -> Awaitable[RawCompletion]:
            return self._send(
                history,
                mode,
                schema=schema,
                schema_name=schema_name,
                temperature=temperature,
                seed=seed,
                probing=probing,
            )

        mode = self._mode
        if mode is not None:
            return await send(mode, False)
        resources = await self._resources()
        failures_seen = self._probe_failures
        async with resources.probe_lock:
            mode = self._mode
            if mode is None:
                return await self._probe(send, failures_seen)
        return await send(mode, False)  # learned while we waited: send outside the lock

    async def _probe(
        self,
        send: Callable[[StructuredMode, bool], Awaitable[RawCompletion]],
        failures_seen: int,
    ) -> RawCompletion:
        """Find the structured-output mode the server accepts (called under the probe lock)."""
        if self._probe_failures != failures_seen and self._probe_error is not None:
            # The probe we waited on could not reach the server: fail the same way instead of
            # probing a dead server once per waiting request.
            raise _clone_error(self._probe_error)
        for candidate in _PROBE_ORDER:
            try:
                raw = await send(candidate, candidate != "prompt")
            except _FormatRejectedError:
                continue
            except EndpointUnreachableError as err:
                self._probe_failures += 1
                self._probe_error = err
                raise
            self._mode = candidate
            return raw
        raise AssertionError("unreachable: prompt mode is never rejected as a format")

    def _request_kwargs(
        self,
        history: list[Message],
        mode: StructuredMode,
        *,
        schema: dict[str, Any],
        schema_name: str,
        temperature: float | None,
        seed: int | None,
    ) -> dict[str, Any]:
        """Build the keyword arguments of one ``chat.completions.create`` call."""
        kwargs: dict[str, Any] = {"model": self.model, "messages": list(history)}
        if mode == "json_schema":
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": schema_name, "schema": schema, "strict": True},
            }
        elif mode == "json_object":
            kwargs["response_format"] = {"type": "json_object", "schema": schema}
        if temperature is not None:
            kwargs["temperature"] = temperature
        if seed is not None:
            kwargs["seed"] = seed
        if self.max_tokens is not None:
            kwargs["max_tokens"] = self.max_tokens
        if self.extra_body:
            kwargs["extra_body"] = dict(self.extra_body)
        return kwargs

    async def _send(
        self,
        history: list[Message],
        mode: StructuredMode,
        *,
        schema: dict[str, Any],
        schema_name: str,
        temperature: float | None,
        seed: int | None,
        probing: bool,
    ) -> RawCompletion:
        """Send one completion (with transport retries) and read its text and usage."""
        kwargs = self._request_kwargs(
            history,
            mode,
            schema=schema,
            schema_name=schema_name,
            temperature=temperature,
            seed=seed,
        )
        resources = await self._resources()

        async def call() -> Any:
            async with resources.semaphore:
                self.total_requests += 1
                try:
                    return await resources.client.chat.completions.create(**kwargs)
                except openai.APIStatusError as exc:
                    if probing and _is_format_rejection(exc):
                        raise _FormatRejectedError(exc.status_code, exc.message) from exc
                    raise

        response = await self._with_retries(call)
        return self._read_completion(response, history)

    def _read_completion(self, response: Any, history: list[Message]) -> RawCompletion:
        """Turn a chat-completion response into a :class:`RawCompletion`, counting usage."""
        choices = getattr(response, "choices", None) or []
        text = ""
        finish_reason = None
        if choices:
            choice = choices[0]
            finish_reason = getattr(choice, "finish_reason", None)
            message = getattr(choice, "message", None)
            content = getattr(message, "content", None)
            text = content if isinstance(content, str) else ""
        text = THINK_BLOCK.sub("", text, count=1)
        usage = getattr(response, "usage", None)
        prompt_tokens = getattr(usage, "prompt_tokens", None)
        completion_tokens = getattr(usage, "completion_tokens", None)
        if not isinstance(prompt_tokens, int) or prompt_tokens <= 0:
            prompt_tokens = sum(estimate_tokens(m.get("content") or "") for m in history)
        if not isinstance(completion_tokens, int) or completion_tokens < 0:
            completion_tokens = estimate_tokens(text)
        self.total_prompt_tokens += prompt_tokens
        self.total_completion_tokens += completion_tokens
        return RawCompletion(
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            finish_reason=finish_reason,
        )

    def _wait(self, state: RetryCallState) -> float:
        """Pick the pause before the next attempt: ``Retry-After``, else jittered backoff."""
        exc = state.outcome.exception() if state.outcome is not None else None
        after = _retry_after(exc)
        if after is not None:
            return after
        return float(self._backoff(state))

    def _count_retry(self, state: RetryCallState) -> None:
        self.total_retries += 1

    async def _with_retries(self, call: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``call`` with transport retries and map persistent failures to typed errors."""
        attempts = 0
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception(_is_transient),
            before_sleep=self._count_retry,
            reraise=True,
        )
        replied = False  # the server answered some attempt: it is reachable, only this call failed
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    try:
                        return await call()
                    except openai.APIStatusError:
                        replied = True
                        raise
        except _FormatRejectedError:
            raise
        except openai.APITimeoutError as exc:
            if replied:
                raise EndpointResponseError(
                    f"no usable reply ({attempts} attempt(s): error statuses, then a timeout "
                    f"after {self.timeout:g} s)",
                    url=self.base_url,
                    transient=True,
                ) from exc
            raise EndpointUnreachableError(
                f"no reply from {self.base_url} within {self.timeout:g} s ({attempts} attempt(s))",
                url=self.base_url,
            ) from exc
        except openai.APIConnectionError as exc:
            cause = exc.__cause__ or exc.__context__
            detail = f": {cause}" if cause else ""
            raise EndpointUnreachableError(
                f"cannot connect to {self.base_url} ({attempts} attempt(s)){detail}",
                url=self.base_url,
            ) from exc
        except openai.APIStatusError as exc:
            raise EndpointResponseError(
                f"{self.base_url} answered HTTP {exc.status_code} "
                f"({attempts} attempt(s)): {exc.message}",
                url=self.base_url,
                status_code=exc.status_code,
                transient=_is_transient(exc),
            ) from exc
        except openai.OpenAIError as exc:
            raise EndpointResponseError(
                f"bad response from {self.base_url}: {exc}", url=self.base_url
            ) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")


__all__ = ["OpenAIEndpoint", "StructuredMode", "StructuredSetting"]
