"""Operator commands shared by every service: topics, broker readiness, and the outbox's quarantine.

`python -m cme_shared.ops outbox ...` works on the database named by CME_DATABASE_URL; the same commands
are `python -m cme_<service> outbox ...` with that service's settings (`make outbox SERVICE=intake
ARGS=quarantined`).
"""

import asyncio
import json
import re
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from rich.console import Console
from rich.table import Table
from sqlalchemy import MetaData, Row, delete, func, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from .contracts.access import SERVICES
from .contracts.topics import TopicNames, is_dlq, topic_configs
from .db import create_engine
from .kafka_security import SCRAM_SHA_512, KafkaConnection
from .logging import configure_logging, get_logger
from .messaging.outbox import decode_headers, record_size
from .messaging.tables import KitTables
from .settings import ServiceSettings

log = get_logger(__name__)

app = typer.Typer(add_completion=False, help="CME platform operations")

PARTITIONS = 3


@app.callback()
def main() -> None:
    """Operator commands (a group, so that `create-topics` is named even while it is the only one)."""


async def ensure_topics(kafka: KafkaConnection, names: list[str], partitions: int = PARTITIONS) -> list[str]:
    """Create whichever of `names` do not exist yet; return those created (services have no CREATE: an
    operator's or the admin's connection)."""
    admin = AIOKafkaAdminClient(**kafka.aiokafka(), client_id="cme-ops")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            try:
                await admin.create_topics([
                    NewTopic(name=n, num_partitions=partitions, replication_factor=1,
                             topic_configs=topic_configs(n))
                    for n in missing
                ])
            except TopicAlreadyExistsError:
                pass
        return missing
    finally:
        await admin.close()


async def delete_namespace(kafka: KafkaConnection, namespace: str) -> int:
    """Delete every topic under a (test) namespace; never the unprefixed production names."""
    if not namespace:
        raise ValueError("refusing to delete topics without a namespace")
    admin = AIOKafkaAdminClient(**kafka.aiokafka(), client_id="cme-ops")
    await admin.start()
    try:
        doomed = [t for t in await admin.list_topics() if t.startswith(namespace)]
        if doomed:
            await admin.delete_topics(doomed)
        return len(doomed)
    finally:
        await admin.close()


@app.command("create-topics")
def create_topics(namespace: Annotated[str, typer.Option()] = "") -> None:
    settings = ServiceSettings()
    names = TopicNames(namespace or settings.topic_namespace).all_with_dlqs()
    created = asyncio.run(ensure_topics(settings.kafka_connection(), names))
    typer.echo(f"topics: {len(names)} present, {len(created)} created now")


# ---- Kafka principals and ACLs (CONTRACT section 7; contracts/access.py). These log in with CME_KAFKA_*
# as a principal that may alter the cluster: the bootstrap `admin` at set-up, an operator afterwards.

SecretsDir = Annotated[Path, typer.Option(help="where the principals' passwords are kept (mode 600)")]


@app.command("kafka-setup")
def kafka_setup(secrets_dir: SecretsDir = Path(".local/secrets/kafka")) -> None:
    """SCRAM users and ACLs of the four services and the operator (idempotent; passwords made once)."""
    from .kafka_admin import set_up_local

    made = set_up_local(ServiceSettings().kafka_connection(), secrets_dir)
    typer.echo(f"kafka principals with their ACLs: {', '.join(made)}")


@app.command("kafka-user")
def kafka_user(
    name: Annotated[str, typer.Option(help="the principal's username")],
    role: Annotated[str, typer.Option(help="partner or operator")],
    org_id: Annotated[str | None, typer.Option(help="partner only: the org it may refer for")] = None,
    secrets_dir: SecretsDir = Path(".local/secrets/kafka/users"),
    bindings_file: Annotated[Path, typer.Option(help="intake's partner bindings file (CME_PARTNER_BINDINGS_FILE)")]
    = Path(".local/secrets/partners/bindings.json"),
    require_mac: Annotated[bool, typer.Option(help="partner only: refuse its org's referrals without its MAC")]
    = False,
) -> None:
    """Create (or show again) a partner or operator principal; its credentials are the LAST line, as JSON."""
    from .kafka_admin import ensure_principal, stored_password

    if role not in ("partner", "operator"):
        raise typer.BadParameter("partner or operator", param_hint="--role")
    if not PRINCIPAL_NAME.fullmatch(name) or name in RESERVED_PRINCIPALS or name.startswith("cme-"):
        # The name is also the prefix of the principal's consumer groups (`<name>.`): a partner called
        # `intake` would get intake's groups, and could commit intake past the referrals (SEC-03 g).
        raise typer.BadParameter("letters, digits, _ and - (at most 64), not a service's or a reserved name",
                                 param_hint="--name")
    if org_id is not None and role != "partner":
        raise typer.BadParameter("only a partner is bound to an org", param_hint="--org-id")
    kafka = ServiceSettings().kafka_connection()
    password = stored_password(secrets_dir, name)
    ensure_principal(kafka, name, password, "partner" if role == "partner" else "operator", name)
    write_private(secrets_dir / f"{name}.role", role)  # so that `kafka-setup` can put it back as it was
    login = {"username": name, "password": password, "mechanism": SCRAM_SHA_512,
             "security_protocol": kafka.security_protocol}
    if org_id is not None:
        write_private(secrets_dir / f"{name}.org", org_id.strip())
    if require_mac:
        write_private(secrets_dir / f"{name}.require-mac", "true")
    bound = read_optional(secrets_dir / f"{name}.org") if role == "partner" else None
    if bound:
        # The org binding is proved per record (intake's domain/partners.py): the partner sends
        # x-cme-partner and x-cme-partner-mac (HMAC-SHA256 of the value under this key, hex).
        key = read_optional(secrets_dir / f"{name}.mac-key")
        if not key:
            key = secrets.token_hex(32)
            write_private(secrets_dir / f"{name}.mac-key", key)
        write_bindings(secrets_dir, bindings_file)
        login |= {"org_id": bound, "partner_header": name, "mac_key": key}
    typer.echo(f"{role} principal {name}" + (f" bound to org {bound}" if bound else "") + " ready")
    # The principal's own login (SCRAM), not the admin's that made it (PLAIN on the local broker).
    typer.echo(json.dumps(login))


def read_optional(path: Path) -> str | None:
    return path.read_text().strip() if path.exists() else None


def write_bindings(users_dir: Path, bindings_file: Path) -> None:
    """Intake's partner bindings file, from every bound partner under `users_dir`; replaced whole (a
    rename), so intake never reads half of it."""
    partners = {}
    for org_file in sorted(users_dir.glob("*.org")):
        name = org_file.stem
        key = read_optional(users_dir / f"{name}.mac-key")
        if key and read_optional(users_dir / f"{name}.role") == "partner":
            partners[name] = {"org_id": org_file.read_text().strip(), "key": key,
                              "require_mac": (users_dir / f"{name}.require-mac").exists()}
    bindings_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    scratch = bindings_file.with_suffix(".tmp")
    write_private(scratch, json.dumps({"partners": partners}, indent=2, sort_keys=True))
    scratch.replace(bindings_file)


@app.command("kafka-compose-init")
def kafka_compose_init(
    env_file: Annotated[Path | None, typer.Option(help="also write compose's .env (passwords, mode 600)")] = None,
    secrets_dir: SecretsDir = Path(".local/secrets/kafka"),
) -> None:
    """Print deploy/kafka/compose-init.sh (compose's users, ACLs and topics, from the access table)."""
    from .contracts.topics import topic_configs
    from .kafka_admin import compose_env, compose_init_script

    if env_file is not None:
        # With the development JWT secret the local runtime keeps (made now if missing): compose ships none
        # (SEC-19), and `make token` mints tokens both stacks accept.
        jwt_secret = development_jwt_secret(secrets_dir.parent / "jwt-secret")
        write_private(env_file, compose_env(secrets_dir) + f"CME_JWT_SECRET={jwt_secret}")
    typer.echo(compose_init_script(TopicNames("").all_with_dlqs(), topic_configs), nl=False)


PRINCIPAL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
RESERVED_PRINCIPALS = {"admin", "broker", "controller", "operator", *SERVICES}


def write_private(path: Path, text: str) -> None:
    path.touch(mode=0o600)
    path.write_text(text + "\n")


def development_jwt_secret(path: Path) -> str:
    """The local runtime's development JWT secret (deploy/bin/common.sh's ensure_jwt_secret), made if missing."""
    if not path.exists() or not path.read_text().strip():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private(path, secrets.token_hex(48))
    return path.read_text().strip()


# ---- the outbox's quarantine: rows the relay could not send (cme_shared.messaging.outbox)

# Header values `show` prints: the kit's own, which hold ids and codes. A partner's headers travel
# with its dead letters and may hold anything: only their names and sizes are shown.
KIT_HEADERS = ("event_id", "event_type", "content-type", "correlation_id")
HEADER_SHOWN_CHARS = 300
# An operator's reason for dropping a row is logged: a ticket reference or a code, never free text.
OPERATOR_REASON = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:#/-]{0,79}")
OUTBOX = KitTables(MetaData()).outbox  # the same table in every service's database


@dataclass(frozen=True)
class QuarantinedRow:
    """What an operator sees of a quarantined row: never its payload."""

    outbox_id: int
    event_id: str
    topic: str
    event_type: str
    record_bytes: int | None
    reason: str
    attempts: int
    quarantined_at: datetime

    @classmethod
    def of(cls, row: Row[Any]) -> "QuarantinedRow":
        return cls(row.id, str(row.event_id), row.topic, row.event_type, row.record_bytes, row.quarantine_reason,
                   row.attempts, row.quarantined_at)

    def log_fields(self) -> dict[str, Any]:
        return {"outbox_id": self.outbox_id, "event_id": self.event_id, "topic": self.topic,
                "event_type": self.event_type, "size_bytes": self.record_bytes, "error_code": self.reason}


def _summary_columns(t: Any) -> list[Any]:
    return [t.c.id, t.c.event_id, t.c.topic, t.c.event_type, t.c.record_bytes, t.c.quarantine_reason,
            t.c.attempts, t.c.quarantined_at]


async def quarantined_rows(engine: AsyncEngine, limit: int = 100) -> tuple[list[QuarantinedRow], int]:
    """The oldest quarantined rows (up to `limit`), and how many there are in all."""
    t = OUTBOX
    quarantined = t.c.quarantined_at.is_not(None)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(*_summary_columns(t)).where(quarantined).order_by(t.c.id).limit(limit))).all()
        total = (await conn.execute(select(func.count()).select_from(t).where(quarantined))).scalar_one()
    return [QuarantinedRow.of(r) for r in rows], int(total)


async def outbox_row(engine: AsyncEngine, outbox_id: int) -> Row[Any] | None:
    async with engine.connect() as conn:
        return (await conn.execute(select(OUTBOX).where(OUTBOX.c.id == outbox_id))).one_or_none()


async def release_rows(engine: AsyncEngine, outbox_ids: list[int] | None) -> list[QuarantinedRow]:
    """Clear the quarantine of these rows (None: of all), so the relay sends them again, oldest first."""
    t = OUTBOX
    chosen = t.c.quarantined_at.is_not(None) if outbox_ids is None else t.c.id.in_(outbox_ids)
    released = (update(t).where(chosen, t.c.quarantined_at.is_not(None))
                .values(quarantined_at=None, quarantine_reason=None, record_bytes=None, attempts=0)
                .returning(*_summary_columns(t)))
    before = select(*_summary_columns(t)).where(chosen, t.c.quarantined_at.is_not(None)).with_for_update()
    async with engine.begin() as conn:
        rows = [QuarantinedRow.of(r) for r in (await conn.execute(before)).all()]  # as they were
        await conn.execute(released)
    for row in rows:
        log.warning("outbox_row_released", **row.log_fields())
    return sorted(rows, key=lambda r: r.outbox_id)


async def drop_row(engine: AsyncEngine, outbox_id: int, operator_reason: str) -> QuarantinedRow | None:
    """Delete one quarantined row for good (with its payload); None if no such row is quarantined."""
    if not OPERATOR_REASON.fullmatch(operator_reason):
        raise ValueError("the reason must be a ticket reference or a code (letters, digits, ._:#/-)")
    t = OUTBOX
    dropped = (delete(t).where(t.c.id == outbox_id, t.c.quarantined_at.is_not(None))
               .returning(*_summary_columns(t)))
    async with engine.begin() as conn:
        found = (await conn.execute(dropped)).one_or_none()
    if found is None:
        return None
    row = QuarantinedRow.of(found)
    log.warning("outbox_row_dropped", operator_reason=operator_reason, **row.log_fields())
    return row


def _limit(settings: ServiceSettings, topic: str) -> int:
    """The relay's record limit for `topic` (DLQ topics take larger records), as the relay applies it."""
    return settings.outbox_max_dead_letter_bytes if is_dlq(topic) else settings.outbox_max_record_bytes


def _header_lines(headers: list[tuple[str, bytes | None]]) -> list[str]:
    lines = []
    for name, value in headers:
        if value is None:
            lines.append(f"  {name}: null")
        elif name in KIT_HEADERS or name.startswith("x-dlq-"):
            text = value.decode("utf-8", "replace")
            shown = text if len(text) <= HEADER_SHOWN_CHARS else f"{text[:HEADER_SHOWN_CHARS]}… (truncated)"
            lines.append(f"  {name} ({len(value)} bytes): {shown}")
        else:
            lines.append(f"  {name} ({len(value)} bytes): value not shown (a sender's header)")
    return lines


def outbox_commands(settings_factory: Callable[[], ServiceSettings]) -> typer.Typer:
    """The `outbox` command group, reading the database from `settings_factory()` (CME_DATABASE_URL)."""
    commands = typer.Typer(add_completion=False, no_args_is_help=True,
                           help="Rows the outbox relay quarantined: list, inspect, release, drop.")

    def run(work: Callable[[AsyncEngine], Any]) -> Any:
        settings = settings_factory()
        configure_logging(settings.service_name, settings.log_level)

        async def with_engine() -> Any:
            engine = create_engine(settings.database_url.get_secret_value(), pool_size=1)
            try:
                return await work(engine)
            finally:
                await engine.dispose()

        try:
            return asyncio.run(with_engine())
        except (DBAPIError, OSError) as exc:  # the type only: a database's message may quote a row
            cause = type(getattr(exc, "orig", None) or exc).__name__
            typer.echo(f"could not use the outbox ({cause}): is CME_DATABASE_URL this service's database, "
                       "migrated to the latest revision (python -m cme_<service> migrate)?", err=True)
            raise typer.Exit(2) from None

    @commands.command("quarantined")
    def list_quarantined(limit: Annotated[int, typer.Option(help="show at most this many, oldest first")] = 100,
                         ) -> None:
        """List quarantined rows: id, event, topic, size, reason, when. Never a payload."""
        rows, total = run(lambda engine: quarantined_rows(engine, limit))
        if not rows:
            typer.echo("no quarantined outbox rows")
            return
        table = Table("id", "event id", "topic", "event type", "bytes", "reason", "attempts", "quarantined at")
        for r in rows:
            table.add_row(str(r.outbox_id), r.event_id, r.topic, r.event_type, str(r.record_bytes or "-"),
                          r.reason, str(r.attempts), r.quarantined_at.isoformat(timespec="seconds"))
        Console(width=200).print(table)
        typer.echo(f"{total} quarantined row(s)" + (f", the oldest {len(rows)} shown" if total > len(rows) else ""))

    @commands.command("show")
    def show(
        outbox_id: int,
        payload: Annotated[bool, typer.Option(
            "--payload", help="print only the payload's bytes: it may hold personal data")] = False,
    ) -> None:
        """One row's metadata and headers, and its payload's size; the payload itself only with --payload."""
        row = run(lambda engine: outbox_row(engine, outbox_id))
        if row is None:
            typer.echo(f"no outbox row {outbox_id}", err=True)
            raise typer.Exit(1)
        if payload:
            typer.echo("warning: an outbox payload may hold personal data (a child's, a family's). Keep it out "
                       "of tickets, chats and shared screens, and delete any copy once done.", err=True)
            sys.stdout.buffer.write(row.payload)
            sys.stdout.buffer.flush()
            return
        headers = decode_headers(row.headers)
        state = ("quarantined" if row.quarantined_at else "published" if row.published_at else "waiting to be sent")
        lines = [
            f"outbox row {row.id}: {state}",
            f"  event id:        {row.event_id}",
            f"  event type:      {row.event_type}",
            f"  topic:           {row.topic}",
            f"  aggregate:       {row.aggregate_type} {row.aggregate_id}",
            f"  created at:      {row.created_at.isoformat()}",
            f"  published at:    {row.published_at.isoformat() if row.published_at else '-'}",
            f"  quarantined at:  {row.quarantined_at.isoformat() if row.quarantined_at else '-'}",
            f"  reason:          {row.quarantine_reason or '-'}",
            f"  refused sends:   {row.attempts}",
            f"  record size:     {record_size(row.key, row.payload, headers)} bytes "
            f"(limit here: {_limit(settings_factory(), row.topic)})",
            f"  key:             {'none' if row.key is None else f'{len(row.key)} bytes'}",
            f"  payload:         {len(row.payload)} bytes (not shown; --payload prints it)",
            f"  headers ({len(headers)}):",
            *_header_lines(headers),
        ]
        typer.echo("\n".join(lines))

    @commands.command("release")
    def release(
        outbox_ids: Annotated[list[int] | None, typer.Argument(help="rows to release")] = None,
        all_rows: Annotated[bool, typer.Option("--all", help="release every quarantined row")] = False,
    ) -> None:
        """Clear the quarantine so the relay sends the rows again: once a limit was raised or the cause fixed."""
        if bool(outbox_ids) == all_rows:
            typer.echo("name the rows to release, or --all", err=True)
            raise typer.Exit(2)
        released = run(lambda engine: release_rows(engine, None if all_rows else list(outbox_ids or [])))
        settings = settings_factory()
        for r in released:
            typer.echo(f"released {r.outbox_id} ({r.event_type} on {r.topic}, was {r.reason})")
            limit = _limit(settings, r.topic)
            if r.record_bytes is not None and r.record_bytes > limit:
                typer.echo(f"  warning: {r.record_bytes} bytes is over the limit of {limit} bytes this command "
                           "sees; unless the relay's CME_OUTBOX_MAX_RECORD_BYTES (and the broker's and topic's "
                           "limits) were raised, it will be quarantined again", err=True)
        missing = sorted(set(outbox_ids or []) - {r.outbox_id for r in released})
        if missing:
            typer.echo(f"not quarantined (nothing done): {', '.join(map(str, missing))}", err=True)
        typer.echo(f"{len(released)} row(s) released")

    @commands.command("drop")
    def drop(
        outbox_id: int,
        reason: Annotated[str, typer.Option(help="a ticket reference or code, logged with the drop")],
        yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
    ) -> None:
        """Delete a quarantined row for good: its event is never sent. The last resort, logged with the reason."""
        if not OPERATOR_REASON.fullmatch(reason):
            raise typer.BadParameter("a ticket reference or code: letters, digits and ._:#/- (it is logged)",
                                     param_hint="--reason")
        if not yes:
            typer.confirm(f"delete quarantined outbox row {outbox_id}? Its event will never be sent", abort=True)
        dropped = run(lambda engine: drop_row(engine, outbox_id, reason))
        if dropped is None:
            typer.echo(f"no quarantined outbox row {outbox_id} (nothing done)", err=True)
            raise typer.Exit(1)
        typer.echo(f"dropped {dropped.outbox_id} ({dropped.event_type} {dropped.event_id} on {dropped.topic})")

    return commands


app.add_typer(outbox_commands(ServiceSettings), name="outbox")



@app.command("skip-batch")
def skip_batch(
    group: Annotated[str, typer.Option(help="the consumer's group id (the consumer_blocked log event's group)")],
    topic: Annotated[str, typer.Option()],
    partition: Annotated[int, typer.Option()],
    offset: Annotated[int, typer.Option()],
) -> None:
    """Move the record batch holding OFFSET to the topic's .dlq, its bytes as on the log, and commit GROUP
    past it: for a consumer blocked there (a codec it cannot get). Stop the service's consumers first."""
    from .contracts.topics import dlq
    from .messaging.fetching import skip_batch as skip

    batch = asyncio.run(skip(ServiceSettings().kafka_connection(), group, topic, partition, offset, dlq(topic)))
    typer.echo(f"{topic}:{partition} offsets {batch.base_offset}-{batch.last_offset} moved to {dlq(topic)}; "
               f"{group} goes on at {batch.next_offset}")


if __name__ == "__main__":
    app()
