"""No deployment of the repository leaves the environment to a default, and compose ships no secret (SEC-19)."""

import re
import stat
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cme_shared.ops import app as ops_app
from cme_shared.settings import DEVELOPMENT_JWT_SECRET

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("intake", "casework", "disclosure", "rights")


def test_compose_names_the_environment_and_takes_the_jwt_secret_from_env_only():
    text = (ROOT / "docker-compose.yml").read_text()
    compose = yaml.safe_load(text)
    for service in SERVICES:
        environment = compose["services"][service]["environment"]
        assert environment["CME_ENV"] == "development"
        # `${VAR:?message}`: compose refuses to start without it; `${VAR:-default}` would ship the default.
        assert re.fullmatch(r"\$\{CME_JWT_SECRET:\?[^}]*\}", environment["CME_JWT_SECRET"])
    assert DEVELOPMENT_JWT_SECRET not in text and "compose-development-secret" not in text


def test_the_local_runtime_names_the_environment_for_every_service_command():
    script = (ROOT / "deploy" / "bin" / "services.sh").read_text()
    body = script.split("export_service_env() {", 1)[1].split("\n}\n", 1)[0]
    assert "export CME_ENV=development" in body


def test_compose_env_carries_the_local_runtimes_generated_jwt_secret(tmp_path):
    secrets_dir = tmp_path / "secrets" / "kafka"
    env_file = tmp_path / ".env"
    result = CliRunner().invoke(ops_app, ["kafka-compose-init", "--env-file", str(env_file),
                                          "--secrets-dir", str(secrets_dir)])
    assert result.exit_code == 0, result.output
    values = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if line)
    made = (tmp_path / "secrets" / "jwt-secret").read_text().strip()
    assert values["CME_JWT_SECRET"] == made and re.fullmatch(r"[0-9a-f]{96}", made)
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "secrets" / "jwt-secret").stat().st_mode) == 0o600
    again = CliRunner().invoke(ops_app, ["kafka-compose-init", "--env-file", str(env_file),
                                         "--secrets-dir", str(secrets_dir)])
    assert again.exit_code == 0 and f"CME_JWT_SECRET={made}" in env_file.read_text()  # kept, not made anew
