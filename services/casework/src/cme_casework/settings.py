from pydantic import SecretStr

from cme_shared.settings import ServiceSettings


class CaseworkSettings(ServiceSettings):
    service_name: str = "casework"
    http_port: int = 8002
    database_url: SecretStr = SecretStr("postgresql+asyncpg://cme_casework:cme_casework@127.0.0.1:5432/cme_casework")
