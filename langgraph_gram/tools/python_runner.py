"""Run Python in a sandboxed subprocess: a time limit, a throw-away directory, no network.

:func:`run_python` is a coroutine returning a :class:`PythonRunResult` (the checker for
generated code); :func:`python_tool` is the same as a LangChain tool whose output is the
program's stdout, stderr and exit status.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from langgraph_gram.errors import ConfigurationError

_T = TypeVar("_T")


MAX_STREAM_CHARS = 3000
"""Default most characters kept of stdout and of stderr (head and tail, the middle cut)."""

_SNIPPET_NAME = "snippet.py"

MEMORY_LIMIT = 2 * 1024**3
"""Most bytes of address space a program may use (``RLIMIT_AS``): a runaway allocation fails
with ``MemoryError`` instead of waking the host's out-of-memory killer."""

FILE_LIMIT = 64 * 1024**2
"""Largest file, in bytes, a program may write (``RLIMIT_FSIZE``)."""

# Runs first in the child: disables the network at the socket layer, then runs snippet.py as
# __main__ in fresh globals, and prints an exception's traceback without this launcher's frame.
_LAUNCHER = f"""\
import resource as _resource
for _limit, _value in ((_resource.RLIMIT_AS, {MEMORY_LIMIT}),
                       (_resource.RLIMIT_FSIZE, {FILE_LIMIT})):
    try:
        _resource.setrlimit(_limit, (_value, _value))
    except (ValueError, OSError):  # a lower hard limit is already set
        pass
del _resource, _limit, _value
import socket as _socket, sys as _sys
def _network_disabled(*args, **kwargs):
    raise OSError("network disabled")
for _name in ("connect", "connect_ex", "sendto", "sendmsg"):
    setattr(_socket.socket, _name, _network_disabled)
for _name in ("create_connection", "getaddrinfo", "gethostbyname", "gethostbyname_ex",
              "gethostbyaddr"):
    setattr(_socket, _name, _network_disabled)
_sys.argv = [{_SNIPPET_NAME!r}]
_sys.path.insert(0, "")
with open({_SNIPPET_NAME!r}, encoding="utf-8") as _file:
    _code = compile(_file.read(), {_SNIPPET_NAME!r}, "exec")
del _socket, _network_disabled, _name, _file
try:
    exec(_code, {{"__name__": "__main__", "__file__": {_SNIPPET_NAME!r},
                 "__builtins__": __builtins__}})
except SystemExit:
    raise
except BaseException as _error:
    import traceback as _traceback
    _traceback.print_exception(type(_error), _error, _error.__traceback__.tb_next)
    _sys.stderr.flush()
    _sys.exit(1)
"""


@dataclass(frozen=True)
class PythonRunResult:
    """What a Python run produced.

    Attributes:
        returncode: The exit status (negative: killed by that signal); ``None`` on timeout.
        stdout: Standard output (decoded, cut to the head and tail when long).
        stderr: Standard error (same).
        timed_out: Whether the time limit killed the program.
        seconds: Wall time of the run.
        network_isolated: Whether it ran in its own network namespace (besides the socket
            guard, which is always on).
    """

    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool
    seconds: float
    network_isolated: bool

    @property
    def ok(self) -> bool:
        """Whether the program exited with status 0."""
        return self.returncode == 0

    def to_text(self) -> str:
        """Render the result as the tool shows it to a model.

        Returns:
            ``exit status: ...`` followed by the stdout and stderr sections.
        """
        if self.timed_out:
            status = f"timed out after {self.seconds:.1f} s (killed)"
        else:
            status = str(self.returncode)
        return (
            f"exit status: {status}\n"
            f"--- stdout ---\n{self.stdout or '(empty)'}\n"
            f"--- stderr ---\n{self.stderr or '(empty)'}"
        )


class _Capture:
    """Keeps the first and last bytes of a stream (bounded memory), counting the rest."""

    def __init__(self, limit: int) -> None:
        self.half = max(limit // 2, 1)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > self.half:
                del self.tail[: len(self.tail) - self.half]

    def text(self) -> str:
        cut = self.total - len(self.head) - len(self.tail)
        head = self.head.decode("utf-8", errors="replace")
        tail = self.tail.decode("utf-8", errors="replace")
        if cut > 0:
            return f"{head}\n[... {cut} bytes cut ...]\n{tail}".strip("\n")
        return (head + tail).rstrip("\n")


async def _drain(stream: asyncio.StreamReader | None, capture: _Capture) -> None:
    if stream is None:
        return
    while chunk := await stream.read(65536):
        capture.feed(chunk)


_isolation: list[str] | None = None


async def _isolation_prefix() -> list[str]:
    """``unshare -n`` (root) or ``unshare -rn`` (user namespaces) if it works here, else []."""
    global _isolation
    if _isolation is not None:
        return _isolation
    unshare = await asyncio.to_thread(shutil.which, "unshare")
    found: list[str] = []
    for flags in ("-n", "-rn"):
        if unshare is None:
            break
        try:
            proc = await asyncio.create_subprocess_exec(
                unshare,
                flags,
                sys.executable,
                "-I",
                "-c",
                "pass",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            code = await asyncio.wait_for(proc.wait(), 10)
        except (OSError, TimeoutError):
            continue
        if code == 0:
            found = [unshare, flags]
            break
    _isolation = found
    return found


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _prepare(code: str, stdin: str | None) -> tuple[str, int | None]:
    workdir = tempfile.mkdtemp(prefix="gram-python-")
    try:
        # errors="replace": text decoded from JSON may hold lone surrogates ("\udc80").
        Path(workdir, _SNIPPET_NAME).write_text(code, encoding="utf-8", errors="replace")
        if stdin is None:
            return workdir, None
        stdin_path = Path(workdir, ".stdin")
        stdin_path.write_text(stdin, encoding="utf-8", errors="replace")
        return workdir, os.open(stdin_path, os.O_RDONLY)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise


async def run_python(
    code: str,
    *,
    time_limit: float = 10.0,
    stdin: str | None = None,
    max_output: int = MAX_STREAM_CHARS,
) -> PythonRunResult:
    """Run a Python program in a sandboxed subprocess.

    The program runs as ``__main__`` under ``sys.executable -I`` (isolated mode) in a fresh
    temporary working directory (deleted afterwards), with a minimal environment (``PATH``,
    ``HOME`` and ``TMPDIR`` set to that directory, a UTF-8 locale), in a new process group
    that is killed when the time limit passes (or the caller is cancelled). The network is
    off: inside a network namespace when ``unshare`` works here (probed once), and always by a
    guard that makes socket connections and name lookups raise ``OSError("network
    disabled")``. Its address space is limited to :data:`MEMORY_LIMIT` and the files it
    writes to :data:`FILE_LIMIT`. This is isolation for well-meant code, not a security
    boundary: files written outside its directory stay, and a child that leaves the process
    group (``setsid``) outlives the kill.

    Args:
        code: The program's source.
        time_limit: Seconds before the process group is killed.
        stdin: Text for its standard input (none by default).
        max_output: Most bytes kept of stdout and of stderr each (head and tail).

    Returns:
        The exit status, outputs and timing.
    """
    prefix = await _isolation_prefix()
    workdir, stdin_fd = await asyncio.to_thread(_prepare, code, stdin)
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": workdir,
        "TMPDIR": workdir,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    }
    out, err = _Capture(max_output), _Capture(max_output)
    proc: asyncio.subprocess.Process | None = None
    readers: asyncio.Future[Any] | None = None
    timed_out = False
    returncode: int | None = None
    started = time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            *prefix,
            sys.executable,
            "-I",
            "-u",
            "-c",
            _LAUNCHER,
            cwd=workdir,
            env=env,
            stdin=stdin_fd if stdin_fd is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        readers = asyncio.gather(_drain(proc.stdout, out), _drain(proc.stderr, err))
        try:
            returncode = await asyncio.wait_for(proc.wait(), time_limit)
        except TimeoutError:
            timed_out = True
            _kill_group(proc.pid)
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                pass
        _kill_group(proc.pid)  # leftovers of the program's own children
        try:  # output still in the pipes; a detached grandchild may hold them open
            await asyncio.wait_for(readers, 1.0)
        except TimeoutError:
            pass
    finally:
        seconds = time.monotonic() - started
        if proc is not None and proc.returncode is None:
            _kill_group(proc.pid)
        if readers is not None and not readers.done():
            readers.cancel()
            # Mark the cancelled readers' outcome as seen, so asyncio logs nothing.
            readers.add_done_callback(lambda done: done.cancelled() or done.exception())
        if stdin_fd is not None:
            os.close(stdin_fd)
        await asyncio.shield(asyncio.to_thread(shutil.rmtree, workdir, ignore_errors=True))
    return PythonRunResult(
        returncode=None if timed_out else returncode,
        stdout=out.text(),
        stderr=err.text(),
        timed_out=timed_out,
        seconds=round(seconds, 3),
        network_isolated=bool(prefix),
    )


def _run_blocking(factory: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run a coroutine to completion from sync code, even under a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


class _PythonInput(BaseModel):
    code: str = Field(description="A complete Python program; print() what you want to see.")


def python_tool(
    *, timeout: float = 10.0, name: str = "python", max_output: int = MAX_STREAM_CHARS
) -> BaseTool:
    """Make a tool that runs a Python program (see :func:`run_python`) and reports back.

    Its content is ``exit status: <n>`` (or ``timed out ...``) followed by ``--- stdout ---``
    and ``--- stderr ---`` sections; its artifact is the :class:`PythonRunResult` as a dict.

    Args:
        timeout: Seconds a program may run before its process group is killed.
        name: The tool's name.
        max_output: Most bytes kept of stdout and of stderr each.

    Returns:
        The tool (one argument, ``code``).

    Raises:
        ConfigurationError: ``timeout`` is not positive.
    """
    if not timeout > 0:
        raise ConfigurationError(f"timeout must be > 0, got {timeout}")

    async def arun(code: str) -> tuple[str, dict[str, Any]]:
        result = await run_python(code, time_limit=timeout, max_output=max_output)
        return result.to_text(), asdict(result)

    def run(code: str) -> tuple[str, dict[str, Any]]:
        return _run_blocking(lambda: arun(code))

    return StructuredTool.from_function(
        func=run,
        coroutine=arun,
        name=name,
        description=(
            "Run a Python 3 program (standard library; no network; a fresh working "
            f"folder, deleted after; {timeout:g} s limit) and see its exit status, stdout "
            "and stderr. Print the values you need."
        ),
        args_schema=_PythonInput,
        response_format="content_and_artifact",
        metadata={"gram_kind": "python"},
    )
