"""One connection description for every Kafka client library, and the production rules for it."""

import pytest
from cme_shared.kafka_security import KafkaConnection
from cme_shared.settings import ServiceSettings
from pydantic import SecretStr, ValidationError

pytestmark = pytest.mark.unit

PRODUCTION = dict(env="production", jwks_url="https://idp.example/jwks", jwt_secret="a-real-secret-from-the-vault",
                  jwt_issuer="https://idp.example/tenant", jwt_audience="cme-platform",
                  signing_key_file="/run/secrets/svc.pem", trusted_signers_dir="/run/secrets/signers")


def test_production_names_sasl_explicitly_with_a_login():
    with pytest.raises(ValidationError, match="CME_KAFKA_SECURITY_PROTOCOL"):
        ServiceSettings(**PRODUCTION, kafka_username="cme-intake", kafka_password="x")  # the default, unnamed
    with pytest.raises(ValidationError, match="SASL_SSL"):
        ServiceSettings(**PRODUCTION, kafka_security_protocol="PLAINTEXT")
    with pytest.raises(ValidationError, match="CME_KAFKA_USERNAME"):
        ServiceSettings(**PRODUCTION, kafka_security_protocol="SASL_SSL")
    settings = ServiceSettings(**PRODUCTION, kafka_security_protocol="SASL_SSL", kafka_username="cme-intake",
                               kafka_password="from-the-vault")
    assert settings.kafka_connection().security_protocol == "SASL_SSL"


def test_each_library_gets_the_same_login_and_the_password_never_shows():
    kafka = KafkaConnection("broker:9092", "cme-intake", SecretStr("s3cret"))
    assert kafka.aiokafka() == {"bootstrap_servers": "broker:9092", "security_protocol": "SASL_PLAINTEXT",
                                "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "cme-intake",
                                "sasl_plain_password": "s3cret"}
    assert kafka.librdkafka() == {"bootstrap.servers": "broker:9092", "security.protocol": "sasl_plaintext",
                                  "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "cme-intake",
                                  "sasl.password": "s3cret"}
    security = kafka.faststream()["security"]
    assert (type(security).__name__, security.username, security.use_ssl) == ("SASLScram512", "cme-intake", False)
    assert "s3cret" not in repr(kafka) and "s3cret" not in str(kafka)
    tls = KafkaConnection("broker:9093", "cme-intake", SecretStr("s3cret"), "SASL_SSL")
    assert tls.aiokafka()["ssl_context"] is not None and tls.faststream()["security"].use_ssl
    with pytest.raises(ValueError, match="needs a username and a password"):
        KafkaConnection("broker:9092")
    assert KafkaConnection("broker:9092", security_protocol="PLAINTEXT").faststream() == {}


@pytest.mark.parametrize("name", ["intake", "operator", "cme-rights", "admin", "intake.referrals", ""])
def test_kafka_user_refuses_names_that_would_reach_a_service_s_groups_or_a_reserved_login(name, tmp_path):
    from typer.testing import CliRunner

    from cme_shared.ops import app

    result = CliRunner().invoke(app, ["kafka-user", "--name", name, "--role", "partner", "--secrets-dir", str(tmp_path)])
    assert result.exit_code == 2 and not list(tmp_path.iterdir())  # refused before any password is made
