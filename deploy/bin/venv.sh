#!/usr/bin/env bash
# Creates .venv and installs requirements-dev.txt, but only when the inputs
# (requirements-dev.txt, constraints.txt, every pyproject.toml) changed since
# the last successful install: the hash is kept in .local/venv.stamp.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

VENV="$CME_ROOT/.venv"
STAMP="$CME_LOCAL/venv.stamp"

inputs_hash() {
    # File names are part of the hash, so adding a service reinstalls too.
    (
        cd "$CME_ROOT"
        shopt -s nullglob
        local f
        for f in requirements-dev.txt constraints.txt ./*/pyproject.toml services/*/pyproject.toml; do
            [[ -f "$f" ]] && printf '%s\n' "$f" && cat "$f"
        done
    ) | sha256sum | cut -d' ' -f1
}

ensure_venv_module() {
    # Debian ships ensurepip separately (python3-venv); install it when root.
    python3 -c 'import ensurepip, venv' 2>/dev/null && return 0
    if is_root && command -v apt-get >/dev/null; then
        log "python3-venv is missing; installing it with apt-get"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    else
        die "python3 cannot create virtual environments; install python3-venv (apt-get install -y python3-venv)"
    fi
}

create_venv() {
    [[ -x "$VENV/bin/python" ]] && return 0
    ensure_venv_module
    log "creating .venv with $(python3 -V 2>&1)"
    python3 -m venv "$VENV"
    rm -f "$STAMP"
    note_change "venv created"
}

install_requirements() {
    if [[ ! -f "$CME_ROOT/requirements-dev.txt" ]]; then
        warn "requirements-dev.txt not found; skipping package installation"
        return 0
    fi
    local want
    want="$(inputs_hash)"
    if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
        log ".venv is up to date"
        return 0
    fi
    log "installing requirements-dev.txt into .venv (inputs changed)"
    # pip resolves -c constraints.txt and the -e paths relative to the file.
    (cd "$CME_ROOT" && "$VENV/bin/pip" install --disable-pip-version-check -q -r requirements-dev.txt)
    mkdir -p "$CME_LOCAL"
    printf '%s\n' "$want" >"$STAMP"
    note_change "venv packages installed"
    log ".venv ready"
}

ensure_pango() {
    # WeasyPrint (the rights service's printed pack) lays text out with Debian's Pango; install it when root.
    # (grep reads all of ldconfig's output: with -q, pipefail would see ldconfig's SIGPIPE as a failure)
    ldconfig -p 2>/dev/null | grep 'libpangoft2-1.0.so.0' >/dev/null && return 0
    if is_root && command -v apt-get >/dev/null; then
        log "Pango is missing (WeasyPrint needs it); installing it with apt-get"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core
    else
        die "WeasyPrint needs Pango: apt-get install -y libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core"
    fi
}

ensure_local_dirs
ensure_pango
create_venv
install_requirements
