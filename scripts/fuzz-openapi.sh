#!/usr/bin/env bash
# Schema-driven fuzzing of every service's OpenAPI document with Schemathesis: starts
# auth-service, sync-service and web from this build on free ports against a fresh database (and
# the machine's Postgres and RabbitMQ), signs an administrator in, and lets Schemathesis generate
# valid and invalid requests for every documented operation, checking that none answers 5xx and
# that every status is one the document declares. web's document covers its own API (session,
# the page's lists and status, health), not the services' APIs it forwards (fuzzed directly);
# the connectors are not started, so web's calls to them answer its documented 502.
#
#   scripts/fuzz-openapi.sh            # FUZZ_SECONDS (default 120) per service and credential
#   FUZZ_SECONDS=600 scripts/fuzz-openapi.sh
#   FUZZ_ONLY=sync-service scripts/fuzz-openapi.sh   # only the runs whose name starts so
#
# Schemathesis goes into a virtualenv under target/ (installed with pip on first use). Reports
# (JUnit and the failures as a pytest file) land in target/fuzz-openapi/. Exits non-zero when a
# check failed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
seconds=${FUZZ_SECONDS:-120}
schemathesis_version=4.32.5
cargo_target=${CARGO_TARGET_DIR:-$root/target}
venv="$root/target/fuzz-venv"
out="$root/target/fuzz-openapi"
mkdir -p "$out"

say() { printf '\033[1m==>\033[0m %s\n' "$*"; }
fail() { printf '\033[31mError:\033[0m %s\n' "$*" >&2; exit 1; }

if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$schemathesis_version"; then
  say "Installing Schemathesis $schemathesis_version into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==$schemathesis_version"
fi

scripts/ensure-services.sh
say "Building auth-service, sync-service and web"
cargo build -q -p auth-service -p sync-service -p web --bins
bin="$cargo_target/debug"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
secret() { head -c 24 /dev/urandom | base64 | tr -d '=+/\n'; }

database="fuzz_$(date +%s)_$$"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -d postgres -qc \
    "drop database if exists $database with (force)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -d postgres -qc "create database $database"

auth_port=$(free_port)
sync_port=$(free_port)
web_port=$(free_port)
# The operator's credential (decisions #57): at least 32 characters.
service_token=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
web_token=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
admin_email=fuzz-admin@example.com
admin_password="fuzz-$(secret)"
# Secrets reach the services through the environment of their process only (not their command
# lines), and this script's files are the current user's alone.
umask 077
export SYNC_DATABASE_URL="postgres://postgres:postgres@127.0.0.1:5432/$database"
export SYNC_AMQP_URL="amqp://guest:guest@127.0.0.1:5672/%2f"
export SYNC_TOKEN_OPERATOR="$service_token"
export SYNC_LOG_JSON=false
export AUTH_PORT=$auth_port AUTH_ENCRYPTION_KEYS="k1:$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
export AUTH_ADMIN_EMAIL=$admin_email AUTH_ADMIN_PASSWORD=$admin_password AUTH_SELF_SIGNUP=true
export AUTH_ZOHO_ACCOUNTS_BASE="http://127.0.0.1:9/zoho-accounts/{dc}" AUTH_MICROSOFT_LOGIN_BASE="http://127.0.0.1:9/login"
# The fuzzer is one client sending thousands of bad passwords: let the throttle answer 429 (which
# is documented) rather than stop every sign-in early, so sign-in's own checks get exercised.
export AUTH_MAX_FAILED_SIGN_INS_PER_ADDRESS=100000
export SYNC_SERVICE_PORT=$sync_port SYNC_SERVICE_AUTH_URL="http://127.0.0.1:$auth_port"

start() { # name binary [VAR=value...]: the variables for that process only
  local name=$1 binary=$2
  shift 2
  env "$@" "$bin/$binary" > "$out/$name.log" 2>&1 &
  pids+=($!)
}
wait_ready() { # name url
  for _ in $(seq 1 120); do
    curl -fsS "$2" >/dev/null 2>&1 && return 0
    sleep 1
  done
  tail -n 30 "$out/$1.log" >&2
  fail "$1 is not ready after 120 s; its log is $out/$1.log"
}
start auth-service auth-service
wait_ready auth-service "http://127.0.0.1:$auth_port/health/ready"
start sync-service sync-service
wait_ready sync-service "http://127.0.0.1:$sync_port/health/ready"
# web's own credential through the environment of its process only; nothing listens on the
# connectors' addresses.
WEB_TOKEN_WEB=$web_token start web web WEB_PORT="$web_port" \
  WEB_AUTH_URL="http://127.0.0.1:$auth_port" WEB_SYNC_URL="http://127.0.0.1:$sync_port" \
  WEB_OUTLOOK_URL=http://127.0.0.1:9 WEB_ZOHO_URL=http://127.0.0.1:9
wait_ready web "http://127.0.0.1:$web_port/health/ready"

access_token=$(curl -fsS -X POST "http://127.0.0.1:$auth_port/v1/sessions" \
  -H 'Content-Type: application/json' \
  -d "{\"email\":\"$admin_email\",\"password\":\"$admin_password\",\"client\":\"api\"}" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')

# web's run has a session of its own: signing out (DELETE /api/session) ends only that one. Signed
# in now: the other runs' wrong passwords may throttle the administrator's account later.
web_token_session=$(curl -fsS -X POST "http://127.0.0.1:$auth_port/v1/sessions" \
  -H 'Content-Type: application/json' \
  -d "{\"email\":\"$admin_email\",\"password\":\"$admin_password\",\"client\":\"api\"}" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')

printf '%s\n' 'headers = { Authorization = "Bearer ${FUZZ_CREDENTIAL}" }' > "$out/schemathesis.toml"

status=0
fuzz() { # name base-url credential filter...
  local name=$1 base=$2 credential=$3
  shift 3
  case $name in "${FUZZ_ONLY:-}"*) ;; *) return ;; esac
  say "Fuzzing $name for ${seconds} s"
  if ! curl -fsS "$base/openapi.json" -o "$out/$name.openapi.json"; then
    printf '\033[31m%s publishes no /openapi.json\033[0m\n' "$name"
    status=1
    return
  fi
  # The credential reaches Schemathesis through its environment and config file, not its
  # command line.
  # Run from the output folder: Schemathesis keeps its cache of crashes in the working folder.
  if ! (cd "$out" && FUZZ_CREDENTIAL="$credential" "$venv/bin/schemathesis" --config-file "$out/schemathesis.toml" \
    run "$out/$name.openapi.json" --url "$base" \
    --checks not_a_server_error,status_code_conformance \
    --max-time "$seconds" --workers 1 --seed 15 --output-sanitize true \
    --report junit,pytest --report-dir "$out/$name" --warnings off \
    "$@" > "$out/$name.txt" 2>&1); then
    status=1
  fi
  tail -n 25 "$out/$name.txt"
}

# Users' API with an administrator's access token; signing itself out would end the run's token.
fuzz auth-service-user "http://127.0.0.1:$auth_port" "$access_token" \
  --exclude-tag internal --exclude-path /v1/sessions/current
fuzz auth-service-internal "http://127.0.0.1:$auth_port" "$service_token" --include-tag internal
fuzz sync-service-user "http://127.0.0.1:$sync_port" "$access_token" --exclude-tag internal
fuzz sync-service-internal "http://127.0.0.1:$sync_port" "$service_token" --include-tag internal
# The status event stream stays open for minutes: left out.
fuzz web "http://127.0.0.1:$web_port" "$web_token_session" --exclude-path /api/status/events

if [ "$status" = 0 ]; then
  printf '\033[32m✔ No 5xx and no undocumented status in any run; reports in %s\033[0m\n' "$out"
else
  printf '\033[31m✘ Failures above; details in %s\033[0m\n' "$out"
fi
exit "$status"
