from pydantic import SecretStr

from cme_shared.settings import ServiceSettings


class DisclosureSettings(ServiceSettings):
    service_name: str = "disclosure"
    http_port: int = 8003
    database_url: SecretStr = SecretStr("postgresql+asyncpg://cme_disclosure:cme_disclosure@127.0.0.1:5432/cme_disclosure")
