"""Code quality gates: ruff (lint and format) over the repository, mypy over the package.

Both tools run as subprocesses of this interpreter from the repository root, so they read their
settings from ``pyproject.toml`` (``[tool.ruff]``, ``[tool.mypy]``). A test is skipped only when
its tool is not installed (``pip install -e ".[dev]"`` installs both).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Well under the suite's 900 s per-test timeout ([tool.pytest.ini_options]); a cold mypy run
# (no .mypy_cache) takes about half a minute on 2 busy cores.
RUFF_TIMEOUT = 120
MYPY_TIMEOUT = 600


def _run(module: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (pip install -e '.[dev]')")
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _report(result: subprocess.CompletedProcess[str]) -> str:
    command = " ".join(["python", *result.args[1:]])
    return f"{command} exited {result.returncode}\n{result.stdout}{result.stderr}"


@pytest.mark.timeout(2 * RUFF_TIMEOUT + 60)
def test_ruff_lint_and_format_are_clean():
    lint = _run("ruff", "check", ".", timeout=RUFF_TIMEOUT)
    assert lint.returncode == 0, _report(lint)
    fmt = _run("ruff", "format", "--check", ".", timeout=RUFF_TIMEOUT)
    assert fmt.returncode == 0, _report(fmt)


@pytest.mark.timeout(MYPY_TIMEOUT + 60)
def test_mypy_finds_no_type_errors():
    result = _run("mypy", timeout=MYPY_TIMEOUT)
    assert result.returncode == 0, _report(result)
