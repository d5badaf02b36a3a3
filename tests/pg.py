"""A throwaway PostgreSQL server for tests, on 127.0.0.1, in a temporary data directory.

:class:`PostgresServer` runs ``initdb`` and ``pg_ctl start`` from the installed PostgreSQL
binaries (found by :func:`find_pg_bin`: ``$GRAM_PG_BIN``, then Debian's
``/usr/lib/postgresql/<version>/bin``, newest first, then ``PATH``), listening on loopback
only, on a free port, with ``trust`` authentication, and creates one database.
:attr:`PostgresServer.url` is its connection URL; :meth:`PostgresServer.stop` stops the server
and deletes the data directory.

PostgreSQL refuses to run as root. When the tests run as root, every server command runs as
the ``postgres`` system user (created by Debian's ``postgresql`` package) through
``runuser -u postgres --``, and the temporary directory is handed to that user.

Usage::

    with PostgresServer(find_pg_bin()) as pg:
        async with AsyncPostgresSaver.from_conn_string(pg.url) as saver:
            ...

On Debian/Ubuntu: ``apt-get install -y postgresql`` (binaries in
``/usr/lib/postgresql/<version>/bin``; the package's own cluster is left alone).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

TOOLS = ("initdb", "pg_ctl", "postgres", "createdb")
"""The binaries a throwaway server needs."""

DEBIAN_ROOT = Path("/usr/lib/postgresql")
"""Where Debian's packages install each major version's binaries (``<version>/bin``)."""

SYSTEM_USER = "postgres"
"""The unprivileged user the server runs as when the tests run as root."""


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be started here (binaries or an unprivileged user are missing)."""


def _has_tools(directory: Path) -> bool:
    return all(os.access(directory / tool, os.X_OK) for tool in TOOLS)


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name)) or (0,)


def find_pg_bin() -> Path | None:
    """Find a directory holding ``initdb``, ``pg_ctl``, ``postgres`` and ``createdb``.

    Returns:
        ``$GRAM_PG_BIN`` if set and complete, else the newest
        ``/usr/lib/postgresql/<version>/bin``, else the directory of ``pg_ctl`` on ``PATH``;
        ``None`` when none is complete.
    """
    override = os.environ.get("GRAM_PG_BIN")
    if override:
        return Path(override) if _has_tools(Path(override)) else None
    candidates = sorted(DEBIAN_ROOT.glob("*/bin"), key=_version_key, reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for candidate in candidates:
        if _has_tools(candidate):
            return candidate
    return None


def _world_traversable(path: Path) -> bool:
    """Whether any user may reach ``path`` (every directory up to it is ``o+x``)."""
    path = path.resolve()
    return all(p.stat().st_mode & 0o001 for p in (path, *path.parents))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """A PostgreSQL server in a temporary directory, on 127.0.0.1, stopped by :meth:`stop`.

    Args:
        bin_dir: The directory of the PostgreSQL binaries (see :func:`find_pg_bin`).
        database: The database to create.
        start_timeout: Seconds ``pg_ctl start`` may wait for the server to accept connections.
    """

    def __init__(self, bin_dir: Path, database: str = "gram_test", start_timeout: int = 60):
        self.bin_dir = Path(bin_dir)
        self.database = database
        self.start_timeout = start_timeout
        self.port: int | None = None
        self.base: Path | None = None
        self._running = False
        self._as_user: list[str] = []
        self._owner: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                self._owner = pwd.getpwnam(SYSTEM_USER)
            except KeyError as exc:
                raise PostgresUnavailable(
                    f"running as root and there is no {SYSTEM_USER!r} user to run PostgreSQL as "
                    "(apt-get install postgresql creates it)"
                ) from exc
            runuser = shutil.which("runuser")
            if runuser is None:
                raise PostgresUnavailable("running as root and `runuser` is not installed")
            self._as_user = [runuser, "-u", SYSTEM_USER, "--"]

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory."""
        assert self.base is not None, "the server was never started"
        return self.base / "data"

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        assert self.base is not None, "the server was never started"
        return self.base / "server.log"

    @property
    def url(self) -> str:
        """``postgresql://postgres@127.0.0.1:<port>/<database>`` (trust auth, no password)."""
        if self.port is None:
            raise RuntimeError("PostgresServer is not started")
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *args: str | Path, as_owner: bool = True, timeout: float = 120) -> str:
        command = [*(self._as_user if as_owner else []), *(str(a) for a in args)]
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.base,
            check=False,
        )
        if result.returncode != 0:
            log = ""
            if self.base is not None and self.log_path.exists():
                log = "\n--- server log ---\n" + self.log_path.read_text(errors="replace")[-4000:]
            raise RuntimeError(
                f"{' '.join(command)} exited with {result.returncode}:\n"
                f"{result.stdout}{result.stderr}{log}"
            )
        return result.stdout

    def start(self, attempts: int = 3) -> PostgresServer:
        """Create the cluster, start the server and create the database.

        Args:
            attempts: Tries of ``pg_ctl start`` on a fresh free port (another process may take
                the port between picking and binding it).

        Returns:
            The started server.
        """
        if self._running:
            return self
        parent = Path(tempfile.gettempdir())
        if self._owner is not None and not _world_traversable(parent):
            parent = Path("/tmp")  # the server's user must reach its directory
        self.base = Path(tempfile.mkdtemp(prefix="gram-pg-", dir=parent))
        try:
            if self._owner is not None:
                os.chown(self.base, self._owner.pw_uid, self._owner.pw_gid)
            self._run(
                self.bin_dir / "initdb",
                "-D",
                self.data_dir,
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            )
            for attempt in range(attempts):
                self.port = free_port()
                options = (
                    f"-p {self.port} -c listen_addresses=127.0.0.1 "
                    f"-c unix_socket_directories={self.base} -c fsync=off"
                )
                try:
                    self._run(
                        self.bin_dir / "pg_ctl",
                        "-D",
                        self.data_dir,
                        "-l",
                        self.log_path,
                        "-o",
                        options,
                        "-t",
                        str(self.start_timeout),
                        "-w",
                        "start",
                        timeout=self.start_timeout + 30,
                    )
                    break
                except RuntimeError:
                    if attempt == attempts - 1:
                        raise
                    time.sleep(0.2)
            self._running = True
            self._run(
                self.bin_dir / "createdb",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                self.database,
                as_owner=False,
            )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its directory."""
        if self.base is None:
            return
        try:
            if self._running:
                self._run(self.bin_dir / "pg_ctl", "-D", self.data_dir, "-m", "fast", "-w", "stop")
        finally:
            self._running = False
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
