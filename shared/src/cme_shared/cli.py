"""`python -m cme_<service> [serve|migrate|outbox]`, the same for every service."""

from collections.abc import Callable
from pathlib import Path

import typer
import uvicorn
from fastapi import FastAPI

from .migrations import upgrade
from .ops import outbox_commands
from .settings import ServiceSettings


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
        uvicorn.run(app_factory(settings), host=settings.http_host, port=settings.http_port,
                    log_config=None, access_log=False)

    @cli.command()
    def migrate(revision: str = "head") -> None:
        """Bring the service's own database to `revision`."""
        settings = settings_factory()
        upgrade(migrations_dir, settings.database_url.get_secret_value(), revision)
        typer.echo(f"{settings.service_name}: database at {revision}")

    cli.add_typer(outbox_commands(settings_factory), name="outbox")
    return cli
