"""A throw-away PostgreSQL cluster on a Unix socket in a temporary directory.

Used by the shared-gradebook tests (``tests/test_postgres.py``) and the class-size benchmark
(``benchmarks/classbench.py``) to grade into a real PostgreSQL server without touching the
system's clusters: Debian's ``postgresql`` binaries (``/usr/lib/postgresql/*/bin``), ``initdb``
run as the ``postgres`` user when we are root (it refuses root), ``trust`` authentication,
no TCP port (``listen_addresses=''``). Not for a real course: there, use the college's server
and give its URL to ``python -m kdutils.course autograde --db-url``.
"""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["Cluster", "PostgresMissing"]


class PostgresMissing(RuntimeError):
    """PostgreSQL's server binaries are not installed."""


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise PostgresMissing("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run `make system` "
                              "(apt-get install postgresql)")
    return found[-1].parent


class Cluster:
    """A throw-away PostgreSQL cluster on a Unix socket in a temporary directory."""

    def __init__(self, port: int = 55432):
        self.bin = _pg_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="kd-pg-"))
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        if os.geteuid() == 0:
            pw = pwd.getpwnam(self.user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.data, self.port = self.dir / "data", port

    def _run(self, *cmd: str) -> str:
        prefix = ["runuser", "-u", self.user, "--"] if os.geteuid() == 0 else []
        p = subprocess.run([*prefix, *cmd], capture_output=True, text=True, cwd=self.dir)
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {p.stdout}\n{p.stderr}")
        return p.stdout

    def __enter__(self) -> "Cluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> "Cluster":
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync")
        opts = f"-k {self.dir} -c listen_addresses='' -p {self.port} -c fsync=off -c max_connections=50"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.dir / "log"), "-w", "start")
        self._run(str(self.bin / "createdb"), "-h", str(self.dir), "-p", str(self.port), "-U", "postgres", "kd")
        return self

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def url(self) -> str:
        return self.url_of("kd")

    def url_of(self, database: str) -> str:
        """The SQLAlchemy URL of ``database`` in this cluster."""
        return f"postgresql+psycopg://postgres@/{database}?host={self.dir}&port={self.port}"

    def create_database(self, name: str) -> str:
        """A new, empty database ``name`` in this cluster; returns its URL."""
        if not name.isidentifier():
            raise ValueError(f"database name={name!r} must be a plain identifier")
        self._run(str(self.bin / "createdb"), "-h", str(self.dir), "-p", str(self.port), "-U", "postgres", name)
        return self.url_of(name)
