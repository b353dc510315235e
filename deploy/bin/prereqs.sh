#!/usr/bin/env bash
# Checks the tools the local runtime needs and names what to install.
# Only PostgreSQL and python3-venv are installed automatically (by postgres.sh
# and venv.sh, via apt-get); Java, Maven and Python are left to the operator.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

missing=()

check_python() {
    if ! command -v python3 >/dev/null; then
        missing+=("python3 (3.11+): apt-get install -y python3 python3-venv")
        return
    fi
    if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        missing+=("python3 3.11+ (found $(python3 -V 2>&1)): install Python 3.11 or newer")
    fi
}

check_java() {
    if ! command -v java >/dev/null; then
        missing+=("java (17+): apt-get install -y openjdk-17-jre-headless")
        return
    fi
    # `java -version` prints e.g. 'openjdk version "17.0.15"' or '"1.8.0_392"'.
    local v major
    v="$(java -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n1)"
    major="${v%%.*}"
    [[ "$major" == 1 ]] && major="$(echo "$v" | cut -d. -f2)"
    if [[ -z "$major" || "$major" -lt 17 ]]; then
        missing+=("java 17+ (found ${v:-unknown}): apt-get install -y openjdk-17-jre-headless")
    fi
}

check_maven() {
    # Maven is only needed to fetch the Kafka jars once.
    if [[ -f "$CME_CACHE/kafka-4.1.1/libs/kafka_2.13-4.1.1.jar" ]]; then return; fi
    command -v mvn >/dev/null || missing+=("mvn (to fetch Kafka from Maven Central): apt-get install -y maven")
}

check_postgres() {
    # PostgreSQL is installed by postgres.sh with apt-get when missing.
    if compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then return; fi
    if ! command -v apt-get >/dev/null; then
        missing+=("PostgreSQL server (initdb/pg_ctl under /usr/lib/postgresql/*/bin); apt-get is not available to install it")
    elif ! is_root; then
        missing+=("PostgreSQL server: run 'sudo apt-get install -y postgresql' (or run make as root)")
    fi
}

check_go() {
    # Go builds the disclosure log's witness (litewitness, from the Go module proxy) once.
    if [[ -x "$CME_ROOT/.local/bin/litewitness" ]]; then return; fi
    command -v go >/dev/null || missing+=("go (1.24+, to build the log witness litewitness): apt-get install -y golang-go")
}

check_python
check_java
check_maven
check_go
check_postgres

if ((${#missing[@]})); then
    printf '[prereqs] ERROR: missing prerequisites:\n' >&2
    printf '  - %s\n' "${missing[@]}" >&2
    exit 1
fi
log "ok: $(python3 -V 2>&1), java $(java -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n1)"
