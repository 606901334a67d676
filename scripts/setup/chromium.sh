#!/usr/bin/env bash
# Installs Debian's chromium for the report test (test/report/html-chromium.test.ts), which loads the HTML report
# headless and takes a screenshot. Idempotent: does nothing when a chromium is already on PATH.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  echo "chromium: $(command -v chromium)"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium fonts-dejavu-core

echo "chromium: $(command -v chromium)"
