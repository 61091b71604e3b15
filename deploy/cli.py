"""`flowers`: the one command-line entry point for operators (`flowers --help`)."""

from __future__ import annotations

import asyncio
import json
import os

import typer

from deploy.cli_audit import audit_app
from deploy.cli_db import db_app
from deploy.cli_directory import directory_app
from deploy.cli_dlq import dlq_app
from deploy.cli_nats import nats_config, nats_streams
from deploy.cli_notify import notify_app
from deploy.cli_payroll import payroll_app
from deploy.cli_privacy import privacy_app
from deploy.cli_serve import serve
from deploy.cli_users import users_app
from shared.logging import configure_logging
from shared.settings import SERVICES

app = typer.Typer(
    help="Five Golden Flowers (红花献给你): run the system and operate it.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(directory_app, name="directory")
app.add_typer(dlq_app, name="dlq")
app.add_typer(audit_app, name="audit")
app.add_typer(payroll_app, name="payroll")
app.add_typer(privacy_app, name="privacy")
app.add_typer(users_app, name="users")
app.add_typer(db_app, name="db")
app.add_typer(notify_app, name="notify")
app.command("nats-config")(nats_config)
app.command("nats-streams")(nats_streams)
app.command("serve")(serve)


@app.command()
def up(
    check: bool = typer.Option(
        False, "--check", help="Start everything, wait until healthy, then stop (a smoke test)."
    ),
    demo: bool = typer.Option(
        True, "--demo/--no-demo", help="Load the demo data on the first start."
    ),
    cluster: bool = typer.Option(
        False,
        "--cluster",
        help="Three NATS nodes as a JetStream cluster (streams with 3 replicas) and two "
        "instances of every service and of the gateway; data under <data dir>/cluster.",
    ),
    mail_catcher: bool = typer.Option(
        False,
        "--mail-catcher",
        help="Run a local SMTP server that keeps every notification mail (under <data dir>/"
        "mail) and a page to read them in the browser: for a trial without a mail server.",
    ),
) -> None:
    """Run the whole system: embedded NATS and PostgreSQL, every service, the gateway."""
    from deploy.stack import load_demo_data, run_stack
    from shared.service import load_settings

    settings = load_settings()
    if cluster:  # its own servers and data: a single node's stream is not the cluster's
        settings = settings.model_copy(update={"data_dir": settings.data_dir / "cluster"})
    before_services = load_demo_data if demo else None
    raise typer.Exit(
        asyncio.run(
            run_stack(
                settings,
                before_services=before_services,
                stop_after_ready=check,
                cluster=cluster,
                mail_catcher=mail_catcher,
            )
        )
    )


@app.command()
def health() -> None:
    """Ask every running service for its health (needs a running system)."""
    from shared.service import StartupError, load_settings, resolve_urls

    async def ask() -> int:
        from deploy.operator import operator_session

        try:
            settings = resolve_urls(load_settings())
        except StartupError as exc:
            typer.echo(f"flowers: {exc}", err=True)
            return 2
        worst = 0
        try:  # as the operator (its NATS user may ask every service)
            async with operator_session(settings, name="flowers-health") as (nc, _):
                for service in SERVICES:
                    try:
                        reply = await nc.request(f"flowers.qry.{service}.health", b"{}", timeout=2)
                        data = json.loads(reply.data).get("data")
                        typer.echo(f"{service:<11} {json.dumps(data, ensure_ascii=False)}")
                    except Exception as exc:
                        typer.echo(f"{service:<11} DOWN ({type(exc).__name__})")
                        worst = 1
        except ConnectionError as exc:
            typer.echo(f"flowers: {exc}", err=True)
            return 2
        return worst

    raise typer.Exit(asyncio.run(ask()))


def main() -> None:
    # Logs go to stderr, so stdout carries the command's output alone (`--json | jq`):
    # structlog's default logger, unconfigured, prints to stdout.
    configure_logging("flowers", level=os.environ.get("FLOWERS_LOG_LEVEL", "INFO"))
    app(prog_name="flowers")


if __name__ == "__main__":
    main()
