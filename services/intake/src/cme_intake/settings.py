from pydantic import SecretStr

from cme_shared.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    service_name: str = "intake"
    http_port: int = 8001
    database_url: SecretStr = SecretStr("postgresql+asyncpg://cme_intake:cme_intake@127.0.0.1:5432/cme_intake")
