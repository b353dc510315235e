#!/usr/bin/env bash
# The disclosure log's outside witness: litewitness (filippo.io/torchwood), an
# implementation of C2SP tlog-witness the project did not write. It cosigns a
# checkpoint only when it is consistent with the last one it saw for that log,
# so a rewritten history cannot get a cosignature.
#
#   witness.sh install              go install litewitness and witnessctl into .local/bin
#   witness.sh start                key, dedicated ssh-agent, litewitness on 127.0.0.1:7380;
#                                   registers the local disclosure log (origin and key)
#   witness.sh stop | status
#   witness.sh register ORIGIN VKEY let the witness cosign a log (idempotent)
#   witness.sh vkey                 print the witness's note verifier key
#
# The witness key is an Ed25519 SSH key under .local/secrets/ (generated once),
# served to litewitness by its own ssh-agent, as litewitness requires.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

TORCHWOOD_VERSION="${CME_TORCHWOOD_VERSION:-v0.6.1}"  # v0.6.1 builds with Go 1.26
WITNESS_NAME="${CME_WITNESS_NAME:-witness.cme.localhost/dev}"
WITNESS_LISTEN="127.0.0.1:7380"
GOBIN_DIR="$CME_LOCAL/bin"
WITNESS_DIR="$CME_LOCAL/witness"
WITNESS_DB="$WITNESS_DIR/litewitness.db"
WITNESS_KEY="$CME_SECRETS/witness-ed25519"
WITNESS_VKEY="$CME_SECRETS/witness.vkey"
AGENT_SOCK="$CME_RUN/witness-agent.sock"
AGENT_PID="$CME_RUN/witness-agent.pid"
WITNESS_PID="$CME_RUN/witness.pid"
WITNESS_LOG="$CME_LOGS/witness.log"

install() {
    if [[ -x "$GOBIN_DIR/litewitness" && -x "$GOBIN_DIR/witnessctl" ]]; then
        return 0
    fi
    command -v go >/dev/null || die "Go is needed to build litewitness (https://go.dev/dl/)"
    mkdir -p "$GOBIN_DIR"
    log "installing litewitness and witnessctl $TORCHWOOD_VERSION into ${GOBIN_DIR#"$CME_ROOT"/}"
    GOBIN="$GOBIN_DIR" GOFLAGS=-mod=mod go install \
        "filippo.io/torchwood/cmd/litewitness@$TORCHWOOD_VERSION" \
        "filippo.io/torchwood/cmd/witnessctl@$TORCHWOOD_VERSION"
    note_change "litewitness installed"
}

ensure_key() {
    if [[ ! -s "$WITNESS_KEY" ]]; then
        (umask 077 && ssh-keygen -q -t ed25519 -N '' -C "$WITNESS_NAME" -f "$WITNESS_KEY")
        log "generated the witness key in ${WITNESS_KEY#"$CME_ROOT"/}"
        note_change "witness key generated"
    fi
}

start_agent() {
    if live_pid "$AGENT_PID" "ssh-agent" >/dev/null && [[ -S "$AGENT_SOCK" ]]; then
        return 0
    fi
    rm -f "$AGENT_SOCK"
    (setsid nohup ssh-agent -D -a "$AGENT_SOCK" >>"$WITNESS_LOG" 2>&1 </dev/null & echo $! >"$AGENT_PID")
    local i
    for ((i = 0; i < 50; i++)); do [[ -S "$AGENT_SOCK" ]] && break; sleep 0.1; done
    [[ -S "$AGENT_SOCK" ]] || die "ssh-agent did not open $AGENT_SOCK"
    SSH_AUTH_SOCK="$AGENT_SOCK" ssh-add -q "$WITNESS_KEY" 2>>"$WITNESS_LOG"
}

start() {
    ensure_local_dirs
    install
    ensure_key
    mkdir -p "$WITNESS_DIR"
    if pid="$(live_pid "$WITNESS_PID" "litewitness")"; then
        log "witness already running (pid $pid) on $WITNESS_LISTEN"
    else
        port_open 7380 && die "port 7380 is taken by a process this checkout did not start"
        start_agent
        local fingerprint i
        fingerprint="$(ssh-keygen -l -E sha256 -f "$WITNESS_KEY.pub" | awk '{print $2}')"
        log "starting litewitness $WITNESS_NAME on $WITNESS_LISTEN (log: ${WITNESS_LOG#"$CME_ROOT"/})"
        (setsid nohup "$GOBIN_DIR/litewitness" -name "$WITNESS_NAME" -db "$WITNESS_DB" -listen "$WITNESS_LISTEN" \
            -ssh-agent "$AGENT_SOCK" -key "$fingerprint" >>"$WITNESS_LOG" 2>&1 </dev/null & echo $! >"$WITNESS_PID")
        for ((i = 0; i < 100; i++)); do port_open 7380 && break; sleep 0.1; done
        port_open 7380 || { show_log_tail "$WITNESS_LOG"; die "litewitness did not start"; }
        note_change "witness started"
    fi
    # The verifier key as litewitness announced it at its last start.
    grep -o 'vkey=[^ ]*' "$WITNESS_LOG" | tail -n 1 | cut -d= -f2- >"$WITNESS_VKEY.tmp"
    [[ -s "$WITNESS_VKEY.tmp" ]] || die "litewitness did not print its verifier key"
    mv "$WITNESS_VKEY.tmp" "$WITNESS_VKEY"
    # The local disclosure log: its origin and note key from disclosure's own configuration.
    require_project_python
    local origin vkey
    read -r origin vkey < <(cd "$CME_ROOT" && "$CME_PYTHON" -m cme_disclosure log-vkey)
    register "$origin" "$vkey"
}

register() {
    local origin="${1:?usage: witness.sh register ORIGIN VKEY}" vkey="${2:?usage: witness.sh register ORIGIN VKEY}"
    local known
    known="$("$GOBIN_DIR/witnessctl" list-logs -db "$WITNESS_DB")"
    if ! ORIGIN="$origin" python3 -c 'import json,os,sys; sys.exit(0 if any(json.loads(l)["origin"] == os.environ["ORIGIN"] for l in sys.stdin if l.strip()) else 1)' <<<"$known"; then
        "$GOBIN_DIR/witnessctl" add-log -db "$WITNESS_DB" -origin "$origin" 2>>"$WITNESS_LOG"
        log "witness: added log $origin"
    fi
    if ! grep -qF -- "\"$vkey\"" <<<"$known"; then
        "$GOBIN_DIR/witnessctl" add-key -db "$WITNESS_DB" -origin "$origin" -key "$vkey" 2>>"$WITNESS_LOG"
        log "witness: added key for $origin"
    fi
}

stop() {
    stop_pid "$WITNESS_PID" "litewitness" "witness" 10
    stop_pid "$AGENT_PID" "ssh-agent" "witness ssh-agent" 5
    rm -f "$AGENT_SOCK"
}

status() {
    if pid="$(live_pid "$WITNESS_PID" "litewitness")"; then
        log "witness: running (pid $pid) on $WITNESS_LISTEN, key $(cat "$WITNESS_VKEY" 2>/dev/null)"
    else
        log "witness: not running"
        return 1
    fi
}

case "${1:-}" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    status) status ;;
    register) shift; ensure_local_dirs; register "$@" ;;
    vkey) cat "$WITNESS_VKEY" ;;
    *) echo "usage: $0 install|start|stop|status|register ORIGIN VKEY|vkey" >&2; exit 2 ;;
esac
