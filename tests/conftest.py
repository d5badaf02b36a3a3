"""Session fixtures shared by all test folders: the embedded llama.cpp model server.

``local_server`` assembles the default local model (or ``$GRAM_TEST_MODEL``: a model name or a
GGUF path) and runs :class:`langgraph_gram.local.LocalServer` on it once per session. Without
llama-cpp-python the tests that use it are skipped, unless ``$GRAM_REQUIRE_EMBEDDED`` is set (as
in CI), in which case they fail.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator

import pytest

from langgraph_gram.local import LocalServer, ensure_model, llama_cpp_available


def require_embedded() -> None:
    """Skip the calling test when the embedded server cannot run, or fail if CI requires it."""
    if llama_cpp_available():
        return
    message = (
        "llama-cpp-python's server is not installed "
        '(pip install "langgraph-gram[local]" or "llama-cpp-python[server]")'
    )
    if os.environ.get("GRAM_REQUIRE_EMBEDDED"):
        pytest.fail(f"GRAM_REQUIRE_EMBEDDED is set but {message}", pytrace=False)
    pytest.skip(message)


def _progress(message: str) -> None:
    print(f"[local model] {message}", file=sys.stderr, flush=True)


@pytest.fixture(scope="session")
def local_server() -> Iterator[LocalServer]:
    """A started embedded model server, shared by the whole session and stopped at its end."""
    require_embedded()
    selector = os.environ.get("GRAM_TEST_MODEL") or None
    started = time.monotonic()
    path = ensure_model(selector, progress=_progress)
    assembled = time.monotonic()
    server = LocalServer(selector).start()
    ready = time.monotonic()
    _progress(
        f"{server.model_name} ({path}) at {server.base_url}: model ready in "
        f"{assembled - started:.1f}s, "
        f"server answered in {ready - assembled:.1f}s (log: {server.log_path})"
    )
    try:
        yield server
    finally:
        server.stop()
