"""The console's settings (environment, prefix `CME_`), as pydantic-settings reads them.

The console holds no data of its own: where the four services are, how people sign in, and the key that
signs its session cookies.
"""

from pathlib import Path
from typing import Literal

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cme_shared.settings import DEVELOPMENT_JWT_SECRET

# console/node_modules when the package is installed editable from the repository (npm ci puts it there).
REPOSITORY_ASSETS = Path(__file__).resolve().parents[2] / "node_modules"


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CME_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    log_level: str = "INFO"

    # The four services' public HTTP APIs (CONTRACT section 1): the only thing the console talks to.
    intake_url: str = "http://127.0.0.1:8001"
    casework_url: str = "http://127.0.0.1:8002"
    disclosure_url: str = "http://127.0.0.1:8003"
    rights_url: str = "http://127.0.0.1:8004"
    service_timeout_seconds: float = 10.0

    # Development and test sign-in: the console mints the same HS256 tokens as `make token`, with the
    # services' own secret, issuer and audience.
    jwt_secret: SecretStr = SecretStr(DEVELOPMENT_JWT_SECRET)
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    token_ttl_seconds: int = 8 * 3600

    # Signs the session cookie (itsdangerous). Production must set its own.
    console_session_secret: SecretStr = SecretStr("development-console-session-secret-" + "x" * 16)
    # Production serves over HTTPS only: the cookie is then `Secure`.
    console_cookie_secure: bool = False
    console_session_max_age_seconds: int = 8 * 3600
    console_assets_dir: Path = REPOSITORY_ASSETS
    # The council's name in the header and footer (a council service: no GOV.UK crown or logotype).
    console_council_name: str = "Westminster City Council and the Royal Borough of Kensington and Chelsea"

    # Production sign-in: OpenID Connect authorization code with PKCE (authlib).
    oidc_metadata_url: str | None = None  # the provider's /.well-known/openid-configuration
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_redirect_url: str | None = None  # https://console.example/auth/callback
    oidc_scope: str = "openid profile"
    # Which token goes to the services: the access token (default) or, for providers whose access tokens
    # are opaque, the ID token.
    oidc_service_token: Literal["access_token", "id_token"] = "access_token"

    @property
    def development_sign_in(self) -> bool:
        return self.env != "production"

    @model_validator(mode="after")
    def _production_is_configured(self) -> "ConsoleSettings":
        if self.env != "production":
            return self
        missing = [name for name in ("oidc_metadata_url", "oidc_client_id", "oidc_redirect_url")
                   if not getattr(self, name)]
        if missing:
            raise ValueError("production signs people in with OpenID Connect: set " +
                             ", ".join("CME_" + m.upper() for m in missing))
        if self.console_session_secret.get_secret_value().startswith("development-"):
            raise ValueError("production needs its own CME_CONSOLE_SESSION_SECRET")
        if not self.console_cookie_secure:
            raise ValueError("production serves the console over HTTPS: set CME_CONSOLE_COOKIE_SECURE=true")
        return self
