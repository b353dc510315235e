# shellcheck shell=bash
# Shared helpers for the deploy/bin scripts. Sourced, never executed.
#
# Everything the local runtime creates lives under .local/ in the repository
# (git-ignored); downloaded artefacts that survive `make clean` live in the
# cache folder ${CME_CACHE:-$HOME/.cache/cme}.

set -euo pipefail

# Repository root, derived from this file's location so the scripts work from
# any clone path and any current directory.
CME_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
CME_LOCAL="$CME_ROOT/.local"
CME_LOGS="$CME_LOCAL/logs"
CME_RUN="$CME_LOCAL/run"
CME_SECRETS="$CME_LOCAL/secrets"
CME_CACHE="${CME_CACHE:-$HOME/.cache/cme}"
# The interpreter that has the project's packages (aiokafka, the services).
# CME_PYTHON overrides it, e.g. to probe the infrastructure before .venv exists.
CME_PYTHON="${CME_PYTHON:-$CME_ROOT/.venv/bin/python}"
# Records whether this `make up` changed anything (see note_change).
CME_CHANGES_FILE="$CME_RUN/changes"

_tag="${CME_TAG:-$(basename "${BASH_SOURCE[1]:-$0}" .sh)}"

log()  { printf '[%s] %s\n' "$_tag" "$*"; }
warn() { printf '[%s] WARNING: %s\n' "$_tag" "$*" >&2; }
die()  { printf '[%s] ERROR: %s\n' "$_tag" "$*" >&2; exit 1; }

# Remember that a step actually did something, so `make up` can say
# "nothing changed" on a second run.
note_change() {
    mkdir -p "$CME_RUN"
    printf '%s: %s\n' "$_tag" "$*" >>"$CME_CHANGES_FILE"
}

ensure_local_dirs() {
    mkdir -p "$CME_LOGS" "$CME_RUN" "$CME_SECRETS"
    chmod 700 "$CME_SECRETS"
}

is_root() { [[ "$(id -u)" == 0 ]]; }

# True when something accepts TCP connections on 127.0.0.1:<port>.
port_open() {
    local port="$1"
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

# Prints the pid stored in <pidfile> when that process is alive and its command
# line contains <pattern> (guards against a recycled pid); fails otherwise.
live_pid() {
    local pidfile="$1" pattern="$2" pid
    [[ -f "$pidfile" ]] || return 1
    pid="$(tr -dc '0-9' <"$pidfile")"
    [[ -n "$pid" ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$pattern" || return 1
    printf '%s\n' "$pid"
}

# SIGTERM, wait up to <grace> seconds, then SIGKILL. Removes <pidfile>.
stop_pid() {
    local pidfile="$1" pattern="$2" name="$3" grace="$4" pid i
    if ! pid="$(live_pid "$pidfile" "$pattern")"; then
        rm -f "$pidfile"
        log "$name is not running"
        return 0
    fi
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 2; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
        warn "$name did not exit within ${grace}s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 1
    fi
    rm -f "$pidfile"
    log "$name stopped"
}

# Last lines of a log, to explain a failure without opening files.
show_log_tail() {
    local file="$1" lines="${2:-30}"
    [[ -f "$file" ]] || return 0
    printf -- '----- last %s lines of %s -----\n' "$lines" "$file" >&2
    tail -n "$lines" "$file" >&2 || true
    printf -- '-----\n' >&2
}

# The development JWT secret: 48 random bytes (hex), generated once.
ensure_jwt_secret() {
    ensure_local_dirs
    local f="$CME_SECRETS/jwt-secret"
    if [[ ! -s "$f" ]]; then
        (umask 077 && python3 -c 'import secrets;print(secrets.token_hex(48))' >"$f")
        log "generated development JWT secret in ${f#"$CME_ROOT"/}"
        note_change "jwt secret generated"
    fi
}

jwt_secret() { ensure_jwt_secret >/dev/null; cat "$CME_SECRETS/jwt-secret"; }

require_project_python() {
    [[ -x "$CME_PYTHON" ]] || die "$CME_PYTHON not found; run 'make venv' first"
}
