from pathlib import Path

from cme_shared.cli import service_cli

from .app import create_app
from .settings import CaseworkSettings

cli = service_cli(CaseworkSettings, create_app, Path(__file__).parent / "migrations")

if __name__ == "__main__":
    cli()
