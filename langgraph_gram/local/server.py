"""Serve a local GGUF model with llama-cpp-python's OpenAI-compatible server.

:class:`LocalServer` runs ``python -m llama_cpp.server`` as a child process on loopback (a
context manager, sync or async), and :func:`serve_forever` is ``gram serve-local``;
:class:`langgraph_gram.endpoint.OpenAIEndpoint` then talks to the server.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Self

from langgraph_gram.errors import LocalModelError

if TYPE_CHECKING:
    from langgraph_gram.endpoint import OpenAIEndpoint

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows: no inter-process lock
    fcntl = None  # type: ignore[assignment]

from langgraph_gram.local.model_files import (
    ProgressCallback,
    default_cache_dir,
    ensure_model,
    model_name_for,
)

_INSTALL_HINT = 'pip install "langgraph-gram[local]"'
_LOG_ROTATE_BYTES = 20 << 20

# llama_cpp.server reads every setting from same-named environment variables too (pydantic
# settings, case-insensitive), and uvicorn's HOST/PORT override the flags: keep them out of the
# child's environment so that e.g. a CI's PORT or API_KEY cannot change the server we start.
_SERVER_SETTING_NAMES = frozenset(
    """
    model model_alias n_gpu_layers split_mode main_gpu tensor_split vocab_only use_mmap use_mlock
    kv_overrides rpc_servers seed n_ctx n_batch n_ubatch n_threads n_threads_batch
    rope_scaling_type rope_freq_base rope_freq_scale yarn_ext_factor yarn_attn_factor
    yarn_beta_fast yarn_beta_slow yarn_orig_ctx mul_mat_q logits_all embedding offload_kqv
    flash_attn last_n_tokens_size lora_base lora_path numa chat_format chat_template_kwargs
    clip_model_path cache cache_type cache_size hf_tokenizer_config_path
    hf_pretrained_model_name_or_path hf_model_repo_id draft_model draft_model_num_pred_tokens
    type_k type_v verbose host port ssl_keyfile ssl_certfile api_key interrupt_requests
    disable_ping_events root_path config_file models
    """.split()
)

_LIVE_SERVERS: set[LocalServer] = set()
_LIVE_LOCK = threading.Lock()


def _stop_live_servers() -> None:
    with _LIVE_LOCK:
        servers = list(_LIVE_SERVERS)
    for server in servers:
        with contextlib.suppress(Exception):
            server.stop()


atexit.register(_stop_live_servers)


def _cpu_key() -> str:
    """Name this machine's CPU and llama-cpp-python build, for remembered fallbacks."""
    model, flags = platform.machine(), ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model == platform.machine():
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = hashlib.sha256(" ".join(sorted(value.split())).encode()).hexdigest()[:12]
    try:
        version = importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        version = "?"
    return f"llama-cpp-python {version} on {model} (cpu flags {flags or '?'})"


# A child killed by one of these on its first request crashed in its own code.
_FAULT_CODES = frozenset(
    -sig for sig in (signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGABRT)
)


def _port_answers(host: str, port: int) -> bool:
    """Tell whether something already accepts connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _cpu_verdicts(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _remember_cpu_verdict(path: Path, note: str) -> None:
    """Add this CPU's verdict to the file, under a lock (other processes may write it too)."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.with_name(path.name + ".lock").open("a") as lock:
            if fcntl is not None:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            verdicts = _cpu_verdicts(path)
            verdicts[_cpu_key()] = note
            handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
            with os.fdopen(handle, "w") as out:
                out.write(json.dumps(verdicts, indent=1, sort_keys=True))
            os.replace(tmp, path)


def llama_cpp_available() -> bool:
    """Tell whether llama-cpp-python's server can be started (without importing it).

    Returns:
        ``True`` when ``llama_cpp`` and the server's web stack are installed.

    """
    return all(
        importlib.util.find_spec(module) is not None
        for module in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "pydantic_settings")
    )


def _default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name) or "model"


class _StartFailure(LocalModelError):
    """The server process exited before it answered; ``log`` holds the tail of its output."""

    def __init__(self, message: str, log: str) -> None:
        super().__init__(f"{message}\n--- server log (tail) ---\n{log}" if log else message)
        self.log = log


class LocalServer:
    """llama-cpp-python's OpenAI-compatible server, running one local GGUF model.

    The server is a child process (``python -m llama_cpp.server``) bound to loopback on a free
    port; its output goes to a log file under ``<cache dir>/logs``. Use it as a context manager,
    sync or async, or call :meth:`start` / :meth:`stop` (or :meth:`astart` / :meth:`astop`).
    Servers still running when the interpreter exits are stopped.

    Example:
        >>> async with LocalServer() as server:  # doctest: +SKIP
        ...     llm = server.endpoint()

    """

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        cache_dir: Path | None = None,
        startup_timeout: float = 180.0,
        extra_args: Sequence[str] = (),
        progress: ProgressCallback | None = None,
        extra_buffers: bool | None = None,
    ) -> None:
        """Describe the server; nothing is assembled or started yet.

        Args:
            model: A name from :data:`MODELS`, a path to a GGUF file, or ``None`` for
                ``$GRAM_LOCAL_MODEL`` / :data:`DEFAULT_MODEL` (see :func:`ensure_model`).
            n_ctx: Context window in tokens (prompt plus completion).
            n_threads: CPU threads for generation and prompt processing; default all CPUs this
                process may run on.
            host: Interface to bind; keep the default unless the server must be reachable from
                other machines (it has no authentication).
            port: Port to bind; default a free one.
            cache_dir: Where models are assembled and logs written; default
                :func:`default_cache_dir`.
            startup_timeout: Seconds to wait for the server to answer before giving up.
            extra_args: More ``llama_cpp.server`` flags, appended as given (e.g.
                ``["--n_batch", "256"]``).
            progress: Called with progress lines while the model is assembled; silent if ``None``.
            extra_buffers: Let llama.cpp copy weights into its extra buffer types (AMX tiles,
                repacked blocks) for faster kernels. ``None`` (the default) tries them and, if
                the server crashes on a first one-token request (llama.cpp's AMX kernels do on
                some virtual machines), serves without them and remembers that for this CPU
                and llama-cpp-python version in the cache folder.

        Raises:
            LocalModelError: The model selector is invalid, or ``n_ctx`` / ``n_threads`` are not
                positive.

        """
        if n_ctx <= 0:
            raise LocalModelError(f"n_ctx must be positive, got {n_ctx}")
        if n_threads is not None and n_threads <= 0:
            raise LocalModelError(f"n_threads must be positive, got {n_threads}")
        self._selector = model
        self._model_name = model_name_for(model)
        self._n_ctx = n_ctx
        self._n_threads = n_threads or _default_threads()
        self._host = host
        self._requested_port = port
        self._cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else None
        self._startup_timeout = startup_timeout
        self._extra_args = tuple(extra_args)
        self._progress = progress
        self._extra_buffers = extra_buffers
        self._lock = threading.RLock()
        self._abort = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._log_handle: IO[bytes] | None = None
        self._log_offset = 0
        self._port: int | None = None
        self._model_path: Path | None = None

    # -- properties ---------------------------------------------------------------------------

    @property
    def model_name(self) -> str:
        """The model name the server answers to (the OpenAI ``model`` parameter)."""
        return self._model_name

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL, ending with ``/v1``.

        Raises:
            LocalModelError: The server is not started.

        """
        if self._port is None or self._process is None:
            raise LocalModelError("the local model server is not started")
        return f"http://{self._url_host}:{self._port}/v1"

    @property
    def port(self) -> int | None:
        """The port the server listens on, or ``None`` while it is not started."""
        return self._port if self._process is not None else None

    @property
    def model_path(self) -> Path | None:
        """The GGUF file being served, or ``None`` before the first start."""
        return self._model_path

    @property
    def log_path(self) -> Path:
        """The file the server's output is appended to."""
        directory = self._cache_dir if self._cache_dir is not None else default_cache_dir()
        return directory / "logs" / f"llama-server-{_safe_name(self._model_name)}.log"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        process = self._process
        return process is not None and process.poll() is None

    @property
    def _url_host(self) -> str:
        if self._host in ("0.0.0.0", ""):
            return "127.0.0.1"
        if self._host == "::":
            return "[::1]"
        return f"[{self._host}]" if ":" in self._host else self._host

    def __repr__(self) -> str:
        """Show the model and where it is served."""
        where = f"{self._url_host}:{self._port}" if self.running else "stopped"
        return f"LocalServer(model={self._model_name!r}, {where})"

    # -- sync lifecycle -------------------------------------------------------------------------

    def command(self, model_path: Path, port: int, *, extra_buffers: bool = True) -> list[str]:
        """Return the command line that starts the server.

        Args:
            model_path: The GGUF file to serve.
            port: The port to bind.
            extra_buffers: ``False`` serves through :mod:`langgraph_gram.local.llama_main`,
                which turns llama.cpp's extra weight buffers off.

        Returns:
            The argv list, starting with the current Python interpreter.

        """
        threads = str(self._n_threads)
        return [
            sys.executable,
            "-m",
            "llama_cpp.server" if extra_buffers else "langgraph_gram.local.llama_main",
            "--model",
            str(model_path),
            "--model_alias",
            self._model_name,
            "--host",
            self._host,
            "--port",
            str(port),
            "--n_ctx",
            str(self._n_ctx),
            "--n_threads",
            threads,
            "--n_threads_batch",
            threads,
            # Logits of the last token only: all-token logits cost n_ctx x vocab floats and an
            # output projection per prompt token, and are only needed for logprobs.
            "--logits_all",
            "False",
            # Do not pin 1 GB of RAM (the server's default where mlock is supported).
            "--use_mlock",
            "False",
            # Requests are served one at a time; do not cut a streaming answer short when the
            # next request arrives.
            "--interrupt_requests",
            "False",
            *self._extra_args,
        ]

    def start(self) -> Self:
        """Assemble the model if needed, start the server and wait until it answers.

        Calling it on a running server does nothing.

        Returns:
            This server.

        Raises:
            LocalModelError: llama-cpp-python is not installed, the model cannot be assembled,
                or the server exits or stays silent past ``startup_timeout`` (the message holds
                the tail of its log).

        """
        with self._lock:
            if self.running:
                return self
            self._abort.clear()
            if not llama_cpp_available():
                raise LocalModelError(
                    "the embedded model needs llama-cpp-python's server, which is not installed; "
                    f"run: {_INSTALL_HINT}"
                )
            self._model_path = ensure_model(
                self._selector, cache_dir=self._cache_dir, progress=self._progress
            )
            attempts = 1 if self._requested_port is not None else 3
            extra = self._extra_buffers
            if extra is None:
                extra = _cpu_verdicts(self._verdict_path).get(_cpu_key()) is None
            for attempt in range(attempts):
                port = self._requested_port or _free_port(self._host)
                if _port_answers(self._host, port):
                    # Probing it would reach whatever listens there, not the server we start.
                    if attempt + 1 < attempts and self._requested_port is None:
                        continue
                    raise LocalModelError(
                        f"port {port} on {self._host} is already in use: stop what listens "
                        "there or choose another port"
                    )
                try:
                    self._launch(self._model_path, port, extra_buffers=extra)
                    self._wait_ready()
                    if self._extra_buffers is None and extra:
                        died = self._warm_up_exit()
                        if died is not None:
                            self._fall_back_from_extra_buffers(port, died)
                            extra = False
                    if self._abort.is_set():
                        raise LocalModelError("start of the local model server was cancelled")
                except _StartFailure as exc:
                    self.stop()
                    in_use = "address already in use" in exc.log.lower()
                    if in_use and attempt + 1 < attempts:
                        continue  # another process took the free port first
                    raise
                except BaseException:
                    self.stop()
                    raise
                with _LIVE_LOCK:
                    _LIVE_SERVERS.add(self)
                return self
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self, grace: float = 10.0) -> None:
        """Stop the server: SIGTERM, then SIGKILL after ``grace`` seconds. Idempotent.

        Args:
            grace: Seconds to wait for a graceful exit before killing the process.

        """
        with self._lock:
            process, self._process = self._process, None
            if process is not None:
                if process.poll() is None:
                    process.terminate()
                    try:
                        process.wait(timeout=grace)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait()
            if self._log_handle is not None:
                self._log_handle.close()
                self._log_handle = None
            self._port = None
            with _LIVE_LOCK:
                _LIVE_SERVERS.discard(self)

    def __enter__(self) -> Self:
        """Start the server (see :meth:`start`)."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server (see :meth:`stop`)."""
        self.stop()

    # -- async lifecycle ------------------------------------------------------------------------

    async def astart(self) -> Self:
        """Async :meth:`start`: the blocking work runs in a worker thread.

        If the awaiting task is cancelled, the worker stops the server as soon as it notices.

        Returns:
            This server.

        Raises:
            LocalModelError: As for :meth:`start`.

        """
        task = asyncio.ensure_future(asyncio.to_thread(self.start))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            # The worker polls this flag and stops the server it is starting; a start that had
            # already succeeded is undone in the background.
            self._abort.set()
            task.add_done_callback(self._stop_after_cancelled_start)
            raise

    def _stop_after_cancelled_start(self, task: asyncio.Future[Self]) -> None:
        if not task.cancelled() and task.exception() is None:
            threading.Thread(target=self.stop, name="gram-local-stop", daemon=True).start()

    async def astop(self, grace: float = 10.0) -> None:
        """Async :meth:`stop`, run in a worker thread.

        Args:
            grace: Seconds to wait for a graceful exit before killing the process.

        """
        await asyncio.to_thread(self.stop, grace)

    async def __aenter__(self) -> Self:
        """Start the server (see :meth:`astart`)."""
        return await self.astart()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server (see :meth:`astop`)."""
        await self.astop()

    # -- client ---------------------------------------------------------------------------------

    def endpoint(self, **kwargs: Any) -> OpenAIEndpoint:
        """Return an :class:`~langgraph_gram.endpoint.OpenAIEndpoint` for this server.

        Structured output uses ``response_format={"type": "json_object", "schema": ...}``, which
        llama.cpp enforces with a grammar. The server answers one request at a time, so
        ``max_concurrency`` defaults to 1 (queued requests would otherwise spend their timeout
        waiting inside the server).

        Args:
            **kwargs: Passed to ``OpenAIEndpoint`` and override the defaults above.

        Returns:
            An endpoint bound to :attr:`base_url` and :attr:`model_name`.

        Raises:
            LocalModelError: The server is not started.

        """
        from langgraph_gram.endpoint import OpenAIEndpoint

        kwargs.setdefault("structured", "json_object")
        kwargs.setdefault("max_concurrency", 1)
        return OpenAIEndpoint(self.base_url, self.model_name, **kwargs)

    # -- internals ------------------------------------------------------------------------------

    def _open_log(self) -> IO[bytes]:
        path = self.log_path
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            if path.stat().st_size > _LOG_ROTATE_BYTES:
                os.replace(path, path.with_name(path.name + ".1"))
        handle = path.open("ab")
        return handle

    @property
    def _verdict_path(self) -> Path:
        return (self._cache_dir or default_cache_dir()) / "llama-cpu-fallbacks.json"

    def _warm_up_exit(self) -> int | None:
        """Ask for one token; return the server's exit code if it died answering, else None."""
        process = self._process
        assert process is not None
        body = json.dumps(
            {
                "model": self._model_name,
                "messages": [{"role": "user", "content": "Hi"}],
                "max_tokens": 1,
                "temperature": 0,
            }
        ).encode()
        request = urllib.request.Request(
            f"{self.base_url}/chat/completions",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=min(self._startup_timeout, 120.0)) as response:
                response.read()
        except (OSError, ValueError, urllib.error.URLError):
            # A crash drops the connection; give the process a moment to be reaped.
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        return process.poll()

    def _fall_back_from_extra_buffers(self, port: int, code: int) -> None:
        """Restart without extra weight buffers after a crash, and remember it for this CPU.

        Only a death by a fault signal counts (SIGSEGV, SIGBUS, SIGILL, SIGABRT): an exit, a
        kill from outside (the OOM killer, a supervisor) or a cancelled start is no verdict on
        the kernels and raises instead.
        """
        if code not in _FAULT_CODES or self._abort.is_set():
            raise _StartFailure(
                f"the local model server exited with code {code} on its first request "
                f"(log: {self.log_path})",
                self._log_tail(),
            )
        note = (
            f"the local model server crashed on its first request (exit code {code}), as "
            "llama.cpp's AMX kernels do on some virtual machines (llama.cpp issue #20824); "
            "restarting it without extra weight buffers"
        )
        assert self._log_handle is not None
        self._log_handle.write(f"=== langgraph-gram: {note}\n".encode())
        self._log_handle.flush()
        if self._progress is not None:
            self._progress(f"{self._model_name}: {note}")
        self.stop()
        _remember_cpu_verdict(self._verdict_path, note)
        assert self._model_path is not None
        self._launch(self._model_path, port, extra_buffers=False)
        self._wait_ready()
        if self._warm_up_exit() is not None:
            raise _StartFailure(
                "the local model server crashed on its first request, also without extra "
                f"weight buffers (log: {self.log_path})",
                self._log_tail(),
            )

    def _launch(self, model_path: Path, port: int, *, extra_buffers: bool = True) -> None:
        if self._abort.is_set():
            raise LocalModelError("start of the local model server was cancelled")
        cmd = self.command(model_path, port, extra_buffers=extra_buffers)
        env = {k: v for k, v in os.environ.items() if k.lower() not in _SERVER_SETTING_NAMES}
        env["PYTHONUNBUFFERED"] = "1"
        if self._log_handle is None:
            self._log_handle = self._open_log()
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        self._log_handle.write(f"\n=== {stamp} pid {os.getpid()}: {' '.join(cmd)}\n".encode())
        self._log_handle.flush()
        self._log_offset = self._log_handle.tell()
        try:
            self._process = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=self._log_handle,
                stderr=subprocess.STDOUT,
                env=env,
            )
        except OSError as exc:
            raise LocalModelError(f"could not start the local model server: {exc}") from exc
        self._port = port

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._startup_timeout
        process = self._process
        assert process is not None
        while True:
            if self._abort.is_set():
                raise LocalModelError("start of the local model server was cancelled")
            code = process.poll()
            if code is not None:
                raise _StartFailure(
                    f"the local model server exited with code {code} before it answered "
                    f"(log: {self.log_path})",
                    self._log_tail(),
                )
            if self._probe():
                return
            if time.monotonic() > deadline:
                raise _StartFailure(
                    f"the local model server did not answer within {self._startup_timeout:.0f}s "
                    f"(log: {self.log_path})",
                    self._log_tail(),
                )
            time.sleep(0.2)

    def _probe(self) -> bool:
        """Tell whether ``GET /v1/models`` answers and lists this server's model."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(f"{self.base_url}/models", timeout=2) as response:
                payload = json.loads(response.read().decode("utf-8"))
        except (OSError, ValueError, urllib.error.URLError):
            return False
        data = payload.get("data") if isinstance(payload, dict) else None
        ids = [item.get("id") for item in data or [] if isinstance(item, dict)]
        return self._model_name in ids

    def _log_tail(self, lines: int = 40) -> str:
        try:
            with self.log_path.open("rb") as f:
                f.seek(self._log_offset)
                text = f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])


def serve_forever(
    selector: str | os.PathLike[str] | None = None,
    *,
    port: int | None = None,
    host: str = "127.0.0.1",
    n_ctx: int = 4096,
    cache_dir: Path | None = None,
) -> None:
    """Serve a local model in the foreground until Ctrl-C or SIGTERM (``gram serve-local``).

    Progress goes to stderr; the URL and model name are printed to stdout once the server
    answers.

    Args:
        selector: As for :func:`ensure_model`.
        port: Port to bind; default a free one.
        host: Interface to bind.
        n_ctx: Context window in tokens.
        cache_dir: Where models are assembled and logs written.

    Raises:
        LocalModelError: The model cannot be assembled, or the server fails to start or dies.

    """

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def on_sigterm(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    server = LocalServer(
        selector, host=host, port=port, n_ctx=n_ctx, cache_dir=cache_dir, progress=progress
    )
    previous: Any = None
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread:
        previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        server.start()
        print(f"model:    {server.model_name}", flush=True)
        print(f"base_url: {server.base_url}", flush=True)
        progress(f"serving {server.model_path}; log: {server.log_path}; Ctrl-C to stop")
        while server.running:
            time.sleep(0.5)
        raise LocalModelError(
            f"the local model server stopped unexpectedly (log: {server.log_path})\n"
            f"{server._log_tail()}"
        )
    except KeyboardInterrupt:
        progress("stopping the local model server")
    finally:
        server.stop()
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


__all__ = ["LocalServer", "llama_cpp_available", "serve_forever"]
