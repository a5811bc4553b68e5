#!/usr/bin/env bash
# `npm test`: installs whatever is missing, brings the local stack up, and runs every check:
# lint and format (Biome), type checks (source and tests), unit and integration tests against the
# real services, then the chaos tests that stop and restart services (alone), and last the
# three-broker Kafka test, on a cluster it starts and removes. The isolation test, which compares
# latencies, runs before them all, on a machine nothing else loads yet.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/env.sh"
cd "$ROOT_DIR"
mkdir -p "$STACK_DIR/logs"

# Tools the tests use besides the stack: a Kafka client outside the project, Compose's validator, and
# Debian's Chromium for the console's browser tests (driven by playwright-core, no browser download).
apt_install kcat docker-compose chromium
# Python tools of the suite: schemathesis fuzzes the API, chdb runs the audit SQL on a current ClickHouse.
pip_install schemathesis chdb
ensure_node_deps
bash scripts/stack.sh up
log "database migrations (the first test to run may be the first to use the database)"
npx --no-install tsx scripts/migrate.ts

log "lint and format (biome)"
npx --no-install biome check .
log "type check (tsc, tests included)"
npx --no-install tsc -p tsconfig.json
results="$STACK_DIR/test-results"
mkdir -p "$results"
status=0
log "isolation test (latency beside bad receivers, on a machine nothing else loads yet)"
npx --no-install vitest run --project isolation \
  --reporter=default --reporter=json --outputFile.json="$results/isolation.json" || status=$?
log "unit, service and integration tests"
npx --no-install vitest run --project unit --project service --project integration \
  --reporter=default --reporter=json --outputFile.json="$results/main.json" || status=$?
log "browser tests (the operator console in Chromium)"
npx --no-install vitest run --project browser \
  --reporter=default --reporter=json --outputFile.json="$results/browser.json" || status=$?
if [ $status -eq 0 ]; then
  log "chaos tests (stop and restart stack services)"
  npx --no-install vitest run --project chaos \
    --reporter=default --reporter=json --outputFile.json="$results/chaos.json" || status=$?
fi
log "three-broker Kafka test (a cluster of its own; a partition leader SIGKILLed and restarted)"
npx --no-install vitest run --project cluster \
  --reporter=default --reporter=json --outputFile.json="$results/cluster.json" || status=$?

# The closing lines of every run: each failed test with the start of its message (a CI log often
# keeps only its tail), then N passed, N failed.
node -e '
  const fs = require("node:fs");
  let passed = 0, failed = 0, skipped = 0;
  for (const f of process.argv.slice(1)) {
    if (!fs.existsSync(f)) continue;
    const r = JSON.parse(fs.readFileSync(f, "utf8"));
    passed += r.numPassedTests; failed += r.numFailedTests; skipped += r.numPendingTests + r.numTodoTests;
    for (const file of r.testResults) {
      for (const t of file.assertionResults.filter((a) => a.status === "failed")) {
        const why = (t.failureMessages[0] ?? "").split("\n").filter((l) => !l.trim().startsWith("at ")).slice(0, 6).join("\n    ");
        console.log(`FAILED ${file.name.replace(process.cwd() + "/", "")} > ${t.fullName}\n    ${why}`);
      }
      if (file.status === "failed" && file.assertionResults.every((a) => a.status !== "failed")) {
        console.log(`FAILED ${file.name.replace(process.cwd() + "/", "")}: ${(file.message ?? "").split("\n")[0]}`);
      }
    }
  }
  console.log(`tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
' "$results/isolation.json" "$results/main.json" "$results/browser.json" "$results/chaos.json" "$results/cluster.json"
rm -f "$results"/*.json
exit $status
