"""The ``landgis`` command: database lifecycle, migrations, serving, import/export and checks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from app.settings import get_settings

app = typer.Typer(help="天台县工业用地宗地服务 / Tiantai industrial-land parcel service", no_args_is_help=True)
db_app = typer.Typer(help="本地 PostGIS 数据库 / the project-local PostGIS cluster", no_args_is_help=True)
app.add_typer(db_app, name="db")
console = Console(stderr=True)


def _fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[red]{message}[/red]")
    return typer.Exit(code)


def _shown(url: str) -> str:
    """A database URL fit for a terminal or a log: the password masked."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@db_app.command("up")
def db_up(migrate_too: Annotated[bool, typer.Option("--migrate/--no-migrate")] = True) -> None:
    """Start the local PostGIS (or check DATABASE_URL), create the database and extension, migrate."""
    from app.localdb import LocalCluster, LocalDbError, ensure_database

    settings = get_settings()
    try:
        if settings.uses_local_cluster:
            LocalCluster(settings).up(log=console.print)
        else:
            ensure_database(settings)
    except LocalDbError as exc:
        raise _fail(str(exc)) from exc
    if migrate_too:
        migrate()
    console.print(f"[green]database ready[/green]: {_shown(settings.sqlalchemy_url)}")


@db_app.command("down")
def db_down() -> None:
    """Stop the local cluster (its data stays in .pgdata/)."""
    from app.localdb import LocalCluster

    settings = get_settings()
    if not settings.uses_local_cluster:
        console.print("DATABASE_URL is set: nothing local to stop")
        return
    LocalCluster(settings).stop(log=console.print)


@db_app.command("status")
def db_status() -> None:
    """Say whether the database answers and which migration it is at."""
    from app.db import make_engine, ping

    settings = get_settings()
    engine = make_engine(settings)
    try:
        info = ping(engine)
    except Exception as exc:
        raise _fail(f"database not reachable: {exc}", 1) from exc
    finally:
        engine.dispose()
    console.print({"url": _shown(settings.sqlalchemy_url), **info})


@app.command()
def migrate(revision: Annotated[str, typer.Argument(help="target revision")] = "head") -> None:
    """Run Alembic migrations up (or down) to REVISION."""
    from app.db import migrate as run_migrate

    run_migrate(get_settings().sqlalchemy_url, revision)
    console.print(f"migrated to {revision}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
    reload: Annotated[bool, typer.Option(help="reload on code change (development)")] = False,
) -> None:
    """Serve the API with uvicorn: logs as JSON lines (LANDGIS_LOG_FORMAT), one access line per request.

    With several workers, Prometheus metrics are collected across them in PROMETHEUS_MULTIPROC_DIR; without
    it a fresh temporary directory is made (and removed at exit).
    """
    import logging.config
    import os
    import shutil
    import tempfile

    import uvicorn

    settings = get_settings()
    metrics_dir = None
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = tempfile.mkdtemp(prefix="landgis-prometheus-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir

    from app.observability import logging_config  # after the variable: prometheus_client reads it on import

    log_config = logging_config(settings)
    logging.config.dictConfig(log_config)
    logging.getLogger("landgis").info("serving on http://%s:%s/ (API docs: http://%s:%s/docs)", host, port, host, port)
    try:
        uvicorn.run("app.main:create_app", factory=True, host=host, port=port, workers=workers, reload=reload,
                    proxy_headers=False,  # the app reads them itself (app.proxy), trusting LANDGIS_FORWARDED_ALLOW_IPS
                    log_config=log_config, log_level=settings.log_level.lower(), access_log=False)
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="GeoPackage, GeoJSON, Shapefile (.shp or its folder) or zip")],
    crs: Annotated[str | None, typer.Option(help="CRS of a file that declares none, e.g. EPSG:4549")] = None,
    mapping: Annotated[Path | None, typer.Option(help="field mapping file (TOML/JSON: source = canonical)")] = None,
    layer: Annotated[str | None, typer.Option(help="parcel layer name (default: parcels or the only layer)")] = None,
    encoding: Annotated[str | None, typer.Option(help="DBF encoding if neither .cpg nor detection is right")] = None,
    strict: Annotated[bool, typer.Option(help="refuse the whole file if any row is bad")] = False,
    report: Annotated[Path | None, typer.Option(help="write the validation report as JSON here")] = None,
    actor: Annotated[str, typer.Option(help="who imports (audit log)")] = "cli",
) -> None:
    """Import parcels (with buildings, support land, holder figures) and upsert by parcel_code."""
    from app.importer import ImportOptions, import_path, print_report
    from gis.errors import GisInputError

    opts = ImportOptions(crs=crs, mapping_file=mapping, layer=layer, encoding=encoding, strict=strict,
                         actor=actor)
    try:
        result = import_path(get_settings(), path, opts, progress=True)
    except GisInputError as exc:
        raise _fail(exc.detail) from exc
    print_report(result, Console() if sys.stdout.isatty() else Console(width=200))
    if report:
        report.write_bytes(result.to_json())
    if result.refused:
        raise typer.Exit(1)


@app.command()
def export(
    out: Annotated[Path, typer.Argument(help="output file (.gpkg, .geojson, .shp, .zip, .csv)")],
    fmt: Annotated[str | None, typer.Option("--format", help="gpkg|geojson|shp|csv (default: from suffix)")] = None,
    layer: Annotated[str, typer.Option(help="parcels|buildings|support_land|all")] = "all",
    retired: Annotated[bool, typer.Option(help="include retired parcel versions")] = False,
    crs: Annotated[str | None, typer.Option(help="output CRS (default EPSG:4549; GeoJSON: CRS84)")] = None,
) -> None:
    """Export the register to GeoPackage, GeoJSON, Shapefile (GBK + .cpg) or CSV (UTF-8 BOM)."""
    from app.exporter import export_register
    from gis.errors import GisInputError

    try:
        written = export_register(get_settings(), out, fmt=fmt, layer=layer, include_retired=retired, crs=crs)
    except GisInputError as exc:
        raise _fail(exc.detail) from exc
    for path, count in written:
        Console().print(f"{path}: {count} features")


def _mount_check() -> None:
    try:
        from app.cli_check import check_app
    except ImportError:
        return
    app.add_typer(check_app, name="check")


_mount_check()

from app.cli_token import token_app  # noqa: E402

app.add_typer(token_app, name="token")

from app import cli_backup, cli_doctor  # noqa: E402

cli_doctor.register(app)
cli_backup.register(app)


def main() -> None:
    app(prog_name="landgis")


if __name__ == "__main__":
    sys.exit(main())
