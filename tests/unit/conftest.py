"""Unit tests run with the network blocked: only in-process fake models are used here."""

import pytest
from pytest_socket import disable_socket, enable_socket


@pytest.fixture(autouse=True)
def _no_network():
    # Unix sockets stay allowed: asyncio's event loop uses a socketpair internally.
    disable_socket(allow_unix_socket=True)
    yield
    enable_socket()
