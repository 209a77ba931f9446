#!/usr/bin/env bash
# Installs what Pantau needs on a Debian machine, idempotently:
#   - Debian packages (mosquitto, influxdb 1.x, PostgreSQL, net-snmp tools and snmpd, wrk for benchmarks)
#   - a Python virtual environment in .venv with Pantau and its dependencies.
# Nothing is started here and no system service is enabled: Pantau runs its own
# Mosquitto and InfluxDB with its own config files under a state directory.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(mosquitto mosquitto-clients influxdb snmp snmpd snmpsim prometheus-snmp-exporter wrk python3-venv curl
             nginx-light prometheus prometheus-alertmanager docker-compose systemd openssl postgresql chromium)

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # policy-rc.d keeps the packages' own services from starting where an init system exists:
  # Pantau runs its own instances with its own config.
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Debian's packages may have started system instances (with systemd). They are not ours;
# we never rely on them and use our own ports, so they are left alone.

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating virtual environment .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.pantau-installed
# Dependencies come from requirements.lock (exact versions, sha256 hashes; `make lock` regenerates
# it from pyproject.toml), then Pantau itself without resolving anything.
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements.lock -nt "$stamp" ]; then
  echo "==> installing Python dependencies into .venv from requirements.lock"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q --require-hashes -r requirements.lock
  .venv/bin/python -m pip install -q --no-deps -e .
  touch "$stamp"
fi
