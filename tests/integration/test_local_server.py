"""The embedded model for real: assemble it, serve it with llama.cpp, ask for schema-bound JSON."""

from __future__ import annotations

import json
import time

import pytest
from openai import AsyncOpenAI, OpenAI

from langgraph_gram.local import LocalServer

pytestmark = [pytest.mark.integration, pytest.mark.embedded, pytest.mark.timeout(1800)]

SCHEMA = {
    "type": "object",
    "properties": {
        "answer": {"type": "string"},
        "confidence": {"type": "number"},
    },
    "required": ["answer", "confidence"],
}


def test_json_object_with_schema(local_server: LocalServer) -> None:
    client = OpenAI(base_url=local_server.base_url, api_key="EMPTY", timeout=300)
    started = time.monotonic()
    response = client.chat.completions.create(
        model=local_server.model_name,
        messages=[
            {"role": "system", "content": "Answer with a JSON object: answer, confidence."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
        response_format={"type": "json_object", "schema": SCHEMA},  # type: ignore[typeddict-unknown-key]
        max_tokens=96,
        temperature=0,
    )
    elapsed = time.monotonic() - started
    content = response.choices[0].message.content
    assert content is not None
    data = json.loads(content)
    assert isinstance(data, dict)
    assert "answer" in data
    assert isinstance(data["answer"], str)
    assert "paris" in data["answer"].lower()
    assert response.usage is not None
    assert response.usage.prompt_tokens > 0
    assert response.usage.completion_tokens > 0
    print(
        f"chat completion: {elapsed:.2f}s, prompt {response.usage.prompt_tokens} tokens, "
        f"completion {response.usage.completion_tokens} tokens: {content}"
    )


def test_models_endpoint_lists_stable_name(local_server: LocalServer) -> None:
    client = OpenAI(base_url=local_server.base_url, api_key="EMPTY", timeout=60)
    ids = [model.id for model in client.models.list().data]
    assert ids == [local_server.model_name]
    assert local_server.base_url.endswith("/v1")


async def test_async_context_manager_serves_and_stops(local_server: LocalServer) -> None:
    # A second server on the already assembled file, started and stopped without blocking.
    assert local_server.model_path is not None
    server = LocalServer(local_server.model_path, n_ctx=1024)
    async with server:
        assert server.running
        client = AsyncOpenAI(base_url=server.base_url, api_key="EMPTY", timeout=300)
        response = await client.chat.completions.create(
            model=server.model_name,
            messages=[{"role": "user", "content": 'Reply with the JSON object {"ok": true}.'}],
            response_format={"type": "json_object"},
            max_tokens=16,
            temperature=0,
        )
        await client.close()
        assert isinstance(json.loads(response.choices[0].message.content or ""), dict)
        process = server._process
    assert not server.running
    assert process is not None and process.poll() is not None
