"""The embedded server's fallback when llama.cpp crashes on its first request, with a stand-in
server process on loopback that crashes the way llama.cpp's AMX kernels do on some machines."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from langgraph_gram.errors import LocalModelError
from langgraph_gram.local import LocalServer
from langgraph_gram.local import server as local_server

pytestmark = [pytest.mark.integration]


@pytest.fixture
def gguf(tmp_path: Path) -> Path:
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"GGUF" + b"\0" * 16)
    return model


# A stand-in server that answers /v1/models and crashes (SIGSEGV) on its first completion when
# served with extra weight buffers ("extra"), as llama.cpp's AMX kernels do on some machines.
CRASHING_SERVER = """
import json, os, signal, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
mode, port = sys.argv[1], int(sys.argv[2])
how = sys.argv[3] if len(sys.argv) > 3 else "segfault-with-extra-buffers"
class H(BaseHTTPRequestHandler):
    def _send(self, payload):
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        self._send({"data": [{"id": "tiny"}]})
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        if how == "killed":  # the OOM killer, say: no verdict on the kernels
            os.kill(os.getpid(), signal.SIGKILL)
        if mode == "extra" or how == "segfault-always":
            print("crashing in the AMX kernel", flush=True)
            os.kill(os.getpid(), signal.SIGSEGV)
        self._send({"choices": [{"message": {"content": "Hello"}}]})
    def log_message(self, *args):
        pass
print("serving", mode, flush=True)
HTTPServer(("127.0.0.1", port), H).serve_forever()
"""


@pytest.fixture
def crashing_llama(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Serve CRASHING_SERVER; the list collects the mode of every launch."""
    monkeypatch.setattr(local_server, "llama_cpp_available", lambda: True)
    launches: list[str] = []

    def command(self: LocalServer, path: Path, port: int, *, extra_buffers: bool = True):
        mode = "extra" if extra_buffers else "plain"
        launches.append(mode)
        return [sys.executable, "-c", CRASHING_SERVER, mode, str(port), *self._extra_args]

    monkeypatch.setattr(LocalServer, "command", command)
    return launches


def test_a_server_that_crashes_on_its_first_request_is_restarted_without_extra_buffers(
    gguf: Path, tmp_path: Path, crashing_llama: list[str]
) -> None:
    notes: list[str] = []
    with LocalServer(gguf, cache_dir=tmp_path, progress=notes.append) as server:
        assert crashing_llama == ["extra", "plain"]
        assert server.running
        with urllib.request.urlopen(f"{server.base_url}/models", timeout=5) as response:
            assert json.load(response)["data"][0]["id"] == "tiny"
        log = server.log_path.read_text()
    assert "crashing in the AMX kernel" in log
    assert "restarting it without extra weight buffers" in log
    assert any("crashed on its first request" in note for note in notes)
    verdicts = json.loads((tmp_path / "llama-cpu-fallbacks.json").read_text())
    assert len(verdicts) == 1 and "llama-cpp-python" in next(iter(verdicts))

    # The next start on this machine goes straight to the safe mode: no crash to wait for.
    with LocalServer(gguf, cache_dir=tmp_path) as again:
        assert again.running
    assert crashing_llama == ["extra", "plain", "plain"]


def test_extra_buffers_chosen_explicitly_are_not_second_guessed(
    gguf: Path, tmp_path: Path, crashing_llama: list[str]
) -> None:
    with LocalServer(gguf, cache_dir=tmp_path, extra_buffers=False) as server:
        assert server.running
    assert crashing_llama == ["plain"]
    assert not (tmp_path / "llama-cpu-fallbacks.json").exists()


def test_a_server_that_crashes_either_way_says_so(
    gguf: Path, tmp_path: Path, crashing_llama: list[str]
) -> None:
    server = LocalServer(gguf, cache_dir=tmp_path, extra_args=["segfault-always"])
    with pytest.raises(LocalModelError, match="also without extra weight buffers") as info:
        server.start()
    assert "crashing in the AMX kernel" in str(info.value)
    assert not server.running
    assert crashing_llama == ["extra", "plain"]


def test_a_server_killed_from_outside_on_its_first_request_is_no_verdict(
    gguf: Path, tmp_path: Path, crashing_llama: list[str]
) -> None:
    server = LocalServer(gguf, cache_dir=tmp_path, extra_args=["killed"])
    with pytest.raises(LocalModelError, match="exited with code -9 on its first request"):
        server.start()
    assert crashing_llama == ["extra"]
    assert not (tmp_path / "llama-cpu-fallbacks.json").exists()


def test_a_requested_port_already_in_use_is_refused_before_anything_starts(
    gguf: Path, tmp_path: Path, crashing_llama: list[str]
) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(LocalModelError, match=f"port {port} on 127.0.0.1 is already in use"):
            LocalServer(gguf, cache_dir=tmp_path, port=port).start()
    assert crashing_llama == []


def test_verdicts_saved_at_once_by_several_processes_are_all_kept(tmp_path: Path) -> None:
    script = (
        "import sys; from pathlib import Path; from langgraph_gram.local import server as s\n"
        "for i in range(100):\n"
        "    s._cpu_key = lambda: f'{sys.argv[1]}-{i}'\n"
        "    s._remember_cpu_verdict(Path(sys.argv[2]), 'x')\n"
    )
    path = tmp_path / "llama-cpu-fallbacks.json"
    children = [
        subprocess.Popen([sys.executable, "-c", script, writer, str(path)])
        for writer in ("a", "b", "c")
    ]
    assert all(child.wait(timeout=120) == 0 for child in children)
    assert len(json.loads(path.read_text())) == 300


def test_a_models_answer_of_another_shape_is_not_this_server(gguf: Path, tmp_path: Path) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Other(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"[]"  # JSON, but not an OpenAI model list
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    other = HTTPServer(("127.0.0.1", 0), Other)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        server = LocalServer(gguf, cache_dir=tmp_path)
        # As if our child had started on that port: probing must not take the other for it.
        server._process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        server._port = other.server_address[1]
        assert server._probe() is False
    finally:
        server.stop()
        other.shutdown()
