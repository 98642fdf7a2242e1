"""The register version in memory, kept current by LISTEN/NOTIFY, so that most reads skip a query.

Every change to the register bumps ``register_state.version`` and NOTIFYs ``landgis_register``
(migration 0003). :class:`RegisterWatch` listens on a connection of its own; a notification (or a
lost connection) forgets the cached state, and the next request reads it again. While the listener
is not connected nothing is cached, so a stale version is never served for longer than a
notification takes to arrive.

The same connection listens on ``landgis_tokens`` (migration 0005) for the API tokens this worker has
verified: they are kept while listening and forgotten on any change to ``api_tokens``, so a request
with a known token needs no query and a revocation still takes effect at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import date, datetime

import psycopg

__all__ = ["RegisterWatch", "State"]

log = logging.getLogger(__name__)
CHANNEL = "landgis_register"
# The listener only ever reads: without TCP keepalives a server that vanished without closing the connection
# (host down, network cut, failover) would leave it "listening" to nothing, and a stale version cached for good.
_LINK = {"connect_timeout": 10, "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10,
         "keepalives_count": 3}
TOKENS_CHANNEL = "landgis_tokens"  # migration 0005: any change to api_tokens
MAX_TOKENS = 10_000


@dataclass(frozen=True)
class State:
    version: int
    changed_at: datetime
    day: date
    categories_fresh: bool


class RegisterWatch:
    def __init__(self, conninfo: str):
        self.conninfo = conninfo
        self.listening = False
        self.generation = 0  # bumped by every notification and (re)connection
        self._state: State | None = None
        self._tokens: dict[str, object] = {}
        self.token_generation = 0
        self._task: asyncio.Task | None = None

    def cached(self, day: date) -> State | None:
        s = self._state
        return s if self.listening and s is not None and s.day == day else None

    def remember(self, state: State, generation: int) -> None:
        """Cache ``state`` unless a notification arrived since it was read (``generation`` moved)."""
        if self.listening and generation == self.generation:
            self._state = state

    def token(self, digest: str):
        """A token verified earlier, while no token has changed since (None: ask the database)."""
        return self._tokens.get(digest) if self.listening else None

    def remember_token(self, digest: str, token, generation: int) -> None:
        if self.listening and generation == self.token_generation:
            if len(self._tokens) >= MAX_TOKENS:
                self._tokens.clear()
            self._tokens[digest] = token

    def forget_tokens(self) -> None:
        self.token_generation += 1
        self._tokens = {}

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="register-watch")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _forget(self) -> None:
        self.generation += 1
        self._state = None
        self.forget_tokens()

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True,
                                                             application_name="landgis-watch", **_LINK)
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    await conn.execute(f"LISTEN {TOKENS_CHANNEL}")
                    self._forget()
                    self.listening = True
                    delay = 0.5
                    async for note in conn.notifies():
                        if note.channel == TOKENS_CHANNEL:
                            self.forget_tokens()
                        else:
                            self.generation += 1
                            self._state = None
            except (psycopg.Error, OSError) as exc:
                log.info("register watch: %s; retrying in %.1f s", exc, delay)
            finally:
                self.listening = False
                self._forget()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
