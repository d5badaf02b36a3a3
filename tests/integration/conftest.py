"""Fixtures for integration tests against real servers on the loopback interface.

``fault_server`` is a started :class:`fault_server.FaultServer` with default settings
(reconfigure it with ``fault_server.configure(...)``); ``fault_server_factory(**settings)``
starts more, each stopped at teardown; ``closed_port_url`` is a base URL nobody listens on.
Import helpers in tests with ``from fault_server import FaultServer, always_decompose``.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

_TESTS_DIR = Path(__file__).resolve().parents[1]
if str(_TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(_TESTS_DIR))

from fault_server import FaultServer  # noqa: E402
from pg import PostgresServer, PostgresUnavailable, find_pg_bin  # noqa: E402


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under ``tests/integration`` as ``integration``."""
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def fault_server_factory() -> Iterator[Callable[..., FaultServer]]:
    """Start fault servers on demand (``factory(**settings)``); all are stopped at teardown."""
    servers: list[FaultServer] = []

    def make(**settings: Any) -> FaultServer:
        server = FaultServer(**settings).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def fault_server(fault_server_factory: Callable[..., FaultServer]) -> FaultServer:
    """A started fault server with default settings (``echo_answer``, no latency, no faults)."""
    return fault_server_factory()


@pytest.fixture
def closed_port_url() -> str:
    """An OpenAI base URL on 127.0.0.1 whose port has no listener (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


# -- PostgreSQL --------------------------------------------------------------------------------


def _postgres_unavailable(reason: str) -> None:
    if os.environ.get("GRAM_REQUIRE_POSTGRES"):
        pytest.fail(f"GRAM_REQUIRE_POSTGRES is set but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server on 127.0.0.1 for the session; yields its connection URL."""
    try:
        import langgraph.checkpoint.postgres.aio  # noqa: F401
    except ImportError as exc:
        _postgres_unavailable(
            f"langgraph-checkpoint-postgres is not installed ({exc}): "
            'pip install langgraph-checkpoint-postgres "psycopg[binary]" psycopg-pool'
        )
    bin_dir = find_pg_bin()
    if bin_dir is None:
        _postgres_unavailable(
            "PostgreSQL's server binaries (initdb, pg_ctl, postgres) are not installed: "
            "apt-get install postgresql, or set GRAM_PG_BIN"
        )
    try:
        server = PostgresServer(bin_dir).start()
    except PostgresUnavailable as exc:
        _postgres_unavailable(str(exc))
    try:
        yield server.url
    finally:
        server.stop()
