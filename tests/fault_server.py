"""A fault-injecting OpenAI-compatible server for tests.

:class:`FaultServer` serves ``POST /v1/chat/completions`` and ``GET /v1/models`` with Starlette
and uvicorn on ``127.0.0.1`` (a free port), in a background thread with its own event loop, so
tests on any loop can reach it over real HTTP. Tests script it:

* ``latency``: seconds added to every generation (``asyncio.sleep``, so concurrent requests
  overlap as on a batching GPU server);
* faults, by ``schedule`` (one entry per generation request, in arrival order; ``None`` means
  "no fault") or at random with ``fault_rate`` / ``fault_kinds`` from a seeded RNG, or raised by
  the responder as :class:`InjectedFault`. Kinds (:data:`FAULT_KINDS`): ``"500"``, ``"429"``
  (with ``Retry-After: 0``), ``"400"``, ``"hang"`` (no answer for ``hang_seconds``),
  ``"malformed"`` (prose, no JSON), ``"truncated"`` (the responder's JSON cut in half,
  ``finish_reason="length"``), ``"empty"`` (``""``) and ``"null"`` (``content: null``);
* structured-output personalities: ``mode="strict"`` rejects a ``response_format`` type outside
  ``accepts`` with HTTP 400; ``mode="llama-cpp-python"`` answers ``json_schema`` with HTTP 500
  and a pydantic validation message like the real llama-cpp-python server, and accepts
  ``json_object`` (with or without ``schema``); ``mode="lenient"`` ignores ``response_format``;
* the content itself, through a *responder*: ``(request_body: dict) -> str``. Ready-made ones:
  :func:`echo_answer` and :func:`always_decompose`. :func:`request_kind` tells a decomposition
  request from an answer request, :func:`fill_schema` builds a minimal object for a schema.

Every chat request is logged as a :class:`RequestRecord` (arrival and end times on
``time.monotonic()``, body, status, fault, usage), and the server tracks the most requests it
had in flight at once (:attr:`FaultServer.max_in_flight`).

Usage::

    with FaultServer(latency=0.25, responder=always_decompose(3)) as server:
        llm = OpenAIEndpoint(server.base_url, server.model)
        ...
        assert server.max_in_flight <= 4
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass(frozen=True)
class ToolCalls:
    """A responder's reply that calls tools (``message.tool_calls``, no content).

    Attributes:
        calls: ``(tool name, arguments)`` pairs, in order.
    """

    calls: tuple[tuple[str, dict[str, Any]], ...]


Responder = Callable[[dict[str, Any]], "str | ToolCalls"]
"""Makes the content of one chat completion (or its tool calls) from the request body."""

FaultKind = Literal["500", "429", "400", "hang", "malformed", "truncated", "empty", "null"]
FAULT_KINDS: tuple[FaultKind, ...] = (
    "500",
    "429",
    "400",
    "hang",
    "malformed",
    "truncated",
    "empty",
    "null",
)
Personality = Literal["strict", "llama-cpp-python", "lenient"]
RequestKind = Literal["decompose", "answer", "unknown"]

MALFORMED_TEXT = "I'm sorry, I can't put that in the requested format right now."
"""The content of a ``"malformed"`` fault: prose that no JSON repair can turn into an object."""

LLAMA_CPP_PYTHON_JSON_SCHEMA_ERROR = (
    "[{'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
    "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema', "
    "'ctx': {'expected': \"'text' or 'json_object'\"}}]"
)
"""What llama-cpp-python's server says (with HTTP 500) to ``response_format: json_schema``."""


class InjectedFault(Exception):
    """Raise from a responder to answer the current request with a fault.

    Attributes:
        kind: One of :data:`FAULT_KINDS`.
    """

    def __init__(self, kind: FaultKind) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        super().__init__(kind)
        self.kind = kind


@dataclass
class RequestRecord:
    """One chat-completion request the server received.

    Attributes:
        index: Arrival order, from 0.
        arrived: ``time.monotonic()`` when the body had been read.
        ended: ``time.monotonic()`` just before the response was sent (``None`` while running).
        body: The JSON request body.
        kind: :func:`request_kind` of the body.
        response_format: The requested ``response_format`` type, or ``None``.
        status: The HTTP status answered (``None`` while running).
        fault: The fault injected (``"format_rejected"`` for a refused response_format).
        content: The content sent back (200 only).
        prompt_tokens: The usage reported (200 only).
        completion_tokens: The usage reported (200 only).
    """

    index: int
    arrived: float
    body: dict[str, Any]
    kind: RequestKind
    response_format: str | None
    ended: float | None = None
    status: int | None = None
    fault: str | None = None
    content: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def ok(self) -> bool:
        """Whether the server answered 200."""
        return self.status == 200


# -- request helpers -------------------------------------------------------------------------


def request_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    """Return the JSON schema a request's ``response_format`` carries, if any.

    Handles ``{"type": "json_schema", "json_schema": {"schema": ...}}`` and llama-cpp-python's
    ``{"type": "json_object", "schema": ...}``.
    """
    fmt = body.get("response_format")
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
    else:
        schema = fmt.get("schema")
    return schema if isinstance(schema, dict) else None


def message_texts(body: dict[str, Any]) -> list[str]:
    """Return the text of each message of a chat request, in order."""
    texts = []
    for message in body.get("messages") or []:
        content = message.get("content")
        if isinstance(content, list):  # content parts
            content = " ".join(
                str(part.get("text", "")) for part in content if isinstance(part, dict)
            )
        texts.append(content if isinstance(content, str) else "")
    return texts


def last_user_message(body: dict[str, Any]) -> str:
    """Return the content of the last ``user`` message (``""`` if there is none)."""
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            return message["content"]
    return ""


def request_kind(body: dict[str, Any]) -> RequestKind:
    """Tell what a chat request asks for: sub-problems, an answer, or something else.

    1. When ``response_format`` carries a schema: ``"decompose"`` if its properties include
       ``subproblems``, else ``"answer"`` if they include ``answer``, else ``"unknown"``.
       This is exact.
    2. Otherwise (prompt mode) it is a heuristic on the prompt text: the latest message that
       mentions the JSON key ``"subproblems"`` or ``"answer"`` (quoted, as prompts that show the
       expected JSON do) decides, ``subproblems`` winning when it mentions both.

    Args:
        body: The JSON request body.

    Returns:
        ``"decompose"``, ``"answer"`` or ``"unknown"``.
    """
    schema = request_schema(body)
    if schema is not None:
        properties = schema.get("properties") or {}
        if "subproblems" in properties:
            return "decompose"
        if "answer" in properties:
            return "answer"
        return "unknown"
    for text in reversed(message_texts(body)):
        if '"subproblems"' in text:
            return "decompose"
        if '"answer"' in text:
            return "answer"
    return "unknown"


def fill_schema(schema: dict[str, Any] | None, text: str = "x") -> Any:
    """Build a small value that satisfies a (simple) JSON schema.

    Objects get their required properties (all properties when none are required), arrays
    ``minItems`` items (none by default), strings ``text`` (or the first ``enum`` value), numbers
    their ``minimum`` or 0. ``anyOf``/``oneOf`` take the first branch; ``$ref`` is not followed.

    Args:
        schema: A JSON schema (``None`` gives ``{}``).
        text: The value of string fields.

    Returns:
        The value.
    """
    if not schema:
        return {}
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return fill_schema(schema[key][0], text)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind == "object":
        properties = schema.get("properties") or {}
        names = schema.get("required") or list(properties)
        return {
            name: fill_schema(properties.get(name) or {"type": "string"}, text) for name in names
        }
    if kind == "array":
        count = int(schema.get("minItems", 0))
        return [fill_schema(schema.get("items"), text) for _ in range(count)]
    if kind == "string":
        return text
    if kind in ("integer", "number"):
        return schema.get("minimum", 0)
    if kind == "boolean":
        return False
    return None


def _string_property(properties: dict[str, Any]) -> str | None:
    """Pick the property of an item schema that holds the sub-problem's text."""
    for name in ("question", "problem", "text", "subproblem", "description"):
        if name in properties:
            return name
    for name, spec in properties.items():
        if isinstance(spec, dict) and spec.get("type") == "string":
            return name
    return None


def _answer_object(body: dict[str, Any], answer: str) -> dict[str, Any]:
    schema = request_schema(body)
    # Without a schema (prompt mode) add the engine's usual "reasoning" key too.
    data = fill_schema(schema) if schema else {"reasoning": "scripted"}
    if not isinstance(data, dict):
        data = {}
    spec = ((schema or {}).get("properties") or {}).get("answer")
    if not isinstance(spec, dict) or spec.get("type", "string") == "string":
        data["answer"] = answer
    return data


def echo_answer(body: dict[str, Any]) -> str:
    """Answer any request with ``{"answer": "echo: <start of the last user message>"}``.

    Other required keys of the request's schema are filled with :func:`fill_schema`; without a
    schema (prompt mode) the object also carries ``"reasoning": "scripted"``.
    """
    return json.dumps(_answer_object(body, "echo: " + last_user_message(body)[:80]))


def letters_digest(text: str) -> str:
    """Hash ``text`` to 8 capital letters (a digest without digits that names something).

    Args:
        text: Any text.

    Returns:
        The digest.
    """
    return hashlib.sha1(text.encode()).hexdigest()[:8].translate(_HEX_LETTERS)


def letters_label(i: int) -> str:
    """Name the ``i``-th item (0-based) with capital letters: A, B, ..., Z, BA, BB, ...

    Args:
        i: The index.

    Returns:
        The label.
    """
    label = ""
    while True:
        label = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[i % 26] + label
        i //= 26
        if not i:
            return label


_HEX_LETTERS = str.maketrans("0123456789abcdef", "ABCDEFGHIJKLMNOP")


def always_decompose(n: int, *, answer: str | None = None) -> Responder:
    """Make a responder that splits every decomposition request into ``n`` sub-problems.

    Sub-problems read ``"sub-problem <letters> of [<DIGEST>], and all its parts"``, where the
    digest hashes the last user message, so they are deterministic and differ between parents.
    They hold no digits (the engine refuses plans that state numbers their question never
    gave), and each asks for more than one thing (the engine answers a one-lookup step below
    the root directly): this responder must keep splitting whatever the question. When the
    schema's items are objects, the text goes into their ``question``-like string property
    (other required item keys get :func:`fill_schema` values, e.g. ``depends_on: []``).
    Without a schema (prompt mode) items are ``{"question": ..., "depends_on": []}`` when the
    prompt mentions the key ``"question"``, else plain strings. Requests that are not
    decompositions (see :func:`request_kind`) get ``{"answer": ...}``.

    Args:
        n: The number of sub-problems per decomposition.
        answer: The answer text for answer requests (default: an echo of the question).

    Returns:
        The responder.
    """

    def respond(body: dict[str, Any]) -> str:
        question = last_user_message(body)
        if request_kind(body) != "decompose":
            return json.dumps(_answer_object(body, answer or "answer to: " + question[:60]))
        digest = letters_digest(question)
        texts = [
            f"sub-problem {letters_label(i)} of [{digest}], and all its parts" for i in range(n)
        ]
        schema = request_schema(body) or {}
        data = fill_schema(schema) if schema else {}
        if not isinstance(data, dict):
            data = {}
        items = ((schema.get("properties") or {}).get("subproblems") or {}).get("items") or {}
        item_properties = items.get("properties") if isinstance(items, dict) else None
        if item_properties:
            key = _string_property(item_properties)
            entries = []
            for text in texts:
                entry = fill_schema(items)
                if key:
                    entry[key] = text
                entries.append(entry)
            data["subproblems"] = entries
        elif not schema and any('"question"' in text for text in message_texts(body)):
            # Prompt mode, and the prompt shows object items: mirror the engine's shape.
            data["subproblems"] = [{"question": text, "depends_on": []} for text in texts]
        else:
            data["subproblems"] = texts
        return json.dumps(data)

    return respond


def constant(content: str) -> Responder:
    """Make a responder that always returns ``content``."""
    return lambda body: content


def max_overlap(records: Iterable[RequestRecord]) -> int:
    """Compute the most requests that overlapped in time, from their arrival and end times."""
    events: list[tuple[float, int]] = []
    for record in records:
        events.append((record.arrived, 1))
        events.append((record.ended if record.ended is not None else float("inf"), -1))
    events.sort(key=lambda event: (event[0], event[1]))  # ends before starts at equal times
    best = current = 0
    for _, delta in events:
        current += delta
        best = max(best, current)
    return best


def _estimate_tokens(text: str) -> int:
    return (len(text) + 3) // 4 if text else 0


# -- the server ------------------------------------------------------------------------------

_SETTINGS = frozenset(
    {
        "responder",
        "latency",
        "mode",
        "fault_rate",
        "fault_kinds",
        "hang_seconds",
        "include_usage",
        "model",
    }
)


def _default_accepts(mode: Personality) -> set[str]:
    return {"json_object"} if mode == "llama-cpp-python" else {"json_schema", "json_object"}


class FaultServer:
    """A scriptable OpenAI-compatible server on 127.0.0.1, run in a background thread.

    Every constructor argument is also an attribute that tests may change between requests.

    Args:
        responder: Makes the content of each successful completion.
        latency: Seconds added to each generation request (before any fault but ``hang``).
        mode: The structured-output personality (see the module docstring).
        accepts: The ``response_format`` types accepted in ``"strict"`` mode (``"text"`` always
            is). Default: ``{"json_schema", "json_object"}``, or ``{"json_object"}`` for
            ``"llama-cpp-python"``. ``set()`` makes a prompt-only server.
        schedule: Faults for the next generation requests, in arrival order (``None`` = none).
            Requests refused for their response_format do not consume entries.
        fault_rate: Probability of a random fault once the schedule is used up.
        fault_kinds: The kinds random faults are drawn from.
        seed: Seed of the fault RNG.
        hang_seconds: How long a ``"hang"`` fault keeps the request open (cut short by stop).
        include_usage: Whether responses carry ``usage``.
        model: The model id served.
    """

    def __init__(
        self,
        *,
        responder: Responder = echo_answer,
        latency: float = 0.0,
        mode: Personality = "strict",
        accepts: Iterable[str] | None = None,
        schedule: Sequence[FaultKind | None] = (),
        fault_rate: float = 0.0,
        fault_kinds: Sequence[FaultKind] = ("500", "429", "malformed", "truncated", "empty"),
        seed: int = 0,
        hang_seconds: float = 30.0,
        include_usage: bool = True,
        model: str = "fault-model",
    ) -> None:
        if accepts is None:
            accepts = _default_accepts(mode)
        self.responder = responder
        self.latency = latency
        self.mode: Personality = mode
        self.accepts = set(accepts)
        self.schedule: list[FaultKind | None] = list(schedule)
        self.fault_rate = fault_rate
        self.fault_kinds = tuple(fault_kinds)
        self.rng = random.Random(seed)
        self.hang_seconds = hang_seconds
        self.include_usage = include_usage
        self.model = model
        self.requests: list[RequestRecord] = []
        self.models_requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._server: uvicorn.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the server listens on (after :meth:`start`)."""
        if self._port is None:
            raise RuntimeError("FaultServer is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, ``http://127.0.0.1:<port>/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FaultServer:
        """Bind a free port and serve in a background thread; return once it accepts requests."""
        if self._thread is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        started = threading.Event()

        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            self._stopping = asyncio.Event()
            started.set()
            assert self._server is not None
            await self._server.serve(sockets=[sock])

        self._thread = threading.Thread(
            target=lambda: asyncio.run(serve()), name="fault-server", daemon=True
        )
        self._thread.start()
        started.wait(5)
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("FaultServer did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Release hanging requests, stop the server and join its thread."""
        if self._thread is None or self._server is None:
            return
        if self._loop is not None and self._stopping is not None:
            try:
                self._loop.call_soon_threadsafe(self._stopping.set)
            except RuntimeError:  # loop already closed
                pass
        self._server.should_exit = True
        self._thread.join(10)
        self._thread = None

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- scripting and inspection ------------------------------------------------------------

    def configure(self, **settings: Any) -> FaultServer:
        """Change settings: any constructor argument (``seed`` re-seeds the fault RNG).

        Changing ``mode`` without ``accepts`` also resets ``accepts`` to that mode's default.
        """
        if "mode" in settings and "accepts" not in settings:
            settings["accepts"] = _default_accepts(settings["mode"])
        for name, value in settings.items():
            if name == "seed":
                self.rng = random.Random(value)
            elif name == "accepts":
                self.accepts = set(value)
            elif name == "schedule":
                self.schedule = list(value)
            elif name in _SETTINGS:
                setattr(self, name, value)
            else:
                raise TypeError(f"unknown FaultServer setting {name!r}")
        return self

    def reset_log(self) -> None:
        """Forget logged requests and the in-flight maximum."""
        with self._lock:
            self.requests.clear()
            self.models_requests = 0
            self.max_in_flight = self.in_flight

    @property
    def records(self) -> list[RequestRecord]:
        """A snapshot of the chat-completion requests logged so far."""
        with self._lock:
            return list(self.requests)

    def count(self, **match: Any) -> int:
        """Count logged requests whose attributes equal ``match`` (e.g. ``status=500``)."""
        return sum(
            all(getattr(record, key) == value for key, value in match.items())
            for record in self.records
        )

    # -- handlers ----------------------------------------------------------------------------

    async def _models(self, request: Request) -> JSONResponse:
        with self._lock:
            self.models_requests += 1
        return JSONResponse(
            {"object": "list", "data": [{"id": self.model, "object": "model", "owned_by": "test"}]}
        )

    async def _chat(self, request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": {"message": "invalid JSON body"}}, status_code=400)
        fmt = body.get("response_format")
        record = RequestRecord(
            index=0,
            arrived=time.monotonic(),
            body=body,
            kind=request_kind(body),
            response_format=fmt.get("type") if isinstance(fmt, dict) else None,
        )
        with self._lock:
            record.index = len(self.requests)
            self.requests.append(record)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            response = await self._respond(record)
        finally:
            with self._lock:
                self.in_flight -= 1
                record.ended = time.monotonic()
        record.status = response.status_code
        return response

    def _format_rejection(self, fmt_type: str | None) -> JSONResponse | None:
        if fmt_type is None or fmt_type == "text" or self.mode == "lenient":
            return None
        if self.mode == "llama-cpp-python" and fmt_type == "json_schema":
            return JSONResponse(
                {
                    "error": {
                        "message": LLAMA_CPP_PYTHON_JSON_SCHEMA_ERROR,
                        "type": "internal_server_error",
                        "param": None,
                        "code": None,
                    }
                },
                status_code=500,
            )
        if fmt_type in self.accepts:
            return None
        return JSONResponse(
            {
                "error": {
                    "message": f"response_format type {fmt_type!r} is not supported",
                    "type": "invalid_request_error",
                    "param": "response_format",
                    "code": None,
                }
            },
            status_code=400,
        )

    def _pick_fault(self) -> FaultKind | None:
        with self._lock:
            if self.schedule:
                return self.schedule.pop(0)
            if self.fault_rate > 0 and self.rng.random() < self.fault_rate:
                return self.rng.choice(self.fault_kinds)
        return None

    async def _respond(self, record: RequestRecord) -> JSONResponse:
        rejection = self._format_rejection(record.response_format)
        if rejection is not None:
            record.fault = "format_rejected"
            return rejection
        fault = self._pick_fault()
        if fault == "hang":
            record.fault = fault
            return await self._respond_hang()
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        content: str | None = None
        tool_calls: ToolCalls | None = None
        if fault is None or fault == "truncated":
            try:
                reply = self.responder(record.body)
            except InjectedFault as injected:
                fault = injected.kind
            else:
                if isinstance(reply, ToolCalls):
                    tool_calls = reply
                else:
                    content = reply
        record.fault = fault
        if fault == "500":
            return _error(500, "injected internal server error", "server_error")
        if fault == "429":
            return _error(
                429, "injected rate limit", "rate_limit_error", headers={"Retry-After": "0"}
            )
        if fault == "400":
            return _error(400, "injected bad request", "invalid_request_error")
        if fault == "hang":  # raised by the responder
            return await self._respond_hang()
        finish_reason = "stop"
        if fault == "malformed":
            content = MALFORMED_TEXT
        elif fault == "truncated":
            content = (content or "")[: max(1, len(content or "") // 2)]
            finish_reason = "length"
        elif fault == "empty":
            content = ""
        elif fault == "null":
            content = None
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if tool_calls is not None and fault is None:
            message["tool_calls"] = [
                {
                    "id": f"call_{record.index}_{i}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
                for i, (name, args) in enumerate(tool_calls.calls)
            ]
            content = json.dumps(message["tool_calls"])  # logged and counted as the output
            finish_reason = "tool_calls"
        record.content = content
        record.prompt_tokens = sum(_estimate_tokens(t) for t in message_texts(record.body)) + 1
        record.completion_tokens = _estimate_tokens(content or "")
        payload: dict[str, Any] = {
            "id": f"chatcmpl-fault-{record.index}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": record.body.get("model", self.model),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": finish_reason,
                }
            ],
        }
        if self.include_usage:
            payload["usage"] = {
                "prompt_tokens": record.prompt_tokens,
                "completion_tokens": record.completion_tokens,
                "total_tokens": record.prompt_tokens + record.completion_tokens,
            }
        return JSONResponse(payload)

    async def _respond_hang(self) -> JSONResponse:
        """Keep the request open for ``hang_seconds`` (or until stop), then give up with 504."""
        assert self._stopping is not None
        try:
            await asyncio.wait_for(self._stopping.wait(), self.hang_seconds)
        except TimeoutError:
            pass
        return _error(504, "hung request released")


def _error(
    status: int, message: str, kind: str = "error", headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": kind, "param": None, "code": None}},
        status_code=status,
        headers=headers,
    )


__all__ = [
    "FAULT_KINDS",
    "LLAMA_CPP_PYTHON_JSON_SCHEMA_ERROR",
    "MALFORMED_TEXT",
    "FaultKind",
    "FaultServer",
    "InjectedFault",
    "RequestRecord",
    "Responder",
    "always_decompose",
    "constant",
    "echo_answer",
    "fill_schema",
    "last_user_message",
    "letters_digest",
    "letters_label",
    "max_overlap",
    "message_texts",
    "request_kind",
    "request_schema",
]
