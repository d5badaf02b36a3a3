"""Typed errors raised by langgraph-gram.

Everything the library raises on purpose derives from :class:`GramError`, so callers can catch
one base class. LangGraph's own interrupts are the only other exceptions that cross the API.
"""

from __future__ import annotations


class GramError(Exception):
    """Base class of every error langgraph-gram raises."""


class ConfigurationError(GramError, ValueError):
    """A budget, context value or argument is invalid (e.g. a negative ``max_depth``)."""


class InputError(GramError, ValueError):
    """The graph input holds no question (neither ``question`` nor a human message)."""


class EndpointError(GramError):
    """An OpenAI-compatible endpoint failed in a way that retries could not fix.

    Attributes:
        url: The base URL of the endpoint that failed.
    """

    def __init__(self, message: str, *, url: str) -> None:
        """Create the error.

        Args:
            message: What went wrong.
            url: The endpoint's base URL, added to the message unless it is already there.
        """
        super().__init__(message if url in message else f"{message} (endpoint: {url})")
        self.url = url


class EndpointUnreachableError(EndpointError):
    """The endpoint could not be reached (connection refused, DNS, repeated timeouts)."""


class EndpointResponseError(EndpointError):
    """The endpoint answered, but with an error instead of a completion.

    Either a status not worth retrying (400, 404: this request is wrong) or a server-side
    failure that outlasted the transport retries (429, 5xx, a timeout after error statuses:
    the server is unwell, not the request). ``transient`` tells them apart, e.g. so that an
    evaluation records an outage as an error to retry rather than a wrong answer.

    Attributes:
        status_code: The HTTP status code, when there was one.
        transient: Whether the server, not the request, failed (a later retry may succeed).
    """

    def __init__(
        self,
        message: str,
        *,
        url: str,
        status_code: int | None = None,
        transient: bool | None = None,
    ) -> None:
        """Create the error.

        Args:
            message: What went wrong.
            url: The endpoint's base URL.
            status_code: The HTTP status code, when known.
            transient: Whether the server, not the request, failed; by default, whether
                ``status_code`` is 408, 409, 429 or 5xx.
        """
        super().__init__(message, url=url)
        self.status_code = status_code
        self.transient = transient if transient is not None else is_transient_status(status_code)


def is_transient_status(status_code: int | None) -> bool:
    """Tell whether an HTTP status means the server, not the request, failed.

    Args:
        status_code: The status, or ``None``.

    Returns:
        ``True`` for 408 (timeout), 409 (conflict), 429 (overloaded) and every 5xx.
    """
    return status_code is not None and (status_code in (408, 409, 429) or status_code >= 500)


class MalformedOutputError(GramError):
    """The model's output could not be parsed or repaired into the expected JSON.

    Attributes:
        text: The last raw text the model produced.
        calls: How many LLM calls were spent trying.
        prompt_tokens: Prompt tokens spent trying.
        completion_tokens: Completion tokens spent trying.
    """

    def __init__(
        self,
        message: str,
        *,
        text: str = "",
        calls: int = 0,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
    ) -> None:
        """Create the error.

        Args:
            message: What went wrong.
            text: The last raw model output.
            calls: LLM calls spent.
            prompt_tokens: Prompt tokens spent.
            completion_tokens: Completion tokens spent.
        """
        super().__init__(message)
        self.text = text
        self.calls = calls
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens


class LocalModelError(GramError):
    """The embedded model could not be assembled, verified or served."""


__all__ = [
    "ConfigurationError",
    "EndpointError",
    "EndpointResponseError",
    "EndpointUnreachableError",
    "GramError",
    "InputError",
    "LocalModelError",
    "MalformedOutputError",
    "is_transient_status",
]
