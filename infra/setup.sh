#!/usr/bin/env bash
# `make setup`: install everything the local stack needs. Idempotent: each step is
# skipped when what it makes is already there, so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=versions.env
source infra/versions.env

VENV=.venv
BIN=${TOOLS_BIN:-.tools/bin}  # TOOLS_BIN: only for the tests of this script
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

openfaas_tool() {  # openfaas_tool NAME COMMIT: link it (or build it) into $BIN; fails when it cannot
  local name=$1 commit=$2 found=""
  if [ -n "${OPENFAAS_BIN_DIR:-}" ] && [ -x "$OPENFAAS_BIN_DIR/$name" ]; then
    found=$(realpath "$OPENFAAS_BIN_DIR/$name")
  elif [ -x "$BIN/$name" ] && { [ -L "$BIN/$name" ] || [ "$(cat "$BIN/.$name-version" 2>/dev/null)" = "$commit" ]; }; then
    return 0
  else
    found=$(command -v "$name") || found=""
  fi
  mkdir -p "$BIN"
  if [ -n "$found" ]; then
    [ "$(readlink "$BIN/$name")" = "$found" ] || ln -sfn "$found" "$BIN/$name"
    return 0
  fi
  command -v go >/dev/null || return 1
  step "Building $name $commit with go install (first time: a few minutes)"
  rm -f "$BIN/$name"
  GOBIN="$(realpath "$BIN")" CGO_ENABLED=0 go install "github.com/openfaas/$name@$commit" >"$BIN/.$name-go-install.log" 2>&1 \
    && echo "$commit" > "$BIN/.$name-version"
}

openfaas_tools() {  # faas-cli, of-watchdog, cron-connector: one line naming the three ways when any is missing
  local missing=()
  openfaas_tool faas-cli "$FAAS_CLI_COMMIT" || missing+=(faas-cli)
  openfaas_tool of-watchdog "$OF_WATCHDOG_COMMIT" || missing+=(of-watchdog)
  openfaas_tool cron-connector "$CRON_CONNECTOR_COMMIT" || missing+=(cron-connector)
  [ ${#missing[@]} -eq 0 ] && return
  echo "error: ${missing[*]} not found: set OPENFAAS_BIN_DIR to a folder holding them, put them on PATH," \
       "or run where \`go install github.com/openfaas/<tool>@<commit in infra/versions.env>\` reaches a Go proxy that serves them"
  exit 1
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

prometheus_server() {  # scrapes the gateway's /metrics, as OpenFaaS deploys it (Debian's 2.42: seconds, not
  # the 8 minutes `go install` takes to build it)
  if command -v prometheus >/dev/null || [ -x /usr/bin/prometheus ]; then return; fi
  step "Installing Prometheus from Debian's packages"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  # On a machine with systemd the package also starts a system-wide Prometheus on port 9090;
  # our stack runs its own (own config and data), so `make up` will then ask for another PROMETHEUS_PORT.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
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
if [ "${1:-}" = "--openfaas" ]; then openfaas_tools; exit 0; fi

mariadb
prometheus_server
python_env
openfaas_tools
go_tool minio github.com/minio/minio "$MINIO_VERSION"
go_tool nats-server github.com/nats-io/nats-server/v2 "$NATS_SERVER_VERSION"
step "setup complete"
