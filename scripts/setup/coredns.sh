#!/usr/bin/env bash
# Installs the DNS servers for the real-process tests (test/collectors/dns/real.test.ts): dnsmasq from Debian's
# `dnsmasq-base` (no service, nothing to disable) and CoreDNS built with `go install` from the Go module proxy
# into "$REPO/.cache/coredns" (about 2 minutes with a cold module cache). Idempotent: skips what is present.
# Prints both paths.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
COREDNS_VERSION="v1.11.4"
BIN="$REPO/.cache/coredns"

# /usr/sbin is not on a non-root PATH; the tests look there too.
if ! command -v dnsmasq >/dev/null 2>&1 && [ ! -x /usr/sbin/dnsmasq ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update
  $SUDO apt-get install -y --no-install-recommends dnsmasq-base
fi
echo "dnsmasq: $(command -v dnsmasq || echo /usr/sbin/dnsmasq)"

if [ ! -x "$BIN/coredns" ]; then
  if ! command -v go >/dev/null 2>&1; then
    echo "coredns.sh: go is not installed; CoreDNS is built with 'go install'" >&2
    exit 1
  fi
  mkdir -p "$BIN"
  GOBIN="$BIN" GOFLAGS=-mod=mod go install "github.com/coredns/coredns@$COREDNS_VERSION"
fi
echo "coredns: $BIN/coredns"
