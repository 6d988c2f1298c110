#!/usr/bin/env bash
# Runs a command with everything beside the repository hidden: in a private mount namespace, each
# entry of the repository's parent folder except the repository itself is covered by an empty
# folder (or /dev/null for a file), so a test that reads a sibling folder (the parent's `shared`) or checkout fails as
# it would in a fresh clone. Entries that hold the git metadata of a worktree, the target folder
# or the Rust toolchain are kept (a CI clone has none of them beside it). Needs root and
# `unshare`; without them the command runs as is, and says so.
#   scripts/isolated.sh cargo test -p connector-zoho
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd -P)
parent=$(dirname "$root")

if [ "${SYNC_ISOLATED:-}" = 1 ]; then
  exec "$@"
fi
case "$parent" in
  / | /tmp | /var/tmp | /root | /home | /srv | /opt | /mnt)
    # A folder the whole machine shares: hiding its entries could hide what services use.
    echo "isolated.sh: $root sits directly in $parent; clone it into a folder of its own to hide its surroundings; running as is" >&2
    exec "$@"
    ;;
esac
if [ "$(id -u)" != 0 ] || ! unshare --mount --propagation private true 2>/dev/null; then
  echo "isolated.sh: cannot hide the repository's surroundings here (needs root and unshare); running as is" >&2
  exec "$@"
fi

keep=("$root")
for path in "$(git rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)" \
  "${CARGO_TARGET_DIR:-}" "${CARGO_HOME:-$HOME/.cargo}" "${RUSTUP_HOME:-$HOME/.rustup}"; do
  [ -n "$path" ] && keep+=("$(realpath -m "$path")")
done
hide=()
for entry in "$parent"/* "$parent"/.[!.]*; do
  [ -e "$entry" ] || continue
  entry=$(realpath -m "$entry")
  kept=0
  for k in "${keep[@]}"; do
    case "$k/" in "$entry"/*) kept=1 ;; esac
  done
  [ "$kept" = 1 ] || hide+=("$entry")
done
echo "isolated.sh: hiding ${#hide[@]} entries beside $root" >&2

export SYNC_ISOLATED=1
exec unshare --mount --propagation private bash -c '
  set -euo pipefail
  hide=("${@:1:$1+1}"); hide=("${hide[@]:1}"); shift "$(( $1 + 1 ))"
  for entry in "${hide[@]}"; do
    if [ -d "$entry" ]; then mount -t tmpfs -o ro,size=4k none "$entry"
    else mount --bind /dev/null "$entry"; fi || echo "isolated.sh: could not hide $entry" >&2
  done
  exec "$@"
' isolated "${#hide[@]}" "${hide[@]}" "$@"
