#!/usr/bin/env bash
# Installs everything binlog-pipeline and its tests need on a Debian machine (idempotent):
# MariaDB server, sysbench, percona-toolkit, Java 17 + Maven and docker-compose (if missing), a venv with the project, and the
# Apache Kafka broker jars from Maven Central.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
missing=()
command -v mariadbd >/dev/null 2>&1 || missing+=(mariadb-server mariadb-client)
command -v sysbench >/dev/null 2>&1 || missing+=(sysbench)
# Online schema change tests run the real pt-online-schema-change.
command -v pt-online-schema-change >/dev/null 2>&1 || missing+=(percona-toolkit)
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
# Validates compose/docker-compose.yml in the tests (no Docker engine needed for `config`).
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "==> apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
echo "==> pip install -e .[test] -e tools/ (the runtime, its test tools, and the development tools)"
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q -e '.[test]' -e tools/

echo "==> Kafka broker jars (Maven Central)"
.venv/bin/python -c "from binlog_pipeline_tools.stack.kafka import ensure_jars; print(ensure_jars())"
