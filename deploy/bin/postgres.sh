#!/usr/bin/env bash
# A PostgreSQL cluster owned by the project (not Debian's `main` cluster),
# listening on 127.0.0.1:5432 only, with its data under .local/postgres.
#
#   postgres.sh install     apt-get install postgresql when initdb is missing
#   postgres.sh start       initdb (once), start, wait until it accepts connections
#   postgres.sh bootstrap   apply deploy/postgres/init.sql and dev-test.sql (idempotent)
#   postgres.sh stop        fast shutdown (data is kept)
#   postgres.sh status
#   postgres.sh destroy     stop and delete the cluster (used by `make clean`)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PORT=5432
SUPERUSER=postgres
SUPERUSER_PASSWORD=postgres   # development only, see deploy/postgres/init.sql
PG_OS_USER=postgres           # created by Debian's postgresql package

# ---------------------------------------------------------------- install ---

pg_bindir() {
    # Newest installed Debian PostgreSQL server.
    local initdb
    initdb="$(find /usr/lib/postgresql -maxdepth 3 -path '*/bin/initdb' 2>/dev/null | sort -V | tail -n1)"
    [[ -n "$initdb" ]] && dirname "$initdb"
}

install() {
    if pg_bindir >/dev/null; then
        log "PostgreSQL $("$(pg_bindir)/postgres" -V | awk '{print $3}') is installed"
        return 0
    fi
    command -v apt-get >/dev/null || die "PostgreSQL is not installed and apt-get is not available; install the PostgreSQL server (initdb, pg_ctl) yourself"
    is_root || die "PostgreSQL is not installed; run 'sudo apt-get install -y postgresql' or run make as root"
    # Stop Debian from creating and starting its own `main` cluster on 5432,
    # which would take the port this project's cluster needs.
    mkdir -p /etc/postgresql-common
    local conf=/etc/postgresql-common/createcluster.conf
    if [[ -f "$conf" ]] && grep -qE '^\s*create_main_cluster\s*=' "$conf"; then
        sed -i -E 's/^\s*create_main_cluster\s*=.*/create_main_cluster = false/' "$conf"
    else
        echo 'create_main_cluster = false' >>"$conf"
    fi
    log "installing PostgreSQL with apt-get (create_main_cluster = false)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
    pg_bindir >/dev/null || die "apt-get installed postgresql but no /usr/lib/postgresql/*/bin/initdb was found"
    note_change "postgresql installed"
}

# ----------------------------------------------------------------- layout ---

# The cluster lives in .local/postgres. When running as root the server runs
# as the `postgres` OS user (PostgreSQL refuses to run as root), which must be
# able to reach that folder. If the clone sits somewhere it cannot traverse
# (e.g. under /root, mode 700), the cluster goes to a folder outside the repo
# and .local/postgres becomes a symlink to it, so the layout stays the same.
PG_FALLBACK_BASE="${CME_PG_FALLBACK_DIR:-/var/lib/cme-postgres}"

# Sets PGHOME, DATA, SOCKDIR, LOGFILE. No side effects: prepare_dirs creates
# the folders (and the fallback symlink) only when a cluster is really needed.
resolve_pghome() {
    local link="$CME_LOCAL/postgres"
    PG_FALLBACK=false
    if [[ -L "$link" ]]; then
        PGHOME="$(readlink -f "$link")"
    elif ! is_root || [[ -d "$link" ]] || pg_user_can_reach "$CME_LOCAL" || pg_user_can_reach "$CME_ROOT"; then
        PGHOME="$link"
    else
        PGHOME="$PG_FALLBACK_BASE/$(printf '%s' "$CME_ROOT" | sha256sum | cut -c1-12)"
        PG_FALLBACK=true
    fi
    DATA="$PGHOME/data"
    SOCKDIR="$PGHOME/run"
    # The server writes its log itself, so the log must be somewhere it can
    # reach; .local/logs/postgres.log points there when it is not .local/logs.
    if [[ "$PGHOME" == "$link" ]]; then
        LOGFILE="$CME_LOGS/postgres.log"
    else
        LOGFILE="$PGHOME/postgres.log"
    fi
}

pg_user_can_reach() {
    (cd / && runuser -u "$PG_OS_USER" -- test -x "$1") 2>/dev/null
}

# Runs a PostgreSQL server binary as the right OS user, from / so that the
# postgres user is never left in a folder it cannot read.
as_pg() {
    if is_root; then
        (cd / && runuser -u "$PG_OS_USER" -- "$@")
    else
        "$@"
    fi
}

prepare_dirs() {
    ensure_local_dirs
    if [[ "$PG_FALLBACK" == true ]]; then
        warn "the '$PG_OS_USER' OS user cannot traverse $CME_ROOT (a parent folder is not world-executable);"
        warn "keeping the cluster in $PGHOME instead, linked from .local/postgres"
        mkdir -p "$PGHOME"
        ln -sfn "$PGHOME" "$CME_LOCAL/postgres"
    fi
    if [[ "$PGHOME" != "$CME_LOCAL/postgres" ]]; then
        mkdir -p "$PGHOME"
        ln -sfn "$LOGFILE" "$CME_LOGS/postgres.log"
    fi
    mkdir -p "$DATA" "$SOCKDIR"
    touch "$LOGFILE"
    chmod 700 "$DATA"
    if is_root; then
        id "$PG_OS_USER" >/dev/null 2>&1 || die "running as root but there is no '$PG_OS_USER' OS user (it comes with Debian's postgresql package)"
        chown -R "$PG_OS_USER:" "$PGHOME"
        chown "$PG_OS_USER:" "$LOGFILE"
        pg_user_can_reach "$DATA" || die "the '$PG_OS_USER' OS user cannot reach $DATA: make every parent folder of the repository traversable (chmod o+x) or set CME_PG_FALLBACK_DIR"
    fi
}

# ------------------------------------------------------------------ start ---

write_config() {
    # Settings that depend on this checkout (socket folder) are kept in a file
    # of their own, included from postgresql.conf; rewritten only on change.
    local want
    want="# Generated by deploy/bin/postgres.sh; edits are overwritten.
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SOCKDIR'
unix_socket_permissions = 0700
max_connections = 200
password_encryption = 'scram-sha-256'
log_line_prefix = '%m [%p] %q%u@%d '
log_timezone = 'UTC'
timezone = 'UTC'"
    if [[ -f "$DATA/cme.conf" && "$(cat "$DATA/cme.conf")" == "$want" ]]; then return 0; fi
    printf '%s\n' "$want" | as_pg tee "$DATA/cme.conf" >/dev/null
    note_change "postgres settings written"
}

init_cluster() {
    local bindir="$1"
    if [[ -f "$DATA/PG_VERSION" ]]; then
        local have want
        have="$(cat "$DATA/PG_VERSION")"
        want="$("$bindir/postgres" -V | awk '{print $3}' | cut -d. -f1)"
        [[ "$have" == "$want" ]] || die "$DATA holds a PostgreSQL $have cluster but the installed server is $want; run 'make clean' to start afresh"
        return 0
    fi
    log "creating the PostgreSQL cluster in ${DATA#"$CME_ROOT"/}"
    local pwfile="$PGHOME/.pwfile"
    (umask 077 && printf '%s\n' "$SUPERUSER_PASSWORD" >"$pwfile")
    is_root && chown "$PG_OS_USER:" "$pwfile"
    # trust on the unix socket (0700: only the cluster's OS user and root get
    # in), passwords (SCRAM) over TCP.
    if ! as_pg "$bindir/initdb" -D "$DATA" -U "$SUPERUSER" --pwfile="$pwfile" \
            --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 \
            >>"$LOGFILE" 2>&1; then
        rm -f "$pwfile"
        show_log_tail "$LOGFILE"
        die "initdb failed"
    fi
    rm -f "$pwfile"
    printf "\ninclude = 'cme.conf'\n" | as_pg tee -a "$DATA/postgresql.conf" >/dev/null
    note_change "postgres cluster created"
}

running() { as_pg "$(pg_bindir)/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

# Something else listens on 5432. Debian's own `main` cluster is stopped (it
# is what a plain `apt-get install postgresql` starts). A server that accepts
# the development superuser password (typically the cluster of another clone
# on this machine, e.g. a CI checkout next to a working copy) is used as is.
# Anything else is an error. Returns 0 when the port is free, 1 when reusing.
handle_taken_port() {
    local ver cluster port status
    if command -v pg_lsclusters >/dev/null; then
        while read -r ver cluster port status _; do
            [[ "$port" == "$PORT" && "$status" == online* ]] || continue
            if [[ "$cluster" == main ]]; then
                warn "Debian's PostgreSQL cluster $ver/main (pg_lsclusters) is running on port $PORT; stopping it: pg_ctlcluster $ver main stop"
                warn "to keep it from starting at boot, set 'disabled' in /etc/postgresql/$ver/main/start.conf"
                pg_ctlcluster "$ver" main stop
                note_change "stopped debian cluster $ver/main"
            else
                die "PostgreSQL cluster $ver/$cluster (pg_lsclusters) already listens on port $PORT; stop it first: pg_ctlcluster $ver $cluster stop"
            fi
        done < <(pg_lsclusters --no-header 2>/dev/null || true)
        sleep 1
    fi
    port_open "$PORT" || return 0
    if foreign_superuser_ok; then
        warn "a PostgreSQL server not started from this checkout already listens on 127.0.0.1:$PORT and accepts the development superuser; using it ('make down' here will not stop it)"
        return 1
    fi
    die "another process already listens on 127.0.0.1:$PORT (see: ss -ltnp | grep :$PORT) and it is not a PostgreSQL server this project can use; stop it first"
}

foreign_superuser_ok() {
    PGPASSWORD="$SUPERUSER_PASSWORD" PGCONNECT_TIMEOUT=5 "$(pg_bindir)/psql" -X -q -tA \
        -h 127.0.0.1 -p "$PORT" -U "$SUPERUSER" -d postgres -c 'SELECT 1' >/dev/null 2>&1
}

own_cluster_running() { [[ -f "$DATA/PG_VERSION" ]] && running; }

start() {
    local bindir
    bindir="$(pg_bindir)" || { install; bindir="$(pg_bindir)"; }
    resolve_pghome
    if own_cluster_running; then
        write_config
        log "PostgreSQL already running on 127.0.0.1:$PORT"
        return 0
    fi
    if port_open "$PORT"; then
        handle_taken_port || return 0
    fi
    prepare_dirs
    init_cluster "$bindir"
    write_config
    log "starting PostgreSQL (log: ${LOGFILE#"$CME_ROOT"/})"
    as_pg "$bindir/pg_ctl" -D "$DATA" -l "$LOGFILE" -w -t 60 start >/dev/null \
        || { show_log_tail "$LOGFILE"; die "PostgreSQL did not start"; }
    note_change "postgres started"
    "$bindir/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 30 || die "PostgreSQL started but 127.0.0.1:$PORT does not answer"
    log "PostgreSQL ready on 127.0.0.1:$PORT"
}

psql_super() {
    # Our own cluster: superuser over the unix socket (trust). A server reused
    # from another checkout: the development superuser password over TCP.
    if own_cluster_running; then
        "$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCKDIR" -p "$PORT" -U "$SUPERUSER" -d postgres "$@"
    else
        PGPASSWORD="$SUPERUSER_PASSWORD" "$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 \
            -h 127.0.0.1 -p "$PORT" -U "$SUPERUSER" -d postgres "$@"
    fi
}

bootstrap() {
    resolve_pghome
    own_cluster_running || foreign_superuser_ok || die "PostgreSQL is not running; run 'make infra' first"
    # Only to report whether anything was missing; the script runs regardless.
    local missing
    missing="$(psql_super -tA -c "
        SELECT count(*) FROM unnest(ARRAY['cme_intake','cme_casework','cme_disclosure','cme_rights','cme_test']) r
        WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r)
           OR (r <> 'cme_test' AND NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r || '_owner'))
           OR (r <> 'cme_test' AND NOT EXISTS (SELECT 1 FROM pg_database d
                                               WHERE d.datname = r AND d.datdba = (SELECT oid FROM pg_roles WHERE rolname = r || '_owner')))")"
    # init.sql is the production-shaped bootstrap; dev-test.sql adds the test suite's role (local only).
    psql_super -f "$CME_ROOT/deploy/postgres/init.sql" || die "deploy/postgres/init.sql failed"
    psql_super -f "$CME_ROOT/deploy/postgres/dev-test.sql" || die "deploy/postgres/dev-test.sql failed"
    if [[ "$missing" != 0 ]]; then
        note_change "databases and roles created"
        log "created or updated roles and databases cme_intake, cme_casework, cme_disclosure, cme_rights (owned by cme_<svc>_owner; + role cme_test)"
    else
        log "roles and databases already in place"
    fi
}

stop() {
    local bindir
    bindir="$(pg_bindir)" || { log "PostgreSQL is not installed"; return 0; }
    resolve_pghome
    if ! own_cluster_running; then
        log "PostgreSQL (this checkout's cluster) is not running"
        return 0
    fi
    log "stopping PostgreSQL"
    as_pg "$bindir/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null
    log "PostgreSQL stopped"
}

status() {
    pg_bindir >/dev/null || { log "not installed"; return 1; }
    resolve_pghome
    if own_cluster_running; then
        if "$(pg_bindir)/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 5; then
            log "running, answering on 127.0.0.1:$PORT (data: $DATA)"
        else
            log "running but not answering on 127.0.0.1:$PORT"
            return 1
        fi
    else
        log "not running"
        return 1
    fi
}

destroy() {
    stop
    [[ -e "$CME_LOCAL/postgres" ]] || return 0
    resolve_pghome
    # Only the out-of-repo fallback folder needs removing here; the rest of
    # .local is deleted by `make clean`.
    if [[ "$PGHOME" != "$CME_LOCAL/postgres" ]]; then
        log "deleting $PGHOME"
        rm -rf "$PGHOME"
    fi
}

case "${1:-}" in
    install) install ;;
    start) start ;;
    bootstrap) bootstrap ;;
    stop) stop ;;
    restart) stop; start ;;
    status) status ;;
    destroy) destroy ;;
    *) echo "usage: $0 install|start|bootstrap|stop|restart|status|destroy" >&2; exit 2 ;;
esac
