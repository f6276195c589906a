#!/usr/bin/env bash
# `make setup`: install everything the local stack needs. Idempotent: each step is
# skipped when what it makes is already there, so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=versions.env
source infra/versions.env

VENV=.venv
BIN=.tools/bin
step() { printf '==> %s\n' "$*"; }

python_env() {
  local stamp
  stamp="$VENV/.installed-$(cat requirements.txt constraints.txt | sha256sum | cut -c1-16)"
  if [ -f "$stamp" ]; then return; fi
  step "Python virtual environment in $VENV (first time: about 3 minutes)"
  command -v python3.11 >/dev/null || { echo "error: python3.11 is required (Python 3.11)"; exit 1; }
  [ -x "$VENV/bin/python" ] || python3.11 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
  rm -f "$VENV"/.installed-* && touch "$stamp"
}

go_tool() {  # go_tool NAME MODULE VERSION
  local name=$1 module=$2 version=$3
  if [ -x "$BIN/$name" ] && [ "$(cat "$BIN/.$name-version" 2>/dev/null)" = "$version" ]; then return; fi
  command -v go >/dev/null || { echo "error: Go is required to build $name: install Go 1.24 or newer"; exit 1; }
  step "Building $name $version with go install (first time: several minutes)"
  mkdir -p "$BIN"
  GOBIN="$PWD/$BIN" CGO_ENABLED=0 go install "$module@$version"
  echo "$version" > "$BIN/.$name-version"
}

mariadb() {
  if command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || [ -x /usr/sbin/mysqld ]; then return; fi
  step "Installing MariaDB server from Debian's packages"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  # On a machine with systemd the package also starts a system-wide server on port 3306;
  # our stack runs its own (own data directory), so `make up` will then ask for another MYSQL_PORT.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mariadb-server >/dev/null
}

browser() {  # Debian's Chromium and its driver, for the UI's one real-browser test (`make test` only)
  if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then return; fi
  step "Installing Chromium and chromedriver from Debian's packages (for the browser test)"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
}

if [ "${1:-}" = "--tests" ]; then browser; exit 0; fi

mariadb
python_env
go_tool minio github.com/minio/minio "$MINIO_VERSION"
go_tool supercronic github.com/aptible/supercronic "$SUPERCRONIC_VERSION"
step "setup complete"
