#!/usr/bin/env bash
# The whole test suite: unit tests, and integration and end-to-end tests against the real
# Postgres and RabbitMQ (started or installed as needed) and the in-process sandbox; the browser
# tests drive headless Chromium (installed as needed) and save screenshots in target/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-services.sh
scripts/ensure-browser.sh
export TEST_DATABASE_ADMIN_URL=${TEST_DATABASE_ADMIN_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}
export TEST_AMQP_URL=${TEST_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}
# Databases left by earlier runs (each test makes its own).
PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -d postgres -Atqc \
  "select datname from pg_database where datname like 'test\_%'" 2>/dev/null |
  while read -r db; do PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -d postgres -qc "drop database if exists \"$db\"" >/dev/null 2>&1 || true; done
# The benchmark's smoke test runs the services as processes: build their binaries first.
cargo build --workspace --bins
if cargo nextest --version >/dev/null 2>&1; then
  exec cargo nextest run --workspace --no-fail-fast "$@"
else
  exec cargo test --workspace --no-fail-fast "$@"
fi
