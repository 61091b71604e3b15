"""`flowers audit …`: prove the log intact (hash chains, the FLOWERS stream against the stores)."""

from __future__ import annotations

import asyncio
import sys

import typer

audit_app = typer.Typer(help="Audit: verify the event log.")


@audit_app.command()
def verify(as_json: bool = typer.Option(False, "--json", help="A JSON report.")) -> None:
    """Check every store's hash chain and the FLOWERS stream; exit 0 only when all holds."""
    from shared import audit
    from shared.bus import connect_nats
    from shared.service import StartupError, load_settings, resolve_urls
    from shared.settings import SERVICES

    def progress(what: str, done: int, total: int) -> None:
        if sys.stderr.isatty() and not as_json:
            print(f"\r{what:<20} {done:>9}/{total}", end="", file=sys.stderr, flush=True)

    async def run() -> audit.AuditReport:
        try:
            settings = resolve_urls(load_settings())
        except StartupError as exc:
            typer.echo(f"flowers: {exc}", err=True)
            raise typer.Exit(2) from None
        nc = await connect_nats(settings.nats_url, name="flowers-audit", attempts=3)
        try:
            urls = {service: settings.database_url_for(service) for service in SERVICES}
            return await audit.verify(urls, nc.jetstream(), progress)
        finally:
            await nc.close()

    report = asyncio.run(run())
    if sys.stderr.isatty() and not as_json:
        print(file=sys.stderr)
    typer.echo(audit.as_json(report) if as_json else audit.render(report))
    raise typer.Exit(0 if report.ok else 1)
