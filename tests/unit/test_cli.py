"""`gram` command-line settings that decide how the endpoint is driven."""

from __future__ import annotations

import pytest
from rich.console import Console

import langgraph_gram.local as local
from langgraph_gram import cli
from langgraph_gram.local.server import LocalServer


class FakeServer:
    """A started embedded server without the model: the real ``endpoint`` method."""

    endpoint = LocalServer.endpoint
    base_url, model_name = "http://127.0.0.1:9/v1", "embedded"

    def __init__(self, *args, **kwargs) -> None:
        pass

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc) -> None:
        pass


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    for name in ("GRAM_BASE_URL", "GRAM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(local, "LocalServer", FakeServer)


async def endpoint_for(argv):
    args = cli._parser().parse_args(argv)
    async with cli._endpoint(args, Console(stderr=True, quiet=True)) as endpoint:
        return endpoint


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["ask", "Q?"], 1),  # the embedded server answers one request at a time
        (["ask", "--concurrency", "3", "Q?"], 3),
        (["ask", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "Q?"], 4),
        (
            [
                "ask",
                "--base-url",
                "http://127.0.0.1:9/v1",
                "--model",
                "m",
                "--concurrency",
                "8",
                "Q?",
            ],
            8,
        ),
    ],
)
async def test_requests_in_flight(argv, expected):
    assert (await endpoint_for(argv)).max_concurrency == expected


def test_environment_wins_over_defaults(monkeypatch):
    from langgraph_gram.endpoint import OpenAIEndpoint

    defaults = {"base_url": "http://127.0.0.1:8080/v1", "model": "m", "max_concurrency": 1}
    monkeypatch.delenv("GRAM_MAX_CONCURRENCY", raising=False)
    assert OpenAIEndpoint.from_env(defaults=defaults).max_concurrency == 1
    monkeypatch.setenv("GRAM_MAX_CONCURRENCY", "6")
    monkeypatch.setenv("GRAM_BASE_URL", "http://127.0.0.1:9/v1")
    endpoint = OpenAIEndpoint.from_env(defaults=defaults)
    assert (endpoint.max_concurrency, endpoint.base_url) == (6, "http://127.0.0.1:9/v1")
