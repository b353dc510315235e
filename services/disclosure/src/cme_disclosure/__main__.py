"""`python -m cme_disclosure [serve|migrate|verify-log|purge-disclosure]`."""

import asyncio
import uuid
from pathlib import Path
from typing import Annotated

import typer

from cme_shared.cli import service_cli
from cme_shared.db import create_engine, session_factory

from .app import create_app
from .service_layer.audit import LogReport, verify_log
from .settings import DisclosureSettings

cli = service_cli(DisclosureSettings, create_app, Path(__file__).parent / "migrations")


@cli.command("verify-log")
def verify_log_command() -> None:
    """Recompute the disclosure log from its leaves and check every node, head, signature and payload
    digest; exit 1 naming the first bad leaf (`make verify-log`)."""
    async def run() -> LogReport:
        engine = create_engine(DisclosureSettings().database_url.get_secret_value(), pool_size=1)
        try:
            async with engine.connect() as conn:
                return await verify_log(conn)
        finally:
            await engine.dispose()

    report = asyncio.run(run())
    if report.ok:
        typer.echo(f"disclosure log OK: {report.tree_size} leaves, {report.heads_checked} signed tree heads, "
                   f"{report.payloads_checked} payload digests checked, {report.payloads_purged} purged")
        return
    typer.echo(f"disclosure log INCONSISTENT: first bad leaf {report.first_bad_leaf}", err=True)
    for problem in report.problems:
        typer.echo(f"  {problem}", err=True)
    raise typer.Exit(1)


@cli.command("purge-disclosure")
def purge_disclosure_command(
    disclosure_id: uuid.UUID,
    reason: Annotated[str, typer.Option(help="why (retention schedule reference)")],
) -> None:
    """Retention: purge one disclosure's personal data; its leaves stay and the log still verifies."""
    from .domain.policy import load_policy
    from .service_layer.disclosures import Deps, purge
    from .service_layer.log import KeyRing, MerkleLog

    async def run() -> int:
        settings = DisclosureSettings()
        engine = create_engine(settings.database_url.get_secret_value(), pool_size=1)
        try:
            async with session_factory(engine).begin() as session:
                deps = Deps(MerkleLog(KeyRing(settings.configured_signing_key())),
                            load_policy(settings.disclosure_policy_file))
                return await purge(session, deps, disclosure_id, reason)
        finally:
            await engine.dispose()

    typer.echo(f"purged {asyncio.run(run())} payload(s)")


if __name__ == "__main__":
    cli()
