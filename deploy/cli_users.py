"""`flowers users …`: the first administrator, accounts and API tokens, from the command line.

Works on the gateway's database directly (it needs PostgreSQL, not a running gateway).
"""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer

users_app = typer.Typer(help="User accounts of the web UI and API (the gateway).")

T = TypeVar("T")


def _run(work: Callable[..., Awaitable[T]]) -> T:
    """Open the gateway's database, hand an AccountStore to `work`, close it."""
    from services.gateway.accounts import AccountStore
    from services.gateway.config import GatewaySettings
    from services.gateway.database import open_database
    from shared.postgres import DatabaseUnavailable
    from shared.service import StartupError, load_settings, resolve_urls

    async def main() -> T:
        try:
            settings = resolve_urls(load_settings())
            pool = await open_database(settings)
        except (StartupError, DatabaseUnavailable) as exc:
            typer.echo(f"flowers: {exc}", err=True)
            raise typer.Exit(2) from None
        try:
            return await work(AccountStore(pool, GatewaySettings()))
        finally:
            await pool.close()

    return asyncio.run(main())


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat the password: ") != first:
        typer.echo("flowers: the passwords differ", err=True)
        raise typer.Exit(1)
    return first


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@users_app.command("create-admin")
def create_admin(
    username: str = typer.Option("admin", "--username", "-u", help="Sign-in name."),
    display_name: str = typer.Option("系统管理员", "--display-name", help="Name shown in the UI."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input (scripts)."
    ),
) -> None:
    """Create an administrator account (the first one, or another)."""
    from services.gateway.accounts import ADMIN, AccountError, AccountStore, UserFields

    password = _password(password_stdin)

    async def work(accounts: AccountStore) -> None:
        try:
            user = await accounts.create_user(
                username, password, UserFields(display_name, frozenset({ADMIN})), actor=_actor()
            )
        except AccountError as exc:
            for field, (_, message_en) in exc.errors.items():
                typer.echo(f"flowers: {field}: {message_en}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"Administrator {user.username} created ({user.user_id}).")

    _run(work)


@users_app.command("list")
def list_users() -> None:
    """Every account with its roles."""
    from services.gateway.accounts import AccountStore

    async def work(accounts: AccountStore) -> None:
        for user in await accounts.list_users():
            extra = " ".join(
                f"{k}={v}"
                for k, v in (("unit", user.unit_code), ("department", user.department))
                if v
            )
            state = "" if user.active else " (disabled)"
            typer.echo(f"{user.username:<16} {','.join(sorted(user.roles)):<24} {extra}{state}")

    _run(work)


@users_app.command("create-token")
def create_token(
    username: str = typer.Argument(..., help="The account the API client acts as."),
    name: str = typer.Option("api", "--name", help="What the token is for."),
) -> None:
    """Issue a bearer token for an API client (printed once; only its digest is kept)."""
    from services.gateway.accounts import AccountStore

    async def work(accounts: AccountStore) -> None:
        user = await accounts.by_username(username)
        if user is None:
            typer.echo(f"flowers: no user {username}", err=True)
            raise typer.Exit(1)
        _, raw = await accounts.create_token(user.user_id, name, actor=_actor())
        typer.echo(raw)

    _run(work)


@users_app.command("sync-employees")
def sync_employees() -> None:
    """Every employee of the directory gets an account (user name = employee number, role
    employee, activated with a code from the unit's sheet); those who left are deactivated."""
    from deploy.operator import operator_session
    from services.gateway.accounts import AccountStore
    from services.gateway.employees import EmployeeAccounts
    from shared.service import load_settings, resolve_urls

    async def work(accounts: AccountStore) -> None:
        try:
            async with operator_session(resolve_urls(load_settings())) as (_, rpc):
                directory = await rpc.query(
                    "nomination", "employees", {"unit_code": None, "active_only": False}
                )
        except ConnectionError as exc:
            typer.echo(f"flowers: {exc}", err=True)
            raise typer.Exit(2) from None
        report = await EmployeeAccounts(accounts).provision(directory, actor=_actor())
        typer.echo(report.summary_zh())

    _run(work)
