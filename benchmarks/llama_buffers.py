"""Serve the embedded model with and without llama.cpp's extra weight buffers, and time both.

llama.cpp copies weights into extra buffer types (AMX tiles, repacked blocks) for faster
kernels; `LocalServer` turns them off where they crash on the first request. This measures
what that costs here: prompt processing and generation speed, each mode on its own server
(one at a time, so they do not share the cores), or the crash.

    python benchmarks/llama_buffers.py [--model qwen2.5-coder-1.5b] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.error
import urllib.request

from langgraph_gram.errors import LocalModelError
from langgraph_gram.local import LocalServer

# About 1,300 prompt tokens, the size of a GRAM leaf prompt with retrieved passages.
LONG_PROMPT = "Summarise in one sentence: " + " ".join(
    f"Passage {i} says that Qarvex Labs opened office number {i} in {1900 + i}." for i in range(60)
)
SHORT_PROMPT = "Write a story of about 120 words about a fox who learns to count."


def ask(base_url: str, model: str, prompt: str, max_tokens: int) -> tuple[float, dict]:
    """Send one greedy chat completion; return its seconds and its usage."""
    body = json.dumps(
        {
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens,
            "temperature": 0,
        }
    ).encode()
    request = urllib.request.Request(
        f"{base_url}/chat/completions", data=body, headers={"Content-Type": "application/json"}
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as response:
        usage = json.load(response)["usage"]
    return time.perf_counter() - started, usage


def measure(model: str | None, extra_buffers: bool, repeat: int) -> str:
    """Start a server in one mode and return a table row (or why there is none)."""
    label = "on" if extra_buffers else "off"
    try:
        with LocalServer(model, extra_buffers=extra_buffers) as server:
            try:
                ask(server.base_url, server.model_name, "Hi", 1)  # load and warm up
            except (urllib.error.URLError, ConnectionError, OSError) as exc:
                return f"| {label} | crashed on its first request ({exc}) | | |"
            prompt_rates, decode_rates, prompt_tokens = [], [], 0
            for _ in range(repeat):
                seconds, usage = ask(server.base_url, server.model_name, LONG_PROMPT, 1)
                prompt_tokens = usage["prompt_tokens"]
                prompt_rates.append(prompt_tokens / seconds)
                seconds, usage = ask(server.base_url, server.model_name, SHORT_PROMPT, 160)
                decode_rates.append(usage["completion_tokens"] / seconds)
            return (
                f"| {label} | {max(prompt_rates):.0f} tokens/s ({prompt_tokens}-token prompt) "
                f"| {max(decode_rates):.1f} tokens/s | {server.model_name} |"
            )
    except LocalModelError as exc:
        return f"| {label} | did not start: {str(exc).splitlines()[0]} | | |"


def main() -> None:
    """Time both modes and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="embedded model name or GGUF path")
    parser.add_argument("--repeat", type=int, default=2, help="timed requests per mode (best)")
    args = parser.parse_args()
    print("| extra buffers | prompt processing | generation | model |")
    print("| --- | --- | --- | --- |")
    for extra_buffers in (True, False):
        print(measure(args.model, extra_buffers, args.repeat), flush=True)


if __name__ == "__main__":
    main()
