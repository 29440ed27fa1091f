"""A throw-away PostgreSQL server for the store's tests (the `postgres` fixture,
tests/serving/conftest.py): a cluster made with `initdb` in a temporary folder, started with
`pg_ctl` on a free loopback port (its unix socket in that folder too), one new database per
test, stopped and deleted at the session's end.

The binaries are Debian's `postgresql` package's (/usr/lib/postgresql/<version>/bin, which
`make test` installs when missing) or the first `initdb` on PATH. initdb refuses to run as
root: as root the cluster belongs to `nobody`.

The server's TimeZone is SERVER_TIME_ZONE, not UTC: a time shifted by the server's zone on its
way in or out (the store keeps naive UTC times; serving.store.tables.UtcDateTime) fails the
tests instead of passing unnoticed. Its databases sort text as people do (ICU's SORT_LOCALE, as
most servers' do, not by code point): an order left to the database's collation would differ
from SQLite's ("a" before "A"; serving.store.tables.LEAD_ID) and fail the lead queue's tests.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

SERVER_TIME_ZONE = "Asia/Kathmandu"
"""UTC+05:45, no daylight saving time: a shift by it shows in any time."""
SORT_LOCALE = "en-US"
"""The databases' collation (ICU)."""
CLUSTER_OWNER = "nobody"
"""Who owns the cluster when the tests run as root (initdb refuses root)."""
INSTALL_HINT = "install Debian's postgresql package ('apt-get install -y postgresql' as root; `make test` does)"


def postgres_bin() -> Path | None:
    """The folder of initdb, pg_ctl and postgres: the first initdb on PATH, else the newest
    version's under /usr/lib/postgresql; None when there is none."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(os.path.realpath(on_path)).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0)
    return Path(found[-1]).parent if found else None


def missing() -> str | None:
    """What the PostgreSQL tests lack, said with the fix (None: nothing)."""
    if postgres_bin() is None:
        return f"PostgreSQL's initdb was not found on PATH nor in /usr/lib/postgresql/*/bin: {INSTALL_HINT}"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "the PostgreSQL driver psycopg is not installed: pip install -e '.[postgres]'"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """One cluster, started by `start()` and deleted by `stop()`; `new_database()` URLs."""

    user = "leadscore"

    def __init__(self):
        self.bin = postgres_bin()
        self.folder = Path(tempfile.mkdtemp(prefix="leadscore-postgres-"))
        self.data = self.folder / "data"
        self.port = 0
        self._numbers = itertools.count(1)
        self._as_owner: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam(CLUSTER_OWNER)
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
            self._as_owner = ["runuser", "-u", CLUSTER_OWNER, "--"]

    def _run(self, *command: str) -> None:
        done = subprocess.run([*self._as_owner, str(self.bin / command[0]), *command[1:]], cwd=self.folder,
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.folder / "server.log"
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stdout}{done.stderr}"
                               + (log.read_text() if log.exists() else ""))

    def start(self) -> "PostgresServer":
        """Make the cluster and start the server."""
        self._run("initdb", "-D", str(self.data), "-U", self.user, "--auth=trust", "--encoding=UTF8",
                  "--locale=C", "--locale-provider=icu", f"--icu-locale={SORT_LOCALE}", "--no-sync")
        for attempt in range(3):  # another process may take the port between probe and start
            self.port = _free_port()
            try:
                self.start_server()
                return self
            except RuntimeError:
                if attempt == 2:
                    raise

    def start_server(self) -> None:
        """Start the server (again) on its port."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w", "-o",
                  f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off "
                  f"-c synchronous_commit=off -c full_page_writes=off -c timezone={SERVER_TIME_ZONE}", "start")

    def stop_server(self) -> None:
        """Stop the server: connections are refused until `start_server()`."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """The URL of a new, empty database."""
        import psycopg

        name = f"test_{next(self._numbers)}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        """Stop the server and delete the cluster."""
        if (self.data / "postmaster.pid").exists():
            self.stop_server()
        shutil.rmtree(self.folder, ignore_errors=True)
