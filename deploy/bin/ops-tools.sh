#!/usr/bin/env bash
# The tools that check what deploy/ ships, built from the Go module proxy into .local/bin (as witness.sh
# builds litewitness): kustomize renders deploy/k8s/overlays/*, promtool checks deploy/monitoring/alerts.yml
# and the dashboard's queries. tests/test_deploy_manifests_unit.py runs `ops-tools.sh install` first; the
# Kubernetes JSON schemas come from the kubernetes-validate package (requirements-dev.txt), offline.
#
#   ops-tools.sh install        go install kustomize and promtool (once; promtool takes a few minutes)
#   ops-tools.sh path TOOL      print the path of kustomize or promtool
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

KUSTOMIZE_VERSION="${CME_KUSTOMIZE_VERSION:-v5.7.1}"      # builds with Go 1.26
PROMETHEUS_VERSION="${CME_PROMETHEUS_VERSION:-v0.316.0}"  # the Go module of Prometheus 3.x's promtool
GOBIN_DIR="$CME_LOCAL/bin"

install() {
    command -v go >/dev/null || die "Go is needed to build kustomize and promtool (https://go.dev/dl/)"
    mkdir -p "$GOBIN_DIR"
    if [[ ! -x "$GOBIN_DIR/kustomize" ]]; then
        log "installing kustomize $KUSTOMIZE_VERSION into ${GOBIN_DIR#"$CME_ROOT"/}"
        GOBIN="$GOBIN_DIR" GOFLAGS=-mod=mod go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
        note_change "kustomize installed"
    fi
    if [[ ! -x "$GOBIN_DIR/promtool" ]]; then
        log "installing promtool $PROMETHEUS_VERSION into ${GOBIN_DIR#"$CME_ROOT"/} (a few minutes)"
        GOBIN="$GOBIN_DIR" GOFLAGS=-mod=mod go install "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION"
        note_change "promtool installed"
    fi
}

case "${1:-}" in
    install) install ;;
    path)
        [[ "${2:-}" == kustomize || "${2:-}" == promtool ]] || die "usage: ops-tools.sh path kustomize|promtool"
        echo "$GOBIN_DIR/$2" ;;
    *) die "usage: ops-tools.sh install | path kustomize|promtool" ;;
esac
