#!/usr/bin/env bash
# The test command of the README and of CI: type-check, then every vitest test (unit tests need no
# root; integration tests under test/integration run in network namespaces when root), then one
# plain summary line `N passed, N failed, N skipped` read from vitest's JSON results.
set -uo pipefail
cd "$(dirname "$0")/.."
echo "== typecheck"
if ! npx tsc --noEmit -p .; then
  echo "typecheck failed"
  echo "0 passed, 1 failed"
  exit 1
fi
echo "== vitest"
rm -f .test-results.json
npx vitest run --reporter=default --reporter=json --outputFile.json=.test-results.json "$@"
rc=$?
node scripts/summary.mjs .test-results.json || rc=1
exit $rc
