"""``landgis doctor``: report misconfiguration before it bites (issue 7).

Two halves: :func:`gather` collects facts (the settings, the process environment, and what the database
answers), :func:`run_checks` turns facts into rows with a status (``ok``, ``warn``, ``error``, or ``skip``
for what cannot be judged) and a Chinese and English message. The checks are small pure functions over
:class:`Facts`, so each is tested without a database; the gathering is tested against a real one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Annotated

import typer

__all__ = ["EXPECTED_INDEXES", "PROTECTIVE_TRIGGERS", "Check", "Facts", "gather", "register", "run_checks"]

MIN_PG = 130000
MIN_POSTGIS = (3, 1)
STALE_DAYS = 180
# The GiST and unique indexes migrations/versions/0001–0004 create (unique constraints named by PostgreSQL's
# <table>_<column>_key rule); tests/test_doctor.py compares this with a database at head.
EXPECTED_INDEXES = (
    "parcels_geom_gix", "buildings_geom_gix", "support_land_geom_gix",
    "holders_credit_code_uq", "holders_name_no_code_uq", "parcels_current_code_uq", "category_overrides_active_uq",
    "buildings_number_uq", "disposals_natural_uq", "operations_idempotency_key_key", "api_tokens_key_hash_key",
)
# The triggers that keep the audit log append-only and the parcel history intact (0001).
PROTECTIVE_TRIGGERS = ("audit_log_append_only", "audit_log_no_truncate", "parcels_never_deleted",
                       "parcels_retired_frozen")
STATUSES = ("ok", "warn", "error", "skip")


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    zh: str
    en: str

    @property
    def message(self) -> str:
        return self.zh if self.zh == self.en else f"{self.zh} / {self.en}"


@dataclass
class Facts:
    """Everything the checks look at. Database facts are None when the database could not be asked."""

    env: str = "development"
    default_secret: bool = False
    anonymous_read: bool = False
    cors_origins: list[str] = field(default_factory=list)
    write_rate_per_minute: int = 600
    env_urls_with_password: list[str] = field(default_factory=list)  # variable names
    settings_error: str | None = None
    db_error: str | None = None
    server_version_num: int | None = None
    server_version: str | None = None
    postgis_version: str | None = None
    revision: str | None = None
    head: str | None = None
    indexes: set[str] | None = None  # valid indexes in the public schema
    triggers: set[str] | None = None  # enabled triggers
    active_admin_tokens: int | None = None
    stale_tokens: int | None = None  # None: token use is not tracked
    superuser: bool | None = None


def _ok(name: str, zh: str, en: str) -> Check:
    return Check(name, "ok", zh, en)


def check_environment(f: Facts) -> Check:
    if f.env == "production":
        return _ok("environment", "运行模式：production", "environment: production")
    return _ok("environment", f"运行模式：{f.env}（非生产，部分检查从宽）",
               f"environment: {f.env} (not production: some checks are relaxed)")


def check_secret_key(f: Facts) -> Check:
    if not f.default_secret:
        return _ok("secret-key", "LANDGIS_SECRET_KEY 已设置", "LANDGIS_SECRET_KEY is set")
    return Check("secret-key", "error" if f.env == "production" else "warn",
                 "LANDGIS_SECRET_KEY 仍为默认值，请设置（或用 LANDGIS_SECRET_KEY_FILE）",
                 "LANDGIS_SECRET_KEY is the default; set it (or LANDGIS_SECRET_KEY_FILE)")


def check_anonymous_read(f: Facts) -> Check:
    if f.anonymous_read:
        return Check("anonymous-read", "warn", "已开放匿名读取：任何人可读取登记簿",
                     "anonymous reads are on: anyone who reaches the service can read the register")
    return _ok("anonymous-read", "读取需要令牌", "reads need a token")


def check_cors(f: Facts) -> Check:
    from app.security import cors_origins_error

    if not f.cors_origins:
        return _ok("cors", "CORS 关闭", "CORS off")
    error = cors_origins_error(f.cors_origins)
    if error:
        return Check("cors", "error", *error)
    if f.cors_origins == ["*"]:
        return Check("cors", "warn", "CORS 允许任意来源（*）", "CORS allows any origin (*)")
    joined = ", ".join(f.cors_origins)
    return _ok("cors", f"CORS 允许：{joined}", f"CORS allows: {joined}")


def check_write_rate(f: Facts) -> Check:
    if f.write_rate_per_minute <= 0:
        return Check("write-rate-limit", "warn", "写请求限流已关闭（LANDGIS_WRITE_RATE_PER_MINUTE=0）",
                     "the write rate limit is off (LANDGIS_WRITE_RATE_PER_MINUTE=0)")
    return _ok("write-rate-limit", f"每个令牌每分钟 {f.write_rate_per_minute} 次写请求（每个工作进程）",
               f"{f.write_rate_per_minute} writes per token per minute (per worker process)")


def check_url_secret(f: Facts) -> Check:
    if not f.env_urls_with_password:
        return _ok("database-url-secret", "环境变量中没有数据库密码", "no database password in the environment")
    names = ", ".join(f.env_urls_with_password)
    return Check("database-url-secret", "warn" if f.env == "production" else "ok",
                 f"{names} 在环境变量中含密码；生产环境请改用 *_FILE（如 DATABASE_URL_FILE）",
                 f"{names} carries a password in the environment; in production use *_FILE (e.g. DATABASE_URL_FILE)")


def check_database(f: Facts) -> Check:
    if f.db_error:
        return Check("database", "error", f"数据库无法连接：{f.db_error}", f"database not reachable: {f.db_error}")
    return _ok("database", "数据库可连接", "database reachable")


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(" ")[0].split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def check_postgresql(f: Facts) -> Check | None:
    if f.server_version_num is None:
        return None
    if f.server_version_num < MIN_PG:
        return Check("postgresql", "error", f"PostgreSQL {f.server_version} 过旧，至少需要 13",
                     f"PostgreSQL {f.server_version} is too old; 13 or later is needed")
    return _ok("postgresql", f"PostgreSQL {f.server_version}", f"PostgreSQL {f.server_version}")


def check_postgis(f: Facts) -> Check | None:
    if f.db_error:
        return None
    if not f.postgis_version:
        return Check("postgis", "error", "未安装 PostGIS 扩展", "the PostGIS extension is not installed")
    if _version_tuple(f.postgis_version) < MIN_POSTGIS:
        return Check("postgis", "error", f"PostGIS {f.postgis_version} 过旧，至少需要 3.1",
                     f"PostGIS {f.postgis_version} is too old; 3.1 or later is needed")
    return _ok("postgis", f"PostGIS {f.postgis_version}", f"PostGIS {f.postgis_version}")


def check_migrations(f: Facts) -> Check | None:
    if f.db_error:
        return None
    if f.revision is None:
        return Check("migrations", "error", "数据库未迁移：运行 landgis migrate",
                     "the database is not migrated: run landgis migrate")
    if f.revision != f.head:
        return Check("migrations", "error", f"迁移版本 {f.revision}，最新为 {f.head}：运行 landgis migrate",
                     f"migration {f.revision}, head is {f.head}: run landgis migrate")
    return _ok("migrations", f"迁移已是最新（{f.revision}）", f"migrations at head ({f.revision})")


def check_indexes(f: Facts) -> Check | None:
    if f.indexes is None or f.revision != f.head:
        return None
    missing = [name for name in EXPECTED_INDEXES if name not in f.indexes]
    if missing:
        names = ", ".join(missing)
        return Check("indexes", "error", f"缺少（或无效的）GiST/唯一索引：{names}",
                     f"missing (or invalid) GiST/unique indexes: {names}")
    return _ok("indexes", f"GiST 与唯一索引齐全（{len(EXPECTED_INDEXES)} 个）",
               f"GiST and unique indexes present ({len(EXPECTED_INDEXES)})")


def check_triggers(f: Facts) -> Check | None:
    if f.triggers is None or f.revision is None:
        return None
    missing = [name for name in PROTECTIVE_TRIGGERS if name not in f.triggers]
    if missing:
        names = ", ".join(missing)
        return Check("audit-triggers", "error", f"审计日志只增不改等保护触发器缺失或已禁用：{names}",
                     f"append-only / history triggers missing or disabled: {names}")
    return _ok("audit-triggers", "审计日志只增不改、宗地历史保护触发器均在",
               "audit log append-only and parcel history triggers present")


def check_admin_token(f: Facts) -> Check | None:
    if f.active_admin_tokens is None:
        return None
    if f.active_admin_tokens == 0:
        return Check("admin-token", "warn", "没有有效的 admin 令牌：landgis token create --role admin --name …",
                     "no active admin token: landgis token create --role admin --name …")
    return _ok("admin-token", f"有效 admin 令牌 {f.active_admin_tokens} 个",
               f"{f.active_admin_tokens} active admin token(s)")


def check_stale_tokens(f: Facts) -> Check | None:
    if f.active_admin_tokens is None:
        return None
    if f.stale_tokens is None:
        return Check("stale-tokens", "skip", "未记录令牌最近使用时间，无法判断长期未用的令牌",
                     "token use is not recorded; tokens unused for long cannot be found")
    if f.stale_tokens:
        return Check("stale-tokens", "warn", f"{f.stale_tokens} 个有效令牌 {STALE_DAYS} 天未使用，考虑撤销",
                     f"{f.stale_tokens} active token(s) unused for {STALE_DAYS} days; consider revoking them")
    return _ok("stale-tokens", f"没有 {STALE_DAYS} 天未用的令牌", f"no token unused for {STALE_DAYS} days")


def check_superuser(f: Facts) -> Check | None:
    if f.superuser is None:
        return None
    if not f.superuser:
        return _ok("superuser", "服务以普通数据库角色连接", "the service connects as an ordinary role")
    return Check("superuser", "warn" if f.env == "production" else "ok",
                 "服务以超级用户连接数据库；生产环境请用仅有所需权限的角色",
                 "the service connects as a database superuser; in production use a role with only the rights "
                 "it needs")


CHECKS: tuple[Callable[[Facts], Check | None], ...] = (
    check_environment, check_secret_key, check_anonymous_read, check_cors, check_write_rate, check_url_secret,
    check_database, check_postgresql, check_postgis, check_migrations, check_indexes, check_triggers,
    check_admin_token, check_stale_tokens, check_superuser,
)


def run_checks(f: Facts) -> list[Check]:
    if f.settings_error:
        return [Check("settings", "error", f"配置无效：{f.settings_error}", f"invalid settings: {f.settings_error}")]
    return [c for c in (check(f) for check in CHECKS) if c is not None]


def _urls_with_password(environ: Mapping[str, str]) -> list[str]:
    from sqlalchemy.engine import make_url

    found = []
    for name in ("DATABASE_URL", "LANDGIS_DATABASE_URL", "DATABASE_READ_URL", "LANDGIS_DATABASE_READ_URL"):
        value = environ.get(name)
        if not value:
            continue
        try:
            if make_url(value).password:
                found.append(name)
        except Exception:  # an unparsable URL fails at the database check instead
            continue
    return found


def _gather_db(conn, facts: Facts) -> None:
    """The database facts, by SQL; ``conn`` is a SQLAlchemy connection."""
    from sqlalchemy import text

    from app.db import current_revision, head_revision

    def one(sql: str):
        return conn.execute(text(sql)).scalar()

    facts.server_version_num = int(one("SHOW server_version_num"))
    facts.server_version = one("SHOW server_version").split(" ")[0]
    facts.postgis_version = one("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")
    facts.superuser = one("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    facts.revision = current_revision(conn) if one("SELECT to_regclass('public.alembic_version')") else None
    facts.head = head_revision()
    facts.indexes = set(conn.execute(text(
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND i.indisvalid")).scalars())
    facts.triggers = set(conn.execute(text(
        "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND NOT t.tgisinternal AND t.tgenabled <> 'D'")).scalars())
    if one("SELECT to_regclass('public.api_tokens')"):
        facts.active_admin_tokens = one(
            "SELECT count(*) FROM api_tokens WHERE role = 'admin' AND revoked_at IS NULL")
        tracked = one("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public' "
                      "AND table_name = 'api_tokens' AND column_name = 'last_used_at'")
        if tracked:
            facts.stale_tokens = one(
                "SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL "
                f"AND coalesce(last_used_at, created_at) < now() - interval '{STALE_DAYS} days'")


def gather(settings=None, environ: Mapping[str, str] | None = None) -> Facts:
    """Facts from ``settings`` (default: :func:`get_settings`), ``environ`` and the database."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from app.settings import DEFAULT_SECRET, get_settings

    environ = os.environ if environ is None else environ
    if settings is None:
        try:
            settings = get_settings()
        except Exception as exc:  # pydantic's ValidationError, or a *_FILE that cannot be read
            return Facts(settings_error=" ".join(str(exc).split()))
    facts = Facts(env=settings.env, default_secret=settings.secret_key == DEFAULT_SECRET,
                  anonymous_read=settings.anonymous_read, cors_origins=list(settings.cors_origins),
                  write_rate_per_minute=settings.write_rate_per_minute,
                  env_urls_with_password=_urls_with_password(environ))
    engine = create_engine(settings.sqlalchemy_url, poolclass=NullPool,
                           connect_args={"connect_timeout": 5, "application_name": "landgis-doctor"})
    try:
        with engine.connect() as conn:
            _gather_db(conn, facts)
    except Exception as exc:
        orig = getattr(exc, "orig", None) or exc
        facts.db_error = " ".join(str(orig).split())[:300]
    finally:
        engine.dispose()
    return facts


_STYLE = {"ok": "green", "warn": "yellow", "error": "bold red", "skip": "dim"}


def _print_table(checks: list[Check]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="landgis doctor", show_lines=False)
    table.add_column("检查 / check")
    table.add_column("状态 / status")
    table.add_column("说明 / message", overflow="fold")
    for c in checks:
        table.add_row(c.name, f"[{_STYLE[c.status]}]{c.status}[/]", c.message)
    console = Console(width=None if os.isatty(1) else 160)
    console.print(table)
    errors = sum(c.status == "error" for c in checks)
    warns = sum(c.status == "warn" for c in checks)
    console.print(f"{errors} 个错误、{warns} 个警告 / {errors} error(s), {warns} warning(s)")


def register(app: typer.Typer) -> None:
    @app.command()
    def doctor(as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False) -> None:
        """Check the configuration and the database; exit 1 when any check is an error."""
        checks = run_checks(gather())
        if as_json:
            typer.echo(json.dumps({"ok": not any(c.status == "error" for c in checks),
                                   "checks": [{**asdict(c), "message": c.message} for c in checks]},
                                  ensure_ascii=False, indent=2))
        else:
            _print_table(checks)
        if any(c.status == "error" for c in checks):
            raise typer.Exit(1)
