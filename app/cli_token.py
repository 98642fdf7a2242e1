"""``landgis token``: create, list and revoke API tokens."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from app.settings import get_settings

token_app = typer.Typer(help="API 令牌 / API tokens (bearer keys with a role)", no_args_is_help=True)
console = Console(stderr=True)


def _engine():
    from app.db import make_engine

    return make_engine(get_settings())


@token_app.command("create")
def create(
    role: Annotated[str, typer.Option(help="viewer | officer | admin")],
    name: Annotated[str, typer.Option(help="who or what uses the token")],
) -> None:
    """Create a token and print its key once (only its digest is stored)."""
    from app.services.tokens import create_token

    engine = _engine()
    try:
        token, key = create_token(engine, role=role, name=name)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()
    console.print(f"token {token.id} ({token.role}, {token.name}); the key is shown only now:")
    typer.echo(key)


@token_app.command("revoke")
def revoke(token_id: Annotated[str, typer.Argument(help="token id")]) -> None:
    """Revoke a token by id."""
    from app.services.tokens import revoke_token

    engine = _engine()
    try:
        ok = revoke_token(engine, token_id)
    finally:
        engine.dispose()
    if not ok:
        console.print(f"[red]no active token {token_id}[/red]")
        raise typer.Exit(1)
    console.print(f"revoked {token_id}")


@token_app.command("list")
def list_() -> None:
    """List tokens (never their keys)."""
    from app.services.tokens import list_tokens

    engine = _engine()
    try:
        for t in list_tokens(engine):
            state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active"
            typer.echo(f"{t.id}  {t.role:8} {t.key_prefix}…  {t.name}  {state}")
    finally:
        engine.dispose()
