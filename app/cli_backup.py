"""``landgis backup FILE`` / ``landgis restore FILE``: a whole-database dump and its restore (issue 7).

The dump is ``pg_dump -Fc`` (custom format, compressed, restorable table by table) of the service
database, taken from an exported snapshot so that the printed summary counts exactly what the file
holds. ``pg_dump``/``pg_restore`` must not be older than the server, so the binaries of the server's
major version under ``/usr/lib/postgresql/<major>/bin`` are preferred over whatever ``PATH`` offers.
The password never appears on a command line (``ps`` shows those to every local user): the child gets
a libpq URI without it and ``PGPASSWORD`` in its environment.

Restore runs ``pg_restore --no-owner --exit-on-error --single-transaction``: either the whole dump
lands or nothing does. Extensions are not restored from the dump but created with
``CREATE EXTENSION IF NOT EXISTS`` beforehand, because on managed servers only an administrator may
create (or comment on, or drop) PostGIS while the service's own role can restore everything else.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from rich.console import Console
from sqlalchemy.engine import make_url

from app.settings import Settings, get_settings, sqlalchemy_url

__all__ = ["BackupError", "DumpSummary", "backup", "find_pg_tool", "register", "restore"]

PG_LIB = Path("/usr/lib/postgresql")
ARCHIVE_MAGIC = b"PGDMP"
_console = Console(stderr=True, soft_wrap=True)


class BackupError(RuntimeError):
    """Backup or restore cannot go on; the message says why and what to do (Chinese / English)."""


@dataclass
class DumpSummary:
    revision: str | None = None
    parcels_current: int | None = None
    parcels_retired: int | None = None
    operations: int | None = None
    audit_rows: int | None = None
    size_bytes: int = 0
    extra: dict = field(default_factory=dict)

    def describe(self) -> str:
        def n(v):
            return "—" if v is None else f"{v:,}"

        return (f"宗地 现状 {n(self.parcels_current)} / 历史 {n(self.parcels_retired)}，操作 {n(self.operations)}，"
                f"审计 {n(self.audit_rows)} 条，迁移版本 {self.revision or '—'} / "
                f"parcels current {n(self.parcels_current)}, retired {n(self.parcels_retired)}; "
                f"operations {n(self.operations)}; audit rows {n(self.audit_rows)}; revision {self.revision or '—'}")


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


# --------------------------------------------------------------------------- connections and tools


def _libpq(url: str) -> tuple[str, str | None]:
    """``url`` as a libpq URI without the password, and the password (for ``PGPASSWORD``)."""
    u = make_url(sqlalchemy_url(url))
    password = u.password
    bare = u.set(drivername="postgresql")._replace(password=None)  # URL.set() ignores None
    return bare.render_as_string(hide_password=False), (str(password) if password is not None else None)


def _connect(url: str, **kw) -> psycopg.Connection:
    uri, password = _libpq(url)
    try:
        return psycopg.connect(uri, password=password, connect_timeout=10, **kw) if password else \
            psycopg.connect(uri, connect_timeout=10, **kw)
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise BackupError(f"无法连接数据库 {uri}：{reason} / cannot connect to {uri}: {reason}") from None


def _child_env(password: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PGPASSWORD", "PGDATABASE", "PGSERVICE")}
    if password is not None:
        env["PGPASSWORD"] = password
    return env


def _tool_major(path: Path) -> int | None:
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(m.group(1)) if m else None


def find_pg_tool(name: str, server_major: int) -> Path:
    """``pg_dump``/``pg_restore`` able to handle a server of ``server_major``: that version's own binary
    first, then ``PATH`` (if not older), then any newer installed version."""
    own = PG_LIB / str(server_major) / "bin" / name
    if own.is_file() and os.access(own, os.X_OK):
        return own
    candidates: list[Path] = []
    on_path = shutil.which(name)
    if on_path:
        candidates.append(Path(on_path))
    if PG_LIB.is_dir():
        candidates += sorted((p for p in PG_LIB.glob(f"*/bin/{name}") if p.parent.parent.name.isdigit()),
                             key=lambda p: int(p.parent.parent.name))
    too_old = []
    for path in candidates:
        major = _tool_major(path)
        if major is not None and major >= server_major:
            return path
        too_old.append(f"{path} ({major})")
    package = f"postgresql-client-{server_major}"
    if too_old:
        raise BackupError(
            f"{name} 版本低于数据库服务器（PostgreSQL {server_major}）：{', '.join(too_old)}。"
            f"请安装 {package}（apt-get install {package}） / "
            f"{name} is older than the server (PostgreSQL {server_major}): {', '.join(too_old)}. "
            f"Install {package} (apt-get install {package})")
    raise BackupError(
        f"未找到 {name}（需要 PostgreSQL {server_major} 或更新的客户端程序）。请安装 {package}"
        f"（apt-get install {package}） / {name} not found (PostgreSQL {server_major} or newer client "
        f"programs are needed). Install {package} (apt-get install {package})")


def _server_major(conn: psycopg.Connection) -> int:
    return int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000


def _stderr_tail(text: str, lines: int = 8) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(kept[-lines:]) or "(no message)"


# --------------------------------------------------------------------------- summary


def _summary(conn: psycopg.Connection) -> DumpSummary:
    def table(name: str) -> bool:
        return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"public.{name}",)).fetchone()[0]

    s = DumpSummary()
    if table("alembic_version"):
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        s.revision = row[0] if row else None
    if table("parcels"):
        s.parcels_current, s.parcels_retired = conn.execute(
            "SELECT count(*) FILTER (WHERE valid_to IS NULL), count(*) FILTER (WHERE valid_to IS NOT NULL) "
            "FROM parcels").fetchone()
    if table("operations"):
        s.operations = conn.execute("SELECT count(*) FROM operations").fetchone()[0]
    if table("audit_log"):
        s.audit_rows = conn.execute("SELECT count(*) FROM audit_log").fetchone()[0]
    return s


# --------------------------------------------------------------------------- backup


def backup(settings: Settings, out: Path, *, log=_console.print) -> DumpSummary:
    """Dump the service database to ``out`` (written to a temporary file and renamed: a crash or a failed
    dump never leaves a truncated file under the final name)."""
    out = Path(out).expanduser().resolve()
    if out.is_dir():
        raise BackupError(f"{out} 是目录，请给出文件名 / {out} is a directory; give a file name")
    if not out.parent.is_dir():
        raise BackupError(f"目录不存在：{out.parent} / no such directory: {out.parent}")
    uri, password = _libpq(settings.sqlalchemy_url)
    conn = _connect(settings.sqlalchemy_url)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        pg_dump = find_pg_tool("pg_dump", _server_major(conn))
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        summary = _summary(conn)
        log(f"pg_dump ({pg_dump}) → {out}")
        res = subprocess.run(
            [str(pg_dump), "--format=custom", "--no-password", f"--snapshot={snapshot}", f"--file={tmp}",
             f"--dbname={uri}"], capture_output=True, text=True, env=_child_env(password))
        if res.returncode != 0:
            detail = _stderr_tail(res.stderr)
            raise BackupError(f"pg_dump 失败（退出码 {res.returncode}） / pg_dump failed (exit {res.returncode}):\n"
                              f"{detail}")
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, out)
        _fsync_dir(out.parent)
    finally:
        conn.close()
        tmp.unlink(missing_ok=True)
    summary.size_bytes = out.stat().st_size
    return summary


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- restore


@dataclass
class Toc:
    """The archive's table of contents as ``pg_restore -l`` prints it."""

    lines: list[str]

    def entries(self) -> list[tuple[str, str, str]]:
        """(line, type, rest) of every entry; type is e.g. ``TABLE``, ``TABLE DATA``, ``EXTENSION``."""
        found = []
        for line in self.lines:
            if not line.strip() or line.startswith(";"):
                continue
            m = re.match(r"^\d+;\s+\d+\s+\d+\s+(.*)$", line)
            if not m:
                continue
            rest = m.group(1)
            for kind in ("TABLE DATA", "SEQUENCE SET", "SEQUENCE OWNED BY", "COMMENT", "EXTENSION", "TABLE",
                         "ACL", "DEFAULT ACL"):
                if rest.startswith(kind + " "):
                    found.append((line, kind, rest[len(kind) + 1:]))
                    break
            else:
                found.append((line, rest.split(" ", 1)[0], rest))
        return found

    def extensions(self) -> list[str]:
        return [rest.split()[1] for _, kind, rest in self.entries() if kind == "EXTENSION"]

    def tables(self) -> set[str]:
        return {rest.split()[1] for _, kind, rest in self.entries() if kind == "TABLE" and rest.startswith("public ")}

    def without_extensions(self) -> str:
        kept = [line for line, kind, rest in self.entries()
                if kind != "EXTENSION" and not (kind == "COMMENT" and rest.split()[1:2] == ["EXTENSION"])]
        return "\n".join(kept) + "\n"


def _read_toc(pg_restore: Path, archive: Path) -> Toc:
    res = subprocess.run([str(pg_restore), "--list", str(archive)], capture_output=True, text=True)
    if res.returncode != 0:
        raise BackupError(f"无法读取备份文件 {archive}（pg_restore --list 失败） / cannot read the backup {archive} "
                          f"(pg_restore --list failed):\n{_stderr_tail(res.stderr)}")
    return Toc(res.stdout.splitlines())


def _user_relations(conn: psycopg.Connection) -> list[tuple[str, str]]:
    """Tables, views and sequences outside the system schemas that no extension owns (PostGIS's
    ``spatial_ref_sys`` does not make a database non-empty)."""
    return [(r[0], r[1]) for r in conn.execute(
        "SELECT n.nspname || '.' || c.relname, c.relkind::text "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND n.nspname NOT LIKE 'pg\\_%' AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = "
        "'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e') ORDER BY 1")]


@dataclass
class RestoreResult:
    target: str
    summary: DumpSummary
    revision: str | None
    head: str | None
    state: str  # "head" | "behind" | "unknown"


def restore(settings: Settings, archive: Path, *, dbname: str | None = None, clean: bool = False,
            no_privileges: bool = False, log=_console.print) -> RestoreResult:
    """Restore ``archive`` into the service database (or ``dbname``, a URL), all or nothing."""
    from app.db import alembic_config, head_revision

    archive = Path(archive).expanduser()
    try:
        with archive.open("rb") as fh:
            magic = fh.read(len(ARCHIVE_MAGIC))
    except OSError as exc:
        raise BackupError(f"无法读取 {archive}：{exc.strerror} / cannot read {archive}: {exc.strerror}") from None
    if magic != ARCHIVE_MAGIC:
        raise BackupError(f"{archive} 不是 landgis backup（pg_dump -Fc）生成的备份文件 / "
                          f"{archive} is not a backup made by landgis backup (pg_dump -Fc)")
    url = sqlalchemy_url(dbname) if dbname else settings.sqlalchemy_url
    uri, password = _libpq(url)
    with _connect(url, autocommit=True) as conn:
        major = _server_major(conn)
        existing = _user_relations(conn)
        pg_restore = find_pg_tool("pg_restore", major)
        toc = _read_toc(pg_restore, archive)
        if existing and not clean:
            tables = [name for name, kind in existing if kind != "S"] or [name for name, _ in existing]
            shown = ", ".join(tables[:6]) + (" …" if len(tables) > 6 else "")
            raise BackupError(
                f"目标数据库非空（{shown}），拒绝覆盖。恢复到新建的空数据库（--dbname），"
                f"或确认覆盖后加 --clean / the target database is not empty ({shown}); "
                "refusing to overwrite it. Restore into a new empty database (--dbname), or add --clean to "
                "replace its contents")
        if existing:
            in_dump = {f"public.{t}" for t in toc.tables()}
            foreign = [r for r, _ in existing if r not in in_dump and not _is_owned_sequence(conn, r)]
            if foreign:
                raise BackupError(
                    f"目标数据库含有备份中没有的对象（{', '.join(foreign[:6])}），--clean 无法得到与备份一致的数据库；"
                    f"请恢复到新建的空数据库 / the target holds objects the backup does not have "
                    f"({', '.join(foreign[:6])}), so --clean cannot make it equal to the backup; restore into a new "
                    "empty database instead")
        for ext in toc.extensions():
            if ext == "plpgsql":
                continue
            try:
                conn.execute(f'CREATE EXTENSION IF NOT EXISTS "{ext}"')
            except psycopg.Error as exc:
                raise BackupError(
                    f"无法在目标数据库创建扩展 {ext}：{exc.diag.message_primary}。请管理员先执行 "
                    f"CREATE EXTENSION {ext}; / cannot create extension {ext} in the target: "
                    f"{exc.diag.message_primary}. Ask an administrator to run CREATE EXTENSION {ext}; first") from None
    with tempfile.NamedTemporaryFile("w", suffix=".list", encoding="utf-8", delete=False) as lf:
        lf.write(toc.without_extensions())
        list_file = Path(lf.name)
    try:
        args = [str(pg_restore), "--no-owner", "--exit-on-error", "--single-transaction", "--no-password",
                f"--use-list={list_file}", f"--dbname={uri}"]
        if clean:
            args += ["--clean", "--if-exists"]
        if no_privileges:
            args.append("--no-privileges")
        log(f"pg_restore ({pg_restore}) → {uri}")
        res = subprocess.run([*args, str(archive)], capture_output=True, text=True, env=_child_env(password))
    finally:
        list_file.unlink(missing_ok=True)
    if res.returncode != 0:
        hint = ""
        if "role" in res.stderr and "does not exist" in res.stderr:
            hint = (" 备份中的权限引用了目标服务器上不存在的角色：先创建这些角色，或加 --no-privileges / "
                    "the dump grants privileges to roles missing on the target: create them, or add --no-privileges")
        raise BackupError(f"pg_restore 失败（退出码 {res.returncode}），目标数据库未作任何改动 / pg_restore failed "
                          f"(exit {res.returncode}); nothing was changed in the target:\n{_stderr_tail(res.stderr)}"
                          + hint)
    with _connect(url) as conn:
        summary = _summary(conn)
    head = head_revision()
    rev = summary.revision
    if rev == head:
        state = "head"
    else:
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(alembic_config("postgresql://"))
        known = {r.revision for r in script.walk_revisions()}
        state = "behind" if rev is None or rev in known else "unknown"
    return RestoreResult(target=uri, summary=summary, revision=rev, head=head, state=state)


def _is_owned_sequence(conn: psycopg.Connection, qualified: str) -> bool:
    """A sequence owned by a column (bigserial) goes with its table."""
    return conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = %s::regclass AND d.classid = 'pg_class'::regclass "
        "AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))", (qualified,)).fetchone()[0]


# --------------------------------------------------------------------------- commands


def register(app: typer.Typer) -> None:
    """Add the ``backup`` and ``restore`` commands to ``app``."""

    @app.command("backup")
    def backup_cmd(
        file: Annotated[Path, typer.Argument(help="dump file to write, e.g. landgis-2025-06-30.dump")],
    ) -> None:
        """Dump the whole service database (pg_dump -Fc) to FILE, atomically, and summarise it."""
        try:
            summary = backup(get_settings(), file)
        except BackupError as exc:
            _console.print(str(exc), style="red", markup=False, highlight=False)
            raise typer.Exit(2) from None
        out = Console(soft_wrap=True)
        out.print(f"备份完成 / backup written: {file} ({_human(summary.size_bytes)})", markup=False, highlight=False)
        out.print(summary.describe(), markup=False, highlight=False)

    @app.command("restore")
    def restore_cmd(
        file: Annotated[Path, typer.Argument(help="a dump written by landgis backup")],
        dbname: Annotated[str | None, typer.Option(
            "--dbname", help="target database URL (default: the configured DATABASE_URL / local database)")] = None,
        clean: Annotated[bool, typer.Option(
            "--clean", "--force", help="replace the contents of a non-empty target database")] = False,
        no_privileges: Annotated[bool, typer.Option(
            "--no-privileges", help="skip GRANTs (when the dump's roles do not exist on the target)")] = False,
    ) -> None:
        """Restore FILE into an empty database (or, with --clean, over an existing one), in one transaction."""
        try:
            result = restore(get_settings(), file, dbname=dbname, clean=clean, no_privileges=no_privileges)
        except BackupError as exc:
            _console.print(str(exc), style="red", markup=False, highlight=False)
            raise typer.Exit(2) from None
        out = Console(soft_wrap=True)
        out.print(f"恢复完成 / restored into {result.target}", markup=False, highlight=False)
        out.print(result.summary.describe(), markup=False, highlight=False)
        if result.state == "head":
            out.print(f"迁移版本 {result.revision} 为最新 / migrations at head ({result.revision})",
                      markup=False, highlight=False)
        elif result.state == "behind":
            out.print(f"备份的迁移版本 {result.revision or '—'} 早于本程序的 {result.head}：请运行 landgis migrate / "
                      f"the dump is at revision {result.revision or '—'}, older than this software's "
                      f"{result.head}: run `landgis migrate`", markup=False, highlight=False)
        else:
            out.print(f"备份的迁移版本 {result.revision} 本程序不认识（来自更新的版本？），请先升级 landgis / "
                      f"the dump's revision {result.revision} is unknown to this software (made by a newer "
                      "version?): upgrade landgis before serving this database", markup=False, highlight=False)
            raise typer.Exit(1)
