#!/usr/bin/env bash
# Makes sure Postgres (127.0.0.1:5432) and RabbitMQ (127.0.0.1:5672) are up: reuses running ones,
# starts installed ones (without systemd), and on a Debian machine without them installs them
# from Debian's packages. Idempotent; used by the run command, the test command and CI.
set -euo pipefail

say() { printf '\033[1m==>\033[0m %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

installed_now=false
if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! command -v rabbitmq-server >/dev/null 2>&1; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "Postgres and RabbitMQ are missing and this is not a Debian machine: install them, then rerun." >&2
    exit 1
  fi
  say "Installing Postgres and RabbitMQ from Debian's packages"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql rabbitmq-server >/dev/null
  installed_now=true
fi

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  say "Starting Postgres $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432 -q || { echo "Postgres did not start" >&2; exit 1; }

# The services connect as postgres/postgres over TCP. A fresh Debian install asks for a password
# on 127.0.0.1, so give the postgres role that password (harmless where trust auth is used).
if $installed_now || ! PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
  as_root su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
fi

if ! rabbitmq-diagnostics -q ping >/dev/null 2>&1; then
  say "Starting RabbitMQ"
  as_root rabbitmq-server -detached >/dev/null 2>&1 || true
  for _ in $(seq 1 60); do rabbitmq-diagnostics -q ping >/dev/null 2>&1 && break; sleep 1; done
fi
rabbitmq-diagnostics -q ping >/dev/null 2>&1 || { echo "RabbitMQ did not start" >&2; exit 1; }
say "Postgres and RabbitMQ are up"
