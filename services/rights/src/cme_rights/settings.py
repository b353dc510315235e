from pydantic import SecretStr

from cme_shared.settings import ServiceSettings


class RightsSettings(ServiceSettings):
    service_name: str = "rights"
    http_port: int = 8004
    database_url: SecretStr = SecretStr("postgresql+asyncpg://cme_rights:cme_rights@127.0.0.1:5432/cme_rights")
