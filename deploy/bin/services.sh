#!/usr/bin/env bash
# The four CME services as background processes of the local runtime.
#
#   services.sh start            create Kafka topics, migrate and start every
#                                service not already running, wait for /readyz
#   services.sh stop             SIGTERM, SIGKILL after 20 s
#   services.sh status
#   services.sh exec <svc> ARGS  run `python -m cme_<svc> ARGS` in the foreground
#                                with that service's environment (verify-log)
#   services.sh jwt-secret       print the development JWT secret
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SERVICES=(intake casework disclosure rights)
READY_TIMEOUT="${CME_SERVICE_READY_TIMEOUT:-90}"
STOP_GRACE=20

port_of() {
    case "$1" in
        intake) echo 8001 ;;
        casework) echo 8002 ;;
        disclosure) echo 8003 ;;
        rights) echo 8004 ;;
        *) die "unknown service '$1' (expected one of: ${SERVICES[*]})" ;;
    esac
}

pidfile_of() { echo "$CME_RUN/$1.pid"; }
logfile_of() { echo "$CME_LOGS/$1.log"; }
# What a service's process command line contains (pid-reuse guard).
pattern_of() { echo "-m cme_$1"; }

# CME_KAFKA_* for a Kafka principal whose password set-up generated (kafka.sh env).
export_kafka_login() {
    local login
    login="$("$CME_ROOT/deploy/bin/kafka.sh" env "$1")" || die "no Kafka login for $1 (run 'make infra')"
    eval "$login"
}

# The environment a service runs with (contract section 1 addresses): its own Kafka principal, which
# may use only its own topics and consumer groups (contracts/access.py).
# Exported in a subshell by the callers, never into this script's own env.
export_service_env() {
    local svc="$1"
    export_kafka_login "cme-$svc"
    # Said, never left to a default: the local runtime is a development stack (HS256 tokens, SEC-19).
    export CME_ENV=development
    export CME_DATABASE_URL="postgresql+asyncpg://cme_$svc:cme_$svc@127.0.0.1:5432/cme_$svc"
    export CME_JWT_SECRET
    CME_JWT_SECRET="$(jwt_secret)"
    export PYTHONUNBUFFERED=1
    if [[ "$svc" == disclosure && -s "$CME_SECRETS/witness.vkey" ]]; then
        # The outside witness deploy/bin/witness.sh runs: every checkpoint goes to it, verify-log needs its cosignature.
        export CME_LOG_WITNESS_URL=http://127.0.0.1:7380 CME_LOG_WITNESS_KEY
        CME_LOG_WITNESS_KEY="$(cat "$CME_SECRETS/witness.vkey")"
    fi
}

http_ok() {
    local url="$1"
    if command -v curl >/dev/null; then
        curl -fsS -o /dev/null -m 5 "$url" 2>/dev/null
    else
        python3 - "$url" <<'PY' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
    sys.exit(0 if r.status == 200 else 1)
PY
    fi
}

create_topics() {
    log "creating Kafka topics (idempotent)"
    (
        export_kafka_login operator  # the services' principals may not create topics
        "$CME_PYTHON" -m cme_shared.ops create-topics
    ) >>"$CME_LOGS/topics.log" 2>&1 || {
        show_log_tail "$CME_LOGS/topics.log"
        die "topic creation failed (is Kafka up? 'make infra')"
    }
}

# Migrates and launches one service; prints nothing when already running.
launch() {
    local svc="$1" pidfile logfile pid port
    pidfile="$(pidfile_of "$svc")"
    logfile="$(logfile_of "$svc")"
    port="$(port_of "$svc")"
    if pid="$(live_pid "$pidfile" "$(pattern_of "$svc")")"; then
        log "$svc already running (pid $pid) on :$port"
        return 0
    fi
    rm -f "$pidfile"
    port_open "$port" && die "port $port is taken by a process this checkout did not start; stop it first (ss -ltnp | grep :$port)"
    log "$svc: running migrations"
    (
        export_service_env "$svc"
        # As the database's owner role; only this step gets its URL, never the running service.
        export CME_MIGRATION_DATABASE_URL="postgresql+asyncpg://cme_${svc}_owner:cme_${svc}_owner@127.0.0.1:5432/cme_$svc"
        cd "$CME_ROOT"
        "$CME_PYTHON" -m "cme_$svc" migrate
    ) >>"$logfile" 2>&1 || { show_log_tail "$logfile"; die "$svc: migrations failed; full log: ${logfile#"$CME_ROOT"/}"; }
    log "$svc: starting on :$port (log: ${logfile#"$CME_ROOT"/})"
    (
        export_service_env "$svc"
        cd "$CME_ROOT"
        # Own session + nohup: survives the terminal and Ctrl-C of `make`.
        setsid nohup "$CME_PYTHON" -m "cme_$svc" >>"$logfile" 2>&1 </dev/null &
        echo $! >"$pidfile"
    )
    note_change "$svc started"
}

wait_ready() {
    local svc="$1" port pidfile logfile pid deadline
    port="$(port_of "$svc")"
    pidfile="$(pidfile_of "$svc")"
    logfile="$(logfile_of "$svc")"
    deadline=$((SECONDS + READY_TIMEOUT))
    while ((SECONDS < deadline)); do
        if http_ok "http://127.0.0.1:$port/readyz"; then
            log "$svc ready: http://127.0.0.1:$port"
            return 0
        fi
        if ! pid="$(live_pid "$pidfile" "$(pattern_of "$svc")")"; then
            show_log_tail "$logfile"
            die "$svc exited during start-up; full log: ${logfile#"$CME_ROOT"/}"
        fi
        sleep 1
    done
    show_log_tail "$logfile"
    die "$svc did not answer GET http://127.0.0.1:$port/readyz with 200 within ${READY_TIMEOUT}s"
}

start() {
    require_project_python
    ensure_local_dirs
    ensure_jwt_secret
    create_topics
    "$CME_PYTHON" -m cme_shared.messaging.signing generate "$CME_SECRETS/signing" "${SERVICES[@]}"  # event-signing keys, kept
    local svc
    # Start all four, then wait: they boot in parallel.
    for svc in "${SERVICES[@]}"; do launch "$svc"; done
    for svc in "${SERVICES[@]}"; do wait_ready "$svc"; done
    "$CME_ROOT/deploy/bin/console.sh" start  # the officer console, over the four services' APIs
}

stop() {
    local i
    "$CME_ROOT/deploy/bin/console.sh" stop  # the officer console first: it calls the services
    # Reverse order: downstream consumers first.
    for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
        local svc="${SERVICES[i]}"
        stop_pid "$(pidfile_of "$svc")" "$(pattern_of "$svc")" "$svc" "$STOP_GRACE"
    done
}

status() {
    local svc pid port rc=0
    for svc in "${SERVICES[@]}"; do
        port="$(port_of "$svc")"
        if pid="$(live_pid "$(pidfile_of "$svc")" "$(pattern_of "$svc")")"; then
            if http_ok "http://127.0.0.1:$port/readyz"; then
                log "$svc: running (pid $pid), ready on http://127.0.0.1:$port"
            else
                log "$svc: running (pid $pid), NOT ready on http://127.0.0.1:$port"
                rc=1
            fi
        else
            log "$svc: not running"
            rc=1
        fi
    done
    "$CME_ROOT/deploy/bin/console.sh" status || rc=1
    return "$rc"
}

exec_service() {
    local svc="${1:-}"
    [[ -n "$svc" ]] || die "usage: $0 exec <service> [args...]"
    shift
    port_of "$svc" >/dev/null
    require_project_python
    export_service_env "$svc"
    cd "$CME_ROOT"
    exec "$CME_PYTHON" -m "cme_$svc" "$@"
}

# The retention disposal job of one service (issue 14), as its disposal login, the one role the history
# tables let remove a record; the running service never has this URL.
dispose_service() {
    local svc="${1:-}"
    [[ -n "$svc" ]] || die "usage: $0 dispose <service> [--dry-run] [--as-of YYYY-MM-DD] [--json]"
    shift
    port_of "$svc" >/dev/null
    require_project_python
    export_service_env "$svc"
    export CME_DISPOSAL_DATABASE_URL="postgresql+asyncpg://cme_${svc}_disposal:cme_${svc}_disposal@127.0.0.1:5432/cme_$svc"
    cd "$CME_ROOT"
    exec "$CME_PYTHON" -m "cme_$svc" dispose "$@"
}

case "${1:-}" in
    dispose) shift; dispose_service "$@" ;;
    start) start ;;
    stop) stop ;;
    restart) stop; start ;;
    status) status ;;
    exec) shift; exec_service "$@" ;;
    jwt-secret) jwt_secret ;;
    *) echo "usage: $0 start|stop|restart|status|exec <svc> [args]|dispose <svc> [args]|jwt-secret" >&2; exit 2 ;;
esac
