"""How every Kafka client of the platform connects and authenticates (CONTRACT section 7).

The broker takes SASL/SCRAM-SHA-512 only: `SASL_PLAINTEXT` on loopback in development, `SASL_SSL` in
production. Three client libraries talk to it (aiokafka, FastStream on top of aiokafka, and librdkafka
through confluent-kafka for SCRAM users, ACLs and partner-like producers); each spells the same settings
differently, so they are written here once and every client is built from one `KafkaConnection`.
"""

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import SecretStr

SecurityProtocol = Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"]
# PLAIN: only the local broker's own admin login (deploy/bin/kafka.sh), never a service's or a partner's.
SaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]
SCRAM_SHA_512: SaslMechanism = "SCRAM-SHA-512"


@dataclass(frozen=True)
class KafkaConnection:
    """A broker address and the principal a client logs in as. The password never shows in a repr."""

    bootstrap: str
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    security_protocol: SecurityProtocol = "SASL_PLAINTEXT"
    mechanism: SaslMechanism = SCRAM_SHA_512
    ssl_cafile: str | None = None  # SASL_SSL: the CA that signed the broker's certificate (else the system's)

    def __post_init__(self) -> None:
        if self.sasl and (not self.username or self.password is None):
            # Said at construction, not as an authentication failure in a retry loop on the first connect.
            raise ValueError(f"Kafka {self.security_protocol} needs a username and a password "
                             "(CME_KAFKA_USERNAME, CME_KAFKA_PASSWORD)")

    @property
    def sasl(self) -> bool:
        return self.security_protocol != "PLAINTEXT"

    def as_user(self, username: str, password: str) -> "KafkaConnection":
        """The same broker and protocol, another principal (tests about ACLs; `make kafka-user`)."""
        return KafkaConnection(self.bootstrap, username, SecretStr(password), self.security_protocol,
                               self.mechanism, self.ssl_cafile)

    def _ssl_context(self) -> Any:
        if self.security_protocol != "SASL_SSL":
            return None
        from aiokafka.helpers import create_ssl_context

        return create_ssl_context(cafile=self.ssl_cafile)

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaProducer, AIOKafkaConsumer, AIOKafkaAdminClient and AIOKafkaClient."""
        options: dict[str, Any] = {"bootstrap_servers": self.bootstrap, "security_protocol": self.security_protocol}
        if self.sasl:
            assert self.password is not None
            options.update(sasl_mechanism=self.mechanism, sasl_plain_username=self.username,
                           sasl_plain_password=self.password.get_secret_value())
        if (context := self._ssl_context()) is not None:
            options["ssl_context"] = context
        return options

    def faststream(self) -> dict[str, Any]:
        """Keyword arguments for faststream's KafkaBroker (besides the bootstrap address, its first argument)."""
        if not self.sasl:
            return {}
        from faststream.security import SASLPlaintext, SASLScram256, SASLScram512

        assert self.username is not None and self.password is not None
        scram = {SCRAM_SHA_512: SASLScram512, "SCRAM-SHA-256": SASLScram256, "PLAIN": SASLPlaintext}[self.mechanism]
        ssl = self.security_protocol == "SASL_SSL"
        return {"security": scram(username=self.username, password=self.password.get_secret_value(),
                                  ssl_context=self._ssl_context(), use_ssl=ssl)}

    def librdkafka(self) -> dict[str, Any]:
        """A confluent-kafka (librdkafka) configuration: Producer, Consumer, AdminClient."""
        conf: dict[str, Any] = {"bootstrap.servers": self.bootstrap,
                                "security.protocol": self.security_protocol.lower()}
        if self.sasl:
            assert self.password is not None
            conf.update({"sasl.mechanism": self.mechanism, "sasl.username": self.username,
                         "sasl.password": self.password.get_secret_value()})
        if self.security_protocol == "SASL_SSL" and self.ssl_cafile:
            conf["ssl.ca.location"] = self.ssl_cafile
        return conf
