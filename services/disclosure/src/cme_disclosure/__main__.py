from pathlib import Path

from cme_shared.cli import service_cli

from .app import create_app
from .settings import DisclosureSettings

cli = service_cli(DisclosureSettings, create_app, Path(__file__).parent / "migrations")

if __name__ == "__main__":
    cli()
