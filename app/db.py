"""Database access: one engine per process, sessions injected, migrations run through Alembic."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import Connection

from app.settings import Settings

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

# Alembic is imported where it is used: it costs ~0.1 s, and `landgis import` or a worker never migrates

__all__ = ["alembic_config", "current_revision", "head_revision", "make_engine", "migrate", "transaction"]

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"
CONNECT_TIMEOUT_S = 10  # a server that does not answer at all (host down, packets dropped) fails in 10 s, not minutes
_DOWN_WAIT_S = 1.0
_RECONNECT_S = 2.0


def make_engine(settings: Settings, url: str | None = None, application_name: str = "landgis", **kw) -> Engine:
    """A pooled psycopg 3 engine with pre-ping (survives a database restart)."""
    options = {"options": f"-c statement_timeout={settings.db_statement_timeout_ms}"}
    return create_engine(
        url or settings.sqlalchemy_url,
        pool_pre_ping=True,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        connect_args={**options, "application_name": application_name, "connect_timeout": CONNECT_TIMEOUT_S},
        **kw,
    )


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str, revision: str = "head") -> None:
    """Upgrade (or, with a revision below the current one, downgrade) the database at ``url``."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = alembic_config(url)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        script = ScriptDirectory.from_config(cfg)
        target = script.get_current_head() if revision == "head" else revision
        if revision == "base" or (current and target and _is_ancestor(script, target, current)):
            command.downgrade(cfg, revision)
        else:
            command.upgrade(cfg, revision)
    finally:
        engine.dispose()


def _is_ancestor(script: ScriptDirectory, older: str, newer: str) -> bool:
    if older == newer:
        return False
    return any(rev.revision == older for rev in script.iterate_revisions(newer, "base"))


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("postgresql://")).get_current_head()


def current_revision(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction: committed on success, rolled back on any exception."""
    with engine.begin() as conn:
        yield conn


def ping(engine: Engine) -> dict:
    with engine.connect() as conn:
        postgis = conn.execute(text("SELECT postgis_lib_version()")).scalar()
        rev = current_revision(conn)
    return {"postgis": postgis, "revision": rev, "head": head_revision()}


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://``) as libpq understands it."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def make_async_pool(settings: Settings, url: str | None = None):
    """An async psycopg pool for the read-mostly OGC endpoints, which stream rows PostGIS has rendered.

    Connections are in autocommit mode (a lookup is one round trip, no BEGIN/COMMIT); streaming readers
    open a read-only transaction themselves for their server-side cursor. Connections are not probed on
    borrow (that costs a round trip per request): one broken by a database restart fails its request
    with a 503 and is discarded by the pool. JIT is off: compiling a 10,000-row page's expressions costs
    more than it saves.

    A database that goes away and comes back (restart, failover) needs three things psycopg_pool does
    not do by itself. A broken connection coming back to the pool makes it check its idle ones at once
    (in the background), so that a restart nobody noticed costs one failed request, not one per pooled
    connection. Once an attempt to connect has failed, a request waits at most ``_DOWN_WAIT_S`` more for
    a connection, then gets its 503, instead of queueing for the pool's 30 s. Reconnection attempts back
    off for ``_RECONNECT_S`` only (psycopg_pool's default, 5 minutes of doubling delays, can leave a
    recovered database unused for a minute or more); after that the next request starts a fresh one.
    """
    import asyncio
    import contextlib

    import psycopg
    from psycopg_pool import AsyncConnectionPool, PoolTimeout

    went_down = asyncio.Event()  # set while the last attempt to connect failed
    returning: set[asyncio.Task] = set()

    class Connection(psycopg.AsyncConnection):
        @classmethod
        async def connect(cls, *args, **kwargs):
            try:
                conn = await super().connect(*args, **kwargs)
            except psycopg.OperationalError:
                went_down.set()
                raise
            went_down.clear()
            return conn

    def abandon(pool: AsyncConnectionPool, getter: asyncio.Future) -> None:
        """Give up a wait for a connection; one that arrives anyway goes back to the pool."""
        def back(f: asyncio.Future) -> None:
            if not f.cancelled() and f.exception() is None:
                task = asyncio.ensure_future(pool.putconn(f.result()))
                returning.add(task)
                task.add_done_callback(returning.discard)
        getter.add_done_callback(back)
        getter.cancel()

    class ReadPool(AsyncConnectionPool):
        _recheck: asyncio.Task | None = None

        async def getconn(self, timeout: float | None = None):
            if went_down.is_set():
                return await super().getconn(_DOWN_WAIT_S if timeout is None else min(timeout, _DOWN_WAIT_S))
            if getattr(self, "_pool", None):  # an idle connection is ready: no wait to watch (saves ~50 µs)
                return await super().getconn(timeout)
            getter = asyncio.ensure_future(super().getconn(timeout))
            watcher = asyncio.ensure_future(went_down.wait())
            try:
                await asyncio.wait((getter, watcher), return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():  # the database went away while this request was queued
                    await asyncio.wait((getter,), timeout=_DOWN_WAIT_S)
                    if not getter.done():
                        abandon(self, getter)
                        raise PoolTimeout(f"no connection: the database is unreachable ({self.name})")
                return getter.result()
            except asyncio.CancelledError:
                abandon(self, getter)
                raise
            finally:
                watcher.cancel()

        async def putconn(self, conn) -> None:
            broken = conn.closed
            await super().putconn(conn)
            if broken and not self.closed and (self._recheck is None or self._recheck.done()):
                self._recheck = asyncio.create_task(self._check_quietly())

        async def _check_quietly(self) -> None:
            with contextlib.suppress(Exception):
                await self.check()

    return ReadPool(
        libpq_url(url or settings.sqlalchemy_url), min_size=1, max_size=settings.db_pool_size, open=False,
        connection_class=Connection, reconnect_timeout=_RECONNECT_S,
        kwargs={"options": f"-c statement_timeout={settings.db_statement_timeout_ms} -c jit=off",
                "application_name": "landgis-ogc", "autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S},
        name="landgis-ogc")
