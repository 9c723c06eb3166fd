"""A throwaway PostgreSQL server for tests and benchmarks: initdb + pg_ctl in a temporary folder.

Nothing here needs the `psql` client or a running system service: only the
server binaries of Debian's `postgresql` package (or any folder named by
BALANCE_LOGS_PG_BINDIR). When running as root the server runs as the
`postgres` user, because PostgreSQL refuses to run as root.

    with PostgresServer.start() as server:          # initdb, pg_ctl start
        url = server.create_database()               # a fresh, empty database
        ...                                          # postgresql+psycopg://… over a unix socket
    # stopped and removed

`python -m tests.pg` starts one, prints its admin URL and waits for Ctrl-C
(handy for `bench/` and for trying the dashboard on PostgreSQL by hand).

The server is tuned for tests, not for keeping data: fsync and synchronous
commit are off, so a crash of the machine loses it, which is the point.
"""
from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from glob import glob
from pathlib import Path

ENV_BINDIR = "BALANCE_LOGS_PG_BINDIR"  # a folder holding initdb, pg_ctl and postgres
DEBIAN_BINDIRS = "/usr/lib/postgresql/*/bin"
SERVICE_USER = "postgres"  # who runs the server when we are root; also the superuser's name
INSTALL_HINT = "apt-get install -y postgresql"
START_TIMEOUT_S = 60

# Durability is worthless for a server that is deleted after the tests; speed is not.
TEST_SERVER_CONF = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "64MB",
    "log_min_messages": "warning",
    "log_line_prefix": "'%m [%p] %d '",
    "timezone": "'UTC'",
}


class PostgresUnavailable(RuntimeError):
    """No server binaries here: the message says what to install."""


class PostgresStartError(RuntimeError):
    """The binaries exist but the server would not start: the message has the log's tail."""


def _version_key(path: str) -> tuple:
    parts = Path(path).parent.name.split(".")
    return tuple(int(p) if p.isdigit() else 0 for p in parts)


def find_bindir() -> Path | None:
    """The folder with initdb/pg_ctl/postgres: $BALANCE_LOGS_PG_BINDIR, Debian's newest, or PATH."""
    if os.environ.get(ENV_BINDIR):
        path = Path(os.environ[ENV_BINDIR])
        return path if (path / "initdb").exists() else None
    candidates = sorted(glob(DEBIAN_BINDIRS), key=_version_key, reverse=True)
    for folder in candidates:
        if all((Path(folder) / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            return Path(folder)
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path and shutil.which("pg_ctl") else None


def server_version(bindir: Path) -> str:
    """'PostgreSQL 15.14' from `postgres --version` (no server needed)."""
    out = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True,
                         check=True, timeout=30).stdout.strip()
    # 'postgres (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)'
    words = out.replace("(PostgreSQL)", "").split()
    return f"PostgreSQL {words[1]}" if len(words) > 1 else out


def availability() -> tuple[Path | None, str]:
    """(bindir or None, one line saying what the test suite will do about PostgreSQL)."""
    bindir = find_bindir()
    if bindir is None:
        where = os.environ.get(ENV_BINDIR) or DEBIAN_BINDIRS
        return None, f"SKIPPED: no server binaries in {where} ({INSTALL_HINT})"
    try:
        return bindir, f"ON ({server_version(bindir)}, {bindir})"
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"SKIPPED: {bindir}/postgres does not run ({exc})"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_service_user() -> list[str]:
    """Prefix for running a server binary: nothing, or runuser when we are root."""
    if os.geteuid() != 0:
        return []
    try:
        import pwd
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        raise PostgresUnavailable(f"running as root but there is no '{SERVICE_USER}' user to run the server "
                                  f"({INSTALL_HINT} creates it)") from None
    runuser = shutil.which("runuser")
    return [runuser, "-u", SERVICE_USER, "--"] if runuser else ["su", SERVICE_USER, "-s", "/bin/sh", "-c"]


class PostgresServer:
    """One running throwaway cluster; `start()` makes it, `stop()` removes every trace."""

    _names = itertools.count(1)

    def __init__(self, bindir: Path, root: Path, port: int):
        self.bindir, self.root, self.port = bindir, root, port
        self.data = root / "data"
        self.log = root / "server.log"
        self.version = ""
        self._prefix = _as_service_user()

    # --- lifecycle -----------------------------------------------------------------------------

    @classmethod
    def start(cls, bindir: Path | None = None) -> "PostgresServer":
        bindir = bindir or find_bindir()
        if bindir is None:
            raise PostgresUnavailable(f"no PostgreSQL server binaries found ({INSTALL_HINT})")
        # A short path: the unix socket's full name must stay under ~100 bytes.
        root = Path(tempfile.mkdtemp(prefix="blpg-", dir="/tmp"))
        server = cls(bindir, root, free_port())
        try:
            server._init_and_start()
        except BaseException:
            server.stop()
            raise
        return server

    def _run(self, *args: str, timeout: float = START_TIMEOUT_S) -> subprocess.CompletedProcess:
        cmd = [str(a) for a in args]
        if self._prefix and self._prefix[-1] == "-c":  # su needs one shell string
            import shlex
            cmd = [*self._prefix, shlex.join(cmd)]
        else:
            cmd = [*self._prefix, *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.root,
                              stdin=subprocess.DEVNULL)

    def _init_and_start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, SERVICE_USER, SERVICE_USER)
        os.chmod(self.root, 0o755)  # root (the tests) reaches the socket; the data folder stays 0700
        done = self._run(self.bindir / "initdb", "-D", self.data, "-U", SERVICE_USER, "--auth=trust",
                         "--encoding=UTF8", "--no-locale", "--no-sync")
        if done.returncode != 0:
            raise PostgresStartError(f"initdb failed: {(done.stderr or done.stdout).strip()[-2000:]}")
        settings = dict(TEST_SERVER_CONF, port=str(self.port), unix_socket_directories=f"'{self.root}'")
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n# balance-logs test server\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        for attempt in range(3):
            done = self._run(self.bindir / "pg_ctl", "-D", self.data, "-l", self.log, "-w",
                             "-t", str(START_TIMEOUT_S), "start")
            if done.returncode == 0:
                break
            if "could not bind" in self.log_tail() and attempt < 2:  # the free port was taken meanwhile
                self.port = free_port()
                self._set_port()
                continue
            raise PostgresStartError(f"pg_ctl start failed: {done.stderr.strip()}\n{self.log_tail()}")
        self.version = self.scalar("SHOW server_version").split()[0]

    def _set_port(self) -> None:
        conf = self.data / "postgresql.conf"
        lines = [ln for ln in conf.read_text().splitlines() if not ln.startswith("port = ")]
        conf.write_text("\n".join(lines) + f"\nport = {self.port}\n")

    def stop(self) -> None:
        """Stop the server (immediately: nothing is worth keeping) and delete its folder."""
        if (self.data / "postmaster.pid").exists():
            self._run(self.bindir / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "PostgresServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    # --- databases -------------------------------------------------------------------------------

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL over the unix socket (no password: the test cluster trusts local users)."""
        return f"postgresql+psycopg://{SERVICE_USER}@/{database}?host={self.root}&port={self.port}"

    def tcp_url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SERVICE_USER}@127.0.0.1:{self.port}/{database}"

    def _connect(self, database: str = "postgres"):
        import psycopg
        return psycopg.connect(host=str(self.root), port=self.port, user=SERVICE_USER, dbname=database,
                               autocommit=True, connect_timeout=10)

    def scalar(self, query: str, database: str = "postgres"):
        with self._connect(database) as conn:
            return conn.execute(query).fetchone()[0]

    def create_database(self, name: str | None = None) -> str:
        """A new empty database (from template0); returns its URL."""
        from psycopg import sql
        name = name or f"t{os.getpid()}_{next(self._names)}"
        with self._connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 STRATEGY file_copy")
                         .format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop it even if a test left connections open (WITH (FORCE) ends them)."""
        from psycopg import sql
        with self._connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextlib.contextmanager
def throwaway_database(server: PostgresServer):
    """A fresh database on `server` for the duration of the block."""
    name = f"t{os.getpid()}_{next(PostgresServer._names)}"
    url = server.create_database(name)
    try:
        yield url
    finally:
        server.drop_database(name)


def main() -> int:
    bindir, line = availability()
    if bindir is None:
        print(f"PostgreSQL: {line}")
        return 1
    with PostgresServer.start(bindir) as server:
        url = server.create_database("balance_logs")
        print(f"PostgreSQL {server.version} running; DATABASE_URL={url}", flush=True)
        print(f"  (over TCP: {server.tcp_url('balance_logs')}); Ctrl-C stops and deletes it", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
