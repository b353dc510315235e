from pathlib import Path

from cme_shared.cli import service_cli

from .app import create_app
from .settings import IntakeSettings

cli = service_cli(IntakeSettings, create_app, Path(__file__).parent / "migrations")

if __name__ == "__main__":
    cli()
