#!/usr/bin/env bash
# Runs the whole system locally against the sandbox emulators of Microsoft Graph and Zoho CRM:
# Postgres and RabbitMQ (started, or installed from Debian's packages), a build, the sandbox
# seeded with demo contacts, the four services and the settings page (`web`), a demo user with a
# password and both accounts connected; waits for the first sync and says where to look next.
# `scripts/run-local.sh stop` stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
state="$root/.local"
logs="$state/logs"
# Everything this script writes (secrets, logs, pid files) is readable by this user only.
umask 077
mkdir -p "$logs"
chmod 700 "$state"

say() { printf '\033[1m==>\033[0m %s\n' "$*"; }
fail() { printf '\033[31mError:\033[0m %s\n' "$*" >&2; exit 1; }

stop_all() {
  if compgen -G "$state/*.pid" >/dev/null; then
    for pidfile in "$state"/*.pid; do
      kill "$(cat "$pidfile")" 2>/dev/null || true
      rm -f "$pidfile"
    done
    sleep 1
  fi
}

if [ "${1:-}" = stop ]; then
  stop_all
  say "Stopped."
  exit 0
fi

scripts/ensure-services.sh

profile=${PROFILE:-debug}
say "Building the services ($profile; the first build takes a few minutes)"
if [ "$profile" = release ]; then cargo build --release --bins -q; else cargo build --bins -q; fi
bin="$root/target/$profile"

# Secrets of this local installation, made once and kept in .local/ (git-ignored, mode 600).
# Each service has its own credential (decisions #57): the operator's (this script), web's and
# each connector's.
for who in operator web outlook zoho; do
  [ -f "$state/token-$who" ] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$state/token-$who"
done
rm -f "$state/service-token"
[ -f "$state/encryption-key" ] || head -c 32 /dev/urandom | base64 | tr -d '\n' > "$state/encryption-key"
[ -f "$state/demo-password" ] || { printf 'demo-'; head -c 12 /dev/urandom | base64 | tr -d '=+/\n'; } > "$state/demo-password"
[ -f "$state/admin-password" ] || { printf 'admin-'; head -c 12 /dev/urandom | base64 | tr -d '=+/\n'; } > "$state/admin-password"
demo_email=demo@example.com
demo_password=$(cat "$state/demo-password")
# The first administrator: auth-service creates it at start when it does not exist yet.
admin_email=admin@example.com
admin_password=$(cat "$state/admin-password")
chmod 600 "$state"/token-* "$state/encryption-key" "$state/demo-password" "$state/admin-password"
token() { cat "$state/token-$1"; }
# curl reads the operator's credential from this file, never from its command line.
printf 'Authorization: Bearer %s\n' "$(token operator)" > "$state/operator.header"

database=outlook_zoho_sync
# The sandbox keeps its accounts in memory, so every run starts the demo afresh: stop the old
# run first (below), then give the services an empty database.
stop_all
PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -d postgres -qc "drop database if exists $database" >/dev/null
PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -d postgres -qc "create database $database"

sandbox=http://127.0.0.1:7070
export SYNC_DATABASE_URL="postgres://postgres:postgres@127.0.0.1:5432/$database"
export SYNC_AMQP_URL="amqp://guest:guest@127.0.0.1:5672/%2f"
export SYNC_LOG_JSON=false
export AUTH_ENCRYPTION_KEYS="k1:$(cat "$state/encryption-key")"
export AUTH_ZOHO_ACCOUNTS_BASE="$sandbox/zoho-accounts/{dc}"
export AUTH_MICROSOFT_LOGIN_BASE="$sandbox/login"
# Browsers reach auth-service through web (on this host), which tells it the client's address.
export AUTH_TRUSTED_PROXIES="127.0.0.1, ::1"
# Trying it out: a user may poll every few seconds (production keeps the 60 s floor).
export SYNC_SERVICE_MIN_POLL_INTERVAL_SECS=1
export AUTH_ADMIN_EMAIL="$admin_email" AUTH_ADMIN_PASSWORD="$admin_password"
export OUTLOOK_GRAPH_BASE_URL="$sandbox/graph/v1.0"
export SANDBOX_PORT=7070
# The settings page: the browser talks to `web` only; OAuth redirects come back through it.
web=http://127.0.0.1:8080
export WEB_PUBLIC_URL="$web"
export AUTH_PUBLIC_URL="$web/api/auth"
export AUTH_CONNECTED_REDIRECT_URL="$web/#/connections"
# "Sign in with Sandbox ID": the sandbox's OpenID Connect provider (its page lists its users;
# the demo user is one of them, and sso.example people get a new account).
export AUTH_OIDC_PROVIDERS=sandbox
export AUTH_OIDC_SANDBOX_NAME="Sandbox ID"
export AUTH_OIDC_SANDBOX_ISSUER="$sandbox/oidc/sandbox"
export AUTH_OIDC_SANDBOX_CLIENT_ID=sandbox-oidc-client
export AUTH_OIDC_SANDBOX_CLIENT_SECRET=sandbox-oidc-secret
export AUTH_OIDC_SANDBOX_SIGN_UP_DOMAINS=sso.example
export AUTH_SIGN_IN_REDIRECT_URL="$web/"

stop_all
start() { # name binary port [VARIABLE=who ...]: the credentials this service holds
  local name=$1 binary=$2 port=$3
  shift 3
  say "Starting $name on port $port"
  # Exported in a subshell (builtins): the credentials are in the service's environment only,
  # never on a command line that `ps` shows to every user.
  (
    for pair in "$@"; do export "${pair%%=*}=$(token "${pair#*=}")"; done
    exec "$bin/$binary"
  ) > "$logs/$name.log" 2>&1 &
  echo $! > "$state/$name.pid"
}
start sandbox sandbox 7070
start auth-service auth-service 8081 AUTH_TOKEN_OUTLOOK=outlook AUTH_TOKEN_ZOHO=zoho AUTH_TOKEN_OPERATOR=operator AUTH_TOKEN_WEB=web
start sync-service sync-service 8082 SYNC_SERVICE_TOKEN_OPERATOR=operator SYNC_SERVICE_TOKEN_WEB=web
start connector-outlook connector-outlook 8083 OUTLOOK_TOKEN_OUTLOOK=outlook OUTLOOK_TOKEN_WEB=web OUTLOOK_TOKEN_OPERATOR=operator
start connector-zoho connector-zoho 8084 ZOHO_TOKEN_ZOHO=zoho ZOHO_TOKEN_WEB=web ZOHO_TOKEN_OPERATOR=operator
start web web 8080 WEB_TOKEN_WEB=web

wait_ready() { # name url
  for _ in $(seq 1 60); do
    if curl -fsS "$2" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; then
      tail -n 20 "$logs/$1.log" >&2; fail "$1 stopped; its log is $logs/$1.log"
    fi
    sleep 1
  done
  fail "$1 is not ready after 60 s; see $logs/$1.log"
}
wait_ready sandbox "$sandbox/health/live"
wait_ready auth-service http://127.0.0.1:8081/health/ready
wait_ready sync-service http://127.0.0.1:8082/health/ready
wait_ready connector-outlook http://127.0.0.1:8083/health/ready
wait_ready connector-zoho http://127.0.0.1:8084/health/ready
wait_ready web "$web/health/ready"

# JSON helpers without jq: the answers we read are flat.
field() { grep -o "\"$1\"[[:space:]]*:[[:space:]]*\"\{0,1\}[^\",}]*" | head -n 1 | sed 's/.*:[[:space:]]*"\{0,1\}//'; }
api() { # method url [body]: the body (it may hold a password) goes through stdin, not argv
  if [ -n "${3:-}" ]; then
    printf '%s' "$3" | curl -fsS -X "$1" "$2" -H @"$state/operator.header" \
      -H 'Content-Type: application/json' --data-binary @-
  else
    curl -fsS -X "$1" "$2" -H @"$state/operator.header"
  fi
}

say "Creating the demo mailbox and Zoho CRM organisation in the sandbox"
api POST "$sandbox/_sandbox/oidc/users" '{"email":"demo@example.com","name":"Demo Sales"}' > /dev/null
api POST "$sandbox/_sandbox/oidc/users" '{"email":"new.hire@sso.example","name":"New Hire"}' > /dev/null
mailbox=$(api POST "$sandbox/_sandbox/graph/mailboxes" '{"display_name":"Demo Sales"}')
org=$(api POST "$sandbox/_sandbox/zoho/orgs" '{"dc":"jp","user_name":"Demo Sales","user_email":"demo@example.com"}')
mailbox_id=$(echo "$mailbox" | field mailbox_id)
folder_id=$(echo "$mailbox" | field default_contact_folder_id)
org_id=$(echo "$org" | field org_id)
demo_contacts=${DEMO_CONTACTS:-25}
# A fifth of the people are in both accounts already: the first sync matches them instead of
# creating them twice.
seeded=$(api POST "$sandbox/_sandbox/seed" "{\"mailbox_id\":\"$mailbox_id\",\"org_id\":\"$org_id\",\"contacts\":$demo_contacts,\"shared_share\":0.2,\"seed\":42}")
shared=$(echo "$seeded" | field shared); shared=${shared:-0}

say "Creating the demo user and connecting both accounts"
user=$(api POST http://127.0.0.1:8081/internal/v1/users "{\"email\":\"$demo_email\",\"display_name\":\"Demo Sales\",\"password\":\"$demo_password\"}" 2>/dev/null || true)
user_id=$(echo "$user" | field user_id)
[ -n "$user_id" ] || fail "could not create the demo user (is an old run's database in the way? drop database $database)"
api PUT "http://127.0.0.1:8081/internal/v1/users/$user_id/connections/outlook" \
  "{\"refresh_token\":\"$(echo "$mailbox" | field refresh_token)\"}" >/dev/null
api PUT "http://127.0.0.1:8081/internal/v1/users/$user_id/connections/zoho" \
  "{\"refresh_token\":\"$(echo "$org" | field refresh_token)\",\"data_centre\":\"jp\"}" >/dev/null
api PUT "http://127.0.0.1:8082/internal/v1/users/$user_id/settings" \
  "{\"contact_folder_id\":\"$folder_id\",\"contacts\":{\"enabled\":true,\"direction\":\"two_way\"},\"conflict_rule\":\"zoho_wins\",\"poll_interval_secs\":5}" >/dev/null

total=$((demo_contacts * 2 - shared))
say "First sync: $demo_contacts contacts on each side, $shared of them the same people: $total in all"
for _ in $(seq 1 180); do
  status=$(api GET "http://127.0.0.1:8082/internal/v1/users/$user_id/status")
  linked=$(echo "$status" | field linked); linked=${linked:-0}
  width=40; filled=$((linked * width / total))
  printf '\r  [%-*s] %d/%d linked' "$width" "$(printf '%*s' "$filled" '' | tr ' ' '#')" "$linked" "$total"
  [ "$linked" -ge "$total" ] && break
  sleep 1
done
echo
outlook_count=$(api GET "$sandbox/_sandbox/graph/mailboxes/$mailbox_id/contacts" | grep -o '"@odata.etag"' | wc -l)
zoho_count=$(api GET "$sandbox/_sandbox/zoho/orgs/$org_id/records/Contacts" | grep -o '"Modified_Time"' | wc -l)
if [ "$linked" -ge "$total" ] && [ "$outlook_count" -eq "$total" ] && [ "$zoho_count" -eq "$total" ]; then
  printf '\033[32m✔ The demo contacts are synced both ways: %d in Outlook, %d in Zoho CRM, all linked, none duplicated.\033[0m\n' "$outlook_count" "$zoho_count"
else
  fail "the first sync did not finish: $linked/$total linked, $outlook_count in Outlook, $zoho_count in Zoho; see $logs/"
fi

cat <<TXT

Where to look next:
  Settings page     $web   (sign in as $demo_email with the password $demo_password)
  Admin console     $web/#/admin   (sign in as $admin_email with the password $admin_password)
  Sync status       curl -H @.local/operator.header http://127.0.0.1:8082/internal/v1/users/$user_id/status
  Outlook contacts  $sandbox/_sandbox/graph/mailboxes/$mailbox_id/contacts
  Zoho contacts     $sandbox/_sandbox/zoho/orgs/$org_id/records/Contacts
  Health, metrics   http://127.0.0.1:808{0,1,2,3,4}/health/ready  and  /metrics
  Logs              $logs/
  Edit a contact on either side through the sandbox's Graph or Zoho API and watch it follow
  within the 5-second poll interval. Stop everything with: scripts/run-local.sh stop
TXT
