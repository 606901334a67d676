#!/usr/bin/env bash
# Installs squid for the real-process tests (test/collectors/squid/real.test.ts). Idempotent: does nothing
# when `squid` is already on PATH. Works as root on a fresh Debian 12 machine without systemd running.
set -euo pipefail

# /usr/sbin is not on a non-root PATH; the tests look there too.
if command -v squid >/dev/null 2>&1 || [ -x /usr/sbin/squid ]; then
  echo "squid: $(command -v squid || echo /usr/sbin/squid)"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends squid

# The package's postinst enables squid.service. The tests start their own squid on loopback, so undo the
# enable; `systemctl disable` works without systemd running, and a machine without systemctl has nothing to undo.
if command -v systemctl >/dev/null 2>&1; then
  if systemctl is-enabled squid >/dev/null 2>&1; then
    $SUDO systemctl disable squid >/dev/null 2>&1 || true
  fi
fi

echo "squid: $(command -v squid)"
