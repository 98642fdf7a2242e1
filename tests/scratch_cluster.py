"""A throw-away PostGIS cluster of a test's own, for tests that stop, restart or break the server.

The fault tests must never touch the shared cluster (port 54329) other tests run on, so they
``initdb`` one under a temporary directory on a free loopback port with :class:`app.localdb.LocalCluster`
(which, as root, runs the server as the ``postgres`` user: the directory is made world-traversable).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from app.localdb import LocalCluster, find_pg_bindir
from app.settings import Settings

__all__ = ["ScratchCluster", "free_port", "scratch_cluster"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ScratchCluster:
    cluster: LocalCluster

    @property
    def settings(self) -> Settings:
        return self.cluster.settings

    @property
    def port(self) -> int:
        return self.settings.local_pg_port

    def conninfo(self, dbname: str | None = None) -> str:
        return f"host=127.0.0.1 port={self.port} user={self.settings.local_db_user} dbname={dbname or 'landgis'}"

    def settings_for(self, dbname: str, **update) -> Settings:
        url = f"postgresql+psycopg://{self.settings.local_db_user}@127.0.0.1:{self.port}/{dbname}"
        return self.settings.model_copy(update={"database_url": url, **update})

    def admin(self, sql: str, dbname: str = "postgres") -> list[tuple]:
        """Run one statement in autocommit on ``dbname``; its rows (if it returns any)."""
        with psycopg.connect(self.conninfo(dbname), autocommit=True, connect_timeout=5) as conn:
            cur = conn.execute(sql)
            return cur.fetchall() if cur.description else []

    def clone(self, template: str, name: str, **update) -> Settings:
        """A copy of ``template`` named ``name``; settings pointing at it (``update`` applied)."""
        self.admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.settings_for(name, **update)

    def pg_ctl(self, *args: str) -> None:
        bindir, _ = find_pg_bindir()
        self.cluster._run([str(bindir / "pg_ctl"), "-D", str(self.cluster.datadir), "-l", str(self.cluster.logfile),
                           *args], stdout=subprocess.DEVNULL, timeout=60)

    def stop(self) -> None:
        """``pg_ctl stop -m fast``: sessions are terminated, the server shuts down."""
        self.pg_ctl("-m", "fast", "-w", "stop")

    def start(self) -> None:
        self.pg_ctl("-w", "-t", "60", "start")


@contextmanager
def scratch_cluster() -> Iterator[ScratchCluster]:
    """A new cluster (initdb, start, database ``landgis`` with PostGIS), stopped and deleted afterwards."""
    root = Path(tempfile.mkdtemp(prefix="landgis-scratch-pg-"))
    os.chmod(root, 0o755)  # the postgres user (the server owner when we run as root) must reach it
    port = free_port()
    settings = Settings(env="test", local_pg_dir=root / "pg", local_pg_port=port,
                        database_url=f"postgresql+psycopg://landgis@127.0.0.1:{port}/landgis",
                        log_level="WARNING")
    cluster = LocalCluster(settings)
    try:
        cluster.up(log=lambda *_: None)
        yield ScratchCluster(cluster)
    finally:
        try:
            if cluster.is_running():  # immediate: no shutdown checkpoint for a cluster about to be deleted
                ScratchCluster(cluster).pg_ctl("-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(root, ignore_errors=True)
