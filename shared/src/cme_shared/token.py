"""`make token`: print a development bearer token (the JWT is the last line of output)."""

from typing import Annotated

import typer

from .auth import Role, issue_development_token
from .contracts.referrals import Borough
from .settings import ServiceSettings

app = typer.Typer(add_completion=False)


@app.command()
def main(
    role: Annotated[list[Role], typer.Option(help="role claim; repeat for several")],
    borough: Annotated[Borough | None, typer.Option()] = None,
    sub: Annotated[str, typer.Option(help="user id")] = "dev-user",
    org_id: Annotated[str | None, typer.Option(help="partner organisation id")] = None,
    ttl: Annotated[int, typer.Option(help="lifetime in seconds")] = 8 * 3600,
) -> None:
    settings = ServiceSettings()
    if settings.env == "production":
        raise typer.BadParameter("development tokens are not issued in production")
    typer.echo(f"# roles={','.join(r.value for r in role)} borough={borough.value if borough else '-'} sub={sub}", err=True)
    typer.echo(
        issue_development_token(
            settings.jwt_secret.get_secret_value(), sub=sub, roles=[r.value for r in role],
            borough=borough.value if borough else None, org_id=org_id, ttl_seconds=ttl,
        )
    )


if __name__ == "__main__":
    app()
