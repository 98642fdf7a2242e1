"""Service settings, read from the environment (and an optional ``.env``), one object per process.

``DATABASE_URL`` selects an external PostgreSQL/PostGIS server; without it the project-local
cluster of ``landgis db up`` is used (see :mod:`app.localdb`).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

__all__ = ["PROJECT_ROOT", "Settings", "get_settings", "sqlalchemy_url"]

PROJECT_ROOT = Path(os.environ.get("LANDGIS_HOME") or Path(__file__).resolve().parents[1])
DEFAULT_SECRET = "dev-insecure-secret-change-me"


def sqlalchemy_url(url: str) -> str:
    """Normalise ``postgres://`` / ``postgresql://`` URLs to the psycopg 3 dialect."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


_SECRET_FIELDS = {"database_url": "DATABASE_URL", "database_read_url": "DATABASE_READ_URL",
                  "secret_key": "LANDGIS_SECRET_KEY"}


class _SecretFiles(PydanticBaseSettingsSource):
    """``DATABASE_URL_FILE``, ``DATABASE_READ_URL_FILE``, ``LANDGIS_SECRET_KEY_FILE``: the value is read from that
    file (Docker / Kubernetes secrets), so a password need not sit in the environment or a command line.
    The plain variable wins when both are set."""

    def get_field_value(self, field, field_name):  # pragma: no cover - __call__ does the work
        return None, field_name, False

    def __call__(self) -> dict:
        values = {}
        for field, env in _SECRET_FIELDS.items():
            path = os.environ.get(env + "_FILE")
            if path:
                # an aliased field is validated by alias only: file its value under the last alias, which the
                # plain variables (DATABASE_URL before LANDGIS_DATABASE_URL) take precedence over
                alias = self.settings_cls.model_fields[field].validation_alias
                key = alias.choices[-1] if isinstance(alias, AliasChoices) else field
                try:
                    values[key] = Path(path).read_text(encoding="utf-8").strip()
                except OSError as exc:
                    raise ValueError(f"{env}_FILE: 无法读取 / cannot read {path}: {exc.strerror}") from None
        return values


class Settings(BaseSettings):
    """All settings; env names are ``LANDGIS_<FIELD>`` except ``DATABASE_URL``."""

    # hide_input_in_errors: a validation error would otherwise quote the raw input, passwords included
    model_config = SettingsConfigDict(env_prefix="LANDGIS_", env_file=".env", extra="ignore", hide_input_in_errors=True)

    env: Literal["development", "test", "production"] = "development"
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "LANDGIS_DATABASE_URL")
    )
    # A read replica (or any second connection string) for the read-only endpoints; writes, checks, token
    # look-ups and the category refresh stay on DATABASE_URL.
    database_read_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_READ_URL", "LANDGIS_DATABASE_READ_URL")
    )
    local_pg_port: int = 54329
    local_pg_dir: Path = PROJECT_ROOT / ".pgdata"
    local_db_name: str = "landgis"
    local_db_user: str = "landgis"
    jurisdiction: str = "tiantai"
    secret_key: str = DEFAULT_SECRET
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=200)
    db_statement_timeout_ms: int = Field(default=30_000, ge=0)
    anonymous_read: bool = False
    max_body_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    check_concurrency: int = Field(default=2, ge=1, le=256)
    public_url: str | None = None  # absolute base URL of the service as clients see it (overrides forwarded headers)
    forwarded_allow_ips: str = "127.0.0.1,::1"  # proxies whose Forwarded / X-Forwarded-* headers are believed; "*": any
    # Optional raster basemap for the web map, an XYZ template such as https://tiles.example/{z}/{x}/{y}.png;
    # none by default: the map works offline from the county outline and our own vector tiles.
    basemap_url: str | None = None
    tile_cache_mb: int = Field(default=64, ge=0, le=65536)  # rendered vector tiles kept in memory per worker
    basemap_attribution: str = ""
    # Browser origins allowed to call the API from other sites; none (CORS off) by default.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Token-authenticated writes (checks, operations, uploads, disposals, overrides, tokens) per token per
    # minute in each worker; 0 switches the limit off.
    write_rate_per_minute: int = Field(default=600, ge=0, le=1_000_000)
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    metrics: bool = True  # Prometheus metrics at /metrics

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        return init_settings, env_settings, dotenv_settings, _SecretFiles(settings_cls), file_secret_settings

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value):
        """``https://a.example,https://b.example`` or a JSON list, as an environment variable gives it."""
        if isinstance(value, str):
            value = value.strip()
            if value.startswith("["):
                import json

                return json.loads(value)
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.env == "production" and self.secret_key == DEFAULT_SECRET:
            raise ValueError(
                "LANDGIS_SECRET_KEY 仍为默认值，生产模式拒绝启动 / "
                "LANDGIS_SECRET_KEY is the default; refusing to run in production mode"
            )
        return self

    @property
    def uses_local_cluster(self) -> bool:
        return not self.database_url

    @property
    def local_socket_dir(self) -> Path:
        return self.local_pg_dir / "sock"

    def url_for(self, dbname: str | None = None) -> str:
        """The SQLAlchemy URL of the service database (or of ``dbname`` on the same server)."""
        if self.database_url:
            url = sqlalchemy_url(self.database_url)
            if dbname:
                from sqlalchemy.engine import make_url

                url = make_url(url).set(database=dbname).render_as_string(hide_password=False)
            return url
        db = dbname or self.local_db_name
        return f"postgresql+psycopg://{self.local_db_user}@127.0.0.1:{self.local_pg_port}/{db}"

    @property
    def sqlalchemy_url(self) -> str:
        return self.url_for()

    @property
    def read_url(self) -> str:
        """Where the read-only endpoints read: ``DATABASE_READ_URL`` if given, else the service database."""
        return sqlalchemy_url(self.database_read_url) if self.database_read_url else self.sqlalchemy_url

    def __repr_args__(self):
        """Secrets are never shown (a settings object can end up in a log or a traceback)."""
        for name, value in super().__repr_args__():
            yield name, ("***" if name in _SECRET_FIELDS and value else value)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
