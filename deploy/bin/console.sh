#!/usr/bin/env bash
# The officer console (console/, package cme_console) as a process of the local runtime.
#
#   console.sh install   pip-install the console into .venv, `npm ci` its GOV.UK / MoJ Frontend and axe-core
#                        assets (console/node_modules), and apt-get Debian's chromium and chromium-driver for
#                        the browser tests when they are missing; each step only when its inputs changed
#   console.sh start     start it on 127.0.0.1:8000 (log .local/logs/console.log), wait for /healthz
#   console.sh stop      SIGTERM, SIGKILL after 10 s
#   console.sh status
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

CONSOLE="$CME_ROOT/console"
PORT="${CME_CONSOLE_PORT:-8000}"
PIDFILE="$CME_RUN/console.pid"
LOGFILE="$CME_LOGS/console.log"
PATTERN="-m cme_console"
STAMP="$CME_LOCAL/console.stamp"
READY_TIMEOUT=30

inputs_hash() {
    (cd "$CME_ROOT" && cat console/pyproject.toml constraints.txt console/package.json console/package-lock.json) \
        | sha256sum | cut -d' ' -f1
}

install_browser() {
    command -v chromium >/dev/null && command -v chromedriver >/dev/null && return 0
    if is_root && command -v apt-get >/dev/null; then
        log "chromium or chromedriver is missing (the console's browser tests drive it); installing with apt-get"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
        note_change "chromium installed"
    else
        die "the console's browser tests need Debian's chromium and chromium-driver: apt-get install -y chromium chromium-driver"
    fi
}

install_npm() {
    command -v npm >/dev/null && return 0
    if is_root && command -v apt-get >/dev/null; then
        log "npm is missing (the console's GOV.UK Frontend assets come from the npm registry); installing with apt-get"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
        note_change "npm installed"
    else
        die "npm is missing (the console's GOV.UK Frontend assets come from the npm registry): apt-get install -y nodejs npm"
    fi
}

install() {
    require_project_python
    ensure_local_dirs
    install_browser
    install_npm
    local want
    want="$(inputs_hash)"
    if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" && -d "$CONSOLE/node_modules/govuk-frontend" ]] \
        && "$CME_PYTHON" -c 'import cme_console, selenium' 2>/dev/null; then
        log "console is up to date"
        return 0
    fi
    log "installing the console (pip, then npm ci)"
    (cd "$CME_ROOT" && "$CME_ROOT/.venv/bin/pip" install --disable-pip-version-check -q -c constraints.txt -e './console[test]')
    (cd "$CONSOLE" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    printf '%s\n' "$want" >"$STAMP"
    note_change "console installed"
}

start() {
    require_project_python
    ensure_local_dirs
    ensure_jwt_secret
    local pid
    if pid="$(live_pid "$PIDFILE" "$PATTERN")"; then
        log "console already running (pid $pid) on :$PORT"
        return 0
    fi
    rm -f "$PIDFILE"
    port_open "$PORT" && die "port $PORT is taken by a process this checkout did not start; stop it first (ss -ltnp | grep :$PORT)"
    log "console: starting on :$PORT (log: ${LOGFILE#"$CME_ROOT"/})"
    (
        export CME_ENV=development CME_HTTP_PORT="$PORT" PYTHONUNBUFFERED=1 CME_JWT_SECRET
        CME_JWT_SECRET="$(jwt_secret)"
        # The session cookie's signing key: generated once, like the JWT secret.
        local key="$CME_SECRETS/console-session-secret"
        [[ -s "$key" ]] || (umask 077 && python3 -c 'import secrets;print(secrets.token_hex(32))' >"$key")
        export CME_CONSOLE_SESSION_SECRET
        CME_CONSOLE_SESSION_SECRET="$(cat "$key")"
        cd "$CME_ROOT"
        setsid nohup "$CME_PYTHON" -m cme_console >>"$LOGFILE" 2>&1 </dev/null &
        echo $! >"$PIDFILE"
    )
    note_change "console started"
    local deadline=$((SECONDS + READY_TIMEOUT))
    while ((SECONDS < deadline)); do
        if "$CME_PYTHON" -c 'import sys, httpx; sys.exit(httpx.get(sys.argv[1], timeout=2).status_code != 200)' \
            "http://127.0.0.1:$PORT/healthz" 2>/dev/null; then
            log "console ready: http://127.0.0.1:$PORT"
            return 0
        fi
        live_pid "$PIDFILE" "$PATTERN" >/dev/null || { show_log_tail "$LOGFILE"; die "the console exited during start-up"; }
        sleep 0.5
    done
    show_log_tail "$LOGFILE"
    die "the console did not answer GET http://127.0.0.1:$PORT/healthz within ${READY_TIMEOUT}s"
}

status() {
    local pid
    if pid="$(live_pid "$PIDFILE" "$PATTERN")"; then
        log "console: running (pid $pid) on http://127.0.0.1:$PORT"
    else
        log "console: not running"
        return 1
    fi
}

case "${1:-}" in
    install) install ;;
    start) start ;;
    stop) stop_pid "$PIDFILE" "$PATTERN" console 10 ;;
    status) status ;;
    *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
