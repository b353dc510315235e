"""`make token`: print a development bearer token (the JWT is the last line of output).

It carries `typ`, `iat`, an `exp` 8 hours on by default (`--ttl`, at most CME_JWT_MAX_LIFETIME_SECONDS), and the
`iss` and `aud` of CME_JWT_ISSUER and CME_JWT_AUDIENCE when those are set, as the services check them."""

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
    ttl: Annotated[int, typer.Option(help="lifetime in seconds (at most CME_JWT_MAX_LIFETIME_SECONDS)")] = 8 * 3600,
) -> None:
    settings = ServiceSettings()
    if settings.env == "production":
        raise typer.BadParameter("development tokens are not issued in production")
    if not 0 < ttl <= settings.jwt_max_lifetime_seconds:
        # The services would refuse a longer token (token_lifetime_too_long): say so now (SEC-19).
        raise typer.BadParameter(f"between 1 and {settings.jwt_max_lifetime_seconds} seconds "
                                 "(CME_JWT_MAX_LIFETIME_SECONDS)", param_hint="--ttl")
    typer.echo(f"# roles={','.join(r.value for r in role)} borough={borough.value if borough else '-'} sub={sub}", err=True)
    typer.echo(
        issue_development_token(
            settings.jwt_secret.get_secret_value(), sub=sub, roles=[r.value for r in role],
            borough=borough.value if borough else None, org_id=org_id, ttl_seconds=ttl,
            issuer=settings.jwt_issuer, audience=settings.jwt_audience,
        )
    )


if __name__ == "__main__":
    app()
