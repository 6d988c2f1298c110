#!/usr/bin/env bash
# Fails when anything tracked in the repository reaches outside it: a reference to the steering
# folder beside the clone (the parent's `shared`), an absolute path into the machine it was written on, a
# `CARGO_MANIFEST_DIR`-relative path or an `include_str!`/`include_bytes!` that resolves outside
# the repository root. A fresh clone with nothing beside it must build and pass its own tests.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd -P)
status=0
fail() { echo "outside the repository: $*" >&2; status=1; }

# 1. Textual references to the folder beside the clone or to this machine's layout, in anything
#    that builds or runs. Prose (`*.md`), fixture source notes (`*.source.txt`, `SOURCE.txt`) and
#    the two scripts that name what they guard against are exempt.
while IFS= read -r hit; do
  fail "$hit"
done < <(git grep -nE '\.\./shared\b|/work/(shared|main|wt-)' -- . \
  ':!*.md' ':!*.source.txt' ':!*SOURCE.txt' ':!scripts/check-self-contained.sh' \
  ':!scripts/isolated.sh' || true)

# 2. Paths built from CARGO_MANIFEST_DIR, and include_str!/include_bytes! of relative paths: each
#    string literal on the line is resolved from the crate's (or the file's) folder.
crate_dir() {
  local dir
  dir=$(dirname "$1")
  while [ "$dir" != "." ] && [ ! -f "$dir/Cargo.toml" ]; do dir=$(dirname "$dir"); done
  echo "$dir"
}
inside() { case "$1/" in "$root"/*) return 0 ;; *) return 1 ;; esac; }
while IFS=: read -r file line text; do
  base=$(crate_dir "$file")
  case "$text" in
    *CARGO_MANIFEST_DIR*) ;;
    *) base=$(dirname "$file") ;;
  esac
  while IFS= read -r literal; do
    literal=${literal#\"}
    literal=${literal%\"}
    case "$literal" in CARGO_MANIFEST_DIR | "") continue ;; esac
    [ "${literal#/}" = "$literal" ] || literal=${literal#/}
    resolved=$(realpath -m "$root/$base/$literal")
    inside "$resolved" || fail "$file:$line: \"$literal\" resolves to $resolved"
  done < <(grep -oE '"[^"]*"' <<<"$text")
done < <(git grep -nE 'CARGO_MANIFEST_DIR|include_(str|bytes)!\("' -- '*.rs' || true)

if [ "$status" = 0 ]; then
  echo "self-contained: nothing tracked reaches outside the repository"
fi
exit "$status"
