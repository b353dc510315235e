"""`python -m cme_<service> [serve|migrate|outbox]`, the same for every service."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
import uvicorn
from fastapi import FastAPI

from .migrations import upgrade
from .ops import outbox_commands
from .settings import ServiceSettings


def server_options(settings: ServiceSettings) -> dict[str, Any]:
    """How every service serves HTTP (uvicorn's keyword arguments). h11 is named, not left to uvicorn's
    choice, because its cap on the request line and headers is the one configured; bodies are limited by
    the app itself (`http.limits`). uvicorn's own X-Forwarded-For handling is off (by default it believes the
    header from 127.0.0.1): the client is the TCP peer, and a service that must see past a proxy (intake's
    public form) reads the header itself, from the proxies it is configured to trust."""
    return {"host": settings.http_host, "port": settings.http_port, "log_config": None, "access_log": False,
            "http": "h11", "proxy_headers": False, "limit_concurrency": settings.http_limit_concurrency,
            "h11_max_incomplete_event_size": settings.http_max_header_bytes}


def service_cli(
    settings_factory: Callable[[], ServiceSettings],
    app_factory: Callable[[ServiceSettings], FastAPI],
    migrations_dir: Path,
) -> typer.Typer:
    cli = typer.Typer(add_completion=False, no_args_is_help=False)

    @cli.callback(invoke_without_command=True)
    def default(ctx: typer.Context) -> None:
        if ctx.invoked_subcommand is None:
            serve()

    @cli.command()
    def serve() -> None:
        """Serve HTTP and consume Kafka until SIGTERM."""
        settings = settings_factory()
        uvicorn.run(app_factory(settings), **server_options(settings))

    @cli.command()
    def migrate(revision: str = "head") -> None:
        """Bring the service's own database to `revision`, as its owner role (CME_MIGRATION_DATABASE_URL),
        granting the runtime login (the user of CME_DATABASE_URL) what the service needs."""
        settings = settings_factory()
        try:
            url = settings.migration_url()
        except ValueError as exc:
            typer.echo(f"{settings.service_name}: {exc}", err=True)
            raise typer.Exit(2) from None
        upgrade(migrations_dir, url, revision, runtime_role=settings.runtime_role())
        typer.echo(f"{settings.service_name}: database at {revision}")

    cli.add_typer(outbox_commands(settings_factory), name="outbox")
    return cli
