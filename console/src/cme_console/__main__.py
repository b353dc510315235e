"""`python -m cme_console`: serve the console (CME_HTTP_HOST:CME_HTTP_PORT, default 127.0.0.1:8000)."""

import uvicorn

from .app import create_app
from .settings import ConsoleSettings


def main() -> None:
    settings = ConsoleSettings()
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_config=None,
                proxy_headers=False, server_header=False)


if __name__ == "__main__":
    main()
