"""`flowers db`: the databases' roles and schemas (README, "PostgreSQL roles")."""

from __future__ import annotations

import asyncio

import typer

db_app = typer.Typer(help="Database roles and schemas.", no_args_is_help=True)


@db_app.command()
def migrate() -> None:
    """Apply every database's schema as its owner role; with FLOWERS_DATABASE_ADMIN_URL, make
    the roles, databases and grants first (otherwise deploy/postgres-roles.sql made them)."""
    from deploy.embedded import EmbeddedServerError
    from deploy.stack import prepare_databases
    from shared.database_roles import DATABASES, KEYS
    from shared.service import StartupError, load_settings, resolve_urls

    try:
        settings = resolve_urls(load_settings())
    except StartupError as exc:
        typer.echo(f"flowers: {exc}", err=True)
        raise typer.Exit(2) from None
    admin = settings.database_admin_url
    try:
        asyncio.run(prepare_databases(settings, admin.get_secret_value() if admin else None))
    except EmbeddedServerError as exc:
        typer.echo(f"flowers: {exc}", err=True)
        raise typer.Exit(1) from None
    names = ", ".join(settings.database_name(n) for n in (*DATABASES, KEYS))
    typer.echo(f"databases migrated: {names}")
