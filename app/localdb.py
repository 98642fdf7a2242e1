"""A project-local PostGIS cluster built from the system's PostgreSQL binaries.

``landgis db up`` (without ``DATABASE_URL``): find the newest installed PostgreSQL server, make
sure the matching PostGIS package is installed (installing ``postgresql-<v>-postgis-3`` with apt
when running as root or with password-less sudo, otherwise saying exactly what to install),
``initdb`` a cluster under ``.pgdata/`` (git-ignored), start it on its own port listening on
127.0.0.1 only, create the database and the ``postgis`` extension. Migrating is the caller's next
step. PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres`` system
user (created by the Debian server package).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from app.settings import Settings

__all__ = ["LocalCluster", "LocalDbError", "ensure_postgis_package", "find_pg_bindir"]


class LocalDbError(RuntimeError):
    """The local cluster cannot be set up; the message says what to do (Chinese and English)."""


def find_pg_bindir() -> tuple[Path, int]:
    """The ``bin`` directory and major version of the newest installed PostgreSQL server."""
    candidates = []
    for d in Path("/usr/lib/postgresql").glob("*/bin"):
        if (d / "initdb").exists() and d.parent.name.isdigit():
            candidates.append((int(d.parent.name), d))
    if not candidates:
        pg_config = shutil.which("pg_config")
        if pg_config:
            bindir = Path(subprocess.check_output([pg_config, "--bindir"], text=True).strip())
            if (bindir / "initdb").exists():
                version = subprocess.check_output([pg_config, "--version"], text=True).split()[1]
                return bindir, int(version.split(".")[0])
        raise LocalDbError(
            "未找到 PostgreSQL 服务器程序（initdb）。请安装：apt-get install postgresql / "
            "No PostgreSQL server binaries (initdb) found. Install them: apt-get install postgresql"
        )
    version, bindir = max(candidates)
    return bindir, version


def _postgis_installed(version: int) -> bool:
    return Path(f"/usr/share/postgresql/{version}/extension/postgis.control").exists()


def ensure_postgis_package(version: int, *, log=print) -> None:
    """Install ``postgresql-<version>-postgis-3`` if missing (root or sudo), else explain."""
    if _postgis_installed(version):
        return
    package = f"postgresql-{version}-postgis-3"
    if os.geteuid() == 0:
        prefix: list[str] = []
    elif shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        prefix = ["sudo", "-n"]
    else:
        raise LocalDbError(
            f"缺少 PostGIS。请以 root 身份安装：apt-get update && apt-get install -y {package} / "
            f"PostGIS is missing. Install it as root: apt-get update && apt-get install -y {package}"
        )
    log(f"installing {package} …")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*prefix, "apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run([*prefix, "apt-get", "install", "-y", "-qq", package], check=True, env=env)
    if not _postgis_installed(version):
        raise LocalDbError(f"{package} 安装后仍未找到 postgis 扩展 / postgis extension still missing")


@dataclass
class LocalCluster:
    """The project-local cluster described by ``settings`` (data under ``local_pg_dir``)."""

    settings: Settings

    @property
    def root(self) -> Path:
        return self.settings.local_pg_dir

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def logfile(self) -> Path:
        return self.root / "server.log"

    def _owner(self) -> str | None:
        """The system user that runs the server: ourselves, or ``postgres`` when we are root."""
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam("postgres")
        except KeyError as exc:
            raise LocalDbError(
                "以 root 运行时需要系统用户 postgres（由 postgresql 软件包创建） / "
                "running as root needs the 'postgres' system user (created by the postgresql package)"
            ) from exc
        return "postgres"

    def _run(self, args: list[str], **kw) -> subprocess.CompletedProcess:
        owner = self._owner()
        if owner:
            args = ["runuser", "-u", owner, "--", *args]
        return subprocess.run(args, check=True, **kw)

    def is_running(self) -> bool:
        bindir, _ = find_pg_bindir()
        if not (self.datadir / "PG_VERSION").exists():
            return False
        res = subprocess.run(
            [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.settings.local_pg_port)],
            capture_output=True,
        )
        return res.returncode == 0

    def init(self, *, log=print) -> None:
        bindir, version = find_pg_bindir()
        ensure_postgis_package(version, log=log)
        if (self.datadir / "PG_VERSION").exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        self.settings.local_socket_dir.mkdir(parents=True, exist_ok=True)
        owner = self._owner()
        if owner:
            shutil.chown(self.root, owner)
            shutil.chown(self.settings.local_socket_dir, owner)
        log(f"initdb {self.datadir} (PostgreSQL {version}) …")
        self._run(
            [str(bindir / "initdb"), "-D", str(self.datadir), "-U", self.settings.local_db_user,
             "--auth=trust", "--encoding=UTF8", "--no-locale"],
            stdout=subprocess.DEVNULL,
        )
        conf = self.datadir / "postgresql.conf"
        with conf.open("a", encoding="utf-8") as fh:
            fh.write(
                "\n# landgis project-local cluster: loopback only, own port and socket\n"
                f"listen_addresses = '127.0.0.1'\nport = {self.settings.local_pg_port}\n"
                f"unix_socket_directories = '{self.settings.local_socket_dir}'\n"
                "max_connections = 200\nshared_buffers = 256MB\nwork_mem = 16MB\n"
                "maintenance_work_mem = 256MB\ntimezone = 'Asia/Shanghai'\n"
            )
        hba = self.datadir / "pg_hba.conf"
        hba.write_text(
            "# loopback only, trust: a developer's local cluster, never exposed\n"
            "local all all trust\nhost all all 127.0.0.1/32 trust\n",
            encoding="utf-8",
        )

    def start(self, *, log=print) -> None:
        if self.is_running():
            return
        bindir, _ = find_pg_bindir()
        log(f"starting PostGIS on 127.0.0.1:{self.settings.local_pg_port} …")
        self._run(
            [str(bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.logfile), "-w", "-t", "60",
             "start"],
            stdout=subprocess.DEVNULL,
        )

    def stop(self, *, log=print) -> None:
        if not (self.datadir / "PG_VERSION").exists():
            log("no local cluster")
            return
        bindir, _ = find_pg_bindir()
        if self.is_running():
            self._run([str(bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"],
                      stdout=subprocess.DEVNULL)
            log("stopped")

    def ensure_database(self, dbname: str | None = None) -> None:
        """Create the database (if missing) and the postgis extension in it."""
        ensure_database(self.settings, dbname)

    def up(self, *, log=print) -> None:
        self.init(log=log)
        self.start(log=log)
        self.ensure_database()


def _conninfo(settings: Settings, dbname: str) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(settings.url_for(dbname))
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def ensure_database(settings: Settings, dbname: str | None = None, *, retries: int = 30) -> None:
    """Create ``dbname`` (default: the service database) if missing, and the postgis extension in it.

    The server may still be starting: connection attempts are retried for ``retries`` seconds. On an
    external server the database usually exists already; only then is no admin connection needed.
    """
    target = dbname or settings.url_for().rsplit("/", 1)[-1].split("?")[0]
    for attempt in range(retries):
        try:
            with psycopg.connect(_conninfo(settings, target), autocommit=True, connect_timeout=5) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            return
        except psycopg.OperationalError as exc:
            if "does not exist" in str(exc):
                break
            if attempt == retries - 1:
                raise
            time.sleep(1)
    with psycopg.connect(_conninfo(settings, "postgres"), autocommit=True, connect_timeout=5) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{target}" TEMPLATE template0 ENCODING \'UTF8\'')
    with psycopg.connect(_conninfo(settings, target), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")


def drop_database(settings: Settings, dbname: str) -> None:
    with psycopg.connect(_conninfo(settings, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
