#!/usr/bin/env bash
# Makes sure headless Chromium and its WebDriver (Debian's `chromium` and `chromium-driver`) and
# a Japanese font (for the Japanese screenshots) are installed, for the browser tests. Installs
# them from Debian's packages when missing; never downloads a browser any other way.
set -euo pipefail

say() { printf '\033[1m==>\033[0m %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if ! command -v fc-list >/dev/null 2>&1 || [ -z "$(fc-list :lang=en 2>/dev/null)" ]; then
  missing+=(fonts-liberation)
fi
if ! command -v fc-list >/dev/null 2>&1 || [ -z "$(fc-list :lang=ja 2>/dev/null)" ]; then
  missing+=(fonts-ipafont-gothic)
fi
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "Missing ${missing[*]} and this is not a Debian machine: install Chromium and chromedriver, then rerun." >&2
  exit 1
fi
say "Installing ${missing[*]} from Debian's packages (for the browser tests)"
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
say "Chromium $(chromium --version 2>/dev/null | awk '{print $2}') and chromedriver are installed"
