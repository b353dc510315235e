"""SCRAM users and ACLs on the broker, from the access table (contracts/access.py).

aiokafka's admin client has neither CreateAcls nor AlterUserScramCredentials, so this uses librdkafka's
(confluent-kafka), which has both. Everything here is idempotent: a user is upserted with the password it
is given, and an ACL that exists already is created again as a no-op. The caller logs in as a principal
allowed to ALTER the cluster (the bootstrap `admin` super user at set-up, or an operator).

Set-up and tooling only: no service imports this at run time.
"""

import secrets
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from .contracts.access import SERVICES, Grant, Role, grants, service_principal
from .kafka_security import KafkaConnection

SCRAM_ITERATIONS = 8192
ACL_VISIBLE_SECONDS = 30.0

_RESOURCE = {"topic": ResourceType.TOPIC, "group": ResourceType.GROUP, "cluster": ResourceType.BROKER,
             "transactional_id": ResourceType.TRANSACTIONAL_ID}
_PATTERN = {"literal": ResourcePatternType.LITERAL, "prefixed": ResourcePatternType.PREFIXED}
_OPERATION = {"read": AclOperation.READ, "write": AclOperation.WRITE, "describe": AclOperation.DESCRIBE,
              "all": AclOperation.ALL}


def admin_client(kafka: KafkaConnection) -> AdminClient:
    return AdminClient({**kafka.librdkafka(), "client.id": "cme-kafka-admin", "log_level": 3})


def binding(principal: str, grant: Grant) -> AclBinding:
    return AclBinding(_RESOURCE[grant.resource], grant.name, _PATTERN[grant.pattern], f"User:{principal}", "*",
                      _OPERATION[grant.operation], AclPermissionType.ALLOW)


def upsert_user(admin: AdminClient, username: str, password: str) -> None:
    """Create the SCRAM-SHA-512 credential, or replace its password."""
    upsert = UserScramCredentialUpsertion(
        username, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS), password.encode())
    for future in admin.alter_user_scram_credentials([upsert]).values():
        future.result()


def delete_user(admin: AdminClient, username: str) -> None:
    deletion = UserScramCredentialDeletion(username, ScramMechanism.SCRAM_SHA_512)
    for future in admin.alter_user_scram_credentials([deletion]).values():
        try:
            future.result()
        except Exception as exc:  # already gone
            if "RESOURCE_NOT_FOUND" not in str(exc):
                raise


def acls_of(admin: AdminClient, principal: str) -> set[AclBinding]:
    everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, f"User:{principal}", None,
                                  AclOperation.ANY, AclPermissionType.ANY)
    return set(admin.describe_acls(everything).result())


def grant(admin: AdminClient, principal: str, wanted: Iterable[Grant], *, exclusive: bool = False) -> None:
    """Create the bindings and wait until the broker enforces them.

    CreateAcls returns once the controller has committed the records; the broker's authorizer applies them
    from the metadata log a moment later, so this polls DescribeAcls (which the broker answers from the
    same state). `exclusive`: also delete the principal's bindings that are not wanted (a role changed).
    """
    bindings = {binding(principal, g) for g in wanted}
    for future in admin.create_acls(list(bindings)).values():
        future.result()
    if exclusive and (stale := acls_of(admin, principal) - bindings):
        _delete(admin, stale)
    deadline = time.monotonic() + ACL_VISIBLE_SECONDS
    while not bindings <= acls_of(admin, principal):
        if time.monotonic() > deadline:
            raise TimeoutError(f"ACLs of {principal} not applied by the broker after {ACL_VISIBLE_SECONDS:.0f}s")
        time.sleep(0.05)


def revoke_all(admin: AdminClient, principal: str) -> None:
    """Delete every binding of the principal (a test's, or a partner being removed)."""
    if found := acls_of(admin, principal):
        _delete(admin, found)
    deadline = time.monotonic() + ACL_VISIBLE_SECONDS
    while acls_of(admin, principal):
        if time.monotonic() > deadline:
            raise TimeoutError(f"ACLs of {principal} still present after {ACL_VISIBLE_SECONDS:.0f}s")
        time.sleep(0.05)


def _delete(admin: AdminClient, bindings: Iterable[AclBinding]) -> None:
    filters = [AclBindingFilter(b.restype, b.name, b.resource_pattern_type, b.principal, b.host, b.operation,
                                b.permission_type) for b in bindings]
    for future in admin.delete_acls(filters).values():
        future.result()


def ensure_principal(kafka: KafkaConnection, username: str, password: str, role: Role, name: str | None = None,
                     namespace: str = "") -> None:
    """The user with exactly the rights of `role` (as the service or partner `name`) under `namespace`."""
    admin = admin_client(kafka)
    upsert_user(admin, username, password)
    grant(admin, username, grants(role, name or username, namespace), exclusive=True)


def remove_principal(kafka: KafkaConnection, username: str) -> None:
    admin = admin_client(kafka)
    revoke_all(admin, username)
    delete_user(admin, username)


# ---------------------------------------------------------------- the local runtime's secrets folder

def password_file(secrets_dir: Path, username: str) -> Path:
    return secrets_dir / f"{username}.password"


def stored_password(secrets_dir: Path, username: str) -> str:
    """The principal's password from the secrets folder, generated (mode 600) the first time."""
    path = password_file(secrets_dir, username)
    if path.exists():
        return path.read_text().strip()
    secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    password = secrets.token_urlsafe(32)
    path.touch(mode=0o600)
    path.write_text(password + "\n")
    return password


def set_up_local(kafka: KafkaConnection, secrets_dir: Path) -> list[str]:
    """The local runtime's principals: one per service and the `operator` the tools and tests use."""
    made = []
    for service in SERVICES:
        username = service_principal(service)
        ensure_principal(kafka, username, stored_password(secrets_dir, username), "service", service)
        made.append(username)
    ensure_principal(kafka, "operator", stored_password(secrets_dir, "operator"), "operator")
    made.append("operator")
    # Partners and operators made by `make kafka-user` (users/), put back as made: a restart has been seen to
    # bring the broker's metadata back without its SCRAM users (deploy/bin/kafka.sh).
    users = secrets_dir / "users"
    for stored in sorted(users.glob("*.password")) if users.is_dir() else []:
        username = stored.name.removesuffix(".password")
        role_file = users / f"{username}.role"
        if role_file.exists():
            ensure_principal(kafka, username, stored.read_text().strip(), role_file.read_text().strip(), username)
        else:  # made before roles were kept: its password again (its ACLs, if gone, by `make kafka-user`)
            upsert_user(admin_client(kafka), username, stored.read_text().strip())
        made.append(username)
    return made


# ---------------------------------------------------------------- compose (docker-compose.yml, untested here)

COMPOSE_PRINCIPALS = {**{service_principal(s): ("service", s) for s in SERVICES}, "operator": ("operator", "operator")}


def _env_name(username: str) -> str:
    return "CME_KAFKA_" + username.removeprefix("cme-").upper().replace("-", "_") + "_PASSWORD"


def compose_init_script(topic_names: list[str], topic_configs: Callable[[str], dict[str, str]]) -> str:
    """The shell script compose's `kafka-init` container runs with the image's own tools (kafka-configs,
    kafka-acls, kafka-topics): the same users, ACLs and topics as `kafka-setup` and `create-topics`, from
    the same table. Committed as deploy/kafka/compose-init.sh; a unit test keeps it in step."""
    lines = [
        "#!/bin/sh",
        "# Generated by `python -m cme_shared.ops kafka-compose-init` from cme_shared/contracts/access.py and",
        "# contracts/topics.py: do not edit. Run by docker-compose.yml's kafka-init container (idempotent), as",
        "# the admin, over the broker's PLAIN listener; passwords come from the environment (.env).",
        "set -eu",
        "B=kafka:19094",
        "C=/tmp/admin.properties",
        "umask 077",
        "cat >$C <<PROPS",
        "security.protocol=SASL_PLAINTEXT",
        "sasl.mechanism=PLAIN",
        ('sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" '
         'password="$CME_KAFKA_ADMIN_PASSWORD";'),
        "PROPS",
        "K=/opt/kafka/bin",
        ('user() { $K/kafka-configs.sh --bootstrap-server $B --command-config $C --alter --entity-type users '
         '--entity-name "$1" --add-config "SCRAM-SHA-512=[iterations=8192,password=$2]" >/dev/null; }'),
        'acl() { $K/kafka-acls.sh --bootstrap-server $B --command-config $C --add --force "$@" >/dev/null; }',
        ('topic() { $K/kafka-topics.sh --bootstrap-server $B --command-config $C --create --if-not-exists '
         '--partitions 3 --replication-factor 1 "$@" >/dev/null; }'),
        "",
    ]
    for username, (role, name) in COMPOSE_PRINCIPALS.items():
        lines.append(f'user {username} "${_env_name(username)}"')
        by_operation: dict[tuple[str, str, str], list[str]] = {}
        for g in grants(role, name):  # type: ignore[arg-type]
            by_operation.setdefault((g.resource, g.pattern, g.operation), []).append(g.name)
        for (resource, pattern, operation), names in sorted(by_operation.items()):
            option = {"topic": "--topic", "group": "--group", "transactional_id": "--transactional-id",
                      "cluster": "--cluster"}[resource]
            targets = option if resource == "cluster" else " ".join(f"{option} '{n}'" for n in names)
            lines.append(f"acl --allow-principal User:{username} --operation {operation.capitalize()} "
                         f"--resource-pattern-type {pattern.upper()} {targets}")
    lines.append("")
    for topic in topic_names:
        configs = "".join(f" --config {k}={v}" for k, v in sorted(topic_configs(topic).items()))
        lines.append(f"topic --topic {topic}{configs}")
    lines += ["", 'echo "kafka-init: users, ACLs and topics in place"', ""]
    return "\n".join(lines)


def compose_env(secrets_dir: Path) -> str:
    """The .env docker compose reads: every Kafka password, from (or made into) the secrets folder."""
    names = ["admin", "broker", "controller", *COMPOSE_PRINCIPALS]
    return "".join(f"{_env_name(n)}={stored_password(secrets_dir, n)}\n" for n in names)
