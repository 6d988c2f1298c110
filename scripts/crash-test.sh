#!/usr/bin/env bash
# The crash test at the issue's size (2,000 contacts, 300 tasks and 300 events per side), in a
# release build: services killed with SIGKILL during the first sync and the edits, one broker and
# one database outage per run, then the oracle over both emulators' data. Prints each run's
# figures (lost, duplicated, stale, resurrected, unexpected, unlinked) and a total; exits non-zero
# when any run found a problem. See docs/reliability.md.
#
#   scripts/crash-test.sh [--runs N] [--seed S] [--restart-servers] [--short] [...]
#
# By default the outages are this run's own (its services reach Postgres and RabbitMQ through
# proxies the harness cuts); --restart-servers restarts the machine's RabbitMQ and Postgres
# instead, which disturbs anything else using them. `--help` lists every option.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-services.sh
export TEST_DATABASE_ADMIN_URL=${TEST_DATABASE_ADMIN_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}
export TEST_AMQP_URL=${TEST_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}
for arg in "$@"; do
  if [ "$arg" = "--restart-servers" ]; then
    echo "NOTE: --restart-servers restarts this machine's RabbitMQ and Postgres during each run." >&2
  fi
done
# Builds the service binaries (release) first, then runs.
exec cargo run --release -q -p crash-test -- "$@"
