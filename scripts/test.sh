#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs the real components the tests drive (squid, Envoy), checks
# lint, formatting and types, runs vitest with coverage, and ends with one "N passed, N failed" line.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup/squid.sh
bash scripts/setup/envoy.sh >/dev/null

echo '== lint'
npm run --silent lint
echo '== typecheck'
npx tsc --noEmit

echo '== tests'
mkdir -p coverage
status=0
npx vitest run --coverage --reporter=default --reporter=json --outputFile.json=coverage/vitest-results.json || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync("coverage/vitest-results.json", "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' || true
exit "$status"
