#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft, broker+controller in one JVM)
# without Docker: the broker jars come from Maven Central via deploy/kafka/pom.xml.
#
#   kafka.sh install   fetch the jars into $CME_CACHE/kafka-<version>/libs (once)
#   kafka.sh start     configure, format storage (once), start, wait until ready, then create the
#                      SCRAM users and ACLs of the services and the operator (idempotent)
#   kafka.sh stop      SIGTERM, wait for a clean shutdown (up to 60 s)
#   kafka.sh status    say whether it runs and answers
#   kafka.sh env <principal>   print CME_KAFKA_* for that principal (sourced by services.sh, Makefile)
#
# Security (CONTRACT section 7): clients log in with SASL/SCRAM-SHA-512 (SASL_PLAINTEXT: loopback only),
# the KRaft StandardAuthorizer allows nothing without an ACL, and the controller listener takes a static
# PLAIN login of the broker's own. Passwords are generated once into .local/secrets/kafka/ (mode 600).
#
# Ports and folders can be moved, to run a second broker beside the usual one (CME_KAFKA_PORT,
# CME_KAFKA_CONTROLLER_PORT, CME_KAFKA_DIR, CME_KAFKA_SECRETS, CME_KAFKA_RUN, CME_KAFKA_LOGS).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

KAFKA_VERSION=4.1.1
KAFKA_HOME="$CME_CACHE/kafka-$KAFKA_VERSION"
LIBS="$KAFKA_HOME/libs"
KDIR="${CME_KAFKA_DIR:-$CME_LOCAL/kafka}"
DATA="$KDIR/data"
KSECRETS="${CME_KAFKA_SECRETS:-$CME_SECRETS/kafka}"
KRUN="${CME_KAFKA_RUN:-$CME_RUN}"
KLOGS="${CME_KAFKA_LOGS:-$CME_LOGS}"
PIDFILE="$KRUN/kafka.pid"
LOGFILE="$KLOGS/kafka.log"          # the broker's own log (log4j, rolled over)
OUTFILE="$KLOGS/kafka.stdout.log"   # what the JVM prints (start-up failures)
PORT="${CME_KAFKA_PORT:-9092}"
CONTROLLER_PORT="${CME_KAFKA_CONTROLLER_PORT:-9093}"
BOOTSTRAP="127.0.0.1:$PORT"
# What the storage was formatted with; a data folder without it predates SASL (see format_storage).
FORMAT_MARK="$KDIR/scram-format"
READY_TIMEOUT="${CME_KAFKA_READY_TIMEOUT:-120}"
MAIN_CLASS=kafka.Kafka

install() {
    if [[ -f "$LIBS/kafka_2.13-$KAFKA_VERSION.jar" ]]; then
        log "Kafka $KAFKA_VERSION jars already in $LIBS"
        return 0
    fi
    command -v mvn >/dev/null || die "mvn is required to fetch Kafka: apt-get install -y maven"
    log "fetching Kafka $KAFKA_VERSION jars from Maven Central (first run only; ~100 MB)"
    # Download into a temporary folder and rename it at the end, so an
    # interrupted download never looks like a complete installation.
    local tmp="$KAFKA_HOME/libs.partial"
    rm -rf "$tmp"
    mkdir -p "$KAFKA_HOME"
    mvn -q -B --no-transfer-progress -Dstyle.color=never -f "$CME_ROOT/deploy/kafka/pom.xml" package -Dkafka.libs.dir="$tmp" \
        || die "Maven could not fetch the Kafka jars (is Maven Central reachable?)"
    [[ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ]] || die "Maven finished but kafka_2.13-$KAFKA_VERSION.jar is missing in $tmp"
    rm -rf "$LIBS"
    mv "$tmp" "$LIBS"
    note_change "kafka jars fetched"
    log "Kafka jars installed in $LIBS ($(find "$LIBS" -name '*.jar' | wc -l) jars)"
}

# Writes <file> only when its content differs, so a second run changes nothing.
write_if_changed() {
    local file="$1" content="$2"
    if [[ -f "$file" && "$(cat "$file")" == "$content" ]]; then return 0; fi
    printf '%s\n' "$content" >"$file"
    note_change "wrote ${file#"$CME_ROOT"/}"
}

# A random password for <principal>, generated once (mode 600).
ensure_password() {
    local f="$KSECRETS/$1.password"
    mkdir -p "$KSECRETS"
    chmod 700 "$KSECRETS"
    if [[ ! -s "$f" ]]; then
        (umask 077 && python3 -c 'import secrets;print(secrets.token_urlsafe(32))' >"$f")
        note_change "kafka password generated for $1"
    fi
}

password_of() { tr -d '\n' <"$KSECRETS/$1.password"; }

configure() {
    mkdir -p "$KDIR" "$DATA" "$KRUN" "$KLOGS"
    chmod 700 "$KDIR"
    local p
    for p in admin broker controller; do ensure_password "$p"; done
    # Static quorum (controller.quorum.voters) => format WITHOUT --standalone.
    # Replication factors / min ISR of the internal topics must be 1 on one node.
    # SCRAM users live in the metadata log: `admin` and `broker` are written at format time, the services'
    # and the operator's by `cme_shared.ops kafka-setup` at every start. The broker and the admin also have
    # a static PLAIN login here, the only other mechanism, usable by those two alone: after a restart the
    # metadata log has been seen to come back without its SCRAM users (every login refused), and with this
    # the broker still talks to itself and `kafka-setup` puts every user back from .local/secrets/kafka.
    # The controller listener cannot use SCRAM (it starts before the metadata log is read): a static PLAIN
    # login known only to this file, which holds passwords and is therefore mode 600.
    (umask 077 && touch "$KDIR/server.properties")
    chmod 600 "$KDIR/server.properties"
    write_if_changed "$KDIR/server.properties" "# Generated by deploy/bin/kafka.sh; edits are overwritten.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=CLIENT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=CLIENT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=CLIENT
listener.security.protocol.map=CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN
sasl.mechanism.inter.broker.protocol=PLAIN
listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"broker\" password=\"$(password_of broker)\";
listener.name.client.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"broker\" password=\"$(password_of broker)\" user_broker=\"$(password_of broker)\" user_admin=\"$(password_of admin)\";
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"controller\" password=\"$(password_of controller)\" user_controller=\"$(password_of controller)\";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin;User:broker;User:controller
log.dirs=$DATA
num.partitions=3
default.replication.factor=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
log.retention.hours=168
log.segment.bytes=104857600"

    # The broker logs to .local/logs/kafka.log, rolled over at 50 MB with four old files kept (a day
    # of test suites creating and deleting topics and groups once wrote half a gigabyte). What the JVM
    # itself prints goes to kafka.stdout.log.
    write_if_changed "$KDIR/log4j2.properties" "# Generated by deploy/bin/kafka.sh; edits are overwritten.
status = warn
name = cme-kafka
appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = \${sys:kafka.logs.dir}/kafka.log
appender.file.filePattern = \${sys:kafka.logs.dir}/kafka.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 50MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 4
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
# Per-request logging is very chatty at INFO.
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.requestchannel.name = kafka.network.RequestChannel\$
logger.requestchannel.level = WARN
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = WARN"
}

# What a formatted storage must match: the bootstrap users' passwords (digested, not stored again).
format_mark() {
    printf 'SCRAM-SHA-512 admin broker %s\n' \
        "$(cat "$KSECRETS/admin.password" "$KSECRETS/broker.password" | sha256sum | cut -c1-16)"
}

format_storage() {
    if [[ -f "$DATA/meta.properties" ]]; then
        if [[ -f "$FORMAT_MARK" && "$(cat "$FORMAT_MARK")" == "$(format_mark)" ]]; then return 0; fi
        # Formatted before the broker took SASL (no SCRAM users in its metadata), or with passwords that
        # are gone from .local/secrets/kafka: no one could log in. It is development data: start afresh.
        warn "Kafka data in ${DATA#"$CME_ROOT"/} was formatted without the current SCRAM users (before SASL, or its passwords were deleted); re-formatting it: its topics and records are deleted"
        rm -rf "$DATA"
        mkdir -p "$DATA"
    fi
    local id
    if [[ -s "$KDIR/cluster-id" ]]; then
        id="$(cat "$KDIR/cluster-id")"
    else
        id="$(java -cp "$LIBS/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)"
        [[ -n "$id" ]] || die "kafka.tools.StorageTool random-uuid printed nothing"
        printf '%s\n' "$id" >"$KDIR/cluster-id"
    fi
    log "formatting Kafka storage (cluster id $id)"
    java -Dlog4j2.configurationFile="$KDIR/log4j2.properties" -Dkafka.logs.dir="$KLOGS" -cp "$LIBS/*" \
        kafka.tools.StorageTool format -t "$id" -c "$KDIR/server.properties" --ignore-formatted \
        --add-scram "SCRAM-SHA-512=[name=admin,password=$(password_of admin)]" \
        --add-scram "SCRAM-SHA-512=[name=broker,password=$(password_of broker)]" \
        >>"$OUTFILE" 2>&1 || { show_log_tail "$OUTFILE"; show_log_tail "$LOGFILE"; die "formatting Kafka storage failed"; }
    format_mark >"$FORMAT_MARK"
    note_change "kafka storage formatted"
}

wait_ready() {
    local pid="$1"
    require_project_python
    log "waiting for the broker to answer an admin metadata call on $BOOTSTRAP (up to ${READY_TIMEOUT}s)"
    if ! "$CME_PYTHON" "$CME_ROOT/deploy/bin/kafka_ready.py" --bootstrap "$BOOTSTRAP" \
            --username admin --password-file "$KSECRETS/admin.password" --mechanism PLAIN \
            --timeout "$READY_TIMEOUT" --pid "$pid"; then
        show_log_tail "$OUTFILE"
        show_log_tail "$LOGFILE"
        die "Kafka did not become ready; full logs: ${LOGFILE#"$CME_ROOT"/}, ${OUTFILE#"$CME_ROOT"/}"
    fi
}

# Port 9092 is taken by a process this checkout did not start (typically the
# broker of another clone on the same machine, e.g. a CI checkout next to a
# working copy). A working Kafka there is used as is; anything else is an error.
reuse_foreign_broker() {
    if [[ -x "$CME_PYTHON" && -s "$KSECRETS/operator.password" ]] && "$CME_PYTHON" "$CME_ROOT/deploy/bin/kafka_ready.py" \
            --bootstrap "$BOOTSTRAP" --username operator --password-file "$KSECRETS/operator.password" --timeout 15 --quiet; then
        warn "a Kafka broker not started from this checkout already answers on $BOOTSTRAP; using it ('make down' here will not stop it)"
        return 0
    fi
    die "port $PORT or $CONTROLLER_PORT on 127.0.0.1 is taken by a process that is not a working Kafka broker started by this checkout (or it does not take this checkout's operator login); stop it first (ss -ltnp | grep -E ':($PORT|$CONTROLLER_PORT)')"
}

start() {
    ensure_local_dirs
    local pid
    if pid="$(live_pid "$PIDFILE" "$MAIN_CLASS")"; then
        log "Kafka already running (pid $pid) on $BOOTSTRAP"
        set_up_principals
        return 0
    fi
    if port_open "$PORT" || port_open "$CONTROLLER_PORT"; then
        reuse_foreign_broker
        return 0
    fi
    [[ -f "$LIBS/kafka_2.13-$KAFKA_VERSION.jar" ]] || install
    configure
    format_storage
    log "starting Kafka $KAFKA_VERSION (log: ${LOGFILE#"$CME_ROOT"/})"
    # setsid: own session, so a Ctrl-C in the terminal that ran `make` does not
    # reach the broker; nohup + </dev/null: fully detached from the caller.
    # shellcheck disable=SC2086
    setsid nohup java -Xms512m -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$KDIR/log4j2.properties" \
        -Dkafka.logs.dir="$KLOGS" \
        ${CME_KAFKA_JAVA_OPTS:-} \
        -cp "$LIBS/*" "$MAIN_CLASS" "$KDIR/server.properties" \
        >>"$OUTFILE" 2>&1 </dev/null &
    pid=$!
    printf '%s\n' "$pid" >"$PIDFILE"
    note_change "kafka started"
    wait_ready "$pid"
    set_up_principals
    log "Kafka ready on $BOOTSTRAP (pid $pid), SASL/SCRAM-SHA-512 with ACLs"
}

# The services' and the operator's SCRAM users and ACLs, as the bootstrap admin (idempotent: the same
# passwords, the same bindings; a few tenths of a second when nothing changes).
set_up_principals() {
    require_project_python
    (
        export CME_KAFKA_BOOTSTRAP="$BOOTSTRAP" CME_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT CME_KAFKA_USERNAME=admin \
            CME_KAFKA_SASL_MECHANISM=PLAIN
        CME_KAFKA_PASSWORD="$(password_of admin)"
        export CME_KAFKA_PASSWORD
        "$CME_PYTHON" -m cme_shared.ops kafka-setup --secrets-dir "$KSECRETS"
    ) >>"$KLOGS/kafka-setup.log" 2>&1 || { show_log_tail "$KLOGS/kafka-setup.log"; die "creating the Kafka users and ACLs failed"; }
    log "Kafka principals and ACLs in place (passwords in ${KSECRETS#"$CME_ROOT"/})"
}

# CME_KAFKA_* for one principal, as shell assignments (the password is read from its file, never printed
# on a command line): `eval "$(kafka.sh env cme-intake)"`.
env_of() {
    local who="${1:-}"
    [[ -n "$who" && -s "$KSECRETS/$who.password" ]] || die "no Kafka password for '$who' in ${KSECRETS#"$CME_ROOT"/} (run 'make infra')"
    # The admin logs in over its static PLAIN login, which a restart cannot lose (see configure); everyone
    # else over SCRAM.
    local mechanism=SCRAM-SHA-512
    [[ "$who" == admin ]] && mechanism=PLAIN
    printf 'export CME_KAFKA_BOOTSTRAP=%q CME_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT CME_KAFKA_SASL_MECHANISM=%q\n' "$BOOTSTRAP" "$mechanism"
    printf 'export CME_KAFKA_USERNAME=%q CME_KAFKA_PASSWORD=%q\n' "$who" "$(password_of "$who")"
}

stop() {
    # A clean controlled shutdown can take a while; 60 s before SIGKILL.
    stop_pid "$PIDFILE" "$MAIN_CLASS" Kafka 60
}

status() {
    local pid
    if pid="$(live_pid "$PIDFILE" "$MAIN_CLASS")"; then
        if [[ -x "$CME_PYTHON" ]] && "$CME_PYTHON" "$CME_ROOT/deploy/bin/kafka_ready.py" --bootstrap "$BOOTSTRAP" \
                --username admin --password-file "$KSECRETS/admin.password" --mechanism PLAIN --timeout 10 --quiet; then
            log "running (pid $pid), answering on $BOOTSTRAP"
        else
            log "running (pid $pid) but not answering on $BOOTSTRAP"
            return 1
        fi
    else
        log "not running"
        return 1
    fi
}

case "${1:-}" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    restart) stop; start ;;
    status) status ;;
    env) env_of "${2:-}" ;;
    *) echo "usage: $0 install|start|stop|restart|status|env <principal>" >&2; exit 2 ;;
esac
